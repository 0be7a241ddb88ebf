//! kqueue (macOS, iOS, BSD), IOCP/AFD (Windows) and event ports (illumos, Solaris), through
//! the `polling` crate in level-triggered mode.
//!
//! Event ports have no level mode, so there every descriptor is registered one-shot and
//! re-armed after it fires, which is level-triggering by another name. That emulation also
//! runs on Linux ([`Selector::with_emulated_level`]), so it is tested where CI can run it.
//!
//! The poller is shared: registrations change it (any thread, under the registry's lock)
//! while the selector's thread waits on it (without the lock); `polling` allows both.

use crate::backend::sealed::Os;
use crate::backend::{room, Exclusive, MaybeDead, Tag};
use crate::source::{self, lend_number, BorrowedSource, RawSource};
use crate::{Events, Selector};
use polling::{Event, PollMode, Poller};
use std::io;
use std::mem::ManuallyDrop;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

/// The `polling` backend of [`PollingSelector`](crate::PollingSelector) (which is
/// `KqueueSelector`, `IocpSelector` and `EventPortSelector` on those systems).
#[derive(Debug)]
pub struct PollingBackend {
    /// The poller, the same at both ends: registrations change it while the selector's
    /// thread waits on it.
    poller: SharedPoller,
    /// `Level`, or `Oneshot` when level-triggering is emulated by re-arming.
    mode: PollMode,
    /// How many dead entries the poller may hold (see the epoll backend's). Shared by both
    /// ends.
    maybe_dead: MaybeDead,
    /// Registry's end: numbers of registrations closed without `unregister` that now name
    /// one of the poller's own descriptors (a rebuilt poller took the free numbers; on Linux
    /// `polling` keeps an eventfd and a timerfd in its epoll). Deleting or modifying them
    /// would take the poller's own entries out: they are left alone.
    aliased: Vec<RawSource>,
    /// Waiter's end: the buffer the poller fills. `polling::Events` is not `Sync`; behind
    /// `Exclusive` it is reached through `&mut self` only, which keeps the selector `Sync`.
    events: Exclusive<polling::Events>,
    /// Waiter's end: what `as_fd()` lends on Linux and Android, once asked for (see
    /// `Lender`).
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(polling_test_poll_backend)
    ))]
    lender: crate::backend::epoll::Lender,
}

/// A poller that only the process that made it closes. A forked child must not touch it: a
/// kqueue is not inherited, so in the child its number is closed or names an unrelated file
/// (polling#37, python/cpython#110395); and an epoll is shared with the parent, whose set
/// the child would change (`polling` deletes its own entries from it when dropped).
#[derive(Debug, Clone)]
struct SharedPoller {
    /// Dropped only in the process that made it (see `Drop`).
    poller: ManuallyDrop<Arc<Poller>>,
    /// The process that made the poller.
    pid: u32,
}

impl SharedPoller {
    fn new(poller: Poller) -> SharedPoller {
        SharedPoller {
            poller: ManuallyDrop::new(Arc::new(poller)),
            pid: std::process::id(),
        }
    }

    /// Whether this is the process that made the poller, not a forked child.
    fn is_maker(&self) -> bool {
        self.pid == std::process::id()
    }
}

impl std::ops::Deref for SharedPoller {
    type Target = Poller;

    fn deref(&self) -> &Poller {
        &self.poller
    }
}

impl Drop for SharedPoller {
    fn drop(&mut self) {
        if self.is_maker() {
            // SAFETY: dropped exactly once, here; `self.poller` is not used after `drop`.
            unsafe { ManuallyDrop::drop(&mut self.poller) }
        }
        // In a forked child it is forgotten (see `SharedPoller`); its descriptors, if the
        // child has copies, close when the child exits.
    }
}

fn interest(key: usize, events: Events) -> Event {
    Event::new(
        key,
        events.contains(Events::READ),
        events.contains(Events::WRITE),
    )
}

cfg_if::cfg_if! {
    if #[cfg(all(unix, target_pointer_width = "64"))] {
        /// The event key: the registration's tag beside the descriptor number, so that an
        /// event of a dead registration is recognised (epoll, which `polling` uses on Linux,
        /// keeps the entry of a duplicated descriptor after `delete`).
        fn key(fd: RawSource, tag: Tag) -> usize {
            (tag as usize) << 32 | fd as u32 as usize
        }

        fn split(key: usize) -> (RawSource, Option<Tag>) {
            (key as u32 as RawSource, Some((key >> 32) as Tag))
        }
    } else {
        /// The event key: the descriptor (a socket handle on Windows, where `polling` tracks
        /// sockets itself; no room for a tag on 32-bit systems).
        fn key(fd: RawSource, _tag: Tag) -> usize {
            fd as usize
        }

        fn split(key: usize) -> (RawSource, Option<Tag>) {
            (key as RawSource, None)
        }
    }
}

