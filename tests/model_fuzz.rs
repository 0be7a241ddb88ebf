//! A model-based fuzzer: random sequences of operations, each result checked against a model
//! of what the contract says, and a failing sequence shrunk to a minimal one.
//!
//! Every selector, `select::Poll`, `select::Epoll` (level-triggered, `EPOLLET`,
//! `EPOLLONESHOT`) and `select()` are driven with register / modify / unregister / wait /
//! close, mixed with what real programs do to descriptors behind a selector's back: close
//! without `unregister`, `try_clone` + close + `unregister` (epoll's dead entries), `dup2`
//! onto a registered number, a closed number reused by a new file or by the same file, a
//! forked child holding every descriptor, numbers above `FD_SETSIZE` and the registry's paged
//! range, and the process running out of descriptors (`RLIMIT_NOFILE`).
//!
//! The oracle for readiness is poll(2) on the same descriptor, right before the wait: what
//! Python's selectors report is poll's bits mapped to `EVENT_READ` / `EVENT_WRITE` (select's
//! grouping for `SelectSelector`) and masked by the registered events. The model is exact
//! wherever the contract is: for every registration whose descriptor still names the file it
//! registered, and for poll and select (which watch numbers) always. A registration whose
//! descriptor was closed or replaced without `unregister` ("tainted") may, on epoll, report
//! what its number's old or new file does, or nothing: the contract only asks that it never
//! crash, never report anything of an unregistered registration, and that `unregister` work.
//!
//! Runs in `cargo test` for a few seconds. `IOSELECTORS_FUZZ_STEPS=N` sets the operations per
//! target (default 20,000), `IOSELECTORS_FUZZ_SEED=S` replays (a failure prints its seed).
//! Its own binary, its tests one at a time: they fork, change the process's descriptor limit
//! and rely on descriptor numbers.
//!
//! Linux and Android only: the oracle reads poll(2)'s bits as Linux sets them (the BSDs and
//! macOS set `POLLHUP` and `POLLOUT` differently), and no other system can run here to check
//! a model of its own. Elsewhere the conformance suite covers the same contract by example.
#![cfg(any(target_os = "linux", target_os = "android"))]

mod common;
use common::*;
use ioselectors::select::FD_SETSIZE;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{self, ErrorKind};
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

/// How often each interesting case came up in a target's runs (printed with its result), so
/// that a fuzzer that stopped reaching a case shows it.
static COVERAGE: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

fn hit(case: &'static str) {
    *COVERAGE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(case)
        .or_default() += 1;
}

const ZERO: Option<Duration> = Some(Duration::ZERO);

// ---- the runner: seeded sequences, shrunk on failure

/// splitmix64: small, fast, and good enough to pick operations.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    /// A number in `0..100`, to pick an operation by weight.
    fn percent(&mut self) -> u64 {
        self.next() % 100
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
}

/// Runs `steps` operations in sequences of `LENGTH`, each generated from the seed and run
/// by `run` on a fresh selector and world; shrinks the first failing sequence and panics
/// with it.
fn fuzz<Op: Clone + Debug>(
    target: &str,
    generate: fn(&mut Rng) -> Op,
    run: impl Fn(&[Op]) -> Result<(), String>,
) {
    const LENGTH: usize = 80;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let steps = env_number("IOSELECTORS_FUZZ_STEPS").unwrap_or(20_000) as usize;
    COVERAGE.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let seed = env_number("IOSELECTORS_FUZZ_SEED").unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        now.as_nanos() as u64
    });
    let mut rng = Rng(seed);
    let cases = (steps + LENGTH - 1) / LENGTH;
    for case in 0..cases {
        let ops: Vec<Op> = (0..LENGTH).map(|_| generate(&mut rng)).collect();
        if let Err(first) = attempt(&run, &ops) {
            // Quiet while shrinking: every attempt that still fails may panic.
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let (ops, message) = shrink(&run, ops, first);
            std::panic::set_hook(hook);
            panic!(
                "{target}: {message}\n  after this minimal sequence of {} operations \
                 (case {case} of seed {seed}; replay with IOSELECTORS_FUZZ_SEED={seed}):\n{ops:#?}",
                ops.len()
            );
        }
    }
    let coverage = std::mem::take(&mut *COVERAGE.lock().unwrap_or_else(|e| e.into_inner()));
    println!(
        "{target}: {} operations, seed {seed}: all as the model says; {coverage:?}",
        cases * LENGTH
    );
}

/// One run, with a panic turned into a failure.
fn attempt<Op>(run: &impl Fn(&[Op]) -> Result<(), String>, ops: &[Op]) -> Result<(), String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(ops))) {
        Ok(result) => result,
        Err(panic) => Err(match panic.downcast_ref::<String>() {
            Some(message) => format!("panicked: {message}"),
            None => match panic.downcast_ref::<&str>() {
                Some(message) => format!("panicked: {message}"),
                None => "panicked".to_string(),
            },
        }),
    }
}

/// Delta debugging: drops ever smaller chunks of the sequence while it still fails.
fn shrink<Op: Clone>(
    run: &impl Fn(&[Op]) -> Result<(), String>,
    mut ops: Vec<Op>,
    mut message: String,
) -> (Vec<Op>, String) {
    let mut chunk = ops.len() / 2;
    let mut runs = 0;
    while chunk >= 1 && runs < 5_000 {
        let mut start = 0;
        let mut removed_any = false;
        while start < ops.len() && runs < 5_000 {
            let end = (start + chunk).min(ops.len());
            let candidate: Vec<Op> = ops[..start].iter().chain(&ops[end..]).cloned().collect();
            runs += 1;
            match attempt(run, &candidate) {
                Err(still) => {
                    ops = candidate;
                    message = still;
                    removed_any = true;
                }
                Ok(()) => start += chunk,
            }
        }
        if !removed_any {
            chunk /= 2;
        }
    }
    (ops, message)
}

/// `Err(message)` unless `condition`.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}

// ---- the world: descriptors, and what programs do to them

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Socket,
    PipeReader,
    PipeWriter,
    File,
}

/// Which open file a descriptor names: every file this world opens gets a number of its
/// own, and its duplicates share it.
type FileId = u64;

struct Descriptor {
    fd: OwnedFd,
    file: FileId,
    kind: Kind,
}

/// What a program does to its descriptors, behind the selector's back or not. The numbers
/// pick a descriptor (or a recently closed number) by position, at the time the operation
/// runs, so that a shrunk sequence still means something.
#[derive(Clone, Debug)]
enum Move {
    SocketPair,
    Pipe,
    RegularFile,
    /// One byte written to it (the peer, or the pipe's reader, becomes readable).
    Write(u8),
    /// What is there to read, read.
    Read(u8),
    /// Written to until it would block: no longer writable.
    Fill(u8),
    /// Closed (if registered: without `unregister`).
    Close(u8),
    /// A duplicate at a new number (`try_clone`).
    Dup(u8),
    /// `dup2(from, onto)`: the number `onto` names `from`'s file now.
    Dup2 {
        from: u8,
        onto: u8,
    },
    /// A recently closed number names a new socket, or a duplicate of a live descriptor.
    Reuse {
        number: u8,
        of: Option<u8>,
    },
    /// A duplicate far up: in the hundreds (above a small process's descriptor table, which
    /// a forked child's is), above `FD_SETSIZE`, or above the registry's paged range.
    Far {
        fd: u8,
        tier: u8,
    },
    /// A child process that holds a copy of every descriptor, until killed.
    Fork,
    KillChild,
    /// The descriptor limit lowered so that the next open fails with `EMFILE`.
    Exhaust,
    Release,
}

