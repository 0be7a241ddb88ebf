//! What only Windows has: sockets only, and Winsock `select` beyond its 64-socket default.
#![cfg(windows)]

mod common;
use common::*;
use std::io::ErrorKind;
use std::os::windows::io::{AsRawHandle, BorrowedSocket, RawSocket};
use std::time::Duration;

/// A file handle lent as a socket (only `unsafe` code can do this) gets `InvalidInput` with a
/// message that says why, from every Windows selector.
fn file_is_refused(mut s: impl BaseSelector<Data>) {
    let file = tempfile::tempfile().unwrap();
    // SAFETY: deliberately not a socket; the selector only asks Winsock what it is, and the
    // file outlives the borrow.
    let not_a_socket = unsafe { BorrowedSocket::borrow_raw(file.as_raw_handle() as RawSocket) };
    let err = s.register(not_a_socket, EVENT_READ, "file").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(
        err.to_string()
            .contains("Windows selectors take sockets only"),
        "{err}"
    );
    assert!(s.get_map().unwrap().is_empty());
}

#[test]
fn default_selector_takes_sockets_only() {
    file_is_refused(DefaultSelector::new().unwrap());
}

#[test]
fn select_selector_takes_sockets_only() {
    file_is_refused(SelectSelector::new().unwrap());
}

/// Winsock's `FD_SETSIZE` is 64 (CPython compiles 512); the sets here are sized to fit.
#[test]
fn select_selector_watches_512_sockets() {
    let mut s = SelectSelector::<Data>::new().unwrap();
    let pairs: Vec<(Stream, Stream)> = (0..256).map(|_| pair()).collect();
    for (a, b) in &pairs {
        s.register(a, EVENT_READ | EVENT_WRITE, "a").unwrap();
        s.register(b, EVENT_WRITE, "b").unwrap();
    }
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready.len(), 512);
    assert!(ready.iter().all(|(_, events)| *events == EVENT_WRITE));
}
