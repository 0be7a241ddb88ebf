//! `select::Poll` against the poll(2) it wraps: registration order, upserts, compaction.

use crate::common::*;
use crate::runner::{fuzz, hit, Rng};
use crate::world::*;
use crate::ZERO;
use std::os::unix::io::RawFd;

#[derive(Clone, Debug)]
pub(crate) enum PollOp {
    Move(Move),
    Register { fd: u8, mask: u8 },
    Modify { target: u8, mask: u8 },
    Unregister { target: u8 },
    Poll,
    Negative { which: u8 },
}

pub(crate) fn generate_poll_op(rng: &mut Rng) -> PollOp {
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

pub(crate) fn poll_flags_from(b: u8) -> i16 {
    [
        libc::POLLIN,
        libc::POLLOUT,
        libc::POLLIN | libc::POLLOUT,
        libc::POLLIN | libc::POLLPRI,
        0,
        libc::POLLIN | libc::POLLOUT | libc::POLLPRI,
    ][b as usize % 6]
}

pub(crate) fn run_poll(ops: &[PollOp]) -> Result<(), String> {
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
                            if world.limit().is_some_and(|limit| model.len() > limit)
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
pub(crate) fn poll_object() {
    raise_nofile_limit(20_000);
    fuzz("select::Poll", generate_poll_op, run_poll);
}
