//! The conformance cases: CPython's `test_selectors.py` (BaseSelectorTestCase, and the
//! backend tests that apply to every backend here) plus extra edge cases CPython does not test.
//! Each takes a fresh selector, so the suite runs unchanged on every backend.

use super::*;
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

const ZERO: Option<Duration> = Some(Duration::ZERO);

/// Generous upper bound for "returned after the timeout": CI machines are slow and noisy.
const LATE: Duration = Duration::from_secs(5);

fn assert_kind<T: std::fmt::Debug>(
    result: io::Result<T>,
    kind: ErrorKind,
    mentions: &str,
) -> io::Error {
    let err = result.expect_err("the call should have failed");
    assert_eq!(err.kind(), kind, "{err}");
    assert!(
        err.to_string().contains(mentions),
        "{err:?} should mention {mentions:?}"
    );
    err
}

// ---- test_register
pub fn register(mut s: Selector<impl Backend, Data>) {
    let (rd, _wr) = pair();
    let key = s.register(&rd, EVENT_READ, "data").unwrap().clone();
    assert_eq!(
        key,
        SelectorKey {
            fd: fd_of(&rd),
            events: EVENT_READ,
            data: "data"
        }
    );

    // Invalid events are refused (and checked before anything else).
    let (other, _peer) = pair();
    let fd = fd_of(&other);
    let err = assert_kind(
        s.register(&other, Events::from_bits_retain(999_999), "x"),
        ErrorKind::InvalidInput,
        &format!("fd {fd}"),
    );
    assert_eq!(
        cause(&err),
        Some(&SelectorError::InvalidEvents {
            fd,
            events: Events::from_bits_retain(999_999)
        })
    );
    assert_kind(
        s.register(&other, Events::empty(), "x"),
        ErrorKind::InvalidInput,
        "invalid events 0x0",
    );
    assert_kind(
        s.register(&other, Events::from_bits_retain(4), "x"),
        ErrorKind::InvalidInput,
        "0x4",
    );
    assert_kind(s.get_key(&other), ErrorKind::NotFound, "not registered");

    // Already registered: through the same source, or another handle to the same fd.
    let err = assert_kind(
        s.register(&rd, EVENT_READ, "again"),
        ErrorKind::AlreadyExists,
        "already registered",
    );
    assert_eq!(
        cause(&err),
        Some(&SelectorError::AlreadyRegistered { fd: key.fd })
    );
    #[cfg(unix)]
    {
        use std::os::unix::io::AsFd;
        assert_kind(
            s.register(&rd.as_fd(), EVENT_WRITE, "again"),
            ErrorKind::AlreadyExists,
            "already registered",
        );
    }
    // The refused calls left the first registration alone.
    assert_eq!(*s.get_key(&rd).unwrap(), key);
}

/// A number that can never name an open source: a negative fd on Unix (Python's
/// `register(-10, EVENT_READ)`), `INVALID_SOCKET` on Windows.
#[cfg(unix)]
pub const INVALID: RawSource = -10;
#[cfg(windows)]
pub const INVALID: RawSource = RawSource::MAX;

/// An invalid number cannot be registered from safe code (`register` borrows an open
/// source); every lookup refuses it with `InvalidInput`.
pub fn invalid_fd(mut s: Selector<impl Backend, Data>) {
    let err = assert_kind(
        s.get_key(INVALID),
        ErrorKind::InvalidInput,
        &format!("invalid file descriptor {INVALID}"),
    );
    assert_eq!(cause(&err), Some(&SelectorError::InvalidFd { fd: INVALID }));
    assert_kind(
        s.unregister(INVALID),
        ErrorKind::InvalidInput,
        &INVALID.to_string(),
    );
    assert_kind(
        s.modify(INVALID, EVENT_READ, "x"),
        ErrorKind::InvalidInput,
        &INVALID.to_string(),
    );
    assert!(s.get_map().unwrap().get(INVALID).is_none());
}

// ---- test_unregister
pub fn unregister(mut s: Selector<impl Backend, Data>) {
    let (rd, _wr) = pair();
    s.register(&rd, EVENT_READ, "rd").unwrap();
    let key = s.unregister(&rd).unwrap();
    assert_eq!(key.data, "rd");
    assert_kind(
        s.unregister(999_999 as RawSource),
        ErrorKind::NotFound,
        "fd 999999 is not registered",
    );
    assert_kind(s.unregister(&rd), ErrorKind::NotFound, "not registered");
    assert!(s.get_map().unwrap().is_empty());
}

