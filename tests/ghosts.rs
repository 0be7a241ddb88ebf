//! Registrations that stay right when descriptors are duplicated, dropped or reused: after
//! `unregister`, no event of that registration reaches the caller, `select()` does not burn
//! CPU on it, and a new source that reuses the number is reported only for its own events.
//!
//! epoll watches open files, not numbers: a registered descriptor duplicated by `try_clone`,
//! `dup` or a forked child, then closed, keeps its kernel entry after `unregister`. Every
//! selector is run through the same three ways of keeping the file alive.
//!
//! Its own binary: the fork test's child holds a copy of every descriptor open at the time,
//! which would keep other tests' peers from seeing a hang-up. The tests that change what the
//! whole process may do (its descriptor limit) run alone ([`PROCESS`]).

mod common;
use common::*;
use std::io::Write;
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::sync::RwLockWriteGuard;
use std::sync::{RwLock, RwLockReadGuard};
use std::time::Duration;

/// Taken for writing by the tests that change the process's descriptor limit (or fork while
/// checking what a child does), for reading by every other test.
static PROCESS: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    PROCESS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn alone() -> RwLockWriteGuard<'static, ()> {
    PROCESS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long a select that must find nothing waits.
const WAIT: Duration = Duration::from_millis(300);

/// CPU time of the calling thread (Unix), to tell a blocked wait from a spinning one.
#[cfg(unix)]
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which lives for the call.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(result, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// `select(WAIT)` finds nothing, waits the whole time, and (Unix) sleeps while it waits.
fn nothing_for_a_while(s: &mut Selector<impl Backend, Data>) {
    #[cfg(unix)]
    let cpu_before = thread_cpu();
    let (took, ready) = timed(|| s.select(Some(WAIT)).unwrap());
    assert!(
        ready.is_empty(),
        "a dead registration was reported: {ready:?}"
    );
    assert!(took >= WAIT, "returned after {took:?}, before the timeout");
    assert!(took < Duration::from_secs(5), "returned after {took:?}");
    #[cfg(unix)]
    {
        let cpu = thread_cpu() - cpu_before;
        assert!(
            cpu < WAIT / 3,
            "select() spun: {cpu:?} of CPU in a {took:?} wait"
        );
    }
}

/// How the registered file is kept open after its descriptor is closed.
enum Twin {
    TryClone,
    #[cfg(unix)]
    Dup,
    #[cfg(unix)]
    ForkedChild,
}

/// Keeps the file of `stream` open after `stream` is closed; dropped, lets go of it.
enum Keeper {
    Clone(#[allow(dead_code)] Stream), // held open, never read
    #[cfg(unix)]
    Child(libc::pid_t),
}

impl Drop for Keeper {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Keeper::Child(pid) = *self {
            // SAFETY: kill and waitpid on our own child; the status is written to a local.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                let mut status = 0;
                libc::waitpid(pid, &mut status, 0);
            }
        }
    }
}

fn keep_open(stream: &Stream, twin: &Twin) -> Keeper {
    match twin {
        Twin::TryClone => Keeper::Clone(stream.try_clone().unwrap()),
        #[cfg(unix)]
        Twin::Dup => {
            use std::os::unix::io::{AsRawFd, FromRawFd};
            // SAFETY: dup makes a new descriptor, which the returned stream owns.
            let fd = unsafe { libc::dup(stream.as_raw_fd()) };
            assert!(fd >= 0, "dup failed");
            // SAFETY: `fd` is new and owned by nothing else.
            Keeper::Clone(unsafe { Stream::from_raw_fd(fd) })
        }
        #[cfg(unix)]
        Twin::ForkedChild => {
            // SAFETY: the child only calls pause(), which is async-signal-safe, until the
            // parent kills it; it holds a copy of every descriptor meanwhile.
            match unsafe { libc::fork() } {
                -1 => panic!("fork failed"),
                0 => loop {
                    // SAFETY: async-signal-safe; the child never returns from here.
                    unsafe { libc::pause() };
                },
                pid => Keeper::Child(pid),
            }
        }
    }
}

