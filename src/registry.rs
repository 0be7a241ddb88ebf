//! What a selector shares with its [`Registry`] handles: the registrations' rules and the
//! backend's set, behind one lock, and the changes other threads made that the selector's
//! thread has yet to apply to its keys.
//!
//! The keys (and so the data) stay with the selector's thread: it reads them without a lock,
//! and lends them out by reference. A registry handle checks the rules and makes the kernel
//! call at once, under the lock, so a change takes effect for a wait in progress (for poll
//! and select, whose kernel keeps nothing between calls, by waking the waiter), and queues
//! what the selector must do to its keys. The selector applies the queue under the same lock,
//! once per `select()` (after the kernel wait) and before each change of its own.

use crate::backend::{Backend, Tag};
use crate::fd_map::FdMap;
use crate::selector::Refused;
use crate::source::{self, AsSource, BorrowedSource, Fileno, RawSource};
use crate::{Events, SelectorError};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// What every registration holds in the shared state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub(crate) tag: Tag,
    pub(crate) events: Events,
    /// Registered with `register_owned`: the data is the source.
    pub(crate) owned: bool,
}

/// A change made through a [`Registry`], for the selector to apply to its keys.
pub(crate) enum Change<T> {
    Insert {
        fd: RawSource,
        tag: Tag,
        events: Events,
        data: T,
    },
    Modify {
        fd: RawSource,
        events: Events,
        data: Option<T>,
    },
    Remove {
        fd: RawSource,
        tag: Tag,
        /// Whether the kernel surely let go of its entry: then an event of it that a wait in
        /// progress already collected is dropped without a purge.
        departed: bool,
    },
}

/// The state behind the lock.
pub(crate) struct State<B, T> {
    /// The backend's registry's end.
    pub(crate) set: B,
    pub(crate) meta: FdMap<Meta>,
    /// What the selector's thread reads without the lock.
    pub(crate) hints: Arc<Hints>,
    /// The tag of the next registration: tags are handed out in order.
    pub(crate) next_tag: Tag,
    pub(crate) closed: bool,
    /// Changes made through registry handles, in order.
    pub(crate) pending: Vec<Change<T>>,
    /// A handle removed a registration the selector never took in, and could not make sure
    /// the kernel let go of its entry.
    pub(crate) unsure_removal: bool,
    /// Bumped at every change of the set (see `WAITS_ON_A_COPY`).
    pub(crate) version: u64,
}

/// What the selector's thread reads without taking the lock, so that a `select()` that no
/// other thread disturbs does not take it at all (poll and select excepted: they copy the
/// set under it). Written under the lock.
#[derive(Debug, Default)]
pub(crate) struct Hints {
    /// How many registrations there are, for the selector's thread to size each wait's
    /// event buffer by (those made through a handle included, which its keys do not show
    /// yet).
    pub(crate) registered: AtomicUsize,
    /// Whether a handle may have changed something since the selector's thread last took
    /// the lock: if not, its keys are the registrations, and a wait's events can be matched
    /// to them without the lock. Set before the change; cleared when the selector applies
    /// the queue.
    pub(crate) changed: AtomicBool,
}

pub(crate) type Shared<B, T> = Arc<Mutex<State<B, T>>>;

