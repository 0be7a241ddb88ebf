//! test_fileno and test_context_manager: the kernel object behind epoll and `polling` is
//! close-on-exec, stays open for `as_fd()` until the selector is dropped, and is released then.
//!
//! Its own binary, its tests one at a time: they check descriptor numbers, and a number freed
//! by `drop` would otherwise be taken at once by a test running beside them.
// Unix only: the kernel object is an fd (AsFd) on Unix.
#![cfg(unix)]

mod common;
use common::*;
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads descriptor flags; EBADF answers "not open".
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

fn is_cloexec(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads descriptor flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert!(flags >= 0, "fcntl(F_GETFD) failed on fd {fd}");
    flags & libc::FD_CLOEXEC != 0
}

fn cloexec_and_released_on_drop<S: AsRawFd>(s: S) {
    let fd = s.as_raw_fd();
    assert!(fd >= 0);
    assert!(is_cloexec(fd));
    drop(s);
    assert!(!is_open(fd), "fd {fd} still open after drop");
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn epoll_fileno() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cloexec_and_released_on_drop(EpollSelector::<Data>::new().unwrap());
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn epoll_fd_stays_valid_until_drop_after_close() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut s = EpollSelector::<Data>::new().unwrap();
    let fd = s.as_raw_fd();
    s.close();
    assert!(is_open(fd), "as_fd() must stay sound after close()");
    drop(s);
    assert!(!is_open(fd));
}

// `polling`'s poll backend has no kernel object of its own.
#[cfg(not(polling_test_poll_backend))]
#[test]
fn polling_fileno() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cloexec_and_released_on_drop(PollingSelector::<Data>::new().unwrap());
    cloexec_and_released_on_drop(PollingSelector::<Data>::with_emulated_level().unwrap());
}

/// The descriptors an epoll watches (the `tfd:` lines of its fdinfo).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn watched_by(epoll: RawFd) -> Vec<RawFd> {
    std::fs::read_to_string(format!("/proc/self/fdinfo/{epoll}"))
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("tfd:"))
        .map(|rest| rest.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

/// Python's `close()` releases the epoll and its entries; `EpollSelector` kept both until
/// drop. Now the working set goes at `close()`, entries and all, and `as_fd()` is left
/// holding nothing (it stays open until drop, so that it is sound for the selector's life).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn close_releases_the_epoll_set_and_its_entries() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pairs: Vec<_> = (0..3).map(|_| pair()).collect();
    let before = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let mut s = EpollSelector::<Data>::new().unwrap();
    for (a, _) in &pairs {
        s.register(a, EVENT_READ, "a").unwrap();
    }
    let fd = s.as_raw_fd();
    let [set] = watched_by(fd)[..] else {
        panic!("as_fd() should hold the working set alone")
    };
    assert_eq!(watched_by(set).len(), 3);
    s.close();
    assert!(watched_by(fd).is_empty(), "the working set is still there");
    assert!(!is_open(set), "the working set is still open");
    assert!(is_open(fd));
    drop(s);
    assert_eq!(std::fs::read_dir("/proc/self/fd").unwrap().count(), before);
}

/// `PollingSelector` deletes its registrations at `close()`: the poller (behind `as_fd()`,
/// here an epoll) watches none of them any more.
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    not(polling_test_poll_backend)
))]
#[test]
fn polling_close_deletes_every_registration() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pairs: Vec<_> = (0..3).map(|_| pair()).collect();
    let mut s = PollingSelector::<Data>::new().unwrap();
    for (a, _) in &pairs {
        s.register(a, EVENT_READ, "a").unwrap();
    }
    let [poller] = watched_by(s.as_raw_fd())[..] else {
        panic!("as_fd() should hold the poller alone")
    };
    let ours = |watched: Vec<RawFd>| {
        watched
            .into_iter()
            .filter(|fd| pairs.iter().any(|(a, _)| a.as_raw_fd() == *fd))
            .count()
    };
    assert_eq!(ours(watched_by(poller)), 3);
    s.close();
    assert_eq!(ours(watched_by(poller)), 0);
}

/// A forked child that closes and drops its copy of the parent's selector leaves the
/// parent's registrations alone: the child's `close()` deleted them from the kernel's set,
/// which parent and child share on epoll. (On kqueue, where the child does not inherit the
/// kqueue, it would have deleted from, and closed, whatever has that number in the child.)
#[test]
fn close_in_a_forked_child_leaves_the_parents_registrations() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    fn check<B: Backend>(mut s: Selector<B, Data>) {
        use std::io::Write;
        let (a, mut peer) = pair();
        s.register(&a, EVENT_READ, "a").unwrap();
        let mut s = Some(s);
        assert_eq!(
            in_child(|| {
                if let Some(mut s) = s.take() {
                    s.close();
                }
                0
            }),
            0
        );
        let mut s = s.unwrap();
        peer.write_all(b"x").unwrap();
        let ready = s.select(Some(std::time::Duration::from_secs(5))).unwrap();
        assert_eq!(
            ready.len(),
            1,
            "the child's close() took the parent's registration"
        );
    }
    check(DefaultSelector::<Data>::new().unwrap());
    check(PollSelector::<Data>::new().unwrap());
    check(PollingSelector::<Data>::new().unwrap());
    check(PollingSelector::<Data>::with_emulated_level().unwrap());
}

/// The descriptor `as_fd()` lends is made on first use: a selector nobody watches holds one
/// descriptor (its epoll set), and pays nothing for nesting.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn the_lent_descriptor_is_made_on_first_use() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let open = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let before = open();
    let s = EpollSelector::<Data>::new().unwrap();
    assert_eq!(
        open(),
        before + 1,
        "an unwatched selector holds one descriptor"
    );
    let fd = s.as_raw_fd();
    assert_eq!(open(), before + 2);
    assert_eq!(s.as_raw_fd(), fd, "made once");
    assert_eq!(watched_by(fd).len(), 1, "it holds the working set");
}

/// Out of descriptors, `as_fd()` cannot make its epoll: it lends the working set itself
/// (which works for a watcher until a purge), and makes the epoll on a later call.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn out_of_descriptors_as_fd_lends_the_working_set() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (a, _peer) = pair();
    let s = {
        let mut s = EpollSelector::<Data>::new().unwrap();
        s.register(&a, EVENT_READ, "a").unwrap();
        s
    };
    let lent = {
        let _limit = OutOfDescriptors::now();
        s.as_raw_fd()
    };
    assert_eq!(watched_by(lent), [a.as_raw_fd()], "the working set itself");
    let fd = s.as_raw_fd();
    assert_ne!(fd, lent);
    assert_eq!(watched_by(fd), [lent], "the epoll holding it, made now");
}
