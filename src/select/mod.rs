//! Python's [`select`](https://docs.python.org/3/library/select.html) module: the OS
//! primitives the selectors stand on, public and Python-shaped.
//!
//! Everything here is a thin, safe layer over one system call family. The selectors at the
//! crate root are built on these same types (as CPython's `selectors.py` is built on
//! `select`): `EpollSelector` drives an `Epoll`, `PollSelector` a [`Poll`], and
//! `SelectSelector` the sets behind [`select()`].
//!
//! | Python | ioselectors | Where |
//! |---|---|---|
//! | `select.select(rlist, wlist, xlist, timeout)` | [`select()`] → new lists of the ready items (clones of yours), in list order, so the loop may change its lists ([`SourceList`]); [`select_into`] fills a [`Selected`] of indices without allocating | Unix (on illumos and Solaris over poll(2)); Windows (sockets only) |
//! | `select.poll()` | [`Poll::new`]: `register` (upsert), `modify`, `unregister`, `poll`, `poll_into` | Unix (poll(2)); Windows (`WSAPoll`, sockets only: Python has no poll there) |
//! | `select.epoll()` | `Epoll`: `register`, `modify`, `unregister`, `poll(timeout, maxevents)`, `poll_into`, `close`, `from_fd` | Linux, Android |
//! | `select.kqueue()`, `select.kevent(...)` | `Kqueue`: `control(changes, &mut events, timeout)` into a `KqueueEvents`, `control_vec`, `close`, `from_fd`; `KEvent` | macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly |
//! | `select.devpoll()` | not offered: see below | — |
//! | `POLLIN`, `EPOLLET`, `KQ_EV_ADD`, … | the same names, as typed flags ([`PollFlags`], `EpollFlags`, `KqFlags`, …) | where the OS has them |
//! | `select.error` (`OSError`) | [`std::io::Error`] | |
//!
//! Rules shared by every primitive:
//! * **Sources are borrowed** (`AsFd` on Unix, `AsSocket` on Windows), so safe code cannot
//!   hand the kernel a descriptor it does not hold. Calls that only name a registration
//!   (`unregister`, `modify`) also take the raw number, so a source that is already closed
//!   can still be removed.
//! * **Timeouts are `Option<Duration>`**: `None` blocks, `Some(Duration::ZERO)` only looks,
//!   and a positive timeout is rounded *up* to the call's unit (µs for `select`, ms for `poll`
//!   and `epoll_wait`), so it never returns early and never turns into a busy loop.
//! * **Signals** (`EINTR`) are retried with the time that is left, as Python does since
//!   PEP 475; once the deadline has passed the call returns an empty result.
//! * **Errors** are [`std::io::Error`]s whose kind carries Python's meaning: `AlreadyExists`
//!   (epoll's double register), `NotFound` (not registered), `InvalidInput` (bad argument,
//!   and every negative descriptor number, as Python's `ValueError`), `PermissionDenied`
//!   (epoll refuses regular files). A kernel refusal is the kernel's own error: its
//!   [`raw_os_error`](std::io::Error::raw_os_error) is the errno, as Python's `e.errno`. The
//!   crate's own refusals carry a [`SelectorError`](crate::SelectorError) naming the
//!   descriptor.
//! * **One way to fill storage you keep.** Every wait has a form that takes the caller's
//!   storage (`poll_into`, `select_into`, `control`): it clears it, fills it, and returns how
//!   many entries it holds; once the storage has grown, a loop that reuses it makes no heap
//!   allocation. Where the kernel caps the results of one call (epoll's and kqueue's
//!   `maxevents`), the cap is the storage's capacity: `EpollEvents::with_capacity(n)`,
//!   `KqueueEvents::with_capacity(n)`. Elsewhere every ready entry is reported, and the
//!   storage (a `Vec`, or a [`Selected`] for `select`'s three lists) grows to hold them.
//!
//! `devpoll` (Solaris, illumos) is not offered: neither `libc` nor `rustix` binds `/dev/poll`,
//! its errors surface late (at `poll`, not at `register`), and illumos has better: [`Poll`]
//! here, and event ports behind `DefaultSelector`.
//!
//! **What is verified where.** `select()`, `Poll` and `Epoll` run their tests on Linux, and
//! `select()` and `Poll` also under Wine as Windows. kqueue cannot run on Linux: it is
//! type-checked there for Apple and every BSD, and its tests run in the macOS and FreeBSD
//! jobs of the crate's GitHub workflow.

mod poll;
pub(crate) use poll::PollArray;
pub use poll::*;

mod sets;
pub use sets::*;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use epoll::*;

cfg_if::cfg_if! {
    if #[cfg(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))] {
        mod kqueue;
        pub use kqueue::*;
    }
}
