//! The socketserver module: CPython's `test_socketserver.py` (3.11), case by case where it
//! applies (not the forking cases: this crate offers no `ForkingMixIn`), then what
//! Python's does not promise: shutdown in well under a poll interval, no wake-up while idle,
//! a thousand concurrent clients.
#![cfg(feature = "socketserver")]

mod common;
use common::timed;
use ioselectors::socketserver::*;
use std::io::{self, BufRead, Read, Write};
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::Duration;

const TEST_STR: &[u8] = b"hello world\n";
const HOST: &str = "127.0.0.1:0";
/// Generous: a missing reply fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(10);

/// CPython's `MyHandler` over a stream: reads a line, writes it back.
struct EchoLine<L>(PhantomData<fn() -> L>);

impl<L: StreamSocket> RequestHandler for EchoLine<L> {
    type Request = StreamRequest<L>;
    fn handle(&self, req: &mut StreamRequest<L>) -> io::Result<()> {
        let mut line = Vec::new();
        req.rfile.read_until(b'\n', &mut line)?;
        req.wfile.write_all(&line)
    }
    // CPython's MyServer.handle_error: re-raise, so that a failing request fails the test.
    fn handle_error(
        &self,
        _: &ClientAddress<Self::Request>,
        error: HandlerError,
    ) -> io::Result<()> {
        Err(other(error))
    }
}

/// CPython's `MyHandler` over datagrams.
struct EchoDatagram<L>(PhantomData<fn() -> L>);

impl<L: DatagramSocket> RequestHandler for EchoDatagram<L> {
    type Request = DatagramRequest<L>;
    fn handle(&self, req: &mut DatagramRequest<L>) -> io::Result<()> {
        let mut line = Vec::new();
        req.rfile.read_until(b'\n', &mut line)?;
        req.wfile.write_all(&line)
    }
    fn handle_error(
        &self,
        _: &ClientAddress<Self::Request>,
        error: HandlerError,
    ) -> io::Result<()> {
        Err(other(error))
    }
}

fn other(message: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::Other, message.to_string())
}

fn echo_line<L>() -> EchoLine<L> {
    EchoLine(PhantomData)
}

fn echo_datagram<L>() -> EchoDatagram<L> {
    EchoDatagram(PhantomData)
}

/// CPython's `run_server`: serve on a thread, three clients, shutdown, join, close.
fn run_server<L, H, M>(mut server: Server<L, H, M>, examine: impl Fn(&L::ServerAddress))
where
    L: ServerSocket,
    H: RequestHandler + Send + Sync,
    H::Request: Request<Socket = L>,
    M: ProcessRequest<H> + Send + Sync,
{
    let address = server.server_address().clone();
    thread::scope(|scope| {
        let serving = scope.spawn(|| server.serve_forever());
        for _ in 0..3 {
            examine(&address);
        }
        server.shutdown();
        serving.join().unwrap().unwrap();
    });
    server.server_close();
    assert!(server.socket().is_none(), "server_close closes the socket");
}

fn stream_examine(address: &SocketAddr) {
    let mut client = TcpStream::connect(address).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    client.write_all(TEST_STR).unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, TEST_STR);
}

fn dgram_examine(address: &SocketAddr) {
    let client = UdpSocket::bind(HOST).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    client.send_to(TEST_STR, address).unwrap();
    let mut reply = [0; 100];
    let (n, from) = client.recv_from(&mut reply).unwrap();
    assert_eq!(&reply[..n], TEST_STR);
    assert_eq!(from, *address);
}

#[test]
fn test_tcp_server() {
    let server = TcpServer::new(HOST, echo_line()).unwrap();
    let socket = server.socket().unwrap();
    assert_eq!(*server.server_address(), socket.local_addr().unwrap());
    run_server(server, stream_examine);
}

#[test]
fn test_threading_tcp_server() {
    run_server(
        ThreadingTcpServer::new(HOST, echo_line()).unwrap(),
        stream_examine,
    );
}

#[test]
fn test_udp_server() {
    run_server(
        UdpServer::new(HOST, echo_datagram()).unwrap(),
        dgram_examine,
    );
}

#[test]
fn test_threading_udp_server() {
    run_server(
        ThreadingUdpServer::new(HOST, echo_datagram()).unwrap(),
        dgram_examine,
    );
}

#[cfg(unix)]
mod unix_servers {
    use super::*;
    use std::os::unix::net::{UnixDatagram, UnixStream};
    use std::path::{Path, PathBuf};

