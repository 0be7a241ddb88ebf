//! Python's [`selectors`](https://docs.python.org/3/library/selectors.html) module for Rust:
//! one portable, level-triggered I/O multiplexing API over epoll, kqueue, IOCP, event ports,
//! poll and select.
//!
//! ```
//! use ioselectors::{DefaultSelector, EVENT_READ};
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//!
//! // sel = selectors.DefaultSelector()
//! let mut sel = DefaultSelector::new()?;
//! let server = TcpListener::bind("127.0.0.1:0")?;
//! server.set_nonblocking(true)?;
//! // sel.register(server, selectors.EVENT_READ, "accept")
//! sel.register(&server, EVENT_READ, "accept")?;
//!
//! let mut client = TcpStream::connect(server.local_addr()?)?;
//! // for key, mask in sel.select(): ...
//! for (key, mask) in sel.select(None)? {
//!     assert_eq!(key.data, "accept");
//!     assert_eq!(mask, EVENT_READ);
//!     let (mut conn, _) = server.accept()?;
//!     conn.write_all(b"hi")?;
//! }
//! let mut reply = [0; 2];
//! client.read_exact(&mut reply)?;
//! assert_eq!(&reply, b"hi");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Two layers, and the servers
//!
//! * **The selectors**, at the crate root: Python's `selectors` module. Every selector type
//!   is a [`Selector`] over one OS mechanism (write generic code over `Selector<B, T>` with
//!   `B: backend::Backend`), and other threads change its registrations through a
//!   [`Registry`]. The rules (validation, errors, masking, timeouts, EINTR, stale kernel
//!   entries) live once, shared by both; a [`backend`] only talks to the OS.
//! * **The primitives**, in [`select`]: Python's `select` module — `select()`, poll objects,
//!   epoll (edge-triggered, one-shot) and kqueue — public, Python-shaped, and what the
//!   selectors' backends are built on.
//!
//! And on top of the selectors, **the servers**: Python's `socketserver` module (TCP, UDP and
//! Unix-socket servers calling a request handler per request), in `socketserver` — the
//! `socketserver` cargo feature, on by default.
//!
//! | Type | Mechanism | Where | What differs |
//! |---|---|---|---|
//! | [`DefaultSelector`] | the best below | everywhere | chosen at compile time |
//! | `EpollSelector` | `select::Epoll` | Linux, Android | regular files and `/dev/null` refused (`EPERM`); one syscall per `select()`; `as_fd()` lends a second epoll, made on first use, that holds the working set |
//! | `KqueueSelector` | kqueue (`polling`) | macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly | READ and WRITE merged into one entry |
//! | `IocpSelector` | IOCP/AFD (`polling`) | Windows | sockets only |
//! | `EventPortSelector` | event ports (`polling`), level emulated by re-arming | illumos, Solaris | |
//! | `PollSelector` | [`select::Poll`] (poll(2); `WSAPoll`) | everywhere | O(registered) per call; a closed fd is reported ready (`POLLNVAL`) |
//! | `SelectSelector` | the sets behind `select::select` | all but illumos/Solaris | Unix: fds must be below `FD_SETSIZE` (1024); a closed fd fails `select()` with `EBADF` |
//! | [`PollingSelector`] | whatever `polling` uses | everywhere | the type behind kqueue, IOCP and event ports |
//!
//! `DefaultSelector` is epoll on Linux/Android, kqueue on Apple and the BSDs, IOCP on
//! Windows, event ports on illumos/Solaris and poll on other Unix systems.
//!
//! **Windows selectors take sockets only**: `register` takes `AsSocket`, and a handle lent as
//! a socket that is not one (a file, a pipe, the console) gets `InvalidInput`
//! ([`SelectorError::NotASocket`]).
//!
//! **Duplicated descriptors.** epoll watches open files, not numbers: a registered
//! descriptor that was duplicated (`try_clone`, `dup`, a forked child) and then closed keeps
//! its kernel entry. The selectors tag every registration, drop such an entry's events, and
//! rebuild the kernel's set when one shows up, so after `unregister` nothing of the old
//! registration ever reaches the caller, and a new source that reuses the number (or the
//! same file, put back at its number) is reported for its own events only. The rebuilt set
//! is swapped in behind the descriptor `as_fd()` lends, which never changes, so whoever
//! watches the selector keeps working. A rebuild is all or nothing: when the process is out
//! of descriptors, memory or epoll watches, the old set stays in force, whole, and `select()`
//! reports what is live or, with nothing live ready, returns that error (`EMFILE`,
//! `ENOMEM`, `ENOSPC`) at once instead of waking again and again; the next call tries
//! again.
//!
//! **What is verified where.** The selectors' test suite runs on Linux for epoll, poll, select
//! and `polling` (over both of its Linux backends), and under Wine for the Windows selectors
//! (IOCP, `WSAPoll`, Winsock `select`). kqueue runs in the macOS and FreeBSD jobs of the
//! crate's GitHub workflow. Event ports are type-checked only; the re-arming that emulates
//! their level mode runs on Linux and under Wine.
//!
//! # Sources: borrowed or owned
//!
//! [`register`](Selector::register) borrows a source for the call, so passing one by value
//! (which would close it on return) does not compile; unregister before closing.
//! [`register_owned`](Selector::register_owned) instead keeps the source in the key, as
//! Python's keys keep their file objects, and `unregister` gives it back.
//!
//! # Data that is not `Clone`
//!
//! [`Selector::select`] hands out snapshots of the keys (Python's callback pattern), so it
//! needs `T: Clone`. [`Selector::select_fds`] reports the ready descriptors instead, and
//! [`Selector::key_mut`] lends each one's data mutably: an owned `TcpStream` can be the
//! data, with no `Rc` and no clone per event.
//!
//! # Zero-allocation loops
//!
//! [`Selector::select`] and [`Selector::select_fds`] return a fresh `Vec`;
//! [`Selector::select_into`] and [`Selector::select_fds_into`] fill one you keep, and once
//! it has grown make no heap allocation per call.
//!
//! # Other threads
//!
//! [`Selector::registry`] gives a [`Registry`]: a cloneable, `Send + Sync` handle that
//! registers, modifies and unregisters from any thread, with effect on a `select()` blocked
//! at that moment (epoll, kqueue and IOCP through the kernel; poll and select by waking the
//! waiter).
//!
//! # Waking a blocked `select()`
//!
//! Register a [`Waker`] and call [`Waker::wake`] from any thread.
#![deny(missing_docs)]
// docs.rs: a badge on every item that exists on some platforms only.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(rust_2018_idioms)]

