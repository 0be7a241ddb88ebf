//! `EpollSelector`'s backend (Linux, Android): a [`select::Epoll`] and the buffer its waits
//! fill. One `epoll_wait` per `select()`.
//!
//! epoll watches open files, not numbers: a registered descriptor that was duplicated
//! (`try_clone`, `dup`, a forked child) and then closed keeps its kernel entry after
//! `unregister`, and its events keep waking `epoll_wait`. Each entry's data word holds the
//! registration's tag beside the number, so such an event is told apart from one of a new
//! registration that reuses the number; when one shows up, the working set is rebuilt from
//! the live registrations and swapped in behind the descriptor `as_fd()` lends ([`Lender`]).
//!
//! The working set is shared: registrations change it (any thread, under the registry's
//! lock) while the selector's thread waits on it (without the lock); the kernel serialises
//! the two.

use crate::backend::sealed::Os;
use crate::backend::{out_of_resources, room, MaybeDead, Tag};
use crate::select::{self, EpollEvents, EpollFlags};
use crate::source::{lend_number, BorrowedSource, RawSource};
use crate::{Events, Selector};
use std::io;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The backend of [`EpollSelector`](crate::EpollSelector): a [`select::Epoll`].
#[derive(Debug)]
pub struct EpollBackend {
    /// The working set, the same at both ends: registrations change it while the selector's
    /// thread waits on it.
    set: WorkingSet,
    /// How many dead entries the working set may hold: one per `unregister` the kernel
    /// refused since the last purge (the number was closed or reused, so the entry may live
    /// on). Waits make room for them too, so that they never crowd out a live event. Shared
    /// by both ends.
    maybe_dead: MaybeDead,
    /// Waiter's end: what `as_fd()` lends, once it is asked for.
    lender: Lender,
    /// Waiter's end: grows with the number of registrations (so one wait can return every
    /// ready fd) and never shrinks, so steady-state waits do not allocate.
    events: EpollEvents,
}

#[derive(Debug)]
enum WorkingSet {
    Open(Arc<select::Epoll>),
    /// After `close()`: what `as_fd()` lends from then on, holding nothing.
    Closed(Arc<select::Epoll>),
}

fn flags(events: Events) -> EpollFlags {
    super::interest(events, EpollFlags::IN, EpollFlags::OUT)
}

/// The data word: the tag in the high half, the number in the low half.
fn data(fd: RawFd, tag: Tag) -> u64 {
    u64::from(tag) << 32 | u64::from(fd as u32)
}

#[inline(always)]
fn readiness(flags: EpollFlags) -> Events {
    super::readiness(flags, EpollFlags::IN, EpollFlags::OUT)
}

impl EpollBackend {
    #[inline(always)]
    fn epoll(&self) -> io::Result<&select::Epoll> {
        match &self.set {
            WorkingSet::Open(set) => Ok(set),
            WorkingSet::Closed(_) => Err(closed()),
        }
    }
}

impl Os for EpollBackend {
    const NAME: &'static str = "epoll";

    fn open() -> io::Result<(EpollBackend, EpollBackend)> {
        let set = Arc::new(select::Epoll::new()?);
        let maybe_dead = MaybeDead::default();
        Ok((
            EpollBackend {
                set: WorkingSet::Open(Arc::clone(&set)),
                maybe_dead: maybe_dead.clone(),
                lender: Lender::default(),
                events: EpollEvents::with_capacity(0),
            },
            EpollBackend {
                set: WorkingSet::Open(set),
                maybe_dead,
                lender: Lender::default(),
                events: EpollEvents::with_capacity(1),
            },
        ))
    }

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events, tag: Tag) -> io::Result<()> {
        let epoll = self.epoll()?;
        let data = data(source.as_raw_fd(), tag);
        match epoll.register_with_data(&source, flags(events), data) {
            // The registry holds nothing under this number, yet the kernel has an entry for
            // this very file under it: a dead registration's, left behind when the number
            // was closed (and unregistered) while a duplicate kept the file open, and now
            // back at the number. It belongs to nobody: replace it.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                let _ = epoll.unregister(source.as_raw_fd());
                epoll.register_with_data(&source, flags(events), data)
            }
            result => result,
        }
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events, tag: Tag) -> io::Result<()> {
        self.epoll()?
            .modify_with_data(fd, flags(events), data(fd, tag))
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) -> bool {
        // EBADF (closed) or ENOENT (number reused): the kernel no longer has an entry under
        // this number, or keeps one for a duplicate's sake; `purge` deals with the latter if
        // it ever fires.
        let deleted = self.epoll().is_ok_and(|epoll| epoll.unregister(fd).is_ok());
        if !deleted {
            self.maybe_dead.add_one();
        }
        deleted
    }

    #[inline(always)]
    fn wait(&mut self, timeout: Option<Duration>, registered: usize) -> io::Result<()> {
        let WorkingSet::Open(set) = &self.set else {
            return Err(closed());
        };
        self.events.reserve(room(registered, self.maybe_dead.get()));
        set.wait(timeout, &mut self.events)?;
        Ok(())
    }

    #[inline(always)]
    fn for_each_event<F>(&mut self, _registry: Option<&mut EpollBackend>, mut on_ready: F)
    where
        F: FnMut(RawSource, Option<Tag>, Events) -> Option<Events>,
    {
        for event in self.events.iter() {
            let tag = (event.data() >> 32) as Tag;
            on_ready(event.fd(), Some(tag), readiness(event.events()));
        }
    }

    #[cold]
    fn purge(
        &mut self,
        waiter: &mut EpollBackend,
        live: &mut dyn Iterator<Item = (RawSource, Events, Tag)>,
    ) -> io::Result<()> {
        let fresh = select::Epoll::new()?;
        for (fd, events, tag) in live {
            let added = lend_number(fd)
                .map_err(io::Error::from)
                .and_then(|source| fresh.register_with_data(&source, flags(events), data(fd, tag)));
            match added {
                Err(err) if out_of_resources(&err) => return Err(err),
                // Closed without `unregister` (or its number now names something epoll
                // refuses): the kernel had already dropped its entry, and so does this set.
                Ok(()) | Err(_) => {}
            }
        }
        waiter.lender.swap(self.epoll()?, &fresh)?;
        // The old set is closed here (both ends let go of it), and the dead entries with it.
        let fresh = Arc::new(fresh);
        self.set = WorkingSet::Open(Arc::clone(&fresh));
        waiter.set = WorkingSet::Open(fresh);
        self.maybe_dead.reset();
        Ok(())
    }

    fn close(
        &mut self,
        waiter: &mut EpollBackend,
        _registered: &mut dyn Iterator<Item = RawSource>,
    ) {
        // The working set is closed, and every entry in it goes (in a forked child, only this
        // process's copy of it: the parent's set is untouched). What `as_fd()` lends stays
        // open, holding nothing, until drop. If the process has no descriptor left to make
        // one, the set stays until drop instead.
        let lent = match waiter.lender.take() {
            Some(outer) => Some(outer),
            None => select::Epoll::new().ok(),
        };
        if let Some(lent) = lent {
            let lent = Arc::new(lent);
            self.set = WorkingSet::Closed(Arc::clone(&lent));
            waiter.set = WorkingSet::Closed(lent);
            waiter.events = EpollEvents::with_capacity(1);
        }
    }
}

