//! Worker threads and a selector's thread, joined by a queue and a [`Waker`]: what asyncio's
//! `run_in_executor` does with its self-pipe.
//!
//! The selector's thread serves a TCP listener and its clients. Every line a client sends
//! becomes a job for a pool of worker threads; a worker computes the reply, pushes it on a
//! common queue and wakes the selector's thread with the waker, which then sends each reply
//! back to its client. The selector's thread never waits for a worker, and the workers never
//! touch a socket.
//!
//! The reply to a line is its length in bytes (without the `\n`) and its Adler-32 checksum
//! (the one zlib uses: simple, deterministic, and easy to check by hand) in eight hex digits:
//!
//! ```text
//! cargo run --example waker_worker -- --port 8090 --workers 4
//! printf 'hello\nWikipedia\n' | nc 127.0.0.1 8090
//! 5 062c0215
//! 9 11e60398
//! ```
//!
//! Replies come back in the order of the lines, even when workers finish out of order
//! (`--jitter-ms MS` makes each job sleep up to MS milliseconds, to show it): a reply that
//! arrives early waits for the ones before it. Replies are buffered per connection and
//! flushed on `EVENT_WRITE`; while a client has 1,024 lines with the workers or 1 MiB of
//! replies unread, it is not read from. A final line without `\n` is answered too, and a
//! client that closes its side gets all its replies before the connection is closed.
//!
//! Connections live in a map of the server's own, and each registration's data is a small
//! token naming its source (`Token::Conn(id)`): the results coming back from the workers name
//! their connection by that id, which, unlike a descriptor number, is never reused.

use ioselectors::{DefaultSelector, Events, Waker, EVENT_READ, EVENT_WRITE};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How much one read takes from a client.
const READ_SIZE: usize = 64 * 1024;
/// The longest line (without its `\n`) a client may send; longer: disconnected.
const MAX_LINE: usize = 1 << 20;
/// A client with this many lines at the workers is not read from until replies come back.
const MAX_IN_FLIGHT: u64 = 1024;
/// A client with more replies than this unread is not read from until it reads.
const MAX_BACKLOG: usize = 1 << 20;
/// How long the listener rests after `accept` failed with something other than "try again".
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Each registration's data: which source it is.
#[derive(Clone, Copy, Debug)]
enum Token {
    Listener,
    Waker,
    Conn(u64),
}

/// A line for the workers: which connection sent it, and which of its lines it is.
struct Job {
    conn: u64,
    seq: u64,
    line: Vec<u8>,
}

/// A worker's answer to a [`Job`].
struct Done {
    conn: u64,
    seq: u64,
    reply: Vec<u8>,
}

/// The workers' answers, waiting for the selector's thread; the waker says when to look.
type Results = Arc<Mutex<VecDeque<Done>>>;

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// The start of a line whose `\n` has not arrived yet.
    unfinished: Vec<u8>,
    /// How many lines went to the workers (the number of the next one).
    sent: u64,
    /// How many replies were queued for output (the number of the next one to queue).
    replied: u64,
    /// Replies that came back before an earlier one, held until their turn.
    early: BTreeMap<u64, Vec<u8>>,
    /// Reply bytes the socket has not taken yet, oldest first.
    output: VecDeque<u8>,
    /// The client has closed its side.
    eof: bool,
    /// What the socket is registered for; `None`: not registered (it only waits for the
    /// workers, and there is nothing to watch it for).
    registered: Option<Events>,
}

struct Server {
    sel: DefaultSelector<Token>,
    listener: TcpListener,
    /// When the listener, unregistered after a failed `accept`, is to be watched again.
    listener_rests_until: Option<Instant>,
    waker: Waker,
    results: Results,
    jobs: Sender<Job>,
    conns: HashMap<u64, Conn>,
    next_id: u64,
}

/// One worker: takes jobs until the server is gone; pushes each reply, then wakes the
/// selector's thread.
fn worker(jobs: Arc<Mutex<Receiver<Job>>>, results: Results, waker: Waker, jitter_ms: u64) {
    loop {
        // The lock is held while waiting for a job (other workers queue up behind it), and
        // released at the end of this statement, before the work.
        let job = jobs.lock().unwrap().recv();
        let Ok(Job { conn, seq, line }) = job else {
            return; // the server is gone
        };
        let checksum = adler32(&line);
        if jitter_ms > 0 {
            thread::sleep(Duration::from_millis(u64::from(checksum) % (jitter_ms + 1)));
        }
        let reply = format!("{} {checksum:08x}\n", line.len()).into_bytes();
        results.lock().unwrap().push_back(Done { conn, seq, reply });
        // Push, then wake: when the selector's thread looks, the reply is there.
        if waker.wake().is_err() {
            return;
        }
    }
}

