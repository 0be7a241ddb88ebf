//! Echo, the server's own cost.
//!
//! In the echo table the client runs beside the server, so throughput moves with scheduling
//! (±10 % from one round to the next on a 2-core VM): more than any difference between two
//! servers that make the same system calls. Here client and server take turns on one thread:
//! the client writes one message on each of C connections, the server's loop runs until it has
//! echoed them all (only this is timed), and the client reads the replies. The two
//! edge-triggered servers, mio's and `select::Epoll`'s, make the same calls per turn (one
//! `epoll_wait`, then per connection a `read`, a `write` and the `read` that would block), so
//! what differs is the user-space code each library puts around them; the level-triggered
//! `DefaultSelector` server skips the `read` that would block. The user-space code is also
//! counted exactly when valgrind is installed: instructions executed per round trip, under
//! callgrind, which does not depend on what else the machine is doing.

use crate::measure::{median, Plan};
use ioselectors::select::{Epoll, EpollEvents, EPOLLET, EPOLLIN};
use ioselectors::{DefaultSelector, Ready, EVENT_READ};
use mio::unix::SourceFd;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The servers, in the order of `Row::servers`.
pub const SERVERS: [&str; 3] = ["mio", "epoll-et", "ioselectors"];

pub struct Row {
    pub connections: usize,
    pub size: usize,
    pub servers: [Cost; 3],
}

pub struct Cost {
    /// Server time per round trip, median over the rounds.
    pub ns: f64,
    /// Speed over mio's (mio's time ÷ this server's): the median of the rounds' ratios, and
    /// the lowest and highest of them.
    pub speed: f64,
    pub speed_range: (f64, f64),
    /// User-space instructions per round trip (callgrind), when valgrind ran.
    pub instructions: Option<f64>,
}

const CASES: [(usize, usize); 6] = [
    (1, 64),
    (1, 4096),
    (100, 64),
    (100, 4096),
    (1000, 64),
    (1000, 4096),
];

pub fn run(plan: &Plan) -> Vec<Row> {
    println!("echo, the server's own cost (client and server taking turns on one thread)");
    let callgrind = valgrind_version();
    match &callgrind {
        Some(version) => println!("  instructions counted by {version} (callgrind)"),
        None => println!("  valgrind not found: no instruction counts"),
    }
    let rounds = if plan.quick { 3 } else { 21 };
    let mut rows = Vec::new();
    for (connections, size) in CASES {
        // About 20,000 round trips per server and round (2,000 in a quick run).
        let turns = (if plan.quick { 2_000 } else { 20_000 }) / connections + 2;
        let times = time_case(connections, size, rounds, turns);
        let servers = [0, 1, 2].map(|k| {
            let ratios: Vec<f64> = times.iter().map(|round| round[0] / round[k]).collect();
            let instructions = callgrind.as_ref().and_then(|_| {
                let turns = (if plan.quick { 20 } else { 200 }) / connections.min(100) + 2;
                count_instructions(SERVERS[k], connections, size, turns)
            });
            Cost {
                ns: median(times.iter().map(|round| round[k]).collect()),
                speed: median(ratios.clone()),
                speed_range: ratios
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r))),
                instructions,
            }
        });
        print!("  C={connections:>4} size={size:>4}:");
        for (name, cost) in SERVERS.iter().zip(&servers) {
            print!(
                " {name} {:.0} ns ({:.3}x mio, {}),",
                cost.ns,
                cost.speed,
                cost.instructions
                    .map_or("-".into(), |i| format!("{i:.0} instructions"))
            );
        }
        println!();
        rows.push(Row {
            connections,
            size,
            servers,
        });
    }
    println!();
    rows
}

/// Each round, every server serves `turns` turns on one of three sets of connections (the sets
/// and the order rotate every round, so none keeps the luckiest kernel memory or place);
/// returns each round's server time per round trip, in the order of `SERVERS`.
fn time_case(connections: usize, size: usize, rounds: usize, turns: usize) -> Vec<[f64; 3]> {
    let sets = [(); 3].map(|_| Connections::new(connections));
    let mut servers: [Box<dyn EchoServer>; 3] = [
        Box::new(MioServer::new()),
        Box::new(EpollServer::new()),
        Box::new(SelectorServer::new()),
    ];
    let mut buf = vec![0u8; 65536];
    (0..rounds)
        .map(|round| {
            let mut times = [0.0; 3];
            for k in 0..3 {
                let server = (round + k) % 3;
                let set = &sets[(round + 2 * k) % 3];
                times[server] = set.serve_with(&mut *servers[server], size, turns, &mut buf);
            }
            times
        })
        .collect()
}

