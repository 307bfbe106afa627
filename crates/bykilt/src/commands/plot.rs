//! `bykilt metrics plot`: one metric of a run (or of every run) drawn into
//! an SVG or PNG file with plotters. What the chart shows (the lines and
//! their labels, running totals, units, the distribution) is the dashboard's
//! chart model, `metrics_api::chart`, built from the same samples by the
//! same code; this file only draws it. With a metrics database (`--db`,
//! default `$BYKILT_METRICS_DB`, else `<artifacts>/metrics.db`) the samples
//! are the ones the dashboard's chart route reads from it
//! ([`stored_series_chart`]); a run it lacks is read from its metrics.json. Text in PNGs is rasterised from an
//! embedded DejaVu Sans, so no system font library is needed.

use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;

use batch_engine::RunContext;
use batch_engine::list_runs;
use metrics_api::chart::{ChartSample, SeriesChart, series_chart};
use metrics_api::history::{MAX_CHART_SAMPLES, stored_series_chart};
use metrics_core::{MetricValue, MetricsCollector, TagFilter};
use metrics_store::{RunFilter, SampleQuery, StoreReader};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::EXIT_ALL_COMPLETED;
use crate::cli::{PlotArgs, PlotKind};
use crate::commands::history::{since_nanos, stored_runs, wanted_run};
use crate::commands::metrics::{import_run_metrics, load, long_retention_config, run_metrics_json};
use crate::commands::store::read_path;
use crate::error::CliError;
use crate::output::Output;

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
    let mut n: u64 = 0;
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
    Ok((crate::progress::counted(n, "run", "runs"), collector))
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("drawing {}: {e}", path.display()))
}

/// `2d`, `3h`, `15m` or `90s`: a `--since` as it may have been typed.
/// The chart's title: the metric, the runs, and the filters given (a plot
/// read later must say what it selected).
fn title(args: &PlotArgs, scope: &str) -> String {
    let mut filters: Vec<String> = args.tag.iter().map(|(k, v)| format!("{k}={v}")).collect();
    filters.extend(args.since.map(|d| format!("last {}", crate::output::duration_text(d))));
    if filters.is_empty() {
        format!("{} — {scope}", args.name)
    } else {
        format!("{} — {scope} ({})", args.name, filters.join(", "))
    }
}

/// The error of a selection without samples, naming only the filters given.
fn no_samples(args: &PlotArgs, scope: &str) -> CliError {
    let why = crate::output::no_samples_matching(&args.tag, args.since);
    CliError::Usage(format!("metric {:?} of {scope} {why} to draw", args.name))
}

/// Where `metrics plot` reads: the database, for the runs `filter` names,
/// when it has them (every stored run for `--all-runs`); else the runs'
/// metrics.json files.
enum Source {
    Database(StoreReader, RunFilter),
    Files,
}

/// The database at `--db` (default `$BYKILT_METRICS_DB`, else
/// `<artifacts>/metrics.db`) when it exists and has the run asked for (the
/// latest run directory it or a metrics.json has, without `--run`): as
/// `metrics export` picks. A run it lacks is read from its metrics.json.
fn source(args: &PlotArgs, root: &Path) -> Result<Source, CliError> {
    let path = read_path(&args.db, root);
    if args.db.db.is_none() && !path.exists() {
        return Ok(Source::Files);
    }
    let reader = StoreReader::open(&path)?;
    if args.all_runs {
        return Ok(Source::Database(reader, RunFilter::All));
    }
    if let Some(run) = args.run.as_deref() {
        return match stored_runs(&reader, root, Some(run), false) {
            Ok(filter) => Ok(Source::Database(reader, filter)),
            // A run under the artifacts root that the database lacks.
            Err(e) => match batch_engine::resolve_run_id(root, run) {
                Ok(id) if RunContext::with_run_id(root, &id).is_ok_and(|c| run_metrics_json(&c).exists()) => {
                    Ok(Source::Files)
                }
                _ => Err(e),
            },
        };
    }
    let stored: HashSet<String> = reader.runs()?.into_iter().map(|r| r.name).collect();
    match wanted_run(root, None, &stored) {
        Some(name) if stored.contains(&name) => Ok(Source::Database(reader, RunFilter::Named(name))),
        Some(_) => Ok(Source::Files),
        // No run directory has metrics: the database's own latest run (an
        // imported one).
        None if !stored.is_empty() => Ok(Source::Database(reader, RunFilter::Latest)),
        None => Ok(Source::Files),
    }
}

