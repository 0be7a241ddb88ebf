//! Python's `select.poll()` object as [`ioselectors::select::Poll`]: CPython's
//! `Lib/test/test_poll.py` (3.11) ported, plus what it does not cover: how CPython's poll
//! object behaves, and the readiness each kind of fd reports. Runs on Unix (poll(2)) and
//! Windows (`WSAPoll`, sockets only), where Python has no poll object at all.
//!
//! Ported from test_poll.py:
//! * `test_poll1` → `many_pipes_written_and_read_in_turn` (Windows: socket pairs).
//! * `test_poll_unit_tests` → `closed_number_reports_pollnval`, `closed_file_reports_pollnval`
//!   (Unix: a regular file) and `unregister_unknown_is_not_found`.
//! * `test_poll2` → `reads_a_writer_to_the_end_with_growing_timeouts`, with a thread writing
//!   instead of a shell child: this binary closes descriptors, so it spawns no process.
//! * `test_poll3` (its timeout half) → `huge_timeout_is_clamped_not_refused`.
//! * `test_poll_blocks_with_negative_ms` → `none_blocks_until_ready` (`None` is what a
//!   negative timeout means in Python).
//!
//! Skipped, and why:
//! * `test_poll_unit_tests`, its `TypeError` cases (`register(p)`, `unregister(p)`, objects
//!   without `fileno()` or whose `fileno()` returns a non-int): only `AsFd`/`AsSocket` sources
//!   and `Fileno` numbers type-check.
//! * `test_poll3` (its mask half) and `test_poll_c_limits`: `ValueError`/`OverflowError` for
//!   masks outside `unsigned short` and timeouts outside `int`. A mask is a `PollFlags` (u16)
//!   and a timeout a `Duration`, which is clamped (see `huge_timeout_is_clamped_not_refused`).
//! * `test_threaded_poll`: `RuntimeError` for a second `poll()` running at once on one object.
//!   `poll` takes `&mut self`, so that is a compile error here.

mod common;
use common::*;
use ioselectors::select::{Poll, PollFlags, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI};
use std::io::{self, ErrorKind, Read, Write};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// A wait that should end early: generous, as CI machines and Wine are slow and noisy.
const SOON: Option<Duration> = Some(Duration::from_secs(5));
const ZERO: Option<Duration> = Some(Duration::ZERO);
/// Generous upper bound for "returned after the timeout".
const LATE: Duration = Duration::from_secs(5);

/// Windows hands a closed socket's handle value to the next handle created, at once, and
/// `lonely` cannot prevent it there. The tests that close a registered socket take this lock
/// for writing, every other test for reading, so that no socket is created while a closed
/// handle is under test. (Unix needs no lock: `lonely` numbers are never reused.)
static HANDLES: RwLock<()> = RwLock::new(());

fn using_sockets() -> Option<RwLockReadGuard<'static, ()>> {
    cfg!(windows).then(|| HANDLES.read().unwrap_or_else(PoisonError::into_inner))
}

fn closing_sockets() -> Option<RwLockWriteGuard<'static, ()>> {
    cfg!(windows).then(|| HANDLES.write().unwrap_or_else(PoisonError::into_inner))
}

/// Blocks until `source` is readable (data stays until read).
fn wait_readable<S: AsSource + ?Sized>(source: &S) {
    let mut p = Poll::new();
    p.register(source, POLLIN);
    assert_eq!(
        p.poll(SOON).unwrap().len(),
        1,
        "not readable within {SOON:?}"
    );
}

/// Whether `flags` says readable (Windows' `POLLIN` is two bits, of which `WSAPoll` reports
/// one).
fn readable(flags: PollFlags) -> bool {
    flags.intersects(POLLIN)
}

/// A pipe on Unix, a socket pair on Windows (`(read end, write end)`).
#[cfg(unix)]
fn channel() -> (std::fs::File, std::fs::File) {
    let (r, w) = rustix::pipe::pipe().unwrap();
    (r.into(), w.into())
}
#[cfg(windows)]
fn channel() -> (Stream, Stream) {
    pair()
}

