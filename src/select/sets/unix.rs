//! The sets on Unix: select(2) through rustix, over bit sets in the kernel's layout.

use crate::source::RawSource;
use crate::timespec::to_timespec;
use rustix::event::{
    fd_set_bound, fd_set_insert, fd_set_num_elements, fd_set_remove, FdSetElement, FdSetIter,
};
use std::fmt;
use std::io;
use std::time::Duration;

/// The platform's `FD_SETSIZE`: select(2) cannot watch an fd at or above it.
#[cfg(target_os = "netbsd")]
pub const FD_SETSIZE: usize = 256;
/// The platform's `FD_SETSIZE`: select(2) cannot watch an fd at or above it.
#[cfg(not(target_os = "netbsd"))]
pub const FD_SETSIZE: usize = 1024;

/// Words in a set of `FD_SETSIZE` bits.
const WORDS: usize = FD_SETSIZE / 64;

/// A set of descriptors below `FD_SETSIZE`: in the kernel's layout, and mirrored in plain
/// words, since rustix's set elements cannot be read one bit at a time.
#[derive(Clone)]
pub(crate) struct FdSet {
    kernel: Vec<FdSetElement>,
    mirror: [u64; WORDS],
}

impl Default for FdSet {
    fn default() -> FdSet {
        FdSet {
            kernel: vec![
                FdSetElement::default();
                fd_set_num_elements(FD_SETSIZE, FD_SETSIZE as i32)
            ],
            mirror: [0; WORDS],
        }
    }
}

impl fmt::Debug for FdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FdSet {
    /// Whether select(2) can take `fd`.
    pub(crate) fn can_hold(fd: RawSource) -> bool {
        (fd as usize) < FD_SETSIZE
    }

    /// Adds `fd`; `Err` if it is out of range.
    #[inline]
    pub(crate) fn insert(&mut self, fd: RawSource) -> Result<(), ()> {
        if !FdSet::can_hold(fd) {
            return Err(());
        }
        fd_set_insert(&mut self.kernel, fd);
        self.mirror[fd as usize / 64] |= 1 << (fd as usize % 64);
        Ok(())
    }

    pub(crate) fn remove(&mut self, fd: RawSource) {
        if FdSet::can_hold(fd) {
            fd_set_remove(&mut self.kernel, fd);
            self.mirror[fd as usize / 64] &= !(1 << (fd as usize % 64));
        }
    }

    #[inline]
    pub(crate) fn contains(&self, fd: RawSource) -> bool {
        FdSet::can_hold(fd) && self.mirror[fd as usize / 64] & (1 << (fd as usize % 64)) != 0
    }

    #[inline]
    pub(crate) fn clear(&mut self) {
        self.kernel.fill(FdSetElement::default());
        self.mirror = [0; WORDS];
    }

    pub(crate) fn copy_from(&mut self, other: &FdSet) {
        self.kernel.copy_from_slice(&other.kernel);
        self.mirror = other.mirror;
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = RawSource> + '_ {
        FdSetIter::new(&self.kernel)
    }

    /// What the kernel handed back, or `None` for an empty set (the kernel need not
    /// look at it).
    fn for_kernel(&mut self) -> Option<&mut [FdSetElement]> {
        (self.mirror != [0; WORDS]).then_some(&mut self.kernel[..])
    }

    /// Brings the mirror in line with what the kernel wrote, and counts the bits.
    fn read_kernel(&mut self) -> usize {
        self.mirror = [0; WORDS];
        let mut count = 0;
        for fd in FdSetIter::new(&self.kernel) {
            self.mirror[fd as usize / 64] |= 1 << (fd as usize % 64);
            count += 1;
        }
        count
    }
}

/// One select(2) over the three sets, which the kernel overwrites with the ready ones
/// (all empty if nothing is ready); returns how many bits are set. A closed descriptor is
/// `EBADF`, wherever it is in the table. `EINTR` is returned, not retried.
#[inline(always)]
pub(crate) fn select_sets(
    read: &mut FdSet,
    write: &mut FdSet,
    except: &mut FdSet,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let nfds = fd_set_bound(&read.kernel)
        .max(fd_set_bound(&write.kernel))
        .max(fd_set_bound(&except.kernel));
    let timeout = timeout.map(to_timespec);
    // SAFETY: each set holds FD_SETSIZE bits, covering `nfds`. rustix asks that every fd in
    // the sets be open, and that may not hold (the caller's number may be stale): select(2)
    // only looks the numbers up and does no I/O on them. A closed one inside the process's
    // descriptor table fails the call with EBADF; one above it is skipped by the kernel and
    // turned into EBADF below. Either way a stale number cannot cause undefined behaviour.
    let ready = unsafe {
        rustix::event::select(
            nfds,
            read.for_kernel(),
            write.for_kernel(),
            except.for_kernel(),
            timeout.as_ref(),
        )?
    };
    let mut reported = 0;
    for set in [read, write, except] {
        if set.mirror != [0; WORDS] {
            reported += set.read_kernel();
        }
    }
    // Linux skips a number above the process's descriptor table (it cannot be open) and
    // leaves its bit as it was: more bits than the kernel counted are such numbers.
    if reported != ready as usize {
        return Err(rustix::io::Errno::BADF.into());
    }
    Ok(reported)
}
