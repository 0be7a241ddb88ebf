//! Memory follows the number of registrations, not the largest descriptor number: one
//! registration at the highest descriptor the process may open costs at most 16 KiB, and
//! dense registrations at most 64 bytes each beyond their data. Counted by a global
//! allocator that tracks the bytes each thread holds, in this binary of its own.
// Unix only: descriptor numbers and RLIMIT_NOFILE.
#![cfg(unix)]

mod common;
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::os::unix::io::AsRawFd;
use std::sync::Mutex;

struct Counting;

thread_local! {
    /// Bytes this thread allocated minus bytes it freed.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: forwards to the system allocator; the counter is thread-local, so tests running in
// parallel do not see each other's allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests of this binary change a process-wide limit and use thousands of descriptors.
static SERIAL: Mutex<()> = Mutex::new(());

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// A socket moved to descriptor number `number`.
fn at_fd(number: libc::c_int) -> (Stream, Stream) {
    let (a, b) = pair();
    let a = lonely_at(a, number);
    assert_eq!(a.as_raw_fd(), number, "could not open fd {number}");
    (a, b)
}

const ONE_REGISTRATION_AT_MOST: isize = 16 * 1024;

/// The highest number the process may open, and one just below 16,384, where the registry's
/// paged table (for numbers below that) is at its largest.
fn lonely_numbers() -> [libc::c_int; 2] {
    let limit = raise_nofile_limit(1 << 20);
    let highest = libc::c_int::try_from(limit - 1).unwrap_or(libc::c_int::MAX);
    [highest, 16_383.min(highest - 1)]
}

fn one_registration_at_the_highest_fd<B: Backend>(new: impl Fn() -> Selector<B, Data>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for number in lonely_numbers() {
        one_registration_at(new(), number);
    }
}

fn one_registration_at(mut s: Selector<impl Backend, Data>, number: libc::c_int) {
    let (high, _peer) = at_fd(number);
    let before = live();
    s.register(&high, EVENT_READ, "high").unwrap();
    let cost = live() - before;
    assert!(
        cost <= ONE_REGISTRATION_AT_MOST,
        "one registration at fd {} costs {cost} bytes",
        high.as_raw_fd()
    );
    // Lookups still work by number.
    assert_eq!(s.get_key(high.as_raw_fd()).unwrap().data, "high");
    assert_eq!(
        s.get_map().unwrap().keys().collect::<Vec<_>>(),
        [high.as_raw_fd()]
    );
    s.unregister(&high).unwrap();
}

macro_rules! suite {
    ($name:ident, $type:ty, $new:expr) => {
        #[test]
        fn $name() {
            one_registration_at_the_highest_fd(|| $new.unwrap());
        }
    };
}

mod highest_fd {
    use super::*;
    for_every_scalable_selector!(suite);
}

/// Heap bytes per registration, over `COUNT` registrations of `DefaultSelector<T>`.
fn bytes_per_registration<T: Clone + Default>() -> f64 {
    const PAIRS: usize = 2_500;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    raise_nofile_limit(1 << 20);
    let pairs: Vec<(Stream, Stream)> = (0..PAIRS).map(|_| pair()).collect();
    let before = live();
    let mut s = DefaultSelector::<T>::new().unwrap();
    for (a, b) in &pairs {
        s.register(a, EVENT_READ, T::default()).unwrap();
        s.register(b, EVENT_READ, T::default()).unwrap();
    }
    let bytes = live() - before;
    bytes as f64 / (2 * PAIRS) as f64
}

fn dense<T: Clone + Default>() {
    let per_registration = bytes_per_registration::<T>();
    let limit = 64 + std::mem::size_of::<T>();
    assert!(
        per_registration <= limit as f64,
        "{per_registration:.1} bytes per registration with {}-byte data (limit {limit})",
        std::mem::size_of::<T>()
    );
}

#[test]
fn dense_registrations_without_data() {
    dense::<()>();
}

#[test]
fn dense_registrations_with_a_word_of_data() {
    dense::<usize>();
}

#[test]
fn dense_registrations_with_four_words_of_data() {
    dense::<[u64; 4]>();
}

/// Heap bytes `churn` leaves behind after 100,000 rounds of registering and unregistering
/// one source while another stays registered, with no wait in between.
fn bytes_after_churn<S>(mut s: S, churn: impl Fn(&mut S, &Stream)) -> isize {
    let (stay, _stay_peer) = pair();
    let (come_and_go, _peer) = pair();
    let before = live();
    churn(&mut s, &stay);
    for _ in 0..100_000 {
        churn(&mut s, &come_and_go);
    }
    let bytes = live() - before;
    drop(s);
    bytes
}

/// `select::Poll` and `PollSelector` drop unregistered entries lazily, at the next wait:
/// register/unregister churn between waits must not grow them without bound (it did: 8 bytes
/// a round, 15 MB over 2 million rounds).
#[test]
fn churn_between_waits_keeps_poll_memory_bounded() {
    use ioselectors::select::{Poll, POLLIN};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let poll = bytes_after_churn(Poll::new(), |p, source| {
        if p.modify(source, POLLIN).is_ok() {
            p.unregister(source).unwrap();
        } else {
            p.register(source, POLLIN);
        }
    });
    assert!(poll < 4096, "select::Poll grew by {poll} bytes");
    let selector = bytes_after_churn(PollSelector::<Data>::new().unwrap(), |s, source| {
        if s.unregister(source).is_err() {
            s.register(source, EVENT_READ, "x").unwrap();
        }
    });
    assert!(selector < 4096, "PollSelector grew by {selector} bytes");
}
