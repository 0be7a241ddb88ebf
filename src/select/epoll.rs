//! Python's `select.epoll` (Linux, Android): level-triggered, edge-triggered and one-shot
//! readiness from one kernel object, straight through rustix.

use crate::deadline::wait_until;
use crate::error::invalid_input;
use crate::source::{lend_number, Fileno};
use crate::timespec::to_timespec;
use rustix::event::epoll;
use std::fmt;
use std::io;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

bitflags::bitflags! {
    /// An epoll event mask: what to watch for, and what `poll` found. The values are the
    /// kernel's (from rustix, so they are right on every architecture); bits the kernel
    /// reports that have no name here are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct EpollFlags: u32 {
        /// Readable (`EPOLLIN`).
        const IN = epoll::EventFlags::IN.bits();
        /// Urgent data, e.g. TCP out-of-band (`EPOLLPRI`).
        const PRI = epoll::EventFlags::PRI.bits();
        /// Writable (`EPOLLOUT`).
        const OUT = epoll::EventFlags::OUT.bits();
        /// Error; always reported, even if not asked for (`EPOLLERR`).
        const ERR = epoll::EventFlags::ERR.bits();
        /// Hang-up; always reported, even if not asked for (`EPOLLHUP`).
        const HUP = epoll::EventFlags::HUP.bits();
        /// Normal data readable (`EPOLLRDNORM`).
        const RDNORM = epoll::EventFlags::RDNORM.bits();
        /// Priority band data readable (`EPOLLRDBAND`).
        const RDBAND = epoll::EventFlags::RDBAND.bits();
        /// Normal data writable (`EPOLLWRNORM`).
        const WRNORM = epoll::EventFlags::WRNORM.bits();
        /// Priority data writable (`EPOLLWRBAND`).
        const WRBAND = epoll::EventFlags::WRBAND.bits();
        /// Unused by Linux (`EPOLLMSG`).
        const MSG = epoll::EventFlags::MSG.bits();
        /// The peer shut down its writing side or closed (stream sockets); reported only
        /// if asked for (`EPOLLRDHUP`).
        const RDHUP = epoll::EventFlags::RDHUP.bits();
        /// Keep the system awake while the event is pending (`EPOLLWAKEUP`; needs
        /// `CAP_BLOCK_SUSPEND`, silently ignored without it).
        const WAKEUP = epoll::EventFlags::WAKEUP.bits();
        /// Wake only one of the epoll instances waiting on this source; `register` only,
        /// not with `ONESHOT` or `RDHUP` (`EPOLLEXCLUSIVE`, Linux 4.5).
        const EXCLUSIVE = epoll::EventFlags::EXCLUSIVE.bits();
        /// Report one event, then disable the registration until `modify` (`EPOLLONESHOT`).
        const ONESHOT = epoll::EventFlags::ONESHOT.bits();
        /// Edge-triggered: report a change of readiness once (`EPOLLET`).
        const ET = epoll::EventFlags::ET.bits();
        // Kernel bits without a name here survive `from_bits_retain`.
        const _ = !0;
    }
}

/// `select.EPOLLIN`.
pub const EPOLLIN: EpollFlags = EpollFlags::IN;
/// `select.EPOLLPRI`.
pub const EPOLLPRI: EpollFlags = EpollFlags::PRI;
/// `select.EPOLLOUT`.
pub const EPOLLOUT: EpollFlags = EpollFlags::OUT;
/// `select.EPOLLERR`.
pub const EPOLLERR: EpollFlags = EpollFlags::ERR;
/// `select.EPOLLHUP`.
pub const EPOLLHUP: EpollFlags = EpollFlags::HUP;
/// `select.EPOLLRDNORM`.
pub const EPOLLRDNORM: EpollFlags = EpollFlags::RDNORM;
/// `select.EPOLLRDBAND`.
pub const EPOLLRDBAND: EpollFlags = EpollFlags::RDBAND;
/// `select.EPOLLWRNORM`.
pub const EPOLLWRNORM: EpollFlags = EpollFlags::WRNORM;
/// `select.EPOLLWRBAND`.
pub const EPOLLWRBAND: EpollFlags = EpollFlags::WRBAND;
/// `select.EPOLLMSG`.
pub const EPOLLMSG: EpollFlags = EpollFlags::MSG;
/// `select.EPOLLRDHUP`.
pub const EPOLLRDHUP: EpollFlags = EpollFlags::RDHUP;
/// `EPOLLWAKEUP` (Python does not export it).
pub const EPOLLWAKEUP: EpollFlags = EpollFlags::WAKEUP;
/// `select.EPOLLEXCLUSIVE`.
pub const EPOLLEXCLUSIVE: EpollFlags = EpollFlags::EXCLUSIVE;
/// `select.EPOLLONESHOT`.
pub const EPOLLONESHOT: EpollFlags = EpollFlags::ONESHOT;
/// `select.EPOLLET`.
pub const EPOLLET: EpollFlags = EpollFlags::ET;

