//! A line-based chat relay on one thread: every line (`\n`-terminated) a client sends goes,
//! byte for byte, to every *other* connected client.
//!
//! What it shows:
//!
//! * **Per-connection output buffers.** A line is queued for each recipient, and written as
//!   far as that recipient's socket takes it now. A recipient with bytes left over is
//!   registered for `EVENT_READ | EVENT_WRITE` (with `modify`) and flushed when it becomes
//!   writable; once its buffer is empty it goes back to `EVENT_READ`. So a client that
//!   stops reading delays nobody: only its own buffer grows, and it loses nothing.
//! * **A cap on that growth.** A client that is owed more than [`MAX_BACKLOG`] (64 MiB) is
//!   disconnected: it is not reading, and keeping everything for it would let one stuck
//!   client take all the server's memory. Below the cap it gets every byte, in order, once
//!   it reads again. Likewise a client that sends more than [`MAX_LINE`] (1 MiB) without a
//!   `\n` is disconnected, since an unfinished line cannot be relayed.
//! * **Whole lines only.** Lines are relayed once their `\n` has arrived, so lines from
//!   different clients never interleave mid-line. An unfinished line at the end of a
//!   connection is dropped.
//! * **Running out of descriptors** (EMFILE) without spinning: see [`accept`].
//! * **Owned registrations**: each key's data holds the connection itself
//!   (`register_owned`), and the selector's own map (`get_map`) is the list of clients a
//!   line goes to: there is no second table of connections to keep in step.
//!
//! ```text
//! cargo run --example chat_server -- --port 8089     # 0 picks a free port
//! ```
//!
//! Then open two or more `nc 127.0.0.1 8089`: what you type in one appears in the others.

use ioselectors::{DefaultSelector, Events, EVENT_READ, EVENT_WRITE};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How much one read takes from a client.
const READ_SIZE: usize = 64 * 1024;
/// The longest line (without its `\n`) a client may send; longer: disconnected.
const MAX_LINE: usize = 1 << 20;
/// The most a client may be owed (relayed to it, not yet read); more: disconnected.
const MAX_BACKLOG: usize = 64 << 20;
/// How long the listener rests after `accept` failed with something other than "try again".
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Each key's data: the source, kept by the selector (`register_owned`), and what it is.
#[derive(Clone)]
enum Handler {
    Listener(Rc<TcpListener>),
    Client(Rc<Client>),
}

// `register_owned` needs the data to lend out its descriptor: `AsFd` on Unix, `AsSocket` on
// Windows.
#[cfg(unix)]
impl std::os::unix::io::AsFd for Handler {
    fn as_fd(&self) -> std::os::unix::io::BorrowedFd<'_> {
        match self {
            Handler::Listener(listener) => listener.as_fd(),
            Handler::Client(client) => client.stream.as_fd(),
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Handler {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        match self {
            Handler::Listener(listener) => listener.as_socket(),
            Handler::Client(client) => client.stream.as_socket(),
        }
    }
}

struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// The start of a line whose `\n` has not arrived yet.
    unfinished: RefCell<Vec<u8>>,
    /// Relayed bytes its socket has not taken yet, oldest first.
    output: RefCell<VecDeque<u8>>,
    /// Disconnected while other clients' events of the same `select()` were handled: its own
    /// events of that round, still in the list, are skipped.
    gone: Cell<bool>,
}

struct Server {
    sel: DefaultSelector<Handler>,
    /// The listener while it is not watched after a failed `accept`, and until when.
    resting: Option<(Rc<TcpListener>, Instant)>,
    /// `accept` failed last time (its error has been reported).
    accept_failing: bool,
}