/// A number that named an open socket a moment ago and is now closed, lent as a source.
/// Unix: a `lonely` number, which nothing reopens. Windows: the caller holds
/// `closing_sockets()`.
fn closed_source() -> (RawSource, BorrowedSource<'static>) {
    #[cfg(unix)]
    let fd = closed_number();
    #[cfg(windows)]
    let fd = {
        let (a, _b) = pair();
        fd_of(&a)
    };
    // SAFETY: deliberately a closed number, as CPython's test does. `Poll` only hands the
    // number to the kernel, which reports it as POLLNVAL (or, under Wine, fails); no I/O is
    // done on it, and no other test reopens it meanwhile (see `closed_number`, `HANDLES`).
    #[cfg(unix)]
    let source = unsafe { std::os::unix::io::BorrowedFd::borrow_raw(fd) };
    // SAFETY: as above.
    #[cfg(windows)]
    let source = unsafe { std::os::windows::io::BorrowedSocket::borrow_raw(fd) };
    (fd, source)
}

/// A poll over a registered closed descriptor: `[(fd, POLLNVAL)]`, whatever the mask. Windows
/// documents POLLNVAL too; Wine's `WSAPoll` fails with WSAENOTSOCK instead, so there either
/// answer is accepted.
fn assert_nval(result: io::Result<Vec<(RawSource, PollFlags)>>, fd: RawSource) {
    match result {
        Ok(ready) => assert_eq!(ready, [(fd, POLLNVAL)]),
        Err(err) if cfg!(windows) => assert_eq!(err.raw_os_error(), Some(10038), "{err}"),
        Err(err) => panic!("{err}"),
    }
}

// ---- test_poll1

/// Twelve pipes; in turn, a random writable one is written and a random readable one read,
/// then both ends are closed and unregistered (CPython unregisters after closing: by number).
#[test]
fn many_pipes_written_and_read_in_turn() {
    const MSG: &[u8] = b" This is a test.";
    let _sockets = using_sockets();
    let mut p = Poll::new();
    let mut readers = std::collections::HashMap::new();
    let mut writers = std::collections::HashMap::new();
    for _ in 0..12 {
        let (rd, wr) = channel();
        p.register(&rd, Poll::DEFAULT_MASK);
        p.modify(&rd, POLLIN).unwrap();
        p.register(&wr, POLLOUT);
        readers.insert(fd_of(&rd), (rd, fd_of(&wr)));
        writers.insert(fd_of(&wr), wr);
    }
    assert_eq!(p.len(), 24);
    // random.choice, made repeatable: a linear congruential generator.
    let mut seed: u64 = 0x5eed;
    let mut choose = |ready: &[RawSource]| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ready[(seed >> 33) as usize % ready.len()]
    };
    let mut bufs = Vec::new();
    while !writers.is_empty() {
        let ready = p.poll(None).unwrap();
        let ready_writers: Vec<RawSource> = ready
            .iter()
            .filter(|(_, flags)| flags.contains(POLLOUT))
            .map(|&(fd, _)| fd)
            .collect();
        assert!(!ready_writers.is_empty(), "no pipes ready for writing");
        let wr = choose(&ready_writers);
        (&writers[&wr]).write_all(MSG).unwrap();
        // A pipe has the data at once; a loopback socket a moment later.
        let (&rd, _) = readers.iter().find(|(_, (_, w))| *w == wr).unwrap();
        wait_readable(&readers[&rd].0);

        let ready = p.poll(None).unwrap();
        let ready_readers: Vec<RawSource> = ready
            .iter()
            .filter(|(_, flags)| readable(*flags))
            .map(|&(fd, _)| fd)
            .collect();
        assert!(!ready_readers.is_empty(), "no pipes ready for reading");
        let rd = choose(&ready_readers);
        let (reader, wr) = readers.remove(&rd).unwrap();
        let mut buf = vec![0; MSG.len()];
        (&reader).read_exact(&mut buf).unwrap();
        bufs.push(buf);
        drop(writers.remove(&wr).unwrap());
        drop(reader);
        p.unregister(wr).unwrap();
        p.unregister(rd).unwrap();
    }
    assert_eq!(bufs, vec![MSG.to_vec(); 12]);
    assert!(p.is_empty());
}

// ---- test_poll_unit_tests

/// A closed descriptor, registered by number, comes back as POLLNVAL (CPython registers a
/// closed pipe end).
#[test]
fn closed_number_reports_pollnval() {
    let _closing = closing_sockets();
    let (fd, source) = closed_source();
    let mut p = Poll::new();
    p.register(&source, Poll::DEFAULT_MASK);
    assert_nval(p.poll(SOON), fd);
}

/// A regular file is ready at once; once closed, it comes back as POLLNVAL.
// Unix only: Windows polls sockets only.
#[cfg(unix)]
#[test]
fn closed_file_reports_pollnval() {
    let file = lonely_fd(tempfile::tempfile().unwrap());
    let fd = fd_of(&file);
    let mut p = Poll::new();
    p.register(&file, Poll::DEFAULT_MASK);
    let ready = p.poll(SOON).unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].0, fd);
    drop(file);
    assert_eq!(p.poll(SOON).unwrap(), [(fd, POLLNVAL)]);
}