fn generate_move(rng: &mut Rng) -> Move {
    let b = rng.byte();
    match rng.percent() {
        0..=9 => Move::SocketPair,
        10..=13 => Move::Pipe,
        14..=15 => Move::RegularFile,
        16..=35 => Move::Write(b),
        36..=45 => Move::Read(b),
        46..=48 => Move::Fill(b),
        49..=60 => Move::Close(b),
        61..=67 => Move::Dup(b),
        68..=74 => Move::Dup2 {
            from: b,
            onto: rng.byte(),
        },
        75..=84 => Move::Reuse {
            number: b,
            of: (rng.percent() < 40).then(|| rng.byte()),
        },
        85..=87 => Move::Far {
            fd: b,
            tier: rng.byte() % 4,
        },
        88..=91 => Move::Fork,
        92..=94 => Move::KillChild,
        95..=97 => Move::Exhaust,
        _ => Move::Release,
    }
}

struct World {
    fds: BTreeMap<RawFd, Descriptor>,
    /// The file that becomes readable when one is written to (socket pairs both ways, a
    /// pipe's writer to its reader).
    peers: BTreeMap<FileId, FileId>,
    /// Files that were written to since the last `take_written`.
    written: Vec<FileId>,
    /// Numbers this world closed (most recent last), which a registration may still name.
    closed: Vec<RawFd>,
    next_file: FileId,
    /// Forked children, and the files each holds open.
    children: Vec<(libc::pid_t, Vec<FileId>)>,
    /// The descriptor limit to restore, while it is lowered.
    exhausted: Option<libc::rlimit>,
    /// The soft limit while exhausted.
    limit: Option<usize>,
}

impl World {
    fn new() -> World {
        World {
            fds: BTreeMap::new(),
            peers: BTreeMap::new(),
            written: Vec::new(),
            closed: Vec::new(),
            next_file: 0,
            children: Vec::new(),
            exhausted: None,
            limit: None,
        }
    }

    fn file(&mut self) -> FileId {
        self.next_file += 1;
        self.next_file
    }

    fn insert(&mut self, fd: OwnedFd, file: FileId, kind: Kind) -> RawFd {
        let number = fd.as_raw_fd();
        self.closed.retain(|&closed| closed != number);
        self.fds.insert(number, Descriptor { fd, file, kind });
        number
    }

    /// The descriptor at position `i` (modulo how many there are).
    fn pick(&self, i: u8) -> Option<RawFd> {
        let len = self.fds.len();
        (len > 0).then(|| *self.fds.keys().nth(i as usize % len).unwrap())
    }

    /// A number: mostly a live descriptor, sometimes a recently closed one.
    fn pick_number(&self, i: u8) -> Option<RawFd> {
        if i % 4 == 0 && !self.closed.is_empty() {
            let recent = &self.closed[self.closed.len().saturating_sub(6)..];
            return Some(recent[(i as usize / 4) % recent.len()]);
        }
        self.pick(i)
    }

    fn borrow(&self, number: RawFd) -> BorrowedFd<'_> {
        self.fds[&number].fd.as_fd()
    }

    fn close(&mut self, number: RawFd) {
        if self.fds.remove(&number).is_some() {
            self.closed.push(number);
        }
    }

    /// Applies a move; returns the numbers that now name another file, or nothing.
    fn apply(&mut self, m: &Move) -> Vec<RawFd> {
        match *m {
            Move::SocketPair => {
                if let Ok((a, b)) = std::os::unix::net::UnixStream::pair() {
                    for end in [&a, &b] {
                        end.set_nonblocking(true).unwrap();
                    }
                    let (fa, fb) = (self.file(), self.file());
                    self.insert(a.into(), fa, Kind::Socket);
                    self.insert(b.into(), fb, Kind::Socket);
                    self.peers.insert(fa, fb);
                    self.peers.insert(fb, fa);
                }
                Vec::new()
            }
            Move::Pipe => {
                if let Ok((r, w)) = rustix::pipe::pipe() {
                    for end in [&r, &w] {
                        rustix::io::ioctl_fionbio(end, true).unwrap();
                        rustix::io::fcntl_setfd(end, rustix::io::FdFlags::CLOEXEC).unwrap();
                    }
                    let (fr, fw) = (self.file(), self.file());
                    self.insert(r, fr, Kind::PipeReader);
                    self.insert(w, fw, Kind::PipeWriter);
                    self.peers.insert(fw, fr);
                }
                Vec::new()
            }
            Move::RegularFile => {
                if let Ok(file) = tempfile::tempfile() {
                    let id = self.file();
                    self.insert(file.into(), id, Kind::File);
                }
                Vec::new()
            }
            Move::Write(i) => {
                if let Some(n) = self.pick(i) {
                    if let Ok(1) = rustix::io::write(&self.fds[&n].fd, b"x") {
                        if let Some(&peer) = self.peers.get(&self.fds[&n].file) {
                            self.written.push(peer);
                        }
                    }
                }
                Vec::new()
            }
            Move::Read(i) => {
                if let Some(n) = self.pick(i) {
                    let mut buffer = [0; 4096];
                    while matches!(rustix::io::read(&self.fds[&n].fd, &mut buffer), Ok(1..)) {
                        if self.fds[&n].kind == Kind::File {
                            break;
                        }
                    }
                }
                Vec::new()
            }
            Move::Fill(i) => {
                if let Some(n) = self.pick(i) {
                    if self.fds[&n].kind != Kind::File {
                        let chunk = [0u8; 16384];
                        while matches!(rustix::io::write(&self.fds[&n].fd, &chunk), Ok(1..)) {}
                    }
                }
                Vec::new()
            }
            Move::Close(i) => match self.pick(i) {
                Some(n) => {
                    self.close(n);
                    vec![n]
                }
                None => Vec::new(),
            },
            Move::Dup(i) => {
                if let Some(n) = self.pick(i) {
                    if let Ok(copy) = self.fds[&n].fd.try_clone() {
                        let (file, kind) = (self.fds[&n].file, self.fds[&n].kind);
                        self.insert(copy, file, kind);
                    }
                }
                Vec::new()
            }
            Move::Dup2 { from, onto } => {
                let (Some(from), Some(onto)) = (self.pick(from), self.pick(onto)) else {
                    return Vec::new();
                };
                if from == onto {
                    return Vec::new();
                }
                // SAFETY: dup2 onto a number this world owns; on success dup2 closed the old
                // descriptor, whose `OwnedFd` is then forgotten.
                if unsafe { libc::dup2(from, onto) } != onto {
                    return Vec::new(); // out of range while the limit is lowered
                }
                let old = self.fds.remove(&onto).unwrap();
                std::mem::forget(old.fd);
                let (file, kind) = (self.fds[&from].file, self.fds[&from].kind);
                // SAFETY: `onto` is now a descriptor of its own, owned by nothing else.
                let fd = unsafe { OwnedFd::from_raw_fd(onto) };
                self.fds.insert(onto, Descriptor { fd, file, kind });
                vec![onto]
            }
            Move::Reuse { number, of } => {
                let Some(&n) = self
                    .closed
                    .get(self.closed.len().saturating_sub(1 + number as usize % 4))
                else {
                    return Vec::new();
                };
                let fresh = match of.and_then(|i| self.pick(i)) {
                    Some(live) => {
                        let (file, kind) = (self.fds[&live].file, self.fds[&live].kind);
                        dup_min(self.fds[&live].fd.as_fd(), n).map(|fd| (fd, file, kind))
                    }
                    None => std::os::unix::net::UnixStream::pair()
                        .ok()
                        .and_then(|(a, b)| {
                            a.set_nonblocking(true).ok()?;
                            b.set_nonblocking(true).ok()?;
                            let fb = self.file();
                            self.insert(b.into(), fb, Kind::Socket);
                            let fa = self.file();
                            self.peers.insert(fa, fb);
                            self.peers.insert(fb, fa);
                            dup_min(a.as_fd(), n).map(|fd| (fd, fa, Kind::Socket))
                        }),
                };
                match fresh {
                    Some((fd, file, kind)) => vec![self.insert(fd, file, kind)],
                    None => Vec::new(),
                }
            }
            Move::Far { fd, tier } => {
                if let Some(n) = self.pick(fd) {
                    let min = [200, 700, 1_030, 16_400][tier as usize % 4];
                    if let Some(copy) = dup_min(self.fds[&n].fd.as_fd(), min) {
                        let (file, kind) = (self.fds[&n].file, self.fds[&n].kind);
                        return vec![self.insert(copy, file, kind)];
                    }
                }
                Vec::new()
            }
            Move::Fork => {
                if self.children.len() < 3 {
                    // SAFETY: the child only calls pause(), which is async-signal-safe, until
                    // it is killed; meanwhile it holds a copy of every descriptor.
                    match unsafe { libc::fork() } {
                        -1 => {}
                        0 => loop {
                            // SAFETY: as above.
                            unsafe { libc::pause() };
                        },
                        pid => {
                            let held = self.fds.values().map(|d| d.file).collect();
                            self.children.push((pid, held));
                        }
                    }
                }
                Vec::new()
            }
            Move::KillChild => {
                if let Some((pid, _)) = self.children.pop() {
                    kill(pid);
                }
                Vec::new()
            }
            Move::Exhaust => {
                if self.exhausted.is_none() {
                    let mut old = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    // SAFETY: getrlimit writes the struct we pass; dup and close act on fd 0
                    // and the new descriptor only; setrlimit reads the struct we pass.
                    unsafe {
                        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
                        let lowest_free = libc::dup(0);
                        if lowest_free >= 0 {
                            libc::close(lowest_free);
                            let new = libc::rlimit {
                                rlim_cur: lowest_free as libc::rlim_t,
                                rlim_max: old.rlim_max,
                            };
                            if libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 {
                                self.exhausted = Some(old);
                                self.limit = Some(lowest_free as usize);
                            }
                        }
                    }
                }
                Vec::new()
            }
            Move::Release => {
                self.release();
                Vec::new()
            }
        }
    }

    /// Whether some descriptor, here or in a child, still holds the file open.
    fn alive(&self, file: FileId) -> bool {
        self.fds.values().any(|d| d.file == file)
            || self.children.iter().any(|(_, held)| held.contains(&file))
    }

    /// A number of ours that names `file` now, to ask poll(2) about it.
    fn number_of(&self, file: FileId) -> Option<RawFd> {
        self.fds
            .iter()
            .find(|(_, d)| d.file == file)
            .map(|(&n, _)| n)
    }

    fn release(&mut self) {
        if let Some(old) = self.exhausted.take() {
            // SAFETY: setrlimit reads the struct we pass.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
            self.limit = None;
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.release();
        for (pid, _) in self.children.drain(..) {
            kill(pid);
        }
    }
}

