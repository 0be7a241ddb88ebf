//! Python's `select.kqueue` and `select.kevent` (macOS, iOS, FreeBSD, NetBSD, OpenBSD,
//! DragonFly): one `kevent(2)` call applies a list of changes and collects events.
//!
//! This goes to `libc` directly, not through rustix: rustix's typed `Event` cannot carry
//! what Python's `kevent` carries (`fflags` on READ and WRITE such as `NOTE_LOWAT`, any
//! `data`, any filter number, the raw ident of an `EV_ERROR` result), and its `Event::new`
//! panics on a filter it has no name for.
//!
//! kqueue cannot run on Linux: this module is type-checked there for Apple and the BSDs
//! (clippy and rustdoc with `--target`), and its tests run in the macOS and FreeBSD jobs of
//! the crate's CI.

use crate::deadline::wait_until;
use crate::error::invalid_input;
use crate::timespec::to_timespec;
use std::fmt;
use std::io;
use std::mem::{self, ManuallyDrop};
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::process;
use std::ptr;
use std::time::Duration;

/// The C type of `struct kevent`'s `filter` field, which [`KqFilter`] wraps: `i16` (`u32` on
/// NetBSD).
#[cfg(not(target_os = "netbsd"))]
pub type RawKqFilter = i16;
/// The C type of `struct kevent`'s `filter` field, which [`KqFilter`] wraps: `u32` on NetBSD
/// (`i16` elsewhere).
#[cfg(target_os = "netbsd")]
pub type RawKqFilter = u32;

/// The C type of `struct kevent`'s `flags` field, which [`KqFlags`] wraps: `u16` (`u32` on
/// NetBSD).
#[cfg(not(target_os = "netbsd"))]
pub type RawKqFlags = u16;
/// The C type of `struct kevent`'s `flags` field, which [`KqFlags`] wraps: `u32` on NetBSD
/// (`u16` elsewhere).
#[cfg(target_os = "netbsd")]
pub type RawKqFlags = u32;

/// A kqueue filter: what kind of event a [`KEvent`] is about, and so what its
/// [`ident`](KEvent::ident) names. Python: the `select.KQ_FILTER_*` ints.
///
/// The numbers are the platform's, from `libc`: negative (`READ` is -1) on macOS, FreeBSD,
/// OpenBSD and DragonFly, from 0 on NetBSD. A filter this type has no name for (such as
/// `EVFILT_EXCEPT` or FreeBSD's `EVFILT_EMPTY`) can be given by number with
/// [`from_raw`](Self::from_raw). Ordered by number, as Python compares kevents.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KqFilter(RawKqFilter);

impl KqFilter {
    /// Readable: `ident` is a descriptor. Results carry in `data` the bytes ready to read
    /// (for a listening socket, the connections waiting), and `EOF` in `flags` once the peer
    /// is gone. With [`KqNotes::LOWAT`], reports only when `data` bytes are ready. Python:
    /// `select.KQ_FILTER_READ` (`EVFILT_READ`).
    pub const READ: KqFilter = KqFilter(libc::EVFILT_READ);
    /// Writable: `ident` is a descriptor. Results carry in `data` the room in the send
    /// buffer, and `EOF` once the reader is gone. Python: `select.KQ_FILTER_WRITE`
    /// (`EVFILT_WRITE`).
    pub const WRITE: KqFilter = KqFilter(libc::EVFILT_WRITE);
    /// Asynchronous I/O completion (`aio_read` and friends with `SIGEV_KEVENT`); registered
    /// through the `aio_*` calls, not through [`Kqueue::control`]. Python:
    /// `select.KQ_FILTER_AIO` (`EVFILT_AIO`).
    pub const AIO: KqFilter = KqFilter(libc::EVFILT_AIO);
    /// File changes: `ident` is a descriptor of the file, `fflags` says which changes to
    /// watch (and, in results, which happened): [`KqNotes::DELETE`], [`KqNotes::WRITE`], ….
    /// Python: `select.KQ_FILTER_VNODE` (`EVFILT_VNODE`).
    pub const VNODE: KqFilter = KqFilter(libc::EVFILT_VNODE);
    /// Process events: `ident` is a process ID, `fflags` says which events
    /// ([`KqNotes::EXIT`], [`KqNotes::FORK`], [`KqNotes::EXEC`], …). Python:
    /// `select.KQ_FILTER_PROC` (`EVFILT_PROC`).
    pub const PROC: KqFilter = KqFilter(libc::EVFILT_PROC);
    /// Signal arrivals: `ident` is a signal number, results count in `data` the arrivals
    /// since the last retrieval. The signal is still delivered as usual (ignore it to get
    /// only the events). Python: `select.KQ_FILTER_SIGNAL` (`EVFILT_SIGNAL`).
    pub const SIGNAL: KqFilter = KqFilter(libc::EVFILT_SIGNAL);
    /// A timer: `ident` is any number of yours, `data` the period (in milliseconds unless
    /// `fflags` picks another unit where the system has them); `ONESHOT` for a single
    /// expiry. Python: `select.KQ_FILTER_TIMER` (`EVFILT_TIMER`).
    pub const TIMER: KqFilter = KqFilter(libc::EVFILT_TIMER);
    /// User-triggered: `ident` is any number of yours; a change with [`KqNotes::TRIGGER`]
    /// in `fflags` fires it, e.g. from another thread to wake a waiting one. Not in Python
    /// (`EVFILT_USER`; missing from older NetBSD and OpenBSD releases).
    pub const USER: KqFilter = KqFilter(libc::EVFILT_USER);

