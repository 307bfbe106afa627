//! Bringing a batch back: stopping the jobs a killed run left running,
//! resuming what is unfinished, sending chosen jobs back to pending.

use super::*;

impl BatchEngine {
    /// Finds the attempts a killed process left `running` whose process
    /// groups the journal recorded, stops what is left of them (SIGTERM,
    /// then SIGKILL after `grace`) and records them `stopped` with an
    /// `interrupted: ...` error, so they run again on resume. Returns the
    /// job ids interrupted. Every run ([`execute_batch_with`](Self::execute_batch_with),
    /// [`resume_batch`](Self::resume_batch)) does this first; call it
    /// before [`retry_batch_jobs`](Self::retry_batch_jobs) too, or let
    /// [`resume`](Self::resume) take every step in order.
    ///
    /// # Errors
    /// [`BatchError::OrphansRemain`] when an attempt's processes cannot be
    /// stopped (another user's, or still alive after SIGKILL): that job
    /// stays `running` and nothing should be started. Unknown or busy batch.
    pub fn stop_orphans(&self, batch_id: &str, grace: Duration) -> Result<Vec<String>> {
        let handle = self.handle(batch_id)?;
        self.stop_orphans_of(batch_id, &handle, grace)
    }

    pub(super) fn stop_orphans_of(&self, batch_id: &str, handle: &BatchHandle, grace: Duration) -> Result<Vec<String>> {
        let mut store = handle.store.lock().unwrap_or_else(PoisonError::into_inner);
        let orphans = store.orphans();
        if orphans.is_empty() {
            return Ok(Vec::new());
        }
        let groups: Vec<_> = orphans.iter().map(|(_, p)| *p).collect();
        let fates = crate::orphans::stop_orphans(&groups, grace);
        let mut interrupted = Vec::new();
        let mut unstoppable = None;
        for ((idx, process), fate) in orphans.iter().zip(fates) {
            let how = match fate {
                crate::orphans::OrphanFate::Unstoppable(reason) => {
                    unstoppable.get_or_insert((*idx, process.pgid.get(), reason));
                    continue;
                }
                crate::orphans::OrphanFate::Gone => "no process of it was left".to_owned(),
                crate::orphans::OrphanFate::Stopped { processes, killed } => format!(
                    "{processes} process(es) of group {} stopped with {}",
                    process.pgid.get(),
                    if killed { "SIGKILL" } else { "SIGTERM" }
                ),
            };
            let attempt = store.manifest().jobs[*idx].attempts;
            store.mark_interrupted(*idx);
            store.transition(
                *idx,
                JobStatus::Stopped,
                Some(format!(
                    "interrupted: the run that started attempt {attempt} ended before it finished; {how}"
                )),
            )?;
            handle.metrics.status(JobStatus::Stopped);
            interrupted.push(store.manifest().jobs[*idx].job_id.clone());
        }
        store.sync()?;
        if let Some((idx, pgid, reason)) = unstoppable {
            return Err(BatchError::OrphansRemain {
                batch_id: batch_id.to_owned(),
                job_id: store.manifest().jobs[idx].job_id.clone(),
                pgid,
                reason,
            });
        }
        Ok(interrupted)
    }

    /// Clears any stop request and runs what is not finished: `pending`
    /// jobs, and `stopped` ones, including those a killed process left
    /// `running` (marked `stopped` when the batch is opened). Failed jobs
    /// are not re-run: use [`retry_batch_jobs`](Self::retry_batch_jobs).
    ///
    /// # Errors
    /// As [`execute_batch_with`](Self::execute_batch_with).
    pub fn resume_batch(
        &self,
        batch_id: &str,
        runner: &dyn JobRunner,
        options: &ExecuteOptions,
        observer: &dyn BatchObserver,
    ) -> Result<BatchReport> {
        self.handle(batch_id)?.stop.reset();
        self.execute_batch_with(batch_id, runner, options, observer)
    }

    /// Sends the selected jobs back to `pending` (attempt numbers go on from where they were), journaled,
    /// and returns their ids; run them with
    /// [`resume_batch`](Self::resume_batch). Already pending jobs are kept as
    /// they are.
    ///
    /// # Errors
    /// [`BatchError::UnknownJob`] for an id not in the batch (nothing is
    /// changed then); [`BatchError::InvalidTransition`] for a running job.
    pub fn retry_batch_jobs(&self, batch_id: &str, selection: &RetrySelection) -> Result<Vec<String>> {
        let handle = self.handle(batch_id)?;
        let mut store = handle.store.lock().unwrap_or_else(PoisonError::into_inner);
        let indices: Vec<usize> = match selection {
            RetrySelection::Failed => store
                .manifest()
                .jobs
                .iter()
                .enumerate()
                .filter(|(_, j)| j.status == JobStatus::Failed)
                .map(|(i, _)| i)
                .collect(),
            RetrySelection::Jobs(ids) => ids
                .iter()
                .map(|id| {
                    store.manifest().index_of(id).ok_or_else(|| BatchError::UnknownJob {
                        batch_id: batch_id.to_owned(),
                        job_id: id.clone(),
                    })
                })
                .collect::<Result<_>>()?,
        };
        let mut ids = Vec::with_capacity(indices.len());
        for idx in indices {
            let from = store.retry(idx)?;
            if from != JobStatus::Pending {
                handle.metrics.status(JobStatus::Pending);
            }
            ids.push(store.manifest().jobs[idx].job_id.clone());
        }
        store.sync()?;
        Ok(ids)
    }
}
