//! The registry: every rule of Python's `_BaseSelectorImpl`, written once for all backends.

use crate::backend::{Backend, Tag};
use crate::deadline::Deadline;
use crate::fd_map::FdMap;
use crate::source::{self, AsSource, BorrowedSource, Fileno, RawSource};
use crate::{Events, SelectorError, SelectorKey, SelectorMap};
use std::fmt;
use std::io;
use std::num::NonZeroU32;
use std::time::Duration;

/// A ready source as `select()` reports it: a snapshot of its key and the events that are
/// ready (never empty, always within `key.events`).
pub type Ready<T> = (SelectorKey<T>, Events);

/// One registration as the registry stores it.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    pub(crate) key: SelectorKey<T>,
    /// Where this fd's entry sits in the ready list being built, plus one, so that a second
    /// event for the same fd (kqueue reports READ and WRITE apart) merges into it. Checked
    /// against the entry's fd before use, so a stale index from an earlier `select()` is
    /// harmless. Non-zero, so that `Option<Slot<T>>` needs no tag: 8 bytes less per fd.
    ready_index: NonZeroU32,
    /// Which registration of `key.fd` this is (see [`Tag`]).
    tag: Tag,
}

/// A selector: Python's `selectors` API over the OS mechanism `B`.
///
/// Use it through its aliases — [`DefaultSelector`](crate::DefaultSelector),
/// `EpollSelector` (Linux), [`PollSelector`](crate::PollSelector),
/// `SelectSelector`, [`PollingSelector`](crate::PollingSelector) —
/// or generically through [`BaseSelector`]. `T` is the data stored with each registration.
///
/// The rules are the same for every backend:
/// * `events` is checked first, on `register` and `modify`: empty or unknown bits give
///   `InvalidInput`, and a refused `modify` leaves the old registration as it was.
/// * Registering twice gives `AlreadyExists`; a lookup of an unregistered fd gives
///   `NotFound`; a negative fd gives `InvalidInput`. After [`close`](Self::close) every
///   method but `close` fails (see [`SelectorError::Closed`]).
/// * A kernel refusal at `register` is returned unchanged and leaves no key behind.
///   `unregister` of a registered fd always succeeds, even if the fd was closed or its number
///   reused since.
/// * A `modify` that changes only the data makes no syscall.
/// * Readiness is level-triggered, masked by the registered events; hang-up and error count
///   as ready for whatever was registered. One entry per fd, and every ready fd can come
///   back from a single `select()`.
/// * `select(None)` blocks, `select(Some(Duration::ZERO))` polls, and a positive timeout
///   never returns early. Signals (`EINTR`) are retried with the time that is left.
pub struct Selector<B: Backend, T> {
    pub(crate) backend: B,
    keys: FdMap<Slot<T>>,
    /// The tag of the next registration.
    next_tag: Tag,
    closed: bool,
}

impl<B: Backend, T> Selector<B, T> {
    /// Creates the selector and its kernel object, if the backend has one.
    pub fn new() -> io::Result<Self> {
        Ok(Selector::with_backend(B::open()?))
    }

    pub(crate) fn with_backend(backend: B) -> Self {
        Selector {
            backend,
            keys: FdMap::new(),
            next_tag: 0,
            closed: false,
        }
    }

    fn ensure_open(
        &self,
        operation: &'static str,
        fd: Option<RawSource>,
    ) -> Result<(), SelectorError> {
        if self.closed {
            Err(SelectorError::Closed { operation, fd })
        } else {
            Ok(())
        }
    }