    /// A filter by its number, e.g. `KqFilter::from_raw(libc::EVFILT_EXCEPT)`. Python: a
    /// plain int as `kevent`'s `filter`.
    pub const fn from_raw(raw: RawKqFilter) -> KqFilter {
        KqFilter(raw)
    }

    /// The filter's number. Python: `ev.filter`.
    pub const fn raw(self) -> RawKqFilter {
        self.0
    }

    fn name(self) -> Option<&'static str> {
        Some(match self {
            KqFilter::READ => "READ",
            KqFilter::WRITE => "WRITE",
            KqFilter::AIO => "AIO",
            KqFilter::VNODE => "VNODE",
            KqFilter::PROC => "PROC",
            KqFilter::SIGNAL => "SIGNAL",
            KqFilter::TIMER => "TIMER",
            KqFilter::USER => "USER",
            _ => return None,
        })
    }
}

impl fmt::Debug for KqFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "KqFilter::{name}"),
            None => write!(f, "KqFilter({})", self.0),
        }
    }
}

bitflags::bitflags! {
    /// A kevent's `flags`: the action of a change, and the status of a result. The values
    /// are the platform's, from `libc`; bits the kernel reports that have no name here are
    /// kept. Python: the `select.KQ_EV_*` ints.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
    pub struct KqFlags: RawKqFlags {
        /// Adds the registration of `(ident, filter)`, or modifies it if there is one (no
        /// error), and enables it (`EV_ADD`).
        const ADD = libc::EV_ADD;
        /// Removes the registration; `ENOENT` if there is none. Closing a descriptor
        /// removes its registrations (`EV_DELETE`).
        const DELETE = libc::EV_DELETE;
        /// Lets a disabled registration report again (`EV_ENABLE`).
        const ENABLE = libc::EV_ENABLE;
        /// Keeps the registration but stops it reporting (`EV_DISABLE`).
        const DISABLE = libc::EV_DISABLE;
        /// Deletes the registration after its first event (`EV_ONESHOT`).
        const ONESHOT = libc::EV_ONESHOT;
        /// Resets the registration's state once its event is retrieved: it reports again
        /// only on a new change, like edge triggering (`EV_CLEAR`).
        const CLEAR = libc::EV_CLEAR;
        /// Reports the status of this change as a result with `ERROR` set and the errno (0
        /// on success) in `data`, and collects no other event in that call. Not in Python
        /// (`EV_RECEIPT`).
        const RECEIPT = libc::EV_RECEIPT;
        /// Disables the registration after each event, until a change with `ENABLE`. Not in
        /// Python (`EV_DISPATCH`).
        const DISPATCH = libc::EV_DISPATCH;
        /// Filter-specific (`EV_FLAG1`).
        const FLAG1 = libc::EV_FLAG1;
        /// In results: this entry reports a change (one that failed, or any one with
        /// `RECEIPT`), with the errno in `data` (`EV_ERROR`).
        const ERROR = libc::EV_ERROR;
        /// In results: end of file, e.g. the peer of a socket or pipe is gone; `fflags` may
        /// hold a socket error (`EV_EOF`).
        const EOF = libc::EV_EOF;
        /// The bits reserved for the kernel: `0xF000`, `0xF800` on OpenBSD and DragonFly
        /// (`EV_SYSFLAGS`; `libc` marks OpenBSD's as not stable across OS versions).
        #[allow(deprecated)]
        const SYSFLAGS = libc::EV_SYSFLAGS;
        // Kernel bits without a name here survive `from_bits_retain`.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// A kevent's `fflags`: filter-specific flags (`NOTE_*`). The same bit means different
    /// things for different filters (`LOWAT`, `DELETE` and `TRACK` are all `0x1`). The values
    /// are the platform's, from `libc`; bits the kernel reports that have no name here are
    /// kept. Python: the `select.KQ_NOTE_*` ints.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
    pub struct KqNotes: u32 {
        /// READ, WRITE: `data` is the low-water mark, the bytes needed before reporting
        /// (`NOTE_LOWAT`).
        const LOWAT = libc::NOTE_LOWAT;
        /// VNODE: the file was unlinked (`NOTE_DELETE`).
        const DELETE = libc::NOTE_DELETE;
        /// VNODE: the file's contents changed (`NOTE_WRITE`).
        const WRITE = libc::NOTE_WRITE;
        /// VNODE: the file grew (`NOTE_EXTEND`).
        const EXTEND = libc::NOTE_EXTEND;
        /// VNODE: the file's attributes changed (`NOTE_ATTRIB`).
        const ATTRIB = libc::NOTE_ATTRIB;
        /// VNODE: the file's link count changed (`NOTE_LINK`).
        const LINK = libc::NOTE_LINK;
        /// VNODE: the file was renamed (`NOTE_RENAME`).
        const RENAME = libc::NOTE_RENAME;
        /// VNODE: access to the file was revoked (`revoke(2)`, an unmount) (`NOTE_REVOKE`).
        const REVOKE = libc::NOTE_REVOKE;
        /// PROC: the process exited (`NOTE_EXIT`).
        const EXIT = libc::NOTE_EXIT;
        /// PROC: the process forked (`NOTE_FORK`).
        const FORK = libc::NOTE_FORK;
        /// PROC: the process called `exec` (`NOTE_EXEC`).
        const EXEC = libc::NOTE_EXEC;
        /// PROC: follow forks, registering the children too; not supported by macOS
        /// (`NOTE_TRACK`).
        const TRACK = libc::NOTE_TRACK;
        /// PROC, in results: a child could not be tracked (`NOTE_TRACKERR`).
        const TRACKERR = libc::NOTE_TRACKERR;
        /// PROC, in results: this is a tracked child; `data` is the parent's PID
        /// (`NOTE_CHILD`).
        const CHILD = libc::NOTE_CHILD;
        /// PROC: the control bits, `0xF0000000` (`0xFFF00000` on macOS) (`NOTE_PCTRLMASK`;
        /// `libc` marks FreeBSD's as not stable across OS versions).
        #[allow(deprecated)]
        const PCTRLMASK = libc::NOTE_PCTRLMASK;
        /// PROC: the data bits, `0x000FFFFF` (`NOTE_PDATAMASK`).
        const PDATAMASK = libc::NOTE_PDATAMASK;
        /// USER: fire the event. Not in Python (`NOTE_TRIGGER`).
        const TRIGGER = libc::NOTE_TRIGGER;
        /// USER: AND the low 24 bits of `fflags` into the event's. Not in Python
        /// (`NOTE_FFAND`).
        const FFAND = libc::NOTE_FFAND;
        /// USER: OR the low 24 bits of `fflags` into the event's. Not in Python
        /// (`NOTE_FFOR`).
        const FFOR = libc::NOTE_FFOR;
        /// USER: copy the low 24 bits of `fflags` into the event's. Not in Python
        /// (`NOTE_FFCOPY`).
        const FFCOPY = libc::NOTE_FFCOPY;
        /// USER: the operation bits (`NOTE_FFCTRLMASK`).
        const FFCTRLMASK = libc::NOTE_FFCTRLMASK;
        /// USER: the 24 bits free for the application (`NOTE_FFLAGSMASK`).
        const FFLAGSMASK = libc::NOTE_FFLAGSMASK;
        // Kernel bits without a name here survive `from_bits_retain`.
        const _ = !0;
    }
}

/// `select.KQ_FILTER_READ`.
pub const KQ_FILTER_READ: KqFilter = KqFilter::READ;
/// `select.KQ_FILTER_WRITE`.
pub const KQ_FILTER_WRITE: KqFilter = KqFilter::WRITE;
/// `select.KQ_FILTER_AIO`.
pub const KQ_FILTER_AIO: KqFilter = KqFilter::AIO;
/// `select.KQ_FILTER_VNODE`.
pub const KQ_FILTER_VNODE: KqFilter = KqFilter::VNODE;
/// `select.KQ_FILTER_PROC`.
pub const KQ_FILTER_PROC: KqFilter = KqFilter::PROC;
/// `select.KQ_FILTER_SIGNAL`.
pub const KQ_FILTER_SIGNAL: KqFilter = KqFilter::SIGNAL;
/// `select.KQ_FILTER_TIMER`.
pub const KQ_FILTER_TIMER: KqFilter = KqFilter::TIMER;

/// `select.KQ_EV_ADD`.
pub const KQ_EV_ADD: KqFlags = KqFlags::ADD;
/// `select.KQ_EV_DELETE`.
pub const KQ_EV_DELETE: KqFlags = KqFlags::DELETE;
/// `select.KQ_EV_ENABLE`.
pub const KQ_EV_ENABLE: KqFlags = KqFlags::ENABLE;
/// `select.KQ_EV_DISABLE`.
pub const KQ_EV_DISABLE: KqFlags = KqFlags::DISABLE;
/// `select.KQ_EV_ONESHOT`.
pub const KQ_EV_ONESHOT: KqFlags = KqFlags::ONESHOT;
/// `select.KQ_EV_CLEAR`.
pub const KQ_EV_CLEAR: KqFlags = KqFlags::CLEAR;
/// `select.KQ_EV_FLAG1`.
pub const KQ_EV_FLAG1: KqFlags = KqFlags::FLAG1;
/// `select.KQ_EV_ERROR`.
pub const KQ_EV_ERROR: KqFlags = KqFlags::ERROR;
/// `select.KQ_EV_EOF`.
pub const KQ_EV_EOF: KqFlags = KqFlags::EOF;
/// `select.KQ_EV_SYSFLAGS`.
pub const KQ_EV_SYSFLAGS: KqFlags = KqFlags::SYSFLAGS;

/// `select.KQ_NOTE_LOWAT`.
pub const KQ_NOTE_LOWAT: KqNotes = KqNotes::LOWAT;
/// `select.KQ_NOTE_DELETE`.
pub const KQ_NOTE_DELETE: KqNotes = KqNotes::DELETE;
/// `select.KQ_NOTE_WRITE`.
pub const KQ_NOTE_WRITE: KqNotes = KqNotes::WRITE;
/// `select.KQ_NOTE_EXTEND`.
pub const KQ_NOTE_EXTEND: KqNotes = KqNotes::EXTEND;
/// `select.KQ_NOTE_ATTRIB`.
pub const KQ_NOTE_ATTRIB: KqNotes = KqNotes::ATTRIB;
/// `select.KQ_NOTE_LINK`.
pub const KQ_NOTE_LINK: KqNotes = KqNotes::LINK;
/// `select.KQ_NOTE_RENAME`.
pub const KQ_NOTE_RENAME: KqNotes = KqNotes::RENAME;
/// `select.KQ_NOTE_REVOKE`.
pub const KQ_NOTE_REVOKE: KqNotes = KqNotes::REVOKE;
/// `select.KQ_NOTE_EXIT`.
pub const KQ_NOTE_EXIT: KqNotes = KqNotes::EXIT;
/// `select.KQ_NOTE_FORK`.
pub const KQ_NOTE_FORK: KqNotes = KqNotes::FORK;
/// `select.KQ_NOTE_EXEC`.
pub const KQ_NOTE_EXEC: KqNotes = KqNotes::EXEC;
/// `select.KQ_NOTE_PCTRLMASK`.
pub const KQ_NOTE_PCTRLMASK: KqNotes = KqNotes::PCTRLMASK;
/// `select.KQ_NOTE_PDATAMASK`.
pub const KQ_NOTE_PDATAMASK: KqNotes = KqNotes::PDATAMASK;
/// `select.KQ_NOTE_TRACK`.
pub const KQ_NOTE_TRACK: KqNotes = KqNotes::TRACK;
/// `select.KQ_NOTE_TRACKERR`.
pub const KQ_NOTE_TRACKERR: KqNotes = KqNotes::TRACKERR;
/// `select.KQ_NOTE_CHILD`.
pub const KQ_NOTE_CHILD: KqNotes = KqNotes::CHILD;

/// One kqueue change or event: Python's `select.kevent`.
///
/// Plain data: the fields are public, as Python's attributes are writable. A change is
/// identified by `(ident, filter)`; results come back as new `KEvent`s. Comparison and
/// ordering go through the six fields in order, as Python compares kevents; unlike Python's,
/// a `KEvent` is also hashable.
///
/// ```
/// use ioselectors::select::{KEvent, KqFilter, KqFlags, KqNotes};
///
/// // select.kevent(5)
/// let ev = KEvent::new(5, KqFilter::READ, KqFlags::ADD);
/// assert_eq!((ev.fflags, ev.data, ev.udata), (KqNotes::empty(), 0, 0));
/// // select.kevent(5, KQ_FILTER_READ, KQ_EV_ADD, KQ_NOTE_LOWAT, 100, 7)
/// let lowat = ev.with_fflags(KqNotes::LOWAT).with_data(100).with_udata(7);
/// assert!(ev < lowat);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct KEvent {
    /// What the event is about: a descriptor for READ, WRITE and VNODE, a process ID for
    /// PROC, a signal number for SIGNAL, a number of yours for TIMER and USER. Python:
    /// `ev.ident`.
    pub ident: usize,
    /// The kind of event. Python: `ev.filter`.
    pub filter: KqFilter,
    /// In a change, what to do (`ADD`, `DELETE`, …); in a result, its status (`EOF`,
    /// `ERROR`, …). Python: `ev.flags`.
    pub flags: KqFlags,
    /// Filter-specific flags (`NOTE_*`). Python: `ev.fflags`.
    pub fflags: KqNotes,
    /// Filter-specific data: in results, the bytes ready for READ, the errno for `ERROR`, …;
    /// in changes, e.g. the low-water mark with `LOWAT` or a timer's period. The kernel's
    /// field is `intptr_t` on most systems: on a 32-bit one, [`Kqueue::control`] refuses a
    /// value it cannot hold (`InvalidInput`), as Python raises `OverflowError`. Python:
    /// `ev.data`.
    pub data: i64,
    /// A number the kernel hands back unchanged with every event of the registration.
    /// Python: `ev.udata`. An integer only, as in Python: the kernel drops registrations
    /// without telling (closing a descriptor removes its own), so a pointer kept here could
    /// leak or dangle.
    pub udata: usize,
}

