//! Python's [`socketserver`](https://docs.python.org/3/library/socketserver.html) module:
//! TCP, UDP and Unix-socket servers that call a request handler for each request, one at a
//! time or on a thread each — built, as Python's is, on a selector.
//!
//! ```no_run
//! use ioselectors::socketserver::{BaseRequest, RequestHandler, TcpServer};
//! use std::io::{self, Read, Write};
//!
//! // class MyTCPHandler(socketserver.BaseRequestHandler):
//! struct MyTcpHandler;
//!
//! impl RequestHandler for MyTcpHandler {
//!     type Request = BaseRequest;
//!     fn handle(&self, req: &mut BaseRequest) -> io::Result<()> {
//!         let mut data = [0; 1024];
//!         let n = req.request.read(&mut data)?; // self.request.recv(1024)
//!         req.request.write_all(&data[..n].to_ascii_uppercase()) // self.request.sendall(...)
//!     }
//! }
//!
//! // with socketserver.TCPServer(("localhost", 9999), MyTCPHandler) as server:
//! let server = TcpServer::new(("localhost", 9999), MyTcpHandler)?;
//! server.serve_forever()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Python → Rust
//!
//! | Python `socketserver` | ioselectors |
//! |---|---|
//! | `TCPServer`, `UDPServer`, `UnixStreamServer`, `UnixDatagramServer` | [`TcpServer<H>`], [`UdpServer<H>`], `UnixStreamServer<H>`, `UnixDatagramServer<H>` (Unix): each a [`Server`] over its socket type |
//! | `ThreadingMixIn` (`ThreadingTCPServer`, …) | [`ThreadingTcpServer<H>`], …: a [`Server`] with the [`ThreadingMixIn`]; `server.mixin.daemon_threads`, `server.mixin.block_on_close` |
//! | `ForkingMixIn` | not offered (see below) |
//! | `class H(BaseRequestHandler)` / `StreamRequestHandler` / `DatagramRequestHandler` | `impl RequestHandler for H` with `type Request =` [`BaseRequest`] / [`StreamRequest`] / [`DatagramRequest`] |
//! | `self.request`, `self.client_address`, `self.server`; `self.rfile`, `self.wfile` | fields of the request the handler's methods get: `req.request`, `req.client_address`, `req.server`; `req.rfile`, `req.wfile` |
//! | `setup`, `handle`, `finish` | the same methods of [`RequestHandler`], given the request |
//! | server methods a program overrides: `verify_request`, `handle_error`, `handle_timeout`, `service_actions` | methods of the handler ([`RequestHandler`]), which is the one type a Rust program writes |
//! | `rbufsize`, `wbufsize`, `timeout`, `disable_nagle_algorithm` (handler attributes) | [`StreamOptions`], from [`RequestHandler::options`] |
//! | `TCPServer(addr, H)`; `bind_and_activate=False` | [`Server::new`]; [`Server::new_unbound`], then the fields, [`Server::server_bind`], [`Server::server_activate`] |
//! | `allow_reuse_address`, `allow_reuse_port`, `request_queue_size`, `timeout`, `max_packet_size` | fields of the same names |
//! | `serve_forever(poll_interval=0.5)` | [`Server::serve_forever`]: no poll interval, no wake-up while idle; [`Server::serve_forever_polling`] if `service_actions` must run periodically |
//! | `shutdown()` | [`Server::shutdown`], or from anywhere through a [`ServerHandle`]; returns as soon as the loop has stopped |
//! | `handle_request()` | [`Server::handle_request`], which honours `timeout` |
//! | `server_close()`, `with server:` | [`Server::server_close`]; dropping the server closes it |
//! | `server.server_address`, `server.socket` | [`Server::server_address`], [`Server::socket`] |
//!
//! # Shutdown without polling
//!
//! Python's `serve_forever` wakes every `poll_interval` (half a second) to see whether
//! `shutdown()` was called, so `shutdown()` takes up to that long and an idle server wakes
//! twice a second. Here the loop waits on its socket and a [`Waker`] in one
//! selector: `shutdown()` wakes it, and returns once the loop has stopped — in the time a
//! wake-up takes — and an idle server does not wake at all.
//!
//! # Errors
//!
//! A handler that returns an error or panics is passed to
//! [`handle_error`](RequestHandler::handle_error) (by default: printed, and the server goes
//! on). When `accept` fails for want of descriptors (`EMFILE`) or memory, the server stops
//! watching its socket for 100 ms instead of retrying at once, which would spin (Python's
//! does). A request refused by `verify_request` is shut down and closed. The server's socket
//! is closed by `server_close` and on drop.
//!
//! # Threads
//!
//! With the [`ThreadingMixIn`] each request runs on a thread of its own, named like
//! Python's (`Thread-N (process_request_thread)`). Rust threads never keep a process alive,
//! so `daemon_threads` only means: not joined by `server_close`. With `block_on_close`
//! (the default), `server_close` waits for the request threads still running; finished ones
//! are let go as new ones start, so a long-running server does not accumulate them.
//!
//! # No forking
//!
//! Python's `ForkingMixIn` is not offered. A Rust program is often multi-threaded (a test
//! harness, a logger, a runtime), and after `fork` a child of a multi-threaded process may
//! only make async-signal-safe calls until it `exec`s: running a handler there (which
//! allocates, locks, prints) can deadlock on a lock another thread held at the fork. Use the
//! [`ThreadingMixIn`], or start a process per request with `std::process::Command`.
//!
//! # Where it runs
//!
//! TCP and UDP servers everywhere (tested on Linux and under Wine); Unix-socket servers on
//! Unix. The selector is [`DefaultSelector`].

