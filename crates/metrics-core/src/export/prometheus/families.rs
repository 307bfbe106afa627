//! Grouping series into exposition families: which series share a family,
//! which can be merged, which clash (and are reported), and which can be
//! written straight from the snapshot.

use std::collections::{BTreeMap, HashMap};

use super::names::{family_names, sanitize_label_name};
use super::text::push_label_pairs;
use super::{AggregateSource, NameConflict};
use crate::kind::MetricType;
use crate::snapshot::{AggregateValue, HistogramSnapshot, SeriesSnapshot, Snapshot};
use crate::tags::TagSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug)]
pub(super) enum Point {
    Counter(f64),
    Gauge(f64),
    Histogram {
        buckets: Vec<u64>,
        count: u64,
        sum: f64,
        negative: bool,
    },
}

#[derive(Debug)]
pub(super) struct Family {
    pub(super) kind: Kind,
    pub(super) prom_name: String,
    pub(super) om_name: String,
    pub(super) help: String,
    /// The first member's unit, when the OpenMetrics family name ends with
    /// `_<unit>` (the spec's condition for a `# UNIT` line).
    pub(super) unit: Option<String>,
    pub(super) bounds: Vec<f64>,
    /// Indices into the snapshot's series. A family of one series whose tag
    /// keys are already label names is written straight from the snapshot;
    /// any other family goes through [`merged_points`].
    pub(super) members: Vec<usize>,
}

/// Rendered label pairs (without braces) → merged point.
pub(super) type MergedPoints = BTreeMap<Vec<u8>, Point>;

fn point_of(value: &AggregateValue) -> Point {
    match value {
        AggregateValue::Counter { total } => Point::Counter(*total),
        AggregateValue::Gauge { value } => Point::Gauge(*value),
        AggregateValue::Histogram(h) => histogram_point(h),
    }
}

fn kind_of(ty: MetricType) -> Kind {
    match ty {
        MetricType::Counter => Kind::Counter,
        MetricType::Gauge => Kind::Gauge,
        MetricType::Histogram | MetricType::Timer => Kind::Histogram,
    }
}

fn render_labels(tags: &TagSet, histogram: bool) -> Vec<u8> {
    let mut pairs: Vec<(String, &str)> = tags
        .iter()
        .map(|(k, v)| (sanitize_label_name(k, histogram), v))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    // Keys that sanitize alike get a numeric suffix so no label repeats.
    for i in 1..pairs.len() {
        let base = pairs[i].0.clone();
        let mut n = 2;
        while pairs[..i].iter().any(|(k, _)| *k == pairs[i].0) {
            pairs[i].0 = format!("{base}_{n}");
            n += 1;
        }
    }
    let mut out = Vec::new();
    push_label_pairs(pairs.iter().map(|(k, v)| (k.as_str(), *v)), &mut out);
    out
}

fn histogram_point(h: &HistogramSnapshot) -> Point {
    Point::Histogram {
        buckets: h.buckets.iter().map(|b| b.count).collect(),
        count: h.count,
        sum: h.sum,
        negative: h.count > 0 && h.min < 0.0,
    }
}

/// Merges `new` into `old`; false when they cannot be merged (gauges).
fn merge_point(old: &mut Point, new: Point) -> bool {
    match (old, new) {
        (Point::Counter(a), Point::Counter(b)) => {
            *a += b;
            true
        }
        (
            Point::Histogram {
                buckets,
                count,
                sum,
                negative,
            },
            Point::Histogram {
                buckets: b2,
                count: c2,
                sum: s2,
                negative: n2,
            },
        ) if buckets.len() == b2.len() => {
            buckets.iter_mut().zip(b2).for_each(|(a, b)| *a += b);
            *count += c2;
            *sum += s2;
            *negative |= n2;
            true
        }
        _ => false,
    }
}

/// Whether `family` ends with `_<unit>`: OpenMetrics requires a family's
/// unit to be a suffix of its name, so a unit the name does not carry is left
/// out of the text rather than renaming the series.
fn names_carry_unit(family: &str, unit: &str) -> bool {
    family
        .strip_suffix(unit)
        .is_some_and(|stem| stem.len() > 1 && stem.ends_with('_'))
}