/// The shared state, locked. A panic while it was held cannot have left it inconsistent
/// (every change is made whole before anything that can panic), so poisoning is ignored.
pub(crate) fn lock<B, T>(shared: &Shared<B, T>) -> MutexGuard<'_, State<B, T>> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<B: Backend, T> State<B, T> {
    pub(crate) fn new(set: B) -> Self {
        State {
            set,
            meta: FdMap::new(),
            hints: Arc::default(),
            next_tag: 0,
            closed: false,
            pending: Vec::new(),
            unsure_removal: false,
            version: 0,
        }
    }

    pub(crate) fn ensure_open(
        &self,
        operation: &'static str,
        fd: Option<RawSource>,
    ) -> Result<(), SelectorError> {
        ensure_open(self.closed, operation, fd)
    }

    /// Every rule of `register`, in Python's order, then the kernel's: returns the number
    /// and the new registration's tag.
    pub(crate) fn add(
        &mut self,
        borrowed: BorrowedSource<'_>,
        events: Events,
        owned: bool,
    ) -> io::Result<(RawSource, Tag)> {
        let fd = source::raw(borrowed);
        self.ensure_open("register", Some(fd))?;
        check_events(fd, events)?;
        source::check_number(fd)?;
        B::check_fd(fd)?;
        source::check_kind(borrowed)?;
        if self.meta.get(fd).is_some() {
            return Err(SelectorError::AlreadyRegistered { fd }.into());
        }
        let tag = self.next_tag;
        self.set.add(borrowed, events, tag)?;
        self.next_tag = tag.wrapping_add(1);
        self.meta.insert(fd, Meta { tag, events, owned });
        self.count();
        self.version += 1;
        Ok((fd, tag))
    }

    /// Every rule of `modify`, then the kernel's (only if the events change). `new_data`:
    /// whether the call replaces the data, which an owned registration refuses.
    pub(crate) fn modify(
        &mut self,
        fd: RawSource,
        events: Events,
        new_data: bool,
    ) -> io::Result<()> {
        self.ensure_open("modify", Some(fd))?;
        check_events(fd, events)?;
        source::check_number(fd)?;
        let meta = self
            .meta
            .get_mut(fd)
            .ok_or(SelectorError::NotRegistered { fd })?;
        if new_data && meta.owned {
            return Err(SelectorError::OwnedSource { fd }.into());
        }
        if meta.events != events {
            self.set.modify(fd, events, meta.tag)?;
            meta.events = events;
            self.version += 1;
        }
        Ok(())
    }

    /// Every rule of `unregister`, then the kernel's (which cannot refuse): returns the
    /// registration's tag and whether the kernel surely let go of its entry.
    pub(crate) fn remove(&mut self, fd: RawSource) -> io::Result<(Tag, bool)> {
        self.ensure_open("unregister", Some(fd))?;
        source::check_number(fd)?;
        let meta = self
            .meta
            .remove(fd)
            .ok_or(SelectorError::NotRegistered { fd })?;
        self.count();
        let departed = self.set.delete(fd);
        self.version += 1;
        Ok((meta.tag, departed))
    }

    /// Publishes how many registrations there are (see [`Hints::registered`]).
    pub(crate) fn count(&mut self) {
        self.hints
            .registered
            .store(self.meta.len(), Ordering::Relaxed);
    }

    /// Wakes the selector's thread, for a backend whose wait does not see changes made
    /// meanwhile (poll, select). Called before the change: the selector cannot take the new
    /// set until the lock is released, and a failure leaves nothing half done.
    pub(crate) fn wake_waiter(&mut self) -> io::Result<()> {
        if B::WAITS_ON_A_COPY {
            self.set.wake()?;
            // The waker may be new: the waiter's copy must take it in.
            self.version += 1;
        }
        Ok(())
    }
}

/// Every call but `close()` is refused once the selector is closed.
pub(crate) fn ensure_open(
    closed: bool,
    operation: &'static str,
    fd: Option<RawSource>,
) -> Result<(), SelectorError> {
    if closed {
        Err(SelectorError::Closed { operation, fd })
    } else {
        Ok(())
    }
}

pub(crate) fn check_events(fd: RawSource, events: Events) -> Result<(), SelectorError> {
    if events.is_valid_interest() {
        Ok(())
    } else {
        Err(SelectorError::InvalidEvents { fd, events })
    }
}