mod handler;
mod sockets;

pub use handler::{
    BaseRequest, ClientAddress, DatagramRequest, HandlerError, RawRequest, Request, RequestHandler,
    SocketFile, StreamOptions, StreamRequest,
};
pub use sockets::{DatagramSocket, ServerSocket, StreamSocket, ToServerAddress};

use crate::{DefaultSelector, Waker, EVENT_READ};
use sockets::{BindOptions, Sealed};
use std::fmt;
use std::io;
use std::net::{TcpListener, UdpSocket};
#[cfg(unix)]
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

/// Python's `TCPServer`.
pub type TcpServer<H> = Server<TcpListener, H>;
/// Python's `UDPServer`.
pub type UdpServer<H> = Server<UdpSocket, H>;
/// Python's `UnixStreamServer`. Unix.
#[cfg(unix)]
pub type UnixStreamServer<H> = Server<UnixListener, H>;
/// Python's `UnixDatagramServer`. Unix.
#[cfg(unix)]
pub type UnixDatagramServer<H> = Server<UnixDatagram, H>;
/// Python's `ThreadingTCPServer`: a thread per request.
pub type ThreadingTcpServer<H> = Server<TcpListener, H, ThreadingMixIn>;
/// Python's `ThreadingUDPServer`: a thread per datagram.
pub type ThreadingUdpServer<H> = Server<UdpSocket, H, ThreadingMixIn>;
/// Python's `ThreadingUnixStreamServer`. Unix.
#[cfg(unix)]
pub type ThreadingUnixStreamServer<H> = Server<UnixListener, H, ThreadingMixIn>;
/// Python's `ThreadingUnixDatagramServer`. Unix.
#[cfg(unix)]
pub type ThreadingUnixDatagramServer<H> = Server<UnixDatagram, H, ThreadingMixIn>;

/// How long the server stops watching its socket after `accept` (or `recvfrom`) failed for a
/// reason that a retry at once would meet again (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`).
const ACCEPT_REST: Duration = Duration::from_millis(100);

