//! Unix: select(2) through rustix. Registration is bookkeeping in two bit sets; each wait
//! copies them and makes one syscall. Only fds below `FD_SETSIZE` can be watched.

use crate::backend::sealed::Os;
use crate::source::{BorrowedSource, RawSource};
use crate::timespec::to_timespec;
use crate::{Events, SelectorError};
use rustix::event::{
    fd_set_bound, fd_set_insert, fd_set_num_elements, fd_set_remove, FdSetElement, FdSetIter,
};
use std::fmt;
use std::io;
use std::os::unix::io::AsRawFd;
use std::time::Duration;

/// The platform's `FD_SETSIZE`: select(2) cannot watch an fd at or above it.
#[cfg(any(target_os = "illumos", target_os = "solaris"))]
pub const FD_SETSIZE: usize = 65536;
/// The platform's `FD_SETSIZE`: select(2) cannot watch an fd at or above it.
#[cfg(target_os = "netbsd")]
pub const FD_SETSIZE: usize = 256;
/// The platform's `FD_SETSIZE`: select(2) cannot watch an fd at or above it.
#[cfg(not(any(target_os = "illumos", target_os = "solaris", target_os = "netbsd")))]
pub const FD_SETSIZE: usize = 1024;

/// The select(2) backend of [`SelectSelector`](crate::SelectSelector) on Unix.
pub struct Select {
    readers: Vec<FdSetElement>,
    writers: Vec<FdSetElement>,
    /// The sets handed to the kernel, which overwrites them: copies of the two above.
    ready_readers: Vec<FdSetElement>,
    ready_writers: Vec<FdSetElement>,
}

impl fmt::Debug for Select {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field(
                "readers",
                &FdSetIter::new(&self.readers).collect::<Vec<_>>(),
            )
            .field(
                "writers",
                &FdSetIter::new(&self.writers).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Select {
    fn set(&mut self, fd: RawSource, events: Events) {
        for (set, wanted) in [
            (&mut self.readers, Events::READ),
            (&mut self.writers, Events::WRITE),
        ] {
            if events.contains(wanted) {
                fd_set_insert(set, fd);
            } else {
                fd_set_remove(set, fd);
            }
        }
    }
}

impl Os for Select {
    const NAME: &'static str = "select";

    fn open() -> io::Result<Self> {
        let empty =
            vec![FdSetElement::default(); fd_set_num_elements(FD_SETSIZE, FD_SETSIZE as i32)];
        Ok(Select {
            readers: empty.clone(),
            writers: empty.clone(),
            ready_readers: empty.clone(),
            ready_writers: empty,
        })
    }

    fn check_fd(fd: RawSource) -> Result<(), SelectorError> {
        if (fd as usize) < FD_SETSIZE {
            Ok(())
        } else {
            Err(SelectorError::FdTooLarge {
                fd,
                limit: FD_SETSIZE,
            })
        }
    }

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events) -> io::Result<()> {
        self.set(source.as_raw_fd(), events);
        Ok(())
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events) -> io::Result<()> {
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
        F: FnMut(RawSource, Events) -> Option<Events>,
    {
        let nfds = fd_set_bound(&self.readers).max(fd_set_bound(&self.writers));
        self.ready_readers.copy_from_slice(&self.readers);
        self.ready_writers.copy_from_slice(&self.writers);
        let timeout = timeout.map(to_timespec);
        // SAFETY: both sets hold `FD_SETSIZE` bits, covering `nfds`. The fds in them are
        // registered, but may have been closed by their owner since: select(2) then fails
        // with EBADF (returned to the caller, as Python does) and does no I/O on any fd.
        unsafe {
            rustix::event::select(
                nfds,
                Some(&mut self.ready_readers),
                Some(&mut self.ready_writers),
                None,
                timeout.as_ref(),
            )?;
        }
        for fd in FdSetIter::new(&self.ready_readers) {
            on_ready(fd, Events::READ);
        }
        for fd in FdSetIter::new(&self.ready_writers) {
            on_ready(fd, Events::WRITE);
        }
        Ok(())
    }
}
