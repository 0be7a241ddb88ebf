//! The steady-state `select_into` path makes no heap allocation, on every backend: counted by
//! a global allocator in this binary of its own.

mod common;
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::time::Duration;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is thread-local, so tests running in
// parallel do not see each other's allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn steady_state_select_does_not_allocate(mut s: Selector<impl Backend, Data>) {
    let pairs: Vec<(Stream, Stream)> = (0..50).map(|_| pair()).collect();
    for (rd, wr) in &pairs {
        s.register(rd, EVENT_READ, "rd").unwrap();
        s.register(wr, EVENT_WRITE, "wr").unwrap();
    }
    let mut ready = Vec::new();
    // Warm up: the ready list and the backend's event buffer grow to fit.
    for _ in 0..3 {
        s.select_into(Some(Duration::ZERO), &mut ready).unwrap();
    }
    (&pairs[0].1).write_all(b"x").unwrap();
    let mut found = 0;
    let allocations = allocations_during(|| {
        for _ in 0..100 {
            found = s.select_into(Some(Duration::ZERO), &mut ready).unwrap();
        }
        for _ in 0..10 {
            s.select_into(Some(Duration::from_micros(10)), &mut ready)
                .unwrap();
        }
    });
    assert_eq!(found, 51, "50 writers and one reader are ready");
    assert_eq!(
        allocations, 0,
        "allocations in 110 steady-state select_into calls"
    );

    // The measurement is real: `select` (which returns a new Vec) is seen allocating.
    assert!(allocations_during(|| drop(s.select(Some(Duration::ZERO)).unwrap())) > 0);
}

macro_rules! suite {
    ($name:ident, $selector:ty, $new:expr) => {
        #[test]
        fn $name() {
            let s: $selector = $new.expect("create selector");
            steady_state_select_does_not_allocate(s)
        }
    };
}

for_every_selector!(suite);

/// The `select` module's buffer-filling waits allocate nothing once their storage has grown:
/// `select_into` (into a kept `Selected`) and `Poll::poll_into`; `select()`, which returns new
/// lists, is seen allocating.
#[test]
fn select_module_waits_into_kept_storage_do_not_allocate() {
    use ioselectors::select::{select, select_into, Poll, Selected, POLLIN};
    let pairs: Vec<(Stream, Stream)> = (0..50).map(|_| pair()).collect();
    (&pairs[7].1).write_all(b"x").unwrap();
    let rlist: Vec<&Stream> = pairs.iter().map(|(rd, _)| rd).collect();
    let none: &[&Stream] = &[];
    let mut selected = Selected::new();
    let mut poll = Poll::new();
    for rd in &rlist {
        poll.register(*rd, POLLIN);
    }
    let mut fired = Vec::new();
    for _ in 0..3 {
        select_into(&rlist, none, none, Some(Duration::ZERO), &mut selected).unwrap();
        poll.poll_into(Some(Duration::ZERO), &mut fired).unwrap();
    }
    let allocations = allocations_during(|| {
        for _ in 0..100 {
            select_into(&rlist, none, none, Some(Duration::ZERO), &mut selected).unwrap();
            poll.poll_into(Some(Duration::ZERO), &mut fired).unwrap();
        }
    });
    assert_eq!((selected.readable(), fired.len()), (&[7][..], 1));
    assert_eq!(
        allocations, 0,
        "allocations in 100 select_into and poll_into calls"
    );
    assert!(allocations_during(|| drop(select(&rlist, none, none, Some(Duration::ZERO)))) > 0);
}
