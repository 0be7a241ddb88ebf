//! Shared by the test binaries: socket pairs, and the list of every selector type this
//! platform has, so that each generic test runs against all of them.
#![allow(dead_code, unused_macros, unused_imports)]

pub mod cases;
pub mod example;

pub use ioselectors::backend::Backend;
pub use ioselectors::*;
use std::io;
use std::time::{Duration, Instant};

/// The data stored with registrations in the suite.
pub type Data = &'static str;

#[cfg(unix)]
pub type Stream = std::os::unix::net::UnixStream;
#[cfg(windows)]
pub type Stream = std::net::TcpStream;

/// A connected pair of sockets (Python's `socket.socketpair()`).
#[cfg(unix)]
pub fn pair() -> (Stream, Stream) {
    Stream::pair().expect("socketpair")
}

/// A connected pair of sockets: a loopback TCP connection, checked to be our own (CPython's
/// fallback where `socketpair` does not exist).
#[cfg(windows)]
pub fn pair() -> (Stream, Stream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = Stream::connect(listener.local_addr().unwrap()).expect("connect");
    loop {
        let (server, peer) = listener.accept().expect("accept");
        if peer == client.local_addr().unwrap() {
            return (server, client);
        }
    }
}

/// Moves `stream` to a descriptor number of its own, from 800 up (below select's 1024). The
/// kernel hands out the lowest free number, so once this one is closed, tests running in
/// parallel do not reuse it: the tests that need a closed number to stay closed (EBADF,
/// POLLNVAL) use this.
#[cfg(unix)]
pub fn lonely(stream: Stream) -> Stream {
    lonely_at(stream, lonely_number())
}

/// A descriptor number no other test of this process is handed by `lonely`.
#[cfg(unix)]
pub fn lonely_number() -> RawSource {
    use std::sync::atomic::{AtomicI32, Ordering};
    static NEXT: AtomicI32 = AtomicI32::new(800);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(number < 1000, "too many lonely descriptors");
    number
}

/// Moves `stream` to the lowest free descriptor number at or above `min`.
#[cfg(unix)]
pub fn lonely_at(stream: Stream, min: RawSource) -> Stream {
    Stream::from(dup_at(&stream, min))
}

/// A duplicate of `fd` (close-on-exec) at the lowest free descriptor number at or above
/// `min`.
#[cfg(unix)]
pub fn dup_at(fd: impl std::os::unix::io::AsFd, min: RawSource) -> std::os::unix::io::OwnedFd {
    use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor, which the returned OwnedFd owns.
    let new = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    assert!(
        new >= 0,
        "fcntl(F_DUPFD_CLOEXEC, {min}) failed: raise RLIMIT_NOFILE?"
    );
    // SAFETY: `new` is a fresh descriptor owned by nothing else.
    unsafe { OwnedFd::from_raw_fd(new) }
}

/// Windows hands out socket handles in no such order: nothing to do.
#[cfg(windows)]
pub fn lonely(stream: Stream) -> Stream {
    stream
}

/// The raw number of a source.
pub fn fd_of(source: &impl AsSource) -> RawSource {
    Fileno::fileno(&source)
}

/// How long `f` took, and what it returned.
pub fn timed<R>(f: impl FnOnce() -> R) -> (Duration, R) {
    let start = Instant::now();
    let result = f();
    (start.elapsed(), result)
}

/// The `SelectorError` inside an `io::Error`, if any.
pub fn cause(err: &io::Error) -> Option<&SelectorError> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<SelectorError>())
}

/// Calls `$suite!(name, Type, constructor)` once for every selector type of this platform.
/// The constructor is an expression returning `io::Result<Type>`.
#[macro_export]
macro_rules! for_every_selector {
    ($suite:ident) => {
        $suite!(default, DefaultSelector<Data>, DefaultSelector::new());
        #[cfg(any(target_os = "linux", target_os = "android"))]
        $suite!(epoll, EpollSelector<Data>, EpollSelector::new());
        $suite!(poll, PollSelector<Data>, PollSelector::new());
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
        $suite!(select, SelectSelector<Data>, SelectSelector::new());
        $suite!(polling, PollingSelector<Data>, PollingSelector::new());
        $suite!(
            polling_emulated_level,
            PollingSelector<Data>,
            PollingSelector::with_emulated_level()
        );
    };
}

/// Like `for_every_selector!`, but only the selectors without an `FD_SETSIZE` limit (on
/// Windows, where sockets are not numbered from 0, that includes Winsock's `select`).
#[macro_export]
macro_rules! for_every_scalable_selector {
    ($suite:ident) => {
        #[cfg(windows)]
        $suite!(select, SelectSelector<Data>, SelectSelector::new());
        $suite!(default, DefaultSelector<Data>, DefaultSelector::new());
        #[cfg(any(target_os = "linux", target_os = "android"))]
        $suite!(epoll, EpollSelector<Data>, EpollSelector::new());
        $suite!(poll, PollSelector<Data>, PollSelector::new());
        $suite!(polling, PollingSelector<Data>, PollingSelector::new());
        $suite!(
            polling_emulated_level,
            PollingSelector<Data>,
            PollingSelector::with_emulated_level()
        );
    };
}

/// A connected TCP loopback pair `(accepted, connected)` on every platform, for what only TCP
/// has (out-of-band data, a refused connection).
pub fn tcp_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    loop {
        let (server, peer) = listener.accept().expect("accept");
        if peer == client.local_addr().unwrap() {
            return (server, client);
        }
    }
}

