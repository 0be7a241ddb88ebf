//! `select::Kqueue` and `KEvent`: ports of CPython's `Lib/test/test_kqueue.py`, plus what
//! it does not cover (EV_ERROR and EV_RECEIPT entries, filters' modes, timeouts). kqueue
//! cannot run on Linux: these run in the macOS and FreeBSD jobs of the GitHub workflow.
#![cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
use ioselectors::select::*;
use std::collections::HashSet;
use std::io;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::Duration;
use std::time::Instant;

fn ident(source: &impl AsRawFd) -> usize {
    source.as_raw_fd() as usize
}

fn idents(events: &[KEvent]) -> HashSet<(usize, KqFilter)> {
    events.iter().map(|ev| (ev.ident, ev.filter)).collect()
}

fn add(kq: &Kqueue, source: &impl AsFd, filter: KqFilter) {
    let change = KEvent::fd(source, filter, KqFlags::ADD | KqFlags::ENABLE);
    kq.control(&[change], &mut KqueueEvents::with_capacity(0), None)
        .unwrap();
}

/// A connected TCP loopback pair, without Nagle's delay.
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (server, client)
}

/// A number no test opens: kevent on it fails with EBADF.
const CLOSED_FD: usize = 999_999;

#[test]
fn create_queue() {
    let kq = Kqueue::new().unwrap();
    assert!(kq.as_raw_fd() > 0);
    assert_eq!(kq.as_fd().as_raw_fd(), kq.as_raw_fd());
    kq.close().unwrap();
}

#[test]
fn fd_non_inheritable() {
    let kq = Kqueue::new().unwrap();
    let flags = rustix::io::fcntl_getfd(&kq).unwrap();
    assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
}

#[test]
fn kqueue_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Kqueue>();
    check::<KEvent>();
}

#[test]
fn from_fd_and_into_fd() {
    let kq = Kqueue::new().unwrap();
    let raw = kq.as_raw_fd();
    let fd: OwnedFd = kq.into();
    assert_eq!(fd.as_raw_fd(), raw);
    let kq = Kqueue::from(fd);
    assert_eq!(kq.as_raw_fd(), raw);
    assert!(kq
        .control_vec(&[], 1, Some(Duration::ZERO))
        .unwrap()
        .is_empty());
    assert!(format!("{kq:?}").contains(&raw.to_string()));
}

#[test]
fn create_event() {
    let file = std::fs::File::open("/dev/null").unwrap();
    let fd = ident(&file);

    // select.kevent(fd)
    let ev = KEvent::fd(&file, KQ_FILTER_READ, KQ_EV_ADD);
    let other = KEvent::new(1000, KqFilter::READ, KqFlags::ADD);
    assert_eq!(ev.ident, fd);
    assert_eq!(ev.filter, KQ_FILTER_READ);
    assert_eq!(ev.flags, KQ_EV_ADD);
    assert_eq!(ev.fflags, KqNotes::empty());
    assert_eq!(ev.data, 0);
    assert_eq!(ev.udata, 0);
    assert_eq!(ev, ev);
    assert_ne!(ev, other);
    assert!(ev < other);
    assert!(other >= ev);

    let ev = KEvent::fd(&file, KQ_FILTER_WRITE, KQ_EV_ADD);
    assert_eq!(
        (ev.ident, ev.filter, ev.flags),
        (fd, KQ_FILTER_WRITE, KQ_EV_ADD)
    );
    assert_ne!(ev, other);

    let ev = KEvent::fd(&file, KQ_FILTER_WRITE, KQ_EV_ONESHOT);
    assert_eq!(
        (ev.ident, ev.filter, ev.flags),
        (fd, KQ_FILTER_WRITE, KQ_EV_ONESHOT)
    );

    // select.kevent(1, 2, 3, 4, 5, 6)
    let ev = KEvent::new(1, KqFilter::from_raw(2), KqFlags::from_bits_retain(3))
        .with_fflags(KqNotes::from_bits_retain(4))
        .with_data(5)
        .with_udata(6);
    assert_eq!(ev.ident, 1);
    assert_eq!(ev.filter.raw(), 2);
    assert_eq!(ev.flags.bits(), 3);
    assert_eq!(ev.fflags.bits(), 4);
    assert_eq!(ev.data, 5);
    assert_eq!(ev.udata, 6);
    assert_eq!(ev, ev);
    assert_ne!(ev, other);

    let bignum = 0x7fff;
    let ev = KEvent {
        ident: bignum,
        filter: KqFilter::from_raw(1),
        flags: KqFlags::from_bits_retain(2),
        fflags: KqNotes::from_bits_retain(3),
        data: bignum as i64 - 1,
        udata: bignum,
    };
    assert_eq!(
        (ev.ident, ev.data, ev.udata),
        (bignum, bignum as i64 - 1, bignum)
    );
    assert_ne!(ev, other);

    // Issue 11973: the widest flags and fflags survive.
    let ev = KEvent::new(0, KqFilter::from_raw(1), KqFlags::from_bits_retain(0xffff));
    assert_eq!(ev.flags.bits(), 0xffff);
    let ev = ev.with_fflags(KqNotes::from_bits_retain(0xffff_ffff));
    assert_eq!(ev.fflags.bits(), 0xffff_ffff);
}