impl Server {
    /// Takes one connection off the listener.
    fn accept(&mut self, listener: Rc<TcpListener>) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if self.accept_failing {
                    eprintln!("accepting again");
                    self.accept_failing = false;
                }
                if let Err(err) = stream.set_nonblocking(true) {
                    return eprintln!("cannot serve {peer}: {err}");
                }
                let client = Rc::new(Client {
                    stream,
                    peer,
                    unfinished: RefCell::new(Vec::new()),
                    output: RefCell::new(VecDeque::new()),
                    gone: Cell::new(false),
                });
                match self.sel.register_owned(Handler::Client(client), EVENT_READ) {
                    Ok(_) => println!("{peer} joined"),
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
            // stays in the kernel's backlog, so the listener stays readable, and with a
            // level-triggered selector a server that only logs the error and goes on would be
            // told again at once, and spin at 100 % CPU until a descriptor frees up (Python's
            // selectors servers do just that if they catch the OSError). So the listener is
            // unregistered and watched again after a pause (`select`'s timeout says when), or
            // as soon as a client leaves and frees a descriptor.
            Err(err) => {
                if !self.accept_failing {
                    eprintln!(
                        "accept failed: {err}; trying again every {} ms",
                        ACCEPT_BACKOFF.as_millis()
                    );
                    self.accept_failing = true;
                }
                let _ = self.sel.unregister(&*listener);
                self.resting = Some((listener, Instant::now() + ACCEPT_BACKOFF));
            }
        }
    }

    /// Watches the listener again if its pause is over.
    fn end_rest(&mut self) {
        let Some((listener, until)) = self.resting.take() else {
            return;
        };
        if Instant::now() < until {
            self.resting = Some((listener, until));
        } else if let Err(refused) = self
            .sel
            .register_owned(Handler::Listener(listener.clone()), EVENT_READ)
        {
            eprintln!("cannot watch the listener again: {refused}");
            self.resting = Some((listener, Instant::now() + ACCEPT_BACKOFF));
        }
    }

    /// A client is ready: read what it sent and relay its finished lines, and/or write what
    /// it is owed.
    fn serve(&mut self, client: Rc<Client>, mask: Events) {
        if client.gone.get() {
            return;
        }
        if mask.contains(EVENT_READ) {
            let lines = match client.receive() {
                Ok(lines) => lines,
                Err(why) => return self.disconnect(&client, &why),
            };
            if !lines.is_empty() {
                self.relay(&client, &lines);
            }
        }
        if mask.contains(EVENT_WRITE) {
            self.flush(&client);
        }
    }

    /// Queues `lines` for every client but `sender`, writing at once to those that owed
    /// nothing so far; the others are registered for `EVENT_WRITE` already.
    fn relay(&mut self, sender: &Rc<Client>, lines: &[u8]) {
        // The selector's map is the list of connected clients.
        let recipients: Vec<Rc<Client>> = match self.sel.get_map() {
            Ok(map) => map
                .values()
                .filter_map(|key| match &key.data {
                    Handler::Client(client) if !Rc::ptr_eq(client, sender) => Some(client.clone()),
                    _ => None,
                })
                .collect(),
            Err(_) => return,
        };
        for recipient in recipients {
            let mut output = recipient.output.borrow_mut();
            let owed_nothing = output.is_empty();
            if output.len() + lines.len() > MAX_BACKLOG {
                drop(output);
                let why = format!("it is not reading: over {} MiB owed", MAX_BACKLOG >> 20);
                self.disconnect(&recipient, &why);
                continue;
            }
            output.extend(lines);
            drop(output);
            if owed_nothing {
                self.flush(&recipient);
            }
        }
    }

    /// Writes what `client` is owed, as far as its socket takes it, and registers it for
    /// `EVENT_WRITE` if anything is left (`EVENT_READ` alone otherwise).
    fn flush(&mut self, client: &Rc<Client>) {
        let flushed = client.flush().and_then(|owes_more| {
            let events = if owes_more {
                EVENT_READ | EVENT_WRITE
            } else {
                EVENT_READ
            };
            // No syscall if the events are unchanged.
            self.sel
                .modify(&client.stream, events, Handler::Client(client.clone()))
                .map(drop)
        });
        if let Err(err) = flushed {
            self.disconnect(client, &err.to_string());
        }
    }

    fn disconnect(&mut self, client: &Client, why: &str) {
        println!("{} left: {why}", client.peer);
        client.gone.set(true);
        // The connection closes when the last `Rc` of it is dropped, at the latest when this
        // round of events is over.
        let _ = self.sel.unregister(&client.stream);
        // A descriptor is about to be free: if the listener is resting for want of one,
        // watch it again after this round instead of at the end of its pause.
        if let Some((_, until)) = &mut self.resting {
            *until = Instant::now();
        }
    }
}

impl Client {
    /// Reads once; returns the lines it finished (each with its `\n`, in order), or why the
    /// client must go.
    fn receive(&self) -> Result<Vec<u8>, String> {
        let mut buf = [0u8; READ_SIZE];
        let n = match (&self.stream).read(&mut buf) {
            Ok(0) => return Err("the client closed the connection".into()),
            Ok(n) => n,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(Vec::new())
            }
            Err(err) => return Err(err.to_string()),
        };
        let received = &buf[..n];
        let mut unfinished = self.unfinished.borrow_mut();
        let Some(last_newline) = received.iter().rposition(|&byte| byte == b'\n') else {
            unfinished.extend_from_slice(received);
            return if unfinished.len() > MAX_LINE {
                Err(format!("a line longer than {} MiB", MAX_LINE >> 20))
            } else {
                Ok(Vec::new())
            };
        };
        // Everything up to the last `\n` is finished lines; the rest starts the next one.
        let mut lines = std::mem::take(&mut *unfinished);
        lines.extend_from_slice(&received[..=last_newline]);
        unfinished.extend_from_slice(&received[last_newline + 1..]);
        Ok(lines)
    }

    /// Writes as much of the output as the socket takes; tells whether some is left.
    fn flush(&self) -> io::Result<bool> {
        let mut output = self.output.borrow_mut();
        while !output.is_empty() {
            let (oldest, _) = output.as_slices();
            match (&self.stream).write(oldest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => drop(output.drain(..n)),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(err) => return Err(err),
            }
        }
        // Give back the memory of a burst.
        output.shrink_to(READ_SIZE);
        Ok(false)
    }
}

const USAGE: &str = "usage: chat_server [--port PORT]   (default 8089; 0 picks a free port)";

fn port_from_args() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut port = 8089;
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
        .register_owned(Handler::Listener(Rc::new(listener)), EVENT_READ)?;
    println!("listening on {addr}");

    loop {
        // Block, unless the listener is resting: then wake up when its pause is over.
        let timeout = server
            .resting
            .as_ref()
            .map(|(_, until)| until.saturating_duration_since(Instant::now()));
        for (key, mask) in server.sel.select(timeout)? {
            match key.data {
                Handler::Listener(listener) => server.accept(listener),
                Handler::Client(client) => server.serve(client, mask),
            }
        }
        server.end_rest();
    }
}
