//! Dispatch (libevent's test/bench.c shape): N registered socket pairs, A of them readable,
//! and the cost of one non-blocking select.

use crate::measure::{compare, consume, Contender, Plan};
use ioselectors::backend::Backend;
use ioselectors::{DefaultSelector, PollSelector, SelectSelector, Selector, EVENT_READ};
use mio::unix::SourceFd;
use rustix::event::{epoll, Timespec};
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub const DEFAULT: &str = "DefaultSelector (epoll)";
pub const WITH_HANDLE: &str = "DefaultSelector, a Registry alive";
pub const POLL: &str = "PollSelector";
pub const SELECT: &str = "SelectSelector";
pub const RAW: &str = "raw epoll_wait (rustix)";
pub const POLLING: &str = "polling (Level)";
pub const MIO: &str = "mio";

const ZERO: Option<Duration> = Some(Duration::ZERO);

pub struct Row {
    pub n: usize,
    pub active: usize,
    /// (contender, median ns per select)
    pub results: Vec<(&'static str, f64)>,
}

impl Row {
    pub fn ns(&self, name: &str) -> Option<f64> {
        self.results
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, ns)| *ns)
    }
}

pub fn run(plan: &Plan) -> Vec<Row> {
    println!("dispatch: ns per non-blocking select, N registered pairs, A ready");
    let largest = crate::measure::largest_n();
    if largest < 10_000 {
        println!(
            "  (RLIMIT_NOFILE allows {largest} pairs, not 10,000: the largest N is {largest})"
        );
    }
    let sizes = if plan.quick {
        vec![10, 100, 1000]
    } else {
        vec![10, 100, 1000, largest]
    };
    let mut rows = Vec::new();
    for n in sizes {
        let pairs: Vec<(UnixStream, UnixStream)> = (0..n)
            .map(|_| UnixStream::pair().expect("socketpair"))
            .collect();
        for (reader, writer) in &pairs {
            reader.set_nonblocking(true).unwrap();
            writer.set_nonblocking(true).unwrap();
        }
        let mut actives = vec![1, n / 10];
        actives.dedup();
        for active in actives {
            let row = measure(plan, &pairs, active);
            let line: Vec<String> = row
                .results
                .iter()
                .map(|(name, ns)| format!("{name} {ns:.0}"))
                .collect();
            println!("  N={n:>5} A={active:>4}: {}", line.join(", "));
            rows.push(row);
        }
    }
    println!();
    rows
}

/// Makes exactly the first `active` readers readable, with one byte each.
pub fn set_active(pairs: &[(UnixStream, UnixStream)], active: usize) {
    let mut buf = [0u8; 64];
    for (i, (reader, writer)) in pairs.iter().enumerate() {
        while matches!((&*reader).read(&mut buf), Ok(n) if n > 0) {}
        if i < active {
            (&*writer).write_all(b"x").unwrap();
        }
    }
}

fn measure(plan: &Plan, pairs: &[(UnixStream, UnixStream)], active: usize) -> Row {
    set_active(pairs, active);
    let n = pairs.len();
    let mut contenders = vec![
        ioselectors(DEFAULT, DefaultSelector::new().unwrap(), pairs, active),
        with_handle(pairs, active),
        ioselectors(POLL, PollSelector::new().unwrap(), pairs, active),
    ];
    // select(2) takes fds below FD_SETSIZE only.
    if pairs.iter().all(|(reader, _)| reader.as_raw_fd() < 1024) {
        contenders.push(ioselectors(
            SELECT,
            SelectSelector::new().unwrap(),
            pairs,
            active,
        ));
    }
    contenders.push(raw_epoll(pairs, active));
    contenders.push(polling_level(pairs, active));
    contenders.push(mio_edge(pairs, active));
    let medians = compare(plan, &mut contenders);
    let results = contenders.iter().map(|c| c.name).zip(medians).collect();
    Row { n, active, results }
}

/// One of ioselectors' selectors, with every reader registered.
fn ioselectors<B: Backend>(
    name: &'static str,
    sel: Selector<B, usize>,
    pairs: &[(UnixStream, UnixStream)],
    active: usize,
) -> Contender<'static> {
    ioselectors_keeping(name, sel, (), pairs, active)
}

