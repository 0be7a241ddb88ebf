//! Python's `select.epoll` as [`ioselectors::select::Epoll`]: CPython's `Lib/test/test_epoll.py`
//! (3.11) ported, plus what it does not cover: trigger modes, `EPOLLEXCLUSIVE`, the kernel's
//! refusals, `maxevents` rotation, threads, and registrations that outlive their descriptor.
//!
//! Ported from test_epoll.py:
//! * `test_create` → `create_gives_an_fd_and_close_closes_it`.
//! * `test_context_manager` → `drop_closes_the_fd` (Rust's scope end is the `with` block).
//! * `test_add` → `register_by_borrowed_fd_and_by_object`, `register_closed_fd_is_ebadf`,
//!   `register_twice_is_already_exists`.
//! * `test_fromfd` → `from_fd_of_a_duplicate_shares_registrations_and_outlives_the_original`.
//! * `test_control_and_wait` → `control_and_wait`.
//! * `test_errors` (its `register(-1)` half) → `negative_numbers_are_invalid_input`.
//! * `test_unregister_closed` → `unregister_closed_fd_is_ebadf`.
//! * `test_fd_non_inheritable` → `fd_is_close_on_exec`.
//!
//! Skipped, and why:
//! * `test_badcreate`, the `sizehint`/`flags` half of `test_create` and of `test_errors`:
//!   `Epoll::new()` takes no arguments (CPython ignores `sizehint` and always uses
//!   `EPOLL_CLOEXEC`), so there is nothing to refuse.
//! * `test_add`, its `TypeError` cases (`register(object())`, `register(None)`) and
//!   `register(-1)`: `register` takes `AsFd` sources only, which are never negative.
//! * `test_close`: `ValueError` for use after `close()` and a second `close()`. `close` takes
//!   `self`, so both are compile errors.
//! * `test_fromfd`'s expectation that the adopted object fails with EBADF once the original
//!   is closed: `from_fd` takes an `OwnedFd`, so the two objects never share one descriptor
//!   (the port checks the opposite: the adopted one keeps working).
// Linux and Android only: epoll.
#![cfg(any(target_os = "linux", target_os = "android"))]

mod common;
use common::*;
use ioselectors::select::{
    Epoll, EpollEvents, EpollFlags, EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN,
    EPOLLONESHOT, EPOLLOUT, EPOLLPRI, EPOLLRDHUP,
};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// A wait that should end early: generous, as CI machines are slow and noisy.
const SOON: Option<Duration> = Some(Duration::from_secs(5));
const ZERO: Option<Duration> = Some(Duration::ZERO);
/// Generous upper bound for "returned after the timeout".
const LATE: Duration = Duration::from_secs(5);

fn new() -> Epoll {
    Epoll::new().expect("epoll_create1")
}

/// Whether `fd` is an open descriptor.
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; a closed number gives EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// An eventfd, readable once written to.
fn eventfd() -> OwnedFd {
    // SAFETY: eventfd has no preconditions; a non-negative result is a new descriptor that
    // the OwnedFd then owns.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    assert!(fd >= 0, "eventfd");
    // SAFETY: as above.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Asserts a kernel refusal, as the kernel gave it: its kind (`None` for EBADF, which has
/// no kind of its own) and its errno (Python's `e.errno`), with nothing wrapped around it.
fn assert_refused(result: io::Result<()>, kind: Option<ErrorKind>, code: i32) {
    let err = result.expect_err("the call should have failed");
    if let Some(kind) = kind {
        assert_eq!(err.kind(), kind, "{err}");
    }
    assert_eq!(err.raw_os_error(), Some(code), "{err}");
    assert!(err.get_ref().is_none(), "a bare OS error: {err:?}");
}

/// The events of waits until `count` distinct descriptors have reported (edge-triggered
/// events come once each, possibly over several waits), sorted.
fn poll_until(ep: &Epoll, count: usize) -> Vec<(RawFd, EpollFlags)> {
    let deadline = Instant::now() + LATE;
    let mut events: Vec<(RawFd, EpollFlags)> = Vec::new();
    while events.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "only {events:?} within {LATE:?}");
        events.extend(ep.poll(Some(left), 8).unwrap());
    }
    events.sort();
    events
}

// ---- test_create, test_context_manager, test_fd_non_inheritable

