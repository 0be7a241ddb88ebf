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
#[derive(Debug)]
pub enum PollBackend {}

/// The registry's half: the registrations, and the waker of the selector's thread.
#[derive(Debug)]
pub struct PollSet {
    poll: select::Poll,
    /// Made when another thread first needs to wake the selector's.
    waker: Option<Waker>,
}

/// The selector's half: what it polls.
#[derive(Debug, Default)]
pub struct PollWaiter {
    array: PollArray,
    waker: Option<Waker>,
    /// How many entries fired in the last wait.
    fired: usize,
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

impl Os for PollBackend {
    const NAME: &'static str = "poll";
    type Set = PollSet;
    type Waiter = PollWaiter;
    const WAITS_ON_A_COPY: bool = true;

    fn open() -> io::Result<(PollSet, PollWaiter)> {
        Ok((
            PollSet {
                poll: select::Poll::new(),
                waker: None,
            },
            PollWaiter::default(),
        ))
    }

    #[inline]
    fn add(
        set: &mut PollSet,
        source: BorrowedSource<'_>,
        events: Events,
        _tag: Tag,
    ) -> io::Result<()> {
        set.poll.register(&source, flags(events));
        Ok(())
    }

    #[inline]
    fn modify(set: &mut PollSet, fd: RawSource, events: Events, _tag: Tag) -> io::Result<()> {
        set.poll.modify(fd, flags(events))
    }

    #[inline]
    fn delete(set: &mut PollSet, fd: RawSource) -> bool {
        let _ = set.poll.unregister(fd);
        true
    }

    fn sync(set: &mut PollSet, waiter: &mut PollWaiter) {
        waiter.waker.clone_from(&set.waker);
        let waker = waiter
            .waker
            .as_ref()
            .map(|waker| source::raw(waker.as_source()));
        waiter.array.copy_of(&mut set.poll, waker);
    }

    fn wake(set: &mut PollSet) -> io::Result<()> {
        match &set.waker {
            Some(waker) => waker.wake(),
            None => {
                let waker = Waker::new()?;
                waker.wake()?;
                set.waker = Some(waker);
                Ok(())
            }
        }
    }

    #[inline(always)]
    fn wait(
        waiter: &mut PollWaiter,
        timeout: Option<Duration>,
        _registered: usize,
    ) -> io::Result<()> {
        waiter.fired = waiter.array.wait(timeout)?;
        Ok(())
    }

    #[inline(always)]
    fn for_each_event<F>(waiter: &mut PollWaiter, _set: &mut PollSet, mut on_ready: F)
    where
        F: FnMut(RawSource, Option<Tag>, Events) -> Option<Events>,
    {
        let waker = waiter.waker.as_ref();
        for (fd, revents) in waiter.array.fired(waiter.fired) {
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
        set: &mut PollSet,
        waiter: &mut PollWaiter,
        _registered: &mut dyn Iterator<Item = RawSource>,
    ) {
        *set = PollSet {
            poll: select::Poll::new(),
            waker: None,
        };
        *waiter = PollWaiter::default();
    }
}