    fn stream_examine(path: &PathBuf) {
        let mut client = UnixStream::connect(path).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        client.write_all(TEST_STR).unwrap();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, TEST_STR);
    }

    fn dgram_examine(dir: &Path, path: &Path) {
        // A Unix datagram client must bind to a name to be answered.
        let name = dir.join(format!("client-{}", COUNTER.fetch_add(1, Ordering::SeqCst)));
        let client = UnixDatagram::bind(&name).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        client.send_to(TEST_STR, path).unwrap();
        let mut reply = [0; 100];
        let n = client.recv(&mut reply).unwrap();
        assert_eq!(&reply[..n], TEST_STR);
    }

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn test_unix_stream_server() {
        let dir = tempfile::tempdir().unwrap();
        let server = UnixStreamServer::new(dir.path().join("server"), echo_line()).unwrap();
        assert_eq!(*server.server_address(), dir.path().join("server"));
        run_server(server, stream_examine);
    }

    #[test]
    fn test_threading_unix_stream_server() {
        let dir = tempfile::tempdir().unwrap();
        let server = ThreadingUnixStreamServer::new(dir.path().join("server"), echo_line());
        run_server(server.unwrap(), stream_examine);
    }

    #[test]
    fn test_unix_datagram_server() {
        let dir = tempfile::tempdir().unwrap();
        let server = UnixDatagramServer::new(dir.path().join("server"), echo_datagram());
        run_server(server.unwrap(), |path| dgram_examine(dir.path(), path));
    }

    #[test]
    fn test_threading_unix_datagram_server() {
        let dir = tempfile::tempdir().unwrap();
        let server = ThreadingUnixDatagramServer::new(dir.path().join("server"), echo_datagram());
        run_server(server.unwrap(), |path| dgram_examine(dir.path(), path));
    }

    /// A client that did not bind its socket has no address to reply to: the reply fails,
    /// and the failure goes to handle_error (Python's sendto fails the same way).
    #[test]
    fn unix_datagram_reply_to_an_unnamed_client_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let server =
            UnixDatagramServer::new(dir.path().join("server"), Recorder::default()).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"x", dir.path().join("server")).unwrap();
        server.handle_request().unwrap();
        let errors = server.handler().errors.lock().unwrap();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("not bound to a path"), "{errors:?}");
    }

    #[derive(Default)]
    struct Recorder {
        errors: Mutex<Vec<String>>,
    }

    impl RequestHandler for Recorder {
        type Request = DatagramRequest<UnixDatagram>;
        fn handle(&self, req: &mut DatagramRequest<UnixDatagram>) -> io::Result<()> {
            req.wfile.extend_from_slice(b"reply");
            Ok(())
        }
        fn handle_error(
            &self,
            _: &ClientAddress<Self::Request>,
            error: HandlerError,
        ) -> io::Result<()> {
            self.errors.lock().unwrap().push(error.to_string());
            Ok(())
        }
    }
}

/// Issue #2302: shutdown() always makes the other thread leave serve_forever(), even when
/// it is called before that thread got there.
#[test]
fn test_shutdown() {
    let servers: Vec<_> = (0..20)
        .map(|_| TcpServer::new(HOST, echo_line::<TcpListener>()).unwrap())
        .collect();
    thread::scope(|scope| {
        let threads: Vec<_> = servers
            .iter()
            .map(|server| {
                let serving = scope.spawn(|| server.serve_forever());
                server.shutdown();
                serving
            })
            .collect();
        for serving in threads {
            serving.join().unwrap().unwrap();
        }
    });
}

#[test]
fn test_close_immediately() {
    let mut server = ThreadingTcpServer::new(HOST, echo_line::<TcpListener>()).unwrap();
    server.server_close();
    assert!(server.socket().is_none());
    server.server_close(); // idempotent
}

