//! The selector: every rule of Python's `_BaseSelectorImpl`, written once for all backends
//! (in [`State`], shared with the [`Registry`] handles), and the keys, kept on the
//! selector's thread.

use crate::backend::{Backend, Tag};
use crate::deadline::wait_until;
use crate::fd_map::FdMap;
use crate::registry::{lock, Change, Hints, Registry, Shared, State};
use crate::source::{self, AsSource, Fileno, RawSource};
use crate::{Events, SelectorError, SelectorKey, SelectorMap};
use std::fmt;
use std::io;
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A ready source as `select()` reports it: a snapshot of its key and the events that are
/// ready (never empty, always within `key.events`).
pub type Ready<T> = (SelectorKey<T>, Events);

/// A ready source as [`select_fds`](Selector::select_fds) reports it: which registration,
/// and what is ready, without a copy of its data. [`Selector::key_mut`] lends the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyFd {
    fd: RawSource,
    events: Events,
    tag: Tag,
}

impl ReadyFd {
    /// The registered descriptor.
    pub fn fd(&self) -> RawSource {
        self.fd
    }

    /// What is ready: never empty, always within the registered events.
    pub fn events(&self) -> Events {
        self.events
    }
}

/// A registration's key with its data lent mutably: what [`Selector::get_key_mut`] and
/// [`Selector::key_mut`] return. The descriptor and the events are copies: change the
/// events with [`Selector::modify_events`].
///
/// The data of a registration made with [`register_owned`](Selector::register_owned) is its
/// source: use it, but do not replace it (`*key.data = other`, `mem::replace`), which would
/// close the registered source while it is still registered, as closing before
/// `unregister` does. To change the source, `unregister` and register the new one.
#[derive(Debug)]
pub struct KeyMut<'a, T> {
    /// The registered descriptor.
    pub fd: RawSource,
    /// The events the source is registered for.
    pub events: Events,
    /// The data, lent mutably.
    pub data: &'a mut T,
}

/// One registration as the selector's thread keeps it.
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

/// What the selector's thread keeps: the keys, and what it learns while applying other
/// threads' changes.
struct Keys<T> {
    map: FdMap<Slot<T>>,
    /// Tags of registrations other threads unregistered, with the kernel's entry surely gone,
    /// since the selector last looked at a wait's events under the lock: events of theirs
    /// that a wait had already collected are dropped without a purge.
    departed: Vec<Tag>,
    /// The state's `next_tag` when this thread last applied the queue. A registration made
    /// since (its tag from here to `next_tag`) that is gone already was made and removed by
    /// handles while this thread did not look (it applies the queue before each change of its
    /// own): with its kernel entry surely gone, it leaves no trace in the queue, and an event
    /// of it that a wait collected is dropped without a purge.
    window_start: Tag,
    /// Whether a handle's `unregister` applied since the last look could not make sure the
    /// kernel let go of the entry (the source was closed first): then an unknown tag in the
    /// window may be that live ghost's, and is purged.
    unsure_removal: bool,
    /// Data of registrations removed or replaced while the lock was held, dropped once it is
    /// released (a `Drop` of the user's may be slow, or reach for the lock itself).
    graveyard: Vec<T>,
}

impl<T> Keys<T> {
    /// Applies the changes other threads made, in order.
    fn apply<B>(&mut self, state: &mut State<B, T>) {
        state.hints.changed.store(false, Ordering::Relaxed);
        self.window_start = state.next_tag;
        self.unsure_removal |= std::mem::take(&mut state.unsure_removal);
        if state.pending.is_empty() {
            return;
        }
        for change in state.pending.drain(..) {
            match change {
                Change::Insert {
                    fd,
                    tag,
                    events,
                    data,
                } => {
                    let slot = Slot {
                        key: SelectorKey { fd, events, data },
                        ready_index: NonZeroU32::MAX,
                        tag,
                    };
                    self.map.insert(fd, slot);
                }
                Change::Modify { fd, events, data } => {
                    if let Some(slot) = self.map.get_mut(fd) {
                        slot.key.events = events;
                        if let Some(data) = data {
                            self.graveyard
                                .push(std::mem::replace(&mut slot.key.data, data));
                        }
                    }
                }
                Change::Remove { fd, tag, departed } => {
                    if let Some(slot) = self.map.remove(fd) {
                        self.graveyard.push(slot.key.data);
                    }
                    if departed {
                        self.departed.push(tag);
                    } else {
                        self.unsure_removal = true;
                    }
                }
            }
        }
    }

