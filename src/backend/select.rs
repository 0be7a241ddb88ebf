//! `SelectSelector`'s backend: the descriptor sets behind [`select::select`], kept between
//! calls. Each wait copies them and makes one select(2) (Winsock `select` on Windows).
//!
//! [`select::select`]: crate::select::select()

use crate::backend::sealed::Os;
use crate::backend::Tag;
use crate::select::{select_sets, FdSet, FD_SETSIZE};
use crate::source::{self, BorrowedSource, RawSource};
use crate::{Events, SelectorError};
use std::io;
use std::time::Duration;

/// The backend of [`SelectSelector`](crate::SelectSelector): three descriptor sets.
#[derive(Debug, Default)]
pub struct Select {
    readers: FdSet,
    writers: FdSet,
    /// What the kernel overwrites with the ready descriptors: copies of the two above, and
    /// the except set.
    ready_readers: FdSet,
    ready_writers: FdSet,
    ready_failed: FdSet,
}

impl Select {
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

impl Os for Select {
    const NAME: &'static str = "select";

    fn open() -> io::Result<Self> {
        Ok(Select::default())
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

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events, _tag: Tag) -> io::Result<()> {
        self.set(source::raw(source), events);
        Ok(())
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events, _tag: Tag) -> io::Result<()> {
        self.set(fd, events);
        Ok(())
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) {
        self.set(fd, Events::empty());
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
        self.ready_readers.copy_from(&self.readers);
        self.ready_writers.copy_from(&self.writers);
        // Windows reports a failed non-blocking `connect` only in the except set: watch
        // write interest there too, and report it as WRITE, as CPython does. On Unix the
        // except set means urgent data, which is not WRITE.
        if cfg!(windows) {
            self.ready_failed.copy_from(&self.writers);
        }
        let ready = select_sets(
            &mut self.ready_readers,
            &mut self.ready_writers,
            &mut self.ready_failed,
            timeout,
        )?;
        if ready == 0 {
            return Ok(());
        }
        for (set, events) in [
            (&self.ready_readers, Events::READ),
            (&self.ready_writers, Events::WRITE),
            (&self.ready_failed, Events::WRITE),
        ] {
            for fd in set.iter() {
                on_ready(fd, None, events);
            }
        }
        Ok(())
    }

    fn close(&mut self, _registered: &mut dyn Iterator<Item = RawSource>) {
        *self = Select::default();
    }
}
