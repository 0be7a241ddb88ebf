//! `PollSelector`'s backend: a [`select::Poll`] (poll(2) on Unix, `WSAPoll` on Windows).
//! Each wait is one syscall, O(registered fds).
//!
//! The kernel keeps nothing between waits, so the selector's thread waits on a copy of the
//! registry's `Poll`, taken when it changed, plus a [`Waker`] that other threads wake when
//! they change a registration, so that a wait in progress starts again with the new set.

use crate::backend::sealed::Os;
use crate::backend::Tag;
use crate::select::{self, PollArray, PollFlags};
use crate::source::{self, AsSource, BorrowedSource, RawSource};
use crate::{Events, Waker};
use std::io;
use std::time::Duration;

/// The backend of [`PollSelector`](crate::PollSelector): a [`select::Poll`].
#[derive(Debug, Default)]
pub struct PollBackend {
    /// Registry's end: the registrations.
    poll: select::Poll,
    /// Registry's end: made when another thread first needs to wake the selector's. The
    /// waiter's end holds a copy.
    waker: Option<Waker>,
    /// Waiter's end: a copy of the registrations, and the waker, to poll.
    array: PollArray,
    /// Waiter's end: how many entries fired in the last wait.
    fired: usize,
}

fn flags(events: Events) -> PollFlags {
    super::interest(events, PollFlags::IN, PollFlags::OUT)
}

#[inline(always)]
fn readiness(flags: PollFlags) -> Events {
    super::readiness(
        flags,
        PollFlags::IN | PollFlags::RDNORM,
        PollFlags::OUT | PollFlags::WRNORM,
    )
}

impl Os for PollBackend {
    const NAME: &'static str = "poll";
    const WAITS_ON_A_COPY: bool = true;

    fn open() -> io::Result<(PollBackend, PollBackend)> {
        Ok(Default::default())
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
    fn delete(&mut self, fd: RawSource) -> bool {
        let _ = self.poll.unregister(fd);
        true
    }

    fn sync(&mut self, waiter: &mut PollBackend) {
        waiter.waker.clone_from(&self.waker);
        let waker = waiter
            .waker
            .as_ref()
            .map(|waker| source::raw(waker.as_source()));
        waiter.array.copy_of(&mut self.poll, waker);
    }

    fn wake(&mut self) -> io::Result<()> {
        match &self.waker {
            Some(waker) => waker.wake(),
            None => {
                let waker = Waker::new()?;
                waker.wake()?;
                self.waker = Some(waker);
                Ok(())
            }
        }
    }

    #[inline(always)]
    fn wait(&mut self, timeout: Option<Duration>, _registered: usize) -> io::Result<()> {
        self.fired = self.array.wait(timeout)?;
        Ok(())
    }

    #[inline(always)]
    fn for_each_event<F>(&mut self, _registry: Option<&mut PollBackend>, mut on_ready: F)
    where
        F: FnMut(RawSource, Option<Tag>, Events) -> Option<Events>,
    {
        let waker = self.waker.as_ref();
        for (fd, revents) in self.array.fired(self.fired) {
            match waker {
                // Another thread changed a registration: the caller syncs and waits again.
                Some(waker) if fd == source::raw(waker.as_source()) => {
                    let _ = waker.reset();
                }
                _ => {
                    on_ready(fd, None, readiness(revents));
                }
            }
        }
    }

    fn close(
        &mut self,
        waiter: &mut PollBackend,
        _registered: &mut dyn Iterator<Item = RawSource>,
    ) {
        *self = PollBackend::default();
        *waiter = PollBackend::default();
    }
}