/// Issue #22435: the socket of a server whose bind() failed is closed. 2,000 failures, more
/// than the usual limit of 1,024 descriptors: a leak would turn AddrInUse into EMFILE.
#[test]
fn test_tcpserver_bind_leak() {
    let taken = TcpServer::new(HOST, echo_line::<TcpListener>()).unwrap();
    let address = *taken.server_address();
    for _ in 0..2000 {
        let err = TcpServer::new(address, echo_line::<TcpListener>()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    }
}

/// `with server:` closes the socket: here, dropping the server does. The port is free again
/// at once (a listener that never accepted leaves no TIME_WAIT behind).
#[test]
fn test_context_manager() {
    let address = {
        let server = TcpServer::new(HOST, echo_line::<TcpListener>()).unwrap();
        *server.server_address()
    };
    TcpServer::new(address, echo_line::<TcpListener>()).expect("the dropped server's port is free");
}

/// CPython's `ErrorHandlerTest`: what a handler raises goes to handle_error, and what
/// handle_error raises leaves handle_request.
mod error_handler {
    use super::*;

    #[derive(Default)]
    struct BadHandler {
        /// "error" returns an error, "panic" panics.
        fail_with: &'static str,
        /// handle_error: "log" records and goes on, "raise" returns the error, "resume"
        /// resumes the panic.
        on_error: &'static str,
        log: Mutex<Vec<String>>,
        done: Mutex<Option<mpsc::Sender<()>>>,
    }

    impl RequestHandler for BadHandler {
        type Request = BaseRequest;
        fn handle(&self, _: &mut BaseRequest) -> io::Result<()> {
            self.log.lock().unwrap().push("Handler called".into());
            match self.fail_with {
                "panic" => panic!("Test error"),
                _ => Err(other("Test error")),
            }
        }
        fn handle_error(&self, _: &SocketAddr, error: HandlerError) -> io::Result<()> {
            let result = match self.on_error {
                "raise" => Err(other(error)),
                "resume" => match error {
                    HandlerError::Panicked(payload) => std::panic::resume_unwind(payload),
                    HandlerError::Failed(err) => Err(err),
                },
                _ => {
                    self.log
                        .lock()
                        .unwrap()
                        .push(format!("Error handled: {error}"));
                    Ok(())
                }
            };
            if let Some(done) = &*self.done.lock().unwrap() {
                done.send(()).unwrap();
            }
            result
        }
    }

    fn one_request<M: ProcessRequest<BadHandler>>(
        server: &Server<TcpListener, BadHandler, M>,
    ) -> io::Result<()> {
        drop(TcpStream::connect(server.server_address()).unwrap());
        server.handle_request()
    }

    fn log(handler: &BadHandler) -> Vec<String> {
        handler.log.lock().unwrap().clone()
    }

    #[test]
    fn test_sync_handled() {
        let handler = BadHandler {
            on_error: "log",
            ..Default::default()
        };
        let server = TcpServer::new(HOST, handler).unwrap();
        one_request(&server).unwrap();
        assert_eq!(
            log(server.handler()),
            ["Handler called", "Error handled: Test error"]
        );
    }

    #[test]
    fn sync_panic_is_handled() {
        let server = TcpServer::new(
            HOST,
            BadHandler {
                fail_with: "panic",
                on_error: "log",
                ..Default::default()
            },
        )
        .unwrap();
        one_request(&server).unwrap();
        assert_eq!(
            log(server.handler()),
            [
                "Handler called",
                "Error handled: the handler panicked: Test error"
            ]
        );
        // And the server goes on serving.
        one_request(&server).unwrap();
        assert_eq!(log(server.handler()).len(), 4);
    }

    /// Python's `test_sync_not_handled`: what handle_error raises leaves handle_request.
    #[test]
    fn test_sync_not_handled() {
        let server = TcpServer::new(
            HOST,
            BadHandler {
                on_error: "raise",
                ..Default::default()
            },
        )
        .unwrap();
        let err = one_request(&server).unwrap_err();
        assert_eq!(err.to_string(), "Test error");
        assert_eq!(log(server.handler()), ["Handler called"]);
    }

    /// A handle_error that resumes the panic (Python's SystemExit, not caught): it leaves
    /// handle_request as a panic.
    #[test]
    fn sync_panic_resumed() {
        let server = TcpServer::new(
            HOST,
            BadHandler {
                fail_with: "panic",
                on_error: "resume",
                ..Default::default()
            },
        )
        .unwrap();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| one_request(&server)));
        let payload = outcome.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"Test error"));
    }

    #[test]
    fn test_threading_handled() {
        let (done, finished) = mpsc::channel();
        let server = ThreadingTcpServer::new(
            HOST,
            BadHandler {
                on_error: "log",
                done: Mutex::new(Some(done)),
                ..Default::default()
            },
        )
        .unwrap();
        one_request(&server).unwrap();
        finished.recv_timeout(PATIENCE).unwrap();
        assert_eq!(
            log(server.handler()),
            ["Handler called", "Error handled: Test error"]
        );
    }

    /// In a threading server, a handle_error that fails has no loop to end: serving goes on.
    #[test]
    fn test_threading_not_handled() {
        let (done, finished) = mpsc::channel();
        let server = ThreadingTcpServer::new(
            HOST,
            BadHandler {
                on_error: "raise",
                done: Mutex::new(Some(done)),
                ..Default::default()
            },
        )
        .unwrap();
        one_request(&server).unwrap();
        finished.recv_timeout(PATIENCE).unwrap();
        assert_eq!(log(server.handler()), ["Handler called"]);
    }
}