impl KEvent {
    /// A change or event with `fflags`, `data` and `udata` 0. Python:
    /// `select.kevent(ident, filter, flags)`, whose defaults are
    /// `filter=KQ_FILTER_READ, flags=KQ_EV_ADD`.
    pub const fn new(ident: usize, filter: KqFilter, flags: KqFlags) -> KEvent {
        KEvent {
            ident,
            filter,
            flags,
            fflags: KqNotes::empty(),
            data: 0,
            udata: 0,
        }
    }

    /// A change about a descriptor: [`new`](Self::new) with `source`'s number as `ident`.
    /// Python: `select.kevent(sock, filter, flags)` (Python calls `sock.fileno()`).
    ///
    /// The source is borrowed (`&sock`), as everywhere in this crate: only its number is
    /// kept. A source passed by value, which would be closed on return, does not compile:
    ///
    /// ```compile_fail
    /// use ioselectors::select::{KEvent, KqFilter, KqFlags};
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let change = KEvent::fd(a, KqFilter::READ, KqFlags::ADD); // `a` by value
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fd<S: AsFd + ?Sized>(source: &S, filter: KqFilter, flags: KqFlags) -> KEvent {
        KEvent::new(source.as_fd().as_raw_fd() as usize, filter, flags)
    }

    /// The same event with `fflags` set. Python: `kevent(..., fflags=...)`.
    pub const fn with_fflags(self, fflags: KqNotes) -> KEvent {
        KEvent { fflags, ..self }
    }

