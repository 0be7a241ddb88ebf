//! Python's `select.poll()` object: poll(2) through rustix on Unix, `WSAPoll` on Windows.

use crate::deadline::wait_until;
use crate::fd_map::FdMap;
use crate::source::{self, AsSource, Fileno, RawSource};
use crate::SelectorError;
use std::fmt;
use std::io;
use std::time::Duration;

bitflags::bitflags! {
    /// A poll event mask: what to watch for, and what `poll` found. The values are the
    /// platform's own (they differ between Linux, the BSDs and Windows); bits the kernel
    /// reports that have no name here are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct PollFlags: u16 {
        /// Readable (`POLLIN`; on Windows `POLLRDNORM | POLLRDBAND`).
        const IN = sys::IN;
        /// Urgent data, e.g. TCP out-of-band (`POLLPRI`). Windows: never reported, and left
        /// out of what `WSAPoll` is asked for (it refuses it).
        const PRI = sys::PRI;
        /// Writable (`POLLOUT`).
        const OUT = sys::OUT;
        /// Error; always reported, whatever the mask (`POLLERR`).
        const ERR = sys::ERR;
        /// Hang-up; always reported, whatever the mask (`POLLHUP`).
        const HUP = sys::HUP;
        /// The descriptor is not open; always reported (`POLLNVAL`).
        const NVAL = sys::NVAL;
        /// Normal data readable (`POLLRDNORM`).
        const RDNORM = sys::RDNORM;
        /// Priority band data readable (`POLLRDBAND`).
        const RDBAND = sys::RDBAND;
        /// Normal data writable (`POLLWRNORM`; the same bit as `POLLOUT` on the BSDs and
        /// Windows).
        const WRNORM = sys::WRNORM;
        /// Priority data writable (`POLLWRBAND`).
        const WRBAND = sys::WRBAND;
        // Kernel bits without a name here survive `from_bits_retain`.
        const _ = !0;
    }
}

/// `select.POLLIN`.
pub const POLLIN: PollFlags = PollFlags::IN;
/// `select.POLLPRI`.
pub const POLLPRI: PollFlags = PollFlags::PRI;
/// `select.POLLOUT`.
pub const POLLOUT: PollFlags = PollFlags::OUT;
/// `select.POLLERR`.
pub const POLLERR: PollFlags = PollFlags::ERR;
/// `select.POLLHUP`.
pub const POLLHUP: PollFlags = PollFlags::HUP;
/// `select.POLLNVAL`.
pub const POLLNVAL: PollFlags = PollFlags::NVAL;
/// `select.POLLRDNORM`.
pub const POLLRDNORM: PollFlags = PollFlags::RDNORM;
/// `select.POLLRDBAND`.
pub const POLLRDBAND: PollFlags = PollFlags::RDBAND;
/// `select.POLLWRNORM`.
pub const POLLWRNORM: PollFlags = PollFlags::WRNORM;
/// `select.POLLWRBAND`.
pub const POLLWRBAND: PollFlags = PollFlags::WRBAND;
cfg_if::cfg_if! {
    if #[cfg(any(
        all(
            any(target_os = "linux", target_os = "android"),
            not(any(target_arch = "sparc", target_arch = "sparc64"))
        ),
        target_os = "freebsd",
        target_os = "illumos"
    ))] {
        impl PollFlags {
            /// The peer shut down its writing side or closed (stream sockets; `POLLRDHUP`).
            /// Linux, Android, FreeBSD, illumos.
            #[allow(clippy::unnecessary_cast)] // `u16` on Linux, `c_short` elsewhere
            pub const RDHUP: PollFlags =
                PollFlags::from_bits_retain(rustix::event::PollFlags::RDHUP.bits() as u16);
        }

        /// `select.POLLRDHUP` (Linux, Android, FreeBSD, illumos).
        pub const POLLRDHUP: PollFlags = PollFlags::RDHUP;
    }
}