/// `unregister` of what is not registered is `NotFound` naming the fd (Python: `KeyError`),
/// and so is `modify` (Python: `FileNotFoundError`).
#[test]
fn unregister_unknown_is_not_found() {
    let _sockets = using_sockets();
    let mut p = Poll::new();
    let three: RawSource = 3;
    let err = p.unregister(three).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("fd 3"), "{err}");
    let err = p.modify(three, POLLIN).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("fd 3"), "{err}");

    // Unregistered once is unregistered.
    let (a, _b) = pair();
    p.register(&a, POLLIN);
    p.unregister(&a).unwrap();
    assert_eq!(p.unregister(&a).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        p.modify(&a, POLLIN).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(p.is_empty());
}

/// A negative number is `InvalidInput` (Python: `ValueError`), as everywhere in the crate,
/// not `NotFound`: it can never be registered.
#[cfg(unix)]
#[test]
fn negative_numbers_are_invalid_input() {
    let mut p = Poll::new();
    for fd in [-1, -2, RawSource::MIN] {
        let err = p.modify(fd, POLLIN).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert_eq!(err.to_string(), format!("invalid file descriptor {fd}"));
        let err = p.unregister(fd).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
}

// ---- test_poll2

/// A writer sends 10 lines 50 ms apart, then closes; the reader polls with the timeouts of
/// CPython's test (0, 1, 2, 4, 8, 16 s, then blocking) and reads until end of file.
#[test]
fn reads_a_writer_to_the_end_with_growing_timeouts() {
    let _sockets = using_sockets();
    let (rd, mut wr) = channel();
    let writer = std::thread::spawn(move || {
        for _ in 0..10 {
            wr.write_all(b"testing...\n").unwrap();
            // Pacing, not synchronisation: the reader has to wait for each line.
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut p = Poll::new();
    p.register(&rd, POLLIN);
    let timeouts = [0, 1000, 2000, 4000, 8000, 16000]
        .into_iter()
        .map(|ms| Some(Duration::from_millis(ms)))
        .chain(std::iter::repeat(None).take(10));
    let mut received = Vec::new();
    let mut eof = false;
    for timeout in timeouts {
        let ready = p.poll(timeout).unwrap();
        if ready.is_empty() {
            assert!(timeout.is_some(), "a blocking poll returned nothing");
            continue;
        }
        let (fd, flags) = ready[0];
        assert_eq!((ready.len(), fd), (1, fd_of(&rd)));
        let mut buf = [0; 256];
        if readable(flags) {
            let n = (&rd).read(&mut buf).unwrap();
            if n == 0 {
                eof = true;
                break;
            }
            received.extend_from_slice(&buf[..n]);
        } else if flags.contains(POLLHUP) {
            assert_eq!(
                (&rd).read(&mut buf).unwrap(),
                0,
                "hang-up reported while data was left"
            );
            eof = true;
            break;
        } else {
            panic!("unexpected return value from poll: {ready:?}");
        }
    }
    writer.join().unwrap();
    assert!(eof, "end of file not reached");
    assert_eq!(received, b"testing...\n".repeat(10));
}

// ---- test_poll3

/// A timeout too long for the kernel (Python: `OverflowError`) is clamped, not refused.
#[test]
fn huge_timeout_is_clamped_not_refused() {
    let _sockets = using_sockets();
    let (a, _b) = pair();
    let mut p = Poll::new();
    p.register(&a, POLLOUT);
    for timeout in [
        Duration::MAX,
        Duration::from_millis(i32::MAX as u64 + 1),
        Duration::from_secs(u64::from(u32::MAX) + 1),
    ] {
        assert_eq!(p.poll(Some(timeout)).unwrap(), [(fd_of(&a), POLLOUT)]);
    }
}

// ---- test_poll_blocks_with_negative_ms

/// `None` blocks: the poll has not returned 100 ms later, and returns once data arrives.
#[test]
fn none_blocks_until_ready() {
    let _sockets = using_sockets();
    let (rd, mut wr) = pair();
    let fd = fd_of(&rd);
    let mut p = Poll::new();
    p.register(&rd, POLLIN);
    let (tx, rx) = std::sync::mpsc::channel();
    let poller = std::thread::spawn(move || tx.send(p.poll(None)).unwrap());
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "poll(None) returned with nothing ready"
    );
    wr.write_all(b"spam").unwrap();
    let ready = rx
        .recv_timeout(LATE)
        .expect("poll(None) did not wake up")
        .unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].0, fd);
    assert!(readable(ready[0].1), "{ready:?}");
    poller.join().unwrap();
}

// ---- beyond CPython

/// `register` of a registered descriptor replaces its mask and keeps its place.
#[test]
fn register_twice_updates_the_mask_and_keeps_position() {
    let _sockets = using_sockets();
    let (a, mut a_peer) = pair();
    let (b, _b_peer) = pair();
    a_peer.write_all(b"x").unwrap();
    wait_readable(&a);
    let mut p = Poll::new();
    p.register(&a, POLLIN);
    p.register(&b, POLLOUT);
    let ready = p.poll(ZERO).unwrap();
    assert_eq!(ready.len(), 2);
    assert_eq!(ready[0].0, fd_of(&a));
    assert!(readable(ready[0].1) && !ready[0].1.contains(POLLOUT));
    assert_eq!(ready[1], (fd_of(&b), POLLOUT));

    p.register(&a, POLLOUT);
    assert_eq!(p.len(), 2);
    assert_eq!(
        p.poll(ZERO).unwrap(),
        [(fd_of(&a), POLLOUT), (fd_of(&b), POLLOUT)],
        "the new mask replaces the old one, in the same place"
    );
}

/// Results come in registration order (not descriptor order); `modify` and re-`register`
/// keep an entry's place, `unregister` + `register` moves it to the end.
#[test]
fn results_in_registration_order_and_reregister_moves_to_end() {
    let _sockets = using_sockets();
    let pairs: Vec<(Stream, Stream)> = (0..4).map(|_| pair()).collect();
    let [s0, s1, s2, s3] = [0, 1, 2, 3].map(|i| &pairs[i].0);
    let writable = |sockets: &[&Stream]| -> Vec<(RawSource, PollFlags)> {
        sockets.iter().map(|s| (fd_of(s), POLLOUT)).collect()
    };
    let mut p = Poll::new();
    for s in [s2, s0, s3, s1] {
        p.register(s, POLLOUT);
    }
    assert_eq!(p.poll(ZERO).unwrap(), writable(&[s2, s0, s3, s1]));

    p.modify(s2, POLLOUT).unwrap();
    p.register(s0, POLLOUT);
    assert_eq!(p.poll(ZERO).unwrap(), writable(&[s2, s0, s3, s1]));

    p.unregister(s2).unwrap();
    p.register(s2, POLLOUT);
    assert_eq!(p.poll(ZERO).unwrap(), writable(&[s0, s3, s1, s2]));

    // Several changes between two polls.
    p.unregister(s3).unwrap();
    p.unregister(s0).unwrap();
    p.register(s3, POLLOUT);
    p.modify(s1, POLLIN).unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(p.poll(ZERO).unwrap(), writable(&[s2, s3]));
    p.register(s0, POLLOUT);
    p.modify(s1, POLLOUT).unwrap();
    assert_eq!(p.poll(ZERO).unwrap(), writable(&[s1, s2, s3, s0]));
}

/// A descriptor closed behind the poll object's back comes back as POLLNVAL whatever its
/// mask (0 here), on every call, until it is unregistered.
#[test]
fn closed_after_register_reports_pollnval_until_unregistered() {
    let _closing = closing_sockets();
    let (a, _b) = pair();
    let a = lonely(a);
    let fd = fd_of(&a);
    let mut p = Poll::new();
    p.register(&a, PollFlags::empty());
    assert!(p.poll(ZERO).unwrap().is_empty(), "mask 0 asks for nothing");
    drop(a);
    for _ in 0..2 {
        assert_nval(p.poll(SOON), fd);
    }
    p.unregister(fd).unwrap();
    assert!(p.poll(ZERO).unwrap().is_empty());
}

/// Mask 0 asks for nothing, yet a hang-up is reported.
// Unix only: WSAPoll's hang-up reporting on an empty mask is not what this checks.
#[cfg(unix)]
#[test]
fn mask_zero_still_reports_hangup() {
    let (a, b) = pair();
    let mut p = Poll::new();
    p.register(&a, PollFlags::empty());
    assert!(p.poll(ZERO).unwrap().is_empty());
    drop(b);
    let ready = p.poll(SOON).unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
    let (fd, flags) = ready[0];
    assert_eq!(fd, fd_of(&a));
    assert!(flags.contains(POLLHUP), "{flags:?}");
    assert!(!flags.intersects(POLLIN | POLLOUT), "{flags:?}");
}

/// One urgent byte (`MSG_OOB`) on a TCP connection is `POLLPRI` (and, on Linux, not `POLLIN`)
/// until it is read with `MSG_OOB`.
// Unix only: WSAPoll never reports POLLPRI.
#[cfg(unix)]
#[test]
fn pollpri_for_msg_oob() {
    let (server, client) = tcp_pair();
    let fd = fd_of(&server);
    let mut p = Poll::new();
    p.register(&server, POLLIN | POLLPRI);
    assert!(p.poll(ZERO).unwrap().is_empty());
    socket2::SockRef::from(&client)
        .send_out_of_band(b"!")
        .unwrap();
    let ready = p.poll(SOON).unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].0, fd);
    assert!(ready[0].1.contains(POLLPRI), "{ready:?}");
    if cfg!(any(target_os = "linux", target_os = "android")) {
        assert_eq!(ready[0].1, POLLPRI);
    }
    assert_eq!(p.poll(ZERO).unwrap(), ready, "urgent data stays until read");
    let mut byte = [std::mem::MaybeUninit::new(0u8)];
    assert_eq!(
        socket2::SockRef::from(&server)
            .recv_out_of_band(&mut byte)
            .unwrap(),
        1
    );
    assert!(p.poll(ZERO).unwrap().is_empty());
}