    fn insert(&mut self, fd: RawSource, events: Events, data: T, tag: Tag) -> &SelectorKey<T> {
        let slot = Slot {
            key: SelectorKey { fd, events, data },
            ready_index: NonZeroU32::MAX,
            tag,
        };
        &self.map.insert(fd, slot).key
    }
}

/// A selector: Python's `selectors` API over the OS mechanism `B`.
///
/// Use it through its aliases — [`DefaultSelector`](crate::DefaultSelector),
/// `EpollSelector` (Linux), [`PollSelector`](crate::PollSelector),
/// `SelectSelector`, [`PollingSelector`](crate::PollingSelector) — or generically as
/// `Selector<B, T>` with `B: Backend`. `T` is the data stored with each registration.
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
///
/// Other threads change registrations through a [`Registry`] ([`registry`](Self::registry)),
/// with the same rules, even while this thread is blocked in `select()`.
pub struct Selector<B, T> {
    pub(crate) shared: Shared<B, T>,
    /// The backend's waiter's end.
    pub(crate) waiter: B,
    keys: Keys<T>,
    closed: bool,
    /// The set's version the waiter last copied (see `WAITS_ON_A_COPY`).
    synced: u64,
    /// What this thread reads without the lock.
    hints: Arc<Hints>,
    /// `close`, for `Drop`: a `Drop` impl cannot ask for `B: Backend` when the struct does
    /// not, so the selector carries its `close` from its construction.
    close_on_drop: fn(&mut Selector<B, T>),
}

impl<B: Backend, T> Selector<B, T> {
    /// Creates the selector and its kernel object, if the backend has one.
    pub fn new() -> io::Result<Self> {
        Ok(Selector::with_ends(B::open()?))
    }

    /// A selector over a backend's two ends: the registry's, and the waiter's.
    pub(crate) fn with_ends((set, waiter): (B, B)) -> Self {
        let state = State::new(set);
        Selector {
            hints: Arc::clone(&state.hints),
            shared: Arc::new(Mutex::new(state)),
            waiter,
            keys: Keys {
                map: FdMap::new(),
                departed: Vec::new(),
                window_start: 0,
                unsure_removal: false,
                graveyard: Vec::new(),
            },
            closed: false,
            synced: 0,
            close_on_drop: Selector::close,
        }
    }

    /// The backend's waiter's end (for the backends' `as_fd`).
    #[cfg(unix)]
    pub(crate) fn waiter(&self) -> &B {
        &self.waiter
    }

    /// A handle for other threads to register, modify and unregister sources with, even
    /// while this thread is blocked in [`select`](Self::select). See [`Registry`].
    ///
    /// # Errors
    /// poll and select: the wake-up descriptor their waits need for that (a [`Waker`]
    /// kept by the selector) could not be made. Never for the others. After `close()`.
    ///
    /// [`Waker`]: crate::Waker
    pub fn registry(&self) -> io::Result<Registry<B, T>> {
        let mut state = lock(&self.shared);
        state.ensure_open("registry", None)?;
        state.wake_waiter()?;
        Ok(Registry::new(Arc::clone(&self.shared)))
    }

