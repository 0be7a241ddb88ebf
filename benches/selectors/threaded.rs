//! Threaded echo: the design of `examples/threaded_server.rs` (one acceptor thread handing each
//! connection to one of two I/O threads, each waiting on a poller of its own, through that
//! poller's registry handle; replies buffered per connection, with write interest while some
//! are queued) on ioselectors and on mio, served side by side to the echo section's client.
//!
//! * ioselectors: the acceptor calls `register_owned` on the I/O thread's `Registry`; the I/O
//!   threads run the example's `select_fds_into` / `key_mut` / `modify_events` loop.
//! * mio: a `Registry` registers a source under a `Token`, but the `Poll`'s thread must also
//!   get the stream itself, to read it. mio has no owned registration, so the acceptor sends
//!   `(token, stream)` down a channel to the I/O thread *first*, then registers the stream's
//!   descriptor (`SourceFd`: the stream has moved) through that thread's `Registry` (a
//!   `try_clone` of its `Poll`'s). An I/O thread that gets an event for a token it has not
//!   seen yet takes in what the channel holds: the stream is surely there, since it was sent
//!   before it could fire. (Sent after registering, it could fire first: the edge would be lost
//!   with the thread blocked in `poll` and nothing left to wake it.) mio's own answer to "hand
//!   work to a blocked `Poll`" is a channel and a `Waker`, with the `Poll`'s thread registering
//!   the stream itself; the registry hand-off measured here is the same design as ours.
//!
//! Both servers echo with the example's semantics and buffering: what is read is queued in the
//! connection's `VecDeque` and written out from it; while some is left, the connection waits
//! for writability too, and a client owed more than 1 MiB is not read from until it reads.
//! The ioselectors server is level-triggered (one read per readiness, as the example); mio is
//! edge-triggered, so its server reads until `WouldBlock` (the echo section's difference).
//! Both read into one 64 KiB buffer per I/O thread (the example zeroes a fresh one on its
//! stack per read, which both would pay alike).

use crate::echo;
use crate::measure::{median, Plan};
use ioselectors::{DefaultSelector, Events, Registry, EVENT_READ, EVENT_WRITE};
use mio::unix::SourceFd;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// I/O threads per server (the acceptor is one more): the benchmark machine's cores.
pub const IO_THREADS: usize = 2;
/// How much one read takes from a client.
const READ_SIZE: usize = 64 * 1024;
/// Replies waiting for a client beyond which the server stops reading from it.
const MAX_BACKLOG: usize = 1 << 20;

pub struct Row {
    pub connections: usize,
    pub size: usize,
    /// Round trips per second.
    pub ours: f64,
    pub mio: f64,
}

#[derive(Clone, Copy)]
enum Server {
    Ioselectors,
    Mio,
}

const SERVERS: [Server; 2] = [Server::Ioselectors, Server::Mio];

pub fn run(plan: &Plan) -> Vec<Row> {
    println!(
        "threaded echo: round trips per second, C connections with one message in flight each, \
         an acceptor and {IO_THREADS} I/O threads"
    );
    let mut rows = Vec::new();
    for connections in [100, 1000] {
        for size in [64, 4096] {
            let mut rates = [Vec::new(), Vec::new()];
            for round in 0..plan.threaded_rounds {
                // Alternate the starting server, so neither always runs first.
                for k in 0..SERVERS.len() {
                    let i = (round + k) % SERVERS.len();
                    let rate = one_round(SERVERS[i], connections, size, plan.threaded_round);
                    rates[i].push(rate);
                }
            }
            let [ours, mio] = rates.map(median);
            println!(
                "  C={connections:>4} size={size:>4}: ioselectors {ours:.0}, mio {mio:.0} ({:.2}x)",
                ours / mio
            );
            rows.push(Row {
                connections,
                size,
                ours,
                mio,
            });
        }
    }
    println!();
    rows
}