// ---- test_unregister_after_fd_close
pub fn unregister_after_fd_close(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    let (r, w) = (fd_of(&rd), fd_of(&wr));
    s.register(r_source(&rd), EVENT_READ, "r").unwrap();
    s.register(&wr, EVENT_WRITE, "w").unwrap();
    drop(rd);
    drop(wr);
    assert_eq!(s.unregister(r).unwrap().data, "r");
    assert_eq!(s.unregister(w).unwrap().data, "w");
    assert!(s.get_map().unwrap().is_empty());
}

fn r_source(stream: &Stream) -> &Stream {
    stream
}

// ---- test_unregister_after_fd_close_and_reuse
pub fn unregister_after_fd_close_and_reuse(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    // Numbers of their own, so that no test running in parallel reopens them (Unix).
    let (rd, wr) = (lonely(rd), lonely(wr));
    let (r, w) = (fd_of(&rd), fd_of(&wr));
    s.register(&rd, EVENT_READ, "r").unwrap();
    s.register(&wr, EVENT_WRITE, "w").unwrap();
    drop((rd, wr));
    // The old numbers now name other sockets (CPython: os.dup2; Windows reuses handles).
    let (r2, w2) = (reuse_number(r), reuse_number(w));
    assert_eq!(s.unregister(r).unwrap().data, "r");
    assert_eq!(s.unregister(w).unwrap().data, "w");
    // The reused numbers can be registered afresh, and work.
    s.register(&r2, EVENT_WRITE, "r2").unwrap();
    s.register(&w2, EVENT_READ, "w2").unwrap();
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        ready,
        vec![(
            SelectorKey {
                fd: r,
                events: EVENT_WRITE,
                data: "r2"
            },
            EVENT_WRITE
        )]
    );
}

// ---- test_unregister_after_socket_close: the key (and its data) comes back by number.
pub fn unregister_after_socket_close(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    let (r, w) = (fd_of(&rd), fd_of(&wr));
    s.register(&rd, EVENT_READ, "rd").unwrap();
    s.register(&wr, EVENT_WRITE, "wr").unwrap();
    drop((rd, wr));
    assert_eq!(
        s.unregister(r).unwrap(),
        SelectorKey {
            fd: r,
            events: EVENT_READ,
            data: "rd"
        }
    );
    assert_eq!(
        s.unregister(w).unwrap(),
        SelectorKey {
            fd: w,
            events: EVENT_WRITE,
            data: "wr"
        }
    );
}

// ---- test_modify
pub fn modify(mut s: Selector<impl Backend, Data>) {
    let (rd, _wr) = pair();
    let key = s.register(&rd, EVENT_READ, "d1").unwrap().clone();
    let key2 = s.modify(&rd, EVENT_WRITE, "d1").unwrap().clone();
    assert_ne!(key.events, key2.events);
    assert_eq!(key2, *s.get_key(&rd).unwrap());
    s.unregister(&rd).unwrap();

    let key = s.register(&rd, EVENT_READ, "d1").unwrap().clone();
    let key2 = s.modify(&rd, EVENT_READ, "d2").unwrap().clone();
    assert_eq!(key.events, key2.events);
    assert_ne!(key.data, key2.data);
    assert_eq!(key2, *s.get_key(&rd).unwrap());
    assert_eq!(key2.data, "d2");

    assert_kind(
        s.modify(999_999 as RawSource, EVENT_READ, "x"),
        ErrorKind::NotFound,
        "fd 999999 is not registered",
    );
}

/// The fast path (test_modify's mocks, black-box): with the fd closed behind the selector's
/// back, a data-only modify still succeeds, because it makes no syscall.
pub fn modify_data_only_makes_no_syscall(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    let r = fd_of(&rd);
    s.register(&rd, EVENT_READ, "old").unwrap();
    drop((rd, wr));
    assert_eq!(s.modify(r, EVENT_READ, "new").unwrap().data, "new");
    assert_eq!(s.get_key(r).unwrap().data, "new");
    s.unregister(r).unwrap();
}

