//! The socketserver's `Server` against a model of Python's contract: clients that connect
//! while it serves or wait in the backlog while it does not, `serve_forever` started and
//! stopped by `shutdown` (from the test's thread, or from a handler), `handle_request` with a
//! timeout, requests refused by `verify_request`, handlers that fail or panic, and
//! `server_close` — for the synchronous and the threading server. Every client's reply (or
//! end of stream, for a refused or failed request) and every count of `handle_error` and
//! `handle_timeout` is checked, and no call may hang.

use crate::runner::{fuzz, hit, Rng};
use ioselectors::socketserver::*;
use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

/// Longer than any call may take: a call that takes this long is hung.
const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
pub(crate) enum Request {
    /// A line, echoed.
    Echo,
    /// The handler returns an error: handle_error, no reply.
    Fail,
    /// The handler panics: handle_error, no reply.
    Panic,
    /// The handler calls `self.server.shutdown()`, then replies.
    Shutdown,
}

#[derive(Clone, Debug)]
pub(crate) enum ServerOp {
    /// A client connects and sends its request.
    Connect(Request),
    /// `serve_forever` on a thread of its own.
    Serve,
    /// `shutdown()` from the test's thread.
    Shutdown,
    /// `handle_request()` with a zero timeout (only while not serving: Python's too would
    /// race the loop for the client).
    HandleRequest,
    /// verify_request refuses from now on, or accepts again.
    Refuse(bool),
    /// shutdown if serving, then `server_close()`.
    Close,
}

pub(crate) fn generate_server_op(rng: &mut Rng) -> ServerOp {
    match rng.percent() {
        0..=39 => ServerOp::Connect(match rng.percent() {
            0..=69 => Request::Echo,
            70..=79 => Request::Fail,
            80..=89 => Request::Panic,
            _ => Request::Shutdown,
        }),
        40..=59 => ServerOp::Serve,
        60..=74 => ServerOp::Shutdown,
        75..=89 => ServerOp::HandleRequest,
        90..=98 => ServerOp::Refuse(rng.percent() < 50),
        _ => ServerOp::Close,
    }
}

#[derive(Default)]
struct Handler {
    refuse: AtomicBool,
    errors: AtomicUsize,
    timeouts: AtomicUsize,
}

impl RequestHandler for Handler {
    type Request = StreamRequest;
    fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
        let mut line = String::new();
        req.rfile.read_line(&mut line)?;
        match line.trim_end() {
            "fail" => Err(io::Error::new(io::ErrorKind::Other, "asked to fail")),
            "panic" => panic!("asked to panic"),
            "shutdown" => {
                req.server.shutdown();
                req.wfile.write_all(b"bye\n")
            }
            _ => req.wfile.write_all(line.as_bytes()),
        }
    }
    fn verify_request(&self, _: &TcpStream, _: &SocketAddr) -> bool {
        !self.refuse.load(Ordering::SeqCst)
    }
    fn handle_error(&self, _: &SocketAddr, _: HandlerError) -> io::Result<()> {
        self.errors.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn handle_timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::SeqCst);
    }
}

/// A client waiting for its request to be served.
struct Client {
    stream: TcpStream,
    request: Request,
    /// The line it sent (an echo comes back as it).
    line: String,
}

/// What the test knows of one running `serve_forever`.
type Serving = mpsc::Receiver<io::Result<()>>;