/// Python's `select.poll()` object: a set of descriptors with a mask each, waited on by one
/// poll(2) call (`WSAPoll` on Windows, where Python has no poll object).
///
/// ```
/// # #[cfg(unix)] {
/// use ioselectors::select::{Poll, POLLIN, POLLOUT};
/// use std::os::unix::io::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let mut p = Poll::new();                      // p = select.poll()
/// let (a, _b) = UnixStream::pair()?;
/// p.register(&a, POLLIN | POLLOUT);             // p.register(a, POLLIN | POLLOUT)
/// let ready = p.poll(Some(Duration::ZERO))?;    // p.poll(0)
/// assert_eq!(ready, [(a.as_raw_fd(), POLLOUT)]);
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// As in Python, registrations are kept by number and results come in registration order;
/// `register` of a registered descriptor replaces its mask and keeps its place. A descriptor
/// closed without `unregister` is reported as `POLLNVAL` (Windows under Wine: `poll` fails
/// instead); if its number is reused, the new file's events are reported under it.
///
/// `poll` takes `&mut self`, so Python's `RuntimeError: concurrent poll() invocation` is a
/// compile error here. Windows (`WSAPoll`): sockets only; `PRI` is never reported; before
/// Windows 10 version 2004 a failed non-blocking `connect` was not reported at all.
pub struct Poll {
    /// The array handed to the kernel, in registration order. After an `unregister` it may
    /// hold entries that are no longer registered, until the next wait (or enough churn)
    /// compacts it.
    entries: Vec<sys::Entry>,
    /// Where each registered descriptor's entry is in `entries`.
    position: FdMap<usize>,
    /// How many entries of `entries` are no longer registered.
    stale: usize,
}

impl fmt::Debug for Poll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poll")
            .field(
                "registered",
                &self.position.iter().map(|(fd, _)| fd).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for Poll {
    fn default() -> Poll {
        Poll::new()
    }
}

impl Poll {
    /// What Python's `register` watches for when no mask is given:
    /// `POLLIN | POLLPRI | POLLOUT`.
    pub const DEFAULT_MASK: PollFlags = PollFlags::IN.union(PollFlags::PRI).union(PollFlags::OUT);

    /// An empty poll object; it holds no kernel resource. Python: `select.poll()`.
    pub fn new() -> Poll {
        Poll {
            entries: Vec::new(),
            position: FdMap::new(),
            stale: 0,
        }
    }

    /// Watches `source` for `mask`; if it is registered already, replaces its mask (keeping
    /// its place in the results). Python: `p.register(fd, mask)`. A mask of zero still
    /// reports `ERR`, `HUP` and `NVAL`.
    pub fn register<S: AsSource + ?Sized>(&mut self, source: &S, mask: PollFlags) {
        let fd = source::raw(source.as_source());
        // A number no open descriptor can have (only an unsound `borrow_raw` makes one) gets
        // no entry: like a negative fd in poll(2), it is never reported.
        let Ok(entry) = sys::entry(fd, mask) else {
            return;
        };
        match self.position.get(fd) {
            Some(&index) => self.entries[index] = entry,
            None => {
                self.position.insert(fd, self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    /// Changes the mask of a registered descriptor, given as a source or by number. Python:
    /// `p.modify(fd, mask)`.
    ///
    /// # Errors
    /// `NotFound` if it is not registered (Python raises `FileNotFoundError` here),
    /// `InvalidInput` for a negative number (Python: `ValueError`).
    #[inline]
    pub fn modify(&mut self, fd: impl Fileno, mask: PollFlags) -> io::Result<()> {
        let fd = fd.fileno();
        let entry = sys::entry(fd, mask)?;
        let index = *self
            .position
            .get(fd)
            .ok_or(SelectorError::NotRegistered { fd })?;
        self.entries[index] = entry;
        Ok(())
    }

    /// Stops watching a descriptor, given as a source or by number (so one that is already
    /// closed can be removed). Python: `p.unregister(fd)`.
    ///
    /// # Errors
    /// `NotFound` if it is not registered (Python raises `KeyError` here), `InvalidInput`
    /// for a negative number (Python: `ValueError`).
    #[inline]
    pub fn unregister(&mut self, fd: impl Fileno) -> io::Result<()> {
        let fd = fd.fileno();
        source::check_number(fd)?;
        self.position
            .remove(fd)
            .ok_or(SelectorError::NotRegistered { fd })?;
        self.stale += 1;
        // Compacted once half the array is stale, so that churn between waits keeps memory
        // bounded by the live registrations, at an amortised O(1) per call.
        if self.stale > self.position.len() {
            self.compact();
        }
        Ok(())
    }

    /// How many descriptors are registered.
    pub fn len(&self) -> usize {
        self.position.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.position.len() == 0
    }

    /// Waits until a registered descriptor is ready or the timeout passes, and returns the
    /// `(fd, revents)` of each ready one, in registration order, with every bit the kernel
    /// reported. Python: `p.poll(timeout_ms)`.
    ///
    /// `None` blocks, `Some(Duration::ZERO)` only looks, and a positive timeout is rounded
    /// up to whole milliseconds. With nothing registered it sleeps for the timeout.
    ///
    /// # Errors
    /// The kernel's: `EINVAL` for more entries than `RLIMIT_NOFILE`; on Windows, WSA errors
    /// (`WSAENOTSOCK` for a handle that is not a socket).
    pub fn poll(&mut self, timeout: Option<Duration>) -> io::Result<Vec<(RawSource, PollFlags)>> {
        let mut ready = Vec::new();
        self.poll_into(timeout, &mut ready)?;
        Ok(ready)
    }

    /// Like [`poll`](Self::poll), but fills `ready` (cleared first) and returns how many
    /// entries it holds: once `ready` has grown, no allocation.
    // Inlined down to the syscall, as the selectors' hot path is (see `Selector::select_into`).
    #[inline(always)]
    pub fn poll_into(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<(RawSource, PollFlags)>,
    ) -> io::Result<usize> {
        ready.clear();
        let count = wait_until(timeout, |timeout| self.wait(timeout))?;
        ready.extend(self.fired(count));
        Ok(ready.len())
    }

    /// One poll(2): `EINTR` is returned, not retried. Returns how many entries fired;
    /// [`fired`](Self::fired) lists them.
    #[inline(always)]
    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        if self.stale > 0 {
            self.compact();
        }
        sys::poll(&mut self.entries, timeout)
    }

    /// The first `count` entries that fired in the last wait, in registration order.
    #[inline(always)]
    fn fired(&self, count: usize) -> impl Iterator<Item = (RawSource, PollFlags)> + '_ {
        fired(&self.entries, count)
    }

    /// Drops the entries of unregistered descriptors, keeping the order of the others.
    pub(crate) fn compact(&mut self) {
        let mut kept = 0;
        for index in 0..self.entries.len() {
            let fd = sys::fd_of(&self.entries[index]);
            if let Some(position) = self
                .position
                .get_mut(fd)
                .filter(|position| **position == index)
            {
                *position = kept;
                self.entries.swap(kept, index);
                kept += 1;
            }
        }
        self.entries.truncate(kept);
        if self.entries.capacity() > 4 * kept.max(16) {
            self.entries.shrink_to(2 * kept);
        }
        self.stale = 0;
    }
}

/// The first `count` entries that fired in the last wait, in order.
#[inline(always)]
fn fired(
    entries: &[sys::Entry],
    count: usize,
) -> impl Iterator<Item = (RawSource, PollFlags)> + '_ {
    entries
        .iter()
        .filter_map(|entry| {
            let revents = sys::revents(entry);
            (!revents.is_empty()).then(|| (sys::fd_of(entry), revents))
        })
        .take(count)
}

/// A copy of a [`Poll`]'s array to wait on: what `PollSelector`'s thread polls, so that it
/// waits without holding the lock behind which other threads change the `Poll`.
#[derive(Default)]
pub(crate) struct PollArray {
    entries: Vec<sys::Entry>,
}

impl fmt::Debug for PollArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(sys::fd_of))
            .finish()
    }
}