fn kill(pid: libc::pid_t) {
    // SAFETY: kill and waitpid on our own child; the status is written to a local.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
}

/// A duplicate of `fd` at the lowest free number at or above `min`.
fn dup_min(fd: BorrowedFd<'_>, min: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor, which the OwnedFd then owns.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    // SAFETY: as above.
    (new >= 0).then(|| unsafe { OwnedFd::from_raw_fd(new) })
}

/// poll(2) on one number, at once: the oracle.
fn poll_number(number: RawFd, events: i16) -> i16 {
    let mut entry = libc::pollfd {
        fd: number,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the call only; poll looks the number up, no I/O.
    let result = unsafe { libc::poll(&mut entry, 1, 0) };
    assert!(result >= 0, "poll: {}", io::Error::last_os_error());
    entry.revents
}

/// CPython's reading of poll's (and epoll's) bits: anything but plain IN is writable, and
/// anything but plain OUT readable.
fn python_events(revents: i16) -> Events {
    let mut events = Events::empty();
    if revents & !libc::POLLIN != 0 {
        events |= EVENT_WRITE;
    }
    if revents & !libc::POLLOUT != 0 {
        events |= EVENT_READ;
    }
    events
}

/// select(2)'s grouping of the same bits.
fn select_events(revents: i16) -> Events {
    let mut events = Events::empty();
    if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
        events |= EVENT_READ;
    }
    if revents & (libc::POLLOUT | libc::POLLERR) != 0 {
        events |= EVENT_WRITE;
    }
    events
}

/// Where `select()` is served by poll(2) (illumos and Solaris; `--cfg
/// ioselectors_select_over_poll`), poll(2) refuses more descriptors than `RLIMIT_NOFILE`
/// allows (`EINVAL`), which select(2) does not: while the limit is lowered, that may happen.
fn poll_refuses(world: &World, descriptors: usize, errno: Option<i32>) -> bool {
    cfg!(ioselectors_select_over_poll)
        && errno == Some(libc::EINVAL)
        && world.limit.is_some_and(|limit| descriptors > limit)
}

/// Whether `poll_refuses` may say yes (a child cannot say which error it got).
fn poll_may_refuse(world: &World) -> bool {
    cfg!(ioselectors_select_over_poll) && world.limit.is_some()
}

/// How many different numbers three lists hold.
fn distinct(lists: &[Vec<RawFd>; 3]) -> usize {
    lists
        .iter()
        .flatten()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

fn poll_mask(events: Events) -> i16 {
    let mut mask = 0;
    if events.contains(EVENT_READ) {
        mask |= libc::POLLIN;
    }
    if events.contains(EVENT_WRITE) {
        mask |= libc::POLLOUT;
    }
    mask
}

/// An events mask from a byte: mostly valid, sometimes empty or with unknown bits.
fn events_from(b: u8) -> Events {
    Events::from_bits_retain([1, 2, 3, 1, 2, 3, 1, 3, 0, 4, 7][b as usize % 11])
}

fn cause(err: &io::Error) -> Option<&SelectorError> {
    err.get_ref().and_then(|inner| inner.downcast_ref())
}

// ---- the selectors

/// How a selector sees descriptors, as far as the model needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    /// epoll (or `polling` over it): watches open files; refuses regular files.
    Epoll,
    /// poll(2): watches numbers.
    Poll,
    /// select(2): watches numbers below `FD_SETSIZE`; a closed one fails the call.
    Select,
    /// `polling` over poll(2) (`--cfg polling_test_poll_backend`): watches numbers, but
    /// says nothing of a closed one.
    PollingOverPoll,
}

#[derive(Clone, Debug)]
enum SelectorOp {
    Move(Move),
    Register {
        fd: u8,
        events: u8,
    },
    Modify {
        target: u8,
        events: u8,
    },
    Unregister {
        target: u8,
    },
    /// `try_clone`, close, `unregister`: the registration is gone, its file lives on.
    CloneCloseUnregister {
        fd: u8,
    },
    Select,
    /// The same wait in a forked child, whose descriptor table is sized to what is open: a
    /// closed number may be above it, where select(2) does not see it.
    SelectInChild,
    GetKey {
        target: u8,
    },
    GetMap,
    Negative {
        which: u8,
    },
    Close,
}

fn generate_selector_op(rng: &mut Rng) -> SelectorOp {
    let (a, b) = (rng.byte(), rng.byte());
    match rng.percent() {
        0..=39 => SelectorOp::Move(generate_move(rng)),
        40..=54 => SelectorOp::Register { fd: a, events: b },
        55..=62 => SelectorOp::Modify {
            target: a,
            events: b,
        },
        63..=68 => SelectorOp::Unregister { target: a },
        69..=73 => SelectorOp::CloneCloseUnregister { fd: a },
        74..=90 => SelectorOp::Select,
        91..=93 => SelectorOp::SelectInChild,
        94..=95 => SelectorOp::GetKey { target: a },
        96..=97 => SelectorOp::GetMap,
        98 => SelectorOp::Negative { which: a },
        _ if a < 40 => SelectorOp::Close,
        _ => SelectorOp::Select,
    }
}

/// What the model knows of one registration.
#[derive(Clone, Debug)]
struct Registration {
    events: Events,
    data: u32,
    /// Its number was closed or made to name another file since, without `unregister`.
    tainted: bool,
}

