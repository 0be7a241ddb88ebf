//! Python's `select.select(rlist, wlist, xlist, timeout)`: select(2) through rustix on Unix,
//! Winsock `select` on Windows. [`FdSet`] and [`select_sets`] are the one place either
//! call is made; `SelectSelector` uses them too.

use crate::error::invalid_input;
use crate::source::{self, AsSource};
use std::io;
use std::time::Duration;

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
    let ready = super::retry_interrupted(
        timeout,
        |timeout| {
            // Filled for every attempt: the kernel overwrites the sets.
            fill(read_set, rlist, "rlist")?;
            fill(write_set, wlist, "wlist")?;
            fill(except_set, xlist, "xlist")?;
            select_sets(read_set, write_set, except_set, timeout)
        },
        || 0,
    )?;
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

#[cfg(all(
    unix,
    not(any(
        target_os = "illumos",
        target_os = "solaris",
        ioselectors_select_over_poll
    ))
))]
mod sys {
    use crate::source::RawSource;
    use crate::timespec::to_timespec;
    use rustix::event::{
        fd_set_bound, fd_set_insert, fd_set_num_elements, fd_set_remove, FdSetElement, FdSetIter,
    };
    use std::fmt;
    use std::io;
    use std::time::Duration;

    /// The platform's `FD_SETSIZE`: select(2) cannot watch an fd at or above it.
    #[cfg(target_os = "netbsd")]
    pub const FD_SETSIZE: usize = 256;
    /// The platform's `FD_SETSIZE`: select(2) cannot watch an fd at or above it.
    #[cfg(not(target_os = "netbsd"))]
    pub const FD_SETSIZE: usize = 1024;

    /// Words in a set of `FD_SETSIZE` bits.
    const WORDS: usize = FD_SETSIZE / 64;

    /// A set of descriptors below `FD_SETSIZE`: in the kernel's layout, and mirrored in plain
    /// words, since rustix's set elements cannot be read one bit at a time.
    #[derive(Clone)]
    pub(crate) struct FdSet {
        kernel: Vec<FdSetElement>,
        mirror: [u64; WORDS],
    }

    impl Default for FdSet {
        fn default() -> FdSet {
            FdSet {
                kernel: vec![
                    FdSetElement::default();
                    fd_set_num_elements(FD_SETSIZE, FD_SETSIZE as i32)
                ],
                mirror: [0; WORDS],
            }
        }
    }

