//! A line-based chat relay on one thread: every line (`\n`-terminated) a client sends goes,
//! byte for byte, to every *other* connected client.
//!
//! What it shows:
//!
//! * **Per-connection output buffers.** A line is queued for each recipient, and written as
//!   far as that recipient's socket takes it now. A recipient with bytes left over is
//!   registered for `EVENT_READ | EVENT_WRITE` (with `modify_events`) and flushed when it becomes
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
//! * **Owned registrations**: each key's data holds the connection itself and its buffers
//!   (`register_owned`), lent mutably to the code that serves it (`select_fds`, `key_mut`,
//!   `get_key_mut`), and the selector's own map (`get_map`) is the list of clients a line
//!   goes to: there is no second table of connections to keep in step.
//!
//! ```text
//! cargo run --example chat_server -- --port 8089     # 0 picks a free port
//! ```
//!
//! Then open two or more `nc 127.0.0.1 8089`: what you type in one appears in the others.

use ioselectors::{DefaultSelector, RawSource, ReadyFd, EVENT_READ, EVENT_WRITE};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
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
enum Handler {
    Listener(TcpListener),
    Client(Client),
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
    unfinished: Vec<u8>,
    /// Relayed bytes its socket has not taken yet, oldest first.
    output: VecDeque<u8>,
}

struct Server {
    sel: DefaultSelector<Handler>,
    /// The listener while it is not watched after a failed `accept`, and until when.
    resting: Option<(Handler, Instant)>,
    /// `accept` failed last time (its error has been reported).
    accept_failing: bool,
}

impl Server {
    /// A source is ready. The selector lends its key's data without a copy; a client that an
    /// earlier event of this round disconnected is gone (`key_mut` says `None`).
    fn handle(&mut self, ready: &ReadyFd) {
        let Some(key) = self.sel.key_mut(ready) else {
            return;
        };
        match key.data {
            Handler::Listener(listener) => {
                let accepted = listener.accept();
                self.accept(ready.fd(), accepted);
            }
            Handler::Client(client) => {
                if ready.events().contains(EVENT_READ) {
                    match client.receive() {
                        Ok(lines) if lines.is_empty() => {}
                        Ok(lines) => self.relay(ready.fd(), &lines),
                        Err(why) => return self.disconnect(ready.fd(), &why),
                    }
                }
                if ready.events().contains(EVENT_WRITE) {
                    self.flush(ready.fd());
                }
            }
        }
    }

    /// Takes one connection off the listener.
    fn accept(&mut self, listener: RawSource, accepted: io::Result<(TcpStream, SocketAddr)>) {
        match accepted {
            Ok((stream, peer)) => {
                if self.accept_failing {
                    eprintln!("accepting again");
                    self.accept_failing = false;
                }
                if let Err(err) = stream.set_nonblocking(true) {
                    return eprintln!("cannot serve {peer}: {err}");
                }
                let client = Client {
                    stream,
                    peer,
                    unfinished: Vec::new(),
                    output: VecDeque::new(),
                };
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
                if let Ok(key) = self.sel.unregister(listener) {
                    self.resting = Some((key.data, Instant::now() + ACCEPT_BACKOFF));
                }
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
        } else if let Err(refused) = self.sel.register_owned(listener, EVENT_READ) {
            eprintln!("cannot watch the listener again: {}", refused.error);
            self.resting = Some((refused.source, Instant::now() + ACCEPT_BACKOFF));
        }
    }

    /// Queues `lines` for every client but `sender`, writing at once to those that owed
    /// nothing so far; the others are registered for `EVENT_WRITE` already.
    fn relay(&mut self, sender: RawSource, lines: &[u8]) {
        // The selector's map is the list of connected clients.
        let recipients: Vec<RawSource> = match self.sel.get_map() {
            Ok(map) => map
                .iter()
                .filter(|&(fd, key)| fd != sender && matches!(key.data, Handler::Client(_)))
                .map(|(fd, _)| fd)
                .collect(),
            Err(_) => return,
        };
        for fd in recipients {
            let Ok(key) = self.sel.get_key_mut(fd) else {
                continue;
            };
            let Handler::Client(recipient) = key.data else {
                continue;
            };
            if recipient.output.len() + lines.len() > MAX_BACKLOG {
                let why = format!("it is not reading: over {} MiB owed", MAX_BACKLOG >> 20);
                self.disconnect(fd, &why);
                continue;
            }
            let owed_nothing = recipient.output.is_empty();
            recipient.output.extend(lines);
            if owed_nothing {
                self.flush(fd);
            }
        }
    }

    /// Writes what the client at `fd` is owed, as far as its socket takes it, and registers
    /// it for `EVENT_WRITE` if anything is left (`EVENT_READ` alone otherwise).
    fn flush(&mut self, fd: RawSource) {
        let Ok(key) = self.sel.get_key_mut(fd) else {
            return;
        };
        let Handler::Client(client) = key.data else {
            return;
        };
        let flushed = client.flush().and_then(|owes_more| {
            let events = if owes_more {
                EVENT_READ | EVENT_WRITE
            } else {
                EVENT_READ
            };
            // No syscall if the events are unchanged.
            self.sel.modify_events(fd, events).map(drop)
        });
        if let Err(err) = flushed {
            self.disconnect(fd, &err.to_string());
        }
    }

    /// Unregisters the client at `fd`; the selector gives it back, and dropping it closes it.
    fn disconnect(&mut self, fd: RawSource, why: &str) {
        if let Ok(key) = self.sel.unregister(fd) {
            if let Handler::Client(client) = key.data {
                println!("{} left: {why}", client.peer);
            }
        }
        // A descriptor is free now: if the listener is resting for want of one, watch it
        // again after this round instead of at the end of its pause.
        if let Some((_, until)) = &mut self.resting {
            *until = Instant::now();
        }
    }
}

impl Client {
    /// Reads once; returns the lines it finished (each with its `\n`, in order), or why the
    /// client must go.
    fn receive(&mut self) -> Result<Vec<u8>, String> {
        let mut buf = [0u8; READ_SIZE];
        let n = match self.stream.read(&mut buf) {
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
        let Some(last_newline) = received.iter().rposition(|&byte| byte == b'\n') else {
            self.unfinished.extend_from_slice(received);
            return if self.unfinished.len() > MAX_LINE {
                Err(format!("a line longer than {} MiB", MAX_LINE >> 20))
            } else {
                Ok(Vec::new())
            };
        };
        // Everything up to the last `\n` is finished lines; the rest starts the next one.
        let mut lines = std::mem::take(&mut self.unfinished);
        lines.extend_from_slice(&received[..=last_newline]);
        self.unfinished
            .extend_from_slice(&received[last_newline + 1..]);
        Ok(lines)
    }

    /// Writes as much of the output as the socket takes; tells whether some is left.
    fn flush(&mut self) -> io::Result<bool> {
        while !self.output.is_empty() {
            let (oldest, _) = self.output.as_slices();
            match self.stream.write(oldest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => drop(self.output.drain(..n)),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(err) => return Err(err),
            }
        }
        // Give back the memory of a burst.
        self.output.shrink_to(READ_SIZE);
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
        .register_owned(Handler::Listener(listener), EVENT_READ)?;
    println!("listening on {addr}");

    let mut ready = Vec::new();
    loop {
        // Block, unless the listener is resting: then wake up when its pause is over.
        let timeout = server
            .resting
            .as_ref()
            .map(|(_, until)| until.saturating_duration_since(Instant::now()));
        server.sel.select_fds_into(timeout, &mut ready)?;
        for ready in &ready {
            server.handle(ready);
        }
        server.end_rest();
    }
}