#[test]
fn events_compare_field_by_field() {
    let base = KEvent::new(5, KqFilter::READ, KqFlags::ADD);
    // ident first, whatever the other fields.
    assert!(base.with_udata(100) < KEvent::new(6, KqFilter::READ, KqFlags::ADD));
    // then filter (by number), flags, fflags, data and udata.
    let (low, high) = if KqFilter::READ < KqFilter::WRITE {
        (KqFilter::READ, KqFilter::WRITE)
    } else {
        (KqFilter::WRITE, KqFilter::READ)
    };
    assert!(
        KEvent {
            filter: low,
            ..base
        } < KEvent {
            filter: high,
            ..base
        }
    );
    assert!(
        base < KEvent {
            flags: KqFlags::ADD | KqFlags::ENABLE,
            ..base
        }
    );
    assert!(base < base.with_fflags(KqNotes::LOWAT));
    assert!(base.with_data(-1) < base);
    assert!(base < base.with_udata(1));
    let set: HashSet<KEvent> = [base, base, base.with_udata(1)].into_iter().collect();
    assert_eq!(set.len(), 2);
}

#[test]
fn debug_names_filters() {
    assert_eq!(format!("{:?}", KqFilter::READ), "KqFilter::READ");
    assert_eq!(format!("{:?}", KqFilter::USER), "KqFilter::USER");
    assert_eq!(format!("{:?}", KqFilter::from_raw(77)), "KqFilter(77)");
    let flags = format!("{:?}", KqFlags::ADD | KqFlags::EOF);
    assert!(flags.contains("ADD") && flags.contains("EOF"), "{flags}");
}

#[test]
fn constants_are_the_platforms() {
    assert_eq!(KQ_FILTER_READ.raw(), libc::EVFILT_READ);
    assert_eq!(KQ_FILTER_WRITE.raw(), libc::EVFILT_WRITE);
    assert_eq!(KQ_FILTER_TIMER.raw(), libc::EVFILT_TIMER);
    #[cfg(not(target_os = "netbsd"))]
    assert_eq!(
        [
            KQ_FILTER_READ,
            KQ_FILTER_WRITE,
            KQ_FILTER_AIO,
            KQ_FILTER_VNODE
        ]
        .map(KqFilter::raw),
        [-1, -2, -3, -4]
    );
    #[cfg(target_os = "netbsd")]
    assert_eq!(
        [
            KQ_FILTER_READ,
            KQ_FILTER_WRITE,
            KQ_FILTER_AIO,
            KQ_FILTER_VNODE
        ]
        .map(KqFilter::raw),
        [0, 1, 2, 3]
    );
    assert_eq!(KQ_EV_ADD.bits(), 0x1);
    assert_eq!(KQ_EV_CLEAR.bits(), 0x20);
    assert_eq!(KQ_EV_ERROR.bits(), 0x4000);
    assert_eq!(KQ_EV_EOF.bits(), 0x8000);
    #[cfg(any(target_os = "openbsd", target_os = "dragonfly"))]
    assert_eq!(KQ_EV_SYSFLAGS.bits(), 0xf800);
    #[cfg(not(any(target_os = "openbsd", target_os = "dragonfly")))]
    assert_eq!(KQ_EV_SYSFLAGS.bits(), 0xf000);
    assert_eq!(KQ_NOTE_LOWAT.bits(), 0x1);
    assert_eq!(KQ_NOTE_EXIT.bits(), 0x8000_0000);
    assert_eq!(KQ_NOTE_PDATAMASK.bits(), 0x000f_ffff);
    assert!(KQ_NOTE_PCTRLMASK.contains(KQ_NOTE_EXIT | KQ_NOTE_FORK | KQ_NOTE_EXEC));
    assert_eq!(KQ_NOTE_CHILD.bits(), 0x4);
}