impl EpollFlags {
    fn to_kernel(self) -> epoll::EventFlags {
        epoll::EventFlags::from_bits_retain(self.bits())
    }
}

/// Python's `select.epoll` object: one epoll instance.
///
/// ```
/// use ioselectors::select::{Epoll, EPOLLET, EPOLLIN};
/// use std::io::Write;
/// use std::os::unix::io::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let ep = Epoll::new()?;                            // ep = select.epoll()
/// let (a, mut b) = UnixStream::pair()?;
/// ep.register(&a, EPOLLIN | EPOLLET)?;               // ep.register(a, EPOLLIN | EPOLLET)
/// b.write_all(b"hello")?;
/// let events = ep.poll(Some(Duration::ZERO), 16)?;   // ep.poll(0, 16)
/// assert_eq!(events, [(a.as_raw_fd(), EPOLLIN)]);
/// // Edge-triggered: the unread data is not reported again.
/// assert!(ep.poll(Some(Duration::ZERO), 16)?.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// All methods take `&self`: the kernel serialises them, so one `Epoll` can be shared by
/// threads (`Arc<Epoll>`), several of them blocked in [`poll`](Self::poll) at once — the
/// pattern of an `EPOLLONESHOT` worker pool.
///
/// **Registrations belong to the open file, not the number.** epoll watches the file a
/// descriptor refers to. If the descriptor was duplicated (`dup`, `try_clone`, a forked
/// child) and is closed without `unregister`, the registration lives on, and its events keep
/// arriving under the closed number; `unregister` of that number then fails (`EBADF`), and
/// the entry goes away only when every duplicate is closed. Unregister before closing.
/// The interest list is shared with child processes after `fork`.
///
/// Regular files, directories and `/dev/null` are refused (`PermissionDenied`): they are
/// always ready, and epoll has nothing to watch. [`Poll`](crate::select::Poll) takes them.
pub struct Epoll {
    fd: OwnedFd,
}

impl fmt::Debug for Epoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Epoll")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

impl Epoll {
    /// What `register` watches for in Python when no mask is given:
    /// `EPOLLIN | EPOLLPRI | EPOLLOUT`.
    pub const DEFAULT_MASK: EpollFlags =
        EpollFlags::IN.union(EpollFlags::PRI).union(EpollFlags::OUT);

    /// Python's `maxevents=-1`: at most 1023 events per `poll`.
    pub const DEFAULT_MAXEVENTS: usize = 1023;

    /// Creates an epoll instance (close-on-exec). Python: `select.epoll()`.
    pub fn new() -> io::Result<Epoll> {
        Ok(Epoll {
            fd: epoll::create(epoll::CreateFlags::CLOEXEC)?,
        })
    }

    /// Adopts an epoll descriptor, e.g. one inherited from a parent. Python:
    /// `select.epoll.fromfd(fd)` — but this takes ownership of exactly one descriptor, so two
    /// objects can never close the same number. Give it `fd.try_clone()?` to keep yours.
    /// A descriptor that is not an epoll instance makes the first call fail (`EINVAL`).
    pub fn from_fd(fd: OwnedFd) -> Epoll {
        Epoll { fd }
    }

    /// Starts watching `source` for `mask`; events will name it by its descriptor number.
    /// Python: `ep.register(fd, mask)`.
    ///
    /// # Errors
    /// The kernel's, with their errno: `EEXIST` (`AlreadyExists`) if it is registered already
    /// (use [`modify`](Self::modify)), `EPERM` (`PermissionDenied`) for regular files,
    /// directories and `/dev/null` (epoll has nothing to watch there: use
    /// [`Poll`](crate::select::Poll)), `ELOOP` for an epoll nested in itself, `ENOSPC` past
    /// `/proc/sys/fs/epoll/max_user_watches`. This crate's own: `InvalidInput` for `EXCLUSIVE`
    /// together with `ONESHOT` or `RDHUP`.
    pub fn register<S: AsFd + ?Sized>(&self, source: &S, mask: EpollFlags) -> io::Result<()> {
        let source = source.as_fd();
        self.add(source, mask, source.as_raw_fd() as u64)
    }