/// The registered source is closed while a twin keeps its file open, then unregistered:
/// its events (it stays readable and writable) never come back, and `select()` sleeps.
fn dead_registration_stays_silent(mut s: Selector<impl Backend, Data>, twin: Twin) {
    let (a, mut peer) = pair();
    let a = lonely(a);
    peer.write_all(b"pending").unwrap();
    s.register(&a, EVENT_READ | EVENT_WRITE, "a").unwrap();
    let fd = fd_of(&a);
    let _keeper = keep_open(&a, &twin);
    drop(a);
    s.unregister(fd).unwrap();
    nothing_for_a_while(&mut s);
    // And again: whatever was done the first time stuck.
    nothing_for_a_while(&mut s);
}

/// A new source reusing the number of a dead registration whose file lives on is reported
/// for its own events only, never the dead one's.
#[cfg(unix)]
fn reused_number_gets_no_ghost_events(mut s: Selector<impl Backend, Data>, twin: Twin) {
    let (a, mut peer) = pair();
    let a = lonely(a);
    peer.write_all(b"pending").unwrap();
    s.register(&a, EVENT_READ | EVENT_WRITE, "dead").unwrap();
    let fd = fd_of(&a);
    let _keeper = keep_open(&a, &twin);
    drop(a);
    s.unregister(fd).unwrap();

    // The lowest free number from `fd` up is `fd` itself: no other test uses it.
    let (b, mut b_peer) = pair();
    let b = lonely_at(b, fd);
    assert_eq!(fd_of(&b), fd, "the number was not reused");
    s.register(&b, EVENT_READ, "new").unwrap();
    // `b` is idle: the dead registration's pending data must not show as `b`'s.
    nothing_for_a_while(&mut s);
    b_peer.write_all(b"x").unwrap();
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(ready[0].0.data, "new");
    assert_eq!(ready[0].1, EVENT_READ);
}

/// A live registration of the same file under another number keeps working through the
/// purge of a dead one.
fn live_twin_keeps_reporting(mut s: Selector<impl Backend, Data>) {
    let (a, mut peer) = pair();
    let a = lonely(a);
    let twin = a.try_clone().unwrap();
    s.register(&a, EVENT_READ, "a").unwrap();
    s.register(&twin, EVENT_READ, "twin").unwrap();
    let fd = fd_of(&a);
    drop(a);
    s.unregister(fd).unwrap();
    peer.write_all(b"x").unwrap();
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(ready[0].0.data, "twin");
    // Level-triggered, as before.
    let ready = s.select(Some(Duration::ZERO)).unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
}

#[cfg(any(target_os = "linux", target_os = "android"))]
/// A registration that is gone but whose kernel entry lives on: `s` registered a socket with
/// data pending, a twin (returned, with the peer) keeps its file open, and it was closed and
/// unregistered. On epoll, the entry fires at every wait until the selector purges it.
fn dead_entry(s: &mut Selector<impl Backend, Data>) -> (Stream, Stream) {
    let (a, mut peer) = pair();
    let a = lonely(a);
    peer.write_all(b"pending").unwrap();
    s.register(&a, EVENT_READ | EVENT_WRITE, "dead").unwrap();
    let fd = fd_of(&a);
    let twin = a.try_clone().unwrap();
    drop(a);
    s.unregister(fd).unwrap();
    (twin, peer)
}

