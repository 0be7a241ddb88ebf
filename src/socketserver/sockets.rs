//! The four kinds of server socket: what Python's `TCPServer`, `UDPServer`,
//! `UnixStreamServer` and `UnixDatagramServer` differ in (the family, the type, how a
//! request is taken and how it is let go). Sockets are made with `socket2`, so the options
//! Python sets between `socket()` and `bind()` can be set here too.

use crate::AsSource;
use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::time::Duration;
#[cfg(unix)]
use std::{
    os::unix::net::{self as unix, UnixDatagram, UnixListener, UnixStream},
    path::{Path, PathBuf},
};

mod sealed {
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// The options Python's `server_bind()` reads before `bind()` (the server's fields).
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct BindOptions {
    pub allow_reuse_address: bool,
    pub allow_reuse_port: bool,
}

/// A socket a [`Server`](super::Server) can serve on: `TcpListener`, `UdpSocket`, and on Unix
/// `UnixListener` and `UnixDatagram`. Sealed: the server's rules depend on these four.
pub trait ServerSocket: AsSource + Sealed + Sized + Send + Sync + 'static {
    /// The address the server binds to: `SocketAddr`, or a path for Unix sockets. Python's
    /// `server.server_address`.
    type ServerAddress: Clone + fmt::Debug + Send + Sync + 'static;
    /// A client's address, as `accept` or `recvfrom` gives it. Python's `client_address`.
    type ClientAddress: Clone + fmt::Debug + Send + 'static;
    /// What the server hands its handler for one request: the connected stream, or for
    /// datagram sockets the packet and the server's socket. Python's `request`.
    type Request: Send + 'static;

    #[doc(hidden)]
    fn server_bind(address: &Self::ServerAddress, options: BindOptions) -> io::Result<Self>;
    #[doc(hidden)]
    fn server_activate(&self, request_queue_size: i32) -> io::Result<()>;
    #[doc(hidden)]
    fn server_address(&self) -> io::Result<Self::ServerAddress>;
    /// Python's `get_request()`: `accept()`, or `recvfrom(max_packet_size)`.
    #[doc(hidden)]
    fn get_request(
        socket: &Arc<Self>,
        max_packet_size: usize,
    ) -> io::Result<(Self::Request, Self::ClientAddress)>;
    /// Python's `shutdown_request()`: a stream is shut down for writing (the client reads
    /// the end of its reply at once) and closed; a datagram request has nothing to close.
    #[doc(hidden)]
    fn shutdown_request(request: Self::Request);
}

/// A connection-oriented server socket: `TcpListener`, `UnixListener`.
pub trait StreamSocket: ServerSocket<Request = <Self as StreamSocket>::Stream> {
    /// The connection `accept` gives: `TcpStream`, `UnixStream`.
    type Stream: AsSource + Send + Sync + 'static;
    #[doc(hidden)]
    const HAS_NAGLE: bool;
}

/// A datagram server socket: `UdpSocket`, `UnixDatagram`.
pub trait DatagramSocket: ServerSocket<Request = (Vec<u8>, Arc<Self>)> {
    /// Python's `socket.sendto(data, client_address)`.
    fn send_to(&self, data: &[u8], client_address: &Self::ClientAddress) -> io::Result<usize>;
}

/// An address a server of socket type `S` can bind to: what `ToSocketAddrs` takes for IP
/// servers (`("localhost", 9999)`, `"127.0.0.1:0"`), a path for Unix servers.
pub trait ToServerAddress<S: ServerSocket> {
    /// Resolves the address. A name that resolves to several addresses gives the first IPv4
    /// one if there is one (Python's servers are `AF_INET`), else the first.
    fn to_server_address(&self) -> io::Result<S::ServerAddress>;
}

fn resolve(address: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    let addresses: Vec<SocketAddr> = address.to_socket_addrs()?.collect();
    addresses
        .iter()
        .find(|address| address.is_ipv4())
        .or_else(|| addresses.first())
        .copied()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the server address resolves to no address",
            )
        })
}

impl<A: ToSocketAddrs> ToServerAddress<TcpListener> for A {
    fn to_server_address(&self) -> io::Result<SocketAddr> {
        resolve(self)
    }
}

impl<A: ToSocketAddrs> ToServerAddress<UdpSocket> for A {
    fn to_server_address(&self) -> io::Result<SocketAddr> {
        resolve(self)
    }
}

