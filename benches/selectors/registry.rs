//! Cross-thread registration: `register` + `unregister` of one socket through a handle, from
//! a thread other than the one that waits, against mio's `Registry` (a `try_clone` of the
//! `Poll`'s, used from another thread) doing `register` + `deregister` of the same socket.
//!
//! Each contender's owner thread runs a wait loop meanwhile (a 1 ms timeout, until told to
//! stop), as in a real program: ours takes the lock the handle takes after each wait in which
//! a handle changed something; mio's and the raw floor's wait for fairness. Only the calling
//! thread's pair of calls is timed. On epoll the handle makes the `epoll_ctl` at once, under
//! the lock, with the registry's checks around it; a registration removed before the
//! selector's thread took it in leaves nothing queued. mio makes the bare `epoll_ctl`.
//!
//! The socket is the only registration of its selector, as in the churn section. A second
//! selector of ours also holds another socket, so that the socket's descriptor shares the
//! selector's bookkeeping page with a live registration (as in a server, whose sockets have
//! neighbouring numbers).

use crate::measure::{compare, Contender, Plan};
use ioselectors::{DefaultSelector, EVENT_READ};
use mio::unix::SourceFd;
use rustix::event::{epoll, Timespec};
use std::os::unix::io::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::Scope;
use std::time::Duration;

pub const OURS: &str = "DefaultSelector's Registry (epoll)";
pub const OURS_NEIGHBOUR: &str = "DefaultSelector's Registry, another socket registered";
pub const MIO: &str = "mio's Registry";
pub const RAW: &str = "raw epoll_ctl ADD + DEL (rustix)";

/// How long each owner thread's waits last: short, so that the queue drains often.
const TIMEOUT: Duration = Duration::from_millis(1);

pub fn run(plan: &Plan) -> Vec<(&'static str, f64)> {
    let (socket, _peer) = UnixStream::pair().unwrap();
    let socket = &socket;
    // Each contender is handed the descriptor made once: ours a `BorrowedFd`, mio a `SourceFd`.
    let fd = socket.as_raw_fd();
    let borrowed = socket.as_fd();
    // A neighbour within the same 64 descriptors (the selector's page), whatever is open.
    // (Its peer stays open: a hung-up neighbour would be ready at every wait.)
    let mut pairs = Vec::new();
    let neighbour = loop {
        let pair = UnixStream::pair().unwrap();
        if pair.0.as_raw_fd() / 64 == fd / 64 {
            break pair;
        }
        pairs.push(pair);
    };
    let stop = &AtomicBool::new(false);

    let sel = DefaultSelector::<usize>::new().unwrap();
    let registry = sel.registry().unwrap();
    let crowded = DefaultSelector::<usize>::new().unwrap();
    let crowded_registry = crowded.registry().unwrap();
    crowded_registry
        .register(&neighbour.0, EVENT_READ, 1)
        .unwrap();
    let mut poll = mio::Poll::new().unwrap();
    let mio_registry = poll.registry().try_clone().unwrap();
    // The floor, with a waiter of its own too: the same two system calls, nothing around them.
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    let ep = &ep;

    let results = std::thread::scope(|scope| {
        select_loop(scope, sel, stop);
        select_loop(scope, crowded, stop);
        scope.spawn(move || {
            let mut events = mio::Events::with_capacity(64);
            while !stop.load(Ordering::Relaxed) {
                poll.poll(&mut events, Some(TIMEOUT)).unwrap();
            }
        });
        scope.spawn(move || {
            let mut events: Vec<epoll::Event> = Vec::with_capacity(64);
            let timeout = Timespec {
                tv_sec: 0,
                tv_nsec: TIMEOUT.as_nanos() as i64,
            };
            while !stop.load(Ordering::Relaxed) {
                events.clear();
                epoll::wait(
                    ep,
                    rustix::buffer::spare_capacity(&mut events),
                    Some(&timeout),
                )
                .unwrap();
            }
        });

        let mut contenders = vec![
            Contender::timed(OURS, || {
                registry.register(&borrowed, EVENT_READ, 0).unwrap();
                registry.unregister(borrowed).unwrap();
            }),
            Contender::timed(OURS_NEIGHBOUR, || {
                crowded_registry.register(&borrowed, EVENT_READ, 0).unwrap();
                crowded_registry.unregister(borrowed).unwrap();
            }),
            Contender::timed(MIO, || {
                mio_registry
                    .register(&mut SourceFd(&fd), mio::Token(0), mio::Interest::READABLE)
                    .unwrap();
                mio_registry.deregister(&mut SourceFd(&fd)).unwrap();
            }),
            Contender::timed(RAW, || {
                let data = epoll::EventData::new_u64(0);
                epoll::add(ep, socket, data, epoll::EventFlags::IN).unwrap();
                epoll::delete(ep, socket).unwrap();
            }),
        ];
        println!(
            "cross-thread registration: ns per register + unregister of one socket, \
             made from another thread than the waiting one"
        );
        let medians = compare(plan, &mut contenders);
        stop.store(true, Ordering::Relaxed);
        contenders
            .iter()
            .map(|c| c.name)
            .zip(medians)
            .collect::<Vec<(&'static str, f64)>>()
    });
    let mio = results
        .iter()
        .find(|(name, _)| *name == MIO)
        .map_or(f64::NAN, |(_, ns)| *ns);
    for (name, ns) in &results {
        println!("  {name}: {ns:.0} ({:.2} × mio)", ns / mio);
    }
    println!();
    results
}

/// The selector's own thread: waits in a loop, taking in the handles' changes after each wait,
/// until `stop`.
fn select_loop<'scope>(
    scope: &'scope Scope<'scope, '_>,
    mut sel: DefaultSelector<usize>,
    stop: &'scope AtomicBool,
) {
    scope.spawn(move || {
        let mut ready = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            sel.select_fds_into(Some(TIMEOUT), &mut ready).unwrap();
        }
    });
}
