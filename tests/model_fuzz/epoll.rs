//! `select::Epoll` against a model of the kernel's entries: level-triggered exactly as
//! poll(2) says; edge-triggered and one-shot where the kernel promises a report (after a
//! registration, a `modify`, or new data), and silent when nothing happened.

use crate::common::*;
use crate::runner::{fuzz, hit, Rng};
use crate::world::*;
use crate::ZERO;
use std::collections::BTreeMap;
use std::os::unix::io::RawFd;

use ioselectors::select::{Epoll, EpollFlags};

#[derive(Clone, Debug)]
pub(crate) enum EpollOp {
    Move(Move),
    Register { fd: u8, mask: u8, mode: u8 },
    Modify { target: u8, mask: u8, mode: u8 },
    Unregister { target: u8 },
    Poll,
}

pub(crate) fn generate(rng: &mut Rng) -> EpollOp {
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
pub(crate) enum Trigger {
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

/// What epoll answers an `epoll_ctl` about a number that has no entry: it refuses what it
/// cannot watch before it looks (`EPERM`), then looks the number up (`EBADF` if closed,
/// `ENOENT` if it names a file it does not watch under that number).
fn refusal(world: &World, n: RawFd) -> i32 {
    match world.fds.get(&n) {
        Some(d) if d.kind == Kind::File => libc::EPERM,
        Some(_) => libc::ENOENT,
        None => libc::EBADF,
    }
}

pub(crate) fn run(trigger: Trigger, ops: &[EpollOp]) -> Result<(), String> {
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
                            let errno = refusal(&world, n);
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
                            let errno = refusal(&world, n);
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

#[test]
fn epoll_object_level_triggered() {
    raise_nofile_limit(20_000);
    fuzz("select::Epoll (level)", generate, |ops| {
        run(Trigger::Level, ops)
    });
}

#[test]
fn epoll_object_edge_triggered() {
    raise_nofile_limit(20_000);
    fuzz("select::Epoll (EPOLLET)", generate, |ops| {
        run(Trigger::Edge, ops)
    });
}

#[test]
fn epoll_object_one_shot() {
    raise_nofile_limit(20_000);
    fuzz("select::Epoll (EPOLLONESHOT)", generate, |ops| {
        run(Trigger::OneShot, ops)
    });
    fuzz("select::Epoll (mixed modes)", generate, |ops| {
        run(Trigger::Mixed, ops)
    });
}