    /// Like [`register`](Self::register), but stores `data` with the registration instead of
    /// the descriptor number; [`EpollEvent::data`] gives it back (then
    /// [`EpollEvent::fd`] means only its low 32 bits). Python has no such call.
    pub fn register_with_data<S: AsFd + ?Sized>(
        &self,
        source: &S,
        mask: EpollFlags,
        data: u64,
    ) -> io::Result<()> {
        self.add(source.as_fd(), mask, data)
    }

    fn add(&self, source: BorrowedFd<'_>, mask: EpollFlags, data: u64) -> io::Result<()> {
        let fd = source.as_raw_fd();
        if mask.contains(EpollFlags::EXCLUSIVE)
            && mask.intersects(EpollFlags::ONESHOT | EpollFlags::RDHUP)
        {
            return Err(invalid_input(format!(
                "epoll register fd {fd}: EPOLLEXCLUSIVE cannot be combined with EPOLLONESHOT or EPOLLRDHUP"
            )));
        }
        epoll::add(
            &self.fd,
            source,
            epoll::EventData::new_u64(data),
            mask.to_kernel(),
        )?;
        Ok(())
    }

    /// Changes what a registered descriptor is watched for; re-arms an `ONESHOT`
    /// registration and re-checks an edge-triggered one. Python: `ep.modify(fd, mask)`.
    ///
    /// # Errors
    /// The kernel's, with their errno: `ENOENT` (`NotFound`) if not registered, `EBADF` for a
    /// closed descriptor. This crate's own: `InvalidInput` for a negative number, and for a
    /// mask with `EXCLUSIVE` (the kernel refuses to modify exclusive registrations).
    pub fn modify(&self, fd: impl Fileno, mask: EpollFlags) -> io::Result<()> {
        let fd = fd.fileno();
        self.modify_with_data(fd, mask, fd as u64)
    }

    /// Like [`modify`](Self::modify), but stores `data` with the registration (see
    /// [`register_with_data`](Self::register_with_data)).
    #[inline]
    pub fn modify_with_data(&self, fd: impl Fileno, mask: EpollFlags, data: u64) -> io::Result<()> {
        let fd = fd.fileno();
        if mask.contains(EpollFlags::EXCLUSIVE) {
            return Err(invalid_input(format!(
                "epoll modify fd {fd}: EPOLLEXCLUSIVE can only be given at register"
            )));
        }
        epoll::modify(
            &self.fd,
            lend_number(fd)?,
            epoll::EventData::new_u64(data),
            mask.to_kernel(),
        )?;
        Ok(())
    }

    /// Stops watching a descriptor, given as a source or by number. Python:
    /// `ep.unregister(fd)`.
    ///
    /// # Errors
    /// The kernel's, with their errno: `ENOENT` (`NotFound`) if not registered (or the number
    /// now names another file), `EBADF` if the descriptor is closed: its registration then
    /// lives on as long as a duplicate of it does. `InvalidInput` for a negative number.
    #[inline]
    pub fn unregister(&self, fd: impl Fileno) -> io::Result<()> {
        epoll::delete(&self.fd, lend_number(fd.fileno())?)?;
        Ok(())
    }

    /// Waits for events and returns at most `maxevents` of them as `(fd, events)` pairs, in
    /// the kernel's order (it rotates through the ready descriptors when more are ready
    /// than fit). Python: `ep.poll(timeout, maxevents)`; Python's default `maxevents` is
    /// [`DEFAULT_MAXEVENTS`](Self::DEFAULT_MAXEVENTS).
    ///
    /// `None` blocks, `Some(Duration::ZERO)` only looks, and a positive timeout is rounded
    /// up to whole milliseconds (nanoseconds with the `linux_5_11` feature). With nothing
    /// registered it sleeps for the timeout.
    ///
    /// # Errors
    /// `InvalidInput` if `maxevents` is 0 or above what the kernel takes.
    pub fn poll(
        &self,
        timeout: Option<Duration>,
        maxevents: usize,
    ) -> io::Result<Vec<(RawFd, EpollFlags)>> {
        check_maxevents(maxevents)?;
        let mut events = EpollEvents::with_capacity(maxevents);
        self.poll_into(timeout, &mut events)?;
        Ok(events
            .iter()
            .map(|event| (event.fd(), event.events()))
            .collect())
    }

    /// Like [`poll`](Self::poll), but fills `events` (at most its
    /// [`capacity`](EpollEvents::capacity)) and returns how many it holds: no allocation.
    #[inline(always)]
    pub fn poll_into(
        &self,
        timeout: Option<Duration>,
        events: &mut EpollEvents,
    ) -> io::Result<usize> {
        events.check_capacity()?;
        wait_until(timeout, |timeout| self.wait(timeout, events))
    }

