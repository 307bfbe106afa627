//! One chart model for every chart of a series: what the dashboard's
//! series page draws (served at `GET /api/metrics/series/{name}/chart`) and
//! what `bykilt metrics plot` draws into its files are built here, from the
//! same samples, by the same code: which tag sets get a line (up to
//! [`LINE_CAP`]), how lines are labelled, that counters are drawn as running
//! totals, the unit and the axis labels, the value distribution and the
//! percentiles over time. The page paints the model on a canvas and the CLI
//! with plotters; neither decides what a chart shows.

use std::collections::BTreeMap;

use metrics_core::MetricType;
use serde::Serialize;

/// Tag sets drawn as their own line; the rest are counted in
/// [`SeriesChart::hidden_tag_sets`].
pub const LINE_CAP: usize = 8;
/// Equal-width bins of the distribution of a series without bucket bounds.
pub const EQUAL_BINS: usize = 20;
/// Equal time windows of the percentiles-over-time lines.
pub const PERCENTILE_WINDOWS: usize = 24;

/// Tags by key.
pub type ChartTags = BTreeMap<String, String>;

/// One sample going into a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSample {
    /// When it was recorded (Unix seconds).
    pub time: f64,
    /// Its value.
    pub value: f64,
    /// Its tags.
    pub tags: ChartTags,
}

impl From<&metrics_core::MetricValue> for ChartSample {
    fn from(v: &metrics_core::MetricValue) -> Self {
        ChartSample {
            time: (v.timestamp - time::OffsetDateTime::UNIX_EPOCH).as_seconds_f64(),
            value: v.value,
            tags: v.tags.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        }
    }
}

/// One line: a tag set's points, or one percentile's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartLine {
    /// The legend entry: the tags that tell this line from the others
    /// (`key=value, ...`), `(no tags)` for an untagged series.
    pub label: String,
    /// The whole tag set.
    pub tags: ChartTags,
    /// (Unix seconds, value), oldest first.
    pub points: Vec<(f64, f64)>,
}

/// One bar of a distribution: the samples with `lo < value ≤ hi`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartBar {
    /// `≤ hi`, `> lo`, or `lo – hi`.
    pub label: String,
    /// Lower bound (exclusive; `-inf` for the first bucket).
    pub lo: f64,
    /// Upper bound (inclusive; `inf` for the last bucket).
    pub hi: f64,
    /// Samples in the bar.
    pub count: u64,
}

/// Everything one series' charts show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesChart {
    /// The series name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    /// The unit of its values (see [`unit_of`]); empty when unknown.
    pub unit: &'static str,
    /// The time axis' label.
    pub x_label: &'static str,
    /// The value axis' label, with the unit (`value (s)`, `running total
    /// (count)`).
    pub y_label: String,
    /// Whether the lines are running totals (a counter's samples are
    /// increments).
    pub cumulative: bool,
    /// Samples that went into the chart.
    pub samples: usize,
    /// One line per tag set, in order of first appearance, up to [`LINE_CAP`].
    pub lines: Vec<ChartLine>,
    /// Tag sets past the cap, not drawn.
    pub hidden_tag_sets: usize,
    /// The value axis' label of the distribution.
    pub distribution_label: String,
    /// The values' distribution: the series' own buckets when it has bucket
    /// bounds, else [`EQUAL_BINS`] equal bins from the smallest to the
    /// largest value.
    pub distribution: Vec<ChartBar>,
    /// p50, p90 and p99 (nearest rank) over [`PERCENTILE_WINDOWS`] equal time
    /// windows, for histograms and timers; empty otherwise.
    pub percentiles: Vec<ChartLine>,
}

/// The unit of a metric, from its type and the Prometheus naming suffixes:
/// timers and `*_seconds` are `s`, `*_bytes` `bytes`, `*_ratio` `ratio`,
/// counters and `*_total` `count`; anything else has none (`""`).
///
/// ```
/// use metrics_api::chart::unit_of;
/// use metrics_core::MetricType;
/// assert_eq!(unit_of("job_duration_seconds", MetricType::Histogram), "s");
/// assert_eq!(unit_of("queue_depth", MetricType::Gauge), "");
/// ```
pub fn unit_of(name: &str, metric_type: MetricType) -> &'static str {
    if metric_type == MetricType::Timer || name.ends_with("_seconds") {
        "s"
    } else if name.ends_with("_bytes") {
        "bytes"
    } else if name.ends_with("_ratio") {
        "ratio"
    } else if name.ends_with("_total") || metric_type == MetricType::Counter {
        "count"
    } else {
        ""
    }
}

