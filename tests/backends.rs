//! What differs per backend: CPython's backend-specific tests and the readiness each backend
//! reports for regular files, pipes and closed fds. Files, pipes, fcntl and fd numbers are Unix
//! matters; what concerns sockets runs on Windows too.

mod common;
use common::*;
#[cfg(unix)]
use std::io::ErrorKind;
#[cfg(unix)]
use std::os::unix::io::{BorrowedFd, OwnedFd};
use std::time::Duration;

const SOON: Option<Duration> = Some(Duration::from_secs(5));
const ZERO: Option<Duration> = Some(Duration::ZERO);

#[cfg(unix)]
fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe().expect("pipe")
}

#[cfg(unix)]
/// test_register_bad_fd: the kernel refuses a closed fd with EBADF and no key is left.
fn register_bad_fd_is_refused(mut s: Selector<impl Backend, Data>) {
    let fd = closed_number();
    // SAFETY: deliberately a closed fd, as CPython's test does: the selector only hands the
    // number to the kernel, which answers EBADF.
    let source = unsafe { BorrowedFd::borrow_raw(fd) };
    let err = s.register(&source, EVENT_READ, "bad").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
    assert_eq!(s.get_key(fd).unwrap_err().kind(), ErrorKind::NotFound);
}

/// test_register_file: epoll refuses regular files with the kernel's own error (EPERM, what
/// Python's `e.errno` holds), and no key is left.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn register_file_is_refused(mut s: Selector<impl Backend, Data>) {
    let file = tempfile::tempfile().unwrap();
    let err = s.register(&file, EVENT_READ, "file").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(err.get_ref().is_none(), "a bare OS error: {err:?}");
    assert_eq!(s.get_key(&file).unwrap_err().kind(), ErrorKind::NotFound);
}

#[cfg(unix)]
/// poll and select take regular files, which are always ready.
fn regular_file_is_always_ready(mut s: Selector<impl Backend, Data>) {
    let file = tempfile::tempfile().unwrap();
    let key = s
        .register(&file, EVENT_READ | EVENT_WRITE, "file")
        .unwrap()
        .clone();
    assert_eq!(
        s.select(SOON).unwrap(),
        vec![(key, EVENT_READ | EVENT_WRITE)]
    );
}

#[cfg(unix)]
/// The readiness of pipes that holds for poll, epoll and select alike.
fn pipe_hangups(mut s: Selector<impl Backend, Data>) {
    let (r, w) = pipe();
    let key = s.register(&r, EVENT_READ, "r").unwrap().clone();
    drop(w);
    assert_eq!(
        s.select(SOON).unwrap(),
        vec![(key, EVENT_READ)],
        "read end, writer closed"
    );
    s.unregister(&r).unwrap();

    let (r, w) = pipe();
    let key = s.register(&w, EVENT_READ, "w").unwrap().clone();
    drop(r);
    assert_eq!(
        s.select(SOON).unwrap(),
        vec![(key, EVENT_READ)],
        "write end, reader closed, READ"
    );
    let key = s.modify(&w, EVENT_WRITE, "w").unwrap().clone();
    assert_eq!(
        s.select(SOON).unwrap(),
        vec![(key, EVENT_WRITE)],
        "write end, reader closed, WRITE"
    );
}