/// A failed non-blocking connect reports `POLLERR` and `POLLHUP` (Linux gives both, with the
/// readiness bits asked for).
// Unix only: WSAPoll did not report a failed connect before Windows 10 2004.
#[cfg(unix)]
#[test]
fn failed_nonblocking_connect_reports_err_and_hup() {
    use ioselectors::select::POLLERR;
    let socket = refused_connect();
    let mut p = Poll::new();
    p.register(&socket, POLLOUT);
    let ready = p.poll(SOON).unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].0, fd_of(&socket));
    let flags = ready[0].1;
    if cfg!(any(target_os = "linux", target_os = "android")) {
        assert!(flags.contains(POLLERR | POLLHUP | POLLOUT), "{flags:?}");
    } else {
        assert!(flags.intersects(POLLERR | POLLHUP), "{flags:?}");
    }
}

/// Python's default mask is `POLLIN | POLLPRI | POLLOUT`; on an idle connected socket it
/// reports `POLLOUT` (on Windows, `POLLPRI`, which `WSAPoll` refuses, is left out of the call).
#[test]
fn default_mask_is_in_pri_out() {
    let _sockets = using_sockets();
    assert_eq!(Poll::DEFAULT_MASK, POLLIN | POLLPRI | POLLOUT);
    let (a, _b) = pair();
    let mut p = Poll::new();
    p.register(&a, Poll::DEFAULT_MASK);
    assert_eq!(p.poll(SOON).unwrap(), [(fd_of(&a), POLLOUT)]);
}