/// A server: Python's `BaseServer` with `TCPServer`'s socket handling, over socket type `L`
/// (`TcpListener`, `UdpSocket`, `UnixListener`, `UnixDatagram`), with handler `H` and the
/// way requests are processed, `M`: [`Synchronous`] (one at a time, on the serving thread)
/// or [`ThreadingMixIn`]. The type aliases ([`TcpServer`], [`ThreadingUdpServer`], …) name
/// the usual combinations.
///
/// Every method that serves takes `&self`, so one thread can `serve_forever` while another
/// calls [`shutdown`](Self::shutdown) (with `std::thread::scope`), as in Python; a
/// [`ServerHandle`] does the same from anywhere.
///
/// ```
/// use ioselectors::socketserver::{StreamRequest, RequestHandler, TcpServer};
/// use std::io::{self, BufRead, Read, Write};
/// use std::net::TcpStream;
///
/// struct Upper;
/// impl RequestHandler for Upper {
///     type Request = StreamRequest;
///     fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
///         let mut line = Vec::new();
///         req.rfile.read_until(b'\n', &mut line)?;
///         req.wfile.write_all(&line.to_ascii_uppercase())
///     }
/// }
///
/// let server = TcpServer::new("127.0.0.1:0", Upper)?;
/// let address = *server.server_address();
/// std::thread::scope(|scope| {
///     let serving = scope.spawn(|| server.serve_forever());
///     let mut client = TcpStream::connect(address)?;
///     client.write_all(b"hello\n")?;
///     let mut reply = String::new();
///     client.read_to_string(&mut reply)?; // the server shuts the connection down after it
///     assert_eq!(reply, "HELLO\n");
///     server.shutdown(); // returns once serve_forever has returned
///     serving.join().unwrap()
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server<L: ServerSocket, H, M: Finish = Synchronous> {
    handler: Arc<H>,
    socket: Option<Arc<L>>,
    server_address: L::ServerAddress,
    control: Arc<Control>,
    /// Python's `timeout`: how long [`handle_request`](Self::handle_request) waits before it
    /// calls `handle_timeout` (`None`, the default: no limit). `serve_forever` ignores it.
    pub timeout: Option<Duration>,
    /// Python's `request_queue_size`: the `listen` backlog, read by
    /// [`server_activate`](Self::server_activate). Python's default, 5, is kept; a busy
    /// server wants more (the system caps it at `SOMAXCONN`).
    pub request_queue_size: i32,
    /// Python's `allow_reuse_address`: set `SO_REUSEADDR` before binding (default `false`,
    /// as in Python; a TCP server restarted at once may then find its port in use for a
    /// while). Read by [`server_bind`](Self::server_bind).
    pub allow_reuse_address: bool,
    /// Python's `allow_reuse_port`: set `SO_REUSEPORT` before binding (default `false`).
    /// Where the system has no `SO_REUSEPORT` (Windows, illumos), `server_bind` fails with
    /// `Unsupported` instead of ignoring it as Python does.
    pub allow_reuse_port: bool,
    /// Python's `max_packet_size`: the largest datagram a datagram server receives whole
    /// (default 8192). Of a longer one, Unix gives the first `max_packet_size` bytes;
    /// Windows drops it (Winsock fails the receive with `WSAEMSGSIZE`), as Python does on
    /// each. Stream servers ignore it.
    pub max_packet_size: usize,
    /// How requests are processed: `()`-like [`Synchronous`], or the [`ThreadingMixIn`] and
    /// its settings (`server.mixin.daemon_threads = true` is Python's
    /// `server.daemon_threads = True`).
    pub mixin: M,
}

