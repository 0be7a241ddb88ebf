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