/// `poll_into` clears the vector first and returns how many entries it holds.
#[test]
fn poll_into_clears_and_counts() {
    let _sockets = using_sockets();
    let (a, _a_peer) = pair();
    let (b, _b_peer) = pair();
    let mut p = Poll::new();
    p.register(&a, POLLOUT);
    p.register(&b, POLLOUT);
    let mut ready = vec![(fd_of(&a), POLLNVAL); 5];
    assert_eq!(p.poll_into(ZERO, &mut ready).unwrap(), 2);
    assert_eq!(ready, [(fd_of(&a), POLLOUT), (fd_of(&b), POLLOUT)]);
    p.modify(&a, POLLIN).unwrap();
    p.modify(&b, POLLIN).unwrap();
    assert_eq!(p.poll_into(ZERO, &mut ready).unwrap(), 0);
    assert!(ready.is_empty());
}

/// Regular files are ready for reading and writing on every call.
// Unix only: Windows polls sockets only.
#[cfg(unix)]
#[test]
fn regular_file_reports_in_and_out_every_call() {
    let file = tempfile::tempfile().unwrap();
    let mut p = Poll::new();
    p.register(&file, POLLIN | POLLOUT);
    for _ in 0..3 {
        assert_eq!(p.poll(ZERO).unwrap(), [(fd_of(&file), POLLIN | POLLOUT)]);
    }
}