/// An echo server that can take over a set of connections for a while.
trait EchoServer {
    fn attach(&mut self, conns: &[TcpStream]);
    fn detach(&mut self, conns: &[TcpStream]);
    /// Echoes until `want` bytes have gone back; returns the bytes echoed.
    fn turn(&mut self, conns: &[TcpStream], buf: &mut [u8], want: usize) -> usize;
}

/// C loopback connections: the client ends block, the server ends do not.
struct Connections {
    clients: Vec<TcpStream>,
    servers: Vec<TcpStream>,
}

impl Connections {
    fn new(n: usize) -> Connections {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (mut clients, mut servers) = (Vec::new(), Vec::new());
        for _ in 0..n {
            // Accepted one by one: the listen backlog is shorter than C = 1000.
            let client = TcpStream::connect(addr).unwrap();
            let (server, _) = listener.accept().unwrap();
            for end in [&client, &server] {
                end.set_nodelay(true).unwrap();
            }
            server.set_nonblocking(true).unwrap();
            clients.push(client);
            servers.push(server);
        }
        Connections { clients, servers }
    }

    /// `turns` times: a message on every connection, the server's turn (timed), every reply
    /// read back. Returns the server's nanoseconds per round trip.
    fn serve_with(
        &self,
        server: &mut dyn EchoServer,
        size: usize,
        turns: usize,
        buf: &mut [u8],
    ) -> f64 {
        server.attach(&self.servers);
        let message = vec![b'x'; size];
        let mut reply = vec![0u8; size];
        let want = self.clients.len() * size;
        let mut served = Duration::ZERO;
        for _ in 0..turns {
            for mut client in &self.clients {
                client.write_all(&message).unwrap();
            }
            let start = Instant::now();
            let echoed = server.turn(&self.servers, buf, want);
            served += start.elapsed();
            assert_eq!(echoed, want, "the server echoed every byte of the turn");
            for mut client in &self.clients {
                client.read_exact(&mut reply).unwrap();
            }
        }
        server.detach(&self.servers);
        served.as_nanos() as f64 / (turns * self.clients.len()) as f64
    }
}

