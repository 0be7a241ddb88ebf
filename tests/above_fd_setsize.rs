//! test_above_fd_setsize: as many socket pairs as RLIMIT_NOFILE allows (raised to the hard
//! limit first), all registered, and every writer comes back from a single `select()`.
//!
//! Windows has no descriptor limit to raise and its sockets are not numbered from 0: there the
//! test registers 4,000 sockets (Winsock's own `select` stops at 64).
//!
//! Its own binary, one test at a time: it changes a process-wide limit and uses thousands of
//! descriptors, which would starve tests running beside it.

mod common;
use common::*;
use std::sync::Mutex;

/// The tests of this binary must not run at once.
static SERIAL: Mutex<()> = Mutex::new(());

/// At least this many fds must be usable on the CI machine.
#[cfg(unix)]
const REQUIRED_FDS: libc::rlim_t = 8_000;

/// Raises RLIMIT_NOFILE as far as it goes, up to 2^16 (as root, the hard limit too),
/// restoring it on drop.
#[cfg(unix)]
struct RaisedLimit {
    old: libc::rlimit,
    fds: libc::rlim_t,
}

#[cfg(unix)]
impl RaisedLimit {
    fn new() -> RaisedLimit {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct we pass.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
        RaisedLimit {
            old,
            fds: raise_nofile_limit(1 << 16),
        }
    }
}

#[cfg(unix)]
impl Drop for RaisedLimit {
    fn drop(&mut self) {
        // SAFETY: restores the limit read in `new`; lowering the hard limit back is allowed.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.old) };
    }
}

#[cfg(unix)]
fn above_fd_setsize(s: Selector<impl Backend, Data>) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let limit = RaisedLimit::new();
    assert!(
        limit.fds >= REQUIRED_FDS,
        "RLIMIT_NOFILE is only {}",
        limit.fds
    );
    // Leave room for stdin/stdout/stderr, the selector's own fd and the test harness.
    let pairs = fill(s, (limit.fds as usize - 64) / 2, REQUIRED_FDS as usize);
    let highest = pairs
        .iter()
        .map(|(rd, wr)| fd_of(rd).max(fd_of(wr)))
        .max()
        .unwrap();
    assert!(
        highest > 1024,
        "the fds must go above FD_SETSIZE (highest: {highest})"
    );
}

#[cfg(windows)]
fn above_fd_setsize(s: Selector<impl Backend, Data>) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    fill(s, 2_000, 4_000);
}

/// Registers up to `wanted_pairs` socket pairs (the readers for READ, the writers for WRITE),
/// at least `required` sockets in all, and checks that one `select()` returns every writer.
fn fill(
    mut s: Selector<impl Backend, Data>,
    wanted_pairs: usize,
    required: usize,
) -> Vec<(Stream, Stream)> {
    let mut pairs = Vec::with_capacity(wanted_pairs);
    while pairs.len() < wanted_pairs {
        let Some((rd, wr)) = try_pair() else { break };
        let registered = s
            .register(&rd, EVENT_READ, "rd")
            .map(drop)
            .and_then(|()| s.register(&wr, EVENT_WRITE, "wr").map(drop));
        match registered {
            Ok(()) => {}
            Err(err) if out_of_watches(&err) => break,
            Err(err) => panic!("register: {err}"),
        }
        pairs.push((rd, wr));
    }
    let n = pairs.len();
    assert!(n * 2 >= required, "only {n} pairs could be made");
    let ready = s.select(None).unwrap();
    assert_eq!(ready.len(), n, "every writer, in one select()");
    assert!(ready
        .iter()
        .all(|(key, events)| key.data == "wr" && *events == EVENT_WRITE));
    pairs
}

/// A socket pair, or `None` once the process is out of descriptors.
#[cfg(unix)]
fn try_pair() -> Option<(Stream, Stream)> {
    match Stream::pair() {
        Ok(pair) => Some(pair),
        Err(err) if matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => None,
        Err(err) => panic!("socketpair: {err}"),
    }
}

#[cfg(windows)]
fn try_pair() -> Option<(Stream, Stream)> {
    Some(pair())
}

/// epoll's `fs.epoll.max_user_watches` is reached.
fn out_of_watches(err: &std::io::Error) -> bool {
    #[cfg(unix)]
    return err.raw_os_error() == Some(libc::ENOSPC);
    #[cfg(windows)]
    return {
        let _ = err;
        false
    };
}

macro_rules! suite {
    ($name:ident, $selector:ty, $new:expr) => {
        #[test]
        fn $name() {
            let s: $selector = $new.expect("create selector");
            above_fd_setsize(s)
        }
    };
}

for_every_scalable_selector!(suite);
