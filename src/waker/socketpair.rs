//! Other Unix systems: a connected pair of Unix sockets; one byte written is a wake-up.

use std::io::{self, Read, Write};
use std::os::unix::io::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

#[derive(Debug)]
pub(super) struct Inner {
    reader: UnixStream,
    writer: UnixStream,
}

impl Inner {
    pub(super) fn new() -> io::Result<Inner> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(Inner { reader, writer })
    }

    pub(super) fn wake(&self) -> io::Result<()> {
        (&self.writer).write(&[1]).map(drop)
    }

    pub(super) fn reset(&self) -> io::Result<()> {
        let mut buf = [0u8; 64];
        while (&self.reader).read(&mut buf)? > 0 {}
        Ok(())
    }
}

impl AsFd for super::Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.reader.as_fd()
    }
}