/// CPython's `SocketWriterTest.test_basics`: wfile writes to the request's connection.
#[test]
fn socket_writer_basics() {
    struct Handler;
    impl RequestHandler for Handler {
        type Request = StreamRequest;
        fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
            req.wfile.write_all(b"to the client")?;
            assert_eq!(req.wfile.capacity(), 0, "unbuffered by default");
            assert_eq!(req.rfile.capacity(), 8192);
            Ok(())
        }
    }
    let server = TcpServer::new(HOST, Handler).unwrap();
    let mut client = TcpStream::connect(server.server_address()).unwrap();
    server.handle_request().unwrap();
    let mut reply = String::new();
    client.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "to the client");
}

/// CPython's `SocketWriterTest.test_write` without the signals (tests/socketserver_alone.rs
/// has them): a write reaches the client at once, without a flush, and a big one whole.
#[test]
fn socket_writer_write() {
    const BIG: usize = 16 << 20;
    struct Handler;
    impl RequestHandler for Handler {
        type Request = StreamRequest;
        fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
            req.wfile.write_all(b"write data\n")?;
            let mut line = Vec::new();
            req.rfile.read_until(b'\n', &mut line)?; // the client answers only once it got it
            assert_eq!(line, b"client response\n");
            req.wfile.write_all(&vec![0; BIG])
        }
    }
    let server = TcpServer::new(HOST, Handler).unwrap();
    let address = *server.server_address();
    let client = thread::spawn(move || {
        let mut client = TcpStream::connect(address).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut reader = io::BufReader::new(client.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "write data\n");
        client.write_all(b"client response\n").unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        rest.len()
    });
    server.handle_request().unwrap();
    assert_eq!(client.join().unwrap(), BIG);
}

/// Issue #26309: a request refused by verify_request is shut down and closed, unhandled.
#[test]
fn test_shutdown_request_called_if_verify_request_false() {
    #[derive(Default)]
    struct Refuse {
        verified: AtomicUsize,
        handled: AtomicUsize,
    }
    impl RequestHandler for Refuse {
        type Request = StreamRequest;
        fn handle(&self, _: &mut StreamRequest) -> io::Result<()> {
            self.handled.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn verify_request(&self, _: &TcpStream, client_address: &SocketAddr) -> bool {
            assert!(client_address.ip().is_loopback());
            self.verified.fetch_add(1, Ordering::SeqCst);
            false
        }
    }
    let server = TcpServer::new(HOST, Refuse::default()).unwrap();
    let mut client = TcpStream::connect(server.server_address()).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    server.handle_request().unwrap();
    // Shut down and closed: the client reads the end of the stream, not a timeout.
    assert_eq!(client.read(&mut [0; 10]).unwrap(), 0);
    assert_eq!(server.handler().verified.load(Ordering::SeqCst), 1);
    assert_eq!(server.handler().handled.load(Ordering::SeqCst), 0);
}

/// Issue #37193: finished request threads are let go, not kept until server_close.
#[test]
fn test_threads_reaped() {
    let mut server = ThreadingTcpServer::new(HOST, echo_line::<TcpListener>()).unwrap();
    for _ in 0..10 {
        let mut client = TcpStream::connect(server.server_address()).unwrap();
        server.handle_request().unwrap();
        client.write_all(TEST_STR).unwrap();
        client.read_to_end(&mut Vec::new()).unwrap(); // the thread is (about to be) done
    }
    assert!(
        server.mixin.threads() < 10,
        "{} threads kept",
        server.mixin.threads()
    );
    server.server_close();
    assert_eq!(server.mixin.threads(), 0);
}

/// A thread per request, really: two requests are in their handlers at the same time.
#[test]
fn threading_server_runs_requests_side_by_side() {
    struct Meet(std::sync::Barrier);
    impl RequestHandler for Meet {
        type Request = StreamRequest;
        fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
            // Both requests must be here for either to go on.
            self.0.wait();
            req.wfile
                .write_all(thread::current().name().unwrap_or_default().as_bytes())
        }
    }
    let server = ThreadingTcpServer::new(HOST, Meet(std::sync::Barrier::new(2))).unwrap();
    let clients: Vec<_> = (0..2)
        .map(|_| TcpStream::connect(server.server_address()).unwrap())
        .collect();
    server.handle_request().unwrap();
    server.handle_request().unwrap();
    let mut names = Vec::new();
    for mut client in clients {
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut name = String::new();
        client.read_to_string(&mut name).unwrap();
        assert!(
            name.starts_with("Thread-") && name.ends_with(" (process_request_thread)"),
            "{name}"
        );
        names.push(name);
    }
    assert_ne!(names[0], names[1]);
}

