//! Primitive dispatch: the `ioselectors::select` primitives (`Epoll`, `Poll`, `select()`)
//! against the raw system call through rustix, with N registered readers and A of them
//! readable, in ns per non-blocking wait.
//!
//! Each raw contender does the work the primitive must do, written by hand: `epoll_wait` into
//! a buffer and a pass over the events; `poll` over a `Vec<PollFd>` and a pass collecting the
//! entries that fired; `select` over an `fd_set` rebuilt before every call (the kernel
//! overwrites it) and a walk of the list testing each reader's bit.

use crate::dispatch::{self, set_active, Row};
use crate::measure::{compare, Contender, Plan};
use ioselectors::select::{
    self, Epoll, EpollEvents, Poll, PollFlags, Selected, EPOLLIN, FD_SETSIZE, POLLIN,
};
use rustix::event::{FdSetElement, PollFd, Timespec};
use std::os::unix::io::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

pub const EPOLL: &str = "Epoll::poll_into";
pub const RAW_EPOLL: &str = dispatch::RAW;
pub const POLL: &str = "Poll::poll_into";
pub const RAW_POLL: &str = "raw poll (rustix)";
pub const SELECT: &str = "select_into";
pub const RAW_SELECT: &str = "raw select (rustix)";

/// The sizes measured (select() at every one of them: see [`packed_pairs`]).
pub const SIZES: [usize; 3] = [10, 100, 1000];

const ZERO: Option<Duration> = Some(Duration::ZERO);
const ZERO_TIMESPEC: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

pub fn run(plan: &Plan) -> Vec<Row> {
    println!("primitives: ns per non-blocking wait, N registered readers, A ready");
    let mut rows = Vec::new();
    for n in SIZES {
        let pairs = packed_pairs(n);
        let highest = pairs.iter().map(|(r, _)| r.as_raw_fd()).max().unwrap_or(0);
        let fits = (highest as usize) < FD_SETSIZE;
        if !fits {
            println!("  (N={n}: a reader has fd {highest} >= FD_SETSIZE: select() not measured)");
        }
        let mut actives = vec![1, n / 10];
        actives.dedup();
        for active in actives {
            set_active(&pairs, active);
            let mut contenders = vec![
                epoll(&pairs, active),
                dispatch::raw_epoll(&pairs, active),
                poll(&pairs, active),
                raw_poll(&pairs, active),
            ];
            if fits {
                contenders.push(select_into(&pairs, active));
                contenders.push(raw_select(&pairs, active));
            }
            let medians = compare(plan, &mut contenders);
            let results: Vec<(&'static str, f64)> =
                contenders.iter().map(|c| c.name).zip(medians).collect();
            let line: Vec<String> = results
                .iter()
                .map(|(name, ns)| format!("{name} {ns:.0}"))
                .collect();
            println!("  N={n:>4} A={active:>3}: {}", line.join(", "));
            rows.push(Row { n, active, results });
        }
    }
    println!();
    rows
}

/// N non-blocking socket pairs whose readers take the lowest free descriptors: each writer
/// is moved to a number at or above FD_SETSIZE, so that 1,000 readers fit in select()'s
/// range (`benches/selectors/python_selectors.py` lays its pairs out the same way). Where RLIMIT_NOFILE
/// forbids the move, the writer stays where it is.
fn packed_pairs(n: usize) -> Vec<(UnixStream, UnixStream)> {
    (0..n)
        .map(|_| {
            let (reader, writer) = UnixStream::pair().expect("socketpair");
            let writer = match rustix::io::fcntl_dupfd_cloexec(&writer, FD_SETSIZE as RawFd) {
                Ok(moved) => UnixStream::from(moved), // the original closes on drop
                Err(_) => writer,
            };
            reader.set_nonblocking(true).unwrap();
            writer.set_nonblocking(true).unwrap();
            (reader, writer)
        })
        .collect()
}

/// The sum of the first `active` readers' descriptors: what a wait that found them returns.
fn ready_fds(pairs: &[(UnixStream, UnixStream)], active: usize) -> usize {
    pairs[..active]
        .iter()
        .map(|(reader, _)| reader.as_raw_fd() as usize)
        .sum()
}

/// `select::Epoll`, level-triggered, each reader registered with its index as data.
fn epoll(pairs: &[(UnixStream, UnixStream)], active: usize) -> Contender<'static> {
    let ep = Epoll::new().unwrap();
    for (i, (reader, _)) in pairs.iter().enumerate() {
        ep.register_with_data(reader, EPOLLIN, i as u64).unwrap();
    }
    let mut events = EpollEvents::with_capacity(pairs.len());
    let wait = move || {
        ep.poll_into(ZERO, &mut events).unwrap();
        events.iter().map(|event| event.data()).sum::<u64>()
    };
    Contender::checked(EPOLL, (0..active).sum::<usize>() as u64, wait)
}