/// test_modify_unregister: when the OS refuses an events change, the error comes back
/// unchanged. Diverging from CPython (which drops the key), the old registration is kept.
pub fn modify_refused_keeps_registration(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    let r = fd_of(&rd);
    s.register(&rd, EVENT_READ, "old").unwrap();
    drop((rd, wr));
    match s.modify(r, EVENT_WRITE, "new") {
        // Kernel-backed registrations (epoll, kqueue, IOCP) refuse a closed fd.
        Err(err) => {
            assert!(cause(&err).is_none(), "the OS error is passed on: {err:?}");
            assert_eq!(
                *s.get_key(r).unwrap(),
                SelectorKey {
                    fd: r,
                    events: EVENT_READ,
                    data: "old"
                }
            );
        }
        // poll and select keep their interest sets in user space: nothing to refuse.
        Ok(key) => assert_eq!(
            *key,
            SelectorKey {
                fd: r,
                events: EVENT_WRITE,
                data: "new"
            }
        ),
    }
    s.unregister(r).unwrap();
}

/// An invalid mask is refused by modify, and the registration stays as it was.
pub fn modify_invalid_events_keeps_registration(mut s: Selector<impl Backend, Data>) {
    let (rd, _wr) = pair();
    let key = s.register(&rd, EVENT_READ, "old").unwrap().clone();
    for bad in [Events::empty(), Events::from_bits_retain(999_999)] {
        let err = assert_kind(
            s.modify(&rd, bad, "new"),
            ErrorKind::InvalidInput,
            &format!("fd {}", key.fd),
        );
        assert_eq!(
            cause(&err),
            Some(&SelectorError::InvalidEvents {
                fd: key.fd,
                events: bad
            })
        );
        assert_eq!(*s.get_key(&rd).unwrap(), key);
    }
}

/// Every selector is `Send` (its data is) and `Debug` (whatever its data).
/// Every selector is `Send` and `Sync` when its data is (checked at compile time by the
/// bound), and shareable: `&sel` crosses threads.
pub fn send_and_debug<B: Backend>(s: Selector<B, Data>)
where
    Selector<B, Data>: Send + Sync + std::fmt::Debug + 'static,
{
    let shown = format!("{s:?}");
    assert!(
        shown.starts_with("Selector {") && shown.contains("registered: 0"),
        "{shown}"
    );
    std::thread::scope(|scope| {
        scope.spawn(|| assert!(s.get_map().unwrap().is_empty()));
    });
    std::thread::spawn(move || drop(s)).join().unwrap();
}

// ---- test_close (and test_context_manager's "closed after the block")
pub fn close(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    let fd = fd_of(&rd);
    s.register(&rd, EVENT_READ, "rd").unwrap();
    s.register(&wr, EVENT_WRITE, "wr").unwrap();
    s.close();
    let err = assert_kind(s.get_key(&rd), ErrorKind::Other, "the selector is closed");
    assert_eq!(
        err.to_string(),
        format!("cannot get_key fd {fd}: the selector is closed")
    );
    let expected = SelectorError::Closed {
        operation: "get_key",
        fd: Some(fd),
    };
    assert_eq!(cause(&err), Some(&expected));
    assert_kind(s.get_key(&wr), ErrorKind::Other, "closed");
    let get_map = s.get_map().map(|m| m.len());
    assert_kind(
        get_map,
        ErrorKind::Other,
        "cannot get_map: the selector is closed",
    );
    assert_kind(
        s.select(ZERO),
        ErrorKind::Other,
        "cannot select: the selector is closed",
    );
    assert_kind(
        s.register(&rd, EVENT_READ, "x"),
        ErrorKind::Other,
        &format!("cannot register fd {fd}"),
    );
    assert_kind(
        s.modify(&rd, EVENT_WRITE, "x"),
        ErrorKind::Other,
        &format!("cannot modify fd {fd}"),
    );
    assert_kind(
        s.unregister(&rd),
        ErrorKind::Other,
        &format!("cannot unregister fd {fd}"),
    );
    s.close(); // idempotent
}

// ---- test_get_key
pub fn get_key(mut s: Selector<impl Backend, Data>) {
    let (rd, _wr) = pair();
    let key = s.register(&rd, EVENT_READ, "data").unwrap().clone();
    assert_eq!(key, *s.get_key(&rd).unwrap());
    assert_eq!(key, *s.get_key(fd_of(&rd)).unwrap());
    assert_kind(
        s.get_key(999_999 as RawSource),
        ErrorKind::NotFound,
        "fd 999999 is not registered",
    );
}

