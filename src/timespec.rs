//! Durations for the kernel's `timespec`, used by the Unix backends.

use rustix::event::{Nsecs, Secs, Timespec};
use std::time::Duration;

/// Converts exactly (nanoseconds); rustix rounds up from there to whatever unit the syscall
/// takes (whole milliseconds for `epoll_wait`, microseconds for `select`).
pub(crate) fn to_timespec(timeout: Duration) -> Timespec {
    Timespec {
        tv_sec: Secs::try_from(timeout.as_secs()).unwrap_or(Secs::MAX),
        tv_nsec: timeout.subsec_nanos() as Nsecs,
    }
}