fn run<M>(ops: &[ServerOp]) -> Result<(), String>
where
    M: ProcessRequest<Handler> + Send + Sync + 'static,
{
    let threading = std::any::type_name::<M>().ends_with("ThreadingMixIn");
    let mut server =
        Server::<TcpListener, Handler, M>::new_unbound("127.0.0.1:0", Handler::default())
            .map_err(|e| e.to_string())?;
    server.timeout = Some(Duration::ZERO);
    // Room for every client a sequence can leave waiting (Python's 5 would make connect
    // block).
    server.request_queue_size = 128;
    server.server_bind().map_err(|e| e.to_string())?;
    server.server_activate().map_err(|e| e.to_string())?;
    let mut server = Arc::new(server);
    let address = *server.server_address();
    let mut serving: Option<Serving> = None;
    let mut backlog: Vec<Client> = Vec::new();
    let (mut errors, mut timeouts, mut refuse, mut closed) = (0, 0, false, false);
    // A handler's shutdown() outside serve_forever: the next serve_forever returns at once.
    let mut pending_shutdown = false;
    let mut sent = 0;

    // The reply a served client gets, and what the model counts for it.
    let expect = |client: &Client, refuse: bool, errors: &mut usize| -> (Vec<u8>, bool) {
        match client.request {
            _ if refuse => (Vec::new(), false),
            Request::Echo => (client.line.clone().into_bytes(), false),
            Request::Fail | Request::Panic => {
                *errors += 1;
                (Vec::new(), false)
            }
            Request::Shutdown => (b"bye\n".to_vec(), true),
        }
    };
    let read_reply = |client: &mut Client| -> Result<Vec<u8>, String> {
        let mut reply = Vec::new();
        match client.stream.read_to_end(&mut reply) {
            Ok(_) => Ok(reply),
            // A refused or failed request may be reset rather than shut down when its line
            // was not read: no reply either way.
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => Ok(reply),
            Err(err) => Err(format!("reading the reply: {err}")),
        }
    };
    let stopped = |serving: Serving| -> Result<(), String> {
        match serving.recv_timeout(PATIENCE) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(format!("serve_forever failed: {err}")),
            Err(_) => Err("serve_forever did not return".into()),
        }
    };

    for op in ops {
        match *op {
            ServerOp::Connect(request) => {
                // On a threading server, a shutdown from a request that is not served at once
                // races the loop for the clients behind it: Python's too.
                if closed
                    || (threading && serving.is_none() && matches!(request, Request::Shutdown))
                {
                    continue;
                }
                sent += 1;
                let line = match request {
                    Request::Echo => format!("line {sent}\n"),
                    Request::Fail => "fail\n".into(),
                    Request::Panic => "panic\n".into(),
                    Request::Shutdown => "shutdown\n".into(),
                };
                let mut stream = TcpStream::connect_timeout(&address, PATIENCE)
                    .map_err(|e| format!("connect: {e}"))?;
                stream.set_read_timeout(Some(PATIENCE)).unwrap();
                stream.write_all(line.as_bytes()).unwrap();
                let mut client = Client {
                    stream,
                    request,
                    line,
                };
                if serving.is_none() {
                    hit("client waits in the backlog");
                    backlog.push(client);
                    continue;
                }
                let (expected, stops) = expect(&client, refuse, &mut errors);
                ensure!(
                    read_reply(&mut client)? == expected,
                    "{request:?}: wrong reply"
                );
                if stops {
                    hit("shutdown from a handler");
                    stopped(serving.take().unwrap())?;
                }
            }
            ServerOp::Serve => {
                if serving.is_some() {
                    continue;
                }
                let (done, result) = mpsc::channel();
                let running = Arc::clone(&server);
                thread::spawn(move || {
                    let result = running.serve_forever();
                    drop(running); // before telling: server_close needs the server alone
                    done.send(result)
                });
                if closed {
                    hit("serve_forever after server_close");
                    match result.recv_timeout(PATIENCE) {
                        Ok(Err(err)) if err.kind() == io::ErrorKind::NotConnected => continue,
                        other => {
                            return Err(format!("serve_forever on a closed server: {other:?}"))
                        }
                    }
                }
                if std::mem::take(&mut pending_shutdown) {
                    hit("serve_forever after a shutdown from handle_request");
                    stopped(result)?;
                    continue;
                }
                serving = Some(result);
                // The waiting clients are served, in order: a synchronous server one at a
                // time, so one that stops the loop leaves the rest waiting.
                while !backlog.is_empty() && serving.is_some() {
                    let mut client = backlog.remove(0);
                    let (expected, stops) = expect(&client, refuse, &mut errors);
                    ensure!(
                        read_reply(&mut client)? == expected,
                        "{:?} from the backlog: wrong reply",
                        client.request
                    );
                    if stops {
                        hit("shutdown from a handler, backlog");
                        stopped(serving.take().unwrap())?;
                    }
                }
            }
            ServerOp::Shutdown => {
                if let Some(running) = serving.take() {
                    hit("shutdown while serving");
                    server.shutdown();
                    stopped(running)?;
                }
            }
            ServerOp::HandleRequest => {
                if serving.is_some() {
                    continue;
                }
                let result = server.handle_request();
                if closed {
                    ensure!(result.is_err(), "handle_request on a closed server");
                    continue;
                }
                result.map_err(|e| format!("handle_request: {e}"))?;
                if backlog.is_empty() {
                    hit("handle_request timed out");
                    timeouts += 1;
                } else {
                    hit("handle_request served");
                    let mut client = backlog.remove(0);
                    let (expected, stops) = expect(&client, refuse, &mut errors);
                    ensure!(
                        read_reply(&mut client)? == expected,
                        "handle_request: wrong reply"
                    );
                    if stops {
                        hit("shutdown from a handler in handle_request");
                        pending_shutdown = true;
                    }
                }
            }
            ServerOp::Refuse(now) => {
                refuse = now;
                server.handler().refuse.store(now, Ordering::SeqCst);
            }
            ServerOp::Close => {
                if let Some(running) = serving.take() {
                    server.shutdown();
                    stopped(running)?;
                }
                hit("server_close");
                Arc::get_mut(&mut server)
                    .ok_or("the server is shared")?
                    .server_close();
                closed = true;
                pending_shutdown = false;
                // The clients in the backlog are let go: their connections end.
                for mut client in backlog.drain(..) {
                    ensure!(
                        read_reply(&mut client)?.is_empty(),
                        "a reply after server_close"
                    );
                }
            }
        }
        // The threading server's handle_error runs on the request's thread: done once the
        // client got its end of stream, which it has here.
        let counted = (
            server.handler().errors.load(Ordering::SeqCst),
            server.handler().timeouts.load(Ordering::SeqCst),
        );
        ensure!(
            counted == (errors, timeouts),
            "after {op:?}: handle_error / handle_timeout called {counted:?} times, not {:?}",
            (errors, timeouts)
        );
    }
    if let Some(running) = serving.take() {
        server.shutdown();
        stopped(running)?;
    }
    Ok(())
}

/// Keeps the handler's deliberate panics out of the output; any other panic is reported.
fn quiet_deliberate_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"asked to panic") {
            previous(info)
        }
    }));
}

#[test]
pub(crate) fn socketserver_synchronous() {
    quiet_deliberate_panics();
    fuzz(
        "socketserver (synchronous)",
        generate_server_op,
        run::<Synchronous>,
    );
}

#[test]
pub(crate) fn socketserver_threading() {
    quiet_deliberate_panics();
    fuzz(
        "socketserver (threading)",
        generate_server_op,
        run::<ThreadingMixIn>,
    );
}
