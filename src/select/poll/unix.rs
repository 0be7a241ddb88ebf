//! poll(2) through rustix: the entries, the bits and the call.

use super::PollFlags;
use crate::source::{lend_number, RawSource};
use crate::timespec::to_timespec;
use crate::SelectorError;
use rustix::event::{PollFd, PollFlags as Kernel};
use std::io;
use std::os::unix::io::{AsFd, AsRawFd};
use std::time::Duration;

pub(super) const IN: u16 = Kernel::IN.bits() as u16;
pub(super) const PRI: u16 = Kernel::PRI.bits() as u16;
pub(super) const OUT: u16 = Kernel::OUT.bits() as u16;
pub(super) const ERR: u16 = Kernel::ERR.bits() as u16;
pub(super) const HUP: u16 = Kernel::HUP.bits() as u16;
pub(super) const NVAL: u16 = Kernel::NVAL.bits() as u16;
pub(super) const RDNORM: u16 = Kernel::RDNORM.bits() as u16;
pub(super) const RDBAND: u16 = Kernel::RDBAND.bits() as u16;
pub(super) const WRNORM: u16 = Kernel::WRNORM.bits() as u16;
pub(super) const WRBAND: u16 = Kernel::WRBAND.bits() as u16;

pub(super) type Entry = PollFd<'static>;

/// The kernel's entry for `fd`. poll(2) only looks the number up: a closed fd
/// comes back as POLLNVAL, a reused number reports the new file's readiness.
pub(super) fn entry(fd: RawSource, mask: PollFlags) -> Result<Entry, SelectorError> {
    let fd = lend_number(fd)?;
    Ok(PollFd::from_borrowed_fd(
        fd,
        Kernel::from_bits_retain(mask.bits() as _),
    ))
}

pub(super) fn fd_of(entry: &Entry) -> RawSource {
    entry.as_fd().as_raw_fd()
}

#[inline(always)]
pub(super) fn revents(entry: &Entry) -> PollFlags {
    PollFlags::from_bits_retain(entry.revents().bits() as u16)
}

#[inline(always)]
pub(super) fn poll(entries: &mut [Entry], timeout: Option<Duration>) -> io::Result<usize> {
    Ok(rustix::event::poll(
        entries,
        timeout.map(to_timespec).as_ref(),
    )?)
}
