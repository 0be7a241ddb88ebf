//! kqueue (macOS, iOS, BSD), IOCP/AFD (Windows) and event ports (illumos, Solaris), through
//! the `polling` crate in level-triggered mode.
//!
//! Event ports have no level mode, so there every descriptor is registered one-shot and
//! re-armed after it fires, which is level-triggering by another name. That emulation also
//! runs on Linux ([`Selector::with_emulated_level`]), so it is tested where CI can run it.

use crate::backend::sealed::Os;
use crate::backend::{Exclusive, Tag};
use crate::source::{self, BorrowedSource, RawSource};
use crate::{Events, Selector};
use polling::{Event, PollMode, Poller};
use std::io;
use std::num::NonZeroUsize;
use std::time::Duration;

/// The `polling` backend of [`PollingSelector`](crate::PollingSelector) (which is
/// `KqueueSelector`, `IocpSelector` and `EventPortSelector` on those systems).
#[derive(Debug)]
pub struct Polling {
    poller: Poller,
    /// `polling::Events` is not `Sync`; behind `Exclusive` it is reached through `&mut self`
    /// only, which keeps the selector `Sync`.
    events: Exclusive<polling::Events>,
    /// `Level`, or `Oneshot` when level-triggering is emulated by re-arming.
    mode: PollMode,
}

fn interest(key: usize, events: Events) -> Event {
    Event::new(
        key,
        events.contains(Events::READ),
        events.contains(Events::WRITE),
    )
}

cfg_if::cfg_if! {
    if #[cfg(all(unix, target_pointer_width = "64"))] {
        /// The event key: the registration's tag beside the descriptor number, so that an
        /// event of a dead registration is recognised (epoll, which `polling` uses on Linux,
        /// keeps the entry of a duplicated descriptor after `delete`).
        fn key(fd: RawSource, tag: Tag) -> usize {
            (tag as usize) << 32 | fd as u32 as usize
        }

        fn split(key: usize) -> (RawSource, Option<Tag>) {
            (key as u32 as RawSource, Some((key >> 32) as Tag))
        }
    } else {
        /// The event key: the descriptor (a socket handle on Windows, where `polling` tracks
        /// sockets itself; no room for a tag on 32-bit systems).
        fn key(fd: RawSource, _tag: Tag) -> usize {
            fd as usize
        }

        fn split(key: usize) -> (RawSource, Option<Tag>) {
            (key as RawSource, None)
        }
    }
}

cfg_if::cfg_if! {
    if #[cfg(unix)] {
        fn borrow(fd: RawSource) -> BorrowedSource<'static> {
            // SAFETY: `polling` passes the number to the kernel (kevent, epoll_ctl,
            // port_associate), which answers EBADF/ENOENT for a closed or reused fd. No I/O is
            // done on the descriptor, and the borrow does not escape the call.
            unsafe { std::os::unix::io::BorrowedFd::borrow_raw(fd) }
        }
    } else {
        fn borrow(fd: RawSource) -> BorrowedSource<'static> {
            // SAFETY: `polling` looks the socket up in its own table of registered sockets
            // (an unknown one gives NotFound) before handing it to AFD; no I/O is done on
            // it, and the borrow does not escape the call.
            unsafe { std::os::windows::io::BorrowedSocket::borrow_raw(fd) }
        }
    }
}

impl Polling {
    fn with_poller(poller: Poller, mode: PollMode) -> Self {
        Polling {
            poller,
            events: Exclusive(polling::Events::with_capacity(NonZeroUsize::MIN)),
            mode,
        }
    }

    fn add_raw(&self, fd: RawSource, events: Events, tag: Tag) -> io::Result<()> {
        // SAFETY: `polling` asks that a source be deleted before it is closed. The registry
        // deletes it at `unregister` and at `close`; a source its owner closes while it is
        // still registered is dropped from the kernel's set by the kernel itself, and a later
        // `add` of the same number is handled below (polling#262).
        unsafe {
            self.poller
                .add_with_mode(fd, interest(key(fd, tag), events), self.mode)
        }
    }
}

impl Os for Polling {
    const NAME: &'static str = "polling";