/// A handle on a selector's registrations, for other threads: register, modify and
/// unregister sources while the selector's thread is blocked in `select()`, with effect on
/// that very wait. Python has no such thing (its programs write to a self-pipe instead).
///
/// Get one with [`Selector::registry`](crate::Selector::registry); clones share the same
/// registrations. A handle is `Send` and `Sync` when the data is `Send`.
///
/// ```
/// use ioselectors::{DefaultSelector, EVENT_READ};
/// use std::io::Write;
/// use std::net::{TcpListener, TcpStream};
///
/// let mut sel = DefaultSelector::<TcpStream>::new()?;
/// let registry = sel.registry()?;
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// // An acceptor thread hands each connection over; the selector's thread serves it.
/// let acceptor = std::thread::spawn(move || -> std::io::Result<()> {
///     let (conn, _) = listener.accept()?;
///     conn.set_nonblocking(true)?;
///     registry.register_owned(conn, EVENT_READ)?;
///     Ok(())
/// });
/// let mut client = TcpStream::connect(addr)?;
/// client.write_all(b"hello")?;
/// let ready = sel.select_fds(None)?; // blocked until the new connection has data
/// assert_eq!(ready.len(), 1);
/// # acceptor.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// The rules are the selector's own (see [`Selector`](crate::Selector)), and a kernel
/// refusal comes back to the calling thread. What differs:
///
/// * The selector's thread applies a handle's change to its keys the next time it selects or
///   changes a registration itself; `get_key` and `get_map` show it from then on. A wait in
///   progress reports the new registration's events under its key at once.
/// * `unregister` does not give the data back: the selector's thread drops it when it
///   applies the change (for an owned registration, that closes the source).
/// * After `close()` on the selector (or its drop), every call fails with
///   [`SelectorError::Closed`].
/// * Changes wait in a queue for the selector's thread. Changes of one registration merge
///   there, and one registered and unregistered before that thread took it in leaves
///   nothing, so the queue never holds more than two changes per descriptor number, however
///   long that thread does not select.
///
/// A handle costs the selector's `select()` nothing while it is not used: the selector's
/// thread takes the lock the handles share only after one of them has changed something
/// (poll and select excepted, which copy their set under it before each wait). A handle's
/// call takes the lock for as long as its kernel call lasts; it is not for signal handlers
/// (use a [`Waker`](crate::Waker) there).
pub struct Registry<B, T> {
    shared: Shared<B, T>,
}

impl<B: Backend, T> Registry<B, T> {
    pub(crate) fn new(shared: Shared<B, T>) -> Self {
        Registry { shared }
    }

    /// The state, locked, after the checks every call makes first: the selector is open,
    /// and a waiter that cannot see the change by itself is woken.
    fn lock_for(
        &self,
        operation: &'static str,
        fd: RawSource,
    ) -> io::Result<MutexGuard<'_, State<B, T>>> {
        let mut state = lock(&self.shared);
        state.ensure_open(operation, Some(fd))?;
        state.hints.changed.store(true, Ordering::Release);
        state.wake_waiter()?;
        Ok(state)
    }

    /// Starts watching `source` for `events`, storing `data` with it. As
    /// [`Selector::register`](crate::Selector::register); the source is borrowed for the
    /// call only.
    pub fn register<S: AsSource + ?Sized>(
        &self,
        source: &S,
        events: Events,
        data: T,
    ) -> io::Result<()> {
        let borrowed = source.as_source();
        let mut state = self.lock_for("register", source::raw(borrowed))?;
        let (fd, tag) = state.add(borrowed, events, false)?;
        state.pending.push(Change::Insert {
            fd,
            tag,
            events,
            data,
        });
        Ok(())
    }

    /// Registers a source that the selector keeps, as
    /// [`Selector::register_owned`](crate::Selector::register_owned): the source is the
    /// data, and is closed when it is unregistered (or the selector is dropped). A refusal
    /// gives it back.
    pub fn register_owned(&self, source: T, events: Events) -> Result<(), Refused<T>>
    where
        T: AsSource,
    {
        let added = self
            .lock_for("register", source::raw(source.as_source()))
            .and_then(|mut state| {
                let (fd, tag) = state.add(source.as_source(), events, true)?;
                Ok((state, fd, tag))
            });
        match added {
            Ok((mut state, fd, tag)) => {
                state.pending.push(Change::Insert {
                    fd,
                    tag,
                    events,
                    data: source,
                });
                Ok(())
            }
            Err(error) => Err(Refused { error, source }),
        }
    }

    /// Changes the events and the data of a registration, as
    /// [`Selector::modify`](crate::Selector::modify) (refused for an owned registration:
    /// use [`modify_events`](Self::modify_events)).
    pub fn modify(&self, fileobj: impl Fileno, events: Events, data: T) -> io::Result<()> {
        let fd = fileobj.fileno();
        let mut state = self.lock_for("modify", fd)?;
        let replaced = match state.modify(fd, events, true) {
            Ok(()) => state.queue_modify(fd, events, Some(data)),
            Err(err) => {
                // The refused data is dropped after the lock is released.
                drop(state);
                drop(data);
                return Err(err);
            }
        };
        drop(state);
        drop(replaced);
        Ok(())
    }

    /// Changes only the events of a registration, as
    /// [`Selector::modify_events`](crate::Selector::modify_events).
    pub fn modify_events(&self, fileobj: impl Fileno, events: Events) -> io::Result<()> {
        let fd = fileobj.fileno();
        let mut state = self.lock_for("modify", fd)?;
        state.modify(fd, events, false)?;
        state.queue_modify(fd, events, None);
        Ok(())
    }

    /// Stops watching a source, given as a source or by number, as
    /// [`Selector::unregister`](crate::Selector::unregister). The selector's thread drops
    /// the registration's data when it applies the change (or this call does, if that
    /// thread had not taken the registration in yet).
    pub fn unregister(&self, fileobj: impl Fileno) -> io::Result<()> {
        let fd = fileobj.fileno();
        let mut state = self.lock_for("unregister", fd)?;
        let (tag, departed) = state.remove(fd)?;
        let cancelled = state.cancel_insert(fd);
        if cancelled.is_none() {
            state.pending.push(Change::Remove { fd, tag, departed });
        } else if !departed {
            // A registration the selector never took in has no key to remove: an event of
            // it that a wait in progress collected is recognised by its tag, newer than any
            // the selector knew (see `Keys::window_start`), and dropped without a purge,
            // unless its kernel entry may live on.
            state.unsure_removal = true;
        }
        drop(state);
        drop(cancelled);
        Ok(())
    }
}