/// The chart of `args.name` over the database: the samples the dashboard's
/// chart route reads for the same runs, tags and window, at its largest
/// limit.
fn stored_chart(args: &PlotArgs, reader: &StoreReader, filter: &RunFilter) -> Result<Chart, CliError> {
    let path = reader.path().display();
    let runs = reader.runs()?;
    let (scope, names): (String, Vec<String>) = match reader.named_run(filter)? {
        Some(name) => {
            let names = runs
                .iter()
                .find(|r| r.name == name)
                .map(|r| r.series.iter().map(|s| s.name.clone()).collect())
                .unwrap_or_default();
            (format!("run {name}"), names)
        }
        None => {
            let with_series = runs
                .iter()
                .filter(|r| r.series.iter().any(|s| s.name == args.name && s.samples > 0))
                .count();
            if runs.is_empty() {
                return Err(CliError::Usage(format!(
                    "{path}: no run in the database; run a batch first or pass --db"
                )));
            }
            let names = reader.series()?.into_iter().map(|s| s.name).collect();
            (crate::progress::counted(with_series as u64, "run", "runs"), names)
        }
    };
    if !names.contains(&args.name) {
        return Err(CliError::Usage(format!(
            "{path}: {scope} has no metric {:?}; it has: {}",
            args.name,
            names.join(", ")
        )));
    }
    let q = SampleQuery {
        name: args.name.clone(),
        runs: filter.clone(),
        since: since_nanos(args.since),
        until: None,
        tags: args.tag.clone(),
        limit: Some(MAX_CHART_SAMPLES),
    };
    let model = stored_series_chart(reader, &q)?.ok_or_else(|| no_samples(args, &scope))?;
    if model.samples == 0 {
        return Err(no_samples(args, &scope));
    }
    Ok(Chart {
        title: title(args, &scope),
        model,
    })
}

/// The chart of `args.name` over the runs' metrics.json files.
fn file_chart(args: &PlotArgs, root: &Path) -> Result<Chart, CliError> {
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
        return Err(no_samples(args, &scope));
    }
    let mut samples: Vec<ChartSample> = values.iter().map(ChartSample::from).collect();
    samples.sort_by(|a, b| a.time.total_cmp(&b.time));
    Ok(Chart {
        title: title(args, &scope),
        model: series_chart(&args.name, series.metric_type(), series.buckets(), &samples),
    })
}

/// `bykilt metrics plot`.
pub(crate) fn plot(args: &PlotArgs, root: &Path, out: &mut Output) -> Result<i32, CliError> {
    let format = format_of(&args.out)?;
    let chart = match source(args, root)? {
        Source::Database(reader, filter) => {
            let chart = stored_chart(args, &reader, &filter)?;
            out.note(&format!("reading the metrics database {}", reader.path().display()));
            if chart.model.samples >= MAX_CHART_SAMPLES {
                out.note(&format!("drawing the newest {MAX_CHART_SAMPLES} samples"));
            }
            chart
        }
        Source::Files => file_chart(args, root)?,
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
    let samples = chart.model.samples;
    out.note(&format!(
        "wrote {} ({})",
        args.out.display(),
        crate::progress::counted(samples as u64, "sample", "samples")
    ));
    out.json(&serde_json::json!({ "out": args.out, "samples": samples, "metric": args.name }));
    Ok(EXIT_ALL_COMPLETED)
}

struct Chart {
    title: String,
    model: SeriesChart,
}

type DrawResult<B> = Result<(), DrawingAreaErrorKind<<B as DrawingBackend>::ErrorType>>;

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

impl Chart {
    fn draw<B: DrawingBackend>(&self, area: &DrawingArea<B, Shift>, kind: PlotKind) -> DrawResult<B> {
        area.fill(&WHITE)?;
        match kind {
            PlotKind::Line => self.lines(area),
            PlotKind::Histogram => self.histogram(area),
        }
    }

    fn lines<B: DrawingBackend>(&self, area: &DrawingArea<B, Shift>) -> DrawResult<B> {
        let m = &self.model;
        let points = || m.lines.iter().flat_map(|l| l.points.iter());
        let (x0, x1) = padded(
            points().map(|p| p.0).fold(f64::INFINITY, f64::min),
            points().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
        );
        let (y0, y1) = padded(
            points().map(|p| p.1).fold(f64::INFINITY, f64::min),
            points().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
        );
        let title = if m.hidden_tag_sets > 0 {
            format!("{} (+{} tag sets not drawn)", self.title, m.hidden_tag_sets)
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
            .x_desc(format!("{} (UTC)", m.x_label))
            .y_desc(m.y_label.as_str())
            .x_label_formatter(&|t| clock(*t, x1 - x0))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .draw()?;
        for (i, line) in m.lines.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), colour.stroke_width(2)))?
                .label(line.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        }
        // The legend box, as a share of the plotting area (13 px text,
        // about 7 px a character, ~20 px a row, the swatch and margins).
        let (w, h) = area.dim_in_pixel();
        let plot_w = (f64::from(w) - (2.0 * 12.0 + 72.0)).max(1.0);
        let plot_h = (f64::from(h) - (2.0 * 12.0 + 48.0 + 30.0)).max(1.0);
        let longest = m.lines.iter().map(|l| l.label.chars().count()).max().unwrap_or(0);
        let legend = (
            (longest as f64 * 7.0 + 40.0) / plot_w,
            (m.lines.len() as f64 * 20.0 + 10.0) / plot_h,
        );
        let lines: Vec<&[(f64, f64)]> = m.lines.iter().map(|l| l.points.as_slice()).collect();
        chart
            .configure_series_labels()
            .position(legend_corner(&lines, (x0, x1), (y0, y1), legend))
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }

    /// The model's distribution: one bar per bucket (or equal bin), in order,
    /// labelled as the dashboard labels them.
    fn histogram<B: DrawingBackend>(&self, area: &DrawingArea<B, Shift>) -> DrawResult<B> {
        let bars = &self.model.distribution;
        let max = bars.iter().map(|b| b.count).max().unwrap_or(1).max(1);
        let n = u32::try_from(bars.len()).unwrap_or(u32::MAX).max(1);
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{} — distribution", self.title), (FONT, 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d((0..n).into_segmented(), 0f64..(max as f64 * 1.1))?;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => bars.get(*i as usize).map(|b| b.label.clone()).unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len())
            .x_label_formatter(&label)
            .x_desc(self.model.distribution_label.as_str())
            .y_desc("samples")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .draw()?;
        let colour = Palette99::pick(0).to_rgba();
        chart.draw_series(bars.iter().zip(0u32..).map(|(b, i)| {
            Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), b.count as f64),
                ],
                colour.filled(),
            )
        }))?;
        Ok(())
    }
}