impl<L, H, M> Server<L, H, M>
where
    L: ServerSocket,
    H: RequestHandler,
    H::Request: Request<Socket = L>,
    M: ProcessRequest<H>,
{
    /// Python's `TCPServer(server_address, RequestHandlerClass)`: makes the socket, binds it
    /// to `address` and listens (with the defaults of the fields). The socket is closed if
    /// either step fails.
    ///
    /// `address` is anything `ToSocketAddrs` takes for IP servers — `("localhost", 9999)`,
    /// `"127.0.0.1:0"` (port 0: any free port; [`server_address`](Self::server_address)
    /// tells which) — and a path for Unix servers.
    pub fn new(address: impl ToServerAddress<L>, handler: H) -> io::Result<Self> {
        let mut server = Self::new_unbound(address, handler)?;
        server.server_bind()?;
        server.server_activate()?;
        Ok(server)
    }

    /// Python's `TCPServer(server_address, RequestHandlerClass, bind_and_activate=False)`:
    /// resolves the address only, so the fields can be set before
    /// [`server_bind`](Self::server_bind) and [`server_activate`](Self::server_activate).
    pub fn new_unbound(address: impl ToServerAddress<L>, handler: H) -> io::Result<Self> {
        Ok(Server {
            handler: Arc::new(handler),
            socket: None,
            server_address: address.to_server_address()?,
            control: Arc::new(Control {
                shutdown_request: AtomicBool::new(false),
                serving: Mutex::new(Serving::default()),
                stopped: Condvar::new(),
                waker: Waker::new()?,
            }),
            timeout: None,
            request_queue_size: 5,
            allow_reuse_address: false,
            allow_reuse_port: false,
            max_packet_size: 8192,
            mixin: M::default(),
        })
    }

    /// Python's `server_bind()`: makes the socket (with `allow_reuse_address` and
    /// `allow_reuse_port`) and binds it; [`server_address`](Self::server_address) becomes
    /// the address it got.
    pub fn server_bind(&mut self) -> io::Result<()> {
        let socket = L::server_bind(
            &self.server_address,
            BindOptions {
                allow_reuse_address: self.allow_reuse_address,
                allow_reuse_port: self.allow_reuse_port,
            },
        )?;
        self.server_address = socket.server_address()?;
        self.socket = Some(Arc::new(socket));
        Ok(())
    }

    /// Python's `server_activate()`: `listen(request_queue_size)` for stream servers;
    /// nothing for datagram servers.
    pub fn server_activate(&self) -> io::Result<()> {
        self.bound_socket()?
            .server_activate(self.request_queue_size)
    }

    /// Python's `serve_forever()`: handles requests until [`shutdown`](Self::shutdown) is
    /// called, from another thread or from a handler. It waits in a selector with no
    /// timeout: an idle server does not wake up, and a shutdown ends the wait at once.
    ///
    /// Returns `Ok` after a shutdown; an error if the selector fails, or if
    /// [`handle_error`](RequestHandler::handle_error) returned one.
    pub fn serve_forever(&self) -> io::Result<()> {
        self.serve(None)
    }

    /// `serve_forever()` that also wakes every `poll_interval` to call
    /// [`service_actions`](RequestHandler::service_actions) — Python's `poll_interval`, for
    /// handlers whose `service_actions` has periodic work. Shutdown does not need it.
    pub fn serve_forever_polling(&self, poll_interval: Duration) -> io::Result<()> {
        self.serve(Some(poll_interval))
    }

    /// Python's `handle_request()`: waits for one request, at most [`timeout`](Self::timeout)
    /// (if set), and handles it; calls `handle_timeout` if none came. Failing to take the
    /// request (`accept` failed) returns `Ok` having handled nothing, as in Python.
    pub fn handle_request(&self) -> io::Result<()> {
        let socket = self.bound_socket()?;
        // A handler's shutdown() on this thread must not wait for itself.
        let _running = Running::request(&self.control);
        let mut selector = DefaultSelector::new()?;
        selector.register(&**socket, EVENT_READ, ())?;
        // A positive timeout never returns early from select(): one call is enough.
        if selector.select(self.timeout)?.is_empty() {
            self.handler.handle_timeout();
            return Ok(());
        }
        self.handle_request_noblock(socket).map(|_| ())
    }

    /// Python's `shutdown()`: makes [`serve_forever`](Self::serve_forever) return, and
    /// returns once it has. See [`ServerHandle::shutdown`].
    pub fn shutdown(&self) {
        self.server_handle().shutdown()
    }

    /// A handle that shuts this server down from any thread (cloneable, `Send + Sync`,
    /// `'static`): Python's `self.server` as far as `shutdown()` goes.
    pub fn server_handle(&self) -> ServerHandle {
        ServerHandle {
            control: Arc::clone(&self.control),
        }
    }

    fn serve(&self, poll_interval: Option<Duration>) -> io::Result<()> {
        let socket = self.bound_socket()?;
        // Stopped when dropped: also when a handle_error's panic leaves the loop.
        let _running = Running::serve_forever(&self.control);
        self.serve_loop(socket, poll_interval)
    }

    fn serve_loop(&self, socket: &Arc<L>, poll_interval: Option<Duration>) -> io::Result<()> {
        let mut selector = DefaultSelector::new()?;
        selector.register(&self.control.waker, EVENT_READ, Token::Waker)?;
        selector.register(&**socket, EVENT_READ, Token::Socket)?;
        let mut resting_until = None;
        let mut ready = Vec::new();
        while !self.control.shutdown_requested() {
            let rest =
                resting_until.map(|until: Instant| until.saturating_duration_since(Instant::now()));
            let timeout = match (poll_interval, rest) {
                (Some(poll), Some(rest)) => Some(poll.min(rest)),
                (poll, rest) => poll.or(rest),
            };
            selector.select_into(timeout, &mut ready)?;
            if self.control.shutdown_requested() {
                break;
            }
            if resting_until.is_some_and(|until| Instant::now() >= until) {
                resting_until = None;
                selector.register(&**socket, EVENT_READ, Token::Socket)?;
            }
            for (key, _) in ready.drain(..) {
                match key.data {
                    Token::Waker => self.control.waker.reset()?,
                    Token::Socket => {
                        if let Taken::No(err) = self.handle_request_noblock(socket)? {
                            if is_lasting(&err) {
                                selector.unregister(&**socket)?;
                                resting_until = Some(Instant::now() + ACCEPT_REST);
                            }
                        }
                    }
                }
            }
            self.handler.service_actions();
        }
        Ok(())
    }

    /// Python's `_handle_request_noblock()`: takes one request and has it processed.
    fn handle_request_noblock(&self, socket: &Arc<L>) -> io::Result<Taken> {
        let (request, client_address) = match L::get_request(socket, self.max_packet_size) {
            Ok(taken) => taken,
            Err(err) => return Ok(Taken::No(err)),
        };
        if self.handler.verify_request(&request, &client_address) {
            self.mixin.process_request(
                &self.handler,
                request,
                client_address,
                self.server_handle(),
            )?;
        } else {
            L::shutdown_request(request);
        }
        Ok(Taken::Yes)
    }

    fn bound_socket(&self) -> io::Result<&Arc<L>> {
        self.socket.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                "the server has no socket: it is closed, or server_bind() was not called",
            )
        })
    }
}

