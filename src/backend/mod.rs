//! The line between the selectors' shared rules and the OS: one small adapter per
//! mechanism, each over a [`select`](crate::select) primitive (or the `polling` crate, for
//! kqueue, IOCP and event ports).
//!
//! A backend only talks to the kernel: it never sees keys or data, never validates, and
//! never retries. [`Selector`](crate::Selector) and [`Registry`](crate::Registry) do all of
//! that once, for every backend. A selector holds two ends of its backend: the
//! **registry's end** (the kernel object and what each registration holds in it), kept
//! behind the registry's lock so that any thread can change registrations, and the
//! **waiter's end** (the same kernel object, or for poll and select a copy of the set, and
//! the buffers the kernel fills), which only the selector's own thread touches, without the
//! lock. Each end uses the fields it needs; the other end's stay empty.
//!
//! These types appear only as the `B` of `Selector<B, T>`; use the aliases at the crate
//! root (`EpollSelector`, `PollSelector`, …).

use crate::source::{BorrowedSource, RawSource};
use crate::{Events, SelectorError};
use bitflags::Flags;
use std::fmt::Debug;
use std::io;
use std::time::Duration;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use epoll::EpollBackend;

mod poll;
pub use poll::PollBackend;

// rustix has no select(2) on illumos and Solaris.
#[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
mod select;
#[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
pub use select::SelectBackend;

mod poller;
pub use poller::PollingBackend;

/// An OS readiness mechanism that a [`Selector`](crate::Selector) can drive: epoll, poll,
/// select, or `polling`'s kqueue / IOCP / event-port poller.
///
/// The trait is sealed: the backends are this crate's own, so that every one of them obeys
/// the contract the shared rules rely on. Write generic code over `Selector<B, T>` with
/// `B: Backend`.
pub trait Backend: sealed::Os {}

impl<B: sealed::Os> Backend for B {}

/// Which registration of a descriptor number an event belongs to. The registry numbers
/// every registration; a backend whose kernel can keep an entry alive after `unregister`
/// (epoll, when the descriptor was duplicated before it was closed) stores the tag with the
/// entry, so that an event of a dead registration is recognised even if the number has been
/// reused since.
pub(crate) type Tag = u32;

/// A value reached only through `&mut`: `Sync` whatever it holds, since a shared reference
/// to it gives no access at all (what `std::sync::Exclusive` will be). Keeps selectors `Sync`
/// when a kernel buffer inside them is not.
pub(crate) struct Exclusive<T>(pub(crate) T);

impl<T> std::fmt::Debug for Exclusive<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exclusive { .. }")
    }
}

// SAFETY: `&Exclusive<T>` exposes nothing (the field is only used through `&mut self` by its
// owner), so sharing it between threads cannot race; moving it needs `T: Send`.
unsafe impl<T: Send> Sync for Exclusive<T> {}

pub(crate) mod sealed {
    use super::*;

    /// What each backend implements. Errors are the kernel's, unchanged. The methods called
    /// on the registry's end run with the registry's lock held; `wait` runs without it.
    pub trait Os: Sized + Send + Sync + Debug + 'static {
        /// Short name for `Debug` output and docs, e.g. `"epoll"`.
        const NAME: &'static str;

        /// poll and select: the kernel keeps nothing between waits, so the waiter's end
        /// waits on a copy of the set, which must be brought up to date ([`sync`](Self::sync))
        /// after a change, and woken ([`wake`](Self::wake)) if the change comes from another
        /// thread.
        const WAITS_ON_A_COPY: bool = false;

        /// Creates the kernel object, if the mechanism has one: the registry's end, and the
        /// waiter's.
        fn open() -> io::Result<(Self, Self)>;

        /// Refuses descriptors the mechanism can never watch (select's `FD_SETSIZE`).
        fn check_fd(_fd: RawSource) -> Result<(), SelectorError> {
            Ok(())
        }

