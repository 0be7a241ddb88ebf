//! Linux and Android: an eventfd, one descriptor whose counter is the wake-up.

use rustix::event::{eventfd, EventfdFlags};
use std::io;
use std::os::unix::io::{AsFd, BorrowedFd, OwnedFd};

#[derive(Debug)]
pub(super) struct Inner(OwnedFd);

impl Inner {
    pub(super) fn new() -> io::Result<Inner> {
        Ok(Inner(eventfd(
            0,
            EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
        )?))
    }

    pub(super) fn wake(&self) -> io::Result<()> {
        rustix::io::write(&self.0, &1u64.to_ne_bytes())?;
        Ok(())
    }

    pub(super) fn reset(&self) -> io::Result<()> {
        // One read returns the whole counter and zeroes it.
        rustix::io::read(&self.0, &mut [0u8; 8])?;
        Ok(())
    }
}

impl AsFd for super::Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.0.as_fd()
    }
}