/// handle_request waits `timeout`, then calls handle_timeout; serve_forever ignores it.
#[test]
fn handle_request_honours_timeout() {
    #[derive(Default)]
    struct Timeouts(AtomicUsize);
    impl RequestHandler for Timeouts {
        type Request = BaseRequest;
        fn handle(&self, _: &mut BaseRequest) -> io::Result<()> {
            Ok(())
        }
        fn handle_timeout(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let mut server = TcpServer::new(HOST, Timeouts::default()).unwrap();
    server.timeout = Some(Duration::from_millis(100));
    let (elapsed, result) = timed(|| server.handle_request());
    result.unwrap();
    assert_eq!(server.handler().0.load(Ordering::SeqCst), 1);
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    assert!(elapsed < PATIENCE, "{elapsed:?}");
}

/// Shutdown takes the time of a wake-up, not of a poll interval (Python's: up to 0.5 s),
/// whether the server is idle or a threaded request is running.
#[test]
fn shutdown_is_immediate_while_idle_and_while_a_request_runs() {
    /// Tells when a request started, then waits to be released.
    struct Blocked(Mutex<(mpsc::Sender<()>, mpsc::Receiver<()>)>);
    impl RequestHandler for Blocked {
        type Request = StreamRequest;
        fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
            // Read what the client sent: closing with unread data would reset the connection.
            req.rfile.read_exact(&mut [0])?;
            let channels = self.0.lock().unwrap();
            channels.0.send(()).unwrap();
            channels.1.recv_timeout(PATIENCE).unwrap();
            req.wfile.write_all(b"done")
        }
    }
    let (release, blocked) = mpsc::channel();
    let (started, running) = mpsc::channel();
    let handler = Blocked(Mutex::new((started, blocked)));
    let mut server = ThreadingTcpServer::new(HOST, handler).unwrap();
    // Idle: serving, nothing to do.
    thread::scope(|scope| {
        let serving = scope.spawn(|| server.serve_forever());
        // A request served proves the loop runs; then it is idle.
        let mut client = TcpStream::connect(server.server_address()).unwrap();
        client.write_all(b"x").unwrap();
        running.recv_timeout(PATIENCE).unwrap();
        release.send(()).unwrap();
        client.read_to_end(&mut Vec::new()).unwrap();
        let (elapsed, ()) = timed(|| server.shutdown());
        assert!(
            elapsed < Duration::from_millis(250),
            "idle shutdown took {elapsed:?}"
        );
        serving.join().unwrap().unwrap();
    });
    // While a request runs on its thread.
    let mut client = thread::scope(|scope| {
        let serving = scope.spawn(|| server.serve_forever());
        let mut client = TcpStream::connect(server.server_address()).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        client.write_all(b"x").unwrap();
        running.recv_timeout(PATIENCE).unwrap();
        let (elapsed, ()) = timed(|| server.shutdown());
        assert!(
            elapsed < Duration::from_millis(250),
            "busy shutdown took {elapsed:?}"
        );
        serving.join().unwrap().unwrap();
        client
    });
    // The request is still running; server_close waits for it.
    release.send(()).unwrap();
    server.server_close();
    let mut reply = String::new();
    client.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "done");
}

/// Calls `self.server.shutdown()`, then replies.
struct Stop;

impl RequestHandler for Stop {
    type Request = StreamRequest;
    fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
        req.server.shutdown();
        req.wfile.write_all(b"bye")
    }
}

/// Serves one `Stop` request with `serve` (which must return), and checks the reply.
fn stop_from_the_handler(
    serve: impl FnOnce(&TcpServer<Stop>) -> io::Result<()>,
) -> TcpServer<Stop> {
    let server = TcpServer::new(HOST, Stop).unwrap();
    let mut client = TcpStream::connect(server.server_address()).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    serve(&server).unwrap();
    let mut reply = String::new();
    client.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "bye");
    server
}