// ---- test_get_map (and that the view is live)
pub fn get_map(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    {
        let keys = s.get_map().unwrap();
        assert!(keys.is_empty());
        assert_eq!(keys.len(), 0);
        assert_eq!(keys.keys().count(), 0);
        assert!(keys.get(&rd).is_none());
        assert!(!keys.contains(&rd));
    }
    let key = s.register(&rd, EVENT_READ, "data").unwrap().clone();
    {
        let keys = s.get_map().unwrap();
        assert!(keys.contains(&rd));
        assert!(keys.contains(fd_of(&rd)));
        assert_eq!(keys.get(&rd), Some(&key));
        assert_eq!(keys.len(), 1);
        assert!(!keys.is_empty());
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec![fd_of(&rd)]);
        assert_eq!(keys.values().collect::<Vec<_>>(), vec![&key]);
        assert_eq!(keys.iter().collect::<Vec<_>>(), vec![(fd_of(&rd), &key)]);
        assert!(keys.get(999_999 as RawSource).is_none());
        assert!(format!("{keys:?}").contains("data"));
    }
    s.register(&wr, EVENT_WRITE, "wr").unwrap();
    s.modify(&rd, EVENT_READ | EVENT_WRITE, "both").unwrap();
    let keys = s.get_map().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.get(&rd).unwrap().events, EVENT_READ | EVENT_WRITE);
    let mut fds: Vec<_> = keys.keys().collect();
    fds.sort_unstable();
    let mut expected = vec![fd_of(&rd), fd_of(&wr)];
    expected.sort_unstable();
    assert_eq!(fds, expected);
}

// ---- test_select
pub fn select(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    s.register(&rd, EVENT_READ, "rd").unwrap();
    let wr_key = s.register(&wr, EVENT_WRITE, "wr").unwrap().clone();
    let result = s.select(None).unwrap();
    for (_, events) in &result {
        assert!(!events.is_empty() && Events::all().contains(*events));
    }
    assert_eq!(result, vec![(wr_key, EVENT_WRITE)]);
}

// ---- test_select_read_write: one entry with both events, also on kqueue.
pub fn select_read_write(mut s: Selector<impl Backend, Data>) {
    let (sock1, mut sock2) = pair();
    sock2.write_all(b"foo").unwrap();
    let my_key = s
        .register(&sock1, EVENT_READ | EVENT_WRITE, "both")
        .unwrap()
        .clone();
    let result = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(result, vec![(my_key, EVENT_READ | EVENT_WRITE)]);
}

// ---- test_selector: 12 pairs, one message at a time, exactly the peer becomes readable.
pub fn selector(mut s: Selector<impl Backend, Data>) {
    const MSG: &[u8] = b" This is a test.";
    let mut pairs: Vec<(Stream, Stream)> = (0..12).map(|_| pair()).collect();
    let mut writers: Vec<RawSource> = Vec::new();
    for (rd, wr) in &pairs {
        s.register(rd, EVENT_READ, "reader").unwrap();
        s.register(wr, EVENT_WRITE, "writer").unwrap();
        writers.push(fd_of(wr));
    }
    let mut received = Vec::new();
    let mut turn = 0usize;
    while !writers.is_empty() {
        let ready = s.select(None).unwrap();
        let ready_writers: Vec<RawSource> = ready
            .iter()
            .filter(|(_, ev)| ev.contains(EVENT_WRITE))
            .map(|(k, _)| k.fd)
            .collect();
        assert!(!ready_writers.is_empty());
        let wr_fd = ready_writers[turn % ready_writers.len()];
        turn += 7;
        let index = pairs.iter().position(|(_, wr)| fd_of(wr) == wr_fd).unwrap();
        let (rd, wr) = &mut pairs[index];
        wr.write_all(MSG).unwrap();

        let ready = s.select(Some(Duration::from_secs(5))).unwrap();
        let readers: Vec<RawSource> = ready
            .iter()
            .filter(|(_, ev)| ev.contains(EVENT_READ))
            .map(|(k, _)| k.fd)
            .collect();
        assert_eq!(readers, vec![fd_of(rd)], "exactly the peer is readable");
        let mut buf = [0u8; 16];
        rd.read_exact(&mut buf).unwrap();
        received.push(buf);
        s.unregister(&*rd).unwrap();
        s.unregister(&*wr).unwrap();
        writers.retain(|&fd| fd != wr_fd);
    }
    assert_eq!(received.len(), 12);
    assert!(received.iter().all(|buf| buf == MSG));
}

// ---- test_empty_select
pub fn empty_select(mut s: Selector<impl Backend, Data>) {
    assert!(s.select(ZERO).unwrap().is_empty());
}

