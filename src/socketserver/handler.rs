//! Request handlers: Python's `BaseRequestHandler`, `StreamRequestHandler` and
//! `DatagramRequestHandler`. A handler is one type the server shares between requests; what
//! a Python handler keeps on `self` for one request is in the request value its methods get.

use super::sockets::{DatagramSocket, Sealed, ServerSocket, StreamSocket};
use super::ServerHandle;
use crate::AsSource;
use socket2::SockRef;
use std::any::Any;
use std::fmt;
use std::io::{self, BufReader, BufWriter, Cursor, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

/// The client address type of a request kind (`SocketAddr` for IP servers).
pub type ClientAddress<R> = <<R as Request>::Socket as ServerSocket>::ClientAddress;
/// What a server of request kind `R` takes from its socket for one request (Python's
/// `request`): a stream, or a datagram and the server's socket.
pub type RawRequest<R> = <<R as Request>::Socket as ServerSocket>::Request;

/// What one request looks like to a handler: [`BaseRequest`], [`StreamRequest`] or
/// [`DatagramRequest`], the way a Python handler class derives from one of
/// `BaseRequestHandler`, `StreamRequestHandler` or `DatagramRequestHandler`. Sealed.
pub trait Request: Sealed + Sized {
    /// The kind of server socket this request comes from.
    type Socket: ServerSocket;
    /// The handler's settings for this kind of request: [`StreamOptions`] for streams,
    /// nothing for the others.
    type Options: Default;
    #[doc(hidden)]
    fn setup(
        request: RawRequest<Self>,
        client_address: ClientAddress<Self>,
        server: ServerHandle,
        options: Self::Options,
    ) -> io::Result<Self>;
    /// What the Python base class's `finish()` does.
    #[doc(hidden)]
    fn finish(&mut self) -> io::Result<()>;
    /// The server's `shutdown_request()`.
    #[doc(hidden)]
    fn shutdown_request(self);
}

/// A request handler: Python's `BaseRequestHandler` subclass, one per server.
///
/// Pick the kind of request with [`Request`](RequestHandler::Request) — Python's choice of
/// base class — and write [`handle`](Self::handle). The server calls [`setup`](Self::setup),
/// then `handle`, then [`finish`](Self::finish) (also when `handle` failed, as Python's
/// `finally` does), for each request.
///
/// The last four methods are, in Python, methods of the *server* class that a program
/// overrides; here the handler, the one type you write, carries them.
///
/// ```no_run
/// use ioselectors::socketserver::{RequestHandler, StreamRequest, TcpServer};
/// use std::io::{self, BufRead, Write};
///
/// // class EchoLine(socketserver.StreamRequestHandler):
/// struct EchoLine;
///
/// impl RequestHandler for EchoLine {
///     type Request = StreamRequest;
///     // def handle(self):
///     fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
///         let mut line = Vec::new();
///         req.rfile.read_until(b'\n', &mut line)?; // line = self.rfile.readline()
///         req.wfile.write_all(&line) // self.wfile.write(line)
///     }
/// }
///
/// // with socketserver.TCPServer(("localhost", 9999), EchoLine) as server:
/// let server = TcpServer::new(("localhost", 9999), EchoLine)?;
/// server.serve_forever()?; // server.serve_forever()
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait RequestHandler {
    /// The kind of request this handler takes: [`BaseRequest`] (Python's
    /// `BaseRequestHandler`), [`StreamRequest`] (`StreamRequestHandler`) or
    /// [`DatagramRequest`] (`DatagramRequestHandler`).
    type Request: Request;

    /// The class attributes of Python's handler classes: for a [`StreamRequest`],
    /// `rbufsize`, `wbufsize`, `timeout` and `disable_nagle_algorithm`
    /// ([`StreamOptions`]). Asked once per request.
    fn options(&self) -> <Self::Request as Request>::Options {
        Default::default()
    }

    /// Python's `setup()`: called before `handle`. The request kind's own setup (the
    /// buffered `rfile` and `wfile` of a stream request) is done already, as if the override
    /// called `super().setup()` first. An error skips `handle` and `finish`.
    fn setup(&self, request: &mut Self::Request) -> io::Result<()> {
        let _ = request;
        Ok(())
    }

    /// Python's `handle()`: serves one request. An error or a panic goes to
    /// [`handle_error`](Self::handle_error).
    fn handle(&self, request: &mut Self::Request) -> io::Result<()>;

    /// Python's `finish()`: called after `handle`, whether it succeeded or not. The request
    /// kind's own finish (flushing `wfile`; sending a datagram reply) comes after it, as if
    /// the override called `super().finish()` last.
    fn finish(&self, request: &mut Self::Request) -> io::Result<()> {
        let _ = request;
        Ok(())
    }

    /// Python's `server.verify_request(request, client_address)`: `false` refuses the
    /// request; it is closed (shut down for writing, then closed) without being handled.
    fn verify_request(
        &self,
        request: &RawRequest<Self::Request>,
        client_address: &ClientAddress<Self::Request>,
    ) -> bool {
        let _ = (request, client_address);
        true
    }

    /// Python's `server.handle_error(request, client_address)`: a request's `setup`,
    /// `handle` or `finish` failed or panicked. The default prints the error to standard
    /// error, between dashed lines as Python does, and the server goes on.
    ///
    /// An error returned here ends `serve_forever` / `handle_request` with it (a Python
    /// `handle_error` that raises); in a threading server, where the request ran on a thread
    /// of its own, it is printed instead. [`HandlerError::Panicked`] carries the panic, which
    /// [`std::panic::resume_unwind`] can continue.
    fn handle_error(
        &self,
        client_address: &ClientAddress<Self::Request>,
        error: HandlerError,
    ) -> io::Result<()> {
        let dashes = "-".repeat(40);
        eprintln!(
            "{dashes}\nException occurred during processing of request from {client_address:?}\n{error}\n{dashes}"
        );
        Ok(())
    }

    /// Python's `server.handle_timeout()`: [`handle_request`](super::Server::handle_request)
    /// waited [`timeout`](super::Server::timeout) and no request came.
    fn handle_timeout(&self) {}

    /// Python's `server.service_actions()`: called in the `serve_forever` loop after each
    /// round of requests (and, with `serve_forever_polling`, every poll interval).
    fn service_actions(&self) {}
}

/// Why a request failed: what [`RequestHandler::handle_error`] gets (Python gives the
/// exception through `sys.exc_info()`).
#[derive(Debug)]
pub enum HandlerError {
    /// `setup`, `handle` or `finish` returned an error, or the request could not start
    /// (its thread could not be spawned).
    Failed(io::Error),
    /// The handler panicked; the payload is the panic's, as `catch_unwind` gives it.
    Panicked(Box<dyn Any + Send + 'static>),
}

impl HandlerError {
    /// The message of a panic raised with a string (`panic!("...")`), if that is what it was.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            HandlerError::Panicked(payload) => payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str)),
            HandlerError::Failed(_) => None,
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Failed(err) => write!(f, "{err}"),
            HandlerError::Panicked(_) => match self.panic_message() {
                Some(message) => write!(f, "the handler panicked: {message}"),
                None => f.write_str("the handler panicked"),
            },
        }
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandlerError::Failed(err) => Some(err),
            HandlerError::Panicked(_) => None,
        }
    }
}

