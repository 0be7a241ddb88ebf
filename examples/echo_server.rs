//! Python's classic `selectors` echo server, ported: the callback lives in each key's data,
//! and every message comes back upper-cased with `_SB` appended.
//!
//! The Python original registers the listening socket with an `accept` callback as its data;
//! `accept` registers each new connection with a `read` callback; `read` receives up to 1024
//! bytes and sends them back upper-cased with `_SB` appended, or unregisters and closes the
//! connection when the client has gone; the main loop calls `key.data(key.fileobj, mask)` for
//! every ready key. This port keeps that shape: the key's data says which callback to run,
//! and holds the socket it runs on.
//!
//! Three things this port does that the Python one does not, because a server facing real
//! clients needs them:
//!
//! * **Buffered output.** `conn.send` may take only part of a reply (or, on a blocking
//!   socket, stall the whole server behind one client that does not read). Here each
//!   connection queues its replies and writes what the socket takes; while bytes remain, the
//!   connection is registered for `EVENT_READ | EVENT_WRITE` (with `modify_events`) and flushed when
//!   it becomes writable, then goes back to `EVENT_READ`.
//! * **Back-pressure.** While more than [`MAX_BACKLOG`] (1 MiB) of replies wait for a
//!   connection, the server stops reading from it (`EVENT_WRITE` only) and resumes once the
//!   client has read enough. A client that sends without reading is slowed down by TCP
//!   itself instead of growing the server's memory; it loses nothing, and gets every reply
//!   once it reads.
//! * **Running out of descriptors.** When `accept` fails (EMFILE: the process has as many
//!   descriptors open as it may), the listener rests for [`ACCEPT_BACKOFF`] instead of
//!   being asked again at once (see [`accept`]).
//!
//! The sources are registered with `register_owned`: the selector keeps each connection in
//! its key (Python's `key.fileobj`), together with which callback to run and its output
//! queue, so the server needs no map of its own from descriptors to streams. `select_fds`
//! and `key_mut` lend each ready key's data to its callback without a copy, `modify_events`
//! changes what a connection waits for, and `unregister` hands the source back.
//!
//! ```text
//! cargo run --example echo_server -- --port 8088     # 0 picks a free port
//! ```
//!
//! Then talk to it with `nc 127.0.0.1 8088`: every line you type comes back upper-cased,
//! followed by `_SB`.

use ioselectors::{DefaultSelector, Events, ReadyFd, EVENT_READ, EVENT_WRITE};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// How much one `recv` reads (Python: `conn.recv(1024)`); one reply per read.
const RECV_SIZE: usize = 1024;
/// Replies waiting for a client beyond which the server stops reading from it.
const MAX_BACKLOG: usize = 1 << 20;
/// How long the listener rests after `accept` failed with something other than "try again".
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Each key's data: the source itself, kept by the selector (`register_owned`), and, by its
/// variant, the callback to run when it is ready — Python's `key.fileobj` and `key.data` in
/// one value.
enum Handler {
    /// `sel.register(server_fileobj, EVENT_READ, accept)`
    Accept(TcpListener),
    /// `sel.register(conn, EVENT_READ, read)`
    Read(Conn),
}

// `register_owned` needs the data to lend out its descriptor, as every source does: `AsFd` on
// Unix, `AsSocket` on Windows.
#[cfg(unix)]
impl std::os::unix::io::AsFd for Handler {
    fn as_fd(&self) -> std::os::unix::io::BorrowedFd<'_> {
        match self {
            Handler::Accept(listener) => listener.as_fd(),
            Handler::Read(conn) => conn.stream.as_fd(),
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Handler {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        match self {
            Handler::Accept(listener) => listener.as_socket(),
            Handler::Read(conn) => conn.stream.as_socket(),
        }
    }
}

/// One client connection and the replies it has not taken yet.
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Reply bytes the socket has not accepted yet, oldest first.
    output: VecDeque<u8>,
    /// The client has closed its side: send what is queued, then close.
    eof: bool,
}

struct Server {
    sel: DefaultSelector<Handler>,
    /// The listener while it is not watched after a failed `accept`, and until when.
    resting: Option<(Handler, Instant)>,
    /// `accept` failed last time (its error has been reported).
    accept_failing: bool,
}

impl Server {
    /// Python: `callback = key.data; callback(key.fileobj, mask)`. The selector lends the
    /// key's data (the source and its state) without a copy.
    fn call(&mut self, ready: &ReadyFd) {
        let Some(key) = self.sel.key_mut(ready) else {
            return; // closed meanwhile by an earlier callback of this round
        };
        match key.data {
            Handler::Accept(listener) => {
                let accepted = listener.accept();
                self.accept(ready, accepted);
            }
            Handler::Read(conn) => {
                let next = conn.serve(ready.events());
                match next {
                    // `modify_events` makes a syscall only when the events change.
                    Ok(Some(events)) => {
                        if let Err(err) = self.sel.modify_events(ready.fd(), events) {
                            self.close(ready, &err.to_string());
                        }
                    }
                    Ok(None) => self.close(ready, "the client closed its side"),
                    Err(err) => self.close(ready, &err.to_string()),
                }
            }
        }
    }