    /// The same event with `data` set. Python: `kevent(..., data=...)`.
    pub const fn with_data(self, data: i64) -> KEvent {
        KEvent { data, ..self }
    }

    /// The same event with `udata` set. Python: `kevent(..., udata=...)`.
    pub const fn with_udata(self, udata: usize) -> KEvent {
        KEvent { udata, ..self }
    }

    /// The kernel's `struct kevent` for this change.
    fn to_raw(self) -> io::Result<libc::kevent> {
        // SAFETY: `struct kevent` holds only integers, a raw pointer (`udata`) and, on
        // FreeBSD 12 and later, an array of integers (`ext`): all zeros is a valid value.
        let mut raw: libc::kevent = unsafe { mem::zeroed() };
        raw.ident = self.ident;
        raw.filter = self.filter.0;
        raw.flags = self.flags.bits();
        raw.fflags = self.fflags.bits();
        raw.data = narrow(self.data).ok_or_else(|| {
            invalid_input(format!(
                "kevent data {} does not fit in this system's intptr_t",
                self.data
            ))
        })?;
        // An integer, never dereferenced: `*mut c_void` (`isize` in older NetBSD bindings).
        raw.udata = self.udata as _;
        Ok(raw)
    }

    /// A result from the kernel; unknown bits are kept.
    // `data` is `i64` on some systems and `intptr_t` on others.
    #[allow(clippy::unnecessary_cast)]
    fn from_raw(raw: &libc::kevent) -> KEvent {
        KEvent {
            ident: raw.ident,
            filter: KqFilter(raw.filter),
            flags: KqFlags::from_bits_retain(raw.flags),
            fflags: KqNotes::from_bits_retain(raw.fflags),
            data: raw.data as i64,
            udata: raw.udata as usize,
        }
    }
}