    fn ensure_open(
        &self,
        operation: &'static str,
        fd: Option<RawSource>,
    ) -> Result<(), SelectorError> {
        crate::registry::ensure_open(self.closed, operation, fd)
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
    /// error if it refuses the source (epoll: `EPERM` for regular files), and an error after
    /// `close()`. On error nothing is registered.
    #[inline]
    pub fn register<S: AsSource + ?Sized>(
        &mut self,
        source: &S,
        events: Events,
        data: T,
    ) -> io::Result<&SelectorKey<T>> {
        self.ensure_open("register", Some(source::raw(source.as_source())))?;
        let mut state = lock(&self.shared);
        self.keys.apply(&mut state);
        let (fd, tag) = state.add(source.as_source(), events, false)?;
        drop(state);
        self.keys.graveyard.clear();
        Ok(self.keys.insert(fd, events, data, tag))
    }

    /// Registers a source that the selector keeps: `source` becomes the registration's data
    /// (Python's `key.fileobj`), stays open for as long as it is registered, and comes back
    /// with the key from [`unregister`](Self::unregister). A ported program then needs no
    /// map of its own from descriptors to streams, and its data need not be `Clone`:
    /// [`select_fds`](Self::select_fds) and [`key_mut`](Self::key_mut) lend it.
    ///
    /// ```
    /// use ioselectors::{DefaultSelector, EVENT_READ};
    /// use std::net::{TcpListener, TcpStream};
    ///
    /// let mut sel = DefaultSelector::<TcpListener>::new()?;
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// // sel.register(listener, EVENT_READ): the selector holds it now.
    /// let fd = sel.register_owned(listener, EVENT_READ)?.fd;
    /// let _client = TcpStream::connect(addr)?;
    /// for ready in sel.select_fds(None)? {
    ///     let key = sel.key_mut(&ready).unwrap();
    ///     let (_conn, _) = key.data.accept()?; // key.fileobj.accept()
    /// }
    /// let listener: TcpListener = sel.unregister(fd)?.data; // given back, still open
    /// # drop(listener);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// The source cannot be swapped by accident: [`modify`](Self::modify) refuses to replace
    /// the data of an owned registration ([`SelectorError::OwnedSource`]); change its events
    /// with [`modify_events`](Self::modify_events).
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
        if let Err(error) = self.ensure_open("register", Some(source::raw(source.as_source()))) {
            return Err(Refused {
                error: error.into(),
                source,
            });
        }
        let mut state = lock(&self.shared);
        self.keys.apply(&mut state);
        match state.add(source.as_source(), events, true) {
            Ok((fd, tag)) => {
                drop(state);
                self.keys.graveyard.clear();
                Ok(self.keys.insert(fd, events, source, tag))
            }
            Err(error) => Err(Refused { error, source }),
        }
    }

    /// Changes the events and data of a registration and returns the updated key.
    ///
    /// A change of data alone makes no syscall; a change of events is one kernel call
    /// (`EPOLL_CTL_MOD` on epoll, none at all on poll and select).
    ///
    /// # Errors
    /// `InvalidInput` for an invalid mask or fd, or for a registration made with
    /// [`register_owned`](Self::register_owned), whose data is its source
    /// ([`SelectorError::OwnedSource`]: use [`modify_events`](Self::modify_events));
    /// `NotFound` if not registered, the kernel's error if it refuses the change, an error
    /// after `close()`. On error the previous registration (events and data) stays exactly
    /// as it was.
    #[inline]
    pub fn modify(
        &mut self,
        fileobj: impl Fileno,
        events: Events,
        data: T,
    ) -> io::Result<&SelectorKey<T>> {
        let fd = fileobj.fileno();
        self.change(fd, events, true)?;
        let slot = self.slot_mut(fd)?;
        slot.key.events = events;
        slot.key.data = data;
        Ok(&slot.key)
    }

    /// Changes only the events of a registration, keeping its data, and returns the updated
    /// key. The way to change an owned registration's events.
    ///
    /// # Errors
    /// As [`modify`](Self::modify).
    #[inline]
    pub fn modify_events(
        &mut self,
        fileobj: impl Fileno,
        events: Events,
    ) -> io::Result<&SelectorKey<T>> {
        let fd = fileobj.fileno();
        self.change(fd, events, false)?;
        let slot = self.slot_mut(fd)?;
        slot.key.events = events;
        Ok(&slot.key)
    }