    impl fmt::Debug for FdSet {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_set().entries(self.iter()).finish()
        }
    }

    impl FdSet {
        /// Whether select(2) can take `fd`.
        pub(crate) fn can_hold(fd: RawSource) -> bool {
            (fd as usize) < FD_SETSIZE
        }

        /// Adds `fd`; `Err` if it is out of range.
        #[inline]
        pub(crate) fn insert(&mut self, fd: RawSource) -> Result<(), ()> {
            if !FdSet::can_hold(fd) {
                return Err(());
            }
            fd_set_insert(&mut self.kernel, fd);
            self.mirror[fd as usize / 64] |= 1 << (fd as usize % 64);
            Ok(())
        }

        pub(crate) fn remove(&mut self, fd: RawSource) {
            if FdSet::can_hold(fd) {
                fd_set_remove(&mut self.kernel, fd);
                self.mirror[fd as usize / 64] &= !(1 << (fd as usize % 64));
            }
        }

        #[inline]
        pub(crate) fn contains(&self, fd: RawSource) -> bool {
            FdSet::can_hold(fd) && self.mirror[fd as usize / 64] & (1 << (fd as usize % 64)) != 0
        }

        #[inline]
        pub(crate) fn clear(&mut self) {
            self.kernel.fill(FdSetElement::default());
            self.mirror = [0; WORDS];
        }

        pub(crate) fn copy_from(&mut self, other: &FdSet) {
            self.kernel.copy_from_slice(&other.kernel);
            self.mirror = other.mirror;
        }

        pub(crate) fn iter(&self) -> impl Iterator<Item = RawSource> + '_ {
            FdSetIter::new(&self.kernel)
        }

        /// What the kernel handed back, or `None` for an empty set (the kernel need not
        /// look at it).
        fn for_kernel(&mut self) -> Option<&mut [FdSetElement]> {
            (self.mirror != [0; WORDS]).then_some(&mut self.kernel[..])
        }

        /// Brings the mirror in line with what the kernel wrote, and counts the bits.
        fn read_kernel(&mut self) -> usize {
            self.mirror = [0; WORDS];
            let mut count = 0;
            for fd in FdSetIter::new(&self.kernel) {
                self.mirror[fd as usize / 64] |= 1 << (fd as usize % 64);
                count += 1;
            }
            count
        }
    }

    /// One select(2) over the three sets, which the kernel overwrites with the ready ones
    /// (all empty if nothing is ready); returns how many bits are set. A closed descriptor is
    /// `EBADF`, wherever it is in the table. `EINTR` is returned, not retried.
    #[inline(always)]
    pub(crate) fn select_sets(
        read: &mut FdSet,
        write: &mut FdSet,
        except: &mut FdSet,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let nfds = fd_set_bound(&read.kernel)
            .max(fd_set_bound(&write.kernel))
            .max(fd_set_bound(&except.kernel));
        let timeout = timeout.map(to_timespec);
        // SAFETY: each set holds FD_SETSIZE bits, covering `nfds`. rustix asks that every fd in
        // the sets be open, and that may not hold (the caller's number may be stale): select(2)
        // only looks the numbers up and does no I/O on them. A closed one inside the process's
        // descriptor table fails the call with EBADF; one above it is skipped by the kernel and
        // turned into EBADF below. Either way a stale number cannot cause undefined behaviour.
        let ready = unsafe {
            rustix::event::select(
                nfds,
                read.for_kernel(),
                write.for_kernel(),
                except.for_kernel(),
                timeout.as_ref(),
            )?
        };
        let mut reported = 0;
        for set in [read, write, except] {
            if set.mirror != [0; WORDS] {
                reported += set.read_kernel();
            }
        }
        // Linux skips a number above the process's descriptor table (it cannot be open) and
        // leaves its bit as it was: more bits than the kernel counted are such numbers.
        if reported != ready as usize {
            return Err(rustix::io::Errno::BADF.into());
        }
        Ok(reported)
    }
}

/// illumos and Solaris: rustix has no select(2) there, so `select()` is served by one poll(2)
/// over the same descriptors, with the kernel's own grouping of poll's bits into select's
/// three sets (as Linux's select(2) does it inside the kernel). `--cfg
/// ioselectors_select_over_poll` builds it on any Unix, so its tests run on Linux too.
#[cfg(any(
    target_os = "illumos",
    target_os = "solaris",
    ioselectors_select_over_poll
))]
mod sys {
    use crate::source::{lend_number, RawSource};
    use crate::timespec::to_timespec;
    use rustix::event::{PollFd, PollFlags};
    use std::io;
    use std::time::Duration;

    /// The platform's `FD_SETSIZE` (64-bit illumos and Solaris): select(2) cannot watch an fd
    /// at or above it, and neither does this crate's `select()`, so programs behave the same.
    pub const FD_SETSIZE: usize = 65536;

    /// A set of descriptors, kept sorted, so that membership is a binary search.
    #[derive(Debug, Default)]
    pub(crate) struct FdSet {
        fds: Vec<RawSource>,
        /// Scratch for `select_sets` (used in the read set, reused from call to call): each
        /// descriptor with what the three sets ask of it, and the poll(2) array.
        asked: Vec<(RawSource, PollFlags)>,
        polled: Vec<PollFd<'static>>,
    }

    impl FdSet {
        pub(crate) fn can_hold(fd: RawSource) -> bool {
            (fd as usize) < FD_SETSIZE
        }

