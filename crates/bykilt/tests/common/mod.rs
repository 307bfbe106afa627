//! Shared helpers of the CLI tests: run the built binary, wait for files.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_bykilt");

pub(crate) struct Sandbox {
    pub(crate) dir: tempfile::TempDir,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
    pub(crate) fn root(&self) -> PathBuf {
        self.path().join("artifacts")
    }
    pub(crate) fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .arg("--artifacts-dir")
            .arg(self.root())
            .current_dir(self.path())
            .env_remove("BYKILT_ARTIFACTS_DIR")
            .stdin(Stdio::null());
        c
    }
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    pub(crate) fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
    /// The only batch under the root, once its manifest exists.
    pub(crate) fn wait_for_batch(&self) -> String {
        let root = self.root();
        wait_until("the batch manifest", || {
            batch_engine::list_batches(&root)
                .ok()
                .and_then(|b| b.first().map(|m| m.batch_id.clone()))
        })
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Polls `f` every 10 ms until it returns `Some`, failing after 60 s.
pub(crate) fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Lines of `path` (empty when it does not exist yet).
pub(crate) fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

pub(crate) fn send_signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

/// Waits for `child` to exit, failing after 60 s.
pub(crate) fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    wait_until("the CLI to exit", || child.try_wait().unwrap())
}

/// A CSV with column `id` = 1..=n and a `word` column.
pub(crate) fn numbered_csv(n: usize) -> Vec<u8> {
    let mut s = String::from("id,word\n");
    for i in 1..=n {
        s.push_str(&format!("{i},w{i}\n"));
    }
    s.into_bytes()
}
