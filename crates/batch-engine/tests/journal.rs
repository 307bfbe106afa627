//! The journal: O(1) appends, replay (torn last line tolerated, corrupt
//! middle line rejected), compaction, and reopening after a crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use batch_engine::JOURNAL_FILE;
use batch_engine::{
    BatchEngine, BatchError, ExecuteOptions, JobContext, JobError, JobJournal, JobStatus, JournalEntry, JournalSync,
    MANIFEST_FILE, NoObserver, RetrySelection, RunContext, batch_dir, run_id_of,
};
use metrics_core::MetricsCollector;

fn entry(seq: u64, job: usize, status: JobStatus) -> JournalEntry {
    JournalEntry {
        seq,
        job,
        status,
        attempts: 1,
        error: None,
        started_at: None,
        completed_at: None,
        process: None,
        interrupted: None,
    }
}

#[test]
fn replay_ignores_a_torn_last_line_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    {
        let mut j = JobJournal::open(&path, JournalSync::Never).unwrap();
        j.append(&entry(1, 0, JobStatus::Running)).unwrap();
        j.append(&entry(2, 0, JobStatus::Completed)).unwrap();
    }
    let whole = std::fs::metadata(&path).unwrap().len();
    // A write cut short by a crash: half a line, no newline.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(br#"{"seq":3,"job":1,"sta"#)
        .unwrap();
    let r = JobJournal::replay(&path).unwrap();
    assert_eq!(r.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert!(r.torn_tail);
    assert_eq!(r.valid_len, whole);

    // A garbage line in the middle is corruption, named by line.
    std::fs::write(&path, b"{\"seq\":1,\"job\":0,\"status\":\"running\",\"attempts\":1}\nxx\n{\"seq\":2,\"job\":0,\"status\":\"completed\",\"attempts\":1}\n").unwrap();
    let e = JobJournal::replay(&path).unwrap_err();
    assert!(matches!(e, BatchError::JournalCorrupt { line: 2, .. }), "{e}");

    // A missing journal is an empty one.
    assert_eq!(JobJournal::replay(&dir.path().join("none")).unwrap().entries.len(), 0);
}

struct Fixture {
    dir: tempfile::TempDir,
    root: PathBuf,
    csv: PathBuf,
}

fn fixture(rows: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    let mut text = String::from("n\n");
    for i in 0..rows {
        text.push_str(&format!("{i}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let root = dir.path().join("artifacts");
    Fixture { dir, root, csv }
}

fn engine(run: &RunContext) -> BatchEngine {
    BatchEngine::new(run.clone()).with_collector(Arc::new(MetricsCollector::default()))
}

#[test]
fn updates_append_to_the_journal_without_rewriting_the_manifest() {
    let f = fixture(50);
    let run = RunContext::new(&f.root);
    let e = engine(&run);
    let m = e.create_batch_jobs(&f.csv).unwrap();
    let dir = batch_dir(&f.root, &m.batch_id).unwrap();
    let manifest_before = std::fs::read(dir.join(MANIFEST_FILE)).unwrap();
    for job in &m.jobs {
        e.update_job_status(&job.job_id, JobStatus::Running, None).unwrap();
        e.update_job_status(&job.job_id, JobStatus::Failed, Some("boom"))
            .unwrap();
    }
    assert_eq!(std::fs::read(dir.join(MANIFEST_FILE)).unwrap(), manifest_before);
    let lines = std::fs::read_to_string(dir.join(JOURNAL_FILE)).unwrap().lines().count();
    assert_eq!(lines, 100);
    // A reader sees the journal applied.
    let other = engine(&RunContext::new(&f.root));
    let seen = other.get_batch(&m.batch_id).unwrap();
    assert_eq!(seen.failed_jobs, 50);
    assert_eq!(seen.jobs[7].error_message.as_deref(), Some("boom"));
    // Closing compacts: manifest updated, journal emptied.
    e.close_batch(&m.batch_id).unwrap();
    assert_eq!(std::fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len(), 0);
    let compacted = batch_engine::BatchManifest::load(&dir.join(MANIFEST_FILE)).unwrap();
    assert_eq!((compacted.failed_jobs, compacted.journal_seq), (50, 100));
}

#[test]
fn a_batch_survives_a_crash_with_a_torn_journal() {
    let f = fixture(4);
    let run = RunContext::new(&f.root);
    let batch_id;
    {
        let e = engine(&run);
        let m = e.create_batch_jobs(&f.csv).unwrap();
        batch_id = m.batch_id.clone();
        e.update_job_status(&m.jobs[0].job_id, JobStatus::Running, None)
            .unwrap();
        e.update_job_status(&m.jobs[0].job_id, JobStatus::Completed, None)
            .unwrap();
        e.update_job_status(&m.jobs[1].job_id, JobStatus::Running, None)
            .unwrap();
        // The engine is dropped without compaction, as a killed process would leave it.
        std::mem::forget(e);
    }
    let dir = batch_dir(&f.root, &batch_id).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(JOURNAL_FILE))
        .unwrap()
        .write_all(b"{\"seq\":4,\"job\":2,\"status\":\"runn")
        .unwrap();

    let e2 = engine(&RunContext::new(&f.root));
    let seen = e2.get_batch(&batch_id);
    // The forgotten engine still holds the lock in this process: reading works,
    // changing is refused.
    let seen = seen.unwrap();
    let statuses: Vec<_> = seen.jobs.iter().map(|j| j.status).collect();
    assert_eq!(
        statuses,
        [
            JobStatus::Completed,
            JobStatus::Running,
            JobStatus::Pending,
            JobStatus::Pending
        ]
    );
    let busy = e2.stop_batch(&batch_id).unwrap_err();
    assert!(matches!(busy, BatchError::Busy { .. }), "{busy}");
}

#[test]
fn resume_reruns_only_what_did_not_finish() {
    let f = fixture(4);
    let run = RunContext::new(&f.root);
    let batch_id;
    {
        let e = engine(&run);
        let m = e.create_batch_jobs(&f.csv).unwrap();
        batch_id = m.batch_id.clone();
        e.update_job_status(&m.jobs[0].job_id, JobStatus::Running, None)
            .unwrap();
        e.update_job_status(&m.jobs[0].job_id, JobStatus::Completed, None)
            .unwrap();
        e.update_job_status(&m.jobs[1].job_id, JobStatus::Running, None)
            .unwrap();
        e.update_job_status(&m.jobs[2].job_id, JobStatus::Running, None)
            .unwrap();
        e.update_job_status(&m.jobs[2].job_id, JobStatus::Failed, Some("x"))
            .unwrap();
        drop(e); // releases the lock without compaction
    }
    let dir = batch_dir(&f.root, &batch_id).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(JOURNAL_FILE))
        .unwrap()
        .write_all(b"{\"seq\":99,")
        .unwrap();
    let e = engine(&RunContext::new(&f.root));
    let ran: Arc<std::sync::Mutex<Vec<usize>>> = Arc::default();
    let log = Arc::clone(&ran);
    let runner = move |job: &JobContext<'_>| -> Result<(), JobError> {
        log.lock().unwrap().push(job.row_index);
        Ok(())
    };
    let report = e
        .resume_batch(&batch_id, &runner, &ExecuteOptions::default(), &NoObserver)
        .unwrap();
    let mut ran = ran.lock().unwrap().clone();
    ran.sort_unstable();
    assert_eq!(
        ran,
        [1, 3],
        "the in-flight job and the pending one; not the completed or failed"
    );
    assert_eq!((report.summary.completed, report.summary.failed), (3, 1));
    let m = e.get_batch(&batch_id).unwrap();
    assert_eq!(m.jobs[1].attempts, 2, "the interrupted attempt is counted");
    // The torn tail was cut and the journal compacted away.
    assert_eq!(std::fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len(), 0);
}