fn default_help(s: &SeriesSnapshot) -> String {
    match s.metric_type {
        MetricType::Timer => format!("Durations of {} in seconds.", s.name),
        ty => format!("The {ty} {}.", s.name),
    }
}

pub(super) fn build_families(snapshot: &Snapshot) -> (Vec<Family>, Vec<NameConflict>) {
    let mut families: Vec<Family> = Vec::new();
    let mut conflicts = Vec::new();
    // Every name a family puts in the text → the family's index.
    let mut claimed: HashMap<String, usize> = HashMap::new();
    for (series_index, s) in snapshot.series.iter().enumerate() {
        let kind = kind_of(s.metric_type);
        let (prom_name, om_name) = family_names(&s.name, s.metric_type);
        let bounds: Vec<f64> = match kind {
            Kind::Histogram => s
                .aggregates
                .iter()
                .find_map(|a| match &a.value {
                    AggregateValue::Histogram(h) => Some(h.buckets.iter().map(|b| b.le).collect()),
                    _ => None,
                })
                .unwrap_or_default(),
            Kind::Counter | Kind::Gauge => Vec::new(),
        };
        let idx = match claimed.get(&om_name).copied() {
            Some(i)
                if families[i].kind == kind && families[i].om_name == om_name && families[i].prom_name == prom_name =>
            {
                if kind == Kind::Histogram && families[i].bounds != bounds && !s.aggregates.is_empty() {
                    conflicts.push(NameConflict {
                        series: s.name.clone(),
                        family: prom_name,
                        reason: "histogram buckets differ from the series already in this family".into(),
                    });
                    continue;
                }
                i
            }
            _ => {
                let names = match kind {
                    Kind::Histogram => vec![
                        om_name.clone(),
                        format!("{om_name}_bucket"),
                        format!("{om_name}_sum"),
                        format!("{om_name}_count"),
                    ],
                    _ => vec![om_name.clone(), prom_name.clone()],
                };
                if let Some(other) = names.iter().find_map(|n| claimed.get(n)) {
                    conflicts.push(NameConflict {
                        series: s.name.clone(),
                        family: prom_name,
                        reason: format!("its names clash with the family {:?}", families[*other].prom_name),
                    });
                    continue;
                }
                let unit = s.unit.clone().filter(|u| names_carry_unit(&om_name, u));
                let i = families.len();
                for n in names {
                    claimed.insert(n, i);
                }
                families.push(Family {
                    kind,
                    prom_name,
                    om_name,
                    help: s.description.clone().unwrap_or_else(|| default_help(s)),
                    unit,
                    bounds,
                    members: Vec::new(),
                });
                i
            }
        };
        families[idx].members.push(series_index);
    }
    (families, conflicts)
}

/// The points of `family` keyed by rendered labels, summing the series that
/// map to one label set; a gauge label set exposed twice is kept once and
/// reported in `conflicts`.
pub(super) fn merged_points(
    shape: &Snapshot,
    source: &dyn AggregateSource,
    family: &Family,
    conflicts: &mut Vec<NameConflict>,
) -> MergedPoints {
    let histogram = family.kind == Kind::Histogram;
    let mut points = MergedPoints::new();
    for &m in &family.members {
        let name = &shape.series[m].name;
        source.for_each(m, &mut |tags, value, _| {
            let labels = render_labels(tags, histogram);
            match points.get_mut(&labels) {
                None => {
                    points.insert(labels, point_of(value));
                }
                Some(old) => {
                    if !merge_point(old, point_of(value)) {
                        conflicts.push(NameConflict {
                            series: name.clone(),
                            family: family.prom_name.clone(),
                            reason: format!(
                                "gauge with labels {{{}}} is already exposed by another series",
                                String::from_utf8_lossy(&labels)
                            ),
                        });
                    }
                }
            }
        });
    }
    points
}