/// Register a socket, `try_clone` it, close it, unregister its number, then put the same
/// open file back at that number (`F_DUPFD`) and register it: epoll still had the dead
/// registration's entry for exactly that file and number, and `register` said
/// `AlreadyExists` while `get_key` and `modify` said `NotFound`. It registers now, and
/// reports.
#[cfg(unix)]
fn same_file_back_at_its_number_registers_again(mut s: Selector<impl Backend, Data>) {
    let (a, mut peer) = pair();
    let a = lonely(a);
    let fd = fd_of(&a);
    s.register(&a, EVENT_READ, "first").unwrap();
    let twin = a.try_clone().unwrap();
    drop(a);
    s.unregister(fd).unwrap();
    let back = Stream::from(dup_at(&twin, fd));
    assert_eq!(fd_of(&back), fd, "the number was not free");
    drop(twin);
    assert_eq!(
        s.register(&back, EVENT_READ, "again").unwrap().data,
        "again"
    );
    peer.write_all(b"x").unwrap();
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!((ready[0].0.data, ready[0].1), ("again", EVENT_READ));
    // And it goes for good with `unregister`.
    s.unregister(&back).unwrap();
    nothing_for_a_while(&mut s);
}

/// An outer epoll and a poll object watch the selector's `as_fd()`: through three purges,
/// each of which swaps the selector's working set, they keep seeing its events (the purge
/// used to replace the open file behind the number, and the watchers' entries died with it).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn watchers_keep_working_across_purges<B: Backend>(mut s: Selector<B, Data>)
where
    Selector<B, Data>: std::os::unix::io::AsFd,
{
    use ioselectors::select::{Epoll, Poll, EPOLLIN, POLLIN};
    use std::io::Read;
    use std::os::unix::io::{AsFd, AsRawFd};
    let number = s.as_fd().as_raw_fd();
    let outer_epoll = Epoll::new().unwrap();
    outer_epoll.register(&s.as_fd(), EPOLLIN).unwrap();
    let mut outer_poll = Poll::new();
    outer_poll.register(&s.as_fd(), POLLIN);
    let (mut live, mut live_peer) = pair();
    s.register(&live, EVENT_READ, "live").unwrap();
    let mut dead = Vec::new();
    for round in 0..3 {
        dead.push(dead_entry(&mut s));
        assert!(s.select(Some(Duration::ZERO)).unwrap().is_empty());
        assert!(
            outer_epoll
                .poll(Some(Duration::ZERO), 4)
                .unwrap()
                .is_empty(),
            "round {round}: the dead entry still shows through as_fd()"
        );
        live_peer.write_all(b"x").unwrap();
        assert_eq!(
            outer_epoll.poll(Some(Duration::from_secs(5)), 4).unwrap(),
            [(number, EPOLLIN)],
            "round {round}: the outer epoll lost the selector"
        );
        assert_eq!(
            outer_poll.poll(Some(Duration::from_secs(5))).unwrap(),
            [(number, POLLIN)],
            "round {round}: the poll object lost the selector"
        );
        let ready = s.select(Some(Duration::ZERO)).unwrap();
        assert_eq!(ready.len(), 1, "round {round}: {ready:?}");
        assert_eq!(ready[0].0.data, "live");
        live.read_exact(&mut [0]).unwrap();
    }
    assert_eq!(
        std::os::unix::io::AsRawFd::as_raw_fd(&s.as_fd()),
        number,
        "as_fd() moved"
    );
}

/// A dead entry fires while the process is out of descriptors, so the selector cannot
/// rebuild its set: `select(300 ms)` burned 300 ms of CPU (and `select(None)` spun until a
/// descriptor freed up). Now the old set stays whole, a live event is reported, and with
/// none, `select` returns `EMFILE` at once. Once descriptors are free, the purge happens.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn out_of_descriptors_is_an_error_not_a_spin(mut s: Selector<impl Backend, Data>) {
    use std::io::Read;
    let (mut live, mut live_peer) = pair();
    s.register(&live, EVENT_READ, "live").unwrap();
    let _dead = dead_entry(&mut s);
    {
        let _limit = OutOfDescriptors::now();
        let cpu_before = thread_cpu();
        let (took, result) = timed(|| s.select(Some(WAIT)));
        let cpu = thread_cpu() - cpu_before;
        assert_eq!(
            result
                .map(|ready| ready.len())
                .map_err(|err| err.raw_os_error()),
            Err(Some(libc::EMFILE))
        );
        assert!(took < WAIT, "returned after {took:?}");
        assert!(cpu < WAIT / 3, "select() spun: {cpu:?} of CPU");
        live_peer.write_all(b"x").unwrap();
        let ready = s.select(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(ready.len(), 1, "{ready:?}");
        assert_eq!(ready[0].0.data, "live");
        live.read_exact(&mut [0]).unwrap();
    }
    nothing_for_a_while(&mut s);
    live_peer.write_all(b"y").unwrap();
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
}