/// `new` gives a descriptor; `close` closes it (and only it).
#[test]
fn create_gives_an_fd_and_close_closes_it() {
    let ep = Epoll::from_fd(lonely_fd(new()));
    let fd = ep.as_raw_fd();
    assert!(fd > 0, "{fd}");
    assert_eq!(ep.as_fd().as_raw_fd(), fd);
    let (a, _b) = pair();
    ep.register(&a, EPOLLIN).unwrap();
    assert!(is_open(fd));
    ep.close();
    assert!(!is_open(fd), "close() left the epoll fd open");
    assert!(is_open(a.as_raw_fd()), "close() closed a registered fd");
}

/// Dropping closes the descriptor (Python's `with select.epoll() as ep:`).
#[test]
fn drop_closes_the_fd() {
    let fd = {
        let ep = Epoll::from(lonely_fd(new()));
        assert!(is_open(ep.as_raw_fd()));
        ep.as_raw_fd()
    };
    assert!(!is_open(fd), "drop left the epoll fd open");
}

/// The descriptor is not inherited across `exec` (`EPOLL_CLOEXEC`).
#[test]
fn fd_is_close_on_exec() {
    let ep = new();
    // SAFETY: F_GETFD only reads the flags of our open descriptor.
    let flags = unsafe { libc::fcntl(ep.as_raw_fd(), libc::F_GETFD) };
    assert!(flags >= 0);
    assert_ne!(flags & libc::FD_CLOEXEC, 0, "the epoll fd is inheritable");
}

// ---- test_add

/// Registering works through a borrowed fd (Python: by number) and through the object.
#[test]
fn register_by_borrowed_fd_and_by_object() {
    let (server, client) = tcp_pair();
    let ep = new();
    ep.register(&server.as_fd(), EPOLLIN | EPOLLOUT).unwrap();
    ep.register(&client, EPOLLIN | EPOLLOUT).unwrap();
    let mut expected = vec![
        (server.as_raw_fd(), EPOLLOUT),
        (client.as_raw_fd(), EPOLLOUT),
    ];
    expected.sort();
    assert_eq!(poll_until(&ep, 2), expected);
}

/// A closed number is refused with EBADF, naming it (CPython registers fd 10000).
#[test]
fn register_closed_fd_is_ebadf() {
    let fd = closed_number();
    // SAFETY: deliberately a closed number: epoll_ctl only looks it up and answers EBADF.
    // `closed_number` is lonely, so no test running in parallel reopens it.
    let closed = unsafe { BorrowedFd::borrow_raw(fd) };
    let ep = new();
    assert_refused(ep.register(&closed, EPOLLIN), None, libc::EBADF);
}

/// A second `register` of one file is `AlreadyExists` (EEXIST), through the same object or
/// another with the same number; the first registration is untouched.
#[test]
fn register_twice_is_already_exists() {
    let (server, client) = tcp_pair();
    let ep = new();
    ep.register(&server, EPOLLIN).unwrap();
    let fd = server.as_raw_fd();
    for again in [
        ep.register(&server, EPOLLIN | EPOLLOUT),
        ep.register(&server.as_fd(), EPOLLOUT),
    ] {
        assert_refused(again, Some(ErrorKind::AlreadyExists), libc::EEXIST);
    }
    assert!(ep.poll(ZERO, 4).unwrap().is_empty(), "the mask is still IN");
    (&client).write_all(b"x").unwrap();
    assert_eq!(ep.poll(SOON, 4).unwrap(), [(fd, EPOLLIN)]);
}

// ---- test_fromfd

/// An `Epoll` adopting a duplicate of another's descriptor is the same kernel object: it sees
/// the registrations and events. Unlike Python's `fromfd(ep.fileno())`, it owns its own
/// descriptor, so it keeps working once the original is closed.
#[test]
fn from_fd_of_a_duplicate_shares_registrations_and_outlives_the_original() {
    let (server, client) = tcp_pair();
    let ep = new();
    let ep2 = Epoll::from_fd(ep.as_fd().try_clone_to_owned().unwrap());
    assert_ne!(ep.as_raw_fd(), ep2.as_raw_fd());
    ep2.register(&server, EPOLLIN | EPOLLOUT).unwrap();
    ep2.register(&client, EPOLLIN | EPOLLOUT).unwrap();
    assert_eq!(poll_until(&ep, 2).len(), 2);
    assert_eq!(poll_until(&ep2, 2).len(), 2);
    // One interest list: a registration through one is a duplicate for the other.
    assert_refused(
        ep.register(&server, EPOLLIN),
        Some(ErrorKind::AlreadyExists),
        libc::EEXIST,
    );
    ep.close();
    assert_eq!(poll_until(&ep2, 2).len(), 2);

    // From<OwnedFd> and back.
    let fd: OwnedFd = ep2.into();
    let ep3 = Epoll::from(fd);
    assert_eq!(poll_until(&ep3, 2).len(), 2);
}

