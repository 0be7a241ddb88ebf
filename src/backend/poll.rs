//! `PollSelector`'s backend: a [`select::Poll`] (poll(2) on Unix, `WSAPoll` on Windows).
//! Each wait is one syscall, O(registered fds).

use crate::backend::sealed::Os;
use crate::backend::Tag;
use crate::select::{self, PollFlags};
use crate::source::{BorrowedSource, RawSource};
use crate::Events;
use std::io;
use std::time::Duration;

/// The backend of [`PollSelector`](crate::PollSelector): a [`select::Poll`].
#[derive(Debug)]
pub struct Poll {
    poll: select::Poll,
}

fn flags(events: Events) -> PollFlags {
    let mut flags = PollFlags::empty();
    if events.contains(Events::READ) {
        flags |= PollFlags::IN;
    }
    if events.contains(Events::WRITE) {
        flags |= PollFlags::OUT;
    }
    flags
}

/// Anything but plain read readiness (HUP, ERR, NVAL, PRI) counts as writable, anything but
/// plain OUT as readable: CPython's translation. The registry masks it by interest.
#[inline(always)]
fn readiness(flags: PollFlags) -> Events {
    let mut events = Events::empty();
    if !(flags - PollFlags::IN - PollFlags::RDNORM).is_empty() {
        events |= Events::WRITE;
    }
    if !(flags - PollFlags::OUT - PollFlags::WRNORM).is_empty() {
        events |= Events::READ;
    }
    events
}

impl Os for Poll {
    const NAME: &'static str = "poll";

    fn open() -> io::Result<Self> {
        Ok(Poll {
            poll: select::Poll::new(),
        })
    }

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events, _tag: Tag) -> io::Result<()> {
        self.poll.register(&source, flags(events));
        Ok(())
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events, _tag: Tag) -> io::Result<()> {
        self.poll.modify(fd, flags(events))
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) {
        let _ = self.poll.unregister(fd);
    }

    #[inline(always)]
    fn wait<F>(
        &mut self,
        timeout: Option<Duration>,
        _registered: usize,
        mut on_ready: F,
    ) -> io::Result<()>
    where
        F: FnMut(RawSource, Option<Tag>, Events) -> Option<Events>,
    {
        let fired = self.poll.wait(timeout)?;
        for (fd, revents) in self.poll.fired(fired) {
            on_ready(fd, None, readiness(revents));
        }
        Ok(())
    }

    fn close(&mut self, _registered: &mut dyn Iterator<Item = RawSource>) {
        self.poll = select::Poll::new();
    }
}
