//! illumos and Solaris: rustix has no select(2) there, so `select()` is served by one poll(2)
//! over the same descriptors, with the kernel's own grouping of poll's bits into select's
//! three sets (as Linux's select(2) does it inside the kernel). `--cfg
//! ioselectors_select_over_poll` builds it on any Unix, so its tests run on Linux too.

use crate::source::{lend_number, RawSource};
use crate::timespec::to_timespec;
use rustix::event::{PollFd, PollFlags};
use std::io;
use std::time::Duration;

/// The platform's `FD_SETSIZE` (64-bit illumos and Solaris): select(2) cannot watch an fd
/// at or above it, and neither does this crate's `select()`, so programs behave the same.
pub const FD_SETSIZE: usize = 65536;

/// A set of descriptors, kept sorted, so that membership is a binary search.
#[derive(Debug, Default)]
pub(crate) struct FdSet {
    fds: Vec<RawSource>,
    /// Scratch for `select_sets` (used in the read set, reused from call to call): each
    /// descriptor with what the three sets ask of it, and the poll(2) array.
    asked: Vec<(RawSource, PollFlags)>,
    polled: Vec<PollFd<'static>>,
}

impl FdSet {
    pub(crate) fn can_hold(fd: RawSource) -> bool {
        (fd as usize) < FD_SETSIZE
    }

    pub(crate) fn insert(&mut self, fd: RawSource) -> Result<(), ()> {
        if !FdSet::can_hold(fd) {
            return Err(());
        }
        if let Err(at) = self.fds.binary_search(&fd) {
            self.fds.insert(at, fd);
        }
        Ok(())
    }

    pub(crate) fn contains(&self, fd: RawSource) -> bool {
        self.fds.binary_search(&fd).is_ok()
    }

    pub(crate) fn clear(&mut self) {
        self.fds.clear();
    }

    // `SelectSelector`'s, which illumos and Solaris do not offer (this file serves it
    // elsewhere only under `--cfg ioselectors_select_over_poll`).
    #[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
    pub(crate) fn remove(&mut self, fd: RawSource) {
        if let Ok(at) = self.fds.binary_search(&fd) {
            self.fds.remove(at);
        }
    }

    #[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
    pub(crate) fn copy_from(&mut self, other: &FdSet) {
        self.fds.clone_from(&other.fds);
    }

    #[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = RawSource> + '_ {
        self.fds.iter().copied()
    }
}

/// What select(2) puts in each set, from poll's bits (the grouping Linux's kernel uses).
const READ: PollFlags = PollFlags::IN
    .union(PollFlags::RDNORM)
    .union(PollFlags::RDBAND)
    .union(PollFlags::HUP)
    .union(PollFlags::ERR);
const WRITE: PollFlags = PollFlags::OUT
    .union(PollFlags::WRNORM)
    .union(PollFlags::WRBAND)
    .union(PollFlags::ERR);
const EXCEPT: PollFlags = PollFlags::PRI;

/// One poll(2) over the descriptors of the three sets, which are overwritten with the
/// ready ones; returns how many set entries are ready. A closed descriptor fails the call
/// with `EBADF`, as select(2) does. `EINTR` is returned, not retried.
pub(crate) fn select_sets(
    read: &mut FdSet,
    write: &mut FdSet,
    except: &mut FdSet,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let mut asked = std::mem::take(&mut read.asked);
    let mut polled = std::mem::take(&mut read.polled);
    asked.clear();
    for (set, events) in [
        (&*read, PollFlags::IN),
        (&*write, PollFlags::OUT),
        (&*except, PollFlags::PRI),
    ] {
        asked.extend(set.fds.iter().map(|&fd| (fd, events)));
    }
    asked.sort_unstable_by_key(|&(fd, _)| fd);
    asked.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            earlier.1 |= later.1;
        }
        same
    });
    polled.clear();
    // poll(2) only looks the numbers up: a closed descriptor comes back as POLLNVAL
    // (turned into EBADF below). The entries do not outlive this call (the array is
    // cleared before it returns).
    for &(fd, events) in &asked {
        polled.push(PollFd::from_borrowed_fd(lend_number(fd)?, events));
    }
    let outcome = match rustix::event::poll(&mut polled, timeout.map(to_timespec).as_ref()) {
        Err(err) => Err(err.into()),
        Ok(_)
            if polled
                .iter()
                .any(|entry| entry.revents().contains(PollFlags::NVAL)) =>
        {
            Err(rustix::io::Errno::BADF.into())
        }
        Ok(_) => {
            let mut ready = 0;
            for (set, wanted) in [
                (&mut *read, READ),
                (&mut *write, WRITE),
                (&mut *except, EXCEPT),
            ] {
                set.fds.retain(|fd| {
                    asked
                        .binary_search_by_key(fd, |&(asked_fd, _)| asked_fd)
                        .is_ok_and(|at| polled[at].revents().intersects(wanted))
                });
                ready += set.fds.len();
            }
            Ok(ready)
        }
    };
    polled.clear();
    read.asked = asked;
    read.polled = polled;
    outcome
}