/// `data` into the kernel's type (`intptr_t` or `i64`), if it fits. Generic so that the
/// conversion is the identity where the kernel's type is `i64`.
fn narrow<T: TryFrom<i64>>(data: i64) -> Option<T> {
    T::try_from(data).ok()
}

/// The most changes, and events, one `kevent(2)` call takes: its counts are `int`.
const MAX_COUNT: usize = libc::c_int::MAX as usize;

/// Storage for [`Kqueue::control`]: up to [`capacity`](Self::capacity) results per call
/// (Python's `max_events`), and the kernel's arrays for the changes and the results, kept
/// from call to call so that a loop that reuses it makes no heap allocation once they have
/// grown. [`iter`](Self::iter) reads the last call's results. The same shape as epoll's
/// `EpollEvents`.
pub struct KqueueEvents {
    /// At most this many results per call.
    capacity: usize,
    /// The changes of the call, in the kernel's form.
    changes: Vec<libc::kevent>,
    /// The results of the last call: as many as the kernel wrote.
    results: Vec<libc::kevent>,
}

// SAFETY: `libc::kevent` is neither `Send` nor `Sync` only because `udata` is a pointer on
// some systems. This crate stores nothing but integers there (`KEvent::udata` is a `usize`),
// and the kernel hands back what was stored: integers too.
unsafe impl Send for KqueueEvents {}
// SAFETY: as above; shared access only reads integers.
unsafe impl Sync for KqueueEvents {}