    /// Starts watching `source` for `events`, storing `data` with it, and returns the new key.
    ///
    /// `source` is borrowed only for the call: the selector does not own it, so passing a
    /// source by value (which would close it on return) does not compile. Unregister it
    /// before closing it (or unregister it by number afterwards). To have the selector keep
    /// the source alive, as Python's keys do, use [`register_owned`](Self::register_owned).
    ///
    /// ```compile_fail
    /// # use ioselectors::{DefaultSelector, EVENT_READ};
    /// let mut sel = DefaultSelector::new()?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// sel.register(listener, EVENT_READ, ())?; // a value: it would be closed at once
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` for an invalid mask (or, for `SelectSelector`
    /// on Unix, an fd ≥ `FD_SETSIZE`), `AlreadyExists` if the fd is registered, the kernel's
    /// error if it refuses the source (epoll: `PermissionDenied` for regular files), and an
    /// error after `close()`. On error nothing is registered.
    #[inline]
    pub fn register<S: AsSource + ?Sized>(
        &mut self,
        source: &S,
        events: Events,
        data: T,
    ) -> io::Result<&SelectorKey<T>> {
        let (fd, tag) = self.add(source.as_source(), events)?;
        Ok(self.insert(fd, events, data, tag))
    }

    /// Registers a source that the selector keeps: `source` becomes the registration's data
    /// (Python's `key.fileobj`), stays open for as long as it is registered, and comes back
    /// with the key from [`unregister`](Self::unregister). A ported program then needs no
    /// map of its own from descriptors to streams.
    ///
    /// `select` hands out snapshots of the keys, so it needs `T: Clone`: register an `Rc` or
    /// `Arc` of the source (they lend out its descriptor too).
    ///
    /// ```
    /// use ioselectors::{DefaultSelector, EVENT_READ};
    /// use std::net::{TcpListener, TcpStream};
    /// use std::rc::Rc;
    ///
    /// let mut sel = DefaultSelector::<Rc<TcpListener>>::new()?;
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// // sel.register(listener, EVENT_READ): the selector holds it now.
    /// let fd = sel.register_owned(Rc::new(listener), EVENT_READ)?.fd;
    /// let _client = TcpStream::connect(addr)?;
    /// for (key, _events) in sel.select(None)? {
    ///     let (_conn, _) = key.data.accept()?; // key.fileobj.accept()
    /// }
    /// let listener: Rc<TcpListener> = sel.unregister(fd)?.data; // given back, still open
    /// # drop(listener);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`register`](Self::register); the refusal gives the source back
    /// ([`Refused::source`]), and converts into an `io::Error` for `?`.
    pub fn register_owned(
        &mut self,
        source: T,
        events: Events,
    ) -> Result<&SelectorKey<T>, Refused<T>>
    where
        T: AsSource,
    {
        match self.add(source.as_source(), events) {
            Ok((fd, tag)) => Ok(self.insert(fd, events, source, tag)),
            Err(error) => Err(Refused { error, source }),
        }
    }

    /// Every check of `register`, then the kernel's: returns the number and the tag.
    #[inline(always)]
    fn add(
        &mut self,
        borrowed: BorrowedSource<'_>,
        events: Events,
    ) -> io::Result<(RawSource, Tag)> {
        let fd = source::raw(borrowed);
        self.ensure_open("register", Some(fd))?;
        check_events(fd, events)?;
        source::check_number(fd)?;
        B::check_fd(fd)?;
        source::check_kind(borrowed)?;
        if self.keys.get(fd).is_some() {
            return Err(SelectorError::AlreadyRegistered { fd }.into());
        }
        let tag = self.next_tag;
        self.backend.add(borrowed, events, tag)?;
        self.next_tag = tag.wrapping_add(1);
        Ok((fd, tag))
    }

    #[inline(always)]
    fn insert(&mut self, fd: RawSource, events: Events, data: T, tag: Tag) -> &SelectorKey<T> {
        let slot = Slot {
            key: SelectorKey { fd, events, data },
            ready_index: NonZeroU32::MAX,
            tag,
        };
        &self.keys.insert(fd, slot).key
    }

    /// Changes the events and data of a registration and returns the updated key.
    ///
    /// A change of data alone makes no syscall; a change of events is one kernel call
    /// (`EPOLL_CTL_MOD` on epoll, none at all on poll and select).
    ///
    /// # Errors
    /// `InvalidInput` for an invalid mask or fd, `NotFound` if not registered, the kernel's
    /// error if it refuses the change, an error after `close()`. On error the previous
    /// registration (events and data) stays exactly as it was.
    #[inline]
    pub fn modify(
        &mut self,
        fileobj: impl Fileno,
        events: Events,
        data: T,
    ) -> io::Result<&SelectorKey<T>> {
        let fd = fileobj.fileno();
        self.ensure_open("modify", Some(fd))?;
        check_events(fd, events)?;
        let slot = lookup_mut(&mut self.keys, fd)?;
        if slot.key.events != events {
            self.backend.modify(fd, events, slot.tag)?;
            slot.key.events = events;
        }
        slot.key.data = data;
        Ok(&slot.key)
    }