    /// The rules and kernel call of `modify` / `modify_events`, under the lock.
    #[inline]
    fn change(&mut self, fd: RawSource, events: Events, new_data: bool) -> io::Result<()> {
        self.ensure_open("modify", Some(fd))?;
        let mut state = lock(&self.shared);
        self.keys.apply(&mut state);
        state.modify(fd, events, new_data)?;
        drop(state);
        self.keys.graveyard.clear();
        Ok(())
    }

    /// The slot of a registration the shared rules have just found.
    fn slot_mut(&mut self, fd: RawSource) -> Result<&mut Slot<T>, SelectorError> {
        self.keys
            .map
            .get_mut(fd)
            .ok_or(SelectorError::NotRegistered { fd })
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
        let mut state = lock(&self.shared);
        self.keys.apply(&mut state);
        state.remove(fd)?;
        drop(state);
        self.keys.graveyard.clear();
        let slot = self
            .keys
            .map
            .remove(fd)
            .ok_or(SelectorError::NotRegistered { fd })?;
        Ok(slot.key)
    }

    /// Waits until at least one registered source is ready, or the timeout passes, and
    /// returns one `(key, ready_events)` entry per ready source (empty on timeout).
    ///
    /// `None` blocks; `Some(Duration::ZERO)` only looks; a positive timeout is rounded up to
    /// the backend's unit and never returns early. The keys are snapshots (clones), so the
    /// caller may register, modify and unregister while walking the list: Python's callback
    /// pattern. For data that is not `Clone` (or not cheap to clone), see
    /// [`select_fds`](Self::select_fds).
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
    #[inline(always)]
    pub fn select_into(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<Ready<T>>,
    ) -> io::Result<usize>
    where
        T: Clone,
    {
        self.select_with(timeout, ready)
    }

