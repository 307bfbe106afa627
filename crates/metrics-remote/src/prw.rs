//! Remote write: a [`Collection`] as `WriteRequest`s.
//!
//! Each series gets the retained samples' rebuilt values at their own
//! timestamps, then the aggregate at the collection time. The aggregates
//! are the sample lines of `metrics-core`'s own Prometheus text exposition,
//! so the series, names, labels and values are those a scrape returns
//! (clashing names merged or left out exactly as the exporter does). A
//! series that the exporter fed from more than one tag set (merged names)
//! has no single history, so it is sent with its aggregates only.

use std::collections::HashMap;

use metrics_core::export::prometheus::{TextFormat, encode};
use prost::Message;

use crate::batch::{Batch, Encoder, newer_than, within};
use crate::history::{Collection, PointValue, is_histogram};
use crate::labels::{LabelSet, label_set, le_value, sample_name, series_key, tag_labels, text_aggregates};
use crate::position::Positions;
use crate::proto::prw::{Sample, TimeSeries, WriteRequest};

/// Encodes a request as it goes on the wire: protobuf, then snappy's block
/// format (not the framed format).
pub fn encode_write_request(req: &WriteRequest) -> Vec<u8> {
    let mut raw = Vec::with_capacity(req.encoded_len());
    // Encoding into a Vec only fails when the buffer is too small, and this one grows.
    let _ = req.encode(&mut raw);
    snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default()
}

/// Decodes a body [`encode_write_request`] made.
///
/// # Errors
/// A message when the body is not snappy block data or not a `WriteRequest`.
pub fn decode_write_request(body: &[u8]) -> Result<WriteRequest, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

/// One series with its samples, oldest first.
#[derive(Debug)]
pub(crate) struct SeriesSamples {
    pub(crate) key: String,
    pub(crate) labels: LabelSet,
    pub(crate) samples: Vec<(i64, f64)>,
}

#[derive(Default)]
struct Entry {
    labels: LabelSet,
    history: Vec<(i64, f64)>,
    sources: u32,
    aggregate: Option<f64>,
}

/// Every series of `collection` with its samples (ms timestamps), before
/// any position is applied, sorted by key.
pub(crate) fn series_samples(collection: &Collection) -> Vec<SeriesSamples> {
    let exposition = encode(&collection.snapshot, TextFormat::Prometheus);
    let mut entries: HashMap<String, Entry> = HashMap::new();
    for s in text_aggregates(&exposition.text) {
        let key = series_key(&s.labels);
        let e = entries.entry(key).or_default();
        e.labels = s.labels;
        e.aggregate = Some(s.value);
    }
    for stream in collection.streams() {
        // Counted even without new points: a series fed by two tag sets
        // has no single history to rebuild.
        let name = sample_name(&stream.series.name, stream.series.metric_type);
        let pairs = tag_labels(stream.tags, is_histogram(stream.series.metric_type));
        let mut add = |labels: LabelSet, points: Vec<(i64, f64)>| {
            let e = entries.entry(series_key(&labels)).or_default();
            e.sources += 1;
            e.history.extend(points);
        };
        let ms = |ns: i64| ns.div_euclid(1_000_000);
        match &stream.aggregate {
            PointValue::Number(_) => {
                let points = stream
                    .points
                    .iter()
                    .filter_map(|(t, v)| match v {
                        PointValue::Number(v) => Some((ms(*t), *v)),
                        PointValue::Histogram { .. } => None,
                    })
                    .collect();
                add(label_set(&name, &pairs, None), points);
            }
            PointValue::Histogram { .. } => {
                let hist = || {
                    stream.points.iter().filter_map(|(t, v)| match v {
                        PointValue::Histogram { count, sum, cumulative } => Some((ms(*t), *count, *sum, cumulative)),
                        PointValue::Number(_) => None,
                    })
                };
                for (i, le) in stream.bounds.iter().enumerate() {
                    let points = hist()
                        .map(|(t, _, _, c)| (t, c.get(i).copied().unwrap_or(0) as f64))
                        .collect();
                    add(
                        label_set(&format!("{name}_bucket"), &pairs, Some(&le_value(*le))),
                        points,
                    );
                }
                add(
                    label_set(&format!("{name}_bucket"), &pairs, Some("+Inf")),
                    hist().map(|(t, c, _, _)| (t, c as f64)).collect(),
                );
                add(
                    label_set(&format!("{name}_sum"), &pairs, None),
                    hist().map(|(t, _, s, _)| (t, s)).collect(),
                );
                add(
                    label_set(&format!("{name}_count"), &pairs, None),
                    hist().map(|(t, c, _, _)| (t, c as f64)).collect(),
                );
            }
        }
    }
    let at = collection.taken_at.div_euclid(1_000_000);
    let mut out: Vec<SeriesSamples> = entries
        .into_iter()
        .filter_map(|(key, e)| {
            // Not in the exposition: left out there as a name clash.
            let aggregate = e.aggregate?;
            let mut samples = if e.sources == 1 { e.history } else { Vec::new() };
            samples.push((at, aggregate));
            Some(SeriesSamples {
                key,
                labels: e.labels,
                samples,
            })
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// The remote-write [`Encoder`].
#[derive(Debug, Default)]
pub(crate) struct RemoteWriteEncoder;

impl Encoder for RemoteWriteEncoder {
    fn batches(
        &mut self,
        collection: &Collection,
        sent: &Positions,
        until: Option<&Positions>,
        max_samples: usize,
    ) -> Vec<Batch> {
        let mut batches = Vec::new();
        let mut current = WriteRequest::default();
        let mut count = 0usize;
        let mut updates = Positions::new();
        let max_samples = max_samples.max(1);
        let flush =
            |current: &mut WriteRequest, count: &mut usize, updates: &mut Positions, batches: &mut Vec<Batch>| {
                if *count > 0 {
                    batches.push(Batch {
                        body: encode_write_request(current),
                        samples: *count,
                        updates: std::mem::take(updates),
                    });
                }
                current.timeseries.clear();
                *count = 0;
            };
        for mut s in series_samples(collection) {
            newer_than(&mut s.samples, sent.get(&s.key).copied());
            if !within(&mut s.samples, &s.key, until) {
                continue;
            }
            let mut rest = &s.samples[..];
            while !rest.is_empty() {
                let room = max_samples - count;
                let (now, later) = rest.split_at(room.min(rest.len()));
                current.timeseries.push(TimeSeries {
                    labels: s.labels.clone(),
                    samples: now
                        .iter()
                        .map(|&(timestamp, value)| Sample { value, timestamp })
                        .collect(),
                });
                count += now.len();
                if let Some(last) = now.last() {
                    updates.insert(s.key.clone(), last.0);
                }
                rest = later;
                if count == max_samples {
                    flush(&mut current, &mut count, &mut updates, &mut batches);
                }
            }
        }
        flush(&mut current, &mut count, &mut updates, &mut batches);
        batches
    }
}