fn one_round(server: Server, connections: usize, size: usize, duration: Duration) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // This thread becomes the acceptor, once it has started the I/O threads.
    let acceptor = thread::spawn(move || match server {
        Server::Ioselectors => serve_ioselectors(listener, connections),
        Server::Mio => serve_mio(listener, connections),
    });
    let rate = echo::client(addr, connections, size, duration);
    acceptor.join().unwrap();
    rate
}

/// How many of `connections`, handed out round robin, I/O thread `thread` serves: it stops
/// once that many have hung up.
fn share(connections: usize, thread: usize) -> usize {
    connections / IO_THREADS + usize::from(thread < connections % IO_THREADS)
}

/// The acceptor's half of a hand-off: the next connection, blocking (as the example's).
fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(true).unwrap();
                stream.set_nodelay(true).unwrap();
                return stream;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => panic!("accept: {err}"),
        }
    }
}

/// Writes out what the socket takes of `output`; returns whether all of it went.
fn flush(stream: &mut impl Write, output: &mut VecDeque<u8>) -> io::Result<bool> {
    while !output.is_empty() {
        let (oldest, _) = output.as_slices();
        match stream.write(oldest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => drop(output.drain(..n)),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(err) => return Err(err),
        }
    }
    Ok(true)
}

/// The example's connection, owned by the selector of the thread that serves it.
struct Conn {
    stream: TcpStream,
    /// Bytes the socket has not taken back yet, oldest first.
    output: VecDeque<u8>,
    /// The client has closed its side: send what is queued, then close.
    eof: bool,
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Conn {
    /// The example's `serve`: reads once if readable, writes what the socket takes, and says
    /// what to wait for next (`None`: done with this client).
    fn serve(&mut self, mask: Events, buf: &mut [u8]) -> io::Result<Option<Events>> {
        if mask.contains(EVENT_READ) {
            match self.stream.read(buf) {
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
        flush(&mut self.stream, &mut self.output)?;
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

/// The example on ioselectors: I/O threads with a `DefaultSelector` each, and this thread the
/// acceptor, registering each connection with the next one's `Registry`.
fn serve_ioselectors(listener: TcpListener, connections: usize) {
    thread::scope(|scope| {
        let mut registries: Vec<Registry<_, Conn>> = Vec::new();
        for thread in 0..IO_THREADS {
            let sel = DefaultSelector::<Conn>::new().unwrap();
            registries.push(sel.registry().unwrap());
            scope.spawn(move || io_thread(sel, share(connections, thread)));
        }
        for i in 0..connections {
            let conn = Conn {
                stream: accept(&listener),
                output: VecDeque::new(),
                eof: false,
            };
            // Takes effect for the `select()` that I/O thread is blocked in.
            if let Err(refused) = registries[i % IO_THREADS].register_owned(conn, EVENT_READ) {
                panic!("register_owned: {}", refused.error);
            }
        }
    });
}

/// The example's `serve_forever`, until `share` connections have hung up.
fn io_thread(mut sel: DefaultSelector<Conn>, share: usize) {
    let mut ready = Vec::new();
    let mut buf = vec![0u8; READ_SIZE];
    let mut closed = 0;
    while closed < share {
        sel.select_fds_into(None, &mut ready).unwrap();
        for ready in &ready {
            let Some(key) = sel.key_mut(ready) else {
                continue;
            };
            let open = match key.data.serve(ready.events(), &mut buf) {
                // `modify_events` makes a syscall only when the events change.
                Ok(Some(events)) => sel.modify_events(ready.fd(), events).is_ok(),
                Ok(None) | Err(_) => false,
            };
            // Unregistering gives the connection back; dropping it closes it.
            if !open && sel.unregister(ready.fd()).is_ok() {
                closed += 1;
            }
        }
    }
}

/// The mio server's connection: the example's, with the interest it is registered for.
struct MioConn {
    stream: mio::net::TcpStream,
    output: VecDeque<u8>,
    eof: bool,
    interest: mio::Interest,
}

impl MioConn {
    /// The example's `serve`, edge-triggered: reads until `WouldBlock` (unless over the
    /// backlog), writes what the socket takes, and says what to wait for next.
    fn serve(&mut self, buf: &mut [u8]) -> io::Result<Option<mio::Interest>> {
        loop {
            let mut drained = self.eof;
            while !drained && self.output.len() <= MAX_BACKLOG {
                match self.stream.read(buf) {
                    Ok(0) => {
                        self.eof = true;
                        drained = true;
                    }
                    Ok(n) => self.output.extend(&buf[..n]),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => drained = true,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
            let flushed = flush(&mut self.stream, &mut self.output)?;
            // Stopped reading over the backlog, and the client took it all: no new edge would
            // say that there is more to read, so read on now.
            if drained || !flushed {
                break;
            }
        }
        let both = mio::Interest::READABLE | mio::Interest::WRITABLE;
        Ok(match (self.eof, self.output.len()) {
            (true, 0) => None,
            (true, _) => Some(mio::Interest::WRITABLE),
            (false, 0) => Some(mio::Interest::READABLE),
            (false, n) if n > MAX_BACKLOG => Some(mio::Interest::WRITABLE),
            (false, _) => Some(both),
        })
    }
}

/// The same design on mio (see the module's docs for the hand-off).
fn serve_mio(listener: TcpListener, connections: usize) {
    thread::scope(|scope| {
        let mut handoffs = Vec::new();
        for thread in 0..IO_THREADS {
            let poll = mio::Poll::new().unwrap();
            let registry = poll.registry().try_clone().unwrap();
            let (inbox, received) = mpsc::channel();
            handoffs.push((registry, inbox, 0usize));
            scope.spawn(move || mio_io_thread(poll, received, share(connections, thread)));
        }
        for i in 0..connections {
            let stream = accept(&listener);
            let fd = stream.as_raw_fd();
            let (registry, inbox, next_token) = &mut handoffs[i % IO_THREADS];
            let token = *next_token;
            *next_token += 1;
            let conn = MioConn {
                stream: mio::net::TcpStream::from_std(stream),
                output: VecDeque::new(),
                eof: false,
                interest: mio::Interest::READABLE,
            };
            // First the stream, then its registration: it cannot fire before it is there.
            inbox.send((token, conn)).unwrap();
            registry
                .register(
                    &mut SourceFd(&fd),
                    mio::Token(token),
                    mio::Interest::READABLE,
                )
                .unwrap();
        }
    });
}

/// An I/O thread of the mio server, until `share` connections have hung up.
fn mio_io_thread(mut poll: mio::Poll, received: mpsc::Receiver<(usize, MioConn)>, share: usize) {
    let mut conns: Vec<Option<MioConn>> = Vec::new();
    let mut events = mio::Events::with_capacity(1024);
    let mut buf = vec![0u8; READ_SIZE];
    let mut closed = 0;
    while closed < share {
        poll.poll(&mut events, None).unwrap();
        for event in &events {
            let i = event.token().0;
            if i >= conns.len() {
                // Connections handed over since: tokens come in order, so this one is among them.
                for (token, conn) in received.try_iter() {
                    if token >= conns.len() {
                        conns.resize_with(token + 1, || None);
                    }
                    conns[token] = Some(conn);
                }
            }
            let Some(conn) = conns.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            let fd = conn.stream.as_raw_fd();
            let open = match conn.serve(&mut buf) {
                // Like `modify_events`: a syscall only when the interest changes.
                Ok(Some(interest)) if interest == conn.interest => true,
                Ok(Some(interest)) => {
                    conn.interest = interest;
                    poll.registry()
                        .reregister(&mut SourceFd(&fd), event.token(), interest)
                        .is_ok()
                }
                Ok(None) | Err(_) => false,
            };
            if !open {
                let _ = poll.registry().deregister(&mut SourceFd(&fd));
                conns[i] = None;
                closed += 1;
            }
        }
    }
}
