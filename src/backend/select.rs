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
#[derive(Debug, Default)]
pub struct SelectBackend {
    /// Who is watched for what: the registrations at the registry's end, a copy of them
    /// (and the waker, for reading) at the waiter's.
    sets: SelectSets,
    /// Registry's end: made when another thread first needs to wake the selector's. The
    /// waiter's end holds a copy.
    waker: Option<Waker>,
    /// Waiter's end: the sets the kernel overwrites with the ready descriptors.
    ready_readers: FdSet,
    ready_writers: FdSet,
    ready_failed: FdSet,
    /// Waiter's end: how many descriptors the last wait found ready.
    ready: usize,
}

#[derive(Debug, Default)]
struct SelectSets {
    readers: FdSet,
    writers: FdSet,
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
    const WAITS_ON_A_COPY: bool = true;

    fn open() -> io::Result<(SelectBackend, SelectBackend)> {
        Ok(Default::default())
    }

    fn check_fd(fd: RawSource) -> Result<(), SelectorError> {
        check_fd(fd)
    }

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events, _tag: Tag) -> io::Result<()> {
        self.sets.set(source::raw(source), events);
        Ok(())
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events, _tag: Tag) -> io::Result<()> {
        self.sets.set(fd, events);
        Ok(())
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) -> bool {
        self.sets.set(fd, Events::empty());
        true
    }

    fn sync(&mut self, waiter: &mut SelectBackend) {
        waiter.sets.readers.copy_from(&self.sets.readers);
        waiter.sets.writers.copy_from(&self.sets.writers);
        waiter.waker.clone_from(&self.waker);
        if let Some(waker) = &waiter.waker {
            // `wake` made sure the set can hold it.
            let _ = waiter.sets.readers.insert(source::raw(waker.as_source()));
        }
    }

    fn wake(&mut self) -> io::Result<()> {
        if self.waker.is_none() {
            let waker = Waker::new()?;
            check_fd(source::raw(waker.as_source()))?;
            self.waker = Some(waker);
        }
        self.waker.as_ref().map_or(Ok(()), Waker::wake)
    }

    #[inline(always)]
    fn wait(&mut self, timeout: Option<Duration>, _registered: usize) -> io::Result<()> {
        self.ready_readers.copy_from(&self.sets.readers);
        self.ready_writers.copy_from(&self.sets.writers);
        // Windows reports a failed non-blocking `connect` only in the except set: watch
        // write interest there too, and report it as WRITE, as CPython does. On Unix the
        // except set means urgent data, which is not WRITE.
        if cfg!(windows) {
            self.ready_failed.copy_from(&self.sets.writers);
        }
        self.ready = select_sets(
            &mut self.ready_readers,
            &mut self.ready_writers,
            &mut self.ready_failed,
            timeout,
        )?;
        Ok(())
    }

    #[inline(always)]
    fn for_each_event<F>(&mut self, _registry: Option<&mut SelectBackend>, mut on_ready: F)
    where
        F: FnMut(RawSource, Option<Tag>, Events) -> Option<Events>,
    {
        if self.ready == 0 {
            return;
        }
        let waker = self
            .waker
            .as_ref()
            .map(|waker| source::raw(waker.as_source()));
        for (ready, events) in [
            (&self.ready_readers, Events::READ),
            (&self.ready_writers, Events::WRITE),
            (&self.ready_failed, Events::WRITE),
        ] {
            for fd in ready.iter() {
                if Some(fd) == waker {
                    // Another thread changed a registration: the caller syncs and waits again.
                    if let Some(waker) = &self.waker {
                        let _ = waker.reset();
                    }
                } else {
                    on_ready(fd, None, events);
                }
            }
        }
    }

    fn close(
        &mut self,
        waiter: &mut SelectBackend,
        _registered: &mut dyn Iterator<Item = RawSource>,
    ) {
        *self = SelectBackend::default();
        *waiter = SelectBackend::default();
    }
}