// ---- test_control_and_wait

/// Edge-triggered registrations on both ends of a TCP connection: OUT once each, then
/// nothing; data both ways reports IN and OUT on each; after `unregister` and `modify`,
/// only the modified one reports.
#[test]
fn control_and_wait() {
    let (client, server) = tcp_pair();
    let (client_fd, server_fd) = (client.as_raw_fd(), server.as_raw_fd());
    let ep = new();
    ep.register(&server, EPOLLIN | EPOLLOUT | EPOLLET).unwrap();
    ep.register(&client, EPOLLIN | EPOLLOUT | EPOLLET).unwrap();

    let mut expected = vec![(client_fd, EPOLLOUT), (server_fd, EPOLLOUT)];
    expected.sort();
    let (elapsed, events) = timed(|| poll_until(&ep, 2));
    assert_eq!(events, expected);
    assert!(elapsed < LATE);

    // No event: the edges were taken.
    let (elapsed, events) = timed(|| ep.poll(Some(Duration::from_millis(100)), 4).unwrap());
    assert!(events.is_empty(), "{events:?}");
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");

    (&client).write_all(b"Hello!").unwrap();
    (&server).write_all(b"world!!!").unwrap();
    let mut expected = vec![
        (client_fd, EPOLLIN | EPOLLOUT),
        (server_fd, EPOLLIN | EPOLLOUT),
    ];
    expected.sort();
    assert_eq!(poll_until(&ep, 2), expected);

    ep.unregister(client_fd).unwrap();
    ep.modify(server_fd, EPOLLOUT).unwrap();
    assert_eq!(ep.poll(SOON, 4).unwrap(), [(server_fd, EPOLLOUT)]);
}

// ---- test_errors, test_unregister_closed

/// The calls that take a number refuse a negative one with `InvalidInput` (Python:
/// `ValueError`), before asking the kernel.
#[test]
fn negative_numbers_are_invalid_input() {
    let ep = new();
    for err in [
        ep.modify(-1, EPOLLIN).unwrap_err(),
        ep.modify_with_data(-1, EPOLLIN, 7).unwrap_err(),
        ep.unregister(-1).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("-1"), "{err}");
    }
}

/// `unregister` of a registered fd that was closed meanwhile is EBADF (the kernel dropped
/// the registration when the last descriptor of the file was closed).
#[test]
fn unregister_closed_fd_is_ebadf() {
    let (server, _client) = tcp_pair();
    let server = lonely_fd(server);
    let fd = server.as_raw_fd();
    let ep = new();
    ep.register(&server, Epoll::DEFAULT_MASK).unwrap();
    assert_eq!(ep.poll(SOON, 4).unwrap(), [(fd, EPOLLOUT)]);
    drop(server);
    assert_refused(ep.unregister(fd), None, libc::EBADF);
    assert!(ep.poll(ZERO, 4).unwrap().is_empty());
}

// ---- beyond CPython: trigger modes

/// Level-triggered (the default): unread data is reported on every call until drained.
#[test]
fn level_triggered_reports_until_drained() {
    let (a, b) = pair();
    let ep = new();
    ep.register(&a, EPOLLIN).unwrap();
    (&b).write_all(b"hello").unwrap();
    for _ in 0..3 {
        assert_eq!(ep.poll(SOON, 4).unwrap(), [(a.as_raw_fd(), EPOLLIN)]);
    }
    let mut buf = [0; 5];
    (&a).read_exact(&mut buf).unwrap();
    assert!(ep.poll(ZERO, 4).unwrap().is_empty());
}