struct SelectorModel {
    flavor: Flavor,
    keys: BTreeMap<RawFd, Registration>,
    closed: bool,
    next_data: u32,
    /// The selector's `as_fd()` (epoll): readable exactly when a wait would report
    /// something, and the same number for the selector's whole life.
    watched: Option<RawFd>,
}

impl SelectorModel {
    /// A number to look up: a registered one mostly, else any.
    fn target(&self, world: &World, i: u8) -> Option<RawFd> {
        if i % 4 != 0 && !self.keys.is_empty() {
            return self.keys.keys().nth(i as usize % self.keys.len()).copied();
        }
        world.pick_number(i)
    }

    fn key(&self, fd: RawFd) -> Option<SelectorKey<u32>> {
        self.keys.get(&fd).map(|r| SelectorKey {
            fd,
            events: r.events,
            data: r.data,
        })
    }
}

fn expect_closed<T: Debug>(result: io::Result<T>, what: &str) -> Result<(), String> {
    match result {
        Err(err) if matches!(cause(&err), Some(SelectorError::Closed { .. })) => Ok(()),
        other => Err(format!("{what} after close(): {other:?}")),
    }
}

fn run_selector<S: BaseSelector<u32>>(
    new: &dyn Fn() -> io::Result<S>,
    flavor: Flavor,
    watch: Option<fn(&S) -> RawFd>,
    ops: &[SelectorOp],
) -> Result<(), String> {
    let mut world = World::new();
    let mut s = new().map_err(|err| format!("new: {err}"))?;
    let mut model = SelectorModel {
        flavor,
        keys: BTreeMap::new(),
        closed: false,
        next_data: 0,
        watched: watch.map(|watch| watch(&s)),
    };
    for (step, op) in ops.iter().enumerate() {
        selector_step(&mut s, &mut model, &mut world, op)
            .map_err(|message| format!("step {step} ({op:?}): {message}"))?;
        if let (Some(watch), Some(watched)) = (watch, model.watched) {
            ensure!(watch(&s) == watched, "step {step}: as_fd() moved");
        }
    }
    Ok(())
}

fn selector_step<S: BaseSelector<u32>>(
    s: &mut S,
    model: &mut SelectorModel,
    world: &mut World,
    op: &SelectorOp,
) -> Result<(), String> {
    match *op {
        SelectorOp::Move(ref m) => {
            for number in world.apply(m) {
                if let Some(r) = model.keys.get_mut(&number) {
                    r.tainted = true;
                }
            }
        }
        SelectorOp::Register { fd, events } => {
            let Some(n) = world.pick(fd) else {
                return Ok(());
            };
            let events = events_from(events);
            model.next_data += 1;
            let data = model.next_data;
            let result = s.register(&world.borrow(n), events, data).cloned();
            if model.closed {
                return expect_closed(result, "register");
            }
            let descriptor = &world.fds[&n];
            let expected: Result<(), (ErrorKind, Option<SelectorError>, Option<i32>)> =
                if events.is_empty() || !Events::all().contains(events) {
                    Err((
                        ErrorKind::InvalidInput,
                        Some(SelectorError::InvalidEvents { fd: n, events }),
                        None,
                    ))
                } else if model.flavor == Flavor::Select && n as usize >= FD_SETSIZE {
                    Err((ErrorKind::InvalidInput, None, None))
                } else if model.keys.contains_key(&n) {
                    Err((
                        ErrorKind::AlreadyExists,
                        Some(SelectorError::AlreadyRegistered { fd: n }),
                        None,
                    ))
                } else if model.flavor == Flavor::Epoll && descriptor.kind == Kind::File {
                    Err((ErrorKind::PermissionDenied, None, Some(libc::EPERM)))
                } else {
                    Ok(())
                };
            match (expected, result) {
                (Ok(()), Ok(key)) => {
                    hit("register");
                    ensure!(
                        key == SelectorKey {
                            fd: n,
                            events,
                            data
                        },
                        "register returned {key:?}"
                    );
                    model.keys.insert(
                        n,
                        Registration {
                            events,
                            data,
                            tainted: false,
                        },
                    );
                }
                (Err((kind, rule, errno)), Err(err)) => {
                    ensure!(err.kind() == kind, "register: {err:?}, expected {kind:?}");
                    if let Some(rule) = rule {
                        ensure!(cause(&err) == Some(&rule), "register: {err:?}");
                    }
                    if let Some(errno) = errno {
                        ensure!(err.raw_os_error() == Some(errno), "register: {err:?}");
                    }
                }
                (expected, result) => {
                    return Err(format!("register: {result:?}, expected {expected:?}"));
                }
            }
        }
        SelectorOp::Modify { target, events } => {
            let Some(n) = model.target(world, target) else {
                return Ok(());
            };
            let events = events_from(events);
            model.next_data += 1;
            let data = model.next_data;
            let result = s.modify(n, events, data).cloned();
            if model.closed {
                return expect_closed(result, "modify");
            }
            let valid = !events.is_empty() && Events::all().contains(events);
            match (model.keys.get_mut(&n), result) {
                (_, Err(err)) if !valid => ensure!(
                    cause(&err) == Some(&SelectorError::InvalidEvents { fd: n, events }),
                    "modify with {events:?}: {err:?}"
                ),
                (None, Err(err)) => ensure!(
                    cause(&err) == Some(&SelectorError::NotRegistered { fd: n }),
                    "modify of an unregistered fd: {err:?}"
                ),
                (Some(r), Ok(key)) if valid => {
                    ensure!(
                        key == SelectorKey {
                            fd: n,
                            events,
                            data
                        },
                        "modify returned {key:?}"
                    );
                    r.events = events;
                    r.data = data;
                }
                // epoll looks the number up: a tainted registration's may be closed (EBADF)
                // or name a file it does not watch (ENOENT, or EINVAL for an epoll). The
                // registration stays as it was.
                (Some(r), Err(err))
                    if matches!(model.flavor, Flavor::Epoll | Flavor::PollingOverPoll)
                        && r.tainted
                        && events != r.events
                        && err.raw_os_error().is_some() =>
                {
                    hit("modify: tainted, refused by the kernel")
                }
                (r, result) => {
                    return Err(format!("modify: {result:?}; model: {r:?}"));
                }
            }
        }
        SelectorOp::Unregister { target } => {
            let Some(n) = model.target(world, target) else {
                return Ok(());
            };
            let result = s.unregister(n);
            if model.closed {
                return expect_closed(result, "unregister");
            }
            let expected = model.key(n);
            match (expected, result) {
                (Some(expected), Ok(key)) => {
                    ensure!(key == expected, "unregister gave {key:?}, not {expected:?}");
                    model.keys.remove(&n);
                }
                (None, Err(err)) => ensure!(
                    cause(&err) == Some(&SelectorError::NotRegistered { fd: n }),
                    "unregister of an unregistered fd: {err:?}"
                ),
                (expected, result) => {
                    return Err(format!("unregister: {result:?}, expected {expected:?}"))
                }
            }
        }
        SelectorOp::CloneCloseUnregister { fd } => {
            let Some(n) = world.pick(fd) else {
                return Ok(());
            };
            if model.closed || !model.keys.contains_key(&n) {
                return Ok(());
            }
            selector_step(s, model, world, &SelectorOp::Move(Move::Dup(fd)))?;
            world.close(n);
            model.keys.get_mut(&n).unwrap().tainted = true;
            let expected = model.key(n).unwrap();
            hit("try_clone + close + unregister");
            let key = s
                .unregister(n)
                .map_err(|err| format!("unregister after close: {err:?}"))?;
            ensure!(key == expected, "unregister gave {key:?}");
            model.keys.remove(&n);
        }
        SelectorOp::Select => return check_select(s, model, world),
        SelectorOp::SelectInChild => {
            // Only the verdict on closed numbers crosses the process boundary: what the
            // parent checks in full, the child must agree with where select(2) differs.
            let closed_number = model
                .keys
                .keys()
                .any(|&n| poll_number(n, 0) & libc::POLLNVAL != 0);
            if model.closed
                || model.flavor != Flavor::Select
                || !closed_number
                || poll_may_refuse(world)
            {
                return Ok(());
            }
            let mut ready = Vec::with_capacity(model.keys.len());
            hit("select in a child, a closed fd registered");
            let code = in_child(|| match s.select_into(ZERO, &mut ready) {
                Err(err) if err.raw_os_error() == Some(libc::EBADF) => 0,
                Err(_) => 1,
                Ok(_) => 2,
            });
            ensure!(
                code == 0,
                "in a forked child, select with a closed registered fd gave {}",
                ["EBADF", "another error", "no error"][code.min(2) as usize]
            );
        }
        SelectorOp::GetKey { target } => {
            let Some(n) = model.target(world, target) else {
                return Ok(());
            };
            let result = s.get_key(n).cloned();
            if model.closed {
                return expect_closed(result, "get_key");
            }
            match (model.key(n), result) {
                (Some(expected), Ok(key)) => ensure!(key == expected, "get_key gave {key:?}"),
                (None, Err(err)) => ensure!(
                    cause(&err) == Some(&SelectorError::NotRegistered { fd: n }),
                    "get_key: {err:?}"
                ),
                (expected, result) => {
                    return Err(format!("get_key: {result:?}, expected {expected:?}"))
                }
            }
        }
        SelectorOp::GetMap => {
            if model.closed {
                return expect_closed(s.get_map().map(|map| map.len()), "get_map");
            }
            let map = s.get_map().map_err(|err| format!("get_map: {err:?}"))?;
            ensure!(
                map.len() == model.keys.len(),
                "get_map has {} keys",
                map.len()
            );
            let mut fds: Vec<RawFd> = map.keys().collect();
            fds.sort_unstable();
            ensure!(
                fds.iter().eq(model.keys.keys()),
                "get_map has {fds:?}, model {:?}",
                model.keys.keys()
            );
            for &n in model.keys.keys() {
                ensure!(map.get(n).cloned() == model.key(n), "get_map.get({n})");
            }
        }
        SelectorOp::Negative { which } => {
            let n = -1 - (which % 2) as RawFd;
            let err = match which % 3 {
                0 => s.unregister(n).map(drop),
                1 => s.modify(n, EVENT_READ, 0).map(drop),
                _ => s.get_key(n).map(drop),
            }
            .err();
            let expected = if model.closed {
                matches!(
                    err.as_ref().and_then(cause),
                    Some(SelectorError::Closed { .. })
                )
            } else {
                err.as_ref().and_then(cause) == Some(&SelectorError::InvalidFd { fd: n })
            };
            ensure!(expected, "a negative number: {err:?}");
        }
        SelectorOp::Close => {
            s.close();
            model.closed = true;
            model.keys.clear();
        }
    }
    Ok(())
}