        pub(crate) fn insert(&mut self, fd: RawSource) -> Result<(), ()> {
            if !FdSet::can_hold(fd) {
                return Err(());
            }
            if let Err(at) = self.fds.binary_search(&fd) {
                self.fds.insert(at, fd);
            }
            Ok(())
        }

        pub(crate) fn contains(&self, fd: RawSource) -> bool {
            self.fds.binary_search(&fd).is_ok()
        }

        pub(crate) fn clear(&mut self) {
            self.fds.clear();
        }

        // `SelectSelector`'s (not offered on illumos and Solaris).
        #[allow(dead_code)]
        pub(crate) fn remove(&mut self, fd: RawSource) {
            if let Ok(at) = self.fds.binary_search(&fd) {
                self.fds.remove(at);
            }
        }

        #[allow(dead_code)]
        pub(crate) fn copy_from(&mut self, other: &FdSet) {
            self.fds.clone_from(&other.fds);
        }

        #[allow(dead_code)]
        pub(crate) fn iter(&self) -> impl Iterator<Item = RawSource> + '_ {
            self.fds.iter().copied()
        }
    }

    /// What select(2) puts in each set, from poll's bits (the grouping Linux's kernel uses).
    const READ: PollFlags = PollFlags::IN
        .union(PollFlags::RDNORM)
        .union(PollFlags::RDBAND)
        .union(PollFlags::HUP)
        .union(PollFlags::ERR);
    const WRITE: PollFlags = PollFlags::OUT
        .union(PollFlags::WRNORM)
        .union(PollFlags::WRBAND)
        .union(PollFlags::ERR);
    const EXCEPT: PollFlags = PollFlags::PRI;

    /// One poll(2) over the descriptors of the three sets, which are overwritten with the
    /// ready ones; returns how many set entries are ready. A closed descriptor fails the call
    /// with `EBADF`, as select(2) does. `EINTR` is returned, not retried.
    pub(crate) fn select_sets(
        read: &mut FdSet,
        write: &mut FdSet,
        except: &mut FdSet,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let mut asked = std::mem::take(&mut read.asked);
        let mut polled = std::mem::take(&mut read.polled);
        asked.clear();
        for (set, events) in [
            (&*read, PollFlags::IN),
            (&*write, PollFlags::OUT),
            (&*except, PollFlags::PRI),
        ] {
            asked.extend(set.fds.iter().map(|&fd| (fd, events)));
        }
        asked.sort_unstable_by_key(|&(fd, _)| fd);
        asked.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 |= later.1;
            }
            same
        });
        polled.clear();
        // poll(2) only looks the numbers up: a closed descriptor comes back as POLLNVAL
        // (turned into EBADF below). The entries do not outlive this call (the array is
        // cleared before it returns).
        for &(fd, events) in &asked {
            polled.push(PollFd::from_borrowed_fd(lend_number(fd)?, events));
        }
        let outcome = match rustix::event::poll(&mut polled, timeout.map(to_timespec).as_ref()) {
            Err(err) => Err(err.into()),
            Ok(_)
                if polled
                    .iter()
                    .any(|entry| entry.revents().contains(PollFlags::NVAL)) =>
            {
                Err(rustix::io::Errno::BADF.into())
            }
            Ok(_) => {
                let mut ready = 0;
                for (set, wanted) in [
                    (&mut *read, READ),
                    (&mut *write, WRITE),
                    (&mut *except, EXCEPT),
                ] {
                    set.fds.retain(|fd| {
                        asked
                            .binary_search_by_key(fd, |&(asked_fd, _)| asked_fd)
                            .is_ok_and(|at| polled[at].revents().intersects(wanted))
                    });
                    ready += set.fds.len();
                }
                Ok(ready)
            }
        };
        polled.clear();
        read.asked = asked;
        read.polled = polled;
        outcome
    }
}

#[cfg(windows)]
mod sys {
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
}