#[test]
fn entries_already_compacted_are_not_applied_again() {
    let f = fixture(1);
    let run = RunContext::new(&f.root);
    let e = engine(&run);
    let m = e.create_batch_jobs(&f.csv).unwrap();
    let dir = batch_dir(&f.root, &m.batch_id).unwrap();
    let job = &m.jobs[0].job_id;
    e.update_job_status(job, JobStatus::Running, None).unwrap();
    e.update_job_status(job, JobStatus::Completed, None).unwrap();
    let old_journal = std::fs::read(dir.join(JOURNAL_FILE)).unwrap();
    e.retry_batch_jobs(&m.batch_id, &RetrySelection::Jobs(vec![job.clone()]))
        .unwrap();
    e.close_batch(&m.batch_id).unwrap();
    // A crash between writing the manifest and emptying the journal would
    // leave old lines behind; they are older than the manifest and skipped.
    std::fs::write(dir.join(JOURNAL_FILE), old_journal).unwrap();
    let reread = engine(&RunContext::new(&f.root)).get_batch(&m.batch_id).unwrap();
    assert_eq!(reread.jobs[0].status, JobStatus::Pending);
}

#[test]
fn every_finished_job_sync_policy_still_records_everything() {
    let f = fixture(20);
    let run = RunContext::new(&f.root);
    let config = batch_engine::BatchConfig {
        journal_sync: JournalSync::EveryFinishedJob,
        ..Default::default()
    };
    let e = BatchEngine::with_config(run, config).with_collector(Arc::new(MetricsCollector::default()));
    let m = e.create_batch_jobs(&f.csv).unwrap();
    let count = AtomicUsize::new(0);
    let runner = |_: &JobContext<'_>| -> Result<(), JobError> {
        count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    };
    let r = e
        .execute_batch(&m.batch_id, &runner, &ExecuteOptions::default())
        .unwrap();
    assert_eq!((r.summary.completed, count.load(Ordering::Relaxed)), (20, 20));
    let _ = &f.dir;
}

#[test]
fn a_reader_probing_the_lock_does_not_make_a_run_busy_but_a_holder_does() {
    let f = fixture(2);
    let run = RunContext::new(&f.root);
    let batch_id = {
        let e = engine(&run);
        let id = e.create_batch_jobs(&f.csv).unwrap().batch_id;
        drop(e);
        id
    };
    let dir = batch_dir(&f.root, &batch_id).unwrap();
    // A reader's probe (a shared lock, as `batch status` and the dashboard
    // take it) that lasts a while: opening the batch for update waits it out.
    let probe = std::fs::File::open(dir.join(".lock")).unwrap();
    probe.lock_shared().unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(60));
        probe.unlock().unwrap();
    });
    let e = engine(&run);
    e.update_job_status(
        &format!("{}_0001", run_id_of(&batch_id).unwrap()),
        JobStatus::Running,
        None,
    )
    .expect("waits for the probe");
    release.join().unwrap();
    drop(e);
    // A lock held for good (another run) is still reported as busy.
    let holder = std::fs::File::open(dir.join(".lock")).unwrap();
    holder.lock_shared().unwrap();
    let busy = engine(&run).stop_batch(&batch_id).unwrap_err();
    assert!(matches!(busy, BatchError::Busy { .. }), "{busy}");
}