/// What one registration is expected to report now.
#[derive(Debug)]
enum Expect {
    /// Exactly these events (empty: not reported).
    Exactly(Events),
    /// Any of its events, or nothing.
    Any,
}

fn check_select<S: BaseSelector<u32>>(
    s: &mut S,
    model: &SelectorModel,
    world: &World,
) -> Result<(), String> {
    // The oracle, right before the wait: nothing changes readiness in between.
    let mut expected = BTreeMap::new();
    let mut closed_number = false;
    for (&n, r) in &model.keys {
        let revents = poll_number(n, poll_mask(r.events));
        closed_number |= revents & libc::POLLNVAL != 0;
        let expect = match model.flavor {
            Flavor::Epoll | Flavor::PollingOverPoll if r.tainted => Expect::Any,
            Flavor::Epoll | Flavor::Poll | Flavor::PollingOverPoll => {
                Expect::Exactly(python_events(revents) & r.events)
            }
            Flavor::Select => Expect::Exactly(select_events(revents) & r.events),
        };
        expected.insert(n, expect);
    }
    let result = s.select(ZERO);
    if model.closed {
        return expect_closed(result, "select");
    }
    let live_ready = expected
        .values()
        .any(|e| matches!(e, Expect::Exactly(events) if !events.is_empty()));
    match result {
        Err(err) => {
            let errno = err.raw_os_error();
            hit(match errno {
                Some(libc::EBADF) => "select: EBADF",
                Some(libc::EMFILE | libc::ENFILE) => "select: out of descriptors",
                _ => "select: another error",
            });
            let allowed = match model.flavor {
                Flavor::Select => {
                    (closed_number && errno == Some(libc::EBADF))
                        || poll_refuses(world, model.keys.len(), errno)
                }
                // A dead entry that cannot be purged, out of descriptors.
                Flavor::Epoll => {
                    world.limit.is_some()
                        && !live_ready
                        && matches!(errno, Some(libc::EMFILE | libc::ENFILE))
                }
                // poll(2) refuses more entries than RLIMIT_NOFILE (`polling` adds its own).
                Flavor::Poll | Flavor::PollingOverPoll => {
                    let own = usize::from(model.flavor == Flavor::PollingOverPoll) * 2;
                    world
                        .limit
                        .is_some_and(|limit| model.keys.len() + own > limit)
                        && errno == Some(libc::EINVAL)
                }
            };
            ensure!(allowed, "select: {err:?}; expected {expected:?}");
        }
        Ok(ready) => {
            ensure!(
                !(model.flavor == Flavor::Select && closed_number),
                "select reported {ready:?} with a closed registered fd (expected EBADF)"
            );
            let mut seen = std::collections::BTreeSet::new();
            for (key, events) in &ready {
                ensure!(
                    seen.insert(key.fd),
                    "fd {} reported twice: {ready:?}",
                    key.fd
                );
                let Some(want) = model.key(key.fd) else {
                    return Err(format!("reported {key:?}, which is not registered"));
                };
                ensure!(*key == want, "reported {key:?}, registered {want:?}");
                ensure!(
                    !events.is_empty() && want.events.contains(*events),
                    "reported {events:?} for {key:?}"
                );
            }
            // The watcher's view: readable after a wait only if the wait reported something,
            // and readable whenever an untainted registration is ready. (A tainted one's
            // event may come from the set a purge has just replaced.)
            if let Some(watched) = model.watched {
                let readable = poll_number(watched, libc::POLLIN) & libc::POLLIN != 0;
                ensure!(
                    !readable || !ready.is_empty(),
                    "as_fd() is readable, but select reported nothing"
                );
                ensure!(
                    readable || !live_ready,
                    "as_fd() is not readable, but select reported {ready:?}"
                );
            }
            for (n, expect) in &expected {
                let got = ready
                    .iter()
                    .find(|(key, _)| key.fd == *n)
                    .map_or(Events::empty(), |(_, events)| *events);
                if !got.is_empty() {
                    hit(match expect {
                        Expect::Exactly(_) => "select: ready, as poll(2) says",
                        Expect::Any => "select: ready, tainted",
                    });
                }
                if let Expect::Exactly(events) = expect {
                    ensure!(
                        got == *events,
                        "fd {n}: reported {got:?}, poll(2) says {events:?} (all: {ready:?})"
                    );
                }
            }
        }
    }
    Ok(())
}

fn fuzz_selector<S: BaseSelector<u32>>(
    target: &str,
    flavor: Flavor,
    watch: Option<fn(&S) -> RawFd>,
    new: impl Fn() -> io::Result<S>,
) {
    raise_nofile_limit(20_000);
    fuzz(target, generate_selector_op, |ops| {
        run_selector(&new, flavor, watch, ops)
    });
}

/// `as_fd()` of an epoll selector, as a watcher sees it.
fn epoll_fd<S: AsRawFd>(s: &S) -> RawFd {
    s.as_raw_fd()
}

#[test]
fn default_selector() {
    fuzz_selector(
        "DefaultSelector",
        Flavor::Epoll,
        Some(epoll_fd),
        DefaultSelector::<u32>::new,
    );
}

#[test]
fn epoll_selector() {
    fuzz_selector(
        "EpollSelector",
        Flavor::Epoll,
        Some(epoll_fd),
        EpollSelector::<u32>::new,
    );
}