/// Python deadlocks when a synchronous server's handler calls `self.server.shutdown()`
/// (it waits for the loop it runs in); here the loop stops after that request.
#[test]
fn shutdown_from_a_handler_stops_after_the_request() {
    stop_from_the_handler(TcpServer::serve_forever);
}

/// Regression: a synchronous server's handler that calls shutdown() inside handle_request
/// (not serve_forever) waited for a loop that was not running, forever (Python's does). It
/// returns at once, and the next serve_forever returns at once.
#[test]
fn shutdown_from_a_handler_in_handle_request_does_not_deadlock() {
    let server = stop_from_the_handler(TcpServer::handle_request);
    // The shutdown asked for is pending, as in Python: serve_forever returns at once.
    server.serve_forever().unwrap();
}

/// Regression: a threading server's handle_error ran after the request's connection was
/// closed, so a client that saw the end of its connection could not rely on the error
/// having been handled. As in Python, handle_error runs first, then shutdown_request.
#[test]
fn handle_error_runs_before_the_connection_ends() {
    #[derive(Default)]
    struct Fails(AtomicUsize);
    impl RequestHandler for Fails {
        type Request = StreamRequest;
        fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
            req.rfile.read_line(&mut String::new())?;
            Err(other("failed"))
        }
        fn handle_error(&self, _: &SocketAddr, _: HandlerError) -> io::Result<()> {
            thread::sleep(Duration::from_millis(20)); // a handle_error that takes a while
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
    let server = ThreadingTcpServer::new(HOST, Fails::default()).unwrap();
    for handled in 1..=3 {
        let mut client = TcpStream::connect(server.server_address()).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        client.write_all(b"request\n").unwrap();
        server.handle_request().unwrap();
        assert_eq!(client.read(&mut [0; 10]).unwrap(), 0);
        assert_eq!(server.handler().0.load(Ordering::SeqCst), handled);
    }
}

/// Shutdown from a handle on another thread, with the server itself moved into its thread;
/// a shutdown waiting for a server that gets closed instead is released.
#[test]
fn server_handle_from_another_thread() {
    let server = TcpServer::new(HOST, echo_line::<TcpListener>()).unwrap();
    let handle = server.server_handle();
    let serving = thread::spawn(move || {
        server.serve_forever().unwrap();
        server // dropped by the caller
    });
    handle.shutdown();
    let server = serving.join().unwrap();
    // Not serving any more: a second shutdown waits for the next serve_forever, or for the
    // server to be closed.
    let waiting = thread::spawn({
        let handle = handle.clone();
        move || handle.shutdown()
    });
    drop(server);
    waiting.join().unwrap();
}

/// `serve_forever_polling` calls service_actions at every poll interval (Python's
/// behaviour); `serve_forever` after each request.
#[test]
fn service_actions() {
    #[derive(Default)]
    struct Counting(AtomicUsize);
    impl RequestHandler for Counting {
        type Request = BaseRequest;
        fn handle(&self, _: &mut BaseRequest) -> io::Result<()> {
            Ok(())
        }
        fn service_actions(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let server = TcpServer::new(HOST, Counting::default()).unwrap();
    let count = || server.handler().0.load(Ordering::SeqCst);
    thread::scope(|scope| {
        let serving = scope.spawn(|| server.serve_forever_polling(Duration::from_millis(10)));
        while count() < 3 {
            thread::yield_now();
        }
        server.shutdown();
        serving.join().unwrap().unwrap();
    });
    let before = count();
    thread::scope(|scope| {
        let serving = scope.spawn(|| server.serve_forever());
        for _ in 0..2 {
            let mut client = TcpStream::connect(server.server_address()).unwrap();
            client.read_to_end(&mut Vec::new()).unwrap();
        }
        while count() < before + 2 {
            thread::yield_now();
        }
        server.shutdown();
        serving.join().unwrap().unwrap();
    });
}

/// Python's handler attributes, as StreamOptions: TCP_NODELAY, buffer sizes, the timeout.
#[test]
fn stream_options() {
    struct Options(mpsc::Sender<(bool, usize, usize, io::ErrorKind)>);
    impl RequestHandler for Options {
        type Request = StreamRequest;
        fn options(&self) -> StreamOptions {
            StreamOptions {
                rbufsize: 100,
                wbufsize: 200,
                timeout: Some(Duration::from_millis(50)),
                disable_nagle_algorithm: true,
            }
        }
        fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
            let nodelay = req.connection.nodelay()?;
            // The client sends nothing: the read times out.
            let err = req.rfile.read(&mut [0; 10]).unwrap_err();
            self.0
                .send((
                    nodelay,
                    req.rfile.capacity(),
                    req.wfile.capacity(),
                    err.kind(),
                ))
                .unwrap();
            Ok(())
        }
    }
    let (sender, results) = mpsc::channel();
    let server = TcpServer::new(HOST, Options(sender)).unwrap();
    let _client = TcpStream::connect(server.server_address()).unwrap();
    server.handle_request().unwrap();
    let (nodelay, rbufsize, wbufsize, timed_out) = results.recv().unwrap();
    assert!(nodelay);
    assert_eq!((rbufsize, wbufsize), (100, 200));
    assert!(
        matches!(
            timed_out,
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{timed_out:?}"
    );
}

/// `timeout` zero is Python's `settimeout(0)`: the connection is non-blocking.
#[test]
fn stream_timeout_zero_is_non_blocking() {
    struct NoWait(mpsc::Sender<io::ErrorKind>);
    impl RequestHandler for NoWait {
        type Request = StreamRequest;
        fn options(&self) -> StreamOptions {
            StreamOptions {
                timeout: Some(Duration::ZERO),
                ..StreamOptions::default()
            }
        }
        fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
            let err = req.rfile.read(&mut [0; 10]).unwrap_err();
            self.0.send(err.kind()).unwrap();
            Ok(())
        }
    }
    let (sender, results) = mpsc::channel();
    let server = TcpServer::new(HOST, NoWait(sender)).unwrap();
    let _client = TcpStream::connect(server.server_address()).unwrap();
    server.handle_request().unwrap();
    assert_eq!(results.recv().unwrap(), io::ErrorKind::WouldBlock);
}

/// A datagram handler's reply is sent even when empty, as Python's
/// DatagramRequestHandler.finish does; BaseRequest gets (data, socket).
#[test]
fn datagram_replies() {
    struct Silent;
    impl RequestHandler for Silent {
        type Request = DatagramRequest;
        fn handle(&self, req: &mut DatagramRequest) -> io::Result<()> {
            assert_eq!(req.rfile.get_ref(), b"ping");
            Ok(())
        }
    }
    let server = UdpServer::new(HOST, Silent).unwrap();
    let client = UdpSocket::bind(HOST).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    client.send_to(b"ping", server.server_address()).unwrap();
    server.handle_request().unwrap();
    assert_eq!(client.recv(&mut [0; 10]).unwrap(), 0, "an empty datagram");

    struct Base;
    impl RequestHandler for Base {
        type Request = BaseRequest<UdpSocket>;
        fn handle(&self, req: &mut BaseRequest<UdpSocket>) -> io::Result<()> {
            let (data, socket) = &req.request;
            socket.send_to(&data.to_ascii_uppercase(), req.client_address)?;
            Ok(())
        }
    }
    let mut server = UdpServer::new(HOST, Base).unwrap();
    server.max_packet_size = 4;
    client
        .send_to(b"abcdefgh", server.server_address())
        .unwrap();
    client.send_to(b"xy", server.server_address()).unwrap();
    server.handle_request().unwrap();
    server.handle_request().unwrap();
    let mut reply = [0; 10];
    let mut replies = Vec::new();
    for _ in 0..if cfg!(windows) { 1 } else { 2 } {
        let n = client.recv(&mut reply).unwrap();
        replies.push(reply[..n].to_vec());
    }
    if cfg!(windows) {
        // Winsock fails the receive of a datagram longer than the buffer: it is dropped.
        assert_eq!(replies, [b"XY"]);
    } else {
        assert_eq!(
            replies,
            [&b"ABCD"[..], b"XY"],
            "max_packet_size cuts the datagram"
        );
    }
}

/// bind_and_activate=False: the fields are read by server_bind and server_activate.
#[test]
fn unbound_server_then_bind_and_activate() {
    let mut server = TcpServer::new_unbound(("localhost", 0), echo_line::<TcpListener>()).unwrap();
    assert!(server.socket().is_none());
    assert!(
        server.server_address().is_ipv4(),
        "IPv4 first, as Python's AF_INET"
    );
    let err = server.handle_request().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected);
    server.allow_reuse_address = true;
    server.request_queue_size = 64;
    server.server_bind().unwrap();
    assert_ne!(server.server_address().port(), 0);
    server.server_activate().unwrap();
    let socket = socket2::SockRef::from(server.socket().unwrap());
    assert!(socket.reuse_address().unwrap());
    run_server(server, stream_examine);
}

/// allow_reuse_port: two servers on one port (Linux hands each connection to one of them).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn allow_reuse_port() {
    let reusing = |address: SocketAddr| {
        let mut server = TcpServer::new_unbound(address, echo_line::<TcpListener>()).unwrap();
        server.allow_reuse_port = true;
        server.server_bind().unwrap();
        server.server_activate().unwrap();
        server
    };
    let first = reusing(HOST.parse().unwrap());
    let address = *first.server_address();
    let second = reusing(address);
    assert_eq!(second.server_address(), first.server_address());
    let err = TcpServer::new(address, echo_line::<TcpListener>()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
}

/// A thousand clients at once on a threading server, each with its own reply, checked
/// byte for byte.
#[test]
fn thousand_concurrent_clients() {
    const CLIENTS: usize = 1000;
    #[cfg(unix)]
    {
        // Each connection is two descriptors in this process (client and server side).
        let limit = common::raise_nofile_limit(4 * CLIENTS as libc::rlim_t);
        assert!(
            limit >= (2 * CLIENTS + 64) as libc::rlim_t,
            "RLIMIT_NOFILE {limit}"
        );
    }
    struct Upper;
    impl RequestHandler for Upper {
        type Request = StreamRequest;
        fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
            let mut line = Vec::new();
            req.rfile.read_until(b'\n', &mut line)?;
            req.wfile.write_all(&line.to_ascii_uppercase())
        }
    }
    let mut server = ThreadingTcpServer::new_unbound(HOST, Upper).unwrap();
    server.request_queue_size = CLIENTS as i32;
    server.server_bind().unwrap();
    server.server_activate().unwrap();
    let address = *server.server_address();
    thread::scope(|scope| {
        let serving = scope.spawn(|| server.serve_forever());
        // All connected, then all sending: a thousand requests are in their handlers at once.
        let mut clients: Vec<TcpStream> = (0..CLIENTS)
            .map(|_| TcpStream::connect(address).unwrap())
            .collect();
        for (i, client) in clients.iter_mut().enumerate() {
            client.set_read_timeout(Some(PATIENCE)).unwrap();
            client
                .write_all(format!("client {i} says hello\n").as_bytes())
                .unwrap();
        }
        for (i, client) in clients.iter_mut().enumerate() {
            let mut reply = Vec::new();
            client.read_to_end(&mut reply).unwrap();
            assert_eq!(reply, format!("CLIENT {i} SAYS HELLO\n").as_bytes());
        }
        server.shutdown();
        serving.join().unwrap().unwrap();
    });
}

