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

/// Sends `signal` to every process in group `pgid`. A group with no members
/// left is not an error; groups 0 and 1 are refused (they would name our own
/// group or every process).
pub(crate) fn signal_group(pgid: u32, signal: libc::c_int) -> io::Result<()> {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    if pgid <= 1 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: kill has no memory-safety preconditions; a negative pid names a group.
    let rc = unsafe { libc::kill(-pgid, signal) };
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

/// What `/proc/<pid>/stat` and `/proc/<pid>/status` say about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcInfo {
    /// The process id.
    pub(crate) pid: u32,
    /// Its process group.
    pub(crate) pgrp: u32,
    /// Start time in clock ticks since boot (field 22 of `stat`): with the
    /// pid, it names one process for the life of the machine, since a pid is
    /// reused only by a process started later.
    pub(crate) start_ticks: u64,
    /// Whether it is a zombie (exited, not yet reaped): it runs nothing.
    pub(crate) zombie: bool,
    /// Its real user id.
    pub(crate) uid: u32,
}

/// Reads process `pid` from `/proc`; `None` when it does not exist.
pub(crate) fn proc_info(pid: u32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: the fields after it start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state), so field n is fields[n - 3].
    let zombie = matches!(*fields.first()?, "Z" | "X");
    let pgrp = fields.get(2)?.parse().ok()?;
    let start_ticks = fields.get(19)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_ascii_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(ProcInfo {
        pid,
        pgrp,
        start_ticks,
        zombie,
        uid,
    })
}

/// The live (not zombie) processes of group `pgid` that belong to the
/// attempt whose group leader started at `start_ticks`.
///
/// When a process with pid `pgid` exists and started at another time, the
/// number was reused: the group is someone else's and nothing is returned.
/// When the leader is gone, the group id cannot have been handed out again
/// while any member lives (the kernel keeps it reserved), so members that
/// started no earlier than the leader are the attempt's.
pub(crate) fn attempt_processes(pgid: u32, start_ticks: u64) -> Vec<ProcInfo> {
    if let Some(leader) = proc_info(pgid)
        && leader.start_ticks != start_ticks
    {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_info)
        .filter(|p| p.pgrp == pgid && !p.zombie && p.start_ticks >= start_ticks)
        .collect()
}

/// This process's real user id.
pub(crate) fn own_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}