#[test]
fn poll_selector() {
    fuzz_selector("PollSelector", Flavor::Poll, None, PollSelector::<u32>::new);
}

#[test]
fn select_selector() {
    fuzz_selector(
        "SelectSelector",
        Flavor::Select,
        None,
        SelectSelector::<u32>::new,
    );
}

// `polling` is epoll here (or poll(2), with `--cfg polling_test_poll_backend`).
#[test]
fn polling_selector() {
    let flavor = if cfg!(polling_test_poll_backend) {
        Flavor::PollingOverPoll
    } else {
        Flavor::Epoll
    };
    // Not watched: `polling` keeps a timerfd of its own in its epoll.
    fuzz_selector("PollingSelector", flavor, None, PollingSelector::<u32>::new);
    fuzz_selector(
        "PollingSelector (emulated level)",
        flavor,
        None,
        PollingSelector::<u32>::with_emulated_level,
    );
}

// ---- select::Poll

#[derive(Clone, Debug)]
enum PollOp {
    Move(Move),
    Register { fd: u8, mask: u8 },
    Modify { target: u8, mask: u8 },
    Unregister { target: u8 },
    Poll,
    Negative { which: u8 },
}

fn generate_poll_op(rng: &mut Rng) -> PollOp {
    let (a, b) = (rng.byte(), rng.byte());
    match rng.percent() {
        0..=44 => PollOp::Move(generate_move(rng)),
        45..=59 => PollOp::Register { fd: a, mask: b },
        60..=67 => PollOp::Modify { target: a, mask: b },
        68..=75 => PollOp::Unregister { target: a },
        76..=98 => PollOp::Poll,
        _ => PollOp::Negative { which: a },
    }
}

fn poll_flags_from(b: u8) -> i16 {
    [
        libc::POLLIN,
        libc::POLLOUT,
        libc::POLLIN | libc::POLLOUT,
        libc::POLLIN | libc::POLLPRI,
        0,
        libc::POLLIN | libc::POLLOUT | libc::POLLPRI,
    ][b as usize % 6]
}

fn run_poll(ops: &[PollOp]) -> Result<(), String> {
    use ioselectors::select::{Poll, PollFlags};
    let mut world = World::new();
    let mut p = Poll::new();
    // Registration order, as Python's poll object keeps it.
    let mut model: Vec<(RawFd, i16)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let target = |world: &World, model: &[(RawFd, i16)], i: u8| {
            if i % 4 != 0 && !model.is_empty() {
                Some(model[i as usize % model.len()].0)
            } else {
                world.pick_number(i)
            }
        };
        let checked: Result<(), String> = (|| {
            match *op {
                PollOp::Move(ref m) => {
                    world.apply(m);
                }
                PollOp::Register { fd, mask } => {
                    let Some(n) = world.pick(fd) else {
                        return Ok(());
                    };
                    let mask = poll_flags_from(mask);
                    p.register(&world.borrow(n), PollFlags::from_bits_retain(mask as u16));
                    match model.iter_mut().find(|(fd, _)| *fd == n) {
                        Some(entry) => entry.1 = mask,
                        None => model.push((n, mask)),
                    }
                }
                PollOp::Modify { target: t, mask } => {
                    let Some(n) = target(&world, &model, t) else {
                        return Ok(());
                    };
                    let mask = poll_flags_from(mask);
                    let result = p.modify(n, PollFlags::from_bits_retain(mask as u16));
                    match (model.iter_mut().find(|(fd, _)| *fd == n), result) {
                        (Some(entry), Ok(())) => entry.1 = mask,
                        (None, Err(err)) => ensure!(
                            cause(&err) == Some(&SelectorError::NotRegistered { fd: n }),
                            "modify of an unregistered fd: {err:?}"
                        ),
                        (entry, result) => {
                            return Err(format!("modify: {result:?}; model: {entry:?}"))
                        }
                    }
                }
                PollOp::Unregister { target: t } => {
                    let Some(n) = target(&world, &model, t) else {
                        return Ok(());
                    };
                    let result = p.unregister(n);
                    match (model.iter().position(|(fd, _)| *fd == n), result) {
                        (Some(at), Ok(())) => {
                            model.remove(at);
                        }
                        (None, Err(err)) => ensure!(
                            cause(&err) == Some(&SelectorError::NotRegistered { fd: n }),
                            "unregister of an unregistered fd: {err:?}"
                        ),
                        (at, result) => {
                            return Err(format!("unregister: {result:?}; model: {at:?}"))
                        }
                    }
                }
                PollOp::Negative { which } => {
                    let n = -1 - (which % 3) as RawFd;
                    let result = if which % 2 == 0 {
                        p.unregister(n)
                    } else {
                        p.modify(n, PollFlags::IN)
                    };
                    ensure!(
                        result.as_ref().err().and_then(cause)
                            == Some(&SelectorError::InvalidFd { fd: n }),
                        "a negative number: {result:?}"
                    );
                }
                PollOp::Poll => {
                    let expected: Vec<(RawFd, u16)> = model
                        .iter()
                        .map(|&(n, mask)| (n, poll_number(n, mask) as u16))
                        .filter(|&(_, revents)| revents != 0)
                        .collect();
                    match p.poll(ZERO) {
                        Ok(got) => {
                            if got
                                .iter()
                                .any(|&(_, flags)| flags.contains(PollFlags::NVAL))
                            {
                                hit("poll: POLLNVAL");
                            } else if !got.is_empty() {
                                hit("poll: ready");
                            }
                            let got: Vec<(RawFd, u16)> =
                                got.iter().map(|&(n, flags)| (n, flags.bits())).collect();
                            ensure!(got == expected, "poll gave {got:?}, poll(2) {expected:?}");
                        }
                        // poll(2) refuses more entries than RLIMIT_NOFILE.
                        Err(err)
                            if world.limit.is_some_and(|limit| model.len() > limit)
                                && err.raw_os_error() == Some(libc::EINVAL) => {}
                        Err(err) => return Err(format!("poll: {err:?}")),
                    }
                }
            }
            ensure!(p.len() == model.len(), "len {} for {model:?}", p.len());
            Ok(())
        })();
        checked.map_err(|message| format!("step {step} ({op:?}): {message}"))?;
    }
    Ok(())
}

#[test]
fn poll_object() {
    raise_nofile_limit(20_000);
    fuzz("select::Poll", generate_poll_op, run_poll);
}

// ---- select::Epoll: level-triggered, edge-triggered, one-shot

mod epoll_object {
    use super::*;
    use ioselectors::select::{Epoll, EpollFlags};

    #[derive(Clone, Debug)]
    pub(super) enum EpollOp {
        Move(Move),
        Register { fd: u8, mask: u8, mode: u8 },
        Modify { target: u8, mask: u8, mode: u8 },
        Unregister { target: u8 },
        Poll,
    }

    pub(super) fn generate(rng: &mut Rng) -> EpollOp {
        let (a, b, c) = (rng.byte(), rng.byte(), rng.byte());
        match rng.percent() {
            0..=44 => EpollOp::Move(generate_move(rng)),
            45..=59 => EpollOp::Register {
                fd: a,
                mask: b,
                mode: c,
            },
            60..=67 => EpollOp::Modify {
                target: a,
                mask: b,
                mode: c,
            },
            68..=75 => EpollOp::Unregister { target: a },
            _ => EpollOp::Poll,
        }
    }

    fn mask_from(b: u8) -> EpollFlags {
        [
            EpollFlags::IN,
            EpollFlags::OUT,
            EpollFlags::IN | EpollFlags::OUT,
            EpollFlags::IN | EpollFlags::RDHUP,
            EpollFlags::IN | EpollFlags::PRI,
        ][b as usize % 5]
    }

