//! Attempts a killed run left behind: their process groups, found by the
//! (process group, start time) the journal recorded for each attempt, are
//! stopped before any row runs again, so no two attempts of a row overlap.

use std::time::{Duration, Instant};

use crate::job::JobProcess;
use crate::process_group::{ProcInfo, attempt_processes, own_uid, signal_group};

/// How long processes get to die after SIGKILL before we give up on them.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How often a group is checked while waiting for it to end.
const POLL: Duration = Duration::from_millis(20);

/// What became of one orphaned attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OrphanFate {
    /// No process of it was left.
    Gone,
    /// Its processes were stopped; `killed` when SIGTERM was not enough.
    Stopped {
        /// Processes found.
        processes: usize,
        /// Whether SIGKILL was needed.
        killed: bool,
    },
    /// It could not be stopped, for the reason given.
    Unstoppable(String),
}

fn alive(p: JobProcess) -> Vec<ProcInfo> {
    attempt_processes(p.pgid.get(), p.start_ticks)
}

/// Waits until every group in `groups` (those with `pending[i]`) is empty,
/// or `deadline`; clears `pending[i]` for the groups that ended.
fn wait_ended(groups: &[JobProcess], pending: &mut [bool], deadline: Instant) {
    loop {
        for (g, p) in groups.iter().zip(pending.iter_mut()) {
            if *p && alive(*g).is_empty() {
                *p = false;
            }
        }
        if !pending.contains(&true) || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Stops the attempts' process groups: SIGTERM to all of them, then, for
/// those still alive after `grace`, SIGKILL. Groups with a process of
/// another user are not signalled at all. Returns one fate per group, in
/// order.
pub(crate) fn stop_orphans(groups: &[JobProcess], grace: Duration) -> Vec<OrphanFate> {
    let me = own_uid();
    let mut fates: Vec<OrphanFate> = Vec::with_capacity(groups.len());
    let mut pending = vec![false; groups.len()];
    for (i, g) in groups.iter().enumerate() {
        let procs = alive(*g);
        if procs.is_empty() {
            fates.push(OrphanFate::Gone);
            continue;
        }
        if let Some(p) = procs.iter().find(|p| p.uid != me) {
            fates.push(OrphanFate::Unstoppable(format!(
                "process {} of the group belongs to user id {}, not to this user ({me})",
                p.pid, p.uid
            )));
            continue;
        }
        match signal_group(g.pgid.get(), libc::SIGTERM) {
            Ok(()) => {
                pending[i] = true;
                fates.push(OrphanFate::Stopped {
                    processes: procs.len(),
                    killed: false,
                });
            }
            Err(e) => fates.push(OrphanFate::Unstoppable(format!("SIGTERM failed: {e}"))),
        }
    }
    wait_ended(groups, &mut pending, Instant::now() + grace);
    for (i, g) in groups.iter().enumerate() {
        if !pending[i] {
            continue;
        }
        if let OrphanFate::Stopped { killed, .. } = &mut fates[i] {
            *killed = true;
        }
        if let Err(e) = signal_group(g.pgid.get(), libc::SIGKILL) {
            fates[i] = OrphanFate::Unstoppable(format!("SIGKILL failed: {e}"));
            pending[i] = false;
        }
    }
    let still = pending.clone();
    wait_ended(groups, &mut pending, Instant::now() + KILL_WAIT);
    for i in 0..groups.len() {
        if still[i] && pending[i] {
            fates[i] = OrphanFate::Unstoppable(format!("still running {}s after SIGKILL", KILL_WAIT.as_secs()));
        }
    }
    fates
}
