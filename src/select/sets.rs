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

/// Waits until some of the given sources are ready and returns the ready ones of each list:
/// new lists of clones of the caller's items, in list order (an item listed twice comes back
/// twice). Python: `r, w, x = select.select(rlist, wlist, xlist, timeout)`.
///
/// * `rlist`: ready to read — data, end of file, a pending connection, hang-up or error.
/// * `wlist`: ready to write — room in the send buffer, or an error.
/// * `xlist`: exceptional condition — urgent TCP data (`MSG_OOB`) on Unix; on Windows also
///   a failed non-blocking `connect` (which Windows reports *only* there).
///
/// As in Python, the result borrows nothing: a loop may push new connections onto the lists
/// it passed, and take closed ones off ([`SourceList::remove_source`], Python's
/// `list.remove(sock)`), while it walks the ready ones. So the items are cheap to clone and
/// shared: `Rc<T>` or `Arc<T>` of a source, or borrowed ones (`&TcpStream`, `BorrowedFd`).
/// Lists that mix listeners and connections, as Python's do, hold one socket type that does
/// both, such as `Rc<socket2::Socket>` (accept, read and write on one type, like Python's
/// `socket`), or the sources' borrowed descriptors (`[listener.as_source(),
/// conn.as_source()]`, with [`AsSource`](crate::AsSource)).
///
/// `None` blocks, `Some(Duration::ZERO)` only looks, a positive timeout is rounded up to
/// whole microseconds; three empty lists sleep for the timeout (on Windows too, where Python
/// fails with `WSAEINVAL`).
///
/// ```
/// # #[cfg(unix)] {
/// use ioselectors::select::{select, SourceList};
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let (a, mut b) = UnixStream::pair()?;
/// b.write_all(b"x")?;
/// let mut inputs = vec![Rc::new(a)];
/// // readable, writable, exceptional = select.select(inputs, [], [], 0)
/// let (readable, _writable, _exceptional) = select(&inputs, &[], &[], Some(Duration::ZERO))?;
/// for conn in readable {
///     assert!(Rc::ptr_eq(&conn, &inputs[0])); // the caller's own item
///     inputs.remove_source(&conn); // inputs.remove(conn): the list is free to change
/// }
/// assert!(inputs.is_empty());
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
/// Each call allocates: the three result lists, and the sets handed to the kernel (on Unix
/// three of `FD_SETSIZE` bits, 128 bytes each on Linux, plus three index lists).
/// [`select_into`], with a [`Selected`] you keep, allocates nothing once it has grown, and
/// takes items that cannot be cloned.
pub fn select<S: AsSource + Clone>(
    rlist: &[S],
    wlist: &[S],
    xlist: &[S],
    timeout: Option<Duration>,
) -> io::Result<(Vec<S>, Vec<S>, Vec<S>)> {
    let mut selected = Selected::new();
    select_into(rlist, wlist, xlist, timeout, &mut selected)?;
    Ok((
        pick(&selected.readable, rlist),
        pick(&selected.writable, wlist),
        pick(&selected.exceptional, xlist),
    ))
}

fn pick<S: Clone>(indices: &[usize], list: &[S]) -> Vec<S> {
    indices.iter().map(|&index| list[index].clone()).collect()
}

/// Python's `list.remove(sock)` and `sock in list` for lists of sources, such as the ones
/// [`select()`] takes. An item is the same source as another if it lends the same descriptor
/// (two open sources never share one).
pub trait SourceList<S> {
    /// Takes the first item that is the same source as `item` out of the list, and returns
    /// it; `None` if there is none (where Python raises `ValueError`).
    fn remove_source(&mut self, item: &impl AsSource) -> Option<S>;

    /// Whether an item is the same source as `item`.
    fn contains_source(&self, item: &impl AsSource) -> bool;
}

impl<S: AsSource> SourceList<S> for Vec<S> {
    fn remove_source(&mut self, item: &impl AsSource) -> Option<S> {
        let fd = source::raw(item.as_source());
        let at = self
            .iter()
            .position(|listed| source::raw(listed.as_source()) == fd)?;
        Some(self.remove(at))
    }

    fn contains_source(&self, item: &impl AsSource) -> bool {
        let fd = source::raw(item.as_source());
        self.iter()
            .any(|listed| source::raw(listed.as_source()) == fd)
    }
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