/// A request as Python's `BaseRequestHandler` sees it: `self.request`,
/// `self.client_address`, `self.server`.
///
/// `L` is the server's socket: for `TcpListener` (the default) `request` is the `TcpStream`;
/// for `UdpSocket` it is the datagram and the server's socket, `(data, socket)` as in
/// Python.
#[derive(Debug)]
pub struct BaseRequest<L: ServerSocket = TcpListener> {
    /// Python's `self.request`.
    pub request: L::Request,
    /// Python's `self.client_address`.
    pub client_address: L::ClientAddress,
    /// Python's `self.server`, for what a handler does with it: `shutdown()`.
    pub server: ServerHandle,
}

impl<L: ServerSocket> Sealed for BaseRequest<L> {}

impl<L: ServerSocket> Request for BaseRequest<L> {
    type Socket = L;
    type Options = ();

    fn setup(
        request: L::Request,
        client_address: L::ClientAddress,
        server: ServerHandle,
        (): (),
    ) -> io::Result<Self> {
        Ok(BaseRequest {
            request,
            client_address,
            server,
        })
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn shutdown_request(self) {
        L::shutdown_request(self.request)
    }
}

/// The settings of Python's `StreamRequestHandler` class attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// `rbufsize`: the capacity of `rfile`'s buffer (Python's default, -1, is 8 KiB, as is
    /// this one). 0 reads straight from the socket.
    pub rbufsize: usize,
    /// `wbufsize`: the capacity of `wfile`'s buffer. 0, the default, sends each write at
    /// once, as Python's unbuffered `wfile` does.
    pub wbufsize: usize,
    /// `timeout`: the connection's read and write timeout (`None`: block; zero: non-blocking,
    /// as Python's `settimeout(0)`).
    pub timeout: Option<Duration>,
    /// `disable_nagle_algorithm`: sets `TCP_NODELAY` (TCP only; Unix sockets have no Nagle
    /// algorithm, and the setting does nothing there).
    pub disable_nagle_algorithm: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            rbufsize: 8192,
            wbufsize: 0,
            timeout: None,
            disable_nagle_algorithm: false,
        }
    }
}

/// One side of a connection as a file: what Python's `socket.makefile()` gives, reading and
/// writing the shared connection.
pub struct SocketFile<L: StreamSocket> {
    connection: Arc<L::Stream>,
}

