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
        run_nonblocking(|| self.inner.wake())
    }

    /// Makes the waker not readable again (consumes every pending wake-up).
    pub fn reset(&self) -> io::Result<()> {
        run_nonblocking(|| self.inner.reset())
    }
}

/// Runs a non-blocking operation to its end, retrying on EINTR; "would block" means there is
/// nothing left to do (the waker is already awake, or already drained).
fn run_nonblocking(mut op: impl FnMut() -> io::Result<()>) -> io::Result<()> {
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
        mod eventfd;
        use eventfd as sys;
    } else if #[cfg(unix)] {
        mod socketpair;
        use socketpair as sys;
    } else if #[cfg(windows)] {
        mod udp;
        use udp as sys;
    }
}