    /// Like [`select`](Self::select), but reports each ready source by its descriptor and
    /// registration ([`ReadyFd`]), without copying its data: [`key_mut`](Self::key_mut)
    /// then lends the data, mutably. The way to handle data that is not `Clone`, such as an
    /// owned `TcpStream`.
    ///
    /// ```
    /// use ioselectors::{DefaultSelector, EVENT_READ};
    /// use std::io::{Read, Write};
    /// use std::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, _) = listener.accept()?;
    /// conn.set_nonblocking(true)?;
    /// let mut sel = DefaultSelector::<TcpStream>::new()?;
    /// sel.register_owned(conn, EVENT_READ)?;
    /// client.write_all(b"hi")?;
    /// for ready in sel.select_fds(None)? {
    ///     let Some(key) = sel.key_mut(&ready) else { continue };
    ///     let mut buf = [0; 2];
    ///     key.data.read_exact(&mut buf)?; // the stream itself, no clone
    ///     assert_eq!(&buf, b"hi");
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`select`](Self::select).
    #[inline]
    pub fn select_fds(&mut self, timeout: Option<Duration>) -> io::Result<Vec<ReadyFd>> {
        let mut ready = Vec::new();
        self.select_fds_into(timeout, &mut ready)?;
        Ok(ready)
    }

    /// Like [`select_fds`](Self::select_fds), but fills `ready` (cleared first) and returns
    /// how many entries it holds; once `ready` has grown to fit, a call makes no heap
    /// allocation, whatever the data.
    #[inline(always)]
    pub fn select_fds_into(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<ReadyFd>,
    ) -> io::Result<usize> {
        self.select_with(timeout, ready)
    }

    /// The key of a source [`select_fds`](Self::select_fds) reported, with its data lent
    /// mutably; `None` if that registration is gone since (unregistered, or replaced by a
    /// new one under the same number).
    #[inline]
    pub fn key_mut(&mut self, ready: &ReadyFd) -> Option<KeyMut<'_, T>> {
        let slot = self.keys.map.get_mut(ready.fd)?;
        if slot.tag != ready.tag {
            return None;
        }
        Some(KeyMut {
            fd: slot.key.fd,
            events: slot.key.events,
            data: &mut slot.key.data,
        })
    }

    /// The key of a registered source (given as a source or by number), with its data lent
    /// mutably.
    ///
    /// # Errors
    /// As [`get_key`](Self::get_key).
    #[inline]
    pub fn get_key_mut(&mut self, fileobj: impl Fileno) -> io::Result<KeyMut<'_, T>> {
        let fd = fileobj.fileno();
        self.ensure_open("get_key", Some(fd))?;
        source::check_number(fd)?;
        let slot = self.slot_mut(fd)?;
        Ok(KeyMut {
            fd: slot.key.fd,
            events: slot.key.events,
            data: &mut slot.key.data,
        })
    }

    // Inlined down to the syscall: each call frame left between the caller's loop and
    // epoll_wait costs a mispredicted return after the syscall on CPUs whose kernel refills the
    // return stack buffer on exit (measured here: ~50 ns a frame, against a ~300 ns
    // epoll_wait). See docs/benchmarks.md.
    #[inline(always)]
    fn select_with(
        &mut self,
        timeout: Option<Duration>,
        out: &mut impl Collect<T>,
    ) -> io::Result<usize> {
        out.clear();
        self.ensure_open("select", None)?;
        let mut purged = false;
        wait_until(
            timeout,
            #[inline(always)]
            |remaining| {
                if B::WAITS_ON_A_COPY {
                    self.sync_waiter();
                }
                let waited = self.wait_current(remaining);
                let (dead_seen, purge) = self.collect(out, waited.is_ok());
                if dead_seen {
                    if let Err(err) = purge {
                        // The kernel's set could not be rebuilt (no descriptor, memory or epoll
                        // watch left); the old one stays, whole. Report what is live, or why not:
                        // waiting on would wake at once, again and again, for the dead entry.
                        return if out.is_empty() {
                            Err(err)
                        } else {
                            Ok(out.len())
                        };
                    }
                    // The dead entries may have taken the room of live events: look once more,
                    // at once (if that finds nothing, the loop waits for the time left).
                    if waited.is_ok() && !purged {
                        purged = true;
                        let look = self.wait_once(Some(Duration::ZERO));
                        let _ = self.collect(out, look.is_ok());
                        return Ok(out.len());
                    }
                }
                // Nothing ready (or only events nobody asked for): the loop keeps waiting until
                // the deadline, so a backend that wakes early never shortens the timeout.
                waited.map(|()| out.len())
            },
        )
    }

    /// One wait. poll and select wait on the copy `sync_waiter` made; another thread may
    /// unregister a source after the copy was made, and close it, as it may once
    /// `unregister` returned. The wait then fails for the closed descriptor (select's
    /// `EBADF`, Winsock's `WSAENOTSOCK`) and is made again over a new copy. Only another
    /// thread's change leads to a second try, so it cannot spin.
    #[inline(always)]
    fn wait_current(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        loop {
            let waited = self.wait_once(timeout);
            if !B::WAITS_ON_A_COPY || waited.is_ok() || lock(&self.shared).version == self.synced {
                return waited;
            }
            self.sync_waiter();
        }
    }

    /// One wait of the waiter's end, with room for every registration's events.
    #[inline(always)]
    fn wait_once(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.waiter
            .wait(timeout, self.hints.registered.load(Ordering::Relaxed))
    }

    /// poll and select: applies other threads' changes, and copies the set into the waiter
    /// if it changed.
    #[cold]
    fn sync_waiter(&mut self) {
        let mut state = lock(&self.shared);
        self.keys.apply(&mut state);
        if state.version != self.synced {
            state.set.sync(&mut self.waiter);
            self.synced = state.version;
        }
        drop(state);
        self.keys.graveyard.clear();
    }

    /// After a wait: hands what it found to `out`, masked and merged per fd (if `waited`),
    /// and purges the kernel's set if it reported an event of a registration that is gone.
    /// Returns whether it did, and how the purge went.
    ///
    /// If no other thread changed anything, the keys are the registrations: the events are
    /// matched to them without the lock. Otherwise (or if an event matches no key: a dead
    /// registration, or one another thread has just made), under the lock, after applying
    /// the other threads' changes.
    #[inline(always)]
    fn collect(&mut self, out: &mut impl Collect<T>, waited: bool) -> (bool, io::Result<()>) {
        let before = out.len();
        if waited && !self.waiter.rearms() && !self.hints.changed.load(Ordering::Acquire) {
            let mut unknown = false;
            let keys = &mut self.keys.map;
            self.waiter
                .for_each_event(None, |fd, tag, events| match keys.get_mut(fd) {
                    Some(slot) if tag.map_or(true, |tag| tag == slot.tag) => {
                        let interest = slot.key.events;
                        out.collect(slot, events & interest);
                        Some(interest)
                    }
                    _ => {
                        unknown = true;
                        None
                    }
                });
            if !unknown {
                return (false, Ok(()));
            }
            out.truncate(before);
        }
        self.collect_locked(out, waited)
    }

    /// `collect`, under the lock.
    #[cold]
    fn collect_locked(
        &mut self,
        out: &mut impl Collect<T>,
        waited: bool,
    ) -> (bool, io::Result<()>) {
        let mut state = lock(&self.shared);
        let window_start = self.keys.window_start;
        self.keys.apply(&mut state);
        let mut dead_seen = false;
        if waited {
            let window_len = if self.keys.unsure_removal {
                0
            } else {
                state.next_tag.wrapping_sub(window_start)
            };
            let keys = &mut self.keys;
            let registry = self.waiter.rearms().then_some(&mut state.set);
            self.waiter.for_each_event(registry, |fd, tag, events| {
                match keys.map.get_mut(fd) {
                    Some(slot) if tag.map_or(true, |tag| tag == slot.tag) => {
                        let interest = slot.key.events;
                        out.collect(slot, events & interest);
                        Some(interest)
                    }
                    // An event of a registration that is gone (unregistered, or replaced by
                    // a new one under the same number): never reported. Unless another
                    // thread's `unregister` surely took it out of the kernel just now, its
                    // entry lives on.
                    _ => {
                        dead_seen |= !tag.is_some_and(|tag| {
                            keys.departed.contains(&tag)
                                || tag.wrapping_sub(window_start) < window_len
                        });
                        None
                    }
                }
            });
        }
        self.keys.departed.clear();
        self.keys.unsure_removal = false;
        let purge = if dead_seen {
            Self::purge(&mut state, &mut self.waiter)
        } else {
            Ok(())
        };
        drop(state);
        self.keys.graveyard.clear();
        (dead_seen, purge)
    }

    /// A wait reported an event of a registration that is gone: its kernel entry would wake
    /// every wait from now on, so the kernel is made to forget all but the live ones.
    #[cold]
    fn purge(state: &mut State<B, T>, waiter: &mut B) -> io::Result<()> {
        let State { set, meta, .. } = state;
        set.purge(
            waiter,
            &mut meta.iter().map(|(fd, meta)| (fd, meta.events, meta.tag)),
        )
    }

    /// The key of a registered source (given as a source or by number).
    ///
    /// Changes made through a [`Registry`] show here once this thread has applied them: at
    /// its next `select()` or change of a registration.
    ///
    /// # Errors
    /// `NotFound` if not registered, `InvalidInput` for a negative fd, an error after `close()`.
    #[inline]
    pub fn get_key(&self, fileobj: impl Fileno) -> io::Result<&SelectorKey<T>> {
        let fd = fileobj.fileno();
        self.ensure_open("get_key", Some(fd))?;
        source::check_number(fd)?;
        match self.keys.map.get(fd) {
            Some(slot) => Ok(&slot.key),
            None => Err(SelectorError::NotRegistered { fd }.into()),
        }
    }

    /// A read-only view of all registrations, keyed by fd (with a [`Registry`]'s changes as
    /// [`get_key`](Self::get_key) shows them).
    ///
    /// # Errors
    /// An error after `close()` (Python returns `None` there).
    pub fn get_map(&self) -> io::Result<SelectorMap<'_, T>> {
        self.ensure_open("get_map", None)?;
        Ok(SelectorMap::new(&self.keys.map))
    }

    /// Forgets every registration and releases what they hold in the kernel (epoll: the
    /// whole working set, entries and all). Idempotent; dropping the selector closes it too.
    /// The registered sources themselves stay open (those registered with
    /// [`register_owned`](Self::register_owned) are dropped), and so does the descriptor
    /// `as_fd()` lends (empty), until the selector is dropped, so that it stays sound. Every
    /// [`Registry`] handle fails from then on.
    ///
    /// In a child process after `fork`, `close` and drop leave the parent's kernel objects
    /// alone: an epoll set is shared with the parent, and a kqueue is not inherited at all
    /// (its number may name an unrelated file in the child). Do not otherwise use a
    /// selector in a forked child: its registrations are the parent's.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let mut state = lock(&self.shared);
        self.keys.apply(&mut state);
        state.closed = true;
        let State { set, meta, .. } = &mut *state;
        set.close(&mut self.waiter, &mut meta.iter().map(|(fd, _)| fd));
        *meta = FdMap::new();
        state.count();
        drop(state);
        self.keys.graveyard.clear();
        self.keys.map.clear();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// Where a wait's ready sources go: snapshots of their keys, or their descriptors.