#[test]
fn queue_event() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();

    let kq = Kqueue::new().unwrap();
    // kqueue.fromfd(kq.fileno()), without two owners of one number: a duplicate.
    let kq2 = Kqueue::from_fd(kq.as_fd().try_clone_to_owned().unwrap());

    add(&kq, &server, KqFilter::WRITE);
    add(&kq, &server, KqFilter::READ);
    add(&kq2, &client, KqFilter::WRITE);
    add(&kq2, &client, KqFilter::READ);

    let events = kq
        .control_vec(&[], 4, Some(Duration::from_secs(1)))
        .unwrap();
    let expected: HashSet<_> = [
        (ident(&client), KqFilter::WRITE),
        (ident(&server), KqFilter::WRITE),
    ]
    .into_iter()
    .collect();
    assert_eq!(idents(&events), expected);

    client.write_all(b"Hello!").unwrap();
    server.write_all(b"world!!!").unwrap();

    // We may need to call it several times.
    let mut storage = KqueueEvents::with_capacity(4);
    for _ in 0..10 {
        kq.control(&[], &mut storage, Some(Duration::from_secs(1)))
            .unwrap();
        if storage.len() == 4 {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let events: Vec<KEvent> = storage.iter().collect();
    let expected: HashSet<_> = [
        (ident(&client), KqFilter::WRITE),
        (ident(&client), KqFilter::READ),
        (ident(&server), KqFilter::WRITE),
        (ident(&server), KqFilter::READ),
    ]
    .into_iter()
    .collect();
    assert_eq!(idents(&events), expected);
    let server_read = events
        .iter()
        .find(|ev| ev.ident == ident(&server) && ev.filter == KqFilter::READ)
        .unwrap();
    assert_eq!(server_read.data, 6); // b"Hello!" is ready

    // Remove completely client, and server read part.
    let delete = |source: &TcpStream, filter| KEvent::fd(source, filter, KqFlags::DELETE);
    kq.control(
        &[delete(&client, KqFilter::WRITE)],
        &mut KqueueEvents::with_capacity(0),
        None,
    )
    .unwrap();
    kq.control(
        &[delete(&client, KqFilter::READ)],
        &mut KqueueEvents::with_capacity(0),
        None,
    )
    .unwrap();
    kq.control(
        &[delete(&server, KqFilter::READ)],
        &mut KqueueEvents::with_capacity(0),
        Some(Duration::ZERO),
    )
    .unwrap();

    let events = kq
        .control_vec(&[], 4, Some(Duration::from_millis(990)))
        .unwrap();
    let expected: HashSet<_> = [(ident(&server), KqFilter::WRITE)].into_iter().collect();
    assert_eq!(idents(&events), expected);

    let mut buf = [0; 8];
    server.read_exact(&mut buf[..6]).unwrap();
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"world!!!");
}

