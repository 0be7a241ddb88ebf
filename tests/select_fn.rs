//! Python's `select.select()` as [`ioselectors::select::select`] and `select_into`: CPython's
//! `Lib/test/test_select.py` (3.11) ported, plus what it does not cover: how CPython's
//! `select()` behaves, and which lists each kind of fd lands in. Runs on Unix and on Windows
//! (sockets only there).
//!
//! Ported from test_select.py:
//! * `test_errno` → `closed_fd_fails_the_whole_call_with_ebadf` (Unix: a closed fd number).
//! * `test_returned_list_identity` → `returned_lists_are_new_on_every_call`.
//! * `test_select` → `reads_a_writer_to_the_end_with_growing_timeouts`, with a thread writing
//!   into a pipe (Windows: a socket) instead of a child process: this binary closes
//!   descriptors, so it spawns no process.
//!
//! Skipped, and why:
//! * `test_error_conditions`: `TypeError` for a list that is not a sequence, an item without
//!   `fileno()` or whose `fileno()` returns a non-int, a timeout that is not a number, and
//!   `ValueError` for a negative timeout. The types rule each out: the lists are slices of
//!   `AsFd`/`AsSocket` items and the timeout is an `Option<Duration>`.
//! * `test_select_mutated`: a `fileno()` that shrinks the list during the call. The lists are
//!   borrowed for the whole call, so nothing can change them under it.
//! * `test_disallow_instantiation`: `type(select.poll())()` is Python type machinery with no
//!   Rust counterpart.

mod common;
use common::*;
use ioselectors::select::{select, select_into, Selected};
use std::io::{Read, Write};
use std::time::Duration;

/// A wait that should end early: generous, as CI machines and Wine are slow and noisy.
const SOON: Option<Duration> = Some(Duration::from_secs(5));
const ZERO: Option<Duration> = Some(Duration::ZERO);
/// Generous upper bound for "returned after the timeout".
const LATE: Duration = Duration::from_secs(5);

/// An empty list.
const NONE: &[Stream] = &[];

/// The list of references to `list`'s items that `select()` takes for items that cannot be
/// cloned; it returns the ready ones among them.
fn refs<T>(list: &[T]) -> Vec<&T> {
    list.iter().collect()
}

/// Blocks until `source` is readable (data stays until read, so a later zero-timeout call
/// sees it too).
fn wait_readable(source: impl AsSource) {
    let (r, _, _) = select(&[source.as_source()], &[], &[], SOON).unwrap();
    assert_eq!(r.len(), 1, "not readable within {SOON:?}");
}

/// The error of a call that should have failed.
#[cfg(unix)]
fn refused<T>(result: std::io::Result<T>) -> std::io::Error {
    match result {
        Ok(_) => panic!("the call should have failed"),
        Err(err) => err,
    }
}

/// The positions of `found` (references into `list`) in `list`.
fn positions<T>(found: &[&T], list: &[T]) -> Vec<usize> {
    found
        .iter()
        .map(|&item| {
            list.iter()
                .position(|slot| std::ptr::eq(slot, item))
                .expect("select returned an item that is not in the list")
        })
        .collect()
}

// ---- test_errno

