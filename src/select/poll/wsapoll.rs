//! `WSAPoll` (Windows, sockets only): the entries, the bits and the call.

use super::PollFlags;
use crate::source::RawSource;
use crate::SelectorError;
use std::io;
use std::time::Duration;
use windows_sys::Win32::Networking::WinSock::{self, SOCKET, SOCKET_ERROR, WSAPOLLFD};

pub(super) const IN: u16 = (WinSock::POLLRDNORM | WinSock::POLLRDBAND) as u16;
pub(super) const PRI: u16 = WinSock::POLLPRI as u16;
pub(super) const OUT: u16 = WinSock::POLLOUT as u16;
pub(super) const ERR: u16 = WinSock::POLLERR as u16;
pub(super) const HUP: u16 = WinSock::POLLHUP as u16;
pub(super) const NVAL: u16 = WinSock::POLLNVAL as u16;
pub(super) const RDNORM: u16 = WinSock::POLLRDNORM as u16;
pub(super) const RDBAND: u16 = WinSock::POLLRDBAND as u16;
pub(super) const WRNORM: u16 = WinSock::POLLWRNORM as u16;
pub(super) const WRBAND: u16 = WinSock::POLLWRBAND as u16;

/// What `WSAPoll` accepts in `events`: anything else (`POLLPRI`) is `WSAEINVAL`.
const ACCEPTED: u16 = RDNORM | RDBAND | WRNORM;

pub(super) type Entry = WSAPOLLFD;

pub(super) fn entry(fd: RawSource, mask: PollFlags) -> Result<Entry, SelectorError> {
    crate::source::check_number(fd)?;
    Ok(WSAPOLLFD {
        fd: fd as SOCKET,
        events: (mask.bits() & ACCEPTED) as i16,
        revents: 0,
    })
}

pub(super) fn fd_of(entry: &Entry) -> RawSource {
    entry.fd as RawSource
}

#[inline(always)]
pub(super) fn revents(entry: &Entry) -> PollFlags {
    PollFlags::from_bits_retain(entry.revents as u16)
}

pub(super) fn poll(entries: &mut [Entry], timeout: Option<Duration>) -> io::Result<usize> {
    if entries.is_empty() {
        // WSAPoll refuses an empty array: wait for the timeout, as on Unix.
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
        return Err(io::Error::from_raw_os_error(unsafe {
            WinSock::WSAGetLastError()
        }));
    }
    Ok(ready as usize)
}