// ---- test_timeout
pub fn timeout(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    s.register(&wr, EVENT_WRITE, "wr").unwrap();
    let (elapsed, ()) = timed(|| {
        assert_eq!(s.select(ZERO).unwrap().len(), 1);
        assert_eq!(s.select(ZERO).unwrap().len(), 1);
    });
    assert!(elapsed < LATE);
    s.unregister(&wr).unwrap();
    s.register(&rd, EVENT_READ, "rd").unwrap();
    let (elapsed, ()) = timed(|| {
        assert!(s.select(ZERO).unwrap().is_empty());
        assert!(s.select(ZERO).unwrap().is_empty());
    });
    assert!(elapsed < LATE);
    assert_full_wait(&mut s, Duration::from_secs(1));
}

/// A select with nothing ready returns empty, not before `timeout` and not very late.
fn assert_full_wait(s: &mut Selector<impl Backend, Data>, timeout: Duration) {
    let (elapsed, result) = timed(|| s.select(Some(timeout)).unwrap());
    assert!(result.is_empty());
    assert!(
        elapsed >= timeout,
        "{timeout:?} returned early, after {elapsed:?}"
    );
    assert!(elapsed < LATE, "{timeout:?} took {elapsed:?}");
}

/// test_empty_select_timeout (kqueue's in CPython; here every backend): nothing registered,
/// and the timeout is still served in full.
pub fn empty_select_timeout(mut s: Selector<impl Backend, Data>) {
    assert_full_wait(&mut s, Duration::from_secs(1));
}

/// A sub-millisecond timeout is rounded up, never down to a busy poll.
pub fn sub_millisecond_timeout(mut s: Selector<impl Backend, Data>) {
    let (rd, _wr) = pair();
    s.register(&rd, EVENT_READ, "rd").unwrap();
    for micros in [1, 100, 999, 1500] {
        assert_full_wait(&mut s, Duration::from_micros(micros));
    }
}

/// A registered fd closed without unregistering is still registered (a stale key):
/// its reused number is refused until the stale key is unregistered.
pub fn stale_registration_after_close(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    let rd = lonely(rd);
    let r = fd_of(&rd);
    s.register(&rd, EVENT_READ, "stale").unwrap();
    drop((rd, wr));
    let reused = reuse_number(r);
    assert_kind(
        s.register(&reused, EVENT_READ, "fresh"),
        ErrorKind::AlreadyExists,
        &format!("fd {r}"),
    );
    assert_eq!(s.unregister(r).unwrap().data, "stale");
    s.register(&reused, EVENT_WRITE, "fresh").unwrap();
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        ready,
        vec![(
            SelectorKey {
                fd: r,
                events: EVENT_WRITE,
                data: "fresh"
            },
            EVENT_WRITE
        )]
    );
}

/// A new socket (bound UDP: always writable) whose number is `r`, which was just closed.
#[cfg(unix)]
fn reuse_number(r: RawSource) -> std::net::UdpSocket {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let socket = std::net::UdpSocket::from(dup_at(&socket, r));
    assert_eq!(fd_of(&socket), r, "fd {r} was taken by someone else");
    socket
}

/// A new socket (bound UDP: always writable) whose handle is `r`, which was just closed:
/// Windows hands a freed handle out again soon.
#[cfg(windows)]
fn reuse_number(r: RawSource) -> std::net::UdpSocket {
    let mut spare = Vec::new();
    loop {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        if fd_of(&socket) == r {
            return socket;
        }
        spare.push(socket);
        assert!(spare.len() < 1000, "handle {r} was not reused");
    }
}

/// Keys are snapshots, and a handler may register, modify and unregister while it
/// walks the list that `select()` returned.
pub fn snapshot_and_callbacks(mut s: Selector<impl Backend, Data>) {
    let (a, mut a_peer) = pair();
    let (b, mut b_peer) = pair();
    let (c, _c_peer) = pair();
    s.register(&a, EVENT_READ, "a").unwrap();
    s.register(&b, EVENT_READ, "b").unwrap();
    a_peer.write_all(b"1").unwrap();
    b_peer.write_all(b"1").unwrap();
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready.len(), 2);
    let mut seen = Vec::new();
    for (key, events) in &ready {
        seen.push((key.data, *events));
        if key.data == "a" {
            s.unregister(&b).unwrap();
            s.register(&c, EVENT_WRITE, "c").unwrap();
            s.modify(&a, EVENT_READ, "a2").unwrap();
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, vec![("a", EVENT_READ), ("b", EVENT_READ)]);
    assert_eq!(s.get_key(&a).unwrap().data, "a2");
    assert!(s.get_key(&b).is_err());
}