impl<B: Backend, T> State<B, T> {
    /// The last queued change of `fd`, if any.
    fn last_change(&mut self, fd: RawSource) -> Option<usize> {
        self.pending.iter().rposition(|change| change.fd() == fd)
    }

    /// Queues a `modify`, merged into the last queued change of the same registration (an
    /// insert the selector has not taken in yet, or an earlier modify), so that the queue
    /// stays as long as what the selector has yet to take in, however many changes are made
    /// meanwhile. Returns the data it replaced, to drop after the lock.
    fn queue_modify(&mut self, fd: RawSource, events: Events, data: Option<T>) -> Option<T> {
        if let Some(at) = self.last_change(fd) {
            match &mut self.pending[at] {
                Change::Insert {
                    events: queued_events,
                    data: queued_data,
                    ..
                } => {
                    *queued_events = events;
                    return data.map(|data| std::mem::replace(queued_data, data));
                }
                Change::Modify {
                    events: queued_events,
                    data: queued_data,
                    ..
                } => {
                    *queued_events = events;
                    return data.and_then(|data| queued_data.replace(data));
                }
                Change::Remove { .. } => {}
            }
        }
        self.pending.push(Change::Modify { fd, events, data });
        None
    }

    /// Takes a registration the selector has not taken in yet out of the queue (its
    /// `unregister` follows; later modifies were merged into it): returns its data, to drop
    /// after the lock.
    fn cancel_insert(&mut self, fd: RawSource) -> Option<T> {
        let at = self.last_change(fd)?;
        if !matches!(self.pending[at], Change::Insert { .. }) {
            return None;
        }
        match self.pending.remove(at) {
            Change::Insert { data, .. } => Some(data),
            _ => None,
        }
    }
}

impl<T> Change<T> {
    fn fd(&self) -> RawSource {
        match self {
            Change::Insert { fd, .. } | Change::Modify { fd, .. } | Change::Remove { fd, .. } => {
                *fd
            }
        }
    }
}

impl<B, T> Clone for Registry<B, T> {
    fn clone(&self) -> Self {
        Registry {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<B: Backend, T> fmt::Debug for Registry<B, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("backend", &B::NAME)
            .finish_non_exhaustive()
    }
}
