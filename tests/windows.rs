//! What only Windows has: sockets only, and Winsock `select` beyond its 64-socket default.
#![cfg(windows)]

mod common;
use common::*;
use std::io::ErrorKind;
use std::os::windows::io::{AsRawHandle, BorrowedSocket, RawSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A handle that is not a socket, lent as one (only `unsafe` code can do this), gets
/// `InvalidInput` with a message that says why, and nothing is registered.
fn refused(s: &mut Selector<impl Backend, Data>, handle: &impl AsRawHandle) {
    // SAFETY: deliberately not a socket; the selector only asks Winsock what it is, and the
    // handle outlives the borrow.
    let not_a_socket = unsafe { BorrowedSocket::borrow_raw(handle.as_raw_handle() as RawSocket) };
    let err = s
        .register(&not_a_socket, EVENT_READ, "not a socket")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(
        err.to_string()
            .contains("Windows selectors take sockets only"),
        "{err}"
    );
    assert!(s.get_map().unwrap().is_empty());
}

// Files, anonymous pipes and the console are what users try to register on Windows.

fn file_is_refused(mut s: Selector<impl Backend, Data>) {
    refused(&mut s, &tempfile::tempfile().unwrap());
}

fn pipe_is_refused(mut s: Selector<impl Backend, Data>) {
    // A child's stdout is an anonymous pipe. The child is this test binary, listing its tests.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--list")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    refused(&mut s, &stdout);
    std::io::copy(&mut stdout, &mut std::io::sink()).unwrap();
    assert!(child.wait().unwrap().success());
}

fn stdin_is_refused(mut s: Selector<impl Backend, Data>) {
    refused(&mut s, &std::io::stdin());
}

macro_rules! sockets_only {
    ($name:ident, $selector:ty, $new:expr) => {
        mod $name {
            use super::*;

            fn new() -> $selector {
                $new.expect("create selector")
            }

            #[test]
            fn file() {
                file_is_refused(new())
            }

            #[test]
            fn pipe() {
                pipe_is_refused(new())
            }

            #[test]
            fn stdin() {
                stdin_is_refused(new())
            }
        }
    };
}

mod sockets_only {
    use super::*;
    for_every_selector!(sockets_only);
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