    /// One `epoll_wait`: `EINTR` is returned, not retried (the registry has its own loop).
    #[inline(always)]
    pub(crate) fn wait(
        &self,
        timeout: Option<Duration>,
        events: &mut EpollEvents,
    ) -> io::Result<usize> {
        let buffer = &mut events.buffer;
        buffer.clear();
        let timeout = timeout.map(to_timespec);
        epoll::wait(
            &self.fd,
            rustix::buffer::spare_capacity(&mut *buffer),
            timeout.as_ref(),
        )?;
        Ok(buffer.len())
    }

    /// Closes the epoll descriptor (the registered descriptors stay open). Python:
    /// `ep.close()`. Dropping does the same; taking `self` makes use after close a compile
    /// error instead of Python's `ValueError`.
    pub fn close(self) {}
}

impl From<OwnedFd> for Epoll {
    fn from(fd: OwnedFd) -> Epoll {
        Epoll::from_fd(fd)
    }
}

impl From<Epoll> for OwnedFd {
    fn from(epoll: Epoll) -> OwnedFd {
        epoll.fd
    }
}

impl AsFd for Epoll {
    /// The epoll descriptor (Python's `fileno()`), e.g. to nest it in another epoll.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Storage for [`Epoll::poll_into`]: it holds up to [`capacity`](Self::capacity) events and
/// is reused from call to call, so a steady-state loop makes no allocation.
pub struct EpollEvents {
    buffer: Vec<epoll::Event>,
}

// SAFETY: `epoll::Event` is neither `Send` nor `Sync` only because its data field may hold a
// pointer. This crate stores nothing but integers there (`EventData::new_u64`), and a buffer
// filled by the kernel from an epoll it shares holds whatever the registrations stored:
// integers too, as `Epoll` offers no way to store a pointer.
unsafe impl Send for EpollEvents {}
// SAFETY: as above; shared access only reads integers.
unsafe impl Sync for EpollEvents {}

impl EpollEvents {
    /// Room for `maxevents` events per wait.
    pub fn with_capacity(maxevents: usize) -> EpollEvents {
        EpollEvents {
            buffer: Vec::with_capacity(maxevents),
        }
    }

    /// How many events one wait can return.
    pub fn capacity(&self) -> usize {
        self.buffer.capacity()
    }

    /// Grows the room to at least `maxevents` events (it never shrinks).
    #[inline]
    pub fn reserve(&mut self, maxevents: usize) {
        self.buffer.clear();
        self.buffer.reserve(maxevents);
    }

    /// How many events the last wait returned.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Whether the last wait returned no event.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// The events of the last wait, in the kernel's order.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = EpollEvent> + '_ {
        self.buffer.iter().map(|&event| {
            // Copied out: the kernel's struct is packed.
            let (flags, data) = (event.flags, event.data);
            EpollEvent {
                events: EpollFlags::from_bits_retain(flags.bits()),
                data: data.u64(),
            }
        })
    }

    #[inline(always)]
    fn check_capacity(&self) -> io::Result<()> {
        check_maxevents(self.capacity())
    }
}

/// The most events one `epoll_wait` takes: the kernel refuses more than
/// `INT_MAX / sizeof(struct epoll_event)`.
const MOST_EVENTS: usize = i32::MAX as usize / std::mem::size_of::<epoll::Event>();

/// Checked before anything is allocated for them. Inlined, with the message built out of
/// line: a call on the way to `epoll_wait` costs more than the check (see
/// `Selector::select_into`).
#[inline(always)]
fn check_maxevents(maxevents: usize) -> io::Result<()> {
    if maxevents == 0 || maxevents > MOST_EVENTS {
        Err(bad_maxevents(maxevents))
    } else {
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn bad_maxevents(maxevents: usize) -> io::Error {
    if maxevents == 0 {
        invalid_input("maxevents must be greater than 0".to_string())
    } else {
        invalid_input(format!(
            "maxevents must be at most {MOST_EVENTS}, got {maxevents}"
        ))
    }
}

impl fmt::Debug for EpollEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One event of [`Epoll::poll_into`]: which descriptor, and what the kernel reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpollEvent {
    events: EpollFlags,
    data: u64,
}

impl EpollEvent {
    /// The descriptor the event is about (the number it had when it was registered).
    #[inline]
    pub fn fd(&self) -> RawFd {
        self.data as u32 as RawFd
    }

    /// What the kernel reported: the bits asked for that are ready, plus `ERR` and `HUP`.
    #[inline]
    pub fn events(&self) -> EpollFlags {
        self.events
    }

    /// The 64-bit data word of the registration: the descriptor number, or what
    /// [`Epoll::register_with_data`] stored.
    #[inline]
    pub fn data(&self) -> u64 {
        self.data
    }
}
