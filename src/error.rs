//! The errors the shared rules produce. They travel inside `io::Error` so that every method
//! returns `io::Result`; match on [`io::Error::kind`], or downcast to [`SelectorError`] for
//! the exact cause.

use crate::source::RawSource;
use crate::Events;
use std::fmt;
use std::io;

/// Why the selector refused a call. Each one converts into an [`io::Error`] whose kind is
/// listed on the variant and whose message names the descriptor and the problem.
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
    /// The descriptor number can never name an open source, e.g. a negative fd
    /// (`InvalidInput`).
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
    /// The descriptor is not registered (`NotFound`).
    NotRegistered {
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
            | SelectorError::NotASocket { .. } => io::ErrorKind::InvalidInput,
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

/// A kernel refusal about one descriptor: the OS error, with the call and the descriptor
/// named (and, where one helps, what to do instead).
///
/// It travels inside an [`io::Error`] whose kind is the OS error's own kind
/// (`PermissionDenied`, `AlreadyExists`, `NotFound`, …). `io::Error::raw_os_error` cannot see
/// through a wrapped error: downcast to `OsError` and call [`raw_os_error`](Self::raw_os_error)
/// for the OS code.
///
/// ```
/// # #[cfg(any(target_os = "linux", target_os = "android"))] {
/// use ioselectors::{select::{Epoll, EPOLLIN}, OsError};
/// use std::io::ErrorKind;
/// use std::os::unix::io::AsRawFd;
///
/// let ep = Epoll::new()?;
/// let file = tempfile::tempfile()?;
/// let err = ep.register(&file, EPOLLIN).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::PermissionDenied); // epoll cannot watch regular files
/// let os = err.get_ref().and_then(|e| e.downcast_ref::<OsError>()).unwrap();
/// assert_eq!(os.raw_os_error(), Some(1)); // EPERM
/// assert_eq!(os.fd(), file.as_raw_fd());
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct OsError {
    call: &'static str,
    fd: RawSource,
    error: io::Error,
    hint: Option<&'static str>,
}

impl OsError {
    /// The descriptor the call was about.
    pub fn fd(&self) -> RawSource {
        self.fd
    }

    /// The call that failed, e.g. `"epoll register"`.
    pub fn call(&self) -> &'static str {
        self.call
    }

    /// The OS error code (`errno`, or the WSA error on Windows).
    pub fn raw_os_error(&self) -> Option<i32> {
        self.error.raw_os_error()
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} fd {}: {}", self.call, self.fd, self.error)?;
        if let Some(hint) = self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for OsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Wraps a kernel error about `fd`, keeping its kind and OS code.
#[cold]
pub(crate) fn os_error(call: &'static str, fd: RawSource, error: io::Error) -> io::Error {
    os_error_with_hint(call, fd, error, None)
}

/// Names `fd` in a bare kernel error (one the backend did not already wrap).
#[cold]
pub(crate) fn naming_fd(call: &'static str, fd: RawSource, error: io::Error) -> io::Error {
    if error.raw_os_error().is_none() {
        return error;
    }
    // On Linux every selector but poll and select is epoll underneath (`polling` too).
    let hint = if cfg!(any(target_os = "linux", target_os = "android"))
        && error.kind() == io::ErrorKind::PermissionDenied
    {
        Some(EPOLL_REFUSES_FILES)
    } else {
        None
    };
    os_error_with_hint(call, fd, error, hint)
}

/// What to do when epoll refuses a descriptor with `EPERM`.
pub(crate) const EPOLL_REFUSES_FILES: &str =
    "epoll cannot watch regular files, directories or /dev/null; Poll and PollSelector can";

/// Like [`os_error`], with a hint on what to do instead.
#[cold]
pub(crate) fn os_error_with_hint(
    call: &'static str,
    fd: RawSource,
    error: io::Error,
    hint: Option<&'static str>,
) -> io::Error {
    io::Error::new(
        error.kind(),
        OsError {
            call,
            fd,
            error,
            hint,
        },
    )
}

/// An `InvalidInput` error with a message naming the problem.
#[cold]
pub(crate) fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