/// A closed fd makes the whole call fail with EBADF, even when other items are ready,
/// whichever list it is in.
// Unix only: needs a closed descriptor number that stays closed (`lonely`).
#[cfg(unix)]
#[test]
fn closed_fd_fails_the_whole_call_with_ebadf() {
    use std::os::unix::io::BorrowedFd;
    let fd = closed_number();
    // SAFETY: deliberately a closed number, as CPython's test_errno closes its file first.
    // select(2) only looks the number up and answers EBADF; `closed_number` is lonely, so no
    // test running in parallel reopens it while this one uses it.
    let closed = unsafe { BorrowedFd::borrow_raw(fd) };
    let (ready, mut peer) = pair();
    peer.write_all(b"x").unwrap();
    wait_readable(&ready);
    let list = [ready.as_source(), closed];
    let none: &[BorrowedSource<'_>] = &[];
    for (r, w, x) in [
        (&list[..], none, none),
        (none, &list[..], none),
        (none, none, &list[..]),
    ] {
        let err = refused(select(r, w, x, SOON));
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
        let mut selected = Selected::new();
        let err = select_into(r, w, x, SOON, &mut selected).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
    }
}

// ---- test_returned_list_identity

/// Python checks that r, w and x are three new lists. Here each call builds its result
/// afresh: a reused `Selected` keeps nothing of the previous call.
#[test]
fn returned_lists_are_new_on_every_call() {
    let (r, w, x) = select::<&Stream>(&[], &[], &[], Some(Duration::from_millis(10))).unwrap();
    assert!(r.is_empty() && w.is_empty() && x.is_empty());

    let (a, mut peer) = pair();
    peer.write_all(b"x").unwrap();
    wait_readable(&a);
    let list = [&a];
    let mut selected = Selected::new();
    assert_eq!(
        select_into(&list, &list, NONE, ZERO, &mut selected).unwrap(),
        2
    );
    assert_eq!(
        (selected.readable(), selected.writable()),
        (&[0][..], &[0][..])
    );
    let mut byte = [0];
    (&a).read_exact(&mut byte).unwrap();
    // Only the readable list changes, and nothing from the first call is left in it.
    assert_eq!(
        select_into(&list, &list, &list, ZERO, &mut selected).unwrap(),
        1
    );
    assert!(selected.readable().is_empty());
    assert_eq!(selected.writable(), [0]);
    assert!(selected.exceptional().is_empty());
    // A timeout empties everything.
    assert_eq!(
        select_into(&list, NONE, NONE, ZERO, &mut selected).unwrap(),
        0
    );
    assert!(selected.is_empty());
}

// ---- test_select

/// A writer sends 10 lines 50 ms apart, then closes; the reader selects with the timeouts of
/// CPython's test (0, 1, 2, 4, 8, 16 s, then blocking) and reads until end of file. Nothing is
/// ever in the write or exceptional list.
#[test]
fn reads_a_writer_to_the_end_with_growing_timeouts() {
    #[cfg(unix)]
    let (rd, mut wr) = {
        let (r, w) = rustix::pipe::pipe().unwrap();
        (std::fs::File::from(r), std::fs::File::from(w))
    };
    #[cfg(windows)]
    let (rd, mut wr) = pair();
    let writer = std::thread::spawn(move || {
        for _ in 0..10 {
            wr.write_all(b"testing...\n").unwrap();
            // Pacing, not synchronisation: the reader has to wait for each line.
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let timeouts = [0, 1, 2, 4, 8, 16]
        .into_iter()
        .map(|secs| Some(Duration::from_secs(secs)))
        .chain(std::iter::repeat(None).take(10));
    let list = [&rd];
    let mut received = Vec::new();
    let mut eof = false;
    for timeout in timeouts {
        let (r, w, x) = select(&refs(&list), &[], &[], timeout).unwrap();
        assert!(w.is_empty() && x.is_empty());
        if r.is_empty() {
            assert!(timeout.is_some(), "a blocking select returned nothing");
            continue;
        }
        assert_eq!(r.len(), 1);
        let mut buf = [0; 256];
        let n = (&rd).read(&mut buf).unwrap();
        if n == 0 {
            eof = true;
            break;
        }
        received.extend_from_slice(&buf[..n]);
    }
    writer.join().unwrap();
    assert!(eof, "end of file not reached");
    assert_eq!(received, b"testing...\n".repeat(10));
}

// ---- beyond CPython

/// One urgent byte (`MSG_OOB`) lands in xlist, and stays there until it is read with
/// `MSG_OOB`. On Linux it is not readable in the normal sense (only writable and exceptional).
#[test]
fn oob_data_lands_in_xlist_until_read_with_msg_oob() {
    let (server, client) = tcp_pair();
    socket2::SockRef::from(&client)
        .send_out_of_band(b"!")
        .unwrap();
    let list = [&server];
    let (_, _, x) = select(&[], &[], &refs(&list), SOON).unwrap();
    assert_eq!(positions(&x, &list), [0], "urgent data not reported");
    for _ in 0..2 {
        let (r, w, x) = select(&refs(&list), &refs(&list), &refs(&list), ZERO).unwrap();
        if cfg!(any(target_os = "linux", target_os = "android")) {
            assert!(r.is_empty(), "urgent data alone is not readable");
        }
        assert_eq!(positions(&w, &list), [0]);
        assert_eq!(
            positions(&x, &list),
            [0],
            "urgent data must stay until read"
        );
    }
    let mut selected = Selected::new();
    select_into(NONE, NONE, &list, ZERO, &mut selected).unwrap();
    assert_eq!(selected.exceptional(), [0]);

    let mut byte = [std::mem::MaybeUninit::new(0u8)];
    let n = socket2::SockRef::from(&server)
        .recv_out_of_band(&mut byte)
        .unwrap();
    assert_eq!(n, 1);
    // SAFETY: recv_out_of_band wrote the one byte it reported (and it was initialised).
    assert_eq!(unsafe { byte[0].assume_init() }, b'!');
    let (r, _, x) = select(&refs(&list), &[], &refs(&list), ZERO).unwrap();
    assert!(x.is_empty(), "urgent data was read");
    assert!(r.is_empty());
}

/// Each result list holds the caller's own items, in list order, an item listed twice coming
/// back twice (CPython: `select([w2, a, w1, a, b], [], [], 0)` → `[w2, a, w1, a]`).
#[test]
fn results_are_callers_items_in_list_order_with_duplicates() {
    let (a, mut a_peer) = pair();
    let (b, _b_peer) = pair();
    let (w1, mut w1_peer) = pair();
    let (w2, mut w2_peer) = pair();
    for peer in [&mut a_peer, &mut w1_peer, &mut w2_peer] {
        peer.write_all(b"x").unwrap();
    }
    for ready in [&a, &w1, &w2] {
        wait_readable(ready);
    }
    let rlist = [&w2, &a, &w1, &a, &b];
    let wlist = [&b, &a_peer, &b];
    let (r, w, x) = select(&refs(&rlist), &refs(&wlist), &[], ZERO).unwrap();
    assert_eq!(positions(&r, &rlist), [0, 1, 2, 3]);
    assert!(std::ptr::eq(*r[1], &a) && std::ptr::eq(*r[3], &a));
    assert_eq!(positions(&w, &wlist), [0, 1, 2]);
    assert!(x.is_empty());

    let mut selected = Selected::new();
    let count = select_into(&rlist, &wlist, &rlist, ZERO, &mut selected).unwrap();
    assert_eq!(count, 7);
    assert_eq!(selected.readable(), [0, 1, 2, 3]);
    assert_eq!(selected.writable(), [0, 1, 2]);
    assert!(selected.exceptional().is_empty());
    assert!(!selected.is_empty());
}

/// Python's semantics: the result is new lists of the caller's own objects (here `Rc`s of
/// them), so the loop may append to and remove from the lists it passed while it walks the
/// result; `remove_source` is `list.remove(sock)` (the first equal item only, `None` where
/// Python raises) and `contains_source` is `sock in list`.
#[test]
fn results_are_the_callers_objects_and_the_lists_stay_free() {
    use ioselectors::select::SourceList;
    use std::rc::Rc;
    let (a, mut a_peer) = pair();
    let (b, _b_peer) = pair();
    a_peer.write_all(b"x").unwrap();
    wait_readable(&a);
    let (a, b) = (Rc::new(a), Rc::new(b));
    let mut rlist = vec![Rc::clone(&b), Rc::clone(&a), Rc::clone(&a)];
    let (r, _, _) = select(&rlist, &[], &[], ZERO).unwrap();
    assert_eq!(r.len(), 2);
    for ready in r {
        assert!(Rc::ptr_eq(&ready, &a), "the caller's own object");
        let removed = rlist.remove_source(&ready).expect("listed");
        assert!(Rc::ptr_eq(&removed, &a));
        rlist.push(Rc::clone(&b)); // the list is free to grow meanwhile
    }
    assert!(!rlist.contains_source(&a) && rlist.contains_source(&b));
    assert_eq!(rlist.len(), 3);
    assert!(
        rlist.remove_source(&a).is_none(),
        "Python raises ValueError here"
    );
    // Borrowed items work alike, and come back as references to the caller's objects.
    let borrowed = [&*a, &*b];
    let (r, _, _) = select(&borrowed, &[], &[], ZERO).unwrap();
    assert_eq!(r.len(), 1);
    assert!(std::ptr::eq(r[0], &*a));
}

/// A listener with a pending connection and a stream with data (both readable), and an idle
/// stream (not readable): the kinds of sources one Python list often mixes.
struct MixedSources {
    listener: std::net::TcpListener,
    stream: Stream,
    idle: Stream,
    _peers: [std::net::TcpStream; 1],
    _stream_peers: [Stream; 2],
}

fn mixed_sources() -> MixedSources {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, mut peer) = pair();
    let (idle, idle_peer) = pair();
    peer.write_all(b"x").unwrap();
    wait_readable(&listener);
    wait_readable(&stream);
    MixedSources {
        listener,
        stream,
        idle,
        _peers: [client],
        _stream_peers: [peer, idle_peer],
    }
}

/// One list mixes kinds of sources through their borrowed descriptors (`as_source()`): the
/// listener and the stream with data are readable, the idle stream is not.
#[test]
fn one_list_mixes_kinds_of_sources() {
    let m = mixed_sources();
    let list = [
        m.idle.as_source(),
        m.listener.as_source(),
        m.stream.as_source(),
    ];
    let (r, w, x) = select(&refs(&list), &refs(&list), &[], ZERO).unwrap();
    assert_eq!(positions(&r, &list), [1, 2]);
    assert_eq!(positions(&w, &list), [0, 2], "a listener is never writable");
    assert!(x.is_empty());
}

/// Python's mixed `inputs = [server, conn]`, as `&dyn AsFd` items: std lends a descriptor
/// through `&T` for unsized `T` from Rust 1.78 (so the MSRV run leaves this out; `as_source()`
/// above works on every version).
#[cfg(all(unix, not(ioselectors_msrv)))]
#[test]
fn one_list_of_dyn_asfd_items_holds_a_listener_and_its_connections() {
    use std::os::unix::io::AsFd;

    let m = mixed_sources();
    let inputs: [&dyn AsFd; 3] = [&m.listener, &m.idle, &m.stream];
    let (r, _, _) = select(&refs(&inputs), &[], &[], ZERO).unwrap();
    assert_eq!(
        positions(&r, &inputs),
        [0, 2],
        "the caller's own items, in list order"
    );
}

/// select(2) cannot watch an fd at or above FD_SETSIZE: `InvalidInput` naming the fd and
/// FD_SETSIZE, in any list; one below the limit is fine.
// Unix only: Winsock numbers sockets freely, and FD_SETSIZE is no limit there.
#[cfg(unix)]
#[test]
fn fd_at_or_above_fd_setsize_is_invalid_input_naming_the_fd() {
    use ioselectors::select::FD_SETSIZE;
    use std::io::ErrorKind;
    use std::os::unix::io::AsRawFd;

    let (rd, _wr) = pair();
    let last = dup_at(&rd, FD_SETSIZE as RawSource - 1);
    assert_eq!(
        last.as_raw_fd() as usize,
        FD_SETSIZE - 1,
        "FD_SETSIZE - 1 is in use"
    );
    let last = [&last];
    let (_, w, _) = select(&[], &refs(&last), &[], ZERO).unwrap();
    assert_eq!(w.len(), 1, "fd FD_SETSIZE - 1 is watched");

    let high = dup_at(&rd, FD_SETSIZE as RawSource);
    let fd = high.as_raw_fd();
    let list = [rd.as_source(), high.as_source()];
    let none: &[BorrowedSource<'_>] = &[];
    for (r, w, x) in [
        (&list[..], none, none),
        (none, &list[..], none),
        (none, none, &list[..]),
    ] {
        let (elapsed, result) = timed(|| select(r, w, x, SOON));
        let err = refused(result);
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(&format!("fd {fd} ")), "{err}");
        assert!(err.to_string().contains("FD_SETSIZE"), "{err}");
        assert!(elapsed < LATE, "refused only after waiting: {elapsed:?}");
        let mut selected = Selected::new();
        let err = select_into(r, w, x, ZERO, &mut selected).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
}

/// A list of more than `FD_SETSIZE` items (one socket repeated) is `InvalidInput`, as
/// Python's "too many file descriptors in select()"; `FD_SETSIZE` items are fine.
// Unix only: Windows' `select()` has no such limit.
#[cfg(unix)]
#[test]
fn more_than_fd_setsize_items_is_invalid_input() {
    use ioselectors::select::FD_SETSIZE;
    use std::io::ErrorKind;
    let (a, _b) = pair();
    let full = vec![&a; FD_SETSIZE];
    let (_, w, _) = select(&[], &refs(&full), &[], ZERO).unwrap();
    assert_eq!(w.len(), FD_SETSIZE);
    let over = vec![&a; FD_SETSIZE + 1];
    for (r, w, x) in [
        (&over[..], &[][..], &[][..]),
        (&[][..], &over[..], &[][..]),
        (&[][..], &[][..], &over[..]),
    ] {
        let err = refused(select(r, w, x, ZERO));
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(
            err.to_string()
                .starts_with("too many file descriptors in select()"),
            "{err}"
        );
    }
}

/// A negative number (only `unsafe` code can lend one) is `InvalidInput` naming it and its
/// place, as Python's `ValueError`.
#[cfg(unix)]
#[test]
fn negative_number_is_invalid_input() {
    use std::io::ErrorKind;
    use std::os::unix::io::BorrowedFd;
    // SAFETY: a number no descriptor has; `select()` refuses it before any system call.
    let negative = unsafe { BorrowedFd::borrow_raw(-2) };
    let (a, _b) = pair();
    let list = [a.as_source(), negative];
    let err = refused(select(&refs(&list), &[], &[], ZERO));
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(err.to_string(), "invalid file descriptor -2 (rlist[1])");
}

/// Three empty lists sleep for the whole timeout (Windows too, where Winsock itself would
/// refuse them with WSAEINVAL).
#[test]
fn three_empty_lists_sleep_for_the_timeout() {
    let timeout = Duration::from_millis(300);
    let (elapsed, result) = timed(|| select::<&Stream>(&[], &[], &[], Some(timeout)));
    let (r, w, x) = result.unwrap();
    assert!(r.is_empty() && w.is_empty() && x.is_empty());
    assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    assert!(elapsed < LATE, "took {elapsed:?}");

    let mut selected = Selected::new();
    let (elapsed, count) = timed(|| select_into(NONE, NONE, NONE, Some(timeout), &mut selected));
    assert_eq!(count.unwrap(), 0);
    assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    assert!(elapsed < LATE, "took {elapsed:?}");
}

/// A number closed and then reused by another file reports the new file's readiness: the
/// old file's pending data leaves no ghost, even through a reused `Selected`.
// Unix only: Windows does not let a test pick a handle's value.
#[cfg(unix)]
#[test]
fn reused_number_reports_the_new_file() {
    let (old, mut old_peer) = pair();
    let old = lonely(old);
    let number = fd_of(&old);
    old_peer.write_all(b"old data").unwrap();
    wait_readable(&old);
    let mut selected = Selected::new();
    select_into(&[&old], &[&old], NONE, ZERO, &mut selected).unwrap();
    assert_eq!(
        (selected.readable(), selected.writable()),
        (&[0][..], &[0][..])
    );
    drop(old);

    let (new, _new_peer) = pair();
    let new = lonely_at(new, number);
    assert_eq!(fd_of(&new), number, "the number was not reused");
    select_into(&[&new], &[&new], &[&new], ZERO, &mut selected).unwrap();
    assert!(selected.readable().is_empty(), "the old file's data leaked");
    assert_eq!(selected.writable(), [0]);
    assert!(selected.exceptional().is_empty());
    let list = [&new];
    let (r, w, _) = select(&refs(&list), &refs(&list), &[], ZERO).unwrap();
    assert!(r.is_empty());
    assert_eq!(w.len(), 1);
}

/// A failed non-blocking connect: readable and writable, not exceptional, on Linux;
/// on Windows only exceptional (the reason `selectors` passes the write list as xlist there).
#[test]
fn failed_connect() {
    let socket = refused_connect();
    let list = [&socket];
    if cfg!(windows) {
        let (_, _, x) = select(&[], &[], &refs(&list), SOON).unwrap();
        assert_eq!(x.len(), 1, "the failure is reported in xlist");
        let (r, w, _) = select(&refs(&list), &refs(&list), &[], ZERO).unwrap();
        assert!(r.is_empty() && w.is_empty(), "{} {}", r.len(), w.len());
    } else {
        let (_, w, _) = select(&[], &refs(&list), &[], SOON).unwrap();
        assert_eq!(w.len(), 1, "the failure is reported in wlist");
        let (r, w, x) = select(&refs(&list), &refs(&list), &refs(&list), ZERO).unwrap();
        assert_eq!((r.len(), w.len()), (1, 1));
        if cfg!(any(target_os = "linux", target_os = "android")) {
            assert!(x.is_empty());
        }
    }
    assert!(socket.take_error().unwrap().is_some(), "the connect failed");
}

// ---- timeouts

/// A wait with nothing ready lasts at least its timeout, and returns empty.
#[test]
fn timeout_is_never_cut_short() {
    let (rd, _wr) = pair();
    let list = [&rd];
    let timeout = Duration::from_millis(300);
    let (elapsed, result) = timed(|| select(&refs(&list), &[], &refs(&list), Some(timeout)));
    let (r, w, x) = result.unwrap();
    assert!(r.is_empty() && w.is_empty() && x.is_empty());
    assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    assert!(elapsed < LATE, "took {elapsed:?}");
}

/// `Some(ZERO)` only looks: it returns at once, with what is ready and nothing else.
#[test]
fn zero_timeout_returns_at_once() {
    let (rd, _wr) = pair();
    let list = [&rd];
    let (elapsed, result) = timed(|| select(&refs(&list), &[], &refs(&list), ZERO));
    let (r, w, x) = result.unwrap();
    assert!(r.is_empty() && w.is_empty() && x.is_empty());
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    let (elapsed, result) = timed(|| select(&refs(&list), &refs(&list), &[], ZERO));
    let (r, w, _) = result.unwrap();
    assert!(r.is_empty());
    assert_eq!(w.len(), 1);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

/// A sub-millisecond timeout is rounded up, never down to a busy zero: each wait lasts at
/// least what was asked.
#[test]
fn sub_millisecond_timeout_waits_at_least_that_long() {
    let (rd, _wr) = pair();
    let list = [&rd];
    let timeout = Duration::from_micros(100);
    for _ in 0..20 {
        let (elapsed, result) = timed(|| select(&refs(&list), &[], &[], Some(timeout)));
        assert!(result.unwrap().0.is_empty());
        assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    }
}

/// A timeout too long for the kernel (Python: `OverflowError`) is clamped, not refused.
#[test]
fn huge_timeout_is_not_an_error() {
    let (rd, _wr) = pair();
    let list = [&rd];
    for timeout in [Duration::MAX, Duration::from_secs(u64::from(u32::MAX) + 1)] {
        let (_, w, _) = select(&[], &refs(&list), &[], Some(timeout)).unwrap();
        assert_eq!(w.len(), 1);
    }
}

/// `None` blocks until something is ready.
#[test]
fn none_blocks_until_ready() {
    let (rd, mut wr) = pair();
    let list = [&rd];
    let writer = std::thread::spawn(move || {
        wr.write_all(b"x").unwrap();
        wr
    });
    let (r, w, x) = select(&refs(&list), &[], &[], None).unwrap();
    assert_eq!(r.len(), 1);
    assert!(w.is_empty() && x.is_empty());
    drop(writer.join().unwrap());
}

/// PEP 475: signals landing during the wait (every 10 ms, to this thread, with a handler that
/// does nothing) are retried with the time left: the wait still lasts its full timeout and
/// returns empty, not `Interrupted`.
// Unix only: Windows has no POSIX signals.
#[cfg(unix)]
#[test]
fn signals_do_not_cut_the_wait_short() {
    let (rd, _wr) = pair();
    let list = [&rd];
    let timeout = Duration::from_millis(500);
    let ((elapsed, result), signals) =
        under_signal_storm(|| timed(|| select(&refs(&list), &[], &refs(&list), Some(timeout))));
    let (r, w, x) = result.expect("EINTR must not surface");
    assert!(r.is_empty() && w.is_empty() && x.is_empty());
    assert!(signals >= 5, "only {signals} signals arrived");
    assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    assert!(elapsed < LATE, "took {elapsed:?}");
}
