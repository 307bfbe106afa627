//! Label types of measured's "2 labels, 18 label groups" scenario, in each
//! library's own form, plus constructors for every library's metric under
//! the same name and buckets.

use bykilt_bench::{KINDS, ROUTES};
use lasso::{Rodeo, RodeoReader, Spur};
use measured::label::StaticLabelSet;
use measured_derive::{FixedCardinalityLabel, LabelGroup};
use metrics_core::{MetricOptions, MetricType, MetricsCollector, MetricsConfig};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};

/// Number of histogram buckets in every histogram scenario (measured's `N`).
pub const BUCKETS: usize = 8;

/// `BUCKETS` exponential bucket bounds from `start`, doubling.
pub fn exponential_buckets(start: f64) -> Vec<f64> {
    (0..BUCKETS).map(|i| start * f64::powi(2.0, i as i32)).collect()
}

#[derive(
    Clone, Copy, PartialEq, Debug, Hash, Eq, FixedCardinalityLabel, EncodeLabelValue, metrics_core::LabelValue,
)]
pub enum ErrorKind {
    User,
    Internal,
    Network,
}

/// The kinds in the order of [`KINDS`].
pub const ERROR_KINDS: [ErrorKind; 3] = [ErrorKind::User, ErrorKind::Internal, ErrorKind::Network];

/// measured's typed label group: a fixed-cardinality enum and an interned route.
#[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
#[label(set = ErrorsSet)]
pub struct Error<'a> {
    pub kind: ErrorKind,
    #[label(fixed_with = RodeoReader<Spur, foldhash::fast::RandomState>)]
    pub route: &'a str,
}

/// Our typed label set: a fixed-cardinality enum and a string route, found
/// by its bytes in the family's table.
#[derive(metrics_core::LabelSet)]
pub struct ErrorLabels<'a> {
    pub kind: ErrorKind,
    pub route: &'a str,
}

/// Our typed label set with the route interned up front: the family keys
/// it by its integer id.
#[derive(metrics_core::LabelSet)]
pub struct ErrorInterned {
    pub kind: ErrorKind,
    pub route: metrics_core::Interned,
}

/// The six routes, interned once, in the order of [`ROUTES`].
pub fn interned_routes() -> &'static [metrics_core::Interned; 6] {
    static ROUTES_INTERNED: std::sync::OnceLock<[metrics_core::Interned; 6]> = std::sync::OnceLock::new();
    ROUTES_INTERNED.get_or_init(|| ROUTES.map(|r| metrics_core::Interned::new(r).unwrap()))
}

/// The six routes as a fixed-cardinality label value.
#[derive(Clone, Copy, metrics_core::LabelValue)]
pub enum Route {
    #[label(name = "/api/v1/users")]
    Users,
    #[label(name = "/api/v1/users/:id")]
    User,
    #[label(name = "/api/v1/products")]
    Products,
    #[label(name = "/api/v1/products/:id")]
    Product,
    #[label(name = "/api/v1/products/:id/owner")]
    ProductOwner,
    #[label(name = "/api/v1/products/:id/purchase")]
    ProductPurchase,
}

/// The routes in the order of [`ROUTES`].
pub const ROUTE_IDS: [Route; 6] = [
    Route::Users,
    Route::User,
    Route::Products,
    Route::Product,
    Route::ProductOwner,
    Route::ProductPurchase,
];

/// Our fully fixed label set: both fields enums, so a dense index.
#[derive(metrics_core::LabelSet)]
pub struct ErrorDense {
    pub kind: ErrorKind,
    pub route: Route,
}

/// prometheus-client's label set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorStatic {
    pub kind: ErrorKind,
    pub route: &'static str,
}

/// measured's label set over the six routes.
pub fn errors_set() -> ErrorsSet {
    let mut rodeo = Rodeo::with_hasher(foldhash::fast::RandomState::default());
    for r in ROUTES {
        rodeo.get_or_intern_static(r);
    }
    ErrorsSet {
        kind: StaticLabelSet::new(),
        route: rodeo.into_reader(),
    }
}

/// A collector whose caps never fold the benchmark's series into overflow.
pub fn collector() -> MetricsCollector {
    MetricsCollector::new(MetricsConfig {
        max_tag_sets_per_series: 1_000_000,
        max_samples_per_series: 100_000,
        system_metrics_interval: std::time::Duration::ZERO,
        ..MetricsConfig::default()
    })
}

/// A collector with histogram `name` using `buckets`, like the peers'.
pub fn collector_with_histogram(name: &str, ty: MetricType, buckets: Vec<f64>) -> MetricsCollector {
    let c = collector();
    c.describe_metric(
        name,
        ty,
        MetricOptions {
            buckets: Some(buckets),
            ..MetricOptions::default()
        },
    )
    .unwrap();
    c
}

/// A (kind, route) group for every library's input type.
#[derive(Clone, Copy)]
pub struct Group {
    pub kind: ErrorKind,
    pub kind_str: &'static str,
    pub route: &'static str,
    pub route_id: Route,
    pub route_interned: metrics_core::Interned,
}

impl Group {
    /// Our typed label set, the route a `&str`.
    #[inline]
    pub fn typed(&self) -> ErrorLabels<'static> {
        ErrorLabels {
            kind: self.kind,
            route: self.route,
        }
    }

    /// Our typed label set, the route interned.
    #[inline]
    pub fn interned(&self) -> ErrorInterned {
        ErrorInterned {
            kind: self.kind,
            route: self.route_interned,
        }
    }

    /// Our fully fixed label set.
    #[inline]
    pub fn dense(&self) -> ErrorDense {
        ErrorDense {
            kind: self.kind,
            route: self.route_id,
        }
    }
}

/// A random group from this thread's generator (outside the timed region).
pub fn random_group() -> Group {
    let (k, r) = bykilt_bench::random_group_index();
    Group {
        kind: ERROR_KINDS[k],
        kind_str: KINDS[k],
        route: ROUTES[r],
        route_id: ROUTE_IDS[r],
        route_interned: interned_routes()[r],
    }
}

/// A prometheus-exporter recorder for the `metrics` facade, with `name`
/// bucketed like the peers when `buckets` is given, and a thread that runs
/// its upkeep (draining histogram buffers) every 200 ms until the returned
/// guard is dropped, as measured's benches do.
pub struct MetricsRecorder {
    pub recorder: metrics_exporter_prometheus::PrometheusRecorder,
    stop: Option<std::sync::mpsc::SyncSender<()>>,
}

impl MetricsRecorder {
    pub fn new(name: &str, buckets: Option<&[f64]>) -> Self {
        let mut builder = metrics_exporter_prometheus::PrometheusBuilder::new();
        if let Some(b) = buckets {
            builder = builder
                .set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Full(name.to_string()), b)
                .unwrap();
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(std::time::Duration::from_millis(200))
            {
                handle.run_upkeep();
            }
        });
        MetricsRecorder {
            recorder,
            stop: Some(tx),
        }
    }
}

impl Drop for MetricsRecorder {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