#[test]
fn pair() {
    let kq = Kqueue::new().unwrap();
    let (mut a, mut b) = UnixStream::pair().unwrap();

    a.write_all(b"foo").unwrap();
    let event1 = KEvent::fd(&a, KqFilter::READ, KqFlags::ADD | KqFlags::ENABLE);
    let event2 = KEvent::fd(&b, KqFilter::READ, KqFlags::ADD | KqFlags::ENABLE);
    let r = kq
        .control_vec(&[event1, event2], 1, Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(r.len(), 1);
    assert!(!r[0].flags.contains(KqFlags::ERROR));
    assert_eq!(r[0].ident, ident(&b));
    let mut buf = vec![0; r[0].data as usize];
    b.read_exact(&mut buf).unwrap();
    assert_eq!(buf, b"foo");
}

#[test]
fn issue30058_changes_with_zero_capacity() {
    let kq = Kqueue::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let ev = KEvent::fd(&a, KqFilter::READ, KqFlags::ADD | KqFlags::ENABLE);

    assert_eq!(
        kq.control(&[ev], &mut KqueueEvents::with_capacity(0), None)
            .unwrap(),
        0
    );
    // Adding it again modifies it: no error.
    assert_eq!(
        kq.control(&[ev, ev], &mut KqueueEvents::with_capacity(0), None)
            .unwrap(),
        0
    );
    assert_eq!(kq.control_vec(&[ev], 0, None).unwrap(), []);
}

#[test]
fn zero_capacity_returns_at_once() {
    let kq = Kqueue::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    add(&kq, &a, KqFilter::READ);
    b.write_all(b"x").unwrap();
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        let none = kq.control(&[], &mut KqueueEvents::with_capacity(0), None);
        let long = kq.control(
            &[],
            &mut KqueueEvents::with_capacity(0),
            Some(Duration::from_secs(60)),
        );
        done.send((none.unwrap(), long.unwrap(), start.elapsed()))
            .unwrap();
    });
    let (none, long, elapsed) = result.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!((none, long), (0, 0));
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn events_fill_the_capacity_only() {
    let kq = Kqueue::new().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    add(&kq, &a, KqFilter::WRITE);
    add(&kq, &b, KqFilter::WRITE);

    let events = kq.control_vec(&[], 1, Some(Duration::ZERO)).unwrap();
    assert_eq!(events.len(), 1);

    // `control` returns at most the storage's capacity, and forgets the last call's results.
    let mut events = KqueueEvents::with_capacity(1);
    for _ in 0..2 {
        let n = kq.control(&[], &mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(
            (n, events.len(), events.capacity()),
            (1, 1, 1),
            "{events:?}"
        );
        assert!(events.iter().all(|ev| ev.filter == KqFilter::WRITE));
    }

    // READ and WRITE of one descriptor are two registrations, two results.
    add(&kq, &a, KqFilter::READ);
    let mut b = b;
    b.write_all(b"x").unwrap();
    let events = kq
        .control_vec(&[], 8, Some(Duration::from_secs(1)))
        .unwrap();
    let expected: HashSet<_> = [
        (ident(&a), KqFilter::READ),
        (ident(&a), KqFilter::WRITE),
        (ident(&b), KqFilter::WRITE),
    ]
    .into_iter()
    .collect();
    assert_eq!(idents(&events), expected);
}

#[test]
fn failed_change_with_room_is_an_error_entry() {
    let kq = Kqueue::new().unwrap();
    let change = KEvent::new(CLOSED_FD, KqFilter::READ, KqFlags::ADD).with_udata(7);
    let events = kq
        .control_vec(&[change], 4, Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].ident, CLOSED_FD);
    assert_eq!(events[0].filter, KqFilter::READ);
    assert!(events[0].flags.contains(KqFlags::ERROR));
    assert_eq!(events[0].data, i64::from(libc::EBADF));
}