    fn open() -> io::Result<Self> {
        let poller = Poller::new()?;
        let mode = if poller.supports_level() {
            PollMode::Level
        } else {
            PollMode::Oneshot
        };
        Ok(Polling::with_poller(poller, mode))
    }

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events, tag: Tag) -> io::Result<()> {
        let fd = source::raw(source);
        match self.add_raw(fd, events, tag) {
            // polling#262: kqueue keeps tracking an fd that was closed without `delete`, so
            // its reused number is refused. Our registry does not hold it: drop the stale
            // entry and add again.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                let _ = self.poller.delete(source);
                self.add_raw(fd, events, tag)
            }
            result => result,
        }
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events, tag: Tag) -> io::Result<()> {
        self.poller
            .modify_with_mode(borrow(fd), interest(key(fd, tag), events), self.mode)
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) {
        let _ = self.poller.delete(borrow(fd));
    }

    #[inline(always)]
    fn wait<F>(
        &mut self,
        timeout: Option<Duration>,
        registered: usize,
        mut on_ready: F,
    ) -> io::Result<()>
    where
        F: FnMut(RawSource, Option<Tag>, Events) -> Option<Events>,
    {
        // kqueue reports READ and WRITE as two events: room for both, for every fd.
        let needed = registered.saturating_mul(2).max(1);
        let buffer = &mut self.events.0;
        if buffer.capacity().get() < needed {
            *buffer = polling::Events::with_capacity(
                NonZeroUsize::new(needed).unwrap_or(NonZeroUsize::MIN),
            );
        }
        buffer.clear();
        self.poller.wait(buffer, timeout)?;
        for event in buffer.iter() {
            let (fd, tag) = split(event.key);
            let mut ready = Events::empty();
            if event.readable {
                ready |= Events::READ;
            }
            if event.writable {
                ready |= Events::WRITE;
            }
            let registered_interest = on_ready(fd, tag, ready);
            if self.mode == PollMode::Oneshot {
                if let Some(events) = registered_interest {
                    // The fd fired and is now disarmed: re-arm it, so it is reported again for
                    // as long as it stays ready. A dead registration is left disarmed, so it
                    // never fires again.
                    let _ = self.poller.modify_with_mode(
                        borrow(fd),
                        interest(event.key, events),
                        self.mode,
                    );
                }
            }
        }
        Ok(())
    }

    /// Level mode only: a one-shot entry of a dead registration was not re-armed and never
    /// fires again. A new poller replaces the old one (its descriptor number changes: on
    /// kqueue, IOCP and event ports, where `PollingSelector` is the default, entries follow
    /// descriptors and this never happens).
    #[cold]
    fn purge(&mut self, live: &mut dyn Iterator<Item = (RawSource, Events, Tag)>) {
        if self.mode == PollMode::Oneshot {
            return;
        }
        let Ok(poller) = Poller::new() else {
            return; // out of descriptors: keep the old poller, and try again next time
        };
        let fresh = Polling::with_poller(poller, self.mode);
        for (fd, events, tag) in live {
            let _ = fresh.add_raw(fd, events, tag);
        }
        *self = fresh;
    }

    fn close(&mut self, registered: &mut dyn Iterator<Item = RawSource>) {
        for fd in registered {
            self.delete(fd);
        }
    }
}

impl<T> Selector<Polling, T> {
    /// A selector that emulates level-triggering with one-shot registrations re-armed after
    /// every event, as it must on illumos and Solaris (event ports have no level mode).
    /// Elsewhere [`new`](Selector::new) uses the native level mode; this constructor exists so
    /// the emulation can be tested on any system.
    pub fn with_emulated_level() -> io::Result<Self> {
        Ok(Selector::with_backend(Polling::with_poller(
            Poller::new()?,
            PollMode::Oneshot,
        )))
    }
}

#[cfg(all(
    any(
        target_os = "linux",
        target_os = "android",
        target_os = "illumos",
        target_os = "solaris",
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly",
    ),
    not(polling_test_poll_backend),
))]
mod fileno {
    use super::Polling;
    use crate::Selector;
    use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};

    impl<T> AsFd for Selector<Polling, T> {
        /// The kernel object (the kqueue, epoll or event port): Python's `fileno()`.
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.backend.poller.as_fd()
        }
    }

    impl<T> AsRawFd for Selector<Polling, T> {
        fn as_raw_fd(&self) -> RawFd {
            self.backend.poller.as_raw_fd()
        }
    }
}
