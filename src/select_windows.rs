//! Windows: Winsock `select`, as CPython's `SelectSelector` uses it, without the 64-socket
//! cap (the sets are allocated to fit) and without failing on an empty set (it sleeps).

use crate::backend::sealed::Os;
use crate::source::{BorrowedSource, RawSource};
use crate::Events;
use std::io;
use std::os::windows::io::AsRawSocket;
use std::time::Duration;
use windows_sys::Win32::Networking::WinSock::{self, FD_SET, SOCKET, SOCKET_ERROR, TIMEVAL};

/// The Winsock `select` backend of [`SelectSelector`](crate::SelectSelector) on Windows.
#[derive(Debug, Default)]
pub struct Select {
    readers: Vec<SOCKET>,
    writers: Vec<SOCKET>,
    ready_readers: SocketSet,
    ready_writers: SocketSet,
    /// Write interest is watched here too: a failed non-blocking `connect` is signalled
    /// through the except set, and is reported as WRITE, as CPython does.
    ready_failed: SocketSet,
}

/// An `fd_set` of any size: Winsock's `FD_SET` is a count followed by that many sockets,
/// with the count padded to a socket's size. Element 0 is the count.
#[derive(Debug, Default)]
struct SocketSet(Vec<SOCKET>);

impl SocketSet {
    fn fill(&mut self, sockets: &[SOCKET]) {
        self.0.clear();
        self.0.push(sockets.len());
        self.0.extend_from_slice(sockets);
    }

    fn as_ptr(&mut self) -> *mut FD_SET {
        self.0.as_mut_ptr().cast()
    }

    fn sockets(&self) -> &[SOCKET] {
        let count = self.0.first().map_or(0, |&count| count as u32 as usize);
        &self.0[1..1 + count]
    }
}

fn set_interest(list: &mut Vec<SOCKET>, socket: SOCKET, wanted: bool) {
    let position = list.iter().position(|&s| s == socket);
    match (position, wanted) {
        (None, true) => list.push(socket),
        (Some(index), false) => {
            list.swap_remove(index);
        }
        _ => {}
    }
}

impl Select {
    fn set(&mut self, fd: RawSource, events: Events) {
        let socket = fd as SOCKET;
        set_interest(&mut self.readers, socket, events.contains(Events::READ));
        set_interest(&mut self.writers, socket, events.contains(Events::WRITE));
    }
}

/// Rounded up to whole microseconds, so the wait is never shorter than asked.
fn timeval(timeout: Duration) -> TIMEVAL {
    let micros = (timeout.subsec_nanos() + 999) / 1000;
    let (secs, micros) = if micros == 1_000_000 {
        (timeout.as_secs() + 1, 0)
    } else {
        (timeout.as_secs(), micros)
    };
    TIMEVAL {
        tv_sec: i32::try_from(secs).unwrap_or(i32::MAX),
        tv_usec: micros as i32,
    }
}

impl Os for Select {
    const NAME: &'static str = "select";

    fn open() -> io::Result<Self> {
        Ok(Select::default())
    }

    #[inline]
    fn add(&mut self, source: BorrowedSource<'_>, events: Events) -> io::Result<()> {
        self.set(source.as_raw_socket(), events);
        Ok(())
    }

    #[inline]
    fn modify(&mut self, fd: RawSource, events: Events) -> io::Result<()> {
        self.set(fd, events);
        Ok(())
    }

    #[inline]
    fn delete(&mut self, fd: RawSource) {
        self.set(fd, Events::empty());
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
        if self.readers.is_empty() && self.writers.is_empty() {
            crate::deadline::sleep_without_sources(timeout);
            return Ok(());
        }
        self.ready_readers.fill(&self.readers);
        self.ready_writers.fill(&self.writers);
        self.ready_failed.fill(&self.writers);
        let timeout = timeout.map(timeval);
        let timeout_ptr = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const TIMEVAL);
        // SAFETY: each set is a count followed by that many sockets, the layout `select`
        // reads and writes (it only ever lowers the count). The timeout outlives the call.
        let result = unsafe {
            WinSock::select(
                0,
                self.ready_readers.as_ptr(),
                self.ready_writers.as_ptr(),
                self.ready_failed.as_ptr(),
                timeout_ptr,
            )
        };
        if result == SOCKET_ERROR {
            // SAFETY: reads the calling thread's last Winsock error; no preconditions.
            return Err(io::Error::from_raw_os_error(unsafe {
                WinSock::WSAGetLastError()
            }));
        }
        for (set, events) in [
            (&self.ready_readers, Events::READ),
            (&self.ready_writers, Events::WRITE),
            (&self.ready_failed, Events::WRITE),
        ] {
            for &socket in set.sockets() {
                on_ready(socket as RawSource, events);
            }
        }
        Ok(())
    }
}