cfg_if::cfg_if! {
    // Linux and Android: `polling` is epoll there, which can keep the entries of dead
    // registrations: `as_fd()` lends an epoll holding the poller, so a purge can swap
    // pollers underneath whoever watches the selector.
    if #[cfg(all(any(target_os = "linux", target_os = "android"), not(polling_test_poll_backend)))] {
        use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};

        impl<T> AsFd for Selector<PollingBackend, T> {
            /// A descriptor that is readable while this selector has events ready (Python's
            /// `fileno()`): an epoll holding the poller's epoll, made on the first call. It
            /// stays open, under the same number and watching the selector's current poller,
            /// until the selector is dropped (see `EpollSelector`'s `as_fd` for its cost).
            fn as_fd(&self) -> BorrowedFd<'_> {
                let waiter = self.waiter();
                waiter.lender.lend(&*waiter.poller)
            }
        }

        impl<T> AsRawFd for Selector<PollingBackend, T> {
            fn as_raw_fd(&self) -> RawFd {
                self.as_fd().as_raw_fd()
            }
        }
    } else if #[cfg(all(unix, not(polling_test_poll_backend)))] {
        use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};

        impl<T> AsFd for Selector<PollingBackend, T> {
            /// The kernel object (the kqueue, or event port): Python's `fileno()`. It stays
            /// open until the selector is dropped.
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.waiter().poller.as_fd()
            }
        }

        impl<T> AsRawFd for Selector<PollingBackend, T> {
            fn as_raw_fd(&self) -> RawFd {
                self.as_fd().as_raw_fd()
            }
        }
    }
}

/// The two ends of a backend over `poller`.
fn ends(poller: Poller, mode: PollMode) -> (PollingBackend, PollingBackend) {
    let poller = SharedPoller::new(poller);
    let maybe_dead = MaybeDead::default();
    let end = |poller| PollingBackend {
        poller,
        mode,
        maybe_dead: maybe_dead.clone(),
        aliased: Vec::new(),
        events: Exclusive(polling::Events::with_capacity(NonZeroUsize::MIN)),
        #[cfg(all(
            any(target_os = "linux", target_os = "android"),
            not(polling_test_poll_backend)
        ))]
        lender: Default::default(),
    };
    (end(poller.clone()), end(poller))
}

fn add_raw(
    poller: &Poller,
    mode: PollMode,
    fd: RawSource,
    events: Events,
    tag: Tag,
) -> io::Result<()> {
    // SAFETY: `polling` asks that a source be deleted before it is closed. The registry
    // deletes it at `unregister` and at `close`; a source its owner closes while it is
    // still registered is dropped from the kernel's set by the kernel itself, and a later
    // `add` of the same number is handled in `add` (polling#262).
    unsafe { poller.add_with_mode(fd, interest(key(fd, tag), events), mode) }
}

impl Os for PollingBackend {
    const NAME: &'static str = "polling";

