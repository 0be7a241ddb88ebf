//! The socketserver's shutdown: how long `shutdown()` takes while the server is idle, and
//! how often an idle server's thread wakes up — ours against CPython's `socketserver`
//! (`serve_forever(poll_interval=0.5)`), measured the same way by `python_selectors.py`.

use crate::measure::Plan;
use ioselectors::socketserver::{RequestHandler, StreamRequest, TcpServer};
use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub struct Row {
    /// Median `shutdown()` time, idle server.
    pub shutdown: Duration,
    /// The slowest of the rounds.
    pub shutdown_max: Duration,
    /// Voluntary context switches of the idle serving thread, per second (a wake-up and the
    /// sleep after it make one).
    pub wake_ups_per_sec: f64,
}

struct Nothing;

impl RequestHandler for Nothing {
    type Request = StreamRequest;
    fn handle(&self, _: &mut StreamRequest) -> io::Result<()> {
        Ok(())
    }
}

/// The thread's voluntary context switches so far, and whether it sleeps now.
pub fn switches(tid: i32) -> (u64, bool) {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    let count = field("voluntary_ctxt_switches:").parse().unwrap();
    (count, field("State:").starts_with('S'))
}

pub fn run(plan: &Plan) -> Row {
    let (rounds, idle) = if plan.quick {
        (5u32, Duration::from_millis(1200))
    } else {
        (31, Duration::from_secs(3))
    };
    let mut shutdowns = Vec::new();
    let mut wake_ups = 0.0;
    for round in 0..rounds {
        let server = TcpServer::new("127.0.0.1:0", Nothing).unwrap();
        let (tid_sender, tid) = mpsc::channel();
        thread::scope(|scope| {
            let server = &server;
            let serving = scope.spawn(move || {
                // SAFETY: gettid has no preconditions.
                tid_sender.send(unsafe { libc::gettid() }).unwrap();
                server.serve_forever()
            });
            let tid = tid.recv().unwrap();
            // One request: the loop runs; then it is idle, asleep in the selector.
            let mut client = TcpStream::connect(server.server_address()).unwrap();
            client.read_to_end(&mut Vec::new()).unwrap();
            while !switches(tid).1 {
                thread::yield_now();
            }
            if round == 0 {
                let before = switches(tid).0;
                thread::sleep(idle); // the idle time measured
                wake_ups = (switches(tid).0 - before) as f64 / idle.as_secs_f64();
            }
            // Called at a point spread evenly over Python's poll interval, as the Python
            // side does (ours has no interval: it makes no difference to it).
            thread::sleep(Duration::from_millis(500) * round / rounds);
            let start = Instant::now();
            server.shutdown();
            shutdowns.push(start.elapsed());
            serving.join().unwrap().unwrap();
        });
    }
    shutdowns.sort();
    let row = Row {
        shutdown: shutdowns[shutdowns.len() / 2],
        shutdown_max: *shutdowns.last().unwrap(),
        wake_ups_per_sec: wake_ups,
    };
    println!(
        "socketserver: shutdown {:?} (median; slowest {:?}), {} idle wake-ups per second",
        row.shutdown, row.shutdown_max, row.wake_ups_per_sec
    );
    row
}