/// Level-triggered: what is not consumed is reported again, on every call.
pub fn level_triggered(mut s: Selector<impl Backend, Data>) {
    let (rd, mut wr) = pair();
    let key = s.register(&rd, EVENT_READ, "rd").unwrap().clone();
    wr.write_all(b"xy").unwrap();
    for _ in 0..3 {
        assert_eq!(
            s.select(Some(Duration::from_secs(5))).unwrap(),
            vec![(key.clone(), EVENT_READ)]
        );
    }
    let mut buf = [0u8; 2];
    (&rd).read_exact(&mut buf).unwrap();
    assert!(s.select(ZERO).unwrap().is_empty());
}

/// Ready events are masked by the registered interest.
pub fn masked_by_interest(mut s: Selector<impl Backend, Data>) {
    let (rd, mut wr) = pair();
    wr.write_all(b"x").unwrap();
    // rd is readable and writable; registered for WRITE only, READ must not show.
    let key = s.register(&rd, EVENT_WRITE, "rd").unwrap().clone();
    assert_eq!(
        s.select(Some(Duration::from_secs(5))).unwrap(),
        vec![(key, EVENT_WRITE)]
    );
    // wr is writable, not readable; registered for READ only, nothing is ready.
    s.register(&wr, EVENT_READ, "wr").unwrap();
    s.unregister(&rd).unwrap();
    assert!(s.select(ZERO).unwrap().is_empty());
}

/// Hang-up counts as ready for what was registered (the cases every backend shares).
pub fn hangup_is_ready(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    let key = s.register(&rd, EVENT_READ, "rd").unwrap().clone();
    drop(wr);
    assert_eq!(
        s.select(Some(Duration::from_secs(5))).unwrap(),
        vec![(key, EVENT_READ)]
    );
}

/// Every ready fd comes back from one `select()` (the event buffer follows the number of
/// registrations), each once.
pub fn all_ready_in_one_call(mut s: Selector<impl Backend, Data>) {
    // 200 fds: far from FD_SETSIZE even with other tests' sockets open in parallel.
    let pairs: Vec<(Stream, Stream)> = (0..100).map(|_| pair()).collect();
    for (a, b) in &pairs {
        s.register(a, EVENT_WRITE, "a").unwrap();
        s.register(b, EVENT_READ | EVENT_WRITE, "b").unwrap();
    }
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready.len(), 200);
    let mut fds: Vec<RawSource> = ready.iter().map(|(key, _)| key.fd).collect();
    fds.sort_unstable();
    fds.dedup();
    assert_eq!(fds.len(), 200, "one entry per fd");
    assert!(ready.iter().all(|(_, events)| *events == EVENT_WRITE));
}

/// `select_into` fills a reusable buffer, clearing it first.
pub fn select_into_reuses_buffer(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    let key = s.register(&wr, EVENT_WRITE, "wr").unwrap().clone();
    let mut ready = Vec::with_capacity(4);
    ready.push((key.clone(), EVENT_READ)); // stale content is cleared
    assert_eq!(s.select_into(ZERO, &mut ready).unwrap(), 1);
    assert_eq!(ready, vec![(key, EVENT_WRITE)]);
    s.unregister(&wr).unwrap();
    s.register(&rd, EVENT_READ, "rd").unwrap();
    assert_eq!(s.select_into(ZERO, &mut ready).unwrap(), 0);
    assert!(ready.is_empty());
}

/// A `Waker` makes a `select(None)` blocked in another thread return.
pub fn waker_unblocks_select(mut s: Selector<impl Backend, Data>) {
    let waker = Waker::new().unwrap();
    let (rd, _wr) = pair();
    s.register(&rd, EVENT_READ, "rd").unwrap();
    let key = s.register(&waker, EVENT_READ, "waker").unwrap().clone();
    assert!(s.select(ZERO).unwrap().is_empty());
    let remote = waker.clone();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        remote.wake().unwrap();
        remote.wake().unwrap(); // waking twice is fine
    });
    let (elapsed, ready) = timed(|| s.select(None).unwrap());
    assert_eq!(ready, vec![(key, EVENT_READ)]);
    assert!(elapsed < LATE);
    thread.join().unwrap();
    waker.reset().unwrap();
    assert!(
        s.select(ZERO).unwrap().is_empty(),
        "reset makes the waker quiet again"
    );
    waker.reset().unwrap(); // resetting a quiet waker is fine
}