impl<L: ServerSocket, H, M: Finish> Server<L, H, M> {
    /// Python's `server_close()`: closes the server's socket, then (with the
    /// [`ThreadingMixIn`] and `block_on_close`) waits for the request threads still running.
    /// A thread blocked in [`shutdown`](Self::shutdown) is released. Idempotent; the drop
    /// calls it.
    pub fn server_close(&mut self) {
        self.socket = None;
        self.control.lock().closed = true;
        self.control.stopped.notify_all();
        self.mixin.server_close();
    }
}

impl<L: ServerSocket, H, M: Finish> Server<L, H, M> {
    /// Python's `server.server_address`: the address given, and once bound the address the
    /// socket got (the port picked for port 0).
    pub fn server_address(&self) -> &L::ServerAddress {
        &self.server_address
    }

    /// Python's `server.socket`: `None` before [`server_bind`](Self::server_bind) and after
    /// [`server_close`](Self::server_close) (where Python's `fileno()` says -1).
    pub fn socket(&self) -> Option<&L> {
        self.socket.as_deref()
    }

    /// Python's `server.RequestHandlerClass`: the handler, and whatever state it keeps.
    pub fn handler(&self) -> &H {
        &self.handler
    }
}

impl<L: ServerSocket, H, M: Finish> Drop for Server<L, H, M> {
    fn drop(&mut self) {
        self.server_close();
    }
}

impl<L: ServerSocket, H, M: Finish + fmt::Debug> fmt::Debug for Server<L, H, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("server_address", &self.server_address)
            .field("open", &self.socket.is_some())
            .field("timeout", &self.timeout)
            .field("mixin", &self.mixin)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
enum Token {
    Socket,
    Waker,
}

/// Whether `get_request` took a request; if not, why.
enum Taken {
    Yes,
    No(io::Error),
}

/// An error of `accept`/`recvfrom` that retrying at once would meet again: out of
/// descriptors or memory. The others (the client gave up in between, a signal, a datagram
/// too long for Winsock) pass with the one request.
fn is_lasting(err: &io::Error) -> bool {
    #[cfg(unix)]
    let lasting = {
        use rustix::io::Errno;
        [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM].map(Errno::raw_os_error)
    };
    #[cfg(windows)]
    let lasting = {
        use windows_sys::Win32::Networking::WinSock::{WSAEMFILE, WSAENOBUFS};
        [WSAEMFILE, WSAENOBUFS]
    };
    err.kind() == io::ErrorKind::OutOfMemory
        || err
            .raw_os_error()
            .is_some_and(|code| lasting.contains(&code))
}

/// The state `shutdown()` and `serve_forever()` share (Python's `__shutdown_request` and
/// `__is_shut_down`), and the waker that ends the loop's wait.
#[derive(Debug)]
struct Control {
    shutdown_request: AtomicBool,
    serving: Mutex<Serving>,
    stopped: Condvar,
    waker: Waker,
}

#[derive(Debug, Default)]
struct Serving {
    /// Python's `__is_shut_down` event: clear while a loop runs. It starts clear, as in
    /// Python, so a `shutdown()` made just before `serve_forever` starts still waits for it.
    is_shut_down: bool,
    /// The thread running `serve_forever` or `handle_request`: a `shutdown()` from it (a
    /// synchronous server's handler) cannot wait for itself.
    thread: Option<ThreadId>,
    /// `server_close()` was called: no loop will run any more.
    closed: bool,
}