/// Edge-triggered: unread data is reported once; reading part of it does not re-arm; new
/// data re-arms once.
#[test]
fn edge_triggered_reports_once_until_new_data() {
    let (a, b) = pair();
    let fd = a.as_raw_fd();
    let ep = new();
    ep.register(&a, EPOLLIN | EPOLLET).unwrap();
    (&b).write_all(b"hello").unwrap();
    assert_eq!(ep.poll(SOON, 4).unwrap(), [(fd, EPOLLIN)]);
    assert!(ep.poll(ZERO, 4).unwrap().is_empty(), "reported twice");
    let mut buf = [0; 2];
    (&a).read_exact(&mut buf).unwrap();
    assert!(
        ep.poll(ZERO, 4).unwrap().is_empty(),
        "a partial read re-armed"
    );
    (&b).write_all(b"more").unwrap();
    assert_eq!(ep.poll(SOON, 4).unwrap(), [(fd, EPOLLIN)]);
    assert!(
        ep.poll(ZERO, 4).unwrap().is_empty(),
        "new data re-armed twice"
    );
}

/// Edge-triggered: `modify`, even with the same mask, re-arms at once while data is pending.
#[test]
fn edge_triggered_modify_rearms_at_once() {
    let (a, b) = pair();
    let fd = a.as_raw_fd();
    let ep = new();
    ep.register(&a, EPOLLIN | EPOLLET).unwrap();
    (&b).write_all(b"hello").unwrap();
    assert_eq!(ep.poll(SOON, 4).unwrap(), [(fd, EPOLLIN)]);
    assert!(ep.poll(ZERO, 4).unwrap().is_empty());
    ep.modify(&a, EPOLLIN | EPOLLET).unwrap();
    assert_eq!(ep.poll(ZERO, 4).unwrap(), [(fd, EPOLLIN)]);
    assert!(ep.poll(ZERO, 4).unwrap().is_empty());
}

/// Edge-triggered `IN | OUT`: OUT is reported once; a new arrival reports both bits, as the
/// wake-up re-evaluates the whole mask.
#[test]
fn edge_triggered_wakeup_reports_the_whole_mask() {
    let (a, b) = pair();
    let fd = a.as_raw_fd();
    let ep = new();
    ep.register(&a, EPOLLIN | EPOLLOUT | EPOLLET).unwrap();
    assert_eq!(ep.poll(SOON, 4).unwrap(), [(fd, EPOLLOUT)]);
    assert!(ep.poll(ZERO, 4).unwrap().is_empty());
    (&b).write_all(b"x").unwrap();
    assert_eq!(ep.poll(SOON, 4).unwrap(), [(fd, EPOLLIN | EPOLLOUT)]);
    assert!(ep.poll(ZERO, 4).unwrap().is_empty());
}

/// `EPOLLONESHOT`: one event, then the registration is disabled but kept (a new `register`
/// is `AlreadyExists`); `modify` re-arms it for one more; `modify` without ONESHOT makes it
/// level-triggered again.
#[test]
fn oneshot_disables_until_modify() {
    let (a, b) = pair();
    let fd = a.as_raw_fd();
    let ep = new();
    ep.register(&a, EPOLLIN | EPOLLONESHOT).unwrap();
    (&b).write_all(b"x").unwrap();
    assert_eq!(ep.poll(SOON, 4).unwrap(), [(fd, EPOLLIN)]);
    assert!(ep.poll(ZERO, 4).unwrap().is_empty(), "reported twice");
    (&b).write_all(b"y").unwrap();
    assert!(
        ep.poll(Some(Duration::from_millis(50)), 4)
            .unwrap()
            .is_empty(),
        "new data re-armed a disabled registration"
    );
    assert_refused(
        ep.register(&a, EPOLLIN | EPOLLONESHOT),
        Some(ErrorKind::AlreadyExists),
        libc::EEXIST,
    );
    ep.modify(&a, EPOLLIN | EPOLLONESHOT).unwrap();
    assert_eq!(ep.poll(ZERO, 4).unwrap(), [(fd, EPOLLIN)]);
    assert!(ep.poll(ZERO, 4).unwrap().is_empty());
    ep.modify(&a, EPOLLIN).unwrap();
    for _ in 0..2 {
        assert_eq!(ep.poll(ZERO, 4).unwrap(), [(fd, EPOLLIN)]);
    }
}

// ---- beyond CPython: EPOLLEXCLUSIVE

