//! `EpollSelector`'s backend (Linux, Android): a [`select::Epoll`] and the buffer its waits
//! fill. One `epoll_wait` per `select()`.

use crate::backend::sealed::Os;
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
    fn add(&mut self, source: BorrowedSource<'_>, events: Events) -> io::Result<()> {
        self.epoll.register(source, flags(events))
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events) -> io::Result<()> {
        self.epoll.modify(fd, flags(events))
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) {
        // EBADF (closed) or ENOENT (number reused): the kernel already forgot the fd.
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
        F: FnMut(RawSource, Events) -> Option<Events>,
    {
        self.events.reserve(registered.max(1));
        self.epoll.wait(timeout, &mut self.events)?;
        for event in self.events.iter() {
            on_ready(event.fd(), readiness(event.events()));
        }
        Ok(())
    }
}

impl<T> AsFd for Selector<Epoll, T> {
    /// The epoll descriptor (Python's `fileno()`), e.g. to nest this selector in another.
    /// It is close-on-exec, and stays open until the selector is dropped.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.backend.epoll.as_fd()
    }
}

impl<T> AsRawFd for Selector<Epoll, T> {
    fn as_raw_fd(&self) -> RawFd {
        self.backend.epoll.as_raw_fd()
    }
}