impl KqueueEvents {
    /// Room for `max_events` results per call (at most `i32::MAX`, what one call takes); 0
    /// makes a call apply its changes only. Nothing is allocated until a call needs it.
    pub fn with_capacity(max_events: usize) -> KqueueEvents {
        KqueueEvents {
            capacity: max_events.min(MAX_COUNT),
            changes: Vec::new(),
            results: Vec::new(),
        }
    }

    /// How many results one call can return.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many results the last call returned.
    pub fn len(&self) -> usize {
        self.results.len()
    }

    /// Whether the last call returned no result.
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }

    /// The last call's results, in the kernel's order.
    pub fn iter(&self) -> impl Iterator<Item = KEvent> + '_ {
        self.results.iter().map(KEvent::from_raw)
    }
}

impl fmt::Debug for KqueueEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KqueueEvents")
            .field("capacity", &self.capacity)
            .field("results", &self.iter().collect::<Vec<_>>())
            .finish()
    }
}

/// Python's `select.kqueue` object: one kqueue. Changes and waits go through one call,
/// [`control`](Self::control) (or [`control_vec`](Self::control_vec), shaped as Python's).
///
/// ```
/// use ioselectors::select::{KEvent, Kqueue, KqFilter, KqFlags};
/// use std::io::Write;
/// use std::os::unix::io::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let kq = Kqueue::new()?;                                            // kq = select.kqueue()
/// let (a, mut b) = UnixStream::pair()?;
/// let change = KEvent::fd(&a, KqFilter::READ, KqFlags::ADD);           // select.kevent(a)
/// kq.control_vec(&[change], 0, None)?;                                // kq.control([change], 0)
/// b.write_all(b"hello")?;
/// let events = kq.control_vec(&[], 8, Some(Duration::from_secs(1)))?; // kq.control(None, 8, 1.0)
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].ident, a.as_raw_fd() as usize);
/// assert_eq!(events[0].filter, KqFilter::READ);
/// assert_eq!(events[0].data, 5); // bytes ready to read
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// What kqueue tracks:
/// * Each `(ident, filter)` pair is one registration: READ and WRITE of one descriptor are
///   two, and come back as two results. Adding a pair again modifies it.
/// * Registrations are level-triggered unless `CLEAR` (reset when retrieved) or `ONESHOT`
///   (deleted after one event) is set.
/// * **kqueue tracks descriptors, not open files**: closing a descriptor removes its
///   registrations, even if a duplicate of it stays open. epoll's problem of events that
///   outlive the closed number does not exist here.
/// * A change that fails comes back as a result with `ERROR` in `flags` and the errno in
///   `data` when the call has room for results, and as the call's error when it has none.
///   [`KqFlags::RECEIPT`] makes every change report its status that way.
///
/// All methods take `&self`, and one `Kqueue` can be shared by threads.
///
/// **fork**: a kqueue is not inherited by a child process. In a child, a `Kqueue` created
/// by the parent names a closed (or reused) number: do not use it there. Dropping or closing
/// it in the child leaves that number alone (python/cpython#110395).
///
/// Type-checked on Linux for Apple and the BSDs; its tests run in the macOS and FreeBSD CI
/// jobs.
pub struct Kqueue {
    /// Closed only by the process that created the kqueue (see `Drop`).
    fd: ManuallyDrop<OwnedFd>,
    /// The ID of that process.
    pid: u32,
}

impl fmt::Debug for Kqueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kqueue")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

impl Kqueue {
    /// Creates a kqueue (close-on-exec). Python: `select.kqueue()`.
    ///
    /// As in Python, close-on-exec is set just after `kqueue()`, so a thread that forks and
    /// execs at that instant could pass it on; on NetBSD, `kqueue1(O_CLOEXEC)` sets it at
    /// once. (A kqueue does not survive `fork` anyway.)
    pub fn new() -> io::Result<Kqueue> {
        #[cfg(target_os = "netbsd")]
        let fd = {
            use std::os::unix::io::FromRawFd;
            // SAFETY: kqueue1 takes no pointer; it returns -1 or a new descriptor.
            let raw = unsafe { libc::kqueue1(libc::O_CLOEXEC) };
            if raw == -1 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a new, open descriptor that nothing else owns.
            unsafe { OwnedFd::from_raw_fd(raw) }
        };
        #[cfg(not(target_os = "netbsd"))]
        let fd = {
            let fd = rustix::event::kqueue::kqueue()?;
            rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
            fd
        };
        Ok(Kqueue::from_fd(fd))
    }