#[cfg(unix)]
/// poll and epoll: hang-up is reported as whatever was registered, WRITE included.
fn hangup_reported_as_write(mut s: Selector<impl Backend, Data>) {
    let (r, w) = pipe();
    let key = s.register(&r, EVENT_WRITE, "r").unwrap().clone();
    drop(w);
    assert_eq!(s.select(SOON).unwrap(), vec![(key, EVENT_WRITE)]);
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll {
    use super::*;
    use std::os::unix::io::AsFd;

    #[test]
    fn fileno_lends_a_nestable_fd() {
        let mut inner = EpollSelector::<Data>::new().unwrap();
        let (rd, _wr) = pair();
        inner.register(&rd, EVENT_WRITE, "w").unwrap();
        let mut outer = EpollSelector::<Data>::new().unwrap();
        let key = outer
            .register(&inner.as_fd(), EVENT_READ, "inner")
            .unwrap()
            .clone();
        assert_eq!(outer.select(SOON).unwrap(), vec![(key, EVENT_READ)]);
    }

    #[test]
    fn register_bad_fd() {
        register_bad_fd_is_refused(EpollSelector::new().unwrap());
    }

    #[test]
    fn register_file() {
        register_file_is_refused(EpollSelector::new().unwrap());
    }

    #[test]
    fn modify_closed_fd_returns_ebadf_and_keeps_key() {
        let mut s = EpollSelector::new().unwrap();
        let (rd, wr) = pair();
        let rd = lonely(rd);
        let fd = fd_of(&rd);
        s.register(&rd, EVENT_READ, "old").unwrap();
        drop((rd, wr));
        let err = s.modify(fd, EVENT_WRITE, "new").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(
            *s.get_key(fd).unwrap(),
            SelectorKey {
                fd,
                events: EVENT_READ,
                data: "old"
            }
        );
    }

    #[test]
    fn pipes() {
        pipe_hangups(EpollSelector::new().unwrap());
        hangup_reported_as_write(EpollSelector::new().unwrap());
    }

    #[test]
    fn closed_registered_fd_is_silently_dropped() {
        let mut s = EpollSelector::new().unwrap();
        let (rd, mut wr) = pair();
        s.register(&rd, EVENT_READ, "rd").unwrap();
        std::io::Write::write_all(&mut wr, b"x").unwrap();
        drop(rd);
        assert!(s.select(ZERO).unwrap().is_empty());
    }
}

mod poll {
    use super::*;

    // Unix only: Windows selectors take sockets, not files.
    #[cfg(unix)]
    #[test]
    fn regular_file() {
        regular_file_is_always_ready(PollSelector::new().unwrap());
    }

    // Unix only: Windows selectors take sockets, not pipes.
    #[cfg(unix)]
    #[test]
    fn pipes() {
        pipe_hangups(PollSelector::new().unwrap());
        hangup_reported_as_write(PollSelector::new().unwrap());
    }

    /// A registered fd closed behind the selector's back comes back as POLLNVAL: ready for
    /// what it was registered for, on every call, until it is unregistered. (Windows
    /// documents POLLNVAL too; Wine's `WSAPoll` fails with WSAENOTSOCK instead, so there
    /// either answer is accepted.) Unregistering it recovers.
    #[test]
    fn closed_registered_fd_is_reported_ready() {
        let mut s = PollSelector::new().unwrap();
        let (rd, _wr) = pair();
        let rd = lonely(rd);
        let fd = fd_of(&rd);
        let key = s.register(&rd, EVENT_READ, "rd").unwrap().clone();
        drop(rd);
        for _ in 0..2 {
            match s.select(ZERO) {
                Ok(ready) => assert_eq!(ready, vec![(key.clone(), EVENT_READ)]),
                Err(err) if cfg!(windows) => assert_eq!(err.raw_os_error(), Some(10038)),
                Err(err) => panic!("{err}"),
            }
        }
        s.unregister(fd).unwrap();
        assert!(s.select(ZERO).unwrap().is_empty());
    }
}

#[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
mod select {
    use super::*;
    #[cfg(unix)]
    use ioselectors::select::FD_SETSIZE;

    // Unix only: Winsock numbers sockets freely; FD_SETSIZE caps only the count there.
    #[cfg(unix)]
    #[test]
    fn fd_at_or_above_fd_setsize_is_refused() {
        let mut s = SelectSelector::<Data>::new().unwrap();
        let (rd, _wr) = pair();
        let high = dup_at(&rd, FD_SETSIZE as RawSource);
        let err = s.register(&high, EVENT_READ, "high").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(
            err.to_string().contains(&format!("fd {} ", fd_of(&high))),
            "{err}"
        );
        assert!(err.to_string().contains("FD_SETSIZE"), "{err}");
        assert!(s.get_map().unwrap().is_empty());
        // One below the limit is fine.
        s.register(&rd, EVENT_READ, "low").unwrap();
    }

    // Unix only: Windows selectors take sockets, not files.
    #[cfg(unix)]
    #[test]
    fn regular_file() {
        regular_file_is_always_ready(SelectSelector::new().unwrap());
    }

    // Unix only: Windows selectors take sockets, not pipes.
    #[cfg(unix)]
    #[test]
    fn pipes() {
        pipe_hangups(SelectSelector::new().unwrap());
    }

    // Unix only: pipes.
    #[cfg(unix)]
    /// select(2) reports a pipe's hang-up in the read set only.
    #[test]
    fn hangup_not_reported_as_write() {
        let mut s = SelectSelector::new().unwrap();
        let (r, w) = pipe();
        s.register(&r, EVENT_WRITE, "r").unwrap();
        drop(w);
        assert!(s.select(ZERO).unwrap().is_empty());
    }

    /// A registered fd closed behind the selector's back makes select fail (EBADF; on
    /// Windows WSAENOTSOCK), as in Python; unregistering it recovers.
    #[test]
    fn closed_registered_fd_fails_select() {
        let mut s = SelectSelector::new().unwrap();
        let (rd, _wr) = pair();
        let rd = lonely(rd);
        let fd = fd_of(&rd);
        s.register(&rd, EVENT_READ, "rd").unwrap();
        drop(rd);
        #[cfg(unix)]
        let not_open = libc::EBADF;
        #[cfg(windows)]
        let not_open = 10038; // WSAENOTSOCK
        assert_eq!(s.select(ZERO).unwrap_err().raw_os_error(), Some(not_open));
        s.unregister(fd).unwrap();
        assert!(s.select(ZERO).unwrap().is_empty());
    }
}

mod polling {
    use super::*;

    // Unix only: needs a closed fd number (fcntl).
    #[cfg(all(unix, not(polling_test_poll_backend)))]
    #[test]
    fn register_bad_fd() {
        register_bad_fd_is_refused(PollingSelector::new().unwrap());
        register_bad_fd_is_refused(PollingSelector::with_emulated_level().unwrap());
    }

    // Linux only: there `polling` is epoll underneath; kqueue and event ports take files.
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(polling_test_poll_backend)
    ))]
    #[test]
    fn register_file() {
        register_file_is_refused(PollingSelector::new().unwrap());
    }

    // Linux only: pipes (not on Windows); kqueue's EOF rules for pipes differ and cannot be
    // checked here.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn pipes() {
        pipe_hangups(PollingSelector::new().unwrap());
        pipe_hangups(PollingSelector::with_emulated_level().unwrap());
        hangup_reported_as_write(PollingSelector::new().unwrap());
    }

    /// The level emulation re-arms what fired: unconsumed data keeps being reported, and a
    /// modify in between takes effect.
    #[test]
    fn emulated_level_rearms() {
        let mut s = PollingSelector::with_emulated_level().unwrap();
        let (rd, mut wr) = pair();
        std::io::Write::write_all(&mut wr, b"x").unwrap();
        let key = s.register(&rd, EVENT_READ, "rd").unwrap().clone();
        for _ in 0..3 {
            assert_eq!(s.select(SOON).unwrap(), vec![(key.clone(), EVENT_READ)]);
        }
        let key = s
            .modify(&rd, EVENT_READ | EVENT_WRITE, "both")
            .unwrap()
            .clone();
        assert_eq!(
            s.select(SOON).unwrap(),
            vec![(key.clone(), EVENT_READ | EVENT_WRITE)]
        );
        assert_eq!(
            s.select(SOON).unwrap(),
            vec![(key, EVENT_READ | EVENT_WRITE)]
        );
    }
}

/// `Debug` does not need the data to be `Debug`; a `Waker` is `Send + Sync`.
#[test]
fn debug_without_debug_data_and_waker_is_sync() {
    fn assert_send_sync<S: Send + Sync>(_: &S) {}
    struct NotDebug;
    let s = DefaultSelector::<NotDebug>::new().unwrap();
    assert!(format!("{s:?}").contains("registered: 0"));
    let waker = Waker::new().unwrap();
    assert_send_sync(&waker);
    std::thread::spawn(move || waker.wake().unwrap())
        .join()
        .unwrap();
}