        /// Registry's end: starts watching `source` for `events` (never empty), as
        /// registration `tag`.
        fn add(&mut self, source: BorrowedSource<'_>, events: Events, tag: Tag) -> io::Result<()>;

        /// Registry's end: changes what a watched descriptor is watched for (never empty).
        /// On error the previous interest must still be in force.
        fn modify(&mut self, fd: RawSource, events: Events, tag: Tag) -> io::Result<()>;

        /// Registry's end: stops watching `fd`. Cannot fail: the descriptor may already be
        /// closed or its number reused, and the kernel's complaint about that (EBADF, ENOENT)
        /// means "not watched". Returns whether the kernel let go of the entry for sure; if
        /// not, a duplicate of the descriptor may keep it alive (a dead entry).
        fn delete(&mut self, fd: RawSource) -> bool;

        /// Registry's end: brings the waiter's end up to date (see `WAITS_ON_A_COPY`).
        fn sync(&mut self, _waiter: &mut Self) {}

        /// Registry's end: makes a wait in progress return, so that it takes a change into
        /// account (see `WAITS_ON_A_COPY`).
        fn wake(&mut self) -> io::Result<()> {
            Ok(())
        }

        /// Waiter's end: waits once (one syscall in steady state) and keeps what the kernel
        /// reported for [`for_each_event`](Self::for_each_event). `registered` is how many
        /// descriptors are registered: the event buffer must hold them all. `Interrupted` is
        /// returned as is; the caller retries.
        fn wait(&mut self, timeout: Option<Duration>, registered: usize) -> io::Result<()>;

        /// Waiter's end: calls `on_ready(fd, tag, events)` for each descriptor the last wait
        /// found ready, with hang-up and error reported as `READ | WRITE`; `tag` is the
        /// registration's, if the backend stores it. `on_ready` returns the registered
        /// interest, or `None` if the event belongs to no live registration. `registry` is the
        /// registry's end, under the lock, if [`rearms`](Self::rearms) asked for it.
        fn for_each_event<F>(&mut self, registry: Option<&mut Self>, on_ready: F)
        where
            F: FnMut(RawSource, Option<Tag>, Events) -> Option<Events>;

        /// Waiter's end: whether `for_each_event` must change the kernel's set (re-arm
        /// one-shot entries), and so needs the registry's end.
        fn rearms(&self) -> bool {
            false
        }

        /// Registry's end, after a wait that reported an event of no live registration:
        /// makes the kernel forget every entry but the `live` ones, so that the dead one stops
        /// waking waits. All or nothing: if the kernel's set cannot be rebuilt in full (no
        /// descriptor or memory left), the old set stays in force, whole, and the error is
        /// returned. Backends that watch by number (poll, select) never report such events.
        fn purge(
            &mut self,
            _waiter: &mut Self,
            _live: &mut dyn Iterator<Item = (RawSource, Events, Tag)>,
        ) -> io::Result<()> {
            Ok(())
        }

        /// Registry's end: releases what the registrations hold in the kernel. `registered`
        /// lists the descriptors still registered. The descriptor `as_fd()` lends lives until
        /// drop, so that it stays sound for the selector's whole life; in a forked child,
        /// nothing that belongs to the parent is touched.
        fn close(&mut self, waiter: &mut Self, registered: &mut dyn Iterator<Item = RawSource>);
    }
}

/// Whether a purge's re-add failed for want of kernel resources (memory, or epoll's
/// `max_user_watches`), so that the rebuild must be abandoned, rather than because the
/// registration's number no longer names what was registered (closed: `EBADF`; reused by a
/// file the mechanism refuses: `EPERM`, …). The kernel had dropped the entry of such a
/// registration already, so the rebuilt set leaves it out too.
#[cfg(unix)]
pub(crate) fn out_of_resources(err: &io::Error) -> bool {
    use rustix::io::Errno;
    err.raw_os_error().is_some_and(|code| {
        code == Errno::NOMEM.raw_os_error() || code == Errno::NOSPC.raw_os_error()
    })
}

/// Room for events in one wait: every registration's, and the dead entries' that may still
/// be in the kernel's set, so that those never crowd out a live event. The room for dead
/// entries is capped, so that a program that keeps closing before `unregister` (each one
/// counts, as the kernel cannot say whether a duplicate keeps the entry alive) does not grow
/// the buffer without bound; past the cap, a purge and one more look make up for it.
#[inline(always)]
pub(crate) fn room(registered: usize, maybe_dead: usize) -> usize {
    if maybe_dead == 0 {
        return registered.max(1);
    }
    registered
        .saturating_add(maybe_dead.min(registered.max(64)))
        .max(1)
}

/// How many dead entries a kernel set may hold (see [`room`]): counted by the registry's
/// half, under its lock, and read by the selector's half before each wait, without it.
#[derive(Debug, Clone, Default)]
pub(crate) struct MaybeDead(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl MaybeDead {
    pub(crate) fn add_one(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let _ = self.0.fetch_add(1, Relaxed);
    }

    pub(crate) fn reset(&self) {
        self.0.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The kernel's flags for `events`, given its bits for reading and for writing.
fn interest<F: Flags>(events: Events, read: F, write: F) -> F {
    let mut flags = F::empty();
    if events.contains(Events::READ) {
        flags = flags.union(read);
    }
    if events.contains(Events::WRITE) {
        flags = flags.union(write);
    }
    flags
}

/// What the kernel reported, as Events: anything but plain read readiness (hang-up, error,
/// urgent data, a closed descriptor) counts as writable, and anything but plain write
/// readiness as readable (CPython's translation). The selector masks it by interest.
#[inline(always)]
fn readiness<F: Flags + Copy>(flags: F, plain_read: F, plain_write: F) -> Events {
    let mut events = Events::empty();
    if !flags.difference(plain_read).is_empty() {
        events |= Events::WRITE;
    }
    if !flags.difference(plain_write).is_empty() {
        events |= Events::READ;
    }
    events
}
