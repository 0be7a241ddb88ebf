//! Windows: a UDP socket connected to itself (selectors there take sockets only); one
//! datagram sent is a wake-up.

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::windows::io::{AsSocket, BorrowedSocket};

#[derive(Debug)]
pub(super) struct Inner(UdpSocket);

impl Inner {
    pub(super) fn new() -> io::Result<Inner> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        socket.connect(socket.local_addr()?)?;
        socket.set_nonblocking(true)?;
        Ok(Inner(socket))
    }

    pub(super) fn wake(&self) -> io::Result<()> {
        self.0.send(&[1]).map(drop)
    }

    pub(super) fn reset(&self) -> io::Result<()> {
        let mut buf = [0u8; 64];
        while self.0.recv(&mut buf)? > 0 {}
        Ok(())
    }
}

impl AsSocket for super::Waker {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        self.inner.0.as_socket()
    }
}
