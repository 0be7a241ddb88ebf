//! poll(2) through rustix on Unix, `WSAPoll` on Windows. Registration is bookkeeping in an
//! array kept ready between calls; each wait is one syscall, O(registered fds).

use crate::backend::sealed::Os;
use crate::fd_map::FdMap;
use crate::source::{self, BorrowedSource, RawSource};
use crate::Events;
use std::fmt;
use std::io;
use std::time::Duration;

/// The poll backend of [`PollSelector`](crate::PollSelector).
pub struct Poll {
    /// The array handed to the kernel, in no particular order.
    entries: Vec<sys::Entry>,
    /// Where each registered fd sits in `entries`, for O(1) modify and unregister.
    position: FdMap<usize>,
}

impl fmt::Debug for Poll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fds: Vec<RawSource> = self.entries.iter().map(sys::fd_of).collect();
        f.debug_struct("Poll").field("fds", &fds).finish()
    }
}

impl Os for Poll {
    const NAME: &'static str = "poll";

    fn open() -> io::Result<Self> {
        Ok(Poll {
            entries: Vec::new(),
            position: FdMap::new(),
        })
    }

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events) -> io::Result<()> {
        let fd = source::raw(source);
        self.position.insert(fd, self.entries.len());
        self.entries.push(sys::entry(fd, events));
        Ok(())
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events) -> io::Result<()> {
        if let Some(&index) = self.position.get(fd) {
            self.entries[index] = sys::entry(fd, events);
        }
        Ok(())
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) {
        if let Some(index) = self.position.remove(fd) {
            self.entries.swap_remove(index);
            if let Some(moved) = self.entries.get(index) {
                if let Some(position) = self.position.get_mut(sys::fd_of(moved)) {
                    *position = index;
                }
            }
        }
    }

    #[inline(always)]
    fn wait<F>(
        &mut self,
        timeout: Option<Duration>,
        _registered: usize,
        mut on_ready: F,
    ) -> io::Result<()>
    where
        F: FnMut(RawSource, Events) -> Option<Events>,
    {
        let mut pending = sys::poll(&mut self.entries, timeout)?;
        for entry in &self.entries {
            if pending == 0 {
                break;
            }
            let ready = sys::readiness(entry);
            if !ready.is_empty() {
                pending -= 1;
                on_ready(sys::fd_of(entry), ready);
            }
        }
        Ok(())
    }

    fn close(&mut self, _registered: &mut dyn Iterator<Item = RawSource>) {
        self.entries = Vec::new();
        self.position.clear();
    }
}

cfg_if::cfg_if! {
    if #[cfg(unix)] {
        mod sys {
            use crate::source::RawSource;
            use crate::timespec::to_timespec;
            use crate::Events;
            use rustix::event::{PollFd, PollFlags};
            use std::io;
            use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd};
            use std::time::Duration;

            pub(super) type Entry = PollFd<'static>;

            pub(super) fn entry(fd: RawSource, events: Events) -> Entry {
                let mut flags = PollFlags::empty();
                if events.contains(Events::READ) {
                    flags |= PollFlags::IN;
                }
                if events.contains(Events::WRITE) {
                    flags |= PollFlags::OUT;
                }
                // SAFETY: poll(2) only reads the number: a closed fd comes back as POLLNVAL, a
                // reused number reports the new file's readiness. No I/O is done on it. The
                // entry is dropped when the fd is unregistered, and `Poll` never hands it out.
                PollFd::from_borrowed_fd(unsafe { BorrowedFd::borrow_raw(fd) }, flags)
            }

            pub(super) fn fd_of(entry: &Entry) -> RawSource {
                entry.as_fd().as_raw_fd()
            }

            /// Anything but plain IN (HUP, ERR, NVAL, PRI) counts as writable, anything but
            /// plain OUT as readable: CPython's translation. The registry masks it by interest.
            pub(super) fn readiness(entry: &Entry) -> Events {
                let flags = entry.revents();
                let mut events = Events::empty();
                if !(flags - PollFlags::IN).is_empty() {
                    events |= Events::WRITE;
                }
                if !(flags - PollFlags::OUT).is_empty() {
                    events |= Events::READ;
                }
                events
            }

            pub(super) fn poll(entries: &mut [Entry], timeout: Option<Duration>) -> io::Result<usize> {
                Ok(rustix::event::poll(entries, timeout.map(to_timespec).as_ref())?)
            }
        }
    } else if #[cfg(windows)] {
        mod sys {
            use crate::source::RawSource;
            use crate::Events;
            use std::io;
            use std::time::Duration;
            use windows_sys::Win32::Networking::WinSock::{
                self, POLLOUT, POLLRDNORM, SOCKET, SOCKET_ERROR, WSAPOLLFD,
            };

            pub(super) type Entry = WSAPOLLFD;

            pub(super) fn entry(fd: RawSource, events: Events) -> Entry {
                let mut flags = 0;
                if events.contains(Events::READ) {
                    flags |= POLLRDNORM;
                }
                if events.contains(Events::WRITE) {
                    flags |= POLLOUT;
                }
                WSAPOLLFD { fd: fd as SOCKET, events: flags, revents: 0 }
            }

            pub(super) fn fd_of(entry: &Entry) -> RawSource {
                entry.fd as RawSource
            }

            /// As on Unix: anything but plain read readiness (HUP, ERR, NVAL) counts as
            /// writable, anything but plain OUT as readable.
            pub(super) fn readiness(entry: &Entry) -> Events {
                let flags = entry.revents;
                let mut events = Events::empty();
                if flags & !POLLRDNORM != 0 {
                    events |= Events::WRITE;
                }
                if flags & !POLLOUT != 0 {
                    events |= Events::READ;
                }
                events
            }

            pub(super) fn poll(entries: &mut [Entry], timeout: Option<Duration>) -> io::Result<usize> {
                if entries.is_empty() {
                    crate::deadline::sleep_without_sources(timeout);
                    return Ok(0);
                }
                // Whole milliseconds, rounded up so the wait is never shorter than asked.
                let millis = timeout.map_or(-1, |t| {
                    let millis = (t.as_nanos() + 999_999) / 1_000_000;
                    i32::try_from(millis).unwrap_or(i32::MAX)
                });
                // SAFETY: `entries` is a valid array of `entries.len()` WSAPOLLFD for the call.
                let ready = unsafe { WinSock::WSAPoll(entries.as_mut_ptr(), entries.len() as u32, millis) };
                if ready == SOCKET_ERROR {
                    // SAFETY: reads the calling thread's last Winsock error; no preconditions.
                    return Err(io::Error::from_raw_os_error(unsafe { WinSock::WSAGetLastError() }));
                }
                Ok(ready as usize)
            }
        }
    }
}
