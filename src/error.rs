//! The errors of the crate's own rules. They travel inside `io::Error` so that every method
//! returns `io::Result`; match on [`io::Error::kind`], or downcast to [`SelectorError`] for
//! the exact cause.
//!
//! Errors from the kernel are not wrapped: they reach the caller as the kernel gave them, so
//! `raw_os_error()` is the errno (as in std, mio and polling, and as Python keeps `e.errno`).

use crate::source::RawSource;
use crate::Events;
use std::fmt;
use std::io;

/// Why the crate refused a call by a rule of its own, before or instead of asking the kernel:
/// a selector's rules, and the few checks the [`select`](crate::select) primitives make.
/// Each one converts into an [`io::Error`] whose kind is listed on the variant and whose
/// message names the descriptor and the problem.
///
/// A refusal by the kernel is never one of these: it is the kernel's own error, with its
/// errno in [`io::Error::raw_os_error`].
///
/// ```
/// # #[cfg(unix)] {
/// use ioselectors::{DefaultSelector, SelectorError, EVENT_READ};
/// use std::io::ErrorKind;
///
/// let mut sel = DefaultSelector::<()>::new()?;
/// let err = sel.unregister(999_999).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert_eq!(err.to_string(), "fd 999999 is not registered");
/// let cause = err.get_ref().and_then(|e| e.downcast_ref::<SelectorError>());
/// assert_eq!(cause, Some(&SelectorError::NotRegistered { fd: 999_999 }));
/// assert_eq!(err.raw_os_error(), None); // the crate's rule, not the kernel's
///
/// // The kernel's refusal, as the kernel gave it: epoll does not watch regular files.
/// # #[cfg(any(target_os = "linux", target_os = "android"))] {
/// let file = tempfile::tempfile()?;
/// let err = sel.register(&file, EVENT_READ, ()).unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EPERM)); // Python: e.errno == errno.EPERM
/// assert_eq!(err.kind(), ErrorKind::PermissionDenied);
/// # }
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectorError {
    /// The events mask is empty or has bits other than `EVENT_READ | EVENT_WRITE`
    /// (`InvalidInput`).
    InvalidEvents {
        /// The descriptor the call was about.
        fd: RawSource,
        /// The refused mask.
        events: Events,
    },
    /// The descriptor number can never name an open source: a negative fd on Unix,
    /// `INVALID_SOCKET` on Windows (`InvalidInput`). Python raises `ValueError` for these.
    InvalidFd {
        /// The refused number.
        fd: RawSource,
    },
    /// The descriptor is too large for this backend: `select(2)` takes only fds below
    /// `FD_SETSIZE` (`InvalidInput`).
    FdTooLarge {
        /// The refused descriptor.
        fd: RawSource,
        /// The backend's limit (the fd must be below it).
        limit: usize,
    },
    /// Windows: the handle is not a socket; Windows selectors take sockets only
    /// (`InvalidInput`).
    NotASocket {
        /// The refused handle.
        fd: RawSource,
    },
    /// The descriptor is registered already (`AlreadyExists`).
    AlreadyRegistered {
        /// The descriptor.
        fd: RawSource,
    },
    /// The descriptor is not registered (`NotFound`; Python's `KeyError`).
    NotRegistered {
        /// The descriptor.
        fd: RawSource,
    },
    /// The registration was made with `register_owned`: its data is its source, which a
    /// `modify` with new data would drop (and close). Change its events with
    /// `modify_events` (`InvalidInput`).
    OwnedSource {
        /// The descriptor.
        fd: RawSource,
    },
    /// The selector was closed; only `close()` may still be called (`Other`).
    Closed {
        /// The refused operation, e.g. `"select"`.
        operation: &'static str,
        /// The descriptor the call was about, if it was about one.
        fd: Option<RawSource>,
    },
}

impl SelectorError {
    fn kind(&self) -> io::ErrorKind {
        match self {
            SelectorError::InvalidEvents { .. }
            | SelectorError::InvalidFd { .. }
            | SelectorError::FdTooLarge { .. }
            | SelectorError::NotASocket { .. }
            | SelectorError::OwnedSource { .. } => io::ErrorKind::InvalidInput,
            SelectorError::AlreadyRegistered { .. } => io::ErrorKind::AlreadyExists,
            SelectorError::NotRegistered { .. } => io::ErrorKind::NotFound,
            SelectorError::Closed { .. } => io::ErrorKind::Other,
        }
    }
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectorError::InvalidEvents { fd, events } => write!(
                f,
                "invalid events {:#x} for fd {fd}: expected EVENT_READ, EVENT_WRITE or both",
                events.bits()
            ),
            SelectorError::InvalidFd { fd } => write!(f, "invalid file descriptor {fd}"),
            SelectorError::FdTooLarge { fd, limit } => write!(
                f,
                "fd {fd} is out of range for select(): it must be below FD_SETSIZE ({limit}); \
                 use PollSelector or DefaultSelector for large descriptors"
            ),
            SelectorError::NotASocket { fd } => write!(
                f,
                "handle {fd} is not a socket: Windows selectors take sockets only"
            ),
            SelectorError::AlreadyRegistered { fd } => write!(
                f,
                "fd {fd} is already registered (if the source registered under this number was \
                 closed without unregister, the number now names a new file: unregister {fd} first)"
            ),
            SelectorError::NotRegistered { fd } => write!(f, "fd {fd} is not registered"),
            SelectorError::OwnedSource { fd } => write!(
                f,
                "fd {fd} was registered with register_owned: its data is its source, which \
                 modify would drop; use modify_events"
            ),
            SelectorError::Closed {
                operation,
                fd: Some(fd),
            } => write!(f, "cannot {operation} fd {fd}: the selector is closed"),
            SelectorError::Closed {
                operation,
                fd: None,
            } => {
                write!(f, "cannot {operation}: the selector is closed")
            }
        }
    }
}

impl std::error::Error for SelectorError {}

impl From<SelectorError> for io::Error {
    fn from(err: SelectorError) -> io::Error {
        io::Error::new(err.kind(), err)
    }
}

/// An `InvalidInput` error with a message naming the problem.
#[cold]
pub(crate) fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