    /// Stops watching a source and gives its key (and so its data) back.
    ///
    /// Accepts the source or its number, so a source that was closed (or whose number now
    /// names another file) can still be unregistered: that always succeeds.
    ///
    /// # Errors
    /// `NotFound` if not registered, `InvalidInput` for a negative fd, an error after
    /// `close()`.
    #[inline]
    pub fn unregister(&mut self, fileobj: impl Fileno) -> io::Result<SelectorKey<T>> {
        let fd = fileobj.fileno();
        self.ensure_open("unregister", Some(fd))?;
        source::check_number(fd)?;
        let slot = self
            .keys
            .remove(fd)
            .ok_or(SelectorError::NotRegistered { fd })?;
        self.backend.delete(fd);
        Ok(slot.key)
    }

    /// Waits until at least one registered source is ready, or the timeout passes, and
    /// returns one `(key, ready_events)` entry per ready source (empty on timeout).
    ///
    /// `None` blocks; `Some(Duration::ZERO)` only looks; a positive timeout is rounded up to
    /// the backend's unit and never returns early. The keys are snapshots (clones), so the
    /// caller may register, modify and unregister while walking the list.
    ///
    /// This allocates the returned `Vec`; a hot loop should use
    /// [`select_into`](Self::select_into), which does not.
    ///
    /// # Errors
    /// The kernel's, as it gave them: `select` (`SelectSelector`) fails with `EBADF` while a
    /// registered descriptor is closed; epoll-based selectors return `EMFILE`, `ENFILE`,
    /// `ENOMEM` or `ENOSPC` when a dead registration's entry must be purged (see the crate
    /// docs on duplicated descriptors) but the kernel's set cannot be rebuilt, and nothing
    /// live is ready; the registrations are all kept, and a later call tries again. An error
    /// after `close()`.
    #[inline]
    pub fn select(&mut self, timeout: Option<Duration>) -> io::Result<Vec<Ready<T>>>
    where
        T: Clone,
    {
        let mut ready = Vec::new();
        self.select_into(timeout, &mut ready)?;
        Ok(ready)
    }

    /// Like [`select`](Self::select), but fills `ready` (cleared first) and returns how many
    /// entries it holds. Once `ready` and the selector's event buffer have grown to fit, a
    /// call makes no heap allocation (if cloning `T` does not allocate: use `Copy` data, an
    /// index, or an `Rc`/`Arc`).
    // Inlined down to the syscall: each call frame left between the caller's loop and
    // epoll_wait costs a mispredicted return after the syscall on CPUs whose kernel refills the
    // return stack buffer on exit (measured here: ~50 ns a frame, against a ~300 ns
    // epoll_wait). See docs/benchmarks.md.
    #[inline(always)]
    pub fn select_into(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<Ready<T>>,
    ) -> io::Result<usize>
    where
        T: Clone,
    {
        ready.clear();
        self.ensure_open("select", None)?;
        let deadline = Deadline::after(timeout);
        let mut purged = false;
        loop {
            let (waited, dead_seen) = self.wait_once(deadline.remaining(), ready);
            if dead_seen {
                if let Err(err) = self.purge_dead_entries() {
                    // The kernel's set could not be rebuilt (no descriptor, memory or epoll
                    // watch left); the old one stays, whole. Report what is live, or why not:
                    // waiting on would wake at once, again and again, for the dead entry.
                    return if ready.is_empty() {
                        Err(err)
                    } else {
                        Ok(ready.len())
                    };
                }
                // The dead entries may have taken the room of live events: look once more,
                // at once if something is ready, else for the time left (even if the
                // deadline has passed).
                if waited.is_ok() && !purged {
                    purged = true;
                    if ready.is_empty() {
                        continue;
                    }
                    let _ = self.wait_once(Some(Duration::ZERO), ready);
                    return Ok(ready.len());
                }
            }
            match waited {
                Ok(()) if !ready.is_empty() => return Ok(ready.len()),
                // Nothing ready (or only events nobody asked for): keep waiting until the
                // deadline, so a backend that wakes early never shortens the timeout.
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
            if deadline.has_passed() {
                return Ok(0);
            }
        }
    }

    /// One wait of the backend. What it reports of live registrations goes to `ready`,
    /// masked by interest and merged per fd; the flag says whether it reported an event of a
    /// registration that is gone (unregistered, or replaced by a new one under the same
    /// number), which is never reported.
    #[inline(always)]
    fn wait_once(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<Ready<T>>,
    ) -> (io::Result<()>, bool)
    where
        T: Clone,
    {
        let keys = &mut self.keys;
        let mut dead_seen = false;
        let waited = self.backend.wait(timeout, keys.len(), |fd, tag, events| {
            match keys.get_mut(fd) {
                Some(slot) if tag.map_or(true, |tag| tag == slot.tag) => {
                    let interest = slot.key.events;
                    collect(ready, slot, events & interest);
                    Some(interest)
                }
                _ => {
                    dead_seen = true;
                    None
                }
            }
        });
        (waited, dead_seen)
    }

    /// A wait reported an event of a registration that is gone: its kernel entry would wake
    /// every wait from now on, so the kernel is made to forget all but the live ones.
    #[cold]
    fn purge_dead_entries(&mut self) -> io::Result<()> {
        self.backend.purge(
            &mut self
                .keys
                .iter()
                .map(|(fd, slot)| (fd, slot.key.events, slot.tag)),
        )
    }

    /// The key of a registered source (given as a source or by number).
    ///
    /// # Errors
    /// `NotFound` if not registered, `InvalidInput` for a negative fd, an error after `close()`.
    #[inline]
    pub fn get_key(&self, fileobj: impl Fileno) -> io::Result<&SelectorKey<T>> {
        let fd = fileobj.fileno();
        self.ensure_open("get_key", Some(fd))?;
        source::check_number(fd)?;
        match self.keys.get(fd) {
            Some(slot) => Ok(&slot.key),
            None => Err(SelectorError::NotRegistered { fd }.into()),
        }
    }

    /// A read-only view of all registrations, keyed by fd.
    ///
    /// # Errors
    /// An error after `close()` (Python returns `None` there).
    pub fn get_map(&self) -> io::Result<SelectorMap<'_, T>> {
        self.ensure_open("get_map", None)?;
        Ok(SelectorMap::new(&self.keys))
    }

