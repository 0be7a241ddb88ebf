//! Linux/Android: epoll, straight through rustix. One `epoll_wait` per `select()`.

use crate::backend::sealed::Os;
use crate::source::{BorrowedSource, RawSource};
use crate::timespec::to_timespec;
use crate::{Events, Selector};
use rustix::event::epoll;
use std::io;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

/// The epoll backend of [`EpollSelector`](crate::EpollSelector).
#[derive(Debug)]
pub struct Epoll {
    epoll: OwnedFd,
    events: EventBuffer,
}

/// The buffer `epoll_wait` fills. It grows with the number of registrations (so one wait can
/// return every ready fd) and never shrinks, so steady-state waits do not allocate.
#[derive(Default)]
struct EventBuffer(Vec<epoll::Event>);

impl std::fmt::Debug for EventBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBuffer")
            .field("capacity", &self.0.capacity())
            .finish()
    }
}

// SAFETY: `epoll::Event` is `!Send` only because its data field may hold a pointer; this
// backend stores nothing but fd numbers (`EventData::new_u64`) there.
unsafe impl Send for EventBuffer {}

fn flags(events: Events) -> epoll::EventFlags {
    let mut flags = epoll::EventFlags::empty();
    if events.contains(Events::READ) {
        flags |= epoll::EventFlags::IN;
    }
    if events.contains(Events::WRITE) {
        flags |= epoll::EventFlags::OUT;
    }
    flags
}

/// Anything but plain IN (HUP, ERR, RDHUP, PRI) counts as writable, and anything but plain
/// OUT as readable — CPython's translation; the registry then masks by interest.
fn readiness(flags: epoll::EventFlags) -> Events {
    let mut events = Events::empty();
    if !(flags - epoll::EventFlags::IN).is_empty() {
        events |= Events::WRITE;
    }
    if !(flags - epoll::EventFlags::OUT).is_empty() {
        events |= Events::READ;
    }
    events
}

fn data(fd: RawFd) -> epoll::EventData {
    epoll::EventData::new_u64(fd as u64)
}

/// Borrows a registered fd by number for an `epoll_ctl` call.
fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: `epoll_ctl` only uses the number to find the file: if the fd was closed the
    // kernel answers EBADF, if the number was reused it answers ENOENT or acts on the fd's
    // own entry. No I/O is done on the descriptor, and the borrow does not escape the call.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl Os for Epoll {
    const NAME: &'static str = "epoll";

    fn open() -> io::Result<Self> {
        Ok(Epoll {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
            events: EventBuffer::default(),
        })
    }

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events) -> io::Result<()> {
        epoll::add(&self.epoll, source, data(source.as_raw_fd()), flags(events))?;
        Ok(())
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events) -> io::Result<()> {
        epoll::modify(&self.epoll, borrow(fd), data(fd), flags(events))?;
        Ok(())
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) {
        // EBADF (closed) or ENOENT (number reused): the kernel already forgot the fd.
        let _ = epoll::delete(&self.epoll, borrow(fd));
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
        let buffer = &mut self.events.0;
        buffer.clear();
        // epoll_wait needs room for at least one event, even with nothing registered.
        buffer.reserve(registered.max(1));
        let timeout = timeout.map(to_timespec);
        epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut *buffer),
            timeout.as_ref(),
        )?;
        for event in buffer.iter() {
            on_ready(event.data.u64() as RawFd, readiness(event.flags));
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