    /// Level, edge or one-shot, as the target fuzzes it (`mode` picks among them for the
    /// level target's "mixed" runs).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) enum Trigger {
        Level,
        Edge,
        OneShot,
        Mixed,
    }

    fn mode_flags(trigger: Trigger, b: u8) -> EpollFlags {
        match trigger {
            Trigger::Level => EpollFlags::empty(),
            Trigger::Edge => EpollFlags::ET,
            Trigger::OneShot => EpollFlags::ONESHOT,
            Trigger::Mixed => [
                EpollFlags::empty(),
                EpollFlags::ET,
                EpollFlags::ONESHOT,
                EpollFlags::ET | EpollFlags::ONESHOT,
            ][b as usize % 4],
        }
    }

    #[derive(Debug)]
    struct Entry {
        mask: EpollFlags,
        /// One-shot: whether it may report (`None`: not known).
        armed: Option<bool>,
        /// Edge-triggered or one-shot: an edge (registration, modify, data arriving) that
        /// the next wait must report if the file is ready then.
        edge: bool,
    }

    /// The kernel's key of an entry: the file, and the number it was registered under.
    type EntryKey = (FileId, RawFd);

    /// What the next wait is expected to report for one entry.
    enum Expect {
        Exactly(u32),
        Any,
    }

    pub(super) fn run(trigger: Trigger, ops: &[EpollOp]) -> Result<(), String> {
        let mut world = World::new();
        let ep = Epoll::new().map_err(|err| format!("new: {err}"))?;
        // The kernel's entries, keyed as it keys them: file and number.
        let mut entries: BTreeMap<(FileId, RawFd), Entry> = BTreeMap::new();
        let mut quiet = false;
        for (step, op) in ops.iter().enumerate() {
            let checked: Result<(), String> = (|| {
                match *op {
                    EpollOp::Move(ref m) => {
                        world.apply(m);
                        entries.retain(|(file, _), _| world.alive(*file));
                        for file in std::mem::take(&mut world.written) {
                            for ((f, _), entry) in entries.iter_mut() {
                                if *f == file && entry.mask.contains(EpollFlags::IN) {
                                    entry.edge = true;
                                }
                            }
                        }
                    }
                    EpollOp::Register { fd, mask, mode } => {
                        let Some(n) = world.pick(fd) else {
                            return Ok(());
                        };
                        let mask = mask_from(mask) | mode_flags(trigger, mode);
                        let (file, kind) = (world.fds[&n].file, world.fds[&n].kind);
                        let result = ep.register(&world.borrow(n), mask);
                        let expected = if entries.contains_key(&(file, n)) {
                            Some(libc::EEXIST)
                        } else if kind == Kind::File {
                            Some(libc::EPERM)
                        } else {
                            None
                        };
                        match (expected, result) {
                            (None, Ok(())) => {
                                entries.insert(
                                    (file, n),
                                    Entry {
                                        mask,
                                        armed: Some(true),
                                        edge: true,
                                    },
                                );
                            }
                            (Some(errno), Err(err)) => ensure!(
                                err.raw_os_error() == Some(errno),
                                "register: {err:?}, expected errno {errno}"
                            ),
                            (expected, result) => {
                                return Err(format!(
                                    "register: {result:?}, expected errno {expected:?}"
                                ))
                            }
                        }
                    }
                    EpollOp::Modify { target, mask, mode } => {
                        let Some(n) = world.pick_number(target) else {
                            return Ok(());
                        };
                        let mask = mask_from(mask) | mode_flags(trigger, mode);
                        let result = ep.modify(n, mask);
                        let key = world.fds.get(&n).map(|d| (d.file, n));
                        match (key.and_then(|key| entries.get_mut(&key)), result) {
                            (Some(entry), Ok(())) => {
                                *entry = Entry {
                                    mask,
                                    armed: Some(true),
                                    edge: true,
                                };
                            }
                            (None, Err(err)) => {
                                // epoll refuses what it cannot watch before it looks.
                                let errno = match world.fds.get(&n) {
                                    Some(d) if d.kind == Kind::File => libc::EPERM,
                                    Some(_) => libc::ENOENT,
                                    None => libc::EBADF,
                                };
                                ensure!(
                                    err.raw_os_error() == Some(errno),
                                    "modify: {err:?}, expected errno {errno}"
                                );
                            }
                            (entry, result) => {
                                return Err(format!("modify: {result:?}; model: {entry:?}"))
                            }
                        }
                    }
                    EpollOp::Unregister { target } => {
                        let Some(n) = world.pick_number(target) else {
                            return Ok(());
                        };
                        let result = ep.unregister(n);
                        let key = world.fds.get(&n).map(|d| (d.file, n));
                        match (key.filter(|key| entries.contains_key(key)), result) {
                            (Some(key), Ok(())) => {
                                entries.remove(&key);
                            }
                            (None, Err(err)) => {
                                // epoll refuses what it cannot watch before it looks.
                                let errno = match world.fds.get(&n) {
                                    Some(d) if d.kind == Kind::File => libc::EPERM,
                                    Some(_) => libc::ENOENT,
                                    None => libc::EBADF,
                                };
                                ensure!(
                                    err.raw_os_error() == Some(errno),
                                    "unregister: {err:?}, expected errno {errno}"
                                );
                            }
                            (key, result) => {
                                return Err(format!("unregister: {result:?}; entry: {key:?}"))
                            }
                        }
                    }
                    EpollOp::Poll => {
                        check_poll(&ep, &world, &mut entries, quiet)?;
                        quiet = true;
                    }
                }
                if !matches!(op, EpollOp::Poll) {
                    quiet = false;
                }
                Ok(())
            })();
            checked.map_err(|message| format!("step {step} ({op:?}): {message}"))?;
        }
        Ok(())
    }

    fn check_poll(
        ep: &Epoll,
        world: &World,
        entries: &mut BTreeMap<(FileId, RawFd), Entry>,
        quiet: bool,
    ) -> Result<(), String> {
        let asked = EpollFlags::IN | EpollFlags::OUT | EpollFlags::PRI | EpollFlags::RDHUP;
        let mut expected: BTreeMap<RawFd, Vec<(EntryKey, Expect)>> = BTreeMap::new();
        for (&(file, n), entry) in entries.iter() {
            // The file's readiness, through a number that names it now.
            let number = match world.fds.get(&n) {
                Some(d) if d.file == file => Some(n),
                _ => world.number_of(file),
            };
            let expect = match number {
                None => Expect::Any,
                Some(number) => {
                    let polled = (entry.mask & asked).bits() as i16;
                    let ready = poll_number(number, polled) as u16 as u32;
                    let edge_triggered = entry.mask.contains(EpollFlags::ET);
                    let oneshot = entry.mask.contains(EpollFlags::ONESHOT);
                    match entry.armed {
                        _ if ready == 0 => Expect::Exactly(0),
                        Some(false) if oneshot => Expect::Exactly(0),
                        None if oneshot => Expect::Any,
                        // Nothing happened since the last wait: an edge-triggered entry
                        // has nothing new to say.
                        _ if quiet && (edge_triggered || oneshot) => Expect::Exactly(0),
                        _ if edge_triggered && !entry.edge => Expect::Any,
                        _ => Expect::Exactly(ready),
                    }
                }
            };
            expected.entry(n).or_default().push(((file, n), expect));
        }
        let got = ep.poll(ZERO, 64).map_err(|err| format!("poll: {err:?}"))?;
        let mut got_by_fd: BTreeMap<RawFd, Vec<u32>> = BTreeMap::new();
        for &(n, flags) in &got {
            got_by_fd.entry(n).or_default().push(flags.bits());
        }
        for (n, mut reported) in got_by_fd {
            let Some(candidates) = expected.get_mut(&n) else {
                return Err(format!("reported fd {n}, which has no entry: {got:?}"));
            };
            // Exact expectations first, then the lenient ones take what is left.
            for (key, expect) in candidates.iter_mut() {
                if let Expect::Exactly(flags) = *expect {
                    if flags != 0 {
                        hit("poll: reported, as the model says");
                        let Some(at) = reported.iter().position(|&r| r == flags) else {
                            return Err(format!(
                                "entry {key:?}: expected {flags:#x}, reported {reported:x?}"
                            ));
                        };
                        reported.remove(at);
                        *expect = Expect::Exactly(0);
                        disarm(entries, *key);
                    }
                }
            }
            for (key, expect) in candidates.iter_mut() {
                if matches!(expect, Expect::Any) && !reported.is_empty() {
                    hit("poll: reported, lenient");
                    reported.pop();
                    if let Some(entry) = entries.get_mut(key) {
                        entry.edge = false;
                        if entry.mask.contains(EpollFlags::ONESHOT) {
                            entry.armed = None;
                        }
                    }
                }
            }
            ensure!(
                reported.is_empty(),
                "fd {n}: unexpected events {reported:x?}"
            );
        }
        for (n, candidates) in &expected {
            for (key, expect) in candidates {
                if let Expect::Exactly(flags) = expect {
                    ensure!(
                        *flags == 0,
                        "entry {key:?} (fd {n}): {flags:#x} not reported"
                    );
                }
            }
        }
        for entry in entries.values_mut() {
            entry.edge = false;
        }
        Ok(())
    }

    fn disarm(entries: &mut BTreeMap<(FileId, RawFd), Entry>, key: (FileId, RawFd)) {
        if let Some(entry) = entries.get_mut(&key) {
            entry.edge = false;
            if entry.mask.contains(EpollFlags::ONESHOT) {
                entry.armed = Some(false);
            }
        }
    }
}