/// `select::Poll` over every reader.
fn poll(pairs: &[(UnixStream, UnixStream)], active: usize) -> Contender<'static> {
    let mut p = Poll::new();
    for (reader, _) in pairs {
        p.register(reader, POLLIN);
    }
    let mut ready: Vec<(RawFd, PollFlags)> = Vec::with_capacity(pairs.len());
    let wait = move || {
        p.poll_into(ZERO, &mut ready).unwrap();
        ready.iter().map(|(fd, _)| *fd as usize).sum::<usize>()
    };
    Contender::checked(POLL, ready_fds(pairs, active), wait)
}

/// The floor for `Poll`: one poll(2) over a `Vec<PollFd>` of the same readers, and a pass
/// collecting the entries that fired into a `Vec` (stopping once all of them are found, as
/// `Poll` does).
fn raw_poll(pairs: &[(UnixStream, UnixStream)], active: usize) -> Contender<'_> {
    let mut fds: Vec<PollFd<'_>> = pairs
        .iter()
        .map(|(reader, _)| PollFd::new(reader, rustix::event::PollFlags::IN))
        .collect();
    let mut fired: Vec<(RawFd, rustix::event::PollFlags)> = Vec::with_capacity(pairs.len());
    let wait = move || {
        let count = rustix::event::poll(&mut fds, Some(&ZERO_TIMESPEC)).unwrap();
        fired.clear();
        fired.extend(
            fds.iter()
                .filter(|fd| !fd.revents().is_empty())
                .map(|fd| (fd.as_fd().as_raw_fd(), fd.revents()))
                .take(count),
        );
        fired.iter().map(|(fd, _)| *fd as usize).sum::<usize>()
    };
    Contender::checked(RAW_POLL, ready_fds(pairs, active), wait)
}

/// `select::select_into(rlist, [], [], 0)` over a `Vec<&UnixStream>` of every reader.
fn select_into(pairs: &[(UnixStream, UnixStream)], active: usize) -> Contender<'_> {
    let rlist: Vec<&UnixStream> = pairs.iter().map(|(reader, _)| reader).collect();
    let none: &[&UnixStream] = &[];
    let mut selected = Selected::new();
    let wait = move || {
        select::select_into(&rlist, none, none, ZERO, &mut selected).unwrap();
        selected.readable().iter().sum::<usize>()
    };
    Contender::checked(SELECT, (0..active).sum::<usize>(), wait)
}

/// The floor for `select_into`: the same `rlist`; before each call an `fd_set` is cleared and
/// filled from it (with the FD_SETSIZE check and the highest fd + 1 for `nfds`), as C code
/// does with FD_ZERO and FD_SET; after it, the list is walked testing each reader's bit
/// (FD_ISSET) and the positions of the ready ones are pushed into a `Vec`. No write or except
/// set is passed (NULL), as a hand-written `select(rlist, [], [], 0)` would.
fn raw_select(pairs: &[(UnixStream, UnixStream)], active: usize) -> Contender<'_> {
    const BITS: usize = libc::c_ulong::BITS as usize;
    let rlist: Vec<&UnixStream> = pairs.iter().map(|(reader, _)| reader).collect();
    let mut set: Vec<libc::c_ulong> = vec![0; FD_SETSIZE / BITS];
    let mut readable: Vec<usize> = Vec::with_capacity(pairs.len());
    let wait = move || {
        set.fill(0);
        let mut nfds = 0;
        for reader in &rlist {
            let fd = reader.as_raw_fd() as usize;
            assert!(fd < FD_SETSIZE, "fd {fd} is out of range for select()");
            set[fd / BITS] |= 1 << (fd % BITS);
            nfds = nfds.max(fd + 1);
        }
        // SAFETY: `FdSetElement` is a `repr(transparent)` `c_ulong` on Linux, so the storage
        // is an array of FD_SETSIZE bits in the kernel's layout, covering `nfds`; every fd
        // in it is a reader borrowed from `pairs`, open for the whole call.
        let ready = unsafe {
            let elements =
                std::slice::from_raw_parts_mut(set.as_mut_ptr().cast::<FdSetElement>(), set.len());
            rustix::event::select(
                nfds as i32,
                Some(elements),
                None,
                None,
                Some(&ZERO_TIMESPEC),
            )
            .unwrap()
        };
        readable.clear();
        if ready > 0 {
            for (index, reader) in rlist.iter().enumerate() {
                let fd = reader.as_raw_fd() as usize;
                if set[fd / BITS] & (1 << (fd % BITS)) != 0 {
                    readable.push(index);
                }
            }
        }
        readable.iter().sum::<usize>()
    };
    Contender::checked(RAW_SELECT, (0..active).sum::<usize>(), wait)
}
