//! The two process-group operations std does not offer: waiting for a child
//! to exit without reaping it, and signalling its whole group.
//!
//! Not reaping until the group is killed matters: while the child is an
//! unreaped zombie its pid (which is the group id) cannot be reused, so the
//! kill can never hit an unrelated process group.

use std::io;

/// Blocks until process `pid` (our child) has exited, leaving it unreaped.
pub(crate) fn wait_exited_no_reap(pid: u32) -> io::Result<()> {
    let pid = libc::id_t::from(pid);
    loop {
        // SAFETY: waitid writes only into the siginfo_t we pass; a zeroed
        // siginfo_t is a valid value of that plain C struct.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &raw mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Sends SIGKILL to every process in group `pgid`. A group with no members
/// left is not an error.
pub(crate) fn kill_group(pgid: u32) -> io::Result<()> {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    if pgid <= 1 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: kill has no memory-safety preconditions; a negative pid names a group.
    let rc = unsafe { libc::kill(-pgid, libc::SIGKILL) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}
