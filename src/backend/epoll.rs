//! `EpollSelector`'s backend (Linux, Android): a [`select::Epoll`] and the buffer its waits
//! fill. One `epoll_wait` per `select()`.
//!
//! epoll watches open files, not numbers: a registered descriptor that was duplicated
//! (`try_clone`, `dup`, a forked child) and then closed keeps its kernel entry after
//! `unregister`, and its events keep waking `epoll_wait`. Each entry's data word holds the
//! registration's tag beside the number, so such an event is told apart from one of a new
//! registration that reuses the number; when one shows up, the kernel's set is rebuilt from
//! the live registrations and installed at the same descriptor number.

use crate::backend::sealed::Os;
use crate::backend::Tag;
use crate::select::{self, EpollEvents, EpollFlags};
use crate::source::{BorrowedSource, RawSource};
use crate::{Events, Selector};
use std::io;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

/// The backend of [`EpollSelector`](crate::EpollSelector): a [`select::Epoll`].
#[derive(Debug)]
pub struct Epoll {
    epoll: select::Epoll,
    /// Grows with the number of registrations (so one wait can return every ready fd) and
    /// never shrinks, so steady-state waits do not allocate.
    events: EpollEvents,
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
            epoll: select::Epoll::new()?,
            events: EpollEvents::with_capacity(1),
        })
    }

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events, tag: Tag) -> io::Result<()> {
        let fd = source.as_raw_fd();
        self.epoll
            .register_with_data(&source, flags(events), data(fd, tag))
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events, tag: Tag) -> io::Result<()> {
        self.epoll
            .modify_with_data(fd, flags(events), data(fd, tag))
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) {
        // EBADF (closed) or ENOENT (number reused): the kernel no longer has an entry under
        // this number, or keeps one for a duplicate's sake; `purge` deals with the latter if
        // it ever fires.
        let _ = self.epoll.unregister(fd);
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
        self.events.reserve(registered.max(1));
        self.epoll.wait(timeout, &mut self.events)?;
        for event in self.events.iter() {
            let tag = (event.data() >> 32) as Tag;
            on_ready(event.fd(), Some(tag), readiness(event.events()));
        }
        Ok(())
    }

    #[cold]
    fn purge(&mut self, live: &mut dyn Iterator<Item = (RawSource, Events, Tag)>) {
        let Ok(fresh) = select::Epoll::new() else {
            return; // out of descriptors: keep the old set, and try again next time
        };
        for (fd, events, tag) in live {
            // SAFETY: epoll_ctl only looks the number up: a registration whose source was
            // closed without `unregister` gets EBADF and is left out, as the kernel had
            // already dropped it. No I/O is done on the descriptor; the borrow ends here.
            let source = unsafe { BorrowedFd::borrow_raw(fd) };
            let _ = fresh.register_with_data(&source, flags(events), data(fd, tag));
        }
        // Same number, new instance: `as_fd()` holders keep a working epoll.
        let _ = self.epoll.replace_with(fresh);
    }
}

impl<T> AsFd for Selector<Epoll, T> {
    /// The epoll descriptor (Python's `fileno()`), e.g. to nest this selector in another.
    /// It is close-on-exec, and stays open (under the same number) until the selector is
    /// dropped.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.backend.epoll.as_fd()
    }
}

impl<T> AsRawFd for Selector<Epoll, T> {
    fn as_raw_fd(&self) -> RawFd {
        self.backend.epoll.as_raw_fd()
    }
}