/// As `ioselectors`, with `kept` alive while it runs.
fn ioselectors_keeping<B: Backend, K: 'static>(
    name: &'static str,
    mut sel: Selector<B, usize>,
    kept: K,
    pairs: &[(UnixStream, UnixStream)],
    active: usize,
) -> Contender<'static> {
    for (i, (reader, _)) in pairs.iter().enumerate() {
        sel.register(reader, EVENT_READ, i).unwrap();
    }
    let mut ready = Vec::with_capacity(pairs.len());
    assert_eq!(sel.select_into(ZERO, &mut ready).unwrap(), active);
    Contender::timed(name, move || {
        let _kept = &kept;
        sel.select_into(ZERO, &mut ready).unwrap();
        consume(ready.iter().map(|(key, _)| key.data).sum::<usize>());
    })
}

/// `DefaultSelector` with a registry handle held (by another thread, in a real program)
/// and no change pending: what the handle costs a select that nobody disturbs.
fn with_handle(pairs: &[(UnixStream, UnixStream)], active: usize) -> Contender<'static> {
    let sel = DefaultSelector::new().unwrap();
    let registry = sel.registry().unwrap();
    ioselectors_keeping(WITH_HANDLE, sel, registry, pairs, active)
}

/// The floor: one epoll_wait into a buffer sized for every registration, and a pass over what
/// it returned.
pub fn raw_epoll(pairs: &[(UnixStream, UnixStream)], active: usize) -> Contender<'static> {
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    for (i, (reader, _)) in pairs.iter().enumerate() {
        epoll::add(
            &ep,
            reader,
            epoll::EventData::new_u64(i as u64),
            epoll::EventFlags::IN,
        )
        .unwrap();
    }
    let mut buffer: Vec<epoll::Event> = Vec::with_capacity(pairs.len());
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let wait = move || {
        buffer.clear();
        epoll::wait(
            &ep,
            rustix::buffer::spare_capacity(&mut buffer),
            Some(&zero),
        )
        .unwrap();
        buffer.iter().map(|event| event.data.u64()).sum::<u64>()
    };
    Contender::checked(RAW, (0..active).sum::<usize>() as u64, wait)
}

fn polling_level(pairs: &[(UnixStream, UnixStream)], active: usize) -> Contender<'static> {
    let poller = polling::Poller::new().unwrap();
    for (i, (reader, _)) in pairs.iter().enumerate() {
        // SAFETY: the poller is dropped (with the contender) before the pairs are.
        unsafe {
            poller
                .add_with_mode(
                    reader,
                    polling::Event::readable(i),
                    polling::PollMode::Level,
                )
                .unwrap()
        };
    }
    let capacity = std::num::NonZeroUsize::new(pairs.len()).unwrap();
    let mut events = polling::Events::with_capacity(capacity);
    let mut wait = move || {
        events.clear();
        poller.wait(&mut events, ZERO).unwrap();
        events.iter().map(|event| event.key).sum::<usize>()
    };
    assert_eq!(wait(), (0..active).sum::<usize>());
    Contender::timed(POLLING, move || consume(wait()))
}

/// mio is edge-triggered: a fd is reported once per new arrival. So before each (timed) poll,
/// one more byte goes to each active pair, and after it one byte is read back (untimed).
fn mio_edge(pairs: &[(UnixStream, UnixStream)], active: usize) -> Contender<'_> {
    let mut poll = mio::Poll::new().unwrap();
    for (i, (reader, _)) in pairs.iter().enumerate() {
        let fd = reader.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), mio::Token(i), mio::Interest::READABLE)
            .unwrap();
    }
    let mut events = mio::Events::with_capacity(pairs.len());
    poll.poll(&mut events, ZERO).unwrap(); // the registration's own edge
    let active_pairs = &pairs[..active];
    Contender {
        name: MIO,
        run: Box::new(move |iterations| {
            let mut timed = Duration::ZERO;
            for _ in 0..iterations {
                for (_, writer) in active_pairs {
                    (&*writer).write_all(b"x").unwrap();
                }
                let start = Instant::now();
                poll.poll(&mut events, ZERO).unwrap();
                consume(events.iter().map(|event| event.token().0).sum::<usize>());
                timed += start.elapsed();
                for (reader, _) in active_pairs {
                    (&*reader).read_exact(&mut [0u8; 1]).unwrap();
                }
            }
            timed
        }),
    }
}