/// Makes and binds a socket, with Python's options set in between.
fn bind(
    domain: Domain,
    kind: Type,
    address: &SockAddr,
    options: BindOptions,
) -> io::Result<Socket> {
    // The socket is closed on every error path by its drop (Python's bind leak, bpo-22435).
    let socket = Socket::new(domain, kind, None)?;
    if options.allow_reuse_address {
        socket.set_reuse_address(true)?;
    }
    if options.allow_reuse_port {
        set_reuse_port(&socket)?;
    }
    socket.bind(address)?;
    Ok(socket)
}

#[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
fn set_reuse_port(_socket: &Socket) -> io::Result<()> {
    // Python skips the option where it does not exist; asking for it and not getting it
    // should not pass unnoticed.
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "allow_reuse_port: this system has no SO_REUSEPORT",
    ))
}

/// A stream that `accept` gave may have inherited the listener's non-blocking mode (BSD,
/// macOS, Windows do that); handlers expect a blocking socket, as in Python.
fn blocking<S: AsSource>(stream: S) -> io::Result<S> {
    if !cfg!(any(target_os = "linux", target_os = "android")) {
        SockRef::from(&stream.as_source()).set_nonblocking(false)?;
    }
    Ok(stream)
}

/// Python's `listen(request_queue_size)`, for a stream server's socket.
fn listen<S: AsSource>(socket: &S, request_queue_size: i32) -> io::Result<()> {
    let source = socket.as_source();
    let socket = SockRef::from(&source);
    socket.listen(request_queue_size)?;
    // Accepting is attempted when the selector says a client waits; a client that gave up
    // in between must not block the server.
    socket.set_nonblocking(true)
}

/// Python's `recvfrom(max_packet_size)`, for a datagram server's socket. The socket stays
/// blocking, as handlers reply on it; only the serving thread receives, and only when the
/// selector reported a datagram, so this does not block.
fn receive<S: DatagramSocket>(
    socket: &Arc<S>,
    max_packet_size: usize,
    recv_from: impl FnOnce(&S, &mut [u8]) -> io::Result<(usize, S::ClientAddress)>,
) -> io::Result<(S::Request, S::ClientAddress)> {
    let mut packet = vec![0; max_packet_size];
    let (len, address) = recv_from(socket, &mut packet)?;
    packet.truncate(len);
    Ok(((packet, Arc::clone(socket)), address))
}

/// Shuts a connection down for writing: the client reads the end of its reply at once, even
/// while something else still holds the connection open.
pub(crate) fn shutdown_stream<S: AsSource>(stream: &S) {
    // Some systems answer ENOTCONN when the client is gone already; Python ignores it too.
    let _ = SockRef::from(&stream.as_source()).shutdown(Shutdown::Write);
}

impl Sealed for TcpListener {}

impl ServerSocket for TcpListener {
    type ServerAddress = SocketAddr;
    type ClientAddress = SocketAddr;
    type Request = TcpStream;

    fn server_bind(address: &SocketAddr, options: BindOptions) -> io::Result<Self> {
        let socket = bind(
            Domain::for_address(*address),
            Type::STREAM,
            &(*address).into(),
            options,
        )?;
        Ok(socket.into())
    }

    fn server_activate(&self, request_queue_size: i32) -> io::Result<()> {
        listen(self, request_queue_size)
    }

    fn server_address(&self) -> io::Result<SocketAddr> {
        self.local_addr()
    }

    fn get_request(socket: &Arc<Self>, _: usize) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, address) = socket.accept()?;
        Ok((blocking(stream)?, address))
    }

    fn shutdown_request(request: TcpStream) {
        shutdown_stream(&request)
    }
}

impl StreamSocket for TcpListener {
    type Stream = TcpStream;
    const HAS_NAGLE: bool = true;
}

impl Sealed for UdpSocket {}

impl ServerSocket for UdpSocket {
    type ServerAddress = SocketAddr;
    type ClientAddress = SocketAddr;
    type Request = (Vec<u8>, Arc<UdpSocket>);

    fn server_bind(address: &SocketAddr, options: BindOptions) -> io::Result<Self> {
        let socket = bind(
            Domain::for_address(*address),
            Type::DGRAM,
            &(*address).into(),
            options,
        )?;
        Ok(socket.into())
    }

    fn server_activate(&self, _: i32) -> io::Result<()> {
        Ok(())
    }

    fn server_address(&self) -> io::Result<SocketAddr> {
        self.local_addr()
    }

    fn get_request(
        socket: &Arc<Self>,
        max_packet_size: usize,
    ) -> io::Result<(Self::Request, SocketAddr)> {
        receive(socket, max_packet_size, UdpSocket::recv_from)
    }

    fn shutdown_request(_: Self::Request) {}
}