/// The current thread runs `serve_forever` (or `handle_request`) until this is dropped.
struct Running<'a> {
    control: &'a Control,
    /// `None` for `serve_forever`; for `handle_request`, the thread to restore.
    request: Option<Option<ThreadId>>,
}

impl<'a> Running<'a> {
    fn serve_forever(control: &'a Control) -> Self {
        let mut serving = control.lock();
        serving.is_shut_down = false;
        serving.thread = Some(thread::current().id());
        Running {
            control,
            request: None,
        }
    }

    fn request(control: &'a Control) -> Self {
        let previous = control.lock().thread.replace(thread::current().id());
        Running {
            control,
            request: Some(previous),
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        match self.request {
            None => self.control.stopped(),
            Some(previous) => self.control.lock().thread = previous,
        }
    }
}

impl Control {
    fn lock(&self) -> MutexGuard<'_, Serving> {
        self.serving.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn shutdown_requested(&self) -> bool {
        self.shutdown_request.load(Ordering::SeqCst)
    }

    /// The loop has stopped: clear the request (as Python's `finally` does), tell waiting
    /// `shutdown()` calls, and leave the waker quiet for the next loop.
    fn stopped(&self) {
        let mut serving = self.lock();
        self.shutdown_request.store(false, Ordering::SeqCst);
        serving.is_shut_down = true;
        serving.thread = None;
        let _ = self.waker.reset();
        drop(serving);
        self.stopped.notify_all();
    }
}

/// Shuts a [`Server`] down from any thread: a cloneable, `Send + Sync`, `'static` handle
/// from [`Server::server_handle`], and the `server` field of every request (Python's
/// `self.server.shutdown()`).
#[derive(Debug, Clone)]
pub struct ServerHandle {
    control: Arc<Control>,
}

impl ServerHandle {
    /// Python's `shutdown()`: makes `serve_forever` return, and returns once it has — at
    /// once, without waiting for a poll interval. Requests running on threads of their own
    /// go on; [`Server::server_close`] waits for them.
    ///
    /// As in Python, a shutdown asked for before `serve_forever` starts makes it return as
    /// soon as it starts (and waits for that). Unlike Python, calling it from the serving
    /// thread (a synchronous server's handler, in `serve_forever` or `handle_request`) does
    /// not deadlock: it returns at once, and the loop stops after the current request (or
    /// the next `serve_forever` returns at once); and a waiting `shutdown()` returns when the
    /// server is closed.
    pub fn shutdown(&self) {
        let control = &self.control;
        control.shutdown_request.store(true, Ordering::SeqCst);
        // A wake-up that fails leaves the request to be seen after the next request; it
        // cannot fail short of a broken waker descriptor.
        let _ = control.waker.wake();
        let mut serving = control.lock();
        if serving.thread == Some(thread::current().id()) {
            return;
        }
        while !serving.is_shut_down && !serving.closed {
            serving = control
                .stopped
                .wait(serving)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// How a server processes a request once taken: [`Synchronous`] or [`ThreadingMixIn`].
/// Sealed.
pub trait ProcessRequest<H: RequestHandler>: Finish + Default {
    #[doc(hidden)]
    fn process_request(
        &self,
        handler: &Arc<H>,
        request: RawRequest<H::Request>,
        client_address: ClientAddress<H::Request>,
        server: ServerHandle,
    ) -> io::Result<()>;
}

/// What a processing mode does at `server_close()`. Sealed.
pub trait Finish: Sealed {
    #[doc(hidden)]
    fn server_close(&mut self);
}

/// Requests are handled one at a time, on the thread that serves (Python's plain
/// `TCPServer`): the default.
#[derive(Debug, Default, Clone, Copy)]
pub struct Synchronous;

impl Sealed for Synchronous {}

impl Finish for Synchronous {
    fn server_close(&mut self) {}
}

impl<H: RequestHandler> ProcessRequest<H> for Synchronous {
    fn process_request(
        &self,
        handler: &Arc<H>,
        request: RawRequest<H::Request>,
        client_address: ClientAddress<H::Request>,
        server: ServerHandle,
    ) -> io::Result<()> {
        process_request_thread(&**handler, request, client_address, server)
    }
}

/// Python's `ThreadingMixIn`: each request on a new thread.
#[derive(Debug)]
pub struct ThreadingMixIn {
    /// Python's `daemon_threads`: request threads are not joined by `server_close`
    /// (default `false`). Rust threads never keep the process alive, daemon or not.
    pub daemon_threads: bool,
    /// Python's `block_on_close`: `server_close` waits for the request threads (default
    /// `true`).
    pub block_on_close: bool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for ThreadingMixIn {
    fn default() -> Self {
        ThreadingMixIn {
            daemon_threads: false,
            block_on_close: true,
            threads: Mutex::new(Vec::new()),
        }
    }
}

impl ThreadingMixIn {
    /// The request threads kept for `server_close` to join: those still running, or
    /// finished since the last request started.
    pub fn threads(&self) -> usize {
        self.threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Sealed for ThreadingMixIn {}

impl Finish for ThreadingMixIn {
    fn server_close(&mut self) {
        let threads = std::mem::take(
            self.threads
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl<H> ProcessRequest<H> for ThreadingMixIn
where
    H: RequestHandler + Send + Sync + 'static,
{
    fn process_request(
        &self,
        handler: &Arc<H>,
        request: RawRequest<H::Request>,
        client_address: ClientAddress<H::Request>,
        server: ServerHandle,
    ) -> io::Result<()> {
        static THREADS: AtomicUsize = AtomicUsize::new(1);
        let name = format!(
            "Thread-{} (process_request_thread)",
            THREADS.fetch_add(1, Ordering::Relaxed)
        );
        let worker = Arc::clone(handler);
        let address = client_address.clone();
        let spawned = thread::Builder::new().name(name).spawn(move || {
            if let Err(err) = process_request_thread(&*worker, request, client_address, server) {
                // handle_error failed, and there is no loop here to end: say it, as Python's
                // threading.excepthook does.
                let name = thread::current().name().unwrap_or_default().to_owned();
                eprintln!("Exception in thread {name}: handle_error: {err}");
            }
        });
        match spawned {
            Ok(thread) => {
                let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
                // Let finished threads go (Python's _Threads.reap), so that a server that runs
                // for long does not keep one handle per request it ever served.
                threads.retain(|thread| !thread.is_finished());
                if self.block_on_close && !self.daemon_threads {
                    threads.push(thread);
                }
                Ok(())
            }
            // The request went with the closure, and is closed.
            Err(err) => handler.handle_error(&address, HandlerError::Failed(err)),
        }
    }
}

/// Python's `process_request_thread`: `finish_request`, `handle_error` for what failed,
/// then `shutdown_request` — in that order, so the client's connection ends only after
/// `handle_error` ran. Returns what `handle_error` returned.
fn process_request_thread<H: RequestHandler>(
    handler: &H,
    request: RawRequest<H::Request>,
    client_address: ClientAddress<H::Request>,
    server: ServerHandle,
) -> io::Result<()> {
    let address = client_address.clone();
    // The request once set up: kept here through a panic, to be shut down last.
    let mut slot = None;
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        finish_request(handler, request, client_address, server, &mut slot)
    }));
    let result = match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => handler.handle_error(&address, HandlerError::Failed(err)),
        Err(payload) => handler.handle_error(&address, HandlerError::Panicked(payload)),
    };
    if let Some(req) = slot {
        req.shutdown_request();
    }
    result
}

/// Python's `finish_request`, that is `BaseRequestHandler.__init__`: `setup()`, then
/// `handle()` and, whatever it did, `finish()`.
fn finish_request<H: RequestHandler>(
    handler: &H,
    request: RawRequest<H::Request>,
    client_address: ClientAddress<H::Request>,
    server: ServerHandle,
    slot: &mut Option<H::Request>,
) -> io::Result<()> {
    let req = slot.insert(H::Request::setup(
        request,
        client_address,
        server,
        handler.options(),
    )?);
    handler.setup(req)?;
    let handled = panic::catch_unwind(AssertUnwindSafe(|| handler.handle(req)));
    // The handler's finish, then its base class's (flushing wfile, sending the reply).
    let finished = handler.finish(req).and(req.finish());
    match handled {
        Ok(handled) => handled.and(finished),
        // finish() ran, as after an exception in Python; the panic goes on to handle_error.
        Err(payload) => panic::resume_unwind(payload),
    }
}