    /// Python: `conn, addr = server_fileobj.accept(); sel.register(conn, EVENT_READ, read)`.
    fn accept(&mut self, ready: &ReadyFd, accepted: io::Result<(TcpStream, SocketAddr)>) {
        match accepted {
            Ok((stream, peer)) => {
                if self.accept_failing {
                    eprintln!("accepting again");
                    self.accept_failing = false;
                }
                if let Err(err) = stream.set_nonblocking(true) {
                    return eprintln!("cannot serve {peer}: {err}");
                }
                let conn = Conn {
                    stream,
                    peer,
                    output: VecDeque::new(),
                    eof: false,
                };
                match self.sel.register_owned(Handler::Read(conn), EVENT_READ) {
                    Ok(_) => println!("accepted {peer}"),
                    // The refused source comes back in `refused.source`; dropping it closes it.
                    Err(refused) => eprintln!("cannot serve {peer}: {refused}"),
                }
            }
            // Nothing waiting after all, a signal, or a client that gave up before it was
            // accepted: nothing to do.
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                ) => {}
            // Typically EMFILE or ENFILE: no descriptor is left for the new connection. It
            // stays in the kernel's backlog, so the listener is still readable, and a
            // level-triggered selector reports it again at once: a server that only logs the
            // error and goes on (the obvious port of Python's version, which lets the OSError
            // escape and dies) spins at 100 % CPU until a descriptor frees up. So stop
            // watching the listener and watch it again after a pause, or as soon as a
            // connection closes and frees a descriptor. The pause comes from `select`'s
            // timeout; no timer thread is needed.
            Err(err) => {
                if !self.accept_failing {
                    // Said once, not every pause, so that the log does not fill up meanwhile.
                    eprintln!(
                        "accept failed: {err}; trying again every {} ms",
                        ACCEPT_BACKOFF.as_millis()
                    );
                    self.accept_failing = true;
                }
                if let Ok(key) = self.sel.unregister(ready.fd()) {
                    self.resting = Some((key.data, Instant::now() + ACCEPT_BACKOFF));
                }
            }
        }
    }

    /// Python: `sel.unregister(conn); conn.close()`. The selector gives the connection back,
    /// and dropping it closes it.
    fn close(&mut self, ready: &ReadyFd, why: &str) {
        if let Ok(key) = self.sel.unregister(ready.fd()) {
            if let Handler::Read(conn) = key.data {
                println!("closing {}: {why}", conn.peer);
            }
        }
        // A descriptor is free now: if the listener is resting for want of one, watch it
        // again after this round of callbacks instead of at the end of its pause.
        if let Some((_, until)) = &mut self.resting {
            *until = Instant::now();
        }
    }
}

impl Conn {
    /// Python's `read` callback, with buffered output: reads once if readable (queueing the
    /// reply), writes what the socket takes, and says what to wait for next (`None`: done).
    fn serve(&mut self, mask: Events) -> io::Result<Option<Events>> {
        if mask.contains(EVENT_READ) {
            self.receive()?;
        }
        self.flush()?;
        Ok(self.interest())
    }

    /// Python: `data = conn.recv(1024)`; queues `data.upper() + b'_SB'`, or notes the end.
    fn receive(&mut self) -> io::Result<()> {
        let mut buf = [0u8; RECV_SIZE];
        match self.stream.read(&mut buf) {
            Ok(0) => self.eof = true,
            Ok(n) => {
                self.output
                    .extend(buf[..n].iter().map(u8::to_ascii_uppercase));
                self.output.extend(b"_SB");
            }
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(err) => return Err(err),
        }
        Ok(())
    }

    /// Writes as much of the queued output as the socket takes without blocking.
    fn flush(&mut self) -> io::Result<()> {
        while !self.output.is_empty() {
            let (oldest, _) = self.output.as_slices();
            match self.stream.write(oldest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => drop(self.output.drain(..n)),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => return Err(err),
            }
        }
        if self.output.is_empty() {
            // Give back the memory of a burst.
            self.output.shrink_to(RECV_SIZE);
        }
        Ok(())
    }

    /// What to wait for next; `None` once the client is gone and has every reply.
    fn interest(&self) -> Option<Events> {
        match (self.eof, self.output.len()) {
            (true, 0) => None,
            (true, _) => Some(EVENT_WRITE),
            (false, 0) => Some(EVENT_READ),
            // Back-pressure: read no more until the client takes its replies.
            (false, n) if n > MAX_BACKLOG => Some(EVENT_WRITE),
            (false, _) => Some(EVENT_READ | EVENT_WRITE),
        }
    }
}

const USAGE: &str = "usage: echo_server [--port PORT]   (default 8088; 0 picks a free port)";

fn port_from_args() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut port = 8088;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--port" | "-p" => args.next().ok_or("--port needs a value")?,
            _ if arg.starts_with("--port=") => arg["--port=".len()..].to_string(),
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        };
        port = value
            .parse()
            .map_err(|_| format!("invalid port {value:?}\n{USAGE}"))?;
    }
    Ok(port)
}

fn main() -> io::Result<()> {
    let port = port_from_args().unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2);
    });
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let mut server = Server {
        sel: DefaultSelector::new()?,
        resting: None,
        accept_failing: false,
    };
    server
        .sel
        .register_owned(Handler::Accept(listener), EVENT_READ)?;
    println!("listening on {addr}");

    let mut ready = Vec::new();
    loop {
        // Block, unless the listener is resting: then wake up when its pause is over.
        let timeout = server
            .resting
            .as_ref()
            .map(|(_, until)| until.saturating_duration_since(Instant::now()));
        // Python: `for key, mask in sel.select(): key.data(key.fileobj, mask)`. Each callback
        // borrows its key's data from the selector, and may register, modify and unregister.
        server.sel.select_fds_into(timeout, &mut ready)?;
        for ready in &ready {
            server.call(ready);
        }
        if let Some((listener, until)) = server.resting.take() {
            if Instant::now() < until {
                server.resting = Some((listener, until));
            } else if let Err(refused) = server.sel.register_owned(listener, EVENT_READ) {
                // Keep it resting, and try again after another pause.
                eprintln!("cannot watch the listener again: {}", refused.error);
                server.resting = Some((refused.source, Instant::now() + ACCEPT_BACKOFF));
            }
        }
    }
}
