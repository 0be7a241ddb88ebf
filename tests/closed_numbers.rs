//! A closed descriptor is never reported ready by `select()`, even where Linux's select(2)
//! does not see it: a number above the process's descriptor table is skipped by the kernel,
//! which leaves its bit set (no `EBADF`), and a reader of the bits would report it readable.
//! `select()` and `SelectSelector` answer `EBADF` instead, as they do for any other closed
//! number (and as the poll(2)-based `select()` of illumos does).
//!
//! Its own binary, its tests one at a time: the descriptor table only grows, so a number
//! above it exists only in a process that never opened one that high. Nothing here opens a
//! descriptor above 511 (the table stays at most 512 slots), and the forked children size
//! theirs to what is open.
// Unix only: descriptor numbers, fork.
#![cfg(unix)]

mod common;
use common::*;
use ioselectors::select::{select, select_into, Selected, FD_SETSIZE};
use std::io::Write;
use std::os::unix::io::{BorrowedFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const ZERO: Option<Duration> = Some(Duration::ZERO);

/// How many slots this process's descriptor table has (`FDSize` in /proc; Linux only, where
/// the phantom bits exist).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn table_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("FDSize:"))
        .unwrap();
    line["FDSize:".len()..].trim().parse().unwrap()
}

/// A number below `FD_SETSIZE` that this process has never opened, above its table.
fn never_opened() -> RawFd {
    let number = FD_SETSIZE as RawFd - 1;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    assert!(
        table_size() <= number as usize,
        "the table reaches {number}"
    );
    number
}

/// A socket pair whose first end is readable.
fn readable_pair() -> (Stream, Stream) {
    let (a, mut b) = pair();
    b.write_all(b"x").unwrap();
    let list = [&a];
    let none: &[&Stream] = &[];
    let (r, _, _) = select(&list, none, none, Some(Duration::from_secs(5))).unwrap();
    assert_eq!(r.len(), 1);
    (a, b)
}

/// The reproduction: `select(&[], &[ready], &[closed_above_table], 0)` listed the closed one
/// as exceptional (and, in the read list, readable). Now `EBADF` in every list, with
/// something else ready or not.
#[test]
fn a_number_above_the_descriptor_table_is_ebadf_in_every_list() {
    let _serial = serial();
    let (ready, _peer) = readable_pair();
    // SAFETY: deliberately a number that names nothing: select(2) only looks it up.
    let closed = unsafe { BorrowedFd::borrow_raw(never_opened()) };
    let ready = [ready.as_source()];
    let closed = [closed];
    let none: &[BorrowedSource<'_>] = &[];
    for (r, w, x) in [
        (&ready[..], none, &closed[..]),
        (&closed[..], &ready[..], none),
        (none, &closed[..], &ready[..]),
        (&ready[..], &ready[..], &closed[..]),
    ] {
        let err = select(r, w, x, ZERO).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
        let mut selected = Selected::new();
        let err = select_into(r, w, x, ZERO, &mut selected).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
    }
    // Nothing else ready: EBADF all the same (from select(2) after the timeout, as the kernel
    // does not see the number; from poll(2), where `select()` is served by it, at once).
    let result = select(&closed, none, none, Some(Duration::from_millis(50)));
    assert_eq!(result.unwrap_err().raw_os_error(), Some(libc::EBADF));
}

/// The reproduction through `SelectSelector`: register a descriptor, close it without
/// `unregister`, fork; in the child (whose table is sized to what is open, so the number is
/// above it) `select(0)` reported it `READ`. Now `EBADF`, as in the parent.
// Not on illumos and Solaris, which have no `SelectSelector`.
#[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
#[test]
fn select_selector_in_a_forked_child_answers_ebadf_for_a_closed_registration() {
    use std::os::unix::io::AsRawFd;
    let _serial = serial();
    let (ready, _peer) = readable_pair();
    let (gone, _gone_peer) = pair();
    let gone = lonely_at(gone, 400);
    let number = gone.as_raw_fd();
    let mut s = SelectSelector::<Data>::new().unwrap();
    s.register(&ready, EVENT_READ, "ready").unwrap();
    s.register(&gone, EVENT_READ, "gone").unwrap();
    drop(gone);
    let mut out = Vec::with_capacity(8);
    let in_parent = s.select_into(ZERO, &mut out).map(|_| out.clone());
    assert_eq!(
        in_parent.unwrap_err().raw_os_error(),
        Some(libc::EBADF),
        "below the table"
    );

    let code = in_child(|| match s.select_into(ZERO, &mut out) {
        Err(err) if err.raw_os_error() == Some(libc::EBADF) => 0,
        Err(_) => 1,
        Ok(_) if out.iter().any(|(key, _)| key.fd == number) => 2,
        Ok(_) => 3,
    });
    assert_eq!(
        code, 0,
        "1: another error, 2: the closed fd {number} was reported ready, 3: no error"
    );
}