/// A socket whose non-blocking connect to a port nobody listens on (bound a moment ago, now
/// closed) is under way: the connection will be refused.
pub fn refused_connect() -> socket2::Socket {
    use socket2::{Domain, Socket, Type};
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_nonblocking(true).unwrap();
    let err = socket.connect(&addr.into()).unwrap_err();
    #[cfg(unix)]
    assert_eq!(err.raw_os_error(), Some(libc::EINPROGRESS), "{err}");
    #[cfg(windows)]
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
    socket
}

/// Like `lonely`, for any descriptor: a duplicate of `fd` at a number no other test of this
/// process is handed, so that once it is closed it stays closed.
#[cfg(unix)]
pub fn lonely_fd(fd: impl std::os::unix::io::AsFd) -> std::os::unix::io::OwnedFd {
    dup_at(fd, lonely_number())
}

/// A descriptor number that named an open socket a moment ago and is now closed (CPython's
/// `make_bad_fd`). It is a lonely number: no test running in parallel reopens it.
#[cfg(unix)]
pub fn closed_number() -> RawSource {
    let (a, _b) = pair();
    let a = lonely(a);
    let fd = fd_of(&a);
    drop(a);
    fd
}

#[cfg(unix)]
static STORM_SIGNALS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cfg(unix)]
extern "C" fn count_storm_signal(_: libc::c_int) {
    STORM_SIGNALS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// Runs `wait` on this thread while a helper thread sends it SIGUSR1 every 10 ms (Python's
/// `setitimer` storm, aimed with `pthread_kill` at this thread only). The handler does
/// nothing and is installed without `SA_RESTART`, so every signal that lands during a wait
/// interrupts it with `EINTR`. Returns what `wait` returned and how many signals this
/// process handled meanwhile.
#[cfg(unix)]
pub fn under_signal_storm<R>(wait: impl FnOnce() -> R) -> (R, usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // SAFETY: a zeroed sigaction with an empty mask and our handler is a valid argument; the
    // handler only touches an atomic (async-signal-safe).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count_storm_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_flags = 0;
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let helper = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                // SAFETY: the target thread is alive: it joins this helper before it goes on.
                assert_eq!(
                    unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) },
                    0
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let before = STORM_SIGNALS.load(Ordering::SeqCst);
    let result = wait();
    let handled = STORM_SIGNALS.load(Ordering::SeqCst) - before;
    stop.store(true, Ordering::SeqCst);
    helper.join().unwrap();
    (result, handled)
}

/// Raises `RLIMIT_NOFILE` as far as it goes, up to `most` (as root, the hard limit too), and
/// returns the soft limit now in force. Tries ever smaller limits: the hard limit needs root
/// to raise, and macOS refuses a soft limit above `kern.maxfilesperproc` even under the hard
/// limit.
#[cfg(unix)]
pub fn raise_nofile_limit(most: libc::rlim_t) -> libc::rlim_t {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    let mut wanted = most;
    while wanted > old.rlim_cur {
        for hard in [wanted.max(old.rlim_max), old.rlim_max] {
            let new = libc::rlimit {
                rlim_cur: wanted.min(hard),
                rlim_max: hard,
            };
            // SAFETY: setrlimit reads the struct we pass.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
                return new.rlim_cur;
            }
        }
        wanted -= wanted / 8;
    }
    old.rlim_cur
}

/// Forks; the child runs `f` and exits with what it returns; returns the child's exit code.
/// The parent may have other threads (the test harness), one of which could hold a lock (the
/// allocator's) at the fork: `f` should allocate little, and tests that fork keep the other
/// tests of their binary idle meanwhile.
#[cfg(unix)]
pub fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs `f`, then `_exit`s without unwinding into the harness; the
    // parent waits for it.
    match unsafe { libc::fork() } {
        -1 => panic!("fork failed"),
        0 => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: ends the child without running the parent's destructors or atexit.
            unsafe { libc::_exit(code) }
        }
        pid => {
            let mut status = 0;
            // SAFETY: waits for our own child; the status is written to a local.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            assert!(libc::WIFEXITED(status), "the child died: {status:#x}");
            libc::WEXITSTATUS(status)
        }
    }
}

/// Lowers the soft `RLIMIT_NOFILE` to the lowest free descriptor number, so that the next
/// descriptor the process opens fails with `EMFILE`; puts the old limit back when dropped.
/// Process-wide: the tests that use it run alone.
#[cfg(unix)]
pub struct OutOfDescriptors {
    old: libc::rlimit,
    /// The soft limit in force: the lowest free number.
    pub limit: usize,
}

#[cfg(unix)]
impl OutOfDescriptors {
    pub fn now() -> OutOfDescriptors {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write the structs we pass; dup and close
        // act on fd 0 and the new descriptor only.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
            let lowest_free = libc::dup(0);
            assert!(lowest_free >= 0, "dup(0): no descriptor left already");
            libc::close(lowest_free);
            let new = libc::rlimit {
                rlim_cur: lowest_free as libc::rlim_t,
                rlim_max: old.rlim_max,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &new), 0);
            OutOfDescriptors {
                old,
                limit: lowest_free as usize,
            }
        }
    }
}

#[cfg(unix)]
impl Drop for OutOfDescriptors {
    fn drop(&mut self) {
        // SAFETY: setrlimit reads the struct we pass.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.old) };
    }
}
