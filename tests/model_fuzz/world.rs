//! The world: descriptors, what programs do to them, and the oracle (poll(2) on a number).

use crate::common::*;
use crate::runner::Rng;
use std::collections::BTreeMap;
use std::io;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Socket,
    PipeReader,
    PipeWriter,
    File,
}

/// Which open file a descriptor names: every file this world opens gets a number of its
/// own, and its duplicates share it.
pub(crate) type FileId = u64;

pub(crate) struct Descriptor {
    pub(crate) fd: OwnedFd,
    pub(crate) file: FileId,
    pub(crate) kind: Kind,
}

/// What a program does to its descriptors, behind the selector's back or not. The numbers
/// pick a descriptor (or a recently closed number) by position, at the time the operation
/// runs, so that a shrunk sequence still means something.
#[derive(Clone, Debug)]
pub(crate) enum Move {
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

pub(crate) fn generate_move(rng: &mut Rng) -> Move {
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

pub(crate) struct World {
    pub(crate) fds: BTreeMap<RawFd, Descriptor>,
    /// The file that becomes readable when one is written to (socket pairs both ways, a
    /// pipe's writer to its reader).
    pub(crate) peers: BTreeMap<FileId, FileId>,
    /// Files that were written to since the last `take_written`.
    pub(crate) written: Vec<FileId>,
    /// Numbers this world closed (most recent last), which a registration may still name.
    pub(crate) closed: Vec<RawFd>,
    pub(crate) next_file: FileId,
    /// Forked children, and the files each holds open.
    pub(crate) children: Vec<(libc::pid_t, Vec<FileId>)>,
    /// The descriptor limit, while it is lowered.
    pub(crate) exhausted: Option<OutOfDescriptors>,
}

impl World {
    pub(crate) fn new() -> World {
        World {
            fds: BTreeMap::new(),
            peers: BTreeMap::new(),
            written: Vec::new(),
            closed: Vec::new(),
            next_file: 0,
            children: Vec::new(),
            exhausted: None,
        }
    }

    pub(crate) fn file(&mut self) -> FileId {
        self.next_file += 1;
        self.next_file
    }

    pub(crate) fn insert(&mut self, fd: OwnedFd, file: FileId, kind: Kind) -> RawFd {
        let number = fd.as_raw_fd();
        self.closed.retain(|&closed| closed != number);
        self.fds.insert(number, Descriptor { fd, file, kind });
        number
    }

    /// The descriptor at position `i` (modulo how many there are).
    pub(crate) fn pick(&self, i: u8) -> Option<RawFd> {
        let len = self.fds.len();
        (len > 0).then(|| *self.fds.keys().nth(i as usize % len).unwrap())
    }

    /// A number: mostly a live descriptor, sometimes a recently closed one.
    pub(crate) fn pick_number(&self, i: u8) -> Option<RawFd> {
        if i % 4 == 0 && !self.closed.is_empty() {
            let recent = &self.closed[self.closed.len().saturating_sub(6)..];
            return Some(recent[(i as usize / 4) % recent.len()]);
        }
        self.pick(i)
    }

    pub(crate) fn borrow(&self, number: RawFd) -> BorrowedFd<'_> {
        self.fds[&number].fd.as_fd()
    }

    pub(crate) fn close(&mut self, number: RawFd) {
        if self.fds.remove(&number).is_some() {
            self.closed.push(number);
        }
    }

    /// Applies a move; returns the numbers that now name another file, or nothing.
    pub(crate) fn apply(&mut self, m: &Move) -> Vec<RawFd> {
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
                    self.exhausted = Some(OutOfDescriptors::now());
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
    pub(crate) fn alive(&self, file: FileId) -> bool {
        self.fds.values().any(|d| d.file == file)
            || self.children.iter().any(|(_, held)| held.contains(&file))
    }

    /// A number of ours that names `file` now, to ask poll(2) about it.
    pub(crate) fn number_of(&self, file: FileId) -> Option<RawFd> {
        self.fds
            .iter()
            .find(|(_, d)| d.file == file)
            .map(|(&n, _)| n)
    }

    /// The soft descriptor limit, while it is lowered.
    pub(crate) fn limit(&self) -> Option<usize> {
        self.exhausted.as_ref().map(|exhausted| exhausted.limit)
    }

    pub(crate) fn release(&mut self) {
        self.exhausted = None;
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

pub(crate) fn kill(pid: libc::pid_t) {
    // SAFETY: kill and waitpid on our own child; the status is written to a local.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
}

/// A duplicate of `fd` at the lowest free number at or above `min`.
pub(crate) fn dup_min(fd: BorrowedFd<'_>, min: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor, which the OwnedFd then owns.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    // SAFETY: as above.
    (new >= 0).then(|| unsafe { OwnedFd::from_raw_fd(new) })
}

/// poll(2) on one number, at once: the oracle.
pub(crate) fn poll_number(number: RawFd, events: i16) -> i16 {
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
pub(crate) fn python_events(revents: i16) -> Events {
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
pub(crate) fn select_events(revents: i16) -> Events {
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
pub(crate) fn poll_refuses(world: &World, descriptors: usize, errno: Option<i32>) -> bool {
    cfg!(ioselectors_select_over_poll)
        && errno == Some(libc::EINVAL)
        && world.limit().is_some_and(|limit| descriptors > limit)
}

/// Whether `poll_refuses` may say yes (a child cannot say which error it got).
pub(crate) fn poll_may_refuse(world: &World) -> bool {
    cfg!(ioselectors_select_over_poll) && world.limit().is_some()
}

/// How many different numbers three lists hold.
pub(crate) fn distinct(lists: &[Vec<RawFd>; 3]) -> usize {
    lists
        .iter()
        .flatten()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

pub(crate) fn poll_mask(events: Events) -> i16 {
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
pub(crate) fn events_from(b: u8) -> Events {
    Events::from_bits_retain([1, 2, 3, 1, 2, 3, 1, 3, 0, 4, 7][b as usize % 11])
}