trait Collect<T> {
    fn clear(&mut self);
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Adds `events` for `slot`, merging with the fd's entry if it has one.
    fn collect(&mut self, slot: &mut Slot<T>, events: Events);
    /// Forgets the entries past the first `len`.
    fn truncate(&mut self, len: usize);
}

/// One entry of a ready list: a snapshot of the key ([`Ready`]) or the descriptor
/// ([`ReadyFd`]).
trait ReadyEntry<T> {
    fn new(slot: &Slot<T>, events: Events) -> Self;
    fn fd(&self) -> RawSource;
    fn merge(&mut self, events: Events);
}

impl<T: Clone> ReadyEntry<T> for Ready<T> {
    fn new(slot: &Slot<T>, events: Events) -> Self {
        (slot.key.clone(), events)
    }
    fn fd(&self) -> RawSource {
        self.0.fd
    }
    fn merge(&mut self, events: Events) {
        self.1 |= events;
    }
}

impl<T> ReadyEntry<T> for ReadyFd {
    fn new(slot: &Slot<T>, events: Events) -> Self {
        ReadyFd {
            fd: slot.key.fd,
            events,
            tag: slot.tag,
        }
    }
    fn fd(&self) -> RawSource {
        self.fd
    }
    fn merge(&mut self, events: Events) {
        self.events |= events;
    }
}

impl<T, E: ReadyEntry<T>> Collect<T> for Vec<E> {
    fn clear(&mut self) {
        Vec::clear(self);
    }

    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }

    #[inline(always)]
    fn collect(&mut self, slot: &mut Slot<T>, events: Events) {
        if events.is_empty() {
            return;
        }
        match self.get_mut(slot.ready_index.get() as usize - 1) {
            Some(seen) if seen.fd() == slot.key.fd => seen.merge(events),
            _ => {
                self.push(E::new(slot, events));
                slot.ready_index = NonZeroU32::new(self.len() as u32).unwrap_or(NonZeroU32::MAX);
            }
        }
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

impl<B, T> Drop for Selector<B, T> {
    fn drop(&mut self) {
        (self.close_on_drop)(self);
    }
}

impl<B: Backend, T> fmt::Debug for Selector<B, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("backend", &B::NAME)
            .field("registered", &self.keys.map.len())
            .field("closed", &self.closed)
            .finish()
    }
}

#[cfg(test)]
mod tests;
