//! Python's `select.select(rlist, wlist, xlist, timeout)`. The rules live here; each system's
//! `FdSet` and `select_sets`, the one place its call is made (`SelectSelector` uses them
//! too), live in a file of their own: select(2) on Unix, poll(2) on illumos and Solaris,
//! Winsock on Windows.

use crate::deadline::wait_until;
use crate::error::invalid_input;
use crate::source::{self, AsSource};
use std::io;
use std::time::Duration;

cfg_if::cfg_if! {
    if #[cfg(windows)] {
        mod winsock;
        use winsock as sys;
    } else if #[cfg(any(
        target_os = "illumos",
        target_os = "solaris",
        ioselectors_select_over_poll
    ))] {
        mod over_poll;
        use over_poll as sys;
    } else if #[cfg(unix)] {
        mod unix;
        use unix as sys;
    }
}

pub use sys::FD_SETSIZE;
pub(crate) use sys::{select_sets, FdSet};

/// Waits until some of the given sources are ready and returns the ready ones of each list,
/// as references to the caller's own items, in list order (an item listed twice comes back
/// twice). Python: `r, w, x = select.select(rlist, wlist, xlist, timeout)`.
///
/// * `rlist`: ready to read — data, end of file, a pending connection, hang-up or error.
/// * `wlist`: ready to write — room in the send buffer, or an error.
/// * `xlist`: exceptional condition — urgent TCP data (`MSG_OOB`) on Unix; on Windows also
///   a failed non-blocking `connect` (which Windows reports *only* there).
///
/// One list may mix kinds of sources: list their borrowed descriptors,
/// `[listener.as_source(), conn.as_source()]` (with [`AsSource`](crate::AsSource)), on
/// every platform and Rust version. On Unix with Rust 1.78 or later, `&dyn AsFd` items work
/// too (`let inputs: [&dyn AsFd; 2] = [&listener, &conn];`): from that version the standard
/// library lends a descriptor through `&T` for unsized `T`. `&dyn AsSocket` items do not
/// work on Windows (std has no such impl for sockets).
///
/// `None` blocks, `Some(Duration::ZERO)` only looks, a positive timeout is rounded up to
/// whole microseconds; three empty lists sleep for the timeout (on Windows too, where Python
/// fails with `WSAEINVAL`).
///
/// ```
/// # #[cfg(unix)] {
/// use ioselectors::select::select;
/// use ioselectors::AsSource;
/// use std::io::Write;
/// use std::net::TcpListener;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let (a, mut b) = UnixStream::pair()?;
/// b.write_all(b"x")?;
/// let inputs = [listener.as_source(), a.as_source()]; // a listener and a connection
/// let outputs = [&a];
/// // readable, writable, exceptional = select.select(inputs, outputs, inputs, 0)
/// let (readable, writable, exceptional) = select(&inputs, &outputs, &inputs, Some(Duration::ZERO))?;
/// assert_eq!(readable.len(), 1);
/// assert!(std::ptr::eq(readable[0], &inputs[1])); // the caller's own item
/// assert_eq!(writable.len(), 1);
/// assert!(exceptional.is_empty());
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// * A closed descriptor: `EBADF`, as the kernel's own error (`raw_os_error()`), on every
///   Unix. (Linux's select(2) skips a closed number above the process's descriptor table
///   and leaves its bit set; this crate counts the bits and answers `EBADF` there too, so a
///   closed descriptor is never reported ready. When nothing else is ready, that comes after
///   the timeout, since the kernel does not see the number at all.)
/// * Unix: `InvalidInput` for a descriptor at or above [`FD_SETSIZE`], naming it and its
///   place in its list (select(2) cannot watch it; [`Poll`](crate::select::Poll) and `Epoll`
///   can), and for a list of more than `FD_SETSIZE` items (Python: "too many file
///   descriptors in select()"). The limit is kept on every Unix, Linux included, so a program
///   behaves the same wherever it runs.
/// * A negative descriptor (only `unsafe` code can lend one): `InvalidInput`, as Python's
///   `ValueError`.
/// * illumos and Solaris, where this is served by poll(2): `EINVAL` when the lists hold more
///   different descriptors than `RLIMIT_NOFILE` allows (poll(2)'s limit; select(2) has none).
/// * Windows: a handle that is not a socket fails with `WSAENOTSOCK`.
///
/// This allocates the three result lists; [`select_into`] does not.
pub fn select<'r, 'w, 'x, R: AsSource, W: AsSource, X: AsSource>(
    rlist: &'r [R],
    wlist: &'w [W],
    xlist: &'x [X],
    timeout: Option<Duration>,
) -> io::Result<(Vec<&'r R>, Vec<&'w W>, Vec<&'x X>)> {
    let mut selected = Selected::new();
    select_into(rlist, wlist, xlist, timeout, &mut selected)?;
    Ok((
        pick(&selected.readable, rlist),
        pick(&selected.writable, wlist),
        pick(&selected.exceptional, xlist),
    ))
}