/// Four threads, each with its own epoll instance holding the same eventfd with
/// `IN | EXCLUSIVE`, all blocked in `poll`; one write wakes fewer than all of them. The kernel
/// promises "one or more" (epoll_ctl(2)): typically exactly one wakes, but an instance whose
/// callback ran while its thread was not yet (or no longer) asleep lets the wake-up go on to
/// the next, so the test asks only for at least one and fewer than four. Without EXCLUSIVE,
/// all four would wake.
#[test]
fn exclusive_wakes_fewer_than_all_waiters() {
    const N: usize = 4;
    /// Long enough for a woken thread to report on any machine; the others sleep it out.
    const WAIT: Duration = Duration::from_secs(2);
    let efd = eventfd();
    let barrier = Barrier::new(N + 1);
    let woke = std::thread::scope(|scope| {
        let waiters: Vec<_> = (0..N)
            .map(|_| {
                scope.spawn(|| {
                    let ep = new();
                    ep.register(&efd, EPOLLIN | EPOLLEXCLUSIVE).unwrap();
                    barrier.wait();
                    let events = ep.poll(Some(WAIT), 1).unwrap();
                    !events.is_empty()
                })
            })
            .collect();
        barrier.wait();
        // The one place in these tests where a sleep stands in for a readiness signal: nothing
        // tells that a thread is asleep inside epoll_wait. 100 ms after the barrier, all four
        // are (and if one is not, the assertion below still holds: see above).
        std::thread::sleep(Duration::from_millis(100));
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to our open eventfd.
        let written = unsafe { libc::write(efd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        assert_eq!(written, 8);
        waiters
            .into_iter()
            .map(|waiter| waiter.join().unwrap())
            .filter(|&woke| woke)
            .count()
    });
    assert!(woke >= 1, "the write woke no waiter");
    assert!(woke < N, "EPOLLEXCLUSIVE woke all {N} waiters");
}

/// `EXCLUSIVE` cannot be combined with `ONESHOT` or `RDHUP` (`InvalidInput`, nothing
/// registered); alone it registers.
#[test]
fn exclusive_with_oneshot_is_invalid_input() {
    let (a, _b) = pair();
    let ep = new();
    for mask in [
        EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT,
        EPOLLIN | EPOLLEXCLUSIVE | EPOLLRDHUP,
    ] {
        let err = ep.register(&a, mask).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(
            err.to_string().contains(&format!("fd {}", a.as_raw_fd())),
            "{err}"
        );
    }
    assert_eq!(
        ep.unregister(&a).unwrap_err().kind(),
        ErrorKind::NotFound,
        "a refused register left a registration"
    );
    ep.register(&a, EPOLLOUT | EPOLLEXCLUSIVE).unwrap();
    assert_eq!(ep.poll(SOON, 4).unwrap(), [(a.as_raw_fd(), EPOLLOUT)]);
}

/// `modify` with `EXCLUSIVE` is `InvalidInput`; and the kernel refuses (EINVAL) any `modify`
/// of an exclusive registration.
#[test]
fn modify_with_exclusive_is_invalid_input() {
    let (a, _b) = pair();
    let (c, _d) = pair();
    let ep = new();
    ep.register(&a, EPOLLIN).unwrap();
    let err = ep.modify(&a, EPOLLIN | EPOLLEXCLUSIVE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = ep
        .modify_with_data(&a, EPOLLIN | EPOLLEXCLUSIVE, 1)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");

    ep.register(&c, EPOLLIN | EPOLLEXCLUSIVE).unwrap();
    assert_refused(
        ep.modify(&c, EPOLLOUT),
        Some(ErrorKind::InvalidInput),
        libc::EINVAL,
    );
}

// ---- beyond CPython: what the kernel refuses

/// Regular files, directories and /dev/null are refused with `PermissionDenied` (EPERM),
/// naming the fd.
#[test]
fn regular_file_is_permission_denied() {
    let dir = tempfile::tempdir().unwrap();
    let sources = [
        tempfile::tempfile().unwrap(),
        std::fs::File::open(dir.path()).unwrap(),
        std::fs::File::open("/dev/null").unwrap(),
    ];
    let ep = new();
    for source in &sources {
        assert_refused(
            ep.register(source, EPOLLIN),
            Some(ErrorKind::PermissionDenied),
            libc::EPERM,
        );
    }
}

/// `modify` and `unregister` of what is not registered are `NotFound` (ENOENT), naming the
/// fd.
#[test]
fn modify_and_unregister_unknown_are_not_found() {
    let (a, _b) = pair();
    let fd = a.as_raw_fd();
    let ep = new();
    assert_refused(
        ep.modify(&a, EPOLLIN),
        Some(ErrorKind::NotFound),
        libc::ENOENT,
    );
    assert_refused(ep.unregister(&a), Some(ErrorKind::NotFound), libc::ENOENT);
    ep.register(&a, EPOLLIN).unwrap();
    ep.unregister(fd).unwrap();
    assert_refused(ep.unregister(fd), Some(ErrorKind::NotFound), libc::ENOENT);
}

/// `modify` of a registered fd that was closed meanwhile is EBADF.
#[test]
fn modify_closed_fd_is_ebadf() {
    let (a, _b) = pair();
    let a = lonely(a);
    let fd = a.as_raw_fd();
    let ep = new();
    ep.register(&a, EPOLLIN).unwrap();
    drop(a);
    assert_refused(ep.modify(fd, EPOLLOUT), None, libc::EBADF);
}

/// The epoll's own descriptor is refused (EINVAL); nesting one epoll in another works and
/// reports the inner one as readable; nesting back is a loop (ELOOP).
#[test]
fn nesting_works_and_loops_are_refused() {
    let inner = new();
    let outer = new();
    assert_refused(
        inner.register(&inner, EPOLLIN),
        Some(ErrorKind::InvalidInput),
        libc::EINVAL,
    );
    let (a, _b) = pair();
    inner.register(&a, EPOLLOUT).unwrap();
    outer.register(&inner, EPOLLIN).unwrap();
    assert_eq!(outer.poll(SOON, 4).unwrap(), [(inner.as_raw_fd(), EPOLLIN)]);
    let err = inner.register(&outer, EPOLLIN).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
}

/// `maxevents` 0 is `InvalidInput` (Python: `ValueError`), for `poll` and `poll_into`.
#[test]
fn maxevents_zero_is_invalid_input() {
    let ep = new();
    let (a, _b) = pair();
    ep.register(&a, EPOLLOUT).unwrap();
    let err = ep.poll(ZERO, 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let mut events = EpollEvents::with_capacity(0);
    let err = ep.poll_into(ZERO, &mut events).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

/// A `maxevents` above what the kernel takes is `InvalidInput` (as documented), not a panic
/// or an attempt to allocate it (Python: `OverflowError`).
#[test]
fn maxevents_above_the_kernel_limit_is_invalid_input() {
    let ep = new();
    let result = std::panic::catch_unwind(|| ep.poll(ZERO, usize::MAX));
    let err = result
        .expect("poll(maxevents = usize::MAX) panicked")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

// ---- beyond CPython: results

/// Five ready descriptors with `maxevents` 2: each call returns 2, and the kernel rotates
/// through the ready list, so three calls see all five. `poll_into` does the same with
/// room for 2.
#[test]
fn maxevents_rotates_through_ready_descriptors() {
    let pairs: Vec<(Stream, Stream)> = (0..5).map(|_| pair()).collect();
    let ep = new();
    for (a, _) in &pairs {
        ep.register(a, EPOLLOUT).unwrap();
    }
    let all: std::collections::BTreeSet<RawFd> = pairs.iter().map(|(a, _)| a.as_raw_fd()).collect();

    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let events = ep.poll(SOON, 2).unwrap();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events.iter().all(|&(_, flags)| flags == EPOLLOUT));
        seen.extend(events.iter().map(|&(fd, _)| fd));
    }
    assert_eq!(seen, all);

    let mut events = EpollEvents::with_capacity(2);
    assert_eq!(events.capacity(), 2);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..3 {
        assert_eq!(ep.poll_into(SOON, &mut events).unwrap(), 2);
        assert_eq!(events.len(), 2);
        seen.extend(events.iter().map(|event| event.fd()));
    }
    assert_eq!(seen, all);
}

/// `register_with_data` stores a 64-bit word that comes back as `data()` (and its low 32
/// bits as `fd()`); `modify_with_data` replaces it; plain `register` stores the fd.
#[test]
fn register_with_data_returns_the_data() {
    let (a, _b) = pair();
    let (c, _d) = pair();
    let ep = new();
    let word = 0xfeed_beef_0000_002a_u64;
    ep.register_with_data(&a, EPOLLOUT, word).unwrap();
    ep.register(&c, EPOLLOUT).unwrap();
    let mut events = EpollEvents::with_capacity(8);
    assert_eq!(ep.poll_into(SOON, &mut events).unwrap(), 2);
    assert!(!events.is_empty());
    let mut got: Vec<(u64, RawFd, EpollFlags)> = events
        .iter()
        .map(|event| (event.data(), event.fd(), event.events()))
        .collect();
    got.sort();
    let mut expected = vec![
        (word, 0x2a, EPOLLOUT),
        (c.as_raw_fd() as u64, c.as_raw_fd(), EPOLLOUT),
    ];
    expected.sort();
    assert_eq!(got, expected);

    ep.modify_with_data(&a, EPOLLOUT, 7).unwrap();
    ep.unregister(&c).unwrap();
    assert_eq!(ep.poll_into(SOON, &mut events).unwrap(), 1);
    let event = events.iter().next().unwrap();
    assert_eq!((event.data(), event.fd()), (7, 7));
}

/// `EpollEvents`: capacity is the room asked for, `reserve` grows it, and a wait with
/// nothing ready leaves it empty.
#[test]
fn epoll_events_storage() {
    let mut events = EpollEvents::with_capacity(3);
    assert_eq!(events.capacity(), 3);
    assert!(events.is_empty());
    assert_eq!(events.len(), 0);
    events.reserve(100);
    assert!(events.capacity() >= 100);
    let ep = new();
    let (a, b) = pair();
    ep.register(&a, EPOLLIN).unwrap();
    (&b).write_all(b"x").unwrap();
    assert_eq!(ep.poll_into(SOON, &mut events).unwrap(), 1);
    assert_eq!(events.len(), 1);
    let mut byte = [0];
    (&a).read_exact(&mut byte).unwrap();
    assert_eq!(ep.poll_into(ZERO, &mut events).unwrap(), 0);
    assert!(events.is_empty(), "the previous events were left");
    assert_eq!(events.iter().count(), 0);
}

/// Python's defaults: mask `IN | PRI | OUT`, 1023 events per call.
#[test]
fn defaults_match_python() {
    assert_eq!(Epoll::DEFAULT_MASK, EPOLLIN | EPOLLPRI | EPOLLOUT);
    assert_eq!(Epoll::DEFAULT_MASK.bits(), 7);
    assert_eq!(Epoll::DEFAULT_MAXEVENTS, 1023);
}

/// `ERR` and `HUP` are reported even when not asked for (mask 0 here).
#[test]
fn hangup_is_reported_without_asking() {
    let (a, b) = pair();
    let ep = new();
    ep.register(&a, EpollFlags::empty()).unwrap();
    assert!(ep.poll(ZERO, 4).unwrap().is_empty());
    drop(b);
    let events = ep.poll(SOON, 4).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, a.as_raw_fd());
    assert!(events[0].1.contains(EPOLLHUP), "{events:?}");
    assert!(
        !events[0].1.intersects(EPOLLIN | EPOLLOUT | EPOLLERR),
        "{events:?}"
    );
}

/// `RDHUP` (the peer shut down its writing side) is reported only if asked for.
#[test]
fn rdhup_only_if_asked_for() {
    let (a, b) = pair();
    let fd = a.as_raw_fd();
    let asked = new();
    asked.register(&a, EPOLLIN | EPOLLRDHUP).unwrap();
    let not_asked = new();
    not_asked.register(&a, EPOLLIN).unwrap();
    b.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(asked.poll(SOON, 4).unwrap(), [(fd, EPOLLIN | EPOLLRDHUP)]);
    assert_eq!(not_asked.poll(SOON, 4).unwrap(), [(fd, EPOLLIN)]);
}

// ---- beyond CPython: threads and descriptors

/// A `register` from this thread, while another is blocked in `poll(None)` on the same
/// instance, takes effect at once and wakes it.
#[test]
fn register_from_another_thread_wakes_a_blocked_poll() {
    let ep = Arc::new(new());
    let (a, b) = pair();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = {
        let ep = Arc::clone(&ep);
        std::thread::spawn(move || tx.send(ep.poll(None, 4)).unwrap())
    };
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "poll(None) returned with nothing registered"
    );
    (&b).write_all(b"x").unwrap();
    ep.register(&a, EPOLLIN).unwrap();
    let events = rx
        .recv_timeout(LATE)
        .expect("the blocked poll did not wake up")
        .unwrap();
    assert_eq!(events, [(a.as_raw_fd(), EPOLLIN)]);
    waiter.join().unwrap();
}

/// epoll watches the open file, not the number: registered, duplicated, then closed,
/// a descriptor keeps reporting under its closed number; `unregister` of that number is
/// EBADF and of the duplicate ENOENT; closing the duplicate ends it.
#[test]
fn closed_fd_keeps_reporting_while_a_duplicate_lives() {
    let (a, b) = pair();
    let a = lonely(a);
    let old = a.as_raw_fd();
    let ep = new();
    ep.register(&a, EPOLLIN).unwrap();
    let twin = a.try_clone().unwrap();
    drop(a);
    assert!(!is_open(old));
    (&b).write_all(b"x").unwrap();
    for _ in 0..2 {
        assert_eq!(ep.poll(SOON, 4).unwrap(), [(old, EPOLLIN)]);
    }
    assert_refused(ep.unregister(old), None, libc::EBADF);
    assert_refused(
        ep.unregister(&twin),
        Some(ErrorKind::NotFound),
        libc::ENOENT,
    );
    drop(twin);
    assert!(ep.poll(ZERO, 4).unwrap().is_empty());
}

// ---- timeouts

/// A wait with nothing ready lasts at least its timeout, and returns empty.
#[test]
fn timeout_is_never_cut_short() {
    let (rd, _wr) = pair();
    let ep = new();
    ep.register(&rd, EPOLLIN).unwrap();
    let timeout = Duration::from_millis(300);
    let (elapsed, events) = timed(|| ep.poll(Some(timeout), 4));
    assert!(events.unwrap().is_empty());
    assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    assert!(elapsed < LATE, "took {elapsed:?}");
}

/// With nothing registered, a poll sleeps for its timeout.
#[test]
fn empty_epoll_sleeps_for_the_timeout() {
    let ep = new();
    let timeout = Duration::from_millis(300);
    let (elapsed, events) = timed(|| ep.poll(Some(timeout), 4));
    assert!(events.unwrap().is_empty());
    assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    assert!(elapsed < LATE, "took {elapsed:?}");
}

/// `Some(ZERO)` only looks: it returns at once, with what is ready and nothing else.
#[test]
fn zero_timeout_returns_at_once() {
    let (rd, _wr) = pair();
    let ep = new();
    ep.register(&rd, EPOLLIN).unwrap();
    let (elapsed, events) = timed(|| ep.poll(ZERO, 4));
    assert!(events.unwrap().is_empty());
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    ep.modify(&rd, EPOLLIN | EPOLLOUT).unwrap();
    let (elapsed, events) = timed(|| ep.poll(ZERO, 4));
    assert_eq!(events.unwrap(), [(rd.as_raw_fd(), EPOLLOUT)]);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

/// A sub-millisecond timeout is rounded up, never down to a busy zero.
#[test]
fn sub_millisecond_timeout_waits_at_least_that_long() {
    let (rd, _wr) = pair();
    let ep = new();
    ep.register(&rd, EPOLLIN).unwrap();
    let timeout = Duration::from_micros(100);
    for _ in 0..20 {
        let (elapsed, events) = timed(|| ep.poll(Some(timeout), 4));
        assert!(events.unwrap().is_empty());
        assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    }
}

/// A timeout too long for the kernel (Python: `OverflowError`) is clamped, not refused.
#[test]
fn huge_timeout_is_clamped_not_refused() {
    let (a, _b) = pair();
    let ep = new();
    ep.register(&a, EPOLLOUT).unwrap();
    for timeout in [
        Duration::MAX,
        Duration::from_millis(i32::MAX as u64 + 1),
        Duration::from_secs(u64::from(u32::MAX) + 1),
    ] {
        assert_eq!(
            ep.poll(Some(timeout), 4).unwrap(),
            [(a.as_raw_fd(), EPOLLOUT)]
        );
    }
}

/// PEP 475: signals landing during the wait (every 10 ms, to this thread, with a handler that
/// does nothing) are retried with the time left: the wait still lasts its full timeout and
/// returns empty, not `Interrupted`.
#[test]
fn signals_do_not_cut_the_wait_short() {
    let (rd, _wr) = pair();
    let ep = new();
    ep.register(&rd, EPOLLIN).unwrap();
    let timeout = Duration::from_millis(500);
    let ((elapsed, events), signals) = under_signal_storm(|| timed(|| ep.poll(Some(timeout), 4)));
    assert!(events.expect("EINTR must not surface").is_empty());
    assert!(signals >= 5, "only {signals} signals arrived");
    assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    assert!(elapsed < LATE, "took {elapsed:?}");
}