/// A non-blocking `connect` that fails is reported as WRITE (on Windows' select through the
/// except set, as CPython does), so the caller learns of it through `SO_ERROR`.
pub fn failed_connect_is_writable(mut s: Selector<impl Backend, Data>) {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let socket = match start_connect(closed_port) {
        Ok(socket) => socket,
        // Refused at once (some loopbacks do): nothing left to wait for.
        Err(err) if err.kind() == ErrorKind::ConnectionRefused => return,
        Err(err) => panic!("unexpected connect result {err:?}"),
    };
    let key = s
        .register(&socket, EVENT_WRITE, "connecting")
        .unwrap()
        .clone();
    // Windows retries a refused SYN for about 2 s before it gives up.
    let ready = s.select(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(ready, vec![(key, EVENT_WRITE)]);
    let error = socket.take_error().unwrap().expect("the connect failed");
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
}

/// A socket whose non-blocking connect to `addr` has started (or already completed).
fn start_connect(addr: std::net::SocketAddr) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => Ok(socket),
        // EINPROGRESS on Unix; WSAEWOULDBLOCK (WouldBlock) on Windows.
        Err(err) if err.kind() == ErrorKind::WouldBlock || in_progress(&err) => Ok(socket),
        Err(err) => Err(err),
    }
}

#[cfg(unix)]
fn in_progress(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINPROGRESS)
}

#[cfg(windows)]
fn in_progress(err: &io::Error) -> bool {
    err.raw_os_error() == Some(10036) // WSAEINPROGRESS
}

/// socketserver's pattern: a listener registered for READ is ready when a client connects.
pub fn listener_accept_is_readable(mut s: Selector<impl Backend, Data>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let key = s
        .register(&listener, EVENT_READ, "listener")
        .unwrap()
        .clone();
    assert!(s.select(ZERO).unwrap().is_empty());
    let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    assert_eq!(
        s.select(Some(Duration::from_secs(5))).unwrap(),
        vec![(key.clone(), EVENT_READ)]
    );
    let (conn, _) = listener.accept().unwrap();
    assert!(
        s.select(ZERO).unwrap().is_empty(),
        "accepted: no longer ready"
    );
    let conn_key = s.register(&conn, EVENT_WRITE, "conn").unwrap().clone();
    assert_eq!(
        s.select(Some(Duration::from_secs(5))).unwrap(),
        vec![(conn_key, EVENT_WRITE)]
    );
}

/// A UDP socket is readable once a datagram waits, and no longer once it is read.
pub fn udp_datagram_is_readable(mut s: Selector<impl Backend, Data>) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let key = s.register(&socket, EVENT_READ, "udp").unwrap().clone();
    assert!(s.select(ZERO).unwrap().is_empty());
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sender
        .send_to(b"ping", socket.local_addr().unwrap())
        .unwrap();
    assert_eq!(
        s.select(Some(Duration::from_secs(5))).unwrap(),
        vec![(key, EVENT_READ)]
    );
    let mut buf = [0u8; 8];
    assert_eq!(socket.recv(&mut buf).unwrap(), 4);
    assert!(s.select(ZERO).unwrap().is_empty());
}

/// Unregistering from the middle of the backend's array or sets keeps the others watched,
/// with their own interest.
pub fn unregister_keeps_the_rest(mut s: Selector<impl Backend, Data>) {
    let pairs: Vec<(Stream, Stream)> = (0..5).map(|_| pair()).collect();
    for (a, _) in &pairs {
        s.register(a, EVENT_WRITE, "a").unwrap();
    }
    s.unregister(&pairs[1].0).unwrap();
    s.modify(&pairs[4].0, EVENT_READ, "quiet").unwrap();
    s.unregister(&pairs[0].0).unwrap();
    let mut fds: Vec<_> = s
        .select(Some(Duration::from_secs(5)))
        .unwrap()
        .into_iter()
        .map(|(k, _)| k.fd)
        .collect();
    fds.sort_unstable();
    let mut expected: Vec<_> = [2, 3].iter().map(|&i| fd_of(&pairs[i].0)).collect();
    expected.sort_unstable();
    assert_eq!(fds, expected);
}