/// `label (unit)`, or `label` without a unit.
pub fn with_unit(label: &str, unit: &str) -> String {
    if unit.is_empty() {
        label.to_owned()
    } else {
        format!("{label} ({unit})")
    }
}

/// A short number for labels: four significant digits, exponent form for
/// very large or very small magnitudes.
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        return v.to_string();
    }
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        return format!("{v:.2e}");
    }
    let digits = if a == 0.0 { 0 } else { 3 - a.log10().floor() as i32 };
    let text = format!("{:.*}", usize::try_from(digits.max(0)).unwrap_or(0), v);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn tag_text(tags: &ChartTags, keys: &[&String]) -> String {
    keys.iter()
        .map(|k| format!("{k}={}", tags.get(*k).map_or("", String::as_str)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keys whose value differs between the tag sets (or that some lack):
/// what tells the lines apart.
fn varying_keys(sets: &[&ChartTags]) -> Vec<String> {
    let mut values: BTreeMap<&String, std::collections::BTreeSet<&String>> = BTreeMap::new();
    for t in sets {
        for (k, v) in t.iter() {
            values.entry(k).or_default().insert(v);
        }
    }
    values
        .into_iter()
        .filter(|(k, vals)| vals.len() > 1 || sets.iter().any(|t| !t.contains_key(*k)))
        .map(|(k, _)| k.clone())
        .collect()
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn distribution(values: &[f64], bounds: &[f64]) -> Vec<ChartBar> {
    let bounds: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
    if !bounds.is_empty() {
        let mut bars: Vec<ChartBar> = (0..=bounds.len())
            .map(|i| {
                let lo = if i == 0 { f64::NEG_INFINITY } else { bounds[i - 1] };
                let hi = bounds.get(i).copied().unwrap_or(f64::INFINITY);
                let label = if hi.is_finite() {
                    format!("≤{}", short_number(hi))
                } else {
                    format!(">{}", short_number(lo))
                };
                ChartBar {
                    label,
                    lo,
                    hi,
                    count: 0,
                }
            })
            .collect();
        for v in values {
            let i = bounds.iter().position(|b| v <= b).unwrap_or(bounds.len());
            bars[i].count += 1;
        }
        return bars;
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return Vec::new();
    }
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
    let width = (hi - lo) / EQUAL_BINS as f64;
    let mut bars: Vec<ChartBar> = (0..EQUAL_BINS)
        .map(|i| {
            let (a, b) = (lo + width * i as f64, lo + width * (i + 1) as f64);
            ChartBar {
                label: format!("{}–{}", short_number(a), short_number(b)),
                lo: a,
                hi: b,
                count: 0,
            }
        })
        .collect();
    for v in values {
        let i = (((v - lo) / width) as usize).min(EQUAL_BINS - 1);
        bars[i].count += 1;
    }
    bars
}

fn percentiles_over_time(samples: &[ChartSample]) -> Vec<ChartLine> {
    let mut lines: Vec<ChartLine> = ["p50", "p90", "p99"]
        .iter()
        .map(|l| ChartLine {
            label: (*l).to_owned(),
            tags: ChartTags::new(),
            points: Vec::new(),
        })
        .collect();
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return lines;
    };
    let (t0, t1) = (first.time, last.time);
    let step = if t1 > t0 {
        (t1 - t0) / PERCENTILE_WINDOWS as f64
    } else {
        1.0
    };
    let mut windows: Vec<Vec<f64>> = vec![Vec::new(); PERCENTILE_WINDOWS];
    for s in samples {
        let w = (((s.time - t0) / step) as usize).min(PERCENTILE_WINDOWS - 1);
        windows[w].push(s.value);
    }
    for (w, mut values) in windows.into_iter().enumerate() {
        if values.is_empty() {
            continue;
        }
        values.sort_by(f64::total_cmp);
        let mid = t0 + (w as f64 + 0.5) * step;
        for (line, q) in lines.iter_mut().zip([0.5, 0.9, 0.99]) {
            line.points.push((mid, nearest_rank(&values, q)));
        }
    }
    lines
}

/// The chart model of series `name` of type `metric_type` over `samples`
/// (oldest first), with the series' histogram `bucket_bounds` (empty when
/// it has none).
///
/// ```
/// use metrics_api::chart::{ChartSample, series_chart};
/// use metrics_core::MetricType;
///
/// let tagged = |time: f64, value: f64, status: &str| ChartSample {
///     time,
///     value,
///     tags: [("status".to_owned(), status.to_owned()), ("host".to_owned(), "a".to_owned())].into(),
/// };
/// let chart = series_chart(
///     "jobs_total",
///     MetricType::Counter,
///     &[],
///     &[tagged(1.0, 1.0, "ok"), tagged(2.0, 1.0, "failed"), tagged(3.0, 2.0, "ok")],
/// );
/// // One line per tag set, labelled by the tag that differs; a counter's
/// // increments become a running total.
/// assert_eq!(chart.lines[0].label, "status=ok");
/// assert_eq!(chart.lines[0].points, vec![(1.0, 1.0), (3.0, 3.0)]);
/// assert_eq!(chart.y_label, "running total (count)");
/// ```
pub fn series_chart(
    name: &str,
    metric_type: MetricType,
    bucket_bounds: &[f64],
    samples: &[ChartSample],
) -> SeriesChart {
    let unit = unit_of(name, metric_type);
    let mut groups: Vec<ChartLine> = Vec::new();
    for s in samples {
        let point = (s.time, s.value);
        match groups.iter_mut().find(|g| g.tags == s.tags) {
            Some(g) => g.points.push(point),
            None => groups.push(ChartLine {
                label: String::new(),
                tags: s.tags.clone(),
                points: vec![point],
            }),
        }
    }
    let hidden_tag_sets = groups.len().saturating_sub(LINE_CAP);
    groups.truncate(LINE_CAP);
    let vary = varying_keys(&groups.iter().map(|g| &g.tags).collect::<Vec<_>>());
    for g in &mut groups {
        let keys: Vec<&String> = if vary.is_empty() {
            g.tags.keys().collect()
        } else {
            vary.iter().collect()
        };
        g.label = tag_text(&g.tags, &keys);
        if g.label.is_empty() {
            "(no tags)".clone_into(&mut g.label);
        }
    }
    let cumulative = metric_type == MetricType::Counter;
    if cumulative {
        for g in &mut groups {
            let mut sum = 0.0;
            for p in &mut g.points {
                sum += p.1;
                p.1 = sum;
            }
        }
    }
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let distributed = matches!(metric_type, MetricType::Histogram | MetricType::Timer);
    SeriesChart {
        name: name.to_owned(),
        metric_type,
        unit,
        x_label: "time",
        y_label: with_unit(if cumulative { "running total" } else { "value" }, unit),
        cumulative,
        samples: samples.len(),
        lines: groups,
        hidden_tag_sets,
        distribution_label: with_unit("value", unit),
        distribution: distribution(&values, bucket_bounds),
        percentiles: if distributed {
            percentiles_over_time(samples)
        } else {
            Vec::new()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(time: f64, value: f64, tags: &[(&str, &str)]) -> ChartSample {
        ChartSample {
            time,
            value,
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }
    }

    #[test]
    fn lines_past_the_cap_are_counted_and_labels_name_what_differs() {
        let samples: Vec<_> = (0..10)
            .map(|q| sample(f64::from(q), 1.0, &[("queue", &format!("q{q}")), ("host", "a")]))
            .collect();
        let chart = series_chart("queue_depth", MetricType::Gauge, &[], &samples);
        assert_eq!(chart.lines.len(), LINE_CAP);
        assert_eq!(chart.hidden_tag_sets, 2);
        assert_eq!(chart.lines[0].label, "queue=q0");
        assert_eq!(chart.y_label, "value");
        assert!(chart.percentiles.is_empty());
        let one = series_chart("x", MetricType::Gauge, &[], &[sample(0.0, 1.0, &[])]);
        assert_eq!(one.lines[0].label, "(no tags)");
    }

    #[test]
    fn distribution_uses_bucket_bounds_or_equal_bins() {
        let samples: Vec<_> = [0.05, 0.2, 0.2, 3.0]
            .iter()
            .enumerate()
            .map(|(i, v)| sample(i as f64, *v, &[]))
            .collect();
        let chart = series_chart("t_seconds", MetricType::Histogram, &[0.1, 1.0, f64::INFINITY], &samples);
        let counts: Vec<u64> = chart.distribution.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![1, 2, 1]);
        assert_eq!(chart.distribution[0].label, "≤0.1");
        assert_eq!(chart.distribution[2].label, ">1");
        assert_eq!(chart.distribution_label, "value (s)");
        let p99 = &chart.percentiles[2];
        assert_eq!(p99.label, "p99");
        assert!(!p99.points.is_empty());
        let equal = series_chart("t", MetricType::Timer, &[], &samples);
        assert_eq!(equal.distribution.len(), EQUAL_BINS);
        assert_eq!(equal.distribution.iter().map(|b| b.count).sum::<u64>(), 4);
    }

    #[test]
    fn short_numbers_stay_short() {
        assert_eq!(short_number(0.1), "0.1");
        assert_eq!(short_number(2.5), "2.5");
        assert_eq!(short_number(1000.0), "1000");
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(1.5e7), "1.50e7");
    }
}