/// What the kernel would say of a closed epoll; the registry refuses every call after
/// `close()` before it gets here.
#[cold]
fn closed() -> io::Error {
    rustix::io::Errno::BADF.into()
}

/// What an epoll-based selector lends through `as_fd()`: an epoll that holds nothing but
/// the selector's working set, for `EPOLLIN`, made the first time it is asked for. It is
/// readable exactly when the working set has events, and its number and open file never
/// change, so a purge can swap the working set underneath whoever watches the selector (an
/// outer epoll, a `Poll`), and their entry keeps working.
///
/// Made only on demand because a nested set costs every later `EPOLL_CTL_ADD` into it the
/// kernel's checks for epoll loops, under a lock shared by the whole system (measured here:
/// about a fifth more per register/modify/unregister): a selector that nobody watches never
/// pays that, nor the descriptor.
#[derive(Debug, Default)]
pub(crate) struct Lender(OnceLock<select::Epoll>);

impl Lender {
    /// The descriptor to lend for `set`: the outer epoll, made (with `set` in it) on first
    /// use. If the kernel cannot make it (no descriptor, memory or epoll watch left), `set`
    /// itself, which works for a watcher until a purge replaces it; a later call tries
    /// again.
    pub(crate) fn lend<'a>(&'a self, set: &'a impl AsFd) -> BorrowedFd<'a> {
        if let Some(outer) = self.0.get() {
            return outer.as_fd();
        }
        let made = select::Epoll::new().and_then(|outer| {
            outer.register(set, EpollFlags::IN)?;
            Ok(outer)
        });
        match made {
            // Another thread may have made one meanwhile: the first one made is kept.
            Ok(outer) => {
                let _ = self.0.set(outer);
                self.0.get().map_or_else(|| set.as_fd(), AsFd::as_fd)
            }
            Err(_) => set.as_fd(),
        }
    }

    /// After a purge: holds `new` instead of `old`, if anything is lent. `new` is added
    /// first, so a failure leaves it as it was.
    pub(crate) fn swap(&self, old: &impl AsFd, new: &impl AsFd) -> io::Result<()> {
        if let Some(outer) = self.0.get() {
            outer.register(new, EpollFlags::IN)?;
            // Cannot fail: `old` is open and registered. Closing it would drop the entry
            // anyway.
            let _ = outer.unregister(old.as_fd().as_raw_fd());
        }
        Ok(())
    }

    /// What is lent, if anything has been (to keep lending it after `close()`).
    pub(crate) fn take(&mut self) -> Option<select::Epoll> {
        self.0.take()
    }
}

impl<T> AsFd for Selector<EpollBackend, T> {
    /// A descriptor that is readable while this selector has events ready (Python's
    /// `fileno()`), e.g. to nest this selector in another: an epoll holding the selector's
    /// working set, made on the first call. It is close-on-exec, and stays open, under the
    /// same number and watching the selector's current set, until the selector is dropped.
    ///
    /// From the first call on, each `register` costs a little more in the kernel (its checks
    /// for nested epolls). If the kernel cannot make the descriptor (no descriptor, memory or
    /// epoll watch left), this lends the working set itself, which a rebuild after a dead
    /// registration (see the crate docs) would replace.
    fn as_fd(&self) -> BorrowedFd<'_> {
        let waiter = self.waiter();
        match &waiter.set {
            WorkingSet::Open(set) => waiter.lender.lend(&**set),
            WorkingSet::Closed(lent) => lent.as_fd(),
        }
    }
}

impl<T> AsRawFd for Selector<EpollBackend, T> {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}
