//! test_select_interrupt_noraise and test_select_interrupt_exc, with signals delivered to the
//! selecting thread by `pthread_kill`. Its own binary: signal handlers are process-wide.
// Unix only: Windows has no POSIX signals (the waker cases of the suite run there).
#![cfg(unix)]

mod common;
use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());
static SIGNALS: AtomicUsize = AtomicUsize::new(0);
static WAKER: OnceLock<Waker> = OnceLock::new();

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Python's raising handler, the Rust way: the handler wakes the loop (async-signal-safe:
/// one write(2)), as `signal.set_wakeup_fd` does for asyncio.
extern "C" fn wake_on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
    if let Some(waker) = WAKER.get() {
        let _ = waker.wake();
    }
}

/// Installs `handler` for SIGUSR1 without SA_RESTART, so blocking calls fail with EINTR.
fn install(handler: extern "C" fn(libc::c_int)) {
    // SAFETY: a zeroed sigaction with an empty mask and our handler is a valid argument.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as usize;
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_flags = 0;
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
}

/// Sends SIGUSR1 to the calling thread after `delay`, from a helper thread.
fn signal_me_after(delay: Duration) -> std::thread::JoinHandle<()> {
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        // SAFETY: the target thread is still running: it joins this helper before it ends.
        assert_eq!(
            unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) },
            0
        );
    })
}

/// PEP 475: the signal interrupts the wait, which resumes with the time left. Lower bound:
/// never before the timeout. Upper bound: well before "restarted with the full timeout"
/// (2 s + 2.5 s).
fn interrupt_noraise(mut s: Selector<impl Backend, Data>) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    install(count_signal);
    let (rd, _wr) = pair();
    s.register(&rd, EVENT_READ, "rd").unwrap();
    let before = SIGNALS.load(Ordering::SeqCst);
    let helper = signal_me_after(Duration::from_secs(2));
    let timeout = Duration::from_millis(2500);
    let (elapsed, ready) = timed(|| s.select(Some(timeout)));
    helper.join().unwrap();
    assert!(ready.unwrap().is_empty(), "EINTR must not surface");
    assert_eq!(
        SIGNALS.load(Ordering::SeqCst),
        before + 1,
        "the signal was delivered"
    );
    assert!(elapsed >= timeout, "returned early, after {elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(4000),
        "the timeout restarted: {elapsed:?}"
    );
}

/// A signal handler makes `select()` return promptly by waking a registered `Waker`.
fn interrupt_exc(mut s: Selector<impl Backend, Data>) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let waker = WAKER.get_or_init(|| Waker::new().unwrap());
    waker.reset().unwrap();
    install(wake_on_signal);
    let (rd, _wr) = pair();
    s.register(&rd, EVENT_READ, "rd").unwrap();
    let key = s.register(waker, EVENT_READ, "signal").unwrap().clone();
    let helper = signal_me_after(Duration::from_secs(1));
    let (elapsed, ready) = timed(|| s.select(Some(Duration::from_secs(30))).unwrap());
    helper.join().unwrap();
    assert_eq!(ready, vec![(key, EVENT_READ)]);
    assert!(
        elapsed >= Duration::from_millis(900),
        "returned before the signal: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    waker.reset().unwrap();
}

macro_rules! suite {
    ($name:ident, $selector:ty, $new:expr) => {
        mod $name {
            use super::*;

            fn new() -> $selector {
                $new.expect("create selector")
            }

            #[test]
            fn select_interrupt_noraise() {
                interrupt_noraise(new())
            }

            #[test]
            fn select_interrupt_exc() {
                interrupt_exc(new())
            }
        }
    };
}

for_every_selector!(suite);