/// A number closed and reused by another file reports the new file's readiness under the
/// same number, with no POLLNVAL left.
// Unix only: Windows does not let a test pick a handle's value.
#[cfg(unix)]
#[test]
fn reused_number_reports_the_new_file() {
    let (old, mut old_peer) = pair();
    let old = lonely(old);
    let number = fd_of(&old);
    old_peer.write_all(b"old data").unwrap();
    let mut p = Poll::new();
    p.register(&old, POLLIN | POLLOUT);
    assert_eq!(p.poll(SOON).unwrap(), [(number, POLLIN | POLLOUT)]);
    drop(old);
    assert_eq!(p.poll(SOON).unwrap(), [(number, POLLNVAL)]);

    let (new, _new_peer) = pair();
    let new = lonely_at(new, number);
    assert_eq!(fd_of(&new), number, "the number was not reused");
    assert_eq!(p.poll(SOON).unwrap(), [(number, POLLOUT)]);
}

/// Any mask the kernel takes goes through unchanged: `0xffff` on a socket pair reports
/// `OUT | WRNORM | WRBAND` (observed on Linux).
// Linux only: the bit values, and what the kernel answers, are Linux's.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn every_bit_of_the_mask_reaches_the_kernel() {
    use ioselectors::select::{POLLWRBAND, POLLWRNORM};
    let (a, _b) = pair();
    let mut p = Poll::new();
    p.register(&a, PollFlags::from_bits_retain(0xffff));
    assert_eq!(
        p.poll(ZERO).unwrap(),
        [(fd_of(&a), POLLOUT | POLLWRNORM | POLLWRBAND)]
    );
}

// ---- timeouts

/// A wait with nothing ready lasts at least its timeout, and returns empty.
#[test]
fn timeout_is_never_cut_short() {
    let _sockets = using_sockets();
    let (rd, _wr) = pair();
    let mut p = Poll::new();
    p.register(&rd, POLLIN);
    let timeout = Duration::from_millis(300);
    let (elapsed, ready) = timed(|| p.poll(Some(timeout)));
    assert!(ready.unwrap().is_empty());
    assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    assert!(elapsed < LATE, "took {elapsed:?}");
}

/// With nothing registered, a poll sleeps for its timeout (Windows too, where `WSAPoll`
/// itself would refuse an empty array).
#[test]
fn empty_poll_sleeps_for_the_timeout() {
    let mut p = Poll::new();
    let timeout = Duration::from_millis(300);
    let (elapsed, ready) = timed(|| p.poll(Some(timeout)));
    assert!(ready.unwrap().is_empty());
    assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    assert!(elapsed < LATE, "took {elapsed:?}");
}

/// `Some(ZERO)` only looks: it returns at once, with what is ready and nothing else.
#[test]
fn zero_timeout_returns_at_once() {
    let _sockets = using_sockets();
    let (rd, _wr) = pair();
    let mut p = Poll::new();
    p.register(&rd, POLLIN);
    let (elapsed, ready) = timed(|| p.poll(ZERO));
    assert!(ready.unwrap().is_empty());
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    p.register(&rd, POLLIN | POLLOUT);
    let (elapsed, ready) = timed(|| p.poll(ZERO));
    assert_eq!(ready.unwrap(), [(fd_of(&rd), POLLOUT)]);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

/// A sub-millisecond timeout is rounded up (to 1 ms), never down to a busy zero.
#[test]
fn sub_millisecond_timeout_waits_at_least_that_long() {
    let _sockets = using_sockets();
    let (rd, _wr) = pair();
    let mut p = Poll::new();
    p.register(&rd, POLLIN);
    let timeout = Duration::from_micros(100);
    for _ in 0..20 {
        let (elapsed, ready) = timed(|| p.poll(Some(timeout)));
        assert!(ready.unwrap().is_empty());
        assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    }
}

/// PEP 475: signals landing during the wait (every 10 ms, to this thread, with a handler that
/// does nothing) are retried with the time left: the wait still lasts its full timeout and
/// returns empty, not `Interrupted`.
// Unix only: Windows has no POSIX signals.
#[cfg(unix)]
#[test]
fn signals_do_not_cut_the_wait_short() {
    let (rd, _wr) = pair();
    let mut p = Poll::new();
    p.register(&rd, POLLIN);
    let timeout = Duration::from_millis(500);
    let ((elapsed, ready), signals) = under_signal_storm(|| timed(|| p.poll(Some(timeout))));
    assert!(ready.expect("EINTR must not surface").is_empty());
    assert!(signals >= 5, "only {signals} signals arrived");
    assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    assert!(elapsed < LATE, "took {elapsed:?}");
}
