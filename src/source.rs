//! How sources are named: borrowed for `register`, by number for lookups.

use crate::SelectorError;

cfg_if::cfg_if! {
    if #[cfg(unix)] {
        use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};

        /// The number of a registered source: a `RawFd` on Unix, a `RawSocket` on Windows.
        pub type RawSource = RawFd;
        /// A borrowed source: `BorrowedFd` on Unix, `BorrowedSocket` on Windows.
        pub type BorrowedSource<'a> = BorrowedFd<'a>;

        /// What [`register`](crate::Selector::register) accepts: anything that lends out an
        /// open descriptor (`AsFd` on Unix, `AsSocket` on Windows), such as `&TcpListener`,
        /// `&UnixStream`, `&std::io::Stdin`, a pipe end, a [`Waker`](crate::Waker) or a
        /// `BorrowedFd`. Safe code cannot register a descriptor it does not hold.
        pub trait AsSource {
            /// Borrows the descriptor.
            fn as_source(&self) -> BorrowedSource<'_>;
        }

        impl<S: AsFd + ?Sized> AsSource for S {
            fn as_source(&self) -> BorrowedSource<'_> {
                self.as_fd()
            }
        }

        pub(crate) fn raw(source: BorrowedSource<'_>) -> RawSource {
            source.as_raw_fd()
        }

        /// Every kind of descriptor is acceptable on Unix (the backend may still refuse it).
        pub(crate) fn check_kind(_source: BorrowedSource<'_>) -> Result<(), SelectorError> {
            Ok(())
        }
    } else if #[cfg(windows)] {
        use std::os::windows::io::{AsRawSocket, AsSocket, BorrowedSocket, RawSocket};

        /// The number of a registered source: a `RawFd` on Unix, a `RawSocket` on Windows.
        pub type RawSource = RawSocket;
        /// A borrowed source: `BorrowedFd` on Unix, `BorrowedSocket` on Windows.
        pub type BorrowedSource<'a> = BorrowedSocket<'a>;

        /// What [`register`](crate::Selector::register) accepts: anything that lends out an
        /// open socket (`AsSocket` on Windows, `AsFd` on Unix), such as `&TcpListener`,
        /// `&UdpSocket`, a [`Waker`](crate::Waker) or a `BorrowedSocket`.
        pub trait AsSource {
            /// Borrows the socket.
            fn as_source(&self) -> BorrowedSource<'_>;
        }

        impl<S: AsSocket + ?Sized> AsSource for S {
            fn as_source(&self) -> BorrowedSource<'_> {
                self.as_socket()
            }
        }

        pub(crate) fn raw(source: BorrowedSource<'_>) -> RawSource {
            source.as_raw_socket()
        }

        /// Windows selectors take sockets only. `AsSocket` promises one, but `unsafe` code can
        /// lend any handle as a `BorrowedSocket`: ask Winsock, so that a file or pipe gets a
        /// clear `InvalidInput` instead of a WSA error from deep inside a backend.
        pub(crate) fn check_kind(source: BorrowedSource<'_>) -> Result<(), SelectorError> {
            use windows_sys::Win32::Networking::WinSock::{getsockopt, SOCKET, SOCKET_ERROR, SOL_SOCKET, SO_TYPE};
            let mut kind: i32 = 0;
            let mut len = std::mem::size_of::<i32>() as i32;
            // SAFETY: getsockopt writes at most `len` bytes to `kind` and its new length to
            // `len`; both live for the call. A handle that is not a socket gets an error.
            let result = unsafe {
                getsockopt(
                    source.as_raw_socket() as SOCKET,
                    SOL_SOCKET,
                    SO_TYPE,
                    (&mut kind as *mut i32).cast(),
                    &mut len,
                )
            };
            if result == SOCKET_ERROR {
                Err(SelectorError::NotASocket { fd: raw(source) })
            } else {
                Ok(())
            }
        }
    }
}

/// What lookups (`get_key`, `modify`, `unregister`, the map's `get`) accept: a borrowed
/// source (`&stream`) or the raw descriptor number, so a source that is already gone can
/// still be unregistered by its number.
///
/// ```
/// # #[cfg(unix)] {
/// use ioselectors::{DefaultSelector, EVENT_READ};
/// use std::os::unix::io::AsRawFd;
/// use std::os::unix::net::UnixStream;
///
/// let mut sel = DefaultSelector::new()?;
/// let (a, _b) = UnixStream::pair()?;
/// sel.register(&a, EVENT_READ, "a")?;
/// let fd = a.as_raw_fd();
/// drop(a); // closed without unregistering first
/// assert_eq!(sel.unregister(fd)?.data, "a");
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Fileno {
    /// The descriptor number this names.
    fn fileno(&self) -> RawSource;
}

impl Fileno for RawSource {
    fn fileno(&self) -> RawSource {
        *self
    }
}

impl<S: AsSource + ?Sized> Fileno for &S {
    fn fileno(&self) -> RawSource {
        raw((**self).as_source())
    }
}

impl Fileno for BorrowedSource<'_> {
    fn fileno(&self) -> RawSource {
        raw(*self)
    }
}

/// Refuses numbers that can never name an open source: negative fds on Unix,
/// `INVALID_SOCKET` on Windows. One rule for every call that takes a number.
#[inline]
pub(crate) fn check_number(fd: RawSource) -> Result<(), SelectorError> {
    #[cfg(unix)]
    let invalid = fd < 0;
    #[cfg(windows)]
    let invalid = fd == RawSource::MAX;
    if invalid {
        Err(SelectorError::InvalidFd { fd })
    } else {
        Ok(())
    }
}

/// Lends the descriptor a number names *now* to a kernel call that only looks the number up
/// (`epoll_ctl`, `poll`, `kevent`, `polling`'s `modify`/`delete`): the one place a registered
/// number is turned back into a borrowed source.
///
/// The number may have been closed, or reused by another file, since it was registered. So,
/// unlike a real `BorrowedFd`/`BorrowedSocket`, what this returns does **not** promise an
/// open descriptor: callers use it only as a number for such calls, and never read, write or
/// close through it.
#[inline]
pub(crate) fn lend_number(fd: RawSource) -> Result<BorrowedSource<'static>, SelectorError> {
    check_number(fd)?;
    // SAFETY: the borrowed types' only validity invariant is that the value is not their niche
    // (-1, `INVALID_SOCKET`), which `check_number` refuses. Their other promise, that the
    // descriptor stays open for the borrow's lifetime, is an I/O-safety contract that may not
    // hold here: the number may be closed or reused. That is harmless only because of the rule
    // above: the kernel (or `polling`, which keeps its own table on Windows) looks the number
    // up and answers EBADF/ENOENT for a closed one, or acts on whatever file a reused number
    // names, which is what the callers document; no I/O and no close happen through it.
    #[cfg(unix)]
    return Ok(unsafe { BorrowedFd::borrow_raw(fd) });
    // SAFETY: as above.
    #[cfg(windows)]
    return Ok(unsafe { BorrowedSocket::borrow_raw(fd) });
}
