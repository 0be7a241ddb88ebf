//! `SelectSelector`'s backend: the descriptor sets behind [`select::select`], kept between
//! calls. Each wait copies them and makes one select(2) (Winsock `select` on Windows).
//!
//! The kernel keeps nothing between waits, so the selector's thread waits on a copy of the
//! registry's sets, taken when they changed, plus a [`Waker`] that other threads wake when
//! they change a registration, so that a wait in progress starts again with the new sets.
//!
//! [`select::select`]: crate::select::select()

use crate::backend::sealed::Os;
use crate::backend::Tag;
use crate::select::{select_sets, FdSet, FD_SETSIZE};
use crate::source::{self, AsSource, BorrowedSource, RawSource};
use crate::{Events, SelectorError, Waker};
use std::io;
use std::time::Duration;

/// The backend of [`SelectSelector`](crate::SelectSelector): three descriptor sets.
#[derive(Debug)]
pub enum SelectBackend {}

/// The registry's half: who is watched for what, and the waker of the selector's thread.
#[derive(Debug, Default)]
pub struct SelectSets {
    readers: FdSet,
    writers: FdSet,
    /// Made when another thread first needs to wake the selector's.
    waker: Option<Waker>,
}

/// The selector's half: copies of the sets, and the sets the kernel overwrites with the
/// ready descriptors.
#[derive(Debug, Default)]
pub struct SelectWaiter {
    readers: FdSet,
    writers: FdSet,
    waker: Option<Waker>,
    ready_readers: FdSet,
    ready_writers: FdSet,
    ready_failed: FdSet,
    /// How many descriptors the last wait found ready.
    ready: usize,
}

impl SelectSets {
    fn set(&mut self, fd: RawSource, events: Events) {
        for (set, wanted) in [
            (&mut self.readers, Events::READ),
            (&mut self.writers, Events::WRITE),
        ] {
            if events.contains(wanted) {
                // `check_fd` refused what the set cannot hold.
                let _ = set.insert(fd);
            } else {
                set.remove(fd);
            }
        }
    }
}

fn check_fd(fd: RawSource) -> Result<(), SelectorError> {
    if FdSet::can_hold(fd) {
        Ok(())
    } else {
        Err(SelectorError::FdTooLarge {
            fd,
            limit: FD_SETSIZE,
        })
    }
}

impl Os for SelectBackend {
    const NAME: &'static str = "select";
    type Set = SelectSets;
    type Waiter = SelectWaiter;
    const WAITS_ON_A_COPY: bool = true;

    fn open() -> io::Result<(SelectSets, SelectWaiter)> {
        Ok((SelectSets::default(), SelectWaiter::default()))
    }

    fn check_fd(fd: RawSource) -> Result<(), SelectorError> {
        check_fd(fd)
    }

    #[inline]
    fn add(
        set: &mut SelectSets,
        source: BorrowedSource<'_>,
        events: Events,
        _tag: Tag,
    ) -> io::Result<()> {
        set.set(source::raw(source), events);
        Ok(())
    }

    #[inline]
    fn modify(set: &mut SelectSets, fd: RawSource, events: Events, _tag: Tag) -> io::Result<()> {
        set.set(fd, events);
        Ok(())
    }

    #[inline]
    fn delete(set: &mut SelectSets, fd: RawSource) -> bool {
        set.set(fd, Events::empty());
        true
    }

    fn sync(set: &mut SelectSets, waiter: &mut SelectWaiter) {
        waiter.readers.copy_from(&set.readers);
        waiter.writers.copy_from(&set.writers);
        waiter.waker.clone_from(&set.waker);
        if let Some(waker) = &waiter.waker {
            // `wake` made sure the set can hold it.
            let _ = waiter.readers.insert(source::raw(waker.as_source()));
        }
    }

    fn wake(set: &mut SelectSets) -> io::Result<()> {
        if set.waker.is_none() {
            let waker = Waker::new()?;
            check_fd(source::raw(waker.as_source()))?;
            set.waker = Some(waker);
        }
        set.waker.as_ref().map_or(Ok(()), Waker::wake)
    }

    #[inline(always)]
    fn wait(
        waiter: &mut SelectWaiter,
        timeout: Option<Duration>,
        _registered: usize,
    ) -> io::Result<()> {
        waiter.ready_readers.copy_from(&waiter.readers);
        waiter.ready_writers.copy_from(&waiter.writers);
        // Windows reports a failed non-blocking `connect` only in the except set: watch
        // write interest there too, and report it as WRITE, as CPython does. On Unix the
        // except set means urgent data, which is not WRITE.
        if cfg!(windows) {
            waiter.ready_failed.copy_from(&waiter.writers);
        }
        waiter.ready = select_sets(
            &mut waiter.ready_readers,
            &mut waiter.ready_writers,
            &mut waiter.ready_failed,
            timeout,
        )?;
        Ok(())
    }

    #[inline(always)]
    fn for_each_event<F>(waiter: &mut SelectWaiter, _set: &mut SelectSets, mut on_ready: F)
    where
        F: FnMut(RawSource, Option<Tag>, Events) -> Option<Events>,
    {
        if waiter.ready == 0 {
            return;
        }
        let waker = waiter
            .waker
            .as_ref()
            .map(|waker| source::raw(waker.as_source()));
        for (ready, events) in [
            (&waiter.ready_readers, Events::READ),
            (&waiter.ready_writers, Events::WRITE),
            (&waiter.ready_failed, Events::WRITE),
        ] {
            for fd in ready.iter() {
                if Some(fd) == waker {
                    // Another thread changed a registration: the caller syncs and waits again.
                    if let Some(waker) = &waiter.waker {
                        let _ = waker.reset();
                    }
                } else {
                    on_ready(fd, None, events);
                }
            }
        }
    }

    fn close(
        set: &mut SelectSets,
        waiter: &mut SelectWaiter,
        _registered: &mut dyn Iterator<Item = RawSource>,
    ) {
        *set = SelectSets::default();
        *waiter = SelectWaiter::default();
    }
}
