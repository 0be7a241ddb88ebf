//! The sets on Windows: Winsock's `select`, over arrays of sockets.

use crate::source::RawSource;
use std::io;
use std::time::Duration;
use windows_sys::Win32::Networking::WinSock::{self, FD_SET, SOCKET, SOCKET_ERROR, TIMEVAL};

/// Winsock's `select` has no limit on socket values, and this crate sizes its sets to
/// fit, so there is no limit on how many sockets a list holds either.
pub const FD_SETSIZE: usize = usize::MAX;

/// A set of sockets: kept sorted, so that membership is a binary search.
#[derive(Debug, Default, Clone)]
pub(crate) struct FdSet {
    sockets: Vec<SOCKET>,
    /// What the kernel reads and writes: a count (padded to a socket's size) followed by
    /// that many sockets.
    kernel: Vec<SOCKET>,
}

impl FdSet {
    pub(crate) fn can_hold(_fd: RawSource) -> bool {
        true
    }

    pub(crate) fn insert(&mut self, fd: RawSource) -> Result<(), ()> {
        if let Err(at) = self.sockets.binary_search(&(fd as SOCKET)) {
            self.sockets.insert(at, fd as SOCKET);
        }
        Ok(())
    }

    pub(crate) fn remove(&mut self, fd: RawSource) {
        if let Ok(at) = self.sockets.binary_search(&(fd as SOCKET)) {
            self.sockets.remove(at);
        }
    }

    pub(crate) fn contains(&self, fd: RawSource) -> bool {
        self.sockets.binary_search(&(fd as SOCKET)).is_ok()
    }

    pub(crate) fn clear(&mut self) {
        self.sockets.clear();
    }

    pub(crate) fn copy_from(&mut self, other: &FdSet) {
        self.sockets.clone_from(&other.sockets);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = RawSource> + '_ {
        self.sockets.iter().map(|&socket| socket as RawSource)
    }

    fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// What the kernel reads and writes, or null for an empty set.
    fn kernel_set(&mut self) -> *mut FD_SET {
        if self.sockets.is_empty() {
            return std::ptr::null_mut();
        }
        self.kernel.clear();
        self.kernel.push(self.sockets.len());
        self.kernel.extend_from_slice(&self.sockets);
        self.kernel.as_mut_ptr().cast()
    }

    fn read_kernel_set(&mut self) {
        if self.sockets.is_empty() {
            return;
        }
        let count = self
            .kernel
            .first()
            .map_or(0, |&count| count as u32 as usize);
        self.sockets.clear();
        self.sockets.extend_from_slice(&self.kernel[1..1 + count]);
        self.sockets.sort_unstable();
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

/// One Winsock `select` over the three sets, which are overwritten with the ready ones;
/// returns how many sockets are ready. Three empty sets sleep for the timeout (Winsock
/// itself refuses them with WSAEINVAL).
pub(crate) fn select_sets(
    read: &mut FdSet,
    write: &mut FdSet,
    except: &mut FdSet,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    if read.is_empty() && write.is_empty() && except.is_empty() {
        crate::deadline::sleep_without_sources(timeout);
        return Ok(0);
    }
    let timeout = timeout.map(timeval);
    let timeout_ptr = timeout
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const TIMEVAL);
    // SAFETY: each set is a count followed by that many sockets, the layout `select` reads
    // and writes (it only ever lowers the count). The buffers and the timeout outlive the
    // call.
    let result = unsafe {
        WinSock::select(
            0,
            read.kernel_set(),
            write.kernel_set(),
            except.kernel_set(),
            timeout_ptr,
        )
    };
    if result == SOCKET_ERROR {
        // SAFETY: reads the calling thread's last Winsock error; no preconditions.
        return Err(io::Error::from_raw_os_error(unsafe {
            WinSock::WSAGetLastError()
        }));
    }
    read.read_kernel_set();
    write.read_kernel_set();
    except.read_kernel_set();
    Ok(result as usize)
}