/// Makes every `EPOLL_CTL_ADD` of this process fail with `ENOSPC`, as epoll does past
/// `/proc/sys/fs/epoll/max_user_watches`: a seccomp filter, for the forked child that
/// calls it (it cannot be removed).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn epoll_adds_fail_with_enospc() {
    use libc::{sock_filter, sock_fprog};
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    // Offsets in the kernel's `struct seccomp_data`: `nr` first, then `arch`, the
    // instruction pointer, and the six arguments from byte 16 on (their low half first on
    // little-endian machines).
    let nr = 0;
    let op = 16 + 8 + if cfg!(target_endian = "big") { 4 } else { 0 }; // args[1]
    let filter = [
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, nr),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            libc::SYS_epoll_ctl as u32,
            0,
            3,
        ),
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, op),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            libc::EPOLL_CTL_ADD as u32,
            0,
            1,
        ),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::ENOSPC as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let program = sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut sock_filter,
    };
    // SAFETY: prctl reads `program`, which points to `filter`; both live for the call. The
    // filter only fails `epoll_ctl(EPOLL_CTL_ADD)` and lets everything else through.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program as *const sock_fprog
            ),
            0
        );
    }
}

/// A dead entry fires and the rebuilt set cannot take a live registration (`ENOSPC`, epoll's
/// watch limit): the registration was left out with `let _ =`, and stopped reporting while
/// its key stayed. Now the rebuild is abandoned whole: `select` says `ENOSPC`, and the live
/// registration keeps reporting from the old set. In a forked child (the fault is injected
/// with seccomp, which cannot be undone).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn a_rebuild_that_cannot_take_every_registration_is_abandoned(mut s: Selector<impl Backend, Data>) {
    use std::io::Read;
    let (mut live, mut live_peer) = pair();
    s.register(&live, EVENT_READ, "live").unwrap();
    let _dead = dead_entry(&mut s);
    let mut ready = Vec::with_capacity(4);
    let code = in_child(|| {
        epoll_adds_fail_with_enospc();
        match s.select_into(Some(Duration::ZERO), &mut ready) {
            Err(err) if err.raw_os_error() == Some(libc::ENOSPC) => {}
            Err(_) => return 1,
            Ok(_) => return 2,
        }
        if live_peer.write_all(b"x").is_err() {
            return 3;
        }
        match s.select_into(Some(Duration::from_secs(5)), &mut ready) {
            Ok(1) if ready[0].0.data == "live" => {}
            _ => return 4,
        }
        if live.read_exact(&mut [0]).is_err() {
            return 5;
        }
        0
    });
    assert_eq!(
        code, 0,
        "1: another error, 2: no error, 3: write failed, 4: the live registration was lost"
    );
}