#[test]
fn epoll_object_level_triggered() {
    raise_nofile_limit(20_000);
    fuzz("select::Epoll (level)", epoll_object::generate, |ops| {
        epoll_object::run(epoll_object::Trigger::Level, ops)
    });
}

#[test]
fn epoll_object_edge_triggered() {
    raise_nofile_limit(20_000);
    fuzz("select::Epoll (EPOLLET)", epoll_object::generate, |ops| {
        epoll_object::run(epoll_object::Trigger::Edge, ops)
    });
}

#[test]
fn epoll_object_one_shot() {
    raise_nofile_limit(20_000);
    fuzz(
        "select::Epoll (EPOLLONESHOT)",
        epoll_object::generate,
        |ops| epoll_object::run(epoll_object::Trigger::OneShot, ops),
    );
    fuzz(
        "select::Epoll (mixed modes)",
        epoll_object::generate,
        |ops| epoll_object::run(epoll_object::Trigger::Mixed, ops),
    );
}

// ---- select()

#[derive(Clone, Debug)]
enum SelectFnOp {
    Move(Move),
    /// `select(rlist, wlist, xlist, 0)` over numbers picked by position (some closed, some
    /// repeated); `huge` repeats the first item past `FD_SETSIZE`.
    Select {
        lists: [Vec<u8>; 3],
        huge: bool,
        child: bool,
    },
}

fn generate_select_fn_op(rng: &mut Rng) -> SelectFnOp {
    if rng.percent() < 50 {
        return SelectFnOp::Move(generate_move(rng));
    }
    let list = |rng: &mut Rng| (0..rng.next() % 4).map(|_| rng.byte()).collect();
    SelectFnOp::Select {
        lists: [list(rng), list(rng), list(rng)],
        huge: rng.percent() < 2,
        child: rng.percent() < 10,
    }
}

fn run_select_fn(ops: &[SelectFnOp]) -> Result<(), String> {
    use ioselectors::select::{select_into, Selected};
    let mut world = World::new();
    let mut selected = Selected::new();
    for (step, op) in ops.iter().enumerate() {
        let checked: Result<(), String> = (|| {
            let SelectFnOp::Select {
                ref lists,
                huge,
                child,
            } = *op
            else {
                if let SelectFnOp::Move(ref m) = *op {
                    world.apply(m);
                }
                return Ok(());
            };
            let mut numbers: [Vec<RawFd>; 3] = Default::default();
            for (picked, list) in numbers.iter_mut().zip(lists) {
                // A closed number fails the whole call: pick one now and then only.
                picked.extend(list.iter().filter_map(|&i| {
                    if i % 16 == 0 {
                        world.pick_number(0)
                    } else {
                        world.pick(i)
                    }
                }));
            }
            if huge && !numbers[0].is_empty() {
                let first = numbers[0][0];
                numbers[0].resize(FD_SETSIZE + 1, first);
            }
            // SAFETY: the numbers may be closed, as the test means them to be: `select()`
            // only hands them to the kernel, which looks them up.
            let borrowed: Vec<Vec<BorrowedFd<'_>>> = numbers
                .iter()
                .map(|list| {
                    list.iter()
                        .map(|&n| unsafe { BorrowedFd::borrow_raw(n) })
                        .collect()
                })
                .collect();
            // What the contract says: bad lists first, then closed numbers, then readiness.
            let too_many = numbers.iter().any(|list| list.len() > FD_SETSIZE);
            let too_large = numbers.iter().flatten().any(|&n| n as usize >= FD_SETSIZE);
            let closed = numbers
                .iter()
                .flatten()
                .any(|&n| poll_number(n, 0) & libc::POLLNVAL != 0);
            let positions = |list: &[RawFd], events: i16, wanted: i16| -> Vec<usize> {
                (0..list.len())
                    .filter(|&i| poll_number(list[i], events) & wanted != 0)
                    .collect()
            };
            let expected = [
                positions(
                    &numbers[0],
                    libc::POLLIN,
                    libc::POLLIN | libc::POLLHUP | libc::POLLERR,
                ),
                positions(&numbers[1], libc::POLLOUT, libc::POLLOUT | libc::POLLERR),
                positions(&numbers[2], libc::POLLPRI, libc::POLLPRI),
            ];
            if child {
                if too_many || too_large || !closed || poll_may_refuse(&world) {
                    return Ok(());
                }
                let [r, w, x] = &borrowed[..] else {
                    unreachable!()
                };
                hit("select() in a child, a closed number listed");
                let code = in_child(|| match select_into(r, w, x, ZERO, &mut selected) {
                    Err(err) if err.raw_os_error() == Some(libc::EBADF) => 0,
                    Err(_) => 1,
                    Ok(_) => 2,
                });
                ensure!(
                    code == 0,
                    "in a forked child, a closed number gave {}",
                    ["EBADF", "another error", "no error"][code.min(2) as usize]
                );
                return Ok(());
            }
            let [r, w, x] = &borrowed[..] else {
                unreachable!()
            };
            match select_into(r, w, x, ZERO, &mut selected) {
                Err(err) if too_many || too_large => {
                    hit("select(): InvalidInput");
                    ensure!(err.kind() == ErrorKind::InvalidInput, "select: {err:?}");
                }
                Err(err) if poll_refuses(&world, distinct(&numbers), err.raw_os_error()) => {}
                Err(err) if closed => {
                    hit("select(): EBADF");
                    ensure!(err.raw_os_error() == Some(libc::EBADF), "select: {err:?}");
                }
                Ok(_) if !too_many && !too_large && !closed => {
                    let got = [
                        selected.readable(),
                        selected.writable(),
                        selected.exceptional(),
                    ];
                    if got.iter().any(|list| !list.is_empty()) {
                        hit("select(): ready, as poll(2) says");
                    }
                    ensure!(
                        got.iter()
                            .zip(&expected)
                            .all(|(got, want)| *got == &want[..]),
                        "select gave {got:?}, poll(2) {expected:?} for {numbers:?}"
                    );
                }
                other => {
                    return Err(format!(
                        "select: {other:?} for {numbers:?} (too many {too_many}, too large \
                         {too_large}, closed {closed})"
                    ))
                }
            }
            Ok(())
        })();
        checked.map_err(|message| format!("step {step} ({op:?}): {message}"))?;
    }
    Ok(())
}

#[test]
fn select_function() {
    raise_nofile_limit(20_000);
    fuzz("select()", generate_select_fn_op, run_select_fn);
}
