//! Every Linux selector against a model of Python's `selectors` contract.

use crate::common::*;
use crate::runner::{fuzz, hit, Rng};
use crate::world::*;
use crate::ZERO;
use ioselectors::select::FD_SETSIZE;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{self, ErrorKind};
use std::os::unix::io::{AsRawFd, RawFd};

/// How a selector sees descriptors, as far as the model needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
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
pub(crate) enum SelectorOp {
    Move(Move),
    /// `via % 3 == 0`: through a [`Registry`] handle rather than the selector.
    Register {
        fd: u8,
        events: u8,
        via: u8,
    },
    Modify {
        target: u8,
        events: u8,
        via: u8,
    },
    Unregister {
        target: u8,
        via: u8,
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

pub(crate) fn generate_selector_op(rng: &mut Rng) -> SelectorOp {
    let (a, b, via) = (rng.byte(), rng.byte(), rng.byte());
    match rng.percent() {
        0..=39 => SelectorOp::Move(generate_move(rng)),
        40..=54 => SelectorOp::Register {
            fd: a,
            events: b,
            via,
        },
        55..=62 => SelectorOp::Modify {
            target: a,
            events: b,
            via,
        },
        63..=68 => SelectorOp::Unregister { target: a, via },
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
pub(crate) struct Registration {
    events: Events,
    data: u32,
    /// Its number was closed or made to name another file since, without `unregister`.
    tainted: bool,
}

pub(crate) struct SelectorModel {
    flavor: Flavor,
    keys: BTreeMap<RawFd, Registration>,
    /// What `get_key` and `get_map` show while changes made through the handle wait for the
    /// selector's thread to take them in (at its next `select` or change): the keys as they
    /// were before the first of them.
    shown: Option<BTreeMap<RawFd, Registration>>,
    /// Descriptors of the selector's own in each wait: poll and select wait on a waker too
    /// once a handle exists.
    own: usize,
    closed: bool,
    next_data: u32,
    /// The selector's `as_fd()` (epoll): readable exactly when a wait would report
    /// something, and the same number for the selector's whole life.
    watched: Option<RawFd>,
}

impl SelectorModel {
    /// A number to look up: a registered one mostly, else any.
    pub(crate) fn target(&self, world: &World, i: u8) -> Option<RawFd> {
        if i % 4 != 0 && !self.keys.is_empty() {
            return self.keys.keys().nth(i as usize % self.keys.len()).copied();
        }
        world.pick_number(i)
    }

    pub(crate) fn key(&self, fd: RawFd) -> Option<SelectorKey<u32>> {
        key_of(&self.keys, fd)
    }

    /// The key `get_key` shows.
    fn shown_key(&self, fd: RawFd) -> Option<SelectorKey<u32>> {
        key_of(self.shown.as_ref().unwrap_or(&self.keys), fd)
    }

    /// Before a call on the selector that changes registrations or waits: it takes in the
    /// handle's changes first.
    fn owner_call(&mut self) {
        self.shown = None;
    }

    /// Before a change through the handle: the selector's view stays as it is.
    fn change_through_handle(&mut self) {
        if self.shown.is_none() {
            self.shown = Some(self.keys.clone());
        }
    }
}

fn key_of(keys: &BTreeMap<RawFd, Registration>, fd: RawFd) -> Option<SelectorKey<u32>> {
    keys.get(&fd).map(|r| SelectorKey {
        fd,
        events: r.events,
        data: r.data,
    })
}

/// The selector under test and, once an operation asks for one, a handle on it.
pub(crate) struct Subject<B: Backend> {
    s: Selector<B, u32>,
    registry: Option<Registry<B, u32>>,
}

impl<B: Backend> Subject<B> {
    /// The handle, made on first use (poll and select make a waker for it then).
    fn registry(&mut self, model: &mut SelectorModel) -> io::Result<&Registry<B, u32>> {
        if self.registry.is_none() {
            self.registry = Some(self.s.registry()?);
            if matches!(model.flavor, Flavor::Poll | Flavor::Select) {
                model.own = 1;
            }
        }
        Ok(self.registry.as_ref().unwrap())
    }
}

/// The handle, if one can be made: not after `close()`, nor (poll, select) when no
/// descriptor is left for its waker.
fn handle<'a, B: Backend>(
    subject: &'a mut Subject<B>,
    model: &mut SelectorModel,
    world: &World,
) -> Result<Option<&'a Registry<B, u32>>, String> {
    let closed = model.closed;
    match subject.registry(model) {
        Ok(registry) => Ok(Some(registry)),
        Err(err) if closed => expect_closed(Err::<(), _>(err), "registry").map(|()| None),
        Err(err)
            if world.limit().is_some()
                && matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) =>
        {
            hit("registry: out of descriptors");
            Ok(None)
        }
        Err(err) => Err(format!("registry(): {err:?}")),
    }
}

/// Whether an operation goes through the handle.
fn through_handle(via: u8) -> bool {
    via % 3 == 0
}

pub(crate) fn expect_closed<T: Debug>(result: io::Result<T>, what: &str) -> Result<(), String> {
    match result {
        Err(err) if matches!(cause(&err), Some(SelectorError::Closed { .. })) => Ok(()),
        other => Err(format!("{what} after close(): {other:?}")),
    }
}

/// How the fuzzer reads what a selector lends through `as_fd()`.
pub(crate) type Watch<B> = fn(&Selector<B, u32>) -> RawFd;

pub(crate) fn run_selector<B: Backend>(
    new: &dyn Fn() -> io::Result<Selector<B, u32>>,
    flavor: Flavor,
    watch: Option<Watch<B>>,
    ops: &[SelectorOp],
) -> Result<(), String> {
    let mut world = World::new();
    let s = new().map_err(|err| format!("new: {err}"))?;
    let mut model = SelectorModel {
        flavor,
        keys: BTreeMap::new(),
        shown: None,
        own: 0,
        closed: false,
        next_data: 0,
        watched: watch.map(|watch| watch(&s)),
    };
    let mut subject = Subject { s, registry: None };
    for (step, op) in ops.iter().enumerate() {
        selector_step(&mut subject, &mut model, &mut world, op)
            .map_err(|message| format!("step {step} ({op:?}): {message}"))?;
        if let (Some(watch), Some(watched)) = (watch, model.watched) {
            ensure!(watch(&subject.s) == watched, "step {step}: as_fd() moved");
        }
    }
    Ok(())
}

pub(crate) fn selector_step<B: Backend>(
    subject: &mut Subject<B>,
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
        SelectorOp::Register { fd, events, via } => {
            let Some(n) = world.pick(fd) else {
                return Ok(());
            };
            let events = events_from(events);
            model.next_data += 1;
            let data = model.next_data;
            let key = SelectorKey {
                fd: n,
                events,
                data,
            };
            let result = if through_handle(via) {
                let Some(registry) = handle(subject, model, world)? else {
                    return Ok(());
                };
                let result = registry.register(&world.borrow(n), events, data);
                if result.is_ok() {
                    model.change_through_handle();
                }
                result.map(|()| key.clone())
            } else {
                model.owner_call();
                subject.s.register(&world.borrow(n), events, data).cloned()
            };
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
                (Ok(()), Ok(got)) => {
                    hit(if through_handle(via) {
                        "register through the handle"
                    } else {
                        "register"
                    });
                    ensure!(got == key, "register returned {got:?}");
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
        SelectorOp::Modify {
            target,
            events,
            via,
        } => {
            let Some(n) = model.target(world, target) else {
                return Ok(());
            };
            let events = events_from(events);
            model.next_data += 1;
            let data = model.next_data;
            let result = if through_handle(via) {
                let Some(registry) = handle(subject, model, world)? else {
                    return Ok(());
                };
                let result = registry.modify(n, events, data);
                if result.is_ok() {
                    hit("modify through the handle");
                    model.change_through_handle();
                }
                result.map(|()| SelectorKey {
                    fd: n,
                    events,
                    data,
                })
            } else {
                model.owner_call();
                subject.s.modify(n, events, data).cloned()
            };
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
        SelectorOp::Unregister { target, via } => {
            let Some(n) = model.target(world, target) else {
                return Ok(());
            };
            let expected = model.key(n);
            let result = if through_handle(via) {
                let Some(registry) = handle(subject, model, world)? else {
                    return Ok(());
                };
                let result = registry.unregister(n);
                if result.is_ok() {
                    hit("unregister through the handle");
                    model.change_through_handle();
                }
                // The handle gives nothing back: the selector's thread drops the data.
                result.map(|()| {
                    expected.clone().unwrap_or(SelectorKey {
                        fd: n,
                        events: Events::empty(),
                        data: 0,
                    })
                })
            } else {
                model.owner_call();
                subject.s.unregister(n)
            };
            if model.closed {
                return expect_closed(result, "unregister");
            }
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
            selector_step(subject, model, world, &SelectorOp::Move(Move::Dup(fd)))?;
            world.close(n);
            model.keys.get_mut(&n).unwrap().tainted = true;
            let expected = model.key(n).unwrap();
            hit("try_clone + close + unregister");
            model.owner_call();
            let key = subject
                .s
                .unregister(n)
                .map_err(|err| format!("unregister after close: {err:?}"))?;
            ensure!(key == expected, "unregister gave {key:?}");
            model.keys.remove(&n);
        }
        SelectorOp::Select => {
            model.owner_call();
            return check_select(&mut subject.s, model, world);
        }
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
            let s = &mut subject.s;
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
            let result = subject.s.get_key(n).cloned();
            if model.closed {
                return expect_closed(result, "get_key");
            }
            match (model.shown_key(n), result) {
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
            let s = &subject.s;
            if model.closed {
                return expect_closed(s.get_map().map(|map| map.len()), "get_map");
            }
            let map = s.get_map().map_err(|err| format!("get_map: {err:?}"))?;
            let shown = model.shown.as_ref().unwrap_or(&model.keys);
            ensure!(map.len() == shown.len(), "get_map has {} keys", map.len());
            let mut fds: Vec<RawFd> = map.keys().collect();
            fds.sort_unstable();
            ensure!(
                fds.iter().eq(shown.keys()),
                "get_map has {fds:?}, model {:?}",
                shown.keys()
            );
            for &n in shown.keys() {
                ensure!(map.get(n).cloned() == key_of(shown, n), "get_map.get({n})");
            }
        }
        SelectorOp::Negative { which } => {
            let n = -1 - (which % 2) as RawFd;
            if which % 3 != 2 {
                model.owner_call();
            }
            let s = &mut subject.s;
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
            model.owner_call();
            subject.s.close();
            model.closed = true;
            model.keys.clear();
        }
    }
    Ok(())
}

/// What one registration is expected to report now.
#[derive(Debug)]
pub(crate) enum Expect {
    /// Exactly these events (empty: not reported).
    Exactly(Events),
    /// Any of its events, or nothing.
    Any,
}

pub(crate) fn check_select<B: Backend>(
    s: &mut Selector<B, u32>,
    model: &SelectorModel,
    world: &World,
) -> Result<(), String> {
    // The oracle, right before the wait: nothing changes readiness in between.
    let mut expected = BTreeMap::new();
    let mut closed_number = false;
    for (&n, r) in &model.keys {
        let revents = poll_number(n, poll_mask(r.events));
        closed_number |= revents & libc::POLLNVAL != 0;
        // Closed without `unregister`, and the number now names one of the selector's own
        // descriptors (a waker made since): what it reports there is not promised.
        let selectors_own = !world.fds.contains_key(&n) && revents & libc::POLLNVAL == 0;
        let expect = match model.flavor {
            _ if selectors_own => Expect::Any,
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
                        || poll_refuses(world, model.keys.len() + model.own, errno)
                }
                // A dead entry that cannot be purged, out of descriptors.
                Flavor::Epoll => {
                    world.limit().is_some()
                        && !live_ready
                        && matches!(errno, Some(libc::EMFILE | libc::ENFILE))
                }
                // poll(2) refuses more entries than RLIMIT_NOFILE (`polling` adds its own).
                Flavor::Poll | Flavor::PollingOverPoll => {
                    let own = model.own + usize::from(model.flavor == Flavor::PollingOverPoll) * 2;
                    world
                        .limit()
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

pub(crate) fn fuzz_selector<B: Backend>(
    target: &str,
    flavor: Flavor,
    watch: Option<Watch<B>>,
    new: impl Fn() -> io::Result<Selector<B, u32>>,
) {
    raise_nofile_limit(20_000);
    fuzz(target, generate_selector_op, |ops| {
        run_selector(&new, flavor, watch, ops)
    });
}

/// `as_fd()` of an epoll selector, as a watcher sees it.
pub(crate) fn epoll_fd<S: AsRawFd>(s: &S) -> RawFd {
    s.as_raw_fd()
}

#[test]
pub(crate) fn default_selector() {
    fuzz_selector(
        "DefaultSelector",
        Flavor::Epoll,
        Some(epoll_fd),
        DefaultSelector::<u32>::new,
    );
}

#[test]
pub(crate) fn epoll_selector() {
    fuzz_selector(
        "EpollSelector",
        Flavor::Epoll,
        Some(epoll_fd),
        EpollSelector::<u32>::new,
    );
}

#[test]
pub(crate) fn poll_selector() {
    fuzz_selector("PollSelector", Flavor::Poll, None, PollSelector::<u32>::new);
}

#[test]
pub(crate) fn select_selector() {
    fuzz_selector(
        "SelectSelector",
        Flavor::Select,
        None,
        SelectSelector::<u32>::new,
    );
}

// `polling` is epoll here (or poll(2), with `--cfg polling_test_poll_backend`).
#[test]
pub(crate) fn polling_selector() {
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