    /// Adopts a kqueue descriptor. Python: `select.kqueue.fromfd(fd)` — but this takes
    /// ownership of exactly one descriptor, so two objects can never close the same number.
    /// Give it `fd.try_clone()?` to keep yours: the duplicate names the same kqueue. A
    /// descriptor that is not a kqueue makes `control` fail.
    pub fn from_fd(fd: OwnedFd) -> Kqueue {
        Kqueue {
            fd: ManuallyDrop::new(fd),
            pid: process::id(),
        }
    }

    /// Applies `changes`, then waits for events and fills `events` with up to its
    /// [capacity](KqueueEvents::capacity) of them, in the kernel's order; returns how many.
    /// `events` is cleared first; once its arrays have grown, a loop that reuses it makes no
    /// heap allocation. Python: `kq.control(changes, events.capacity(), timeout)`.
    ///
    /// With a capacity of 0, only the changes are applied, and the call returns at once
    /// whatever the timeout; a change that fails is then the call's error. With room, a
    /// failed change comes back instead as a result with [`KqFlags::ERROR`] and the errno in
    /// `data`, and the call succeeds.
    ///
    /// `None` blocks, `Some(Duration::ZERO)` only looks, and a positive timeout is passed
    /// exactly (nanoseconds); the call never returns before it. A signal (`EINTR`) is
    /// followed by a retry with the time left, as Python does since PEP 475, but with an
    /// empty change list: the kernel applied the changes already, and would fail an
    /// `EV_DELETE` given twice. Once the timeout has passed, it returns 0.
    ///
    /// # Errors
    /// A change the kernel refuses when there is no room for results, as the kernel gave it
    /// (`raw_os_error()` is the errno: `EBADF` for a closed descriptor, `ENOENT` (`NotFound`)
    /// for deleting what is not registered, …). This crate's own: `InvalidInput` for more
    /// than `i32::MAX` changes, or a `data` the kernel's field cannot hold; `OutOfMemory` if
    /// the arrays cannot grow.
    pub fn control(
        &self,
        changes: &[KEvent],
        events: &mut KqueueEvents,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        events.results.clear();
        events.changes.clear();
        if changes.len() > MAX_COUNT {
            return Err(invalid_input(format!(
                "kqueue control: {} changes, but at most {MAX_COUNT} fit in one call",
                changes.len()
            )));
        }
        events
            .changes
            .try_reserve(changes.len())
            .map_err(out_of_memory)?;
        events
            .results
            .try_reserve(events.capacity)
            .map_err(out_of_memory)?;
        for change in changes {
            events.changes.push(change.to_raw()?);
        }
        if events.capacity == 0 {
            // No room for results: the kernel applies the changes and returns at once,
            // whatever the timeout.
            return self.kevent(events, true, None);
        }
        let mut first = true;
        wait_until(timeout, |timeout| {
            // The changes are applied by the first call only: the kernel would fail an
            // `EV_DELETE` given twice.
            let apply = std::mem::replace(&mut first, false);
            self.kevent(events, apply, timeout)
        })
    }

    /// Like [`control`](Self::control), but returns a new `Vec` of at most `max_events`
    /// events. Python: `kq.control(changes, max_events, timeout)`.
    pub fn control_vec(
        &self,
        changes: &[KEvent],
        max_events: usize,
        timeout: Option<Duration>,
    ) -> io::Result<Vec<KEvent>> {
        let mut events = KqueueEvents::with_capacity(max_events);
        self.control(changes, &mut events, timeout)?;
        Ok(events.iter().collect())
    }

