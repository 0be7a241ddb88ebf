//! Unix: poll(2) through rustix. Registration is bookkeeping in user space; the wait is one
//! syscall over an array kept ready between calls, O(registered fds).

use crate::backend::sealed::Os;
use crate::fd_map::FdMap;
use crate::source::{BorrowedSource, RawSource};
use crate::timespec::to_timespec;
use crate::Events;
use rustix::event::{PollFd, PollFlags};
use std::io;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

/// The poll(2) backend of [`PollSelector`](crate::PollSelector).
#[derive(Debug)]
pub struct Poll {
    /// The array handed to poll(2), in no particular order.
    fds: Vec<PollFd<'static>>,
    /// Where each registered fd sits in `fds`, for O(1) modify and unregister.
    position: FdMap<usize>,
}

fn entry(fd: RawSource, events: Events) -> PollFd<'static> {
    let mut flags = PollFlags::empty();
    if events.contains(Events::READ) {
        flags |= PollFlags::IN;
    }
    if events.contains(Events::WRITE) {
        flags |= PollFlags::OUT;
    }
    // SAFETY: poll(2) only reads the number: a closed fd comes back as POLLNVAL, a reused
    // number reports the new file's readiness. No I/O is done on it. The entry is dropped
    // when the fd is unregistered, and `Poll` never hands it out.
    PollFd::from_borrowed_fd(unsafe { BorrowedFd::borrow_raw(fd) }, flags)
}

/// Anything but plain IN (HUP, ERR, NVAL, PRI) counts as writable, anything but plain OUT as
/// readable: CPython's translation. The registry masks it by interest.
fn readiness(flags: PollFlags) -> Events {
    let mut events = Events::empty();
    if !(flags - PollFlags::IN).is_empty() {
        events |= Events::WRITE;
    }
    if !(flags - PollFlags::OUT).is_empty() {
        events |= Events::READ;
    }
    events
}

impl Os for Poll {
    const NAME: &'static str = "poll";

    fn open() -> io::Result<Self> {
        Ok(Poll {
            fds: Vec::new(),
            position: FdMap::new(),
        })
    }

    fn add(&mut self, source: BorrowedSource<'_>, events: Events) -> io::Result<()> {
        let fd = source.as_raw_fd();
        self.position.insert(fd, self.fds.len());
        self.fds.push(entry(fd, events));
        Ok(())
    }

    fn modify(&mut self, fd: RawSource, events: Events) -> io::Result<()> {
        if let Some(&index) = self.position.get(fd) {
            self.fds[index] = entry(fd, events);
        }
        Ok(())
    }

    fn delete(&mut self, fd: RawSource) {
        if let Some(index) = self.position.remove(fd) {
            self.fds.swap_remove(index);
            if let Some(moved) = self.fds.get(index) {
                if let Some(position) = self.position.get_mut(moved.as_fd().as_raw_fd()) {
                    *position = index;
                }
            }
        }
    }

    fn wait<F>(
        &mut self,
        timeout: Option<Duration>,
        _registered: usize,
        mut on_ready: F,
    ) -> io::Result<()>
    where
        F: FnMut(RawSource, Events) -> Option<Events>,
    {
        let timeout = timeout.map(to_timespec);
        let mut pending = rustix::event::poll(&mut self.fds, timeout.as_ref())?;
        for fd in &self.fds {
            if pending == 0 {
                break;
            }
            let revents = fd.revents();
            if !revents.is_empty() {
                pending -= 1;
                on_ready(fd.as_fd().as_raw_fd(), readiness(revents));
            }
        }
        Ok(())
    }

    fn close(&mut self, _registered: &mut dyn Iterator<Item = RawSource>) {
        self.fds = Vec::new();
        self.position.clear();
    }
}
