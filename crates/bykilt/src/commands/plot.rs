//! `bykilt metrics plot`: one metric of a run (or of every run) drawn into
//! an SVG or PNG file with plotters. Text in PNGs is rasterised from an
//! embedded DejaVu Sans, so no system font library is needed.

use std::path::Path;
use std::sync::OnceLock;

use batch_engine::RunContext;
use batch_engine::list_runs;
use metrics_core::{MetricType, MetricValue, MetricsCollector, TagFilter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::EXIT_ALL_COMPLETED;
use crate::cli::{PlotArgs, PlotKind};
use crate::commands::metrics::{import_run_metrics, load, long_retention_config, run_metrics_json};
use crate::error::CliError;
use crate::output::Output;

/// Tag sets drawn as their own line; the rest are counted in the title.
pub(crate) const LINE_CAP: usize = 8;
/// Bins of the value distribution.
const BINS: usize = 20;
const FONT: &str = "sans-serif";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Svg,
    Png,
}

fn format_of(path: &Path) -> Result<Format, CliError> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        other => Err(CliError::Usage(format!(
            "--out {}: unknown extension {:?}; use FILE.svg or FILE.png",
            path.display(),
            other.unwrap_or("")
        ))),
    }
}

/// The unit of a metric, from its type and the Prometheus naming suffixes.
pub(crate) fn unit_of(name: &str, metric_type: MetricType) -> &'static str {
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

fn with_unit(label: &str, unit: &str) -> String {
    if unit.is_empty() {
        label.to_owned()
    } else {
        format!("{label} ({unit})")
    }
}

fn register_font() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // The font is a constant shipped in a crate: registering it cannot
        // fail for input reasons, and a failure only leaves PNG text out.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Every run under `root` that has metrics, replayed into one collector.
fn load_all(root: &Path) -> Result<(String, MetricsCollector), CliError> {
    let collector = MetricsCollector::new(long_retention_config());
    let mut n = 0;
    for id in list_runs(root)? {
        let ctx = RunContext::with_run_id(root, &id)?;
        if run_metrics_json(&ctx).exists() {
            import_run_metrics(&collector, &ctx)?;
            n += 1;
        }
    }
    if n == 0 {
        return Err(CliError::Usage(format!(
            "no run with metrics under {}; run a batch first or pass --artifacts-dir",
            root.display()
        )));
    }
    Ok((format!("{n} runs"), collector))
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("drawing {}: {e}", path.display()))
}

/// `bykilt metrics plot`.
pub(crate) fn plot(args: &PlotArgs, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let format = format_of(&args.out)?;
    let (scope, collector) = if args.all_runs {
        load_all(root)?
    } else {
        let (ctx, c) = load(root, args.run.as_deref())?;
        (format!("run {}", ctx.run_id()), c)
    };
    let Some(series) = collector.get_metric_series(&args.name) else {
        let names: Vec<String> = collector.list_series().into_iter().map(|s| s.name).collect();
        return Err(CliError::Usage(format!(
            "{scope} has no metric {:?}; it has: {}",
            args.name,
            names.join(", ")
        )));
    };
    let filter = args
        .tag
        .iter()
        .fold(TagFilter::new(), |f, (k, v)| f.with(k.as_str(), v.as_str()));
    let since = args.since.and_then(|d| {
        let d = time::Duration::try_from(d).ok()?;
        collector.now().checked_sub(d)
    });
    let values: Vec<MetricValue> = series
        .values_matching(&filter)
        .into_iter()
        .filter(|v| since.is_none_or(|s| v.timestamp >= s))
        .collect();
    if values.is_empty() {
        return Err(CliError::Usage(format!(
            "metric {:?} of {scope} has no samples matching the given --tag/--since",
            args.name
        )));
    }
    let chart = Chart {
        title: format!("{} — {scope}", args.name),
        unit: unit_of(&args.name, series.metric_type()),
        values: &values,
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| CliError::io("creating", dir, e))?;
    }
    let size = (args.width, args.height);
    register_font();
    match format {
        Format::Svg => {
            let area = SVGBackend::new(&args.out, size).into_drawing_area();
            chart.draw(&area, args.kind).map_err(|e| plot_err(&args.out, e))?;
            area.present().map_err(|e| plot_err(&args.out, e))?;
        }
        Format::Png => {
            let area = BitMapBackend::new(&args.out, size).into_drawing_area();
            chart.draw(&area, args.kind).map_err(|e| plot_err(&args.out, e))?;
            area.present().map_err(|e| plot_err(&args.out, e))?;
        }
    }
    out.note(&format!("wrote {} ({} samples)", args.out.display(), values.len()));
    out.json(&serde_json::json!({ "out": args.out, "samples": values.len(), "metric": args.name }));
    Ok(EXIT_ALL_COMPLETED)
}