    /// One `kevent(2)`: applies `events.changes` if `apply`, and keeps up to
    /// `events.capacity` results in `events.results`, whose room for them is reserved.
    fn kevent(
        &self,
        events: &mut KqueueEvents,
        apply: bool,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let KqueueEvents {
            capacity,
            changes,
            results,
        } = events;
        let capacity = *capacity;
        let nchanges = if apply { changes.len() } else { 0 };
        // Panics if the caller reserved too little: the kernel writes only here.
        let room = &mut results.spare_capacity_mut()[..capacity];
        let timespec = timeout.map(to_libc_timespec);
        let timespec_ptr = timespec
            .as_ref()
            .map_or(ptr::null(), |timespec| timespec as *const libc::timespec);
        // SAFETY: `changes` holds at least `nchanges` initialised entries, which the kernel
        // reads; `room` is `capacity` entries of spare capacity, in another allocation, and
        // the kernel writes at most that many. Both counts are at most `MAX_COUNT`: they fit
        // in `int`. `timespec_ptr` is null or points to `timespec`, which outlives the call.
        // The kernel keeps no pointer after the call and never dereferences `udata` or
        // `ident` (an ident that is not an open descriptor gives `EBADF`). The kqueue
        // descriptor is owned by `self`.
        let n = unsafe {
            libc::kevent(
                self.fd.as_raw_fd(),
                changes.as_ptr(),
                nchanges as _,
                room.as_mut_ptr().cast::<libc::kevent>(),
                capacity as _,
                timespec_ptr,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(capacity);
        // SAFETY: the kernel initialised the first `n` entries of the spare capacity, and
        // `n` is within it.
        unsafe { results.set_len(n) };
        Ok(n)
    }

    /// Closes the kqueue (the registered descriptors stay open), reporting `close(2)`'s
    /// error, which Python ignores. Python: `kq.close()`. Dropping closes too, silently;
    /// taking `self` makes use after close a compile error instead of Python's `ValueError`.
    ///
    /// In a child process after `fork`, the number is not this kqueue's (a kqueue is not
    /// inherited), so it is left alone and `Ok(())` is returned.
    ///
    /// ```compile_fail
    /// use ioselectors::select::Kqueue;
    /// use std::os::unix::io::AsRawFd;
    ///
    /// let kq = Kqueue::new()?;
    /// kq.close()?;
    /// kq.as_raw_fd(); // error: use of moved value
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close(self) -> io::Result<()> {
        let (fd, ours) = self.into_parts();
        let raw = fd.into_raw_fd();
        if !ours {
            return Ok(());
        }
        // SAFETY: `raw` was just released from its `OwnedFd`: this process owns it and
        // nothing else will close it.
        if unsafe { libc::close(raw) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The descriptor, and whether this process created the kqueue, without running `Drop`.
    fn into_parts(self) -> (OwnedFd, bool) {
        let ours = self.pid == process::id();
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped (so `Kqueue::drop` does not see the descriptor
        // again) nor used after this line: the descriptor is moved out exactly once.
        let fd = unsafe { ManuallyDrop::take(&mut this.fd) };
        (fd, ours)
    }
}

/// The wait's timeout, exactly, in libc's type (`kevent` is called through libc). Longer
/// waits than a 32-bit `time_t` holds cannot occur: `wait_until` caps each wait at
/// `i32::MAX` milliseconds.
fn to_libc_timespec(timeout: Duration) -> libc::timespec {
    let timespec = to_timespec(timeout);
    libc::timespec {
        tv_sec: timespec.tv_sec as libc::time_t,
        tv_nsec: timespec.tv_nsec as libc::c_long,
    }
}

#[cold]
fn out_of_memory(err: std::collections::TryReserveError) -> io::Error {
    io::Error::new(io::ErrorKind::OutOfMemory, err)
}

impl Drop for Kqueue {
    fn drop(&mut self) {
        // A kqueue is not inherited across fork(): in a child, the number is closed, or
        // already reused by an unrelated file, which closing it would close
        // (python/cpython#110395). Any process but the creator forgets the number instead.
        if self.pid == process::id() {
            // SAFETY: the descriptor is dropped exactly once, here; `self.fd` is not used
            // after `drop`.
            unsafe { ManuallyDrop::drop(&mut self.fd) }
        }
    }
}

impl From<OwnedFd> for Kqueue {
    /// Adopts a kqueue descriptor: [`Kqueue::from_fd`].
    fn from(fd: OwnedFd) -> Kqueue {
        Kqueue::from_fd(fd)
    }
}

impl From<Kqueue> for OwnedFd {
    /// Gives up the kqueue for its descriptor.
    ///
    /// # Panics
    /// In a child process after `fork`: the kqueue was not inherited, so the number is not
    /// this process's to own.
    fn from(kq: Kqueue) -> OwnedFd {
        let (fd, ours) = kq.into_parts();
        if !ours {
            let raw = fd.into_raw_fd();
            panic!(
                "kqueue fd {raw} was created by another process: \
                 a kqueue is not inherited across fork()"
            );
        }
        fd
    }
}

impl AsFd for Kqueue {
    /// The kqueue descriptor (Python's `fileno()`), e.g. to wait for it in another kqueue
    /// or in `poll`: it is readable while events are pending.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Kqueue {
    /// Python: `kq.fileno()`.
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    //! The conversion to the kernel's struct; everything else is tested through the public
    //! API in `tests/kqueue_object.rs`.

    use super::*;

    #[test]
    fn raw_round_trip_keeps_every_field() {
        let ev = KEvent {
            ident: usize::MAX,
            filter: KqFilter::from_raw(42),
            flags: KqFlags::from_bits_retain(0x8421),
            fflags: KqNotes::from_bits_retain(0xdead_beef),
            data: -7,
            udata: usize::MAX - 1,
        };
        assert_eq!(KEvent::from_raw(&ev.to_raw().unwrap()), ev);
        let big = ev.with_data(i64::MAX);
        match big.to_raw() {
            Ok(raw) => assert_eq!(KEvent::from_raw(&raw), big),
            Err(err) => assert_eq!(err.kind(), io::ErrorKind::InvalidInput),
        }
    }
}