/// Adler-32 (RFC 1950): two running sums modulo 65521.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

impl Server {
    fn accept(&mut self) {
        match self.listener.accept() {
            Ok((stream, peer)) => {
                let id = self.next_id;
                self.next_id += 1;
                let registered = stream
                    .set_nonblocking(true)
                    .and_then(|()| self.sel.register(&stream, EVENT_READ, Token::Conn(id)));
                if let Err(err) = registered {
                    return eprintln!("cannot serve {peer}: {err}");
                }
                println!("accepted {peer}");
                let conn = Conn {
                    stream,
                    peer,
                    unfinished: Vec::new(),
                    sent: 0,
                    replied: 0,
                    early: BTreeMap::new(),
                    output: VecDeque::new(),
                    eof: false,
                    registered: Some(EVENT_READ),
                };
                self.conns.insert(id, conn);
            }
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                ) => {}
            // EMFILE and the like: the connection stays queued and the listener readable, so
            // asking again at once would spin. Rest the listener instead (as in echo_server).
            Err(err) => {
                eprintln!("accept failed: {err}; trying again in a moment");
                let _ = self.sel.unregister(&self.listener);
                self.listener_rests_until = Some(Instant::now() + ACCEPT_BACKOFF);
            }
        }
    }

    /// Watches the listener again if its pause is over.
    fn end_rest(&mut self) -> io::Result<()> {
        if self
            .listener_rests_until
            .is_some_and(|until| Instant::now() >= until)
        {
            self.listener_rests_until = None;
            self.sel
                .register(&self.listener, EVENT_READ, Token::Listener)?;
        }
        Ok(())
    }

    /// A client is ready: read (and hand its finished lines to the workers), and/or write.
    fn serve(&mut self, id: u64, mask: Events) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut outcome = Ok(());
        if mask.contains(EVENT_READ) {
            outcome = conn.receive(id, &self.jobs);
        }
        let outcome = outcome.and_then(|()| conn.flush());
        self.settle(id, outcome);
    }

    /// The waker is ready: the workers have replies.
    fn collect_results(&mut self) -> io::Result<()> {
        // Reset first, then drain. A worker pushes, then wakes. Were the queue drained
        // first, a worker could push and wake between the drain and the reset: the reset
        // would erase that wake-up, and the reply would sit in the queue, unseen, until
        // something else woke this thread. Reset first, any push made after the reset comes
        // with a wake-up that stays, and any push made before it is drained below.
        self.waker.reset()?;
        // Take the whole queue at once, so the workers wait for the lock only that long.
        let done = std::mem::take(&mut *self.results.lock().unwrap());
        let mut touched = Vec::new();
        for Done {
            conn: id,
            seq,
            reply,
        } in done
        {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue; // the connection is gone: nobody to answer
            };
            conn.early.insert(seq, reply);
            // Queue the replies that are next in line, in order.
            while let Some(reply) = conn.early.remove(&conn.replied) {
                conn.output.extend(reply);
                conn.replied += 1;
            }
            touched.push(id);
        }
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            if let Some(conn) = self.conns.get_mut(&id) {
                let outcome = conn.flush();
                self.settle(id, outcome);
            }
        }
        Ok(())
    }

    /// After anything happened to connection `id`: closes it if it failed or is finished;
    /// otherwise registers it for what it waits for now — reading, writing, both, or
    /// nothing (unregistered) while it only waits for the workers.
    fn settle(&mut self, id: u64, outcome: io::Result<()>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let outcome = outcome.and_then(|()| {
            let wanted = conn.interest();
            let token = Token::Conn(id);
            match (conn.registered, wanted) {
                (Some(_), Some(events)) => self.sel.modify(&conn.stream, events, token).map(drop),
                (None, Some(events)) => self.sel.register(&conn.stream, events, token).map(drop),
                (Some(_), None) => self.sel.unregister(&conn.stream).map(drop),
                (None, None) => Ok(()),
            }?;
            conn.registered = wanted;
            Ok(())
        });
        let why = match outcome {
            Ok(()) if conn.finished() => "all replies sent".to_string(),
            Ok(()) => return,
            Err(err) => err.to_string(),
        };
        if conn.registered.is_some() {
            let _ = self.sel.unregister(&conn.stream);
        }
        println!("closing {}: {why}", conn.peer);
        self.conns.remove(&id); // closes the socket
    }
}