fn pick<'a, S>(indices: &[usize], list: &'a [S]) -> Vec<&'a S> {
    indices.iter().map(|&index| &list[index]).collect()
}

/// Like [`select()`], but reports the positions of the ready items in each list, in a
/// [`Selected`] you keep: once it has grown, a call makes no heap allocation. Returns how
/// many positions it holds in all.
///
/// Positions rather than references leave the lists free to change between calls (a server
/// pushes new connections onto its list while walking the result).
///
/// ```
/// # #[cfg(unix)] {
/// use ioselectors::select::{select_into, Selected};
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let (a, _b) = UnixStream::pair()?;
/// let mut outputs = vec![a];
/// let mut selected = Selected::new();
/// let none: &[UnixStream] = &[];
/// select_into(none, &outputs, none, Some(Duration::ZERO), &mut selected)?;
/// for &i in selected.writable() {
///     let _ready: &mut UnixStream = &mut outputs[i];
/// }
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// As [`select()`].
#[inline]
pub fn select_into<R: AsSource, W: AsSource, X: AsSource>(
    rlist: &[R],
    wlist: &[W],
    xlist: &[X],
    timeout: Option<Duration>,
    selected: &mut Selected,
) -> io::Result<usize> {
    let Selected {
        readable,
        writable,
        exceptional,
        sets: [read_set, write_set, except_set],
    } = selected;
    readable.clear();
    writable.clear();
    exceptional.clear();
    let ready = wait_until(timeout, |timeout| {
        // Filled for every attempt: the kernel overwrites the sets.
        fill(read_set, rlist, "rlist")?;
        fill(write_set, wlist, "wlist")?;
        fill(except_set, xlist, "xlist")?;
        select_sets(read_set, write_set, except_set, timeout)
    })?;
    if ready > 0 {
        collect(readable, read_set, rlist);
        collect(writable, write_set, wlist);
        collect(exceptional, except_set, xlist);
    }
    Ok(readable.len() + writable.len() + exceptional.len())
}

fn fill<S: AsSource>(set: &mut FdSet, list: &[S], name: &str) -> io::Result<()> {
    set.clear();
    // Winsock's sets have no such limit (`FD_SETSIZE` is `usize::MAX` there).
    #[cfg(unix)]
    if list.len() > FD_SETSIZE {
        return Err(invalid_input(format!(
            "too many file descriptors in select(): {name} has {} items, at most FD_SETSIZE \
             ({FD_SETSIZE})",
            list.len()
        )));
    }
    for (index, item) in list.iter().enumerate() {
        let fd = source::raw(item.as_source());
        if source::check_number(fd).is_err() {
            return Err(invalid_input(format!(
                "invalid file descriptor {fd} ({name}[{index}])"
            )));
        }
        if set.insert(fd).is_err() {
            return Err(invalid_input(format!(
                "fd {fd} ({name}[{index}]) is out of range for select(): it must be below \
                 FD_SETSIZE ({FD_SETSIZE}); use Poll or Epoll for large descriptors"
            )));
        }
    }
    Ok(())
}

fn collect<S: AsSource>(indices: &mut Vec<usize>, set: &FdSet, list: &[S]) {
    for (index, item) in list.iter().enumerate() {
        if set.contains(source::raw(item.as_source())) {
            indices.push(index);
        }
    }
}

/// The result of [`select_into`]: the positions of the ready items in each list, in list
/// order, plus the descriptor sets handed to the kernel, kept so that later calls do not
/// allocate.
#[derive(Debug, Default)]
pub struct Selected {
    readable: Vec<usize>,
    writable: Vec<usize>,
    exceptional: Vec<usize>,
    sets: [FdSet; 3],
}

impl Selected {
    /// Empty storage; it grows on first use.
    pub fn new() -> Selected {
        Selected::default()
    }

    /// Positions in `rlist` of the items ready to read.
    pub fn readable(&self) -> &[usize] {
        &self.readable
    }

    /// Positions in `wlist` of the items ready to write.
    pub fn writable(&self) -> &[usize] {
        &self.writable
    }

    /// Positions in `xlist` of the items with an exceptional condition.
    pub fn exceptional(&self) -> &[usize] {
        &self.exceptional
    }

    /// Whether nothing was ready (the timeout passed).
    pub fn is_empty(&self) -> bool {
        self.readable.is_empty() && self.writable.is_empty() && self.exceptional.is_empty()
    }
}
