//! Timeouts: PEP 475 retries and "never return before the timeout".

use std::io;
use std::time::{Duration, Instant};

/// The longest single wait handed to a backend: `i32::MAX` milliseconds (24.8 days) fits
/// every kernel interface (epoll_wait's int ms, Windows' DWORD ms). Longer timeouts are
/// served by waiting again, which the retry loop does anyway.
const LONGEST_WAIT: Duration = Duration::from_millis(i32::MAX as u64);

#[derive(Debug, Clone, Copy)]
pub(crate) enum Deadline {
    /// `select(None)`: block until something is ready.
    Never,
    /// `select(Some(ZERO))`: look once, do not block.
    Now,
    /// A positive timeout.
    At(Instant),
}

impl Deadline {
    #[inline(always)]
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline {
        match timeout {
            None => Deadline::Never,
            Some(timeout) if timeout.is_zero() => Deadline::Now,
            // A timeout too far away to represent is as good as none.
            Some(timeout) => Instant::now()
                .checked_add(timeout)
                .map_or(Deadline::Never, Deadline::At),
        }
    }

    /// The timeout for the next wait: what is left, so an interrupted or early-woken wait
    /// resumes instead of starting over.
    #[inline(always)]
    pub(crate) fn remaining(&self) -> Option<Duration> {
        match *self {
            Deadline::Never => None,
            Deadline::Now => Some(Duration::ZERO),
            Deadline::At(at) => Some(
                at.saturating_duration_since(Instant::now())
                    .min(LONGEST_WAIT),
            ),
        }
    }

    #[inline(always)]
    pub(crate) fn has_passed(&self) -> bool {
        match *self {
            Deadline::Never => false,
            Deadline::Now => true,
            Deadline::At(at) => Instant::now() >= at,
        }
    }
}

/// Every wait's loop: runs `wait` (one system call, which returns how many results it found)
/// with the time left until the deadline, again after `EINTR` (PEP 475) and after a wait
/// that found nothing while time is left (one longer than a single call can take, or one
/// that woke early), so that a wait never returns before its timeout. Once the deadline has
/// passed, returns 0. The selectors' `select()` runs the same loop, with their purge in it.
#[inline(always)]
pub(crate) fn wait_until(
    timeout: Option<Duration>,
    mut wait: impl FnMut(Option<Duration>) -> io::Result<usize>,
) -> io::Result<usize> {
    let deadline = Deadline::after(timeout);
    loop {
        match wait(deadline.remaining()) {
            Ok(0) if !deadline.has_passed() => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                if deadline.has_passed() {
                    return Ok(0);
                }
            }
            result => return result,
        }
    }
}

/// Winsock fails (WSAEINVAL) when asked to wait on no socket at all; a selector with nothing
/// registered waits for the timeout instead, as it does on Unix.
#[cfg(windows)]
pub(crate) fn sleep_without_sources(timeout: Option<Duration>) {
    match timeout {
        Some(timeout) => std::thread::sleep(timeout),
        None => loop {
            std::thread::park();
        },
    }
}