/// A source can be registered again after it was unregistered, with other events.
pub fn reregister_after_unregister(mut s: Selector<impl Backend, Data>) {
    let (rd, mut wr) = pair();
    wr.write_all(b"x").unwrap();
    for round in 0..3 {
        let key = s.register(&rd, EVENT_READ, "read").unwrap().clone();
        assert_eq!(
            s.select(Some(Duration::from_secs(5))).unwrap(),
            vec![(key, EVENT_READ)],
            "round {round}"
        );
        s.unregister(&rd).unwrap();
        let key = s.register(&rd, EVENT_WRITE, "write").unwrap().clone();
        assert_eq!(
            s.select(Some(Duration::from_secs(5))).unwrap(),
            vec![(key, EVENT_WRITE)],
            "round {round}"
        );
        s.unregister(&rd).unwrap();
        assert!(s.select(ZERO).unwrap().is_empty());
    }
}

/// pty_helper's and kafka's pattern: interest moves between READ, WRITE and both, and each
/// change is what the next select() reports.
pub fn modify_cycles(mut s: Selector<impl Backend, Data>) {
    let (rd, mut wr) = pair();
    wr.write_all(b"x").unwrap(); // rd is readable and writable from here on
    s.register(&rd, EVENT_READ, "r").unwrap();
    for events in [
        EVENT_WRITE,
        EVENT_READ | EVENT_WRITE,
        EVENT_READ,
        EVENT_WRITE,
        EVENT_READ,
    ] {
        let key = s.modify(&rd, events, "r").unwrap().clone();
        assert_eq!(
            s.select(Some(Duration::from_secs(5))).unwrap(),
            vec![(key, events)]
        );
    }
}

/// subprocess's pattern: when the peer shuts down its writing side, the reader is ready and
/// reads end-of-file.
pub fn half_close_is_readable_eof(mut s: Selector<impl Backend, Data>) {
    let (rd, wr) = pair();
    let key = s.register(&rd, EVENT_READ, "rd").unwrap().clone();
    assert!(s.select(ZERO).unwrap().is_empty());
    wr.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(
        s.select(Some(Duration::from_secs(5))).unwrap(),
        vec![(key, EVENT_READ)]
    );
    assert_eq!((&rd).read(&mut [0u8; 4]).unwrap(), 0);
}

/// A source closed behind the selector's back, once unregistered by number, does not
/// disturb the others.
pub fn closed_source_does_not_disturb_others(mut s: Selector<impl Backend, Data>) {
    let (a, a_peer) = pair();
    let (b, _b_peer) = pair();
    let a_fd = fd_of(&a);
    s.register(&a, EVENT_READ, "a").unwrap();
    let key = s.register(&b, EVENT_WRITE, "b").unwrap().clone();
    drop((a, a_peer));
    s.unregister(a_fd).unwrap();
    assert_eq!(
        s.select(Some(Duration::from_secs(5))).unwrap(),
        vec![(key, EVENT_WRITE)]
    );
}

/// kafka-python's pattern: a non-blocking connect is complete when the socket is writable.
pub fn connect_success_is_writable(mut s: Selector<impl Backend, Data>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let socket = start_connect(listener.local_addr().unwrap()).unwrap();
    let key = s
        .register(&socket, EVENT_WRITE, "connecting")
        .unwrap()
        .clone();
    assert_eq!(
        s.select(Some(Duration::from_secs(10))).unwrap(),
        vec![(key, EVENT_WRITE)]
    );
    assert!(socket.take_error().unwrap().is_none());
    assert_eq!(
        socket.peer_addr().unwrap().as_socket(),
        Some(listener.local_addr().unwrap())
    );
}

/// test_select_interrupt_exc without signals: a wake-up from another thread ends a long timed
/// wait early, with the waker's key.
pub fn waker_interrupts_timed_select(mut s: Selector<impl Backend, Data>) {
    let waker = Waker::new().unwrap();
    let key = s.register(&waker, EVENT_READ, "waker").unwrap().clone();
    let remote = waker.clone();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        remote.wake().unwrap();
    });
    let (elapsed, ready) = timed(|| s.select(Some(Duration::from_secs(30))).unwrap());
    thread.join().unwrap();
    assert_eq!(ready, vec![(key, EVENT_READ)]);
    assert!(
        elapsed >= Duration::from_millis(150),
        "returned before the wake-up: {elapsed:?}"
    );
    assert!(elapsed < LATE, "took {elapsed:?}");
}