impl DatagramSocket for UdpSocket {
    fn send_to(&self, data: &[u8], client_address: &SocketAddr) -> io::Result<usize> {
        UdpSocket::send_to(self, data, client_address)
    }
}

#[cfg(unix)]
impl<P: AsRef<Path>> ToServerAddress<UnixListener> for P {
    fn to_server_address(&self) -> io::Result<PathBuf> {
        Ok(self.as_ref().to_path_buf())
    }
}

#[cfg(unix)]
impl<P: AsRef<Path>> ToServerAddress<UnixDatagram> for P {
    fn to_server_address(&self) -> io::Result<PathBuf> {
        Ok(self.as_ref().to_path_buf())
    }
}

/// The path a Unix socket is bound to (Python's `getsockname()`).
#[cfg(unix)]
fn socket_path(address: unix::SocketAddr) -> io::Result<PathBuf> {
    address.as_pathname().map(Path::to_path_buf).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the Unix socket is not bound to a path",
        )
    })
}

#[cfg(unix)]
impl Sealed for UnixListener {}

#[cfg(unix)]
impl ServerSocket for UnixListener {
    type ServerAddress = PathBuf;
    type ClientAddress = unix::SocketAddr;
    type Request = UnixStream;

    fn server_bind(address: &PathBuf, options: BindOptions) -> io::Result<Self> {
        Ok(bind(
            Domain::UNIX,
            Type::STREAM,
            &SockAddr::unix(address)?,
            options,
        )?
        .into())
    }

    fn server_activate(&self, request_queue_size: i32) -> io::Result<()> {
        listen(self, request_queue_size)
    }

    fn server_address(&self) -> io::Result<PathBuf> {
        socket_path(self.local_addr()?)
    }

    fn get_request(socket: &Arc<Self>, _: usize) -> io::Result<(UnixStream, unix::SocketAddr)> {
        let (stream, address) = socket.accept()?;
        Ok((blocking(stream)?, address))
    }

    fn shutdown_request(request: UnixStream) {
        shutdown_stream(&request)
    }
}

#[cfg(unix)]
impl StreamSocket for UnixListener {
    type Stream = UnixStream;
    const HAS_NAGLE: bool = false;
}

#[cfg(unix)]
impl Sealed for UnixDatagram {}

#[cfg(unix)]
impl ServerSocket for UnixDatagram {
    type ServerAddress = PathBuf;
    type ClientAddress = unix::SocketAddr;
    type Request = (Vec<u8>, Arc<UnixDatagram>);

    fn server_bind(address: &PathBuf, options: BindOptions) -> io::Result<Self> {
        Ok(bind(
            Domain::UNIX,
            Type::DGRAM,
            &SockAddr::unix(address)?,
            options,
        )?
        .into())
    }

    fn server_activate(&self, _: i32) -> io::Result<()> {
        Ok(())
    }

    fn server_address(&self) -> io::Result<PathBuf> {
        socket_path(self.local_addr()?)
    }

    fn get_request(
        socket: &Arc<Self>,
        max_packet_size: usize,
    ) -> io::Result<(Self::Request, unix::SocketAddr)> {
        receive(socket, max_packet_size, UnixDatagram::recv_from)
    }

    fn shutdown_request(_: Self::Request) {}
}

#[cfg(unix)]
impl DatagramSocket for UnixDatagram {
    /// A client that did not bind its socket to a path cannot be answered (Python's
    /// `sendto` fails the same way).
    fn send_to(&self, data: &[u8], client_address: &unix::SocketAddr) -> io::Result<usize> {
        match client_address.as_pathname() {
            Some(path) => UnixDatagram::send_to(self, data, path),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the client's socket is not bound to a path: there is no address to reply to",
            )),
        }
    }
}

/// Sets what Python's `StreamRequestHandler.setup()` sets on a connection.
pub(crate) fn configure_stream<L: StreamSocket>(
    stream: &L::Stream,
    timeout: Option<Duration>,
    disable_nagle_algorithm: bool,
) -> io::Result<()> {
    let source = stream.as_source();
    let socket = SockRef::from(&source);
    match timeout {
        // Python's settimeout(0): non-blocking. (A zero socket timeout would mean "none".)
        Some(Duration::ZERO) => socket.set_nonblocking(true)?,
        Some(_) => {
            socket.set_read_timeout(timeout)?;
            socket.set_write_timeout(timeout)?;
        }
        None => {}
    }
    if disable_nagle_algorithm && L::HAS_NAGLE {
        socket.set_nodelay(true)?;
    }
    Ok(())
}