pub mod backend;
mod deadline;
mod error;
mod events;
mod fd_map;
mod key;
mod map;
mod registry;
pub mod select;
mod selector;
#[cfg(feature = "socketserver")]
#[cfg_attr(docsrs, doc(cfg(feature = "socketserver")))]
pub mod socketserver;
mod source;
mod waker;

#[cfg(unix)]
mod timespec;

pub use error::SelectorError;
pub use events::{Events, EVENT_READ, EVENT_WRITE};
pub use key::SelectorKey;
pub use map::SelectorMap;
pub use registry::Registry;
pub use selector::{KeyMut, Ready, ReadyFd, Refused, Selector};
pub use source::{AsSource, BorrowedSource, Fileno, RawSource};
pub use waker::Waker;

#[cfg(any(target_os = "linux", target_os = "android"))]
use backend::EpollBackend;
#[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
use backend::SelectBackend;
use backend::{PollBackend, PollingBackend};

/// epoll, directly through rustix: one `epoll_wait` per `select()`. Linux and Android.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub type EpollSelector<T> = Selector<EpollBackend, T>;

/// poll(2) through rustix on Unix; `WSAPoll` on Windows (sockets only; before Windows 10
/// version 2004, `WSAPoll` did not report a failed non-blocking `connect`).
pub type PollSelector<T> = Selector<PollBackend, T>;

/// select(2) on Unix (fds below `FD_SETSIZE` only); Winsock `select` on Windows. Not on
/// illumos/Solaris, where rustix has no select(2): use `PollSelector` there.
#[cfg(any(
    windows,
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
pub type SelectSelector<T> = Selector<SelectBackend, T>;

/// The `polling` crate in level-triggered mode: kqueue, IOCP/AFD or event ports (and epoll
/// or poll on Linux, where it exists to test the code those systems run).
pub type PollingSelector<T> = Selector<PollingBackend, T>;

/// kqueue through `polling`. macOS, iOS, FreeBSD, NetBSD, OpenBSD, DragonFly.
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
pub type KqueueSelector<T> = PollingSelector<T>;

/// IOCP/AFD through `polling`. Windows; sockets only.
#[cfg(windows)]
pub type IocpSelector<T> = PollingSelector<T>;

/// Event ports through `polling`, level-triggering emulated by re-arming. illumos, Solaris.
#[cfg(any(target_os = "illumos", target_os = "solaris"))]
pub type EventPortSelector<T> = PollingSelector<T>;

cfg_if::cfg_if! {
    if #[cfg(any(target_os = "linux", target_os = "android"))] {
        /// The best selector for this system, chosen at compile time: here, epoll.
        pub type DefaultSelector<T> = EpollSelector<T>;
    } else if #[cfg(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))] {
        /// The best selector for this system, chosen at compile time: here, kqueue.
        pub type DefaultSelector<T> = KqueueSelector<T>;
    } else if #[cfg(windows)] {
        /// The best selector for this system, chosen at compile time: here, IOCP.
        pub type DefaultSelector<T> = IocpSelector<T>;
    } else if #[cfg(any(target_os = "illumos", target_os = "solaris"))] {
        /// The best selector for this system, chosen at compile time: here, event ports.
        pub type DefaultSelector<T> = EventPortSelector<T>;
    } else {
        /// The best selector for this system, chosen at compile time: here, poll(2).
        pub type DefaultSelector<T> = PollSelector<T>;
    }
}

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The porting guide's examples, compiled and run as doc tests.
#[doc = include_str!("../docs/porting.md")]
#[cfg(doctest)]
pub struct PortingGuideDoctests;
