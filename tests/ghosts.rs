//! Registrations that stay right when descriptors are duplicated, dropped or reused: after
//! `unregister`, no event of that registration reaches the caller, `select()` does not burn
//! CPU on it, and a new source that reuses the number is reported only for its own events.
//!
//! epoll watches open files, not numbers: a registered descriptor duplicated by `try_clone`,
//! `dup` or a forked child, then closed, keeps its kernel entry after `unregister`. Every
//! selector is run through the same three ways of keeping the file alive.
//!
//! Its own binary: the fork test's child holds a copy of every descriptor open at the time,
//! which would keep other tests' peers from seeing a hang-up.

mod common;
use common::*;
use std::io::Write;
use std::time::Duration;

/// How long a select that must find nothing waits.
const WAIT: Duration = Duration::from_millis(300);

/// CPU time of the calling thread (Unix), to tell a blocked wait from a spinning one.
#[cfg(unix)]
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which lives for the call.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(result, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// `select(WAIT)` finds nothing, waits the whole time, and (Unix) sleeps while it waits.
fn nothing_for_a_while(s: &mut impl BaseSelector<Data>) {
    #[cfg(unix)]
    let cpu_before = thread_cpu();
    let (took, ready) = timed(|| s.select(Some(WAIT)).unwrap());
    assert!(
        ready.is_empty(),
        "a dead registration was reported: {ready:?}"
    );
    assert!(took >= WAIT, "returned after {took:?}, before the timeout");
    assert!(took < Duration::from_secs(5), "returned after {took:?}");
    #[cfg(unix)]
    {
        let cpu = thread_cpu() - cpu_before;
        assert!(
            cpu < WAIT / 3,
            "select() spun: {cpu:?} of CPU in a {took:?} wait"
        );
    }
}

/// How the registered file is kept open after its descriptor is closed.
enum Twin {
    TryClone,
    #[cfg(unix)]
    Dup,
    #[cfg(unix)]
    ForkedChild,
}

/// Keeps the file of `stream` open after `stream` is closed; dropped, lets go of it.
enum Keeper {
    Clone(#[allow(dead_code)] Stream), // held open, never read
    #[cfg(unix)]
    Child(libc::pid_t),
}

impl Drop for Keeper {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Keeper::Child(pid) = *self {
            // SAFETY: kill and waitpid on our own child; the status is written to a local.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                let mut status = 0;
                libc::waitpid(pid, &mut status, 0);
            }
        }
    }
}

fn keep_open(stream: &Stream, twin: &Twin) -> Keeper {
    match twin {
        Twin::TryClone => Keeper::Clone(stream.try_clone().unwrap()),
        #[cfg(unix)]
        Twin::Dup => {
            use std::os::unix::io::{AsRawFd, FromRawFd};
            // SAFETY: dup makes a new descriptor, which the returned stream owns.
            let fd = unsafe { libc::dup(stream.as_raw_fd()) };
            assert!(fd >= 0, "dup failed");
            // SAFETY: `fd` is new and owned by nothing else.
            Keeper::Clone(unsafe { Stream::from_raw_fd(fd) })
        }
        #[cfg(unix)]
        Twin::ForkedChild => {
            // SAFETY: the child only calls pause(), which is async-signal-safe, until the
            // parent kills it; it holds a copy of every descriptor meanwhile.
            match unsafe { libc::fork() } {
                -1 => panic!("fork failed"),
                0 => loop {
                    // SAFETY: async-signal-safe; the child never returns from here.
                    unsafe { libc::pause() };
                },
                pid => Keeper::Child(pid),
            }
        }
    }
}

/// The registered source is closed while a twin keeps its file open, then unregistered:
/// its events (it stays readable and writable) never come back, and `select()` sleeps.
fn dead_registration_stays_silent(mut s: impl BaseSelector<Data>, twin: Twin) {
    let (a, mut peer) = pair();
    let a = lonely(a);
    peer.write_all(b"pending").unwrap();
    s.register(&a, EVENT_READ | EVENT_WRITE, "a").unwrap();
    let fd = fd_of(&a);
    let _keeper = keep_open(&a, &twin);
    drop(a);
    s.unregister(fd).unwrap();
    nothing_for_a_while(&mut s);
    // And again: whatever was done the first time stuck.
    nothing_for_a_while(&mut s);
}

/// A new source reusing the number of a dead registration whose file lives on is reported
/// for its own events only, never the dead one's.
#[cfg(unix)]
fn reused_number_gets_no_ghost_events(mut s: impl BaseSelector<Data>, twin: Twin) {
    let (a, mut peer) = pair();
    let a = lonely(a);
    peer.write_all(b"pending").unwrap();
    s.register(&a, EVENT_READ | EVENT_WRITE, "dead").unwrap();
    let fd = fd_of(&a);
    let _keeper = keep_open(&a, &twin);
    drop(a);
    s.unregister(fd).unwrap();

    // The lowest free number from `fd` up is `fd` itself: no other test uses it.
    let (b, mut b_peer) = pair();
    let b = lonely_at(b, fd);
    assert_eq!(fd_of(&b), fd, "the number was not reused");
    s.register(&b, EVENT_READ, "new").unwrap();
    // `b` is idle: the dead registration's pending data must not show as `b`'s.
    nothing_for_a_while(&mut s);
    b_peer.write_all(b"x").unwrap();
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(ready[0].0.data, "new");
    assert_eq!(ready[0].1, EVENT_READ);
}

/// A live registration of the same file under another number keeps working through the
/// purge of a dead one.
fn live_twin_keeps_reporting(mut s: impl BaseSelector<Data>) {
    let (a, mut peer) = pair();
    let a = lonely(a);
    let twin = a.try_clone().unwrap();
    s.register(&a, EVENT_READ, "a").unwrap();
    s.register(&twin, EVENT_READ, "twin").unwrap();
    let fd = fd_of(&a);
    drop(a);
    s.unregister(fd).unwrap();
    peer.write_all(b"x").unwrap();
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(ready[0].0.data, "twin");
    // Level-triggered, as before.
    let ready = s.select(Some(Duration::ZERO)).unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
}

macro_rules! suite {
    ($name:ident, $type:ty, $new:expr) => {
        mod $name {
            use super::*;

            fn new() -> $type {
                $new.unwrap()
            }

            #[test]
            fn try_clone_then_close_then_unregister() {
                dead_registration_stays_silent(new(), Twin::TryClone);
            }

            // Unix only: descriptors are duplicated by number with dup(2).
            #[cfg(unix)]
            #[test]
            fn dup_then_close_then_unregister() {
                dead_registration_stays_silent(new(), Twin::Dup);
            }

            // Unix only: fork.
            #[cfg(unix)]
            #[test]
            fn forked_child_holds_it() {
                dead_registration_stays_silent(new(), Twin::ForkedChild);
            }

            // Unix only: the number is reused on purpose with fcntl(F_DUPFD).
            #[cfg(unix)]
            #[test]
            fn reused_number_after_try_clone() {
                reused_number_gets_no_ghost_events(new(), Twin::TryClone);
            }

            // Unix only: fork, and the number is reused with fcntl(F_DUPFD).
            #[cfg(unix)]
            #[test]
            fn reused_number_after_fork() {
                reused_number_gets_no_ghost_events(new(), Twin::ForkedChild);
            }

            #[test]
            fn live_twin_keeps_reporting() {
                super::live_twin_keeps_reporting(new());
            }
        }
    };
}

for_every_selector!(suite);
