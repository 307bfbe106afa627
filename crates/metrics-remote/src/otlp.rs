//! OTLP: a [`Collection`] as `ExportMetricsServiceRequest`s.
//!
//! Counters are monotonic cumulative sums, gauges gauges, histograms and
//! timers (in seconds, unit `s`) explicit-bucket cumulative histograms.
//! Metric names are the recorded names (OTLP allows dots; a Collector's
//! Prometheus exporter sanitizes them itself), tags become string
//! attributes, and every point carries its own time: the rebuilt values at
//! the retained samples, then the aggregate at the collection time.

use std::collections::HashMap;

use metrics_core::MetricType;
use prost::Message;

use crate::batch::{Batch, Encoder, newer_than, within};
use crate::history::{Collection, PointValue, Stream};
use crate::labels::series_key;
use crate::position::Positions;
use crate::proto::otlp::{
    AGGREGATION_TEMPORALITY_CUMULATIVE, AnyValue, ExportMetricsServiceRequest, Gauge, Histogram, HistogramDataPoint,
    InstrumentationScope, KeyValue, Metric, NumberDataPoint, Resource, ResourceMetrics, ScopeMetrics, Sum, any_value,
    metric,
};
use crate::proto::prw::Label;

/// The OTLP [`Encoder`]: remembers when each stream was first seen, the
/// start of its cumulative period.
#[derive(Debug)]
pub(crate) struct OtlpEncoder {
    service_name: String,
    starts: HashMap<String, i64>,
}

impl OtlpEncoder {
    pub(crate) fn new(service_name: &str) -> Self {
        OtlpEncoder {
            service_name: service_name.to_owned(),
            starts: HashMap::new(),
        }
    }

    fn request(&self, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![string_kv("service.name", &self.service_name)],
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "bykilt-metrics".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                    }),
                    metrics,
                }],
            }],
        }
    }
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
    }
}

/// The position key of a stream: its recorded name and tags.
fn stream_key(stream: &Stream<'_>) -> String {
    let mut labels = vec![Label {
        name: "__name__".into(),
        value: stream.series.name.clone(),
    }];
    labels.extend(stream.tags.iter().map(|(k, v)| Label {
        name: k.to_owned(),
        value: v.to_owned(),
    }));
    series_key(&labels)
}

fn empty_metric(stream: &Stream<'_>) -> Metric {
    let s = stream.series;
    let data = match s.metric_type {
        MetricType::Counter => metric::Data::Sum(Sum {
            data_points: Vec::new(),
            aggregation_temporality: AGGREGATION_TEMPORALITY_CUMULATIVE,
            is_monotonic: true,
        }),
        MetricType::Gauge => metric::Data::Gauge(Gauge::default()),
        MetricType::Histogram | MetricType::Timer => metric::Data::Histogram(Histogram {
            data_points: Vec::new(),
            aggregation_temporality: AGGREGATION_TEMPORALITY_CUMULATIVE,
        }),
    };
    Metric {
        name: s.name.clone(),
        description: s.description.clone().unwrap_or_default(),
        unit: if s.metric_type == MetricType::Timer {
            "s".into()
        } else {
            String::new()
        },
        data: Some(data),
    }
}

fn nanos(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0)
}

/// Appends one point to `metric`.
fn push_point(
    metric: &mut Metric,
    stream: &Stream<'_>,
    attributes: &[KeyValue],
    start: i64,
    (t, value, is_aggregate): (i64, &PointValue, bool),
) {
    let number = |v: f64, start: u64| NumberDataPoint {
        attributes: attributes.to_vec(),
        start_time_unix_nano: start,
        time_unix_nano: nanos(t),
        as_double: v,
    };
    match (&mut metric.data, value) {
        (Some(metric::Data::Sum(s)), PointValue::Number(v)) => s.data_points.push(number(*v, nanos(start))),
        (Some(metric::Data::Gauge(g)), PointValue::Number(v)) => g.data_points.push(number(*v, 0)),
        (Some(metric::Data::Histogram(h)), PointValue::Histogram { count, sum, cumulative }) => {
            // OTLP counts per bucket; the last bucket is (last bound, +Inf).
            let mut bucket_counts = Vec::with_capacity(cumulative.len() + 1);
            let mut below = 0;
            for &c in cumulative {
                bucket_counts.push(c.saturating_sub(below));
                below = c;
            }
            bucket_counts.push(count.saturating_sub(below));
            let (min, max) = match stream.min_max {
                Some((lo, hi)) if is_aggregate => (Some(lo), Some(hi)),
                _ => (None, None),
            };
            h.data_points.push(HistogramDataPoint {
                attributes: attributes.to_vec(),
                start_time_unix_nano: nanos(start),
                time_unix_nano: nanos(t),
                count: *count,
                sum: Some(*sum),
                bucket_counts,
                explicit_bounds: stream.bounds.clone(),
                min,
                max,
            });
        }
        _ => {}
    }
}

impl Encoder for OtlpEncoder {
    fn batches(
        &mut self,
        collection: &Collection,
        sent: &Positions,
        until: Option<&Positions>,
        max_samples: usize,
    ) -> Vec<Batch> {
        let max_samples = max_samples.max(1);
        let mut batches = Vec::new();
        let mut metrics: Vec<Metric> = Vec::new();
        let mut count = 0usize;
        let mut updates = Positions::new();
        for stream in collection.streams() {
            let key = stream_key(&stream);
            let mut points: Vec<(i64, (&PointValue, bool))> =
                stream.points.iter().map(|(t, v)| (*t, (v, false))).collect();
            points.push((collection.taken_at, (&stream.aggregate, true)));
            newer_than(&mut points, sent.get(&key).copied());
            if !within(&mut points, &key, until) {
                continue;
            }
            let Some(first) = points.first().map(|p| p.0) else {
                continue;
            };
            let start = *self.starts.entry(key.clone()).or_insert(first);
            let attributes: Vec<KeyValue> = stream.tags.iter().map(|(k, v)| string_kv(k, v)).collect();
            for (t, (value, is_aggregate)) in points {
                let same = metrics.last().is_some_and(|m| m.name == stream.series.name);
                if !same {
                    metrics.push(empty_metric(&stream));
                }
                if let Some(m) = metrics.last_mut() {
                    push_point(m, &stream, &attributes, start, (t, value, is_aggregate));
                }
                updates.insert(key.clone(), t);
                count += 1;
                if count == max_samples {
                    batches.push(Batch {
                        body: self.request(std::mem::take(&mut metrics)).encode_to_vec(),
                        samples: count,
                        updates: std::mem::take(&mut updates),
                    });
                    count = 0;
                }
            }
        }
        if count > 0 {
            batches.push(Batch {
                body: self.request(metrics).encode_to_vec(),
                samples: count,
                updates,
            });
        }
        batches
    }
}
