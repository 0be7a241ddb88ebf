//! A handle that makes a blocked `select()` return: the self-pipe asyncio builds by hand.

use std::io;
use std::sync::Arc;

/// Wakes a selector from another thread (or a signal handler).
///
/// Register the waker like any source, for `EVENT_READ`; [`wake`](Self::wake) makes it
/// readable, so a `select()` blocked in another thread returns it. Call
/// [`reset`](Self::reset) when it comes back ready, or it stays ready (level-triggered).
/// Clones share one descriptor; it is closed when the last clone is dropped.
///
/// **Reset first, then drain.** When the waker guards a queue (workers push, then wake),
/// the selector's thread must `reset()` *before* it empties the queue. In the other order, a
/// worker that pushes and wakes between the drain and the reset has its wake-up erased, and
/// its item waits until something else wakes the selector:
///
/// ```
/// use ioselectors::{DefaultSelector, Waker, EVENT_READ};
/// use std::sync::mpsc;
///
/// let mut sel = DefaultSelector::new()?;
/// let waker = Waker::new()?;
/// sel.register(&waker, EVENT_READ, "queue")?;
/// let (results, queue) = mpsc::channel();
/// let remote = waker.clone();
/// std::thread::spawn(move || {
///     results.send(42).unwrap(); // push, then wake
///     remote.wake().unwrap();
/// });
/// for (key, _) in sel.select(None)? {
///     if key.data == "queue" {
///         waker.reset()?; // first: a wake-up from now on stays visible
///         for result in queue.try_iter() {
///             assert_eq!(result, 42); // then drain
///         }
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// It is an `eventfd` on Linux and Android, a socket pair on other Unix systems and a
/// loopback UDP socket connected to itself on Windows: a plain source, so it works with
/// every backend (and does not use `polling::Poller::notify`, which makes kqueue busy-loop
/// after the first notification, polling#265).
///
/// ```
/// use ioselectors::{DefaultSelector, Waker, EVENT_READ};
///
/// let mut sel = DefaultSelector::new()?;
/// let waker = Waker::new()?;
/// sel.register(&waker, EVENT_READ, "wake-up")?;
///
/// let remote = waker.clone();
/// std::thread::spawn(move || remote.wake());
///
/// let ready = sel.select(None)?; // blocks until the other thread wakes it
/// assert_eq!(ready[0].0.data, "wake-up");
/// waker.reset()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Waker {
    inner: Arc<sys::Inner>,
}

impl Waker {
    /// Creates a waker (one or two descriptors, non-blocking and close-on-exec).
    pub fn new() -> io::Result<Waker> {
        Ok(Waker {
            inner: Arc::new(sys::Inner::new()?),
        })
    }

    /// Makes the waker readable. Waking a waker that is already awake does nothing.
    ///
    /// On Unix this is a single `write(2)`, with no allocation or lock, so it may be called
    /// from a signal handler.
    pub fn wake(&self) -> io::Result<()> {
        retry_interrupted(|| self.inner.wake())
    }

    /// Makes the waker not readable again (consumes every pending wake-up).
    pub fn reset(&self) -> io::Result<()> {
        retry_interrupted(|| self.inner.reset())
    }
}

/// Runs a non-blocking operation, retrying on EINTR; "would block" means there is nothing to
/// do (the waker is already awake, or already drained).
fn retry_interrupted(mut op: impl FnMut() -> io::Result<()>) -> io::Result<()> {
    loop {
        match op() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            result => return result,
        }
    }
}

cfg_if::cfg_if! {
    if #[cfg(any(target_os = "linux", target_os = "android"))] {
        mod sys {
            use rustix::event::{eventfd, EventfdFlags};
            use std::io;
            use std::os::unix::io::{AsFd, BorrowedFd, OwnedFd};

            #[derive(Debug)]
            pub(super) struct Inner(OwnedFd);

            impl Inner {
                pub(super) fn new() -> io::Result<Inner> {
                    Ok(Inner(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?))
                }

                pub(super) fn wake(&self) -> io::Result<()> {
                    rustix::io::write(&self.0, &1u64.to_ne_bytes())?;
                    Ok(())
                }

                pub(super) fn reset(&self) -> io::Result<()> {
                    // One read returns the whole counter and zeroes it.
                    rustix::io::read(&self.0, &mut [0u8; 8])?;
                    Ok(())
                }
            }

            impl AsFd for super::Waker {
                fn as_fd(&self) -> BorrowedFd<'_> {
                    self.inner.0.as_fd()
                }
            }
        }
    } else if #[cfg(unix)] {
        mod sys {
            use std::io::{self, Read, Write};
            use std::os::unix::io::{AsFd, BorrowedFd};
            use std::os::unix::net::UnixStream;

            #[derive(Debug)]
            pub(super) struct Inner {
                reader: UnixStream,
                writer: UnixStream,
            }

            impl Inner {
                pub(super) fn new() -> io::Result<Inner> {
                    let (reader, writer) = UnixStream::pair()?;
                    reader.set_nonblocking(true)?;
                    writer.set_nonblocking(true)?;
                    Ok(Inner { reader, writer })
                }

                pub(super) fn wake(&self) -> io::Result<()> {
                    (&self.writer).write(&[1]).map(drop)
                }

                pub(super) fn reset(&self) -> io::Result<()> {
                    let mut buf = [0u8; 64];
                    while (&self.reader).read(&mut buf)? > 0 {}
                    Ok(())
                }
            }

            impl AsFd for super::Waker {
                fn as_fd(&self) -> BorrowedFd<'_> {
                    self.inner.reader.as_fd()
                }
            }
        }
    } else if #[cfg(windows)] {
        mod sys {
            use std::io;
            use std::net::{Ipv4Addr, UdpSocket};
            use std::os::windows::io::{AsSocket, BorrowedSocket};

            #[derive(Debug)]
            pub(super) struct Inner(UdpSocket);

            impl Inner {
                pub(super) fn new() -> io::Result<Inner> {
                    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
                    socket.connect(socket.local_addr()?)?;
                    socket.set_nonblocking(true)?;
                    Ok(Inner(socket))
                }

                pub(super) fn wake(&self) -> io::Result<()> {
                    self.0.send(&[1]).map(drop)
                }

                pub(super) fn reset(&self) -> io::Result<()> {
                    let mut buf = [0u8; 64];
                    while self.0.recv(&mut buf)? > 0 {}
                    Ok(())
                }
            }

            impl AsSocket for super::Waker {
                fn as_socket(&self) -> BorrowedSocket<'_> {
                    self.inner.0.as_socket()
                }
            }
        }
    }
}
