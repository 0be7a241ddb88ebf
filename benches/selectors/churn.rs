//! Churn: register, modify and unregister one socket.

use crate::measure::{compare, Contender, Plan};
use ioselectors::{DefaultSelector, PollSelector, SelectSelector, EVENT_READ, EVENT_WRITE};
use mio::unix::SourceFd;
use rustix::event::epoll;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;

pub const DEFAULT: &str = "DefaultSelector (epoll)";
pub const POLL: &str = "PollSelector";
pub const SELECT: &str = "SelectSelector";
pub const RAW: &str = "raw epoll_ctl (rustix)";
pub const POLLING: &str = "polling (Level)";
pub const MIO: &str = "mio";

pub fn run(plan: &Plan) -> Vec<(&'static str, f64)> {
    let (socket, _peer) = UnixStream::pair().unwrap();
    let socket = &socket;
    let mut default = DefaultSelector::new().unwrap();
    let mut poll = PollSelector::new().unwrap();
    let mut select = SelectSelector::new().unwrap();
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    let poller = polling::Poller::new().unwrap();
    let mio_poll = mio::Poll::new().unwrap();
    let fd = socket.as_raw_fd();

    let mut contenders = vec![
        Contender::timed(DEFAULT, || {
            default.register(socket, EVENT_READ, 0usize).unwrap();
            default.modify(socket, EVENT_READ | EVENT_WRITE, 1).unwrap();
            default.unregister(socket).unwrap();
        }),
        Contender::timed(POLL, || {
            poll.register(socket, EVENT_READ, 0usize).unwrap();
            poll.modify(socket, EVENT_READ | EVENT_WRITE, 1).unwrap();
            poll.unregister(socket).unwrap();
        }),
        Contender::timed(SELECT, || {
            select.register(socket, EVENT_READ, 0usize).unwrap();
            select.modify(socket, EVENT_READ | EVENT_WRITE, 1).unwrap();
            select.unregister(socket).unwrap();
        }),
        Contender::timed(RAW, || {
            let data = epoll::EventData::new_u64(0);
            epoll::add(&ep, socket, data, epoll::EventFlags::IN).unwrap();
            epoll::modify(
                &ep,
                socket,
                data,
                epoll::EventFlags::IN | epoll::EventFlags::OUT,
            )
            .unwrap();
            epoll::delete(&ep, socket).unwrap();
        }),
        Contender::timed(POLLING, || {
            // SAFETY: deleted at once, long before the socket is closed.
            unsafe {
                poller
                    .add_with_mode(
                        socket,
                        polling::Event::readable(0),
                        polling::PollMode::Level,
                    )
                    .unwrap()
            };
            poller
                .modify_with_mode(socket, polling::Event::all(0), polling::PollMode::Level)
                .unwrap();
            poller.delete(socket).unwrap();
        }),
        Contender::timed(MIO, || {
            let registry = mio_poll.registry();
            registry
                .register(&mut SourceFd(&fd), mio::Token(0), mio::Interest::READABLE)
                .unwrap();
            let both = mio::Interest::READABLE | mio::Interest::WRITABLE;
            registry
                .reregister(&mut SourceFd(&fd), mio::Token(0), both)
                .unwrap();
            registry.deregister(&mut SourceFd(&fd)).unwrap();
        }),
    ];
    println!("churn: ns per register + modify + unregister of one socket");
    let medians = compare(plan, &mut contenders);
    let results: Vec<(&'static str, f64)> =
        contenders.iter().map(|c| c.name).zip(medians).collect();
    for (name, ns) in &results {
        println!("  {name}: {ns:.0}");
    }
    println!();
    results
}
