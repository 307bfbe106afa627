//! System metrics (CPU, memory, this process) recorded as gauges.

use std::sync::{Mutex, PoisonError};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::MetricsCollector;
use crate::error::{MetricsError, Result};
use crate::kind::MetricType;

/// The gauges written by [`SystemSampler::sample`], in order.
pub const SYSTEM_METRICS: [&str; 5] = [
    "system.cpu_percent",
    "system.memory_percent",
    "system.memory_used_mb",
    "system.process_memory_mb",
    "system.process_cpu_percent",
];

/// Reads CPU and memory figures. CPU percentages are measured between two
/// calls, so keep one sampler and call it periodically; the first call
/// reports the usage since the sampler was created.
#[derive(Debug)]
pub struct SystemSampler {
    system: System,
    pid: Option<Pid>,
}

/// One reading of the system metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SystemReading {
    /// Whole-machine CPU use, 0–100.
    pub cpu_percent: f64,
    /// Memory in use as a share of the total, 0–100.
    pub memory_percent: f64,
    /// Memory in use, MiB.
    pub memory_used_mb: f64,
    /// This process' resident memory, MiB.
    pub process_memory_mb: f64,
    /// This process' CPU use (100 = one core).
    pub process_cpu_percent: f64,
}

const MIB: f64 = 1024.0 * 1024.0;

impl SystemSampler {
    /// A sampler for this machine and process.
    ///
    /// # Errors
    /// [`MetricsError::SystemInfo`] where the platform offers no figures.
    pub fn new() -> Result<Self> {
        let mut system = System::new().map_err(|e| MetricsError::SystemInfo(e.to_string()))?;
        system.refresh_cpu_usage();
        let pid = sysinfo::get_current_pid().ok();
        if let Some(pid) = pid {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
        }
        Ok(SystemSampler { system, pid })
    }

    /// Reads the current figures.
    pub fn read(&mut self) -> SystemReading {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        let total = self.system.total_memory() as f64;
        let used = self.system.used_memory() as f64;
        let (process_memory, process_cpu) = match self.pid {
            Some(pid) => {
                self.system.refresh_processes_specifics(
                    ProcessesToUpdate::Some(&[pid]),
                    true,
                    ProcessRefreshKind::nothing().with_cpu().with_memory(),
                );
                self.system
                    .process(pid)
                    .map_or((0.0, 0.0), |p| (p.memory() as f64, f64::from(p.cpu_usage())))
            }
            None => (0.0, 0.0),
        };
        SystemReading {
            cpu_percent: f64::from(self.system.global_cpu_usage()),
            memory_percent: if total > 0.0 { used / total * 100.0 } else { 0.0 },
            memory_used_mb: used / MIB,
            process_memory_mb: process_memory / MIB,
            process_cpu_percent: process_cpu,
        }
    }

    /// Reads the figures and records them as gauges in `collector`.
    ///
    /// # Errors
    /// A [`MetricsError`] if one of the names is already
    /// used by a non-gauge series.
    pub fn sample(&mut self, collector: &MetricsCollector) -> Result<SystemReading> {
        let r = self.read();
        let values = [
            r.cpu_percent,
            r.memory_percent,
            r.memory_used_mb,
            r.process_memory_mb,
            r.process_cpu_percent,
        ];
        for (name, value) in SYSTEM_METRICS.iter().zip(values) {
            // sysinfo reports finite numbers; guard anyway so a NaN cannot
            // turn the whole sampling into an error.
            let value = if value.is_finite() { value } else { 0.0 };
            collector.record_metric(name, value, &[], MetricType::Gauge)?;
        }
        Ok(r)
    }
}

/// Records the system metrics into `collector` once, using a process-wide
/// sampler (so CPU figures cover the time since the previous call).
///
/// # Errors
/// As [`SystemSampler::sample`].
pub fn record_system_metrics(collector: &MetricsCollector) -> Result<SystemReading> {
    static SAMPLER: Mutex<Option<SystemSampler>> = Mutex::new(None);
    let mut guard = SAMPLER.lock().unwrap_or_else(PoisonError::into_inner);
    if guard.is_none() {
        *guard = Some(SystemSampler::new()?);
    }
    match guard.as_mut() {
        Some(sampler) => sampler.sample(collector),
        None => Err(MetricsError::SystemInfo("sampler unavailable".into())),
    }
}