#[test]
fn failed_change_without_room_is_the_error() {
    let kq = Kqueue::new().unwrap();
    let change = KEvent::new(CLOSED_FD, KqFilter::READ, KqFlags::ADD);
    let err = kq
        .control(&[change], &mut KqueueEvents::with_capacity(0), None)
        .unwrap_err();
    // The kernel's error, as it gave it (Python: `e.errno == errno.EBADF`).
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");

    // Deleting what is not registered: ENOENT, FileNotFoundError in Python.
    let (a, _b) = UnixStream::pair().unwrap();
    let delete = KEvent::fd(&a, KqFilter::READ, KqFlags::DELETE);
    let err = kq
        .control(&[delete], &mut KqueueEvents::with_capacity(0), None)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn receipt_reports_each_change() {
    let kq = Kqueue::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    b.write_all(b"pending").unwrap();
    let changes = [
        KEvent::fd(&a, KqFilter::READ, KqFlags::ADD | KqFlags::RECEIPT),
        KEvent::new(CLOSED_FD, KqFilter::READ, KqFlags::ADD | KqFlags::RECEIPT),
    ];
    let events = kq
        .control_vec(&changes, 4, Some(Duration::from_secs(1)))
        .unwrap();
    // Two statuses, and not the pending READ event.
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|ev| ev.flags.contains(KqFlags::ERROR)));
    let status = |fd| events.iter().find(|ev| ev.ident == fd).unwrap().data;
    assert_eq!(status(ident(&a)), 0);
    assert_eq!(status(CLOSED_FD), i64::from(libc::EBADF));
    // The registration was made: the event comes now.
    let events = kq
        .control_vec(&[], 4, Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(
        idents(&events),
        [(ident(&a), KqFilter::READ)].into_iter().collect()
    );
}

#[test]
fn udata_and_data_come_back() {
    let kq = Kqueue::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let change = KEvent::fd(&a, KqFilter::READ, KqFlags::ADD).with_udata(0xfeed);
    kq.control(&[change], &mut KqueueEvents::with_capacity(0), None)
        .unwrap();
    b.write_all(b"12345").unwrap();
    let events = kq
        .control_vec(&[], 4, Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].udata, 0xfeed);
    assert_eq!(events[0].data, 5);
    assert!(!events[0].flags.contains(KqFlags::EOF));

    // The peer is gone: EOF.
    drop(b);
    let events = kq
        .control_vec(&[], 4, Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(events.len(), 1);
    assert!(events[0].flags.contains(KqFlags::EOF), "{events:?}");
}

#[test]
fn low_water_mark() {
    let kq = Kqueue::new().unwrap();
    let (a, mut b) = tcp_pair();
    // select.kevent(a, KQ_FILTER_READ, KQ_EV_ADD, KQ_NOTE_LOWAT, 5)
    let change = KEvent::fd(&a, KqFilter::READ, KqFlags::ADD)
        .with_fflags(KqNotes::LOWAT)
        .with_data(5);
    kq.control(&[change], &mut KqueueEvents::with_capacity(0), None)
        .unwrap();
    b.write_all(b"123").unwrap();
    let events = kq
        .control_vec(&[], 4, Some(Duration::from_millis(200)))
        .unwrap();
    assert!(events.is_empty(), "{events:?}");
    b.write_all(b"45").unwrap();
    let events = kq
        .control_vec(&[], 4, Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, 5);
}