/// An idle server does not wake up: its thread sleeps in the selector, with no poll
/// interval (Python's wakes twice a second). Counted as the serving thread's voluntary
/// context switches; `serve_forever_polling` is the control, showing the count moves.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn no_wake_up_while_idle() {
    /// The thread's voluntary context switches, and whether it sleeps now.
    fn switches(tid: libc::pid_t) -> (u64, bool) {
        let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .unwrap()
                .trim()
                .to_owned()
        };
        let switches = field("voluntary_ctxt_switches:").parse().unwrap();
        (switches, field("State:").starts_with('S'))
    }
    /// Serves (by `serve`), proves the loop runs with one request, waits until the serving
    /// thread sleeps, then counts its wake-ups over `window`.
    fn idle_wake_ups(
        serve: impl Fn(&TcpServer<EchoLine<TcpListener>>) -> io::Result<()> + Sync,
    ) -> u64 {
        const WINDOW: Duration = Duration::from_millis(500);
        let server = TcpServer::new(HOST, echo_line()).unwrap();
        let (tid_sender, tid) = mpsc::channel();
        thread::scope(|scope| {
            let (server, serve) = (&server, &serve);
            let serving = scope.spawn(move || {
                // SAFETY: gettid has no preconditions.
                tid_sender.send(unsafe { libc::gettid() }).unwrap();
                serve(server)
            });
            let tid = tid.recv().unwrap();
            stream_examine(server.server_address());
            while !switches(tid).1 {
                thread::yield_now();
            }
            let before = switches(tid).0;
            thread::sleep(WINDOW); // the idle time being measured
            let after = switches(tid).0;
            server.shutdown();
            serving.join().unwrap().unwrap();
            after - before
        })
    }
    assert_eq!(idle_wake_ups(|server| server.serve_forever()), 0);
    let polling = idle_wake_ups(|server| server.serve_forever_polling(Duration::from_millis(10)));
    assert!(
        polling >= 10,
        "the control: {polling} wake-ups while polling every 10 ms"
    );
}
