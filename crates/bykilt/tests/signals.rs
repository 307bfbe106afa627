//! Ctrl-C on the real binary: the first SIGINT lets running jobs finish and
//! leaves the rest pending; the second kills the running jobs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;

use batch_engine::{BatchEngine, JobStatus, RunContext};
use common::{Sandbox, send_signal, text, wait_exit, wait_until};

fn manifest(s: &Sandbox, batch_id: &str) -> batch_engine::BatchManifest {
    BatchEngine::new(RunContext::new(s.root())).get_batch(batch_id).unwrap()
}

#[test]
fn first_sigint_stops_gracefully() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(20));
    let mut child = s.spawn(&[
        "batch",
        "run",
        "in.csv",
        "--concurrency",
        "2",
        "--exec",
        "touch \"start_$BYKILT_ID\"; sleep 0.3; touch \"end_$BYKILT_ID\"",
    ]);
    let batch_id = s.wait_for_batch();
    wait_until("a job to start", || s.path().join("start_1").exists().then_some(()));
    send_signal(&child, libc::SIGINT);
    let status = wait_exit(&mut child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("stopping"), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("bykilt batch resume"),
        "{}",
        text(&out.stdout)
    );

    let m = manifest(&s, &batch_id);
    let mut started = 0;
    for job in &m.jobs {
        let id = job.row_data.get("id").unwrap();
        let began = s.path().join(format!("start_{id}")).exists();
        let ended = s.path().join(format!("end_{id}")).exists();
        assert_eq!(began, ended, "job {id} was cut short");
        let expected = if began {
            JobStatus::Completed
        } else {
            JobStatus::Pending
        };
        assert_eq!(job.status, expected, "job {id}");
        started += usize::from(began);
    }
    assert!((1..20).contains(&started), "{started} jobs ran");
    assert!(
        s.root()
            .join("runs")
            .join(&m.run_id)
            .join("metrics/metrics.json")
            .exists()
    );
}

#[test]
fn second_sigint_kills_running_jobs() {
    let s = Sandbox::new();
    s.write("in.csv", &common::numbered_csv(4));
    let mut child = s.spawn(&[
        "batch",
        "run",
        "in.csv",
        "--concurrency",
        "2",
        "--exec",
        "echo $$ > \"pid_$BYKILT_ID.tmp\"; mv \"pid_$BYKILT_ID.tmp\" \"pid_$BYKILT_ID\"; sleep 60",
    ]);
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let batch_id = s.wait_for_batch();
    let read_pid = |id: u32| -> u32 {
        wait_until("a job pid", || {
            std::fs::read_to_string(s.path().join(format!("pid_{id}")))
                .ok()
                .and_then(|p| p.trim().parse().ok())
        })
    };
    let pids = [read_pid(1), read_pid(2)];
    send_signal(&child, libc::SIGINT);
    wait_until("the stop note", || rx.recv().ok().filter(|l| l.contains("stopping")));
    send_signal(&child, libc::SIGINT);
    let status = wait_exit(&mut child);
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("killing"), "{stderr}");
    for pid in pids {
        let gone = wait_until("the job to die", || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            (stat.is_empty() || stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z')).then_some(true)
        });
        assert!(gone);
    }
    let statuses: Vec<JobStatus> = manifest(&s, &batch_id).jobs.iter().map(|j| j.status).collect();
    assert_eq!(
        statuses,
        [
            JobStatus::Stopped,
            JobStatus::Stopped,
            JobStatus::Pending,
            JobStatus::Pending
        ]
    );
}