/// Reads a connection until it would block, echoing what it reads; returns the bytes echoed.
#[inline(always)]
fn drain(mut conn: &TcpStream, buf: &mut [u8]) -> usize {
    let mut echoed = 0;
    loop {
        match conn.read(buf) {
            Ok(n) if n > 0 => {
                echoed += n;
                conn.write_all(&buf[..n]).unwrap();
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return echoed,
            other => panic!("echo server read: {other:?}"),
        }
    }
}

/// mio's edge-triggered server (the echo table's, without accept and hang-up). It registers
/// the descriptors through `SourceFd` so both servers can take turns on the same sockets; mio's
/// own `TcpStream` would add nothing: its `read` calls std's, inlined.
struct MioServer {
    poll: mio::Poll,
    events: mio::Events,
}

impl MioServer {
    fn new() -> MioServer {
        MioServer {
            poll: mio::Poll::new().unwrap(),
            events: mio::Events::with_capacity(1024),
        }
    }
}

impl EchoServer for MioServer {
    fn attach(&mut self, conns: &[TcpStream]) {
        for (i, conn) in conns.iter().enumerate() {
            let fd = conn.as_raw_fd();
            self.poll
                .registry()
                .register(&mut SourceFd(&fd), mio::Token(i), mio::Interest::READABLE)
                .unwrap();
        }
    }

    fn detach(&mut self, conns: &[TcpStream]) {
        for conn in conns {
            self.poll
                .registry()
                .deregister(&mut SourceFd(&conn.as_raw_fd()))
                .unwrap();
        }
    }

    // callgrind counts inside this function only.
    #[inline(never)]
    fn turn(&mut self, conns: &[TcpStream], buf: &mut [u8], want: usize) -> usize {
        let mut echoed = 0;
        while echoed < want {
            self.poll.poll(&mut self.events, None).unwrap();
            for event in &self.events {
                echoed += drain(&conns[event.token().0], buf);
            }
        }
        echoed
    }
}

/// The same server on `select::Epoll`: `EPOLLIN | EPOLLET`, the index as data.
struct EpollServer {
    ep: Epoll,
    events: EpollEvents,
}

impl EpollServer {
    fn new() -> EpollServer {
        EpollServer {
            ep: Epoll::new().unwrap(),
            events: EpollEvents::with_capacity(1024),
        }
    }
}

impl EchoServer for EpollServer {
    fn attach(&mut self, conns: &[TcpStream]) {
        for (i, conn) in conns.iter().enumerate() {
            self.ep
                .register_with_data(conn, EPOLLIN | EPOLLET, i as u64)
                .unwrap();
        }
    }

    fn detach(&mut self, conns: &[TcpStream]) {
        for conn in conns {
            self.ep.unregister(conn).unwrap();
        }
    }

    // callgrind counts inside this function only.
    #[inline(never)]
    fn turn(&mut self, conns: &[TcpStream], buf: &mut [u8], want: usize) -> usize {
        let mut echoed = 0;
        while echoed < want {
            self.ep.poll_into(None, &mut self.events).unwrap();
            for event in self.events.iter() {
                echoed += drain(&conns[event.data() as usize], buf);
            }
        }
        echoed
    }
}

/// The echo table's level-triggered server on `DefaultSelector`: one read per readiness.
struct SelectorServer {
    selector: DefaultSelector<usize>,
    ready: Vec<Ready<usize>>,
}

impl SelectorServer {
    fn new() -> SelectorServer {
        SelectorServer {
            selector: DefaultSelector::new().unwrap(),
            ready: Vec::with_capacity(1024),
        }
    }
}

impl EchoServer for SelectorServer {
    fn attach(&mut self, conns: &[TcpStream]) {
        for (i, conn) in conns.iter().enumerate() {
            self.selector.register(conn, EVENT_READ, i).unwrap();
        }
    }

    fn detach(&mut self, conns: &[TcpStream]) {
        for conn in conns {
            self.selector.unregister(conn).unwrap();
        }
    }

    // callgrind counts inside this function only.
    #[inline(never)]
    fn turn(&mut self, conns: &[TcpStream], buf: &mut [u8], want: usize) -> usize {
        let mut echoed = 0;
        while echoed < want {
            self.selector.select_into(None, &mut self.ready).unwrap();
            for (key, _) in &self.ready {
                let mut conn = &conns[key.data];
                match conn.read(buf) {
                    Ok(n) if n > 0 => {
                        echoed += n;
                        conn.write_all(&buf[..n]).unwrap();
                    }
                    // Level-triggered: what is left is reported again.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    other => panic!("echo server read: {other:?}"),
                }
            }
        }
        echoed
    }
}

/// `--echo-turns mio|epoll-et|ioselectors C size turns`: what callgrind runs. One server, one set of
/// connections, `turns` turns.
pub fn turns_for_callgrind(server: &str, connections: usize, size: usize, turns: usize) {
    let set = Connections::new(connections);
    let mut buf = vec![0u8; 65536];
    let mut server: Box<dyn EchoServer> = match server {
        "mio" => Box::new(MioServer::new()),
        "epoll-et" => Box::new(EpollServer::new()),
        _ => Box::new(SelectorServer::new()),
    };
    set.serve_with(&mut *server, size, turns, &mut buf);
}

fn valgrind_version() -> Option<String> {
    let out = Command::new("valgrind").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs this benchmark binary under callgrind, counting only inside the server's `turn`;
/// returns instructions per round trip.
fn count_instructions(server: &str, connections: usize, size: usize, turns: usize) -> Option<f64> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = root.join(format!("target/bench/callgrind.{server}.out"));
    std::fs::create_dir_all(out.parent()?).ok()?;
    let function = match server {
        "mio" => "*MioServer*turn*",
        "epoll-et" => "*EpollServer*turn*",
        _ => "*SelectorServer*turn*",
    };
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(format!("--toggle-collect={function}"))
        .arg("--quiet")
        .arg(std::env::current_exe().ok()?)
        .args(["--echo-turns", server])
        .args([connections, size, turns].map(|n| n.to_string()))
        .status()
        .ok()?;
    if !status.success() {
        println!("  callgrind run failed ({status})");
        return None;
    }
    let text = std::fs::read_to_string(&out).ok()?;
    let total: f64 = text
        .lines()
        .find_map(|line| line.strip_prefix("totals:"))?
        .trim()
        .parse()
        .ok()?;
    Some(total / (turns * connections) as f64)
}