impl<L: StreamSocket> Read for SocketFile<L> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let source = self.connection.as_source();
        (&*SockRef::from(&source)).read(buf)
    }
}

impl<L: StreamSocket> Write for SocketFile<L> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let source = self.connection.as_source();
        (&*SockRef::from(&source)).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<L: StreamSocket> fmt::Debug for SocketFile<L>
where
    L::Stream: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SocketFile").field(&self.connection).finish()
    }
}

/// A request as Python's `StreamRequestHandler` sees it: `self.rfile` (buffered reader),
/// `self.wfile` (writer, unbuffered by default), `self.connection`, `self.client_address`,
/// `self.server`.
///
/// Write with `write_all` (Python's `wfile.write` sends everything). After the handler's
/// `finish`, `wfile` is flushed (an error is ignored, as in Python: the client may be gone)
/// and the connection is shut down for writing and closed.
pub struct StreamRequest<L: StreamSocket = TcpListener> {
    /// Python's `self.rfile`.
    pub rfile: BufReader<SocketFile<L>>,
    /// Python's `self.wfile`: with `wbufsize` 0 every write goes to the socket at once.
    pub wfile: BufWriter<SocketFile<L>>,
    /// Python's `self.connection` (and `self.request`).
    pub connection: Arc<L::Stream>,
    /// Python's `self.client_address`.
    pub client_address: L::ClientAddress,
    /// Python's `self.server`.
    pub server: ServerHandle,
}

impl<L: StreamSocket> fmt::Debug for StreamRequest<L>
where
    L::Stream: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRequest")
            .field("connection", &self.connection)
            .field("client_address", &self.client_address)
            .finish_non_exhaustive()
    }
}

impl<L: StreamSocket> Sealed for StreamRequest<L> {}

impl<L: StreamSocket> Request for StreamRequest<L> {
    type Socket = L;
    type Options = StreamOptions;

    fn setup(
        connection: L::Stream,
        client_address: L::ClientAddress,
        server: ServerHandle,
        options: StreamOptions,
    ) -> io::Result<Self> {
        super::sockets::configure_stream::<L>(
            &connection,
            options.timeout,
            options.disable_nagle_algorithm,
        )?;
        let connection = Arc::new(connection);
        let file = || SocketFile::<L> {
            connection: Arc::clone(&connection),
        };
        Ok(StreamRequest {
            rfile: BufReader::with_capacity(options.rbufsize, file()),
            wfile: BufWriter::with_capacity(options.wbufsize, file()),
            connection,
            client_address,
            server,
        })
    }

    fn finish(&mut self) -> io::Result<()> {
        let _ = self.wfile.flush();
        Ok(())
    }

    fn shutdown_request(self) {
        let StreamRequest {
            rfile,
            wfile,
            connection,
            ..
        } = self;
        drop((rfile, wfile));
        match Arc::try_unwrap(connection) {
            Ok(connection) => L::shutdown_request(connection),
            // The handler kept a clone of the connection: it stays open for it, as a Python
            // handler that kept `self.connection` keeps the socket object (but the client
            // is told the reply is complete).
            Err(shared) => super::sockets::shutdown_stream(&*shared),
        }
    }
}

/// A request as Python's `DatagramRequestHandler` sees it: `self.rfile` reads the
/// datagram, `self.wfile` collects the reply, which is sent to the client after `finish`
/// (always, even when empty, as Python does). `self.packet` is `rfile.get_ref()`.
#[derive(Debug)]
pub struct DatagramRequest<L: DatagramSocket = UdpSocket> {
    /// Python's `self.rfile`, over the datagram.
    pub rfile: Cursor<Vec<u8>>,
    /// Python's `self.wfile`: the reply.
    pub wfile: Vec<u8>,
    /// Python's `self.socket`: the server's socket.
    pub socket: Arc<L>,
    /// Python's `self.client_address`.
    pub client_address: L::ClientAddress,
    /// Python's `self.server`.
    pub server: ServerHandle,
}

impl<L: DatagramSocket> Sealed for DatagramRequest<L> {}

impl<L: DatagramSocket> Request for DatagramRequest<L> {
    type Socket = L;
    type Options = ();

    fn setup(
        (packet, socket): (Vec<u8>, Arc<L>),
        client_address: L::ClientAddress,
        server: ServerHandle,
        (): (),
    ) -> io::Result<Self> {
        Ok(DatagramRequest {
            rfile: Cursor::new(packet),
            wfile: Vec::new(),
            socket,
            client_address,
            server,
        })
    }

    fn finish(&mut self) -> io::Result<()> {
        self.socket.send_to(&self.wfile, &self.client_address)?;
        Ok(())
    }

    fn shutdown_request(self) {}
}