macro_rules! suite {
    ($name:ident, $type:ty, $new:expr) => {
        mod $name {
            use super::*;

            fn new() -> $type {
                $new.unwrap()
            }

            #[test]
            fn try_clone_then_close_then_unregister() {
                let _shared = shared();
                dead_registration_stays_silent(new(), Twin::TryClone);
            }

            // Unix only: descriptors are duplicated by number with dup(2).
            #[cfg(unix)]
            #[test]
            fn dup_then_close_then_unregister() {
                let _shared = shared();
                dead_registration_stays_silent(new(), Twin::Dup);
            }

            // Unix only: fork.
            #[cfg(unix)]
            #[test]
            fn forked_child_holds_it() {
                let _shared = shared();
                dead_registration_stays_silent(new(), Twin::ForkedChild);
            }

            // Unix only: the number is reused on purpose with fcntl(F_DUPFD).
            #[cfg(unix)]
            #[test]
            fn reused_number_after_try_clone() {
                let _shared = shared();
                reused_number_gets_no_ghost_events(new(), Twin::TryClone);
            }

            // Unix only: fork, and the number is reused with fcntl(F_DUPFD).
            #[cfg(unix)]
            #[test]
            fn reused_number_after_fork() {
                let _shared = shared();
                reused_number_gets_no_ghost_events(new(), Twin::ForkedChild);
            }

            #[test]
            fn live_twin_keeps_reporting() {
                let _shared = shared();
                super::live_twin_keeps_reporting(new());
            }

            // Unix only: the number is reused on purpose with fcntl(F_DUPFD).
            #[cfg(unix)]
            #[test]
            fn same_file_back_at_its_number_registers_again() {
                let _shared = shared();
                super::same_file_back_at_its_number_registers_again(new());
            }
        }
    };
}

for_every_selector!(suite);

/// Found by the model-based fuzzer (`tests/model_fuzz/`): registrations closed without
/// `unregister`, then a purge whose new kernel objects take their numbers (`polling`'s
/// poller keeps an eventfd and a timerfd of its own in its epoll), then `unregister` of those
/// numbers: it deleted the poller's own entries, and every later wait failed with `ENOENT`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn unregistering_numbers_a_purge_took(mut s: Selector<impl Backend, Data>) {
    let _dead = dead_entry(&mut s);
    // The three lowest free numbers, registered, then closed without `unregister`: the
    // purge's new descriptors take them.
    let (a, _peer) = pair();
    let closed: Vec<Stream> = (0..3).map(|_| Stream::from(dup_at(&a, 0))).collect();
    let numbers: Vec<RawSource> = closed.iter().map(fd_of).collect();
    for stream in &closed {
        s.register(stream, EVENT_READ, "closed").unwrap();
    }
    drop(closed);
    assert!(s.select(Some(Duration::ZERO)).unwrap().is_empty()); // the purge
    for n in numbers {
        s.unregister(n).unwrap();
    }
    let (live, mut peer) = pair();
    s.register(&live, EVENT_READ, "live").unwrap();
    peer.write_all(b"x").unwrap();
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(ready[0].0.data, "live");
}

/// The selectors whose kernel set keeps the entries of dead registrations (epoll): they
/// purge, and the purge is what these tests are about.
#[cfg(any(target_os = "linux", target_os = "android"))]
macro_rules! purging_suite {
    ($name:ident, $type:ty, $new:expr) => {
        mod $name {
            use super::*;

            fn new() -> $type {
                $new.unwrap()
            }

            #[test]
            fn watchers_keep_working_across_purges() {
                let _shared = shared();
                super::super::watchers_keep_working_across_purges(new());
            }

            #[test]
            fn out_of_descriptors_is_an_error_not_a_spin() {
                let _alone = alone();
                super::super::out_of_descriptors_is_an_error_not_a_spin(new());
            }

            #[test]
            fn unregistering_numbers_a_purge_took() {
                let _alone = alone();
                super::super::unregistering_numbers_a_purge_took(new());
            }

            #[test]
            fn a_rebuild_that_cannot_take_every_registration_is_abandoned() {
                let _alone = alone();
                super::super::a_rebuild_that_cannot_take_every_registration_is_abandoned(new());
            }
        }
    };
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod purging {
    use super::*;
    purging_suite!(default, DefaultSelector<Data>, DefaultSelector::new());
    purging_suite!(epoll, EpollSelector<Data>, EpollSelector::new());
    // Over its poll backend, `polling` watches numbers: nothing to purge.
    #[cfg(not(polling_test_poll_backend))]
    purging_suite!(polling, PollingSelector<Data>, PollingSelector::new());
}
