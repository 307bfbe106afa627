//! OTLP metrics (`opentelemetry/proto/collector/metrics/v1/metrics_service.proto`,
//! `metrics/v1/metrics.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`): the messages of an
//! `ExportMetricsServiceRequest` with sums, gauges and explicit-bucket
//! histograms. Field numbers are those of the published files.

/// The body of `POST /v1/metrics`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceRequest {
    /// Metrics grouped by resource (field 1).
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// The metrics of one resource (the sending service).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceMetrics {
    /// The resource: `service.name` and friends (field 1).
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Metrics grouped by instrumentation scope (field 2).
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

/// A resource: a set of attributes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// Attributes (field 1).
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// The metrics of one instrumentation scope.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeMetrics {
    /// The scope (field 1).
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The metrics (field 2).
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

/// Who produced the metrics.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    /// Scope name (field 1).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Scope version (field 2).
    #[prost(string, tag = "2")]
    pub version: String,
}

/// A key and a value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The key (field 1).
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value (field 2).
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// An attribute value; only strings are sent.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// The value (oneof `value`).
    #[prost(oneof = "any_value::Value", tags = "1")]
    pub value: Option<any_value::Value>,
}

/// The oneof of [`AnyValue`].
pub mod any_value {
    /// `AnyValue.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// `string_value` (field 1).
        #[prost(string, tag = "1")]
        StringValue(String),
    }
}

/// One metric: name, description, unit and its data.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// Name (field 1).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Description (field 2).
    #[prost(string, tag = "2")]
    pub description: String,
    /// Unit, UCUM (field 3).
    #[prost(string, tag = "3")]
    pub unit: String,
    /// The data (oneof `data`: gauge 5, sum 7, histogram 9).
    #[prost(oneof = "metric::Data", tags = "5, 7, 9")]
    pub data: Option<metric::Data>,
}

/// The oneof of [`Metric`].
pub mod metric {
    /// `Metric.data`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Data {
        /// `gauge` (field 5).
        #[prost(message, tag = "5")]
        Gauge(super::Gauge),
        /// `sum` (field 7).
        #[prost(message, tag = "7")]
        Sum(super::Sum),
        /// `histogram` (field 9).
        #[prost(message, tag = "9")]
        Histogram(super::Histogram),
    }
}

/// `AGGREGATION_TEMPORALITY_CUMULATIVE`.
pub const AGGREGATION_TEMPORALITY_CUMULATIVE: i32 = 2;

/// A gauge: last values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Gauge {
    /// Points (field 1).
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

/// A sum (counters are monotonic cumulative sums).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sum {
    /// Points (field 1).
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    /// Temporality (field 2).
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    /// Whether the sum only grows (field 3).
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

/// An explicit-bucket histogram.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Points (field 1).
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<HistogramDataPoint>,
    /// Temporality (field 2).
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
}

/// A point of a sum or gauge.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NumberDataPoint {
    /// Attributes: the tags (field 7).
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// Start of the cumulative period, ns since the epoch (field 2).
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// When the value held, ns since the epoch (field 3).
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// The value (`as_double`, field 4).
    #[prost(double, tag = "4")]
    pub as_double: f64,
}

/// A point of an explicit-bucket histogram.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistogramDataPoint {
    /// Attributes: the tags (field 9).
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Start of the cumulative period (field 2).
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// When the distribution held (field 3).
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Observations (field 4).
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// Sum of observations (field 5).
    #[prost(double, optional, tag = "5")]
    pub sum: Option<f64>,
    /// Per-bucket (not cumulative) counts, one more than the bounds (field 6).
    #[prost(fixed64, repeated, tag = "6")]
    pub bucket_counts: Vec<u64>,
    /// Upper bounds, increasing (field 7).
    #[prost(double, repeated, tag = "7")]
    pub explicit_bounds: Vec<f64>,
    /// Smallest observation (field 11).
    #[prost(double, optional, tag = "11")]
    pub min: Option<f64>,
    /// Largest observation (field 12).
    #[prost(double, optional, tag = "12")]
    pub max: Option<f64>,
}
