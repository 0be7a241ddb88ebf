//! `EpollSelector`'s backend (Linux, Android): a [`select::Epoll`] and the buffer its waits
//! fill. One `epoll_wait` per `select()`.
//!
//! epoll watches open files, not numbers: a registered descriptor that was duplicated
//! (`try_clone`, `dup`, a forked child) and then closed keeps its kernel entry after
//! `unregister`, and its events keep waking `epoll_wait`. Each entry's data word holds the
//! registration's tag beside the number, so such an event is told apart from one of a new
//! registration that reuses the number; when one shows up, the working set is rebuilt from
//! the live registrations and swapped in behind the descriptor `as_fd()` lends ([`Lender`]).

use crate::backend::sealed::Os;
use crate::backend::{out_of_resources, room, Tag};
use crate::select::{self, EpollEvents, EpollFlags};
use crate::source::{lend_number, BorrowedSource, RawSource};
use crate::{Events, Selector};
use std::io;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::OnceLock;
use std::time::Duration;

/// The backend of [`EpollSelector`](crate::EpollSelector): a [`select::Epoll`].
#[derive(Debug)]
pub struct Epoll {
    set: WorkingSet,
    /// What `as_fd()` lends, once it is asked for.
    lender: Lender,
    /// Grows with the number of registrations (so one wait can return every ready fd) and
    /// never shrinks, so steady-state waits do not allocate.
    events: EpollEvents,
    /// How many dead entries the working set may hold: one per `unregister` the kernel
    /// refused since the last purge (the number was closed or reused, so the entry may live
    /// on). Waits make room for them too, so that they never crowd out a live event.
    maybe_dead: usize,
}

#[derive(Debug)]
enum WorkingSet {
    /// Every live registration (and the entries of dead ones that a duplicate keeps alive,
    /// until a purge). Waits go to it directly: one syscall.
    Open(select::Epoll),
    /// After `close()`: what `as_fd()` lends from then on, holding nothing.
    Closed(select::Epoll),
}

fn flags(events: Events) -> EpollFlags {
    let mut flags = EpollFlags::empty();
    if events.contains(Events::READ) {
        flags |= EpollFlags::IN;
    }
    if events.contains(Events::WRITE) {
        flags |= EpollFlags::OUT;
    }
    flags
}

/// The data word: the tag in the high half, the number in the low half.
fn data(fd: RawFd, tag: Tag) -> u64 {
    u64::from(tag) << 32 | u64::from(fd as u32)
}

/// Anything but plain IN (HUP, ERR, RDHUP, PRI) counts as writable, and anything but plain
/// OUT as readable — CPython's translation; the registry then masks by interest.
#[inline(always)]
fn readiness(flags: EpollFlags) -> Events {
    let mut events = Events::empty();
    if !(flags - EpollFlags::IN).is_empty() {
        events |= Events::WRITE;
    }
    if !(flags - EpollFlags::OUT).is_empty() {
        events |= Events::READ;
    }
    events
}

impl Os for Epoll {
    const NAME: &'static str = "epoll";

    fn open() -> io::Result<Self> {
        Ok(Epoll {
            set: WorkingSet::Open(select::Epoll::new()?),
            lender: Lender::default(),
            events: EpollEvents::with_capacity(1),
            maybe_dead: 0,
        })
    }

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events, tag: Tag) -> io::Result<()> {
        let set = self.set()?;
        let data = data(source.as_raw_fd(), tag);
        match set.register_with_data(&source, flags(events), data) {
            // The registry holds nothing under this number, yet the kernel has an entry for
            // this very file under it: a dead registration's, left behind when the number
            // was closed (and unregistered) while a duplicate kept the file open, and now
            // back at the number. It belongs to nobody: replace it.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                let _ = set.unregister(source.as_raw_fd());
                set.register_with_data(&source, flags(events), data)
            }
            result => result,
        }
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events, tag: Tag) -> io::Result<()> {
        self.set()?
            .modify_with_data(fd, flags(events), data(fd, tag))
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) {
        // EBADF (closed) or ENOENT (number reused): the kernel no longer has an entry under
        // this number, or keeps one for a duplicate's sake; `purge` deals with the latter if
        // it ever fires.
        if let Ok(set) = self.set() {
            if set.unregister(fd).is_err() {
                self.maybe_dead = self.maybe_dead.saturating_add(1);
            }
        }
    }

    #[inline(always)]
    fn wait<F>(
        &mut self,
        timeout: Option<Duration>,
        registered: usize,
        mut on_ready: F,
    ) -> io::Result<()>
    where
        F: FnMut(RawSource, Option<Tag>, Events) -> Option<Events>,
    {
        let WorkingSet::Open(set) = &self.set else {
            return Err(closed());
        };
        self.events.reserve(room(registered, self.maybe_dead));
        set.wait(timeout, &mut self.events)?;
        for event in self.events.iter() {
            let tag = (event.data() >> 32) as Tag;
            on_ready(event.fd(), Some(tag), readiness(event.events()));
        }
        Ok(())
    }

    #[cold]
    fn purge(
        &mut self,
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
        self.lender.swap(self.set()?, &fresh)?;
        // The old set is closed here, and the dead entries with it.
        self.set = WorkingSet::Open(fresh);
        self.maybe_dead = 0;
        Ok(())
    }

    fn close(&mut self, _registered: &mut dyn Iterator<Item = RawSource>) {
        // The working set is closed, and every entry in it goes (in a forked child, only this
        // process's copy of it: the parent's set is untouched). What `as_fd()` lends stays
        // open, holding nothing, until drop. If the process has no descriptor left to make
        // one, the set stays until drop instead.
        let lent = match self.lender.0.take() {
            Some(outer) => Some(outer),
            None => select::Epoll::new().ok(),
        };
        if let Some(lent) = lent {
            self.set = WorkingSet::Closed(lent);
            self.events = EpollEvents::with_capacity(1);
        }
    }
}

impl Epoll {
    #[inline(always)]
    fn set(&self) -> io::Result<&select::Epoll> {
        match &self.set {
            WorkingSet::Open(set) => Ok(set),
            WorkingSet::Closed(_) => Err(closed()),
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
}

impl<T> AsFd for Selector<Epoll, T> {
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
        match &self.backend.set {
            WorkingSet::Open(set) => self.backend.lender.lend(set),
            WorkingSet::Closed(lent) => lent.as_fd(),
        }
    }
}

impl<T> AsRawFd for Selector<Epoll, T> {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}
