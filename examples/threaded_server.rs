//! An echo server on every core: one acceptor thread hands each new connection to one of N
//! I/O threads, each with a selector of its own, through that selector's [`Registry`].
//!
//! Python's selectors have no way for one thread to give a socket to another thread's
//! blocked `select()`: a program writes to a self-pipe the selector watches, and the
//! selector's thread drains a queue and registers the sockets itself. Here the acceptor
//! registers each connection directly, with `register_owned` on the I/O thread's registry:
//! the registration counts for the `select()` that thread is blocked in, and the connection
//! (owned by the selector from then on) is served there. No channel, no waker, no drain loop.
//!
//! Each I/O thread echoes what it reads, byte for byte, with the output buffering and
//! back-pressure of `echo_server`: replies a client does not take yet are queued, the
//! connection waits for `EVENT_WRITE` meanwhile, and a client owed more than 1 MiB is not
//! read from until it reads.
//!
//! ```text
//! cargo run --example threaded_server -- --port 8091 --threads 4   # 0: a free port
//! ```
//!
//! Then `nc 127.0.0.1 8091`: every line comes back as it was sent.

use ioselectors::backend::Backend;
use ioselectors::{DefaultSelector, Events, Registry, EVENT_READ, EVENT_WRITE};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// How much one read takes from a client.
const READ_SIZE: usize = 64 * 1024;
/// Replies waiting for a client beyond which the server stops reading from it.
const MAX_BACKLOG: usize = 1 << 20;
/// How long the acceptor rests after `accept` failed (out of descriptors, typically).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A connection, owned by the selector of the thread that serves it.
struct Conn {
    stream: TcpStream,
    /// Bytes the socket has not taken back yet, oldest first.
    output: VecDeque<u8>,
    /// The client has closed its side: send what is queued, then close.
    eof: bool,
}

// `register_owned` needs the data to lend out its descriptor: `AsFd` on Unix, `AsSocket` on
// Windows.
#[cfg(unix)]
impl std::os::unix::io::AsFd for Conn {
    fn as_fd(&self) -> std::os::unix::io::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Conn {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.stream.as_socket()
    }
}

impl Conn {
    /// Reads what is there if readable, writes what the socket takes, and says what to wait
    /// for next (`None`: done with this client).
    fn serve(&mut self, mask: Events) -> io::Result<Option<Events>> {
        if mask.contains(EVENT_READ) {
            let mut buf = [0u8; READ_SIZE];
            match self.stream.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.output.extend(&buf[..n]),
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(err) => return Err(err),
            }
        }
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
        Ok(match (self.eof, self.output.len()) {
            (true, 0) => None,
            (true, _) => Some(EVENT_WRITE),
            (false, 0) => Some(EVENT_READ),
            // Back-pressure: read no more until the client takes its replies.
            (false, n) if n > MAX_BACKLOG => Some(EVENT_WRITE),
            (false, _) => Some(EVENT_READ | EVENT_WRITE),
        })
    }
}

/// An I/O thread: serves whatever connections the acceptor registers with its selector.
fn serve_forever(mut sel: DefaultSelector<Conn>) -> io::Result<()> {
    let mut ready = Vec::new();
    loop {
        sel.select_fds_into(None, &mut ready)?;
        for ready in &ready {
            let Some(key) = sel.key_mut(ready) else {
                continue;
            };
            match key.data.serve(ready.events()) {
                // `modify_events` makes a syscall only when the events change.
                Ok(Some(events)) => {
                    if sel.modify_events(ready.fd(), events).is_err() {
                        let _ = sel.unregister(ready.fd());
                    }
                }
                // Unregistering gives the connection back; dropping it closes it.
                Ok(None) | Err(_) => drop(sel.unregister(ready.fd())),
            }
        }
    }
}

/// The acceptor: takes each connection off the listener and registers it with the next I/O
/// thread's selector, round robin.
fn accept_forever<B: Backend>(listener: TcpListener, registries: Vec<Registry<B, Conn>>) {
    let mut next = 0;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            // Out of descriptors (or another failure): the pending connection stays in the
            // backlog, and asking again at once would spin. Rest, then try again.
            Err(err) => {
                eprintln!("accept failed: {err}");
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        if let Err(err) = stream.set_nonblocking(true) {
            eprintln!("cannot serve a client: {err}");
            continue;
        }
        let conn = Conn {
            stream,
            output: VecDeque::new(),
            eof: false,
        };
        // Takes effect for the `select()` that I/O thread is blocked in.
        if let Err(refused) = registries[next].register_owned(conn, EVENT_READ) {
            eprintln!("cannot serve a client: {}", refused.error);
        }
        next = (next + 1) % registries.len();
    }
}

const USAGE: &str =
    "usage: threaded_server [--port PORT] [--threads N]   (default 8091, one I/O thread per core)";

fn args() -> Result<(u16, usize), String> {
    let mut args = std::env::args().skip(1);
    let mut port = 8091;
    let mut threads = thread::available_parallelism().map_or(1, |n| n.get());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" | "-p" => {
                let value = args.next().ok_or("--port needs a value")?;
                port = value
                    .parse()
                    .map_err(|_| format!("invalid port {value:?}\n{USAGE}"))?;
            }
            "--threads" | "-t" => {
                let value = args.next().ok_or("--threads needs a value")?;
                threads = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("invalid thread count {value:?}\n{USAGE}"))?;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    Ok((port, threads))
}

fn main() -> io::Result<()> {
    let (port, threads) = args().unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2);
    });
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    let mut registries = Vec::new();
    for _ in 0..threads {
        let sel = DefaultSelector::new()?;
        registries.push(sel.registry()?);
        thread::spawn(move || {
            if let Err(err) = serve_forever(sel) {
                eprintln!("I/O thread failed: {err}");
                std::process::exit(1);
            }
        });
    }
    println!("listening on {}", listener.local_addr()?);
    println!("serving with {threads} I/O threads");
    accept_forever(listener, registries);
    Ok(())
}