struct Chart<'a> {
    title: String,
    unit: &'static str,
    values: &'a [MetricValue],
}

type DrawResult<B> = Result<(), DrawingAreaErrorKind<<B as DrawingBackend>::ErrorType>>;

fn unix(t: time::OffsetDateTime) -> f64 {
    (t - time::OffsetDateTime::UNIX_EPOCH).as_seconds_f64()
}

/// `HH:MM:SS`, with tenths when the chart spans under half a minute (so
/// ticks of a short run are not all the same label).
fn clock(t: f64, span: f64) -> String {
    let Ok(d) = time::OffsetDateTime::from_unix_timestamp(t.floor() as i64) else {
        return String::new();
    };
    let hms = format!("{:02}:{:02}:{:02}", d.hour(), d.minute(), d.second());
    if span < 30.0 {
        format!("{hms}.{}", ((t - t.floor()) * 10.0).floor() as u8)
    } else {
        hms
    }
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else {
        (lo - 1.0, hi + 1.0)
    }
}

impl Chart<'_> {
    fn draw<B: DrawingBackend>(&self, area: &DrawingArea<B, Shift>, kind: PlotKind) -> DrawResult<B> {
        area.fill(&WHITE)?;
        match kind {
            PlotKind::Line => self.lines(area),
            PlotKind::Histogram => self.histogram(area),
        }
    }

    fn lines<B: DrawingBackend>(&self, area: &DrawingArea<B, Shift>) -> DrawResult<B> {
        // One line per tag set, in order of first appearance.
        let mut groups: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for v in self.values {
            let key = v
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            let point = (unix(v.timestamp), v.value);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, pts)) => pts.push(point),
                None => groups.push((key, vec![point])),
            }
        }
        let hidden = groups.len().saturating_sub(LINE_CAP);
        groups.truncate(LINE_CAP);
        let xs = self.values.iter().map(|v| unix(v.timestamp));
        let (x0, x1) = padded(
            xs.clone().fold(f64::INFINITY, f64::min),
            xs.fold(f64::NEG_INFINITY, f64::max),
        );
        let ys = self.values.iter().map(|v| v.value);
        let (y0, y1) = padded(
            ys.clone().fold(f64::INFINITY, f64::min),
            ys.fold(f64::NEG_INFINITY, f64::max),
        );
        let title = if hidden > 0 {
            format!("{} (+{hidden} tag sets not drawn)", self.title)
        } else {
            self.title.clone()
        };
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc("time (UTC)")
            .y_desc(with_unit("value", self.unit))
            .x_label_formatter(&|t| clock(*t, x1 - x0))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .draw()?;
        for (i, (label, pts)) in groups.into_iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let name = if label.is_empty() {
                "(no tags)".to_owned()
            } else {
                label
            };
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }

    fn histogram<B: DrawingBackend>(&self, area: &DrawingArea<B, Shift>) -> DrawResult<B> {
        let lo = self.values.iter().map(|v| v.value).fold(f64::INFINITY, f64::min);
        let hi = self.values.iter().map(|v| v.value).fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
        let width = (hi - lo) / BINS as f64;
        let mut counts = [0u64; BINS];
        for v in self.values {
            let i = (((v.value - lo) / width) as usize).min(BINS - 1);
            counts[i] += 1;
        }
        let max = counts.iter().copied().max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{} — distribution", self.title), (FONT, 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(lo..hi, 0f64..(max as f64 * 1.1))?;
        chart
            .configure_mesh()
            .x_desc(with_unit("value", self.unit))
            .y_desc("samples")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .draw()?;
        let colour = Palette99::pick(0).to_rgba();
        chart.draw_series(counts.iter().enumerate().map(|(i, c)| {
            let a = lo + width * i as f64;
            Rectangle::new([(a, 0.0), (a + width, *c as f64)], colour.filled())
        }))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_picks_the_format_and_names_a_bad_one() {
        assert_eq!(format_of(Path::new("a/b.svg")).ok(), Some(Format::Svg));
        assert_eq!(format_of(Path::new("b.PNG")).ok(), Some(Format::Png));
        let e = format_of(Path::new("b.jpg"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("\"jpg\"") && e.contains("FILE.svg"), "{e}");
        assert!(format_of(Path::new("noext")).is_err());
    }

    #[test]
    fn units_follow_type_and_suffix() {
        assert_eq!(unit_of("job_duration_seconds", MetricType::Histogram), "s");
        assert_eq!(unit_of("t", MetricType::Timer), "s");
        assert_eq!(unit_of("rss_bytes", MetricType::Gauge), "bytes");
        assert_eq!(unit_of("jobs_total", MetricType::Counter), "count");
        assert_eq!(unit_of("queue_depth", MetricType::Gauge), "");
    }
}