#[test]
fn level_oneshot_and_clear() {
    let kq = Kqueue::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let (c, mut d) = UnixStream::pair().unwrap();
    let (e, mut f) = UnixStream::pair().unwrap();
    kq.control(
        &[
            KEvent::fd(&a, KqFilter::READ, KqFlags::ADD),
            KEvent::fd(&c, KqFilter::READ, KqFlags::ADD | KqFlags::ONESHOT),
            KEvent::fd(&e, KqFilter::READ, KqFlags::ADD | KqFlags::CLEAR),
        ],
        &mut KqueueEvents::with_capacity(0),
        None,
    )
    .unwrap();
    for w in [&mut b, &mut d, &mut f] {
        w.write_all(b"x").unwrap();
    }
    let first = kq
        .control_vec(&[], 8, Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(first.len(), 3, "{first:?}");
    // Nothing was read: level-triggered reports again, ONESHOT and CLEAR do not.
    let second = kq.control_vec(&[], 8, Some(Duration::ZERO)).unwrap();
    assert_eq!(
        idents(&second),
        [(ident(&a), KqFilter::READ)].into_iter().collect()
    );
    // ONESHOT deleted its registration.
    let delete = KEvent::fd(&c, KqFilter::READ, KqFlags::DELETE);
    let err = kq
        .control(&[delete], &mut KqueueEvents::with_capacity(0), None)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    // CLEAR reports new data.
    f.write_all(b"y").unwrap();
    let third = kq
        .control_vec(&[], 8, Some(Duration::from_secs(1)))
        .unwrap();
    assert!(
        idents(&third).contains(&(ident(&e), KqFilter::READ)),
        "{third:?}"
    );
}

#[test]
fn closing_a_descriptor_removes_its_registrations() {
    let kq = Kqueue::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    // Unlike epoll, kqueue tracks the descriptor: closing a duplicate ends the
    // registration made through it even though `a` keeps the socket open.
    let dup = a.try_clone().unwrap();
    add(&kq, &dup, KqFilter::READ);
    drop(dup);
    b.write_all(b"x").unwrap();
    let events = kq
        .control_vec(&[], 4, Some(Duration::from_millis(100)))
        .unwrap();
    assert!(events.is_empty(), "{events:?}");
    drop(a);
}

#[test]
fn timeout_does_not_return_early() {
    let kq = Kqueue::new().unwrap();
    for timeout in [Duration::from_millis(200), Duration::from_micros(1500)] {
        let start = Instant::now();
        let events = kq.control_vec(&[], 4, Some(timeout)).unwrap();
        let elapsed = start.elapsed();
        assert!(events.is_empty());
        assert!(elapsed >= timeout, "{elapsed:?} < {timeout:?}");
        assert!(elapsed < timeout + Duration::from_secs(5), "{elapsed:?}");
    }
    let start = Instant::now();
    assert!(kq
        .control_vec(&[], 4, Some(Duration::ZERO))
        .unwrap()
        .is_empty());
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn timer_filter() {
    let kq = Kqueue::new().unwrap();
    // A 10 ms one-shot timer (milliseconds are the default unit everywhere).
    let timer = KEvent::new(1, KqFilter::TIMER, KqFlags::ADD | KqFlags::ONESHOT)
        .with_data(10)
        .with_udata(99);
    let start = Instant::now();
    let events = kq
        .control_vec(&[timer], 4, Some(Duration::from_secs(5)))
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].ident, events[0].filter), (1, KqFilter::TIMER));
    assert_eq!(events[0].udata, 99);
}

#[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
#[test]
fn user_filter_wakes_a_waiting_thread() {
    let kq = std::sync::Arc::new(Kqueue::new().unwrap());
    let user = KEvent::new(7, KqFilter::USER, KqFlags::ADD | KqFlags::CLEAR);
    kq.control(&[user], &mut KqueueEvents::with_capacity(0), None)
        .unwrap();
    let waiter = {
        let kq = kq.clone();
        std::thread::spawn(move || kq.control_vec(&[], 4, Some(Duration::from_secs(30))))
    };
    std::thread::sleep(Duration::from_millis(50));
    let trigger = KEvent::new(7, KqFilter::USER, KqFlags::empty()).with_fflags(KqNotes::TRIGGER);
    kq.control(&[trigger], &mut KqueueEvents::with_capacity(0), None)
        .unwrap();
    let events = waiter.join().unwrap().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].ident, events[0].filter), (7, KqFilter::USER));
}

#[test]
fn close_reports_success_once() {
    let kq = Kqueue::new().unwrap();
    let kq2 = Kqueue::from_fd(kq.as_fd().try_clone_to_owned().unwrap());
    kq.close().unwrap();
    // The duplicate still names the kqueue.
    assert!(kq2
        .control_vec(&[], 1, Some(Duration::ZERO))
        .unwrap()
        .is_empty());
    kq2.close().unwrap();
}