impl PollArray {
    /// Becomes a copy of `poll`'s entries, plus `extra` watched for reading (a waker).
    pub(crate) fn copy_of(&mut self, poll: &mut Poll, extra: Option<RawSource>) {
        if poll.stale > 0 {
            poll.compact();
        }
        self.entries.clone_from(&poll.entries);
        if let Some(entry) = extra.and_then(|fd| sys::entry(fd, PollFlags::IN).ok()) {
            self.entries.push(entry);
        }
    }

    /// One poll(2): `EINTR` is returned, not retried (the registry has its own loop).
    /// Returns how many entries fired; [`fired`](Self::fired) lists them.
    #[inline(always)]
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        sys::poll(&mut self.entries, timeout)
    }

    /// The first `count` entries that fired in the last wait, in order.
    #[inline(always)]
    pub(crate) fn fired(&self, count: usize) -> impl Iterator<Item = (RawSource, PollFlags)> + '_ {
        fired(&self.entries, count)
    }
}

cfg_if::cfg_if! {
    if #[cfg(unix)] {
        // rustix's flags are `u16` on Linux and `c_short` elsewhere: the casts are needed there.
        #[allow(clippy::unnecessary_cast)]
        mod unix;
        use unix as sys;
    } else if #[cfg(windows)] {
        mod wsapoll;
        use wsapoll as sys;
    }
}