    /// Forgets every registration and releases what they hold in the kernel (epoll: the
    /// whole working set, entries and all). Idempotent; dropping the selector closes it too.
    /// The registered sources themselves stay open, and so does the descriptor `as_fd()`
    /// lends (empty), until the selector is dropped, so that it stays sound.
    ///
    /// In a child process after `fork`, `close` and drop leave the parent's kernel objects
    /// alone: an epoll set is shared with the parent, and a kqueue is not inherited at all
    /// (its number may name an unrelated file in the child). Do not otherwise use a
    /// selector in a forked child: its registrations are the parent's.
    pub fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.backend.close(&mut self.keys.iter().map(|(fd, _)| fd));
            self.keys.clear();
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// A refused [`register_owned`](Selector::register_owned): why, and the source, given back
/// unharmed. `?` turns it into the `io::Error`.
pub struct Refused<S> {
    /// Why the source was refused (the error `register` would return).
    pub error: io::Error,
    /// The source, still open.
    pub source: S,
}

impl<S> fmt::Debug for Refused<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<S> fmt::Display for Refused<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<S> std::error::Error for Refused<S> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<S> From<Refused<S>> for io::Error {
    fn from(refused: Refused<S>) -> io::Error {
        refused.error
    }
}

/// Adds `events` for `slot` to the ready list, merging with the fd's entry if it has one.
#[inline(always)]
fn collect<T: Clone>(ready: &mut Vec<Ready<T>>, slot: &mut Slot<T>, events: Events) {
    if events.is_empty() {
        return;
    }
    match ready.get_mut(slot.ready_index.get() as usize - 1) {
        Some((key, seen)) if key.fd == slot.key.fd => *seen |= events,
        _ => {
            ready.push((slot.key.clone(), events));
            slot.ready_index = NonZeroU32::new(ready.len() as u32).unwrap_or(NonZeroU32::MAX);
        }
    }
}

fn check_events(fd: RawSource, events: Events) -> Result<(), SelectorError> {
    if events.is_valid_interest() {
        Ok(())
    } else {
        Err(SelectorError::InvalidEvents { fd, events })
    }
}

fn lookup_mut<T>(keys: &mut FdMap<Slot<T>>, fd: RawSource) -> Result<&mut Slot<T>, SelectorError> {
    source::check_number(fd)?;
    keys.get_mut(fd).ok_or(SelectorError::NotRegistered { fd })
}

impl<B: Backend, T> Drop for Selector<B, T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<B: Backend, T> fmt::Debug for Selector<B, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("backend", &B::NAME)
            .field("registered", &self.keys.len())
            .field("closed", &self.closed)
            .finish()
    }
}