/// Where the legend covers the least of the lines: the corner of the plot
/// (`x` and `y` its ranges) whose `legend` box (width and height as shares
/// of the plot) holds the fewest points, counting eight along each segment
/// so that a long one crossing the corner counts too. Upper left, then
/// upper right, lower left, lower right on a tie.
fn legend_corner(lines: &[&[(f64, f64)]], x: (f64, f64), y: (f64, f64), legend: (f64, f64)) -> SeriesLabelPosition {
    const STEPS: u32 = 8;
    let (w, h) = (legend.0.clamp(0.0, 1.0), legend.1.clamp(0.0, 1.0));
    let share = |v: f64, (lo, hi): (f64, f64)| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    // [upper left, upper right, lower left, lower right]
    let mut covered = [0u64; 4];
    let mut count = |(px, py): (f64, f64)| {
        let (u, v) = (share(px, x), share(py, y));
        let (left, right, top, bottom) = (u <= w, u >= 1.0 - w, v >= 1.0 - h, v <= h);
        for (i, inside) in [left && top, right && top, left && bottom, right && bottom]
            .into_iter()
            .enumerate()
        {
            covered[i] += u64::from(inside);
        }
    };
    for line in lines {
        for pair in line.windows(2) {
            let ((ax, ay), (bx, by)) = (pair[0], pair[1]);
            for k in 0..STEPS {
                let t = f64::from(k) / f64::from(STEPS);
                count((ax + (bx - ax) * t, ay + (by - ay) * t));
            }
        }
        if let Some(&last) = line.last() {
            count(last);
        }
    }
    let corners = [
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::LowerLeft,
        SeriesLabelPosition::LowerRight,
    ];
    let best = (0..4).min_by_key(|&i| (covered[i], i)).unwrap_or(0);
    corners[best].clone()
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
    fn the_legend_goes_to_the_corner_the_lines_leave_free() {
        let corner =
            |lines: &[&[(f64, f64)]]| format!("{:?}", legend_corner(lines, (0.0, 10.0), (0.0, 10.0), (0.3, 0.2)));
        // A rising total leaves the upper left free.
        let rising: Vec<(f64, f64)> = (0..=10).map(|i| (f64::from(i), f64::from(i))).collect();
        assert_eq!(corner(&[&rising]), "UpperLeft");
        // A gauge that starts high and falls: the upper right.
        let falling: Vec<(f64, f64)> = (0..=10).map(|i| (f64::from(i), f64::from(10 - i))).collect();
        assert_eq!(corner(&[&falling]), "UpperRight");
        // Both, and a line along the top: a lower corner (left on a tie).
        let top = [(0.0, 10.0), (10.0, 10.0)];
        assert_eq!(corner(&[&rising, &falling, &top]), "LowerLeft");
        // A single long segment through the upper left counts there even
        // though neither end is in it.
        let across = [(0.0, 7.0), (4.0, 10.0)];
        let low = [(0.0, 0.0), (10.0, 0.0)];
        assert_eq!(corner(&[&across, &low]), "UpperRight");
    }
}
