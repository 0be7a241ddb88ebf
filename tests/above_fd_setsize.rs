//! test_above_fd_setsize: as many socket pairs as RLIMIT_NOFILE allows (raised to the hard
//! limit first), all registered, and every writer comes back from a single `select()`.
//!
//! Its own binary, one test at a time: it changes a process-wide limit and uses thousands of
//! descriptors, which would starve tests running beside it.
#![cfg(unix)]

mod common;
use common::*;
use std::sync::Mutex;

/// The tests of this binary must not run at once.
static SERIAL: Mutex<()> = Mutex::new(());

/// At least this many fds must be usable on the CI machine (tests.md: 8,000 here).
const REQUIRED_FDS: libc::rlim_t = 8_000;

/// Raises the soft RLIMIT_NOFILE to the hard limit (up to 2^16), restoring it on drop; as
/// root, first raises the hard limit too.
struct RaisedLimit {
    old: libc::rlimit,
    fds: libc::rlim_t,
}

impl RaisedLimit {
    fn new() -> RaisedLimit {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct we pass.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
        let wanted: libc::rlim_t = 1 << 16;
        let mut new = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: wanted.max(old.rlim_max),
        };
        // SAFETY: setrlimit reads the struct we pass. Raising the hard limit needs root; if it
        // is refused, fall back to the current hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
            new = libc::rlimit {
                rlim_cur: old.rlim_max.min(wanted),
                rlim_max: old.rlim_max,
            };
            // SAFETY: as above; the soft limit may always be raised up to the hard one.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) }, 0);
        }
        RaisedLimit {
            old,
            fds: new.rlim_cur,
        }
    }
}

impl Drop for RaisedLimit {
    fn drop(&mut self) {
        // SAFETY: restores the limit read in `new`; lowering the hard limit back is allowed.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.old) };
    }
}

fn above_fd_setsize(mut s: impl BaseSelector<Data>) {
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
    let wanted_pairs = (limit.fds as usize - 64) / 2;
    let mut pairs = Vec::with_capacity(wanted_pairs);
    while pairs.len() < wanted_pairs {
        let (rd, wr) = match Stream::pair() {
            Ok(pair) => pair,
            Err(err)
                if err.raw_os_error() == Some(libc::EMFILE)
                    || err.raw_os_error() == Some(libc::ENFILE) =>
            {
                break
            }
            Err(err) => panic!("socketpair: {err}"),
        };
        let registered = s
            .register(&rd, EVENT_READ, "rd")
            .map(drop)
            .and_then(|()| s.register(&wr, EVENT_WRITE, "wr").map(drop));
        match registered {
            Ok(()) => {}
            // epoll's fs.epoll.max_user_watches
            Err(err) if err.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(err) => panic!("register: {err}"),
        }
        pairs.push((rd, wr));
    }
    let n = pairs.len();
    assert!(
        n * 2 >= REQUIRED_FDS as usize,
        "only {n} pairs could be made"
    );
    let highest = pairs
        .iter()
        .map(|(rd, wr)| fd_of(rd).max(fd_of(wr)))
        .max()
        .unwrap();
    assert!(
        highest > 1024,
        "the fds must go above FD_SETSIZE (highest: {highest})"
    );

    let ready = s.select(None).unwrap();
    assert_eq!(ready.len(), n, "every writer, in one select()");
    assert!(ready
        .iter()
        .all(|(key, events)| key.data == "wr" && *events == EVENT_WRITE));
    drop(pairs);
    drop(s);
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