    fn open() -> io::Result<(PollingBackend, PollingBackend)> {
        let poller = Poller::new()?;
        let mode = if poller.supports_level() {
            PollMode::Level
        } else {
            PollMode::Oneshot
        };
        Ok(ends(poller, mode))
    }

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events, tag: Tag) -> io::Result<()> {
        let fd = source::raw(source);
        match add_raw(&self.poller, self.mode, fd, events, tag) {
            // The registry holds nothing under this number, yet the poller has an entry for
            // it: kqueue's for an fd closed without `delete` (polling#262), or epoll's for
            // this very file, left by a dead registration while a duplicate kept the file
            // open. It belongs to nobody: drop it and add again.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                let _ = self.poller.delete(source);
                add_raw(&self.poller, self.mode, fd, events, tag)
            }
            result => result,
        }
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events, tag: Tag) -> io::Result<()> {
        if self.aliased.contains(&fd) {
            // What epoll says of a number that names a file it does not watch for us.
            #[cfg(unix)]
            return Err(rustix::io::Errno::NOENT.into());
            #[cfg(windows)]
            return Err(io::ErrorKind::NotFound.into());
        }
        self.poller
            .modify_with_mode(lend_number(fd)?, interest(key(fd, tag), events), self.mode)
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) -> bool {
        if let Some(at) = self.aliased.iter().position(|&aliased| aliased == fd) {
            self.aliased.swap_remove(at);
            return true;
        }
        let deleted = lend_number(fd).is_ok_and(|source| self.poller.delete(source).is_ok());
        if !deleted {
            self.maybe_dead.add_one();
        }
        deleted
    }

    #[inline(always)]
    fn wait(&mut self, timeout: Option<Duration>, registered: usize) -> io::Result<()> {
        // kqueue reports READ and WRITE as two events: room for both, for every fd, and for
        // the entries of dead registrations.
        let needed = room(registered, self.maybe_dead.get()).saturating_mul(2);
        let buffer = &mut self.events.0;
        if buffer.capacity().get() < needed {
            *buffer = polling::Events::with_capacity(
                NonZeroUsize::new(needed).unwrap_or(NonZeroUsize::MIN),
            );
        }
        buffer.clear();
        self.poller.wait(buffer, timeout)?;
        Ok(())
    }

    #[inline(always)]
    fn rearms(&self) -> bool {
        self.mode == PollMode::Oneshot
    }

    #[inline(always)]
    fn for_each_event<F>(&mut self, mut registry: Option<&mut PollingBackend>, mut on_ready: F)
    where
        F: FnMut(RawSource, Option<Tag>, Events) -> Option<Events>,
    {
        for event in self.events.0.iter() {
            let (fd, tag) = split(event.key);
            let mut ready = Events::empty();
            if event.readable {
                ready |= Events::READ;
            }
            if event.writable {
                ready |= Events::WRITE;
            }
            let registered_interest = on_ready(fd, tag, ready);
            // One-shot: the fd fired and is now disarmed. Re-armed, so that it is reported
            // again for as long as it stays ready; a dead registration is left disarmed, so
            // it never fires again. Under the registry's lock: another thread's `modify`
            // cannot slip in between.
            if let (Some(registry), Some(events)) = (&mut registry, registered_interest) {
                if let Ok(source) = lend_number(fd) {
                    let _ = registry.poller.modify_with_mode(
                        source,
                        interest(event.key, events),
                        registry.mode,
                    );
                }
            }
        }
    }

    /// Level mode only: a one-shot entry of a dead registration was not re-armed and never
    /// fires again. A new poller replaces the old one, behind the same `as_fd()` on Linux (on
    /// kqueue, IOCP and event ports entries follow descriptors, and this never happens).
    #[cold]
    fn purge(
        &mut self,
        waiter: &mut PollingBackend,
        live: &mut dyn Iterator<Item = (RawSource, Events, Tag)>,
    ) -> io::Result<()> {
        if self.mode == PollMode::Oneshot {
            return Ok(());
        }
        let fresh = Poller::new()?;
        let mut aliased = Vec::new();
        for (fd, events, tag) in live {
            match add_raw(&fresh, self.mode, fd, events, tag) {
                #[cfg(unix)]
                Err(err) if crate::backend::out_of_resources(&err) => return Err(err),
                // The fresh poller holds nothing but its own descriptors yet: this number,
                // closed without `unregister`, is one of them now.
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => aliased.push(fd),
                // Closed without `unregister`: the kernel had already dropped its entry.
                Ok(()) | Err(_) => {}
            }
        }
        #[cfg(all(
            any(target_os = "linux", target_os = "android"),
            not(polling_test_poll_backend)
        ))]
        waiter.lender.swap(&*self.poller, &fresh)?;
        let fresh = SharedPoller::new(fresh);
        self.poller = fresh.clone();
        waiter.poller = fresh;
        self.maybe_dead.reset();
        self.aliased = aliased;
        Ok(())
    }

    fn close(
        &mut self,
        _waiter: &mut PollingBackend,
        registered: &mut dyn Iterator<Item = RawSource>,
    ) {
        if self.poller.is_maker() {
            for fd in registered {
                self.delete(fd);
            }
        }
    }
}

impl<T> Selector<PollingBackend, T> {
    /// A selector that emulates level-triggering with one-shot registrations re-armed after
    /// every event, as it must on illumos and Solaris (event ports have no level mode).
    /// Elsewhere [`new`](Selector::new) uses the native level mode; this constructor exists so
    /// the emulation can be tested on any system.
    pub fn with_emulated_level() -> io::Result<Self> {
        Ok(Selector::with_ends(ends(Poller::new()?, PollMode::Oneshot)))
    }
}
