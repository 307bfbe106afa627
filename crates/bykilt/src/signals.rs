//! Ctrl-C (SIGINT) and SIGTERM during a run: the first stops gracefully, the
//! second kills the running jobs.

use std::sync::Arc;
use std::thread::JoinHandle;

use batch_engine::StopToken;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use crate::progress::Progress;

/// Turns signals into stop requests while it lives.
#[derive(Debug)]
pub struct StopOnSignal {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl StopOnSignal {
    /// Starts listening for SIGINT and SIGTERM.
    ///
    /// # Errors
    /// When the handlers cannot be installed.
    pub fn install(stop: StopToken, progress: Arc<Progress>) -> std::io::Result<Self> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let handle = signals.handle();
        let thread = std::thread::spawn(move || {
            let mut count = 0;
            for _ in signals.forever() {
                count += 1;
                if count == 1 {
                    stop.request_stop();
                    progress.note("stopping: no new jobs start; running jobs finish (Ctrl-C again to kill them)");
                } else {
                    stop.request_kill();
                    progress.note("killing running jobs");
                }
            }
        });
        Ok(StopOnSignal {
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for StopOnSignal {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