impl Conn {
    /// Reads once, and hands every line it finishes to the workers.
    fn receive(&mut self, id: u64, jobs: &Sender<Job>) -> io::Result<()> {
        let mut buf = [0u8; READ_SIZE];
        let received = match (&self.stream).read(&mut buf) {
            Ok(0) => {
                self.eof = true;
                // A last line without its `\n` is answered too.
                if !self.unfinished.is_empty() {
                    let line = std::mem::take(&mut self.unfinished);
                    self.submit(id, line, jobs)?;
                }
                return Ok(());
            }
            Ok(n) => &buf[..n],
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(())
            }
            Err(err) => return Err(err),
        };
        for piece in received.split_inclusive(|&byte| byte == b'\n') {
            match piece.strip_suffix(b"\n") {
                Some(end) => {
                    let mut line = std::mem::take(&mut self.unfinished);
                    line.extend_from_slice(end);
                    self.submit(id, line, jobs)?;
                }
                None => self.unfinished.extend_from_slice(piece),
            }
        }
        if self.unfinished.len() > MAX_LINE {
            let why = format!("a line longer than {} MiB", MAX_LINE >> 20);
            return Err(io::Error::new(io::ErrorKind::InvalidData, why));
        }
        Ok(())
    }

    fn submit(&mut self, id: u64, line: Vec<u8>, jobs: &Sender<Job>) -> io::Result<()> {
        let job = Job {
            conn: id,
            seq: self.sent,
            line,
        };
        jobs.send(job)
            .map_err(|_| io::Error::new(io::ErrorKind::Other, "every worker is gone"))?;
        self.sent += 1;
        Ok(())
    }

    /// Writes as much of the queued output as the socket takes without blocking.
    fn flush(&mut self) -> io::Result<()> {
        while !self.output.is_empty() {
            let (oldest, _) = self.output.as_slices();
            match (&self.stream).write(oldest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => drop(self.output.drain(..n)),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// What to watch the socket for now; `None` when there is nothing to watch it for.
    fn interest(&self) -> Option<Events> {
        let busy = self.sent - self.replied >= MAX_IN_FLIGHT || self.output.len() > MAX_BACKLOG;
        let mut events = Events::empty();
        if !self.eof && !busy {
            events |= EVENT_READ;
        }
        if !self.output.is_empty() {
            events |= EVENT_WRITE;
        }
        (!events.is_empty()).then_some(events)
    }

    /// The client has closed its side and has every reply.
    fn finished(&self) -> bool {
        self.eof && self.sent == self.replied && self.output.is_empty()
    }
}

const USAGE: &str = "usage: waker_worker [--port PORT] [--workers N] [--jitter-ms MS]
  --port PORT      where to listen (default 8090; 0 picks a free port)
  --workers N      worker threads (default 4)
  --jitter-ms MS   each job sleeps up to MS ms, so workers finish out of order (default 0)";

struct Options {
    port: u16,
    workers: usize,
    jitter_ms: u64,
}

fn options_from_args() -> Result<Options, String> {
    let mut options = Options {
        port: 8090,
        workers: 4,
        jitter_ms: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        if name == "--help" || name == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if !matches!(name.as_str(), "--port" | "-p" | "--workers" | "--jitter-ms") {
            return Err(format!("unknown argument {arg:?}"));
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or(format!("{name} needs a value"))?;
        let invalid = || format!("invalid {name} {value:?}");
        match name.as_str() {
            "--workers" => {
                options.workers = value.parse().map_err(|_| invalid())?;
                if options.workers == 0 {
                    return Err(invalid());
                }
            }
            "--jitter-ms" => options.jitter_ms = value.parse().map_err(|_| invalid())?,
            _ => options.port = value.parse().map_err(|_| invalid())?,
        }
    }
    Ok(options)
}

fn main() -> io::Result<()> {
    let options = options_from_args().unwrap_or_else(|message| {
        eprintln!("{message}\n{USAGE}");
        std::process::exit(2);
    });
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, options.port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;

    let waker = Waker::new()?;
    let results: Results = Arc::default();
    let (jobs, queue) = mpsc::channel();
    let queue = Arc::new(Mutex::new(queue));
    for _ in 0..options.workers {
        let (queue, results, waker) = (queue.clone(), results.clone(), waker.clone());
        thread::spawn(move || worker(queue, results, waker, options.jitter_ms));
    }

    let mut server = Server {
        sel: DefaultSelector::new()?,
        listener,
        listener_rests_until: None,
        waker,
        results,
        jobs,
        conns: HashMap::new(),
        next_id: 0,
    };
    server
        .sel
        .register(&server.listener, EVENT_READ, Token::Listener)?;
    server
        .sel
        .register(&server.waker, EVENT_READ, Token::Waker)?;
    println!("listening on {addr}");

    loop {
        let timeout = server
            .listener_rests_until
            .map(|until| until.saturating_duration_since(Instant::now()));
        for (key, mask) in server.sel.select(timeout)? {
            match key.data {
                Token::Listener => server.accept(),
                Token::Waker => server.collect_results()?,
                Token::Conn(id) => server.serve(id, mask),
            }
        }
        server.end_rest()?;
    }
}