/// Python's `selectors.BaseSelector`: the interface every selector type implements, so
/// generic code (and one test suite) runs on every backend.
///
/// The methods mean exactly what the inherent methods of [`Selector`] document.
///
/// ```
/// use ioselectors::{BaseSelector, DefaultSelector, EVENT_READ};
/// use std::time::Duration;
///
/// fn nothing_ready(sel: &mut impl BaseSelector<u32>) -> std::io::Result<bool> {
///     Ok(sel.select(Some(Duration::ZERO))?.is_empty())
/// }
///
/// let mut sel = DefaultSelector::<u32>::new()?;
/// assert!(nothing_ready(&mut sel)?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait BaseSelector<T> {
    /// See [`Selector::register`].
    fn register<S: AsSource + ?Sized>(
        &mut self,
        source: &S,
        events: Events,
        data: T,
    ) -> io::Result<&SelectorKey<T>>;
    /// See [`Selector::register_owned`].
    fn register_owned(&mut self, source: T, events: Events) -> Result<&SelectorKey<T>, Refused<T>>
    where
        T: AsSource;
    /// See [`Selector::modify`].
    fn modify(
        &mut self,
        fileobj: impl Fileno,
        events: Events,
        data: T,
    ) -> io::Result<&SelectorKey<T>>;
    /// See [`Selector::unregister`].
    fn unregister(&mut self, fileobj: impl Fileno) -> io::Result<SelectorKey<T>>;
    /// See [`Selector::select`].
    fn select(&mut self, timeout: Option<Duration>) -> io::Result<Vec<Ready<T>>>
    where
        T: Clone;
    /// See [`Selector::select_into`].
    fn select_into(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<Ready<T>>,
    ) -> io::Result<usize>
    where
        T: Clone;
    /// See [`Selector::get_key`].
    fn get_key(&self, fileobj: impl Fileno) -> io::Result<&SelectorKey<T>>;
    /// See [`Selector::get_map`].
    fn get_map(&self) -> io::Result<SelectorMap<'_, T>>;
    /// See [`Selector::close`].
    fn close(&mut self);
}

impl<B: Backend, T> BaseSelector<T> for Selector<B, T> {
    #[inline]
    fn register<S: AsSource + ?Sized>(
        &mut self,
        source: &S,
        events: Events,
        data: T,
    ) -> io::Result<&SelectorKey<T>> {
        Selector::register(self, source, events, data)
    }
    #[inline]
    fn register_owned(&mut self, source: T, events: Events) -> Result<&SelectorKey<T>, Refused<T>>
    where
        T: AsSource,
    {
        Selector::register_owned(self, source, events)
    }
    #[inline]
    fn modify(
        &mut self,
        fileobj: impl Fileno,
        events: Events,
        data: T,
    ) -> io::Result<&SelectorKey<T>> {
        Selector::modify(self, fileobj, events, data)
    }
    #[inline]
    fn unregister(&mut self, fileobj: impl Fileno) -> io::Result<SelectorKey<T>> {
        Selector::unregister(self, fileobj)
    }
    #[inline]
    fn select(&mut self, timeout: Option<Duration>) -> io::Result<Vec<Ready<T>>>
    where
        T: Clone,
    {
        Selector::select(self, timeout)
    }
    #[inline]
    fn select_into(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<Ready<T>>,
    ) -> io::Result<usize>
    where
        T: Clone,
    {
        Selector::select_into(self, timeout, ready)
    }
    #[inline]
    fn get_key(&self, fileobj: impl Fileno) -> io::Result<&SelectorKey<T>> {
        Selector::get_key(self, fileobj)
    }
    #[inline]
    fn get_map(&self) -> io::Result<SelectorMap<'_, T>> {
        Selector::get_map(self)
    }
    #[inline]
    fn close(&mut self) {
        Selector::close(self)
    }
}
