//! `select()` against poll(2) with select's grouping of the bits: lists with repeats,
//! closed numbers, numbers and lists beyond `FD_SETSIZE`, and calls in a forked child.

use crate::common::*;
use crate::runner::{fuzz, hit, Rng};
use crate::world::*;
use crate::ZERO;
use ioselectors::select::FD_SETSIZE;
use std::io::ErrorKind;
use std::os::unix::io::{BorrowedFd, RawFd};

#[derive(Clone, Debug)]
pub(crate) enum SelectFnOp {
    Move(Move),
    /// `select(rlist, wlist, xlist, 0)` over numbers picked by position (some closed, some
    /// repeated); `huge` repeats the first item past `FD_SETSIZE`.
    Select {
        lists: [Vec<u8>; 3],
        huge: bool,
        child: bool,
    },
}

pub(crate) fn generate_select_fn_op(rng: &mut Rng) -> SelectFnOp {
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

pub(crate) fn run_select_fn(ops: &[SelectFnOp]) -> Result<(), String> {
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
pub(crate) fn select_function() {
    raise_nofile_limit(20_000);
    fuzz("select()", generate_select_fn_op, run_select_fn);
}
