//! Memory per registration: live heap bytes of a selector holding many registrations, counted
//! by this binary's global allocator.

use ioselectors::{DefaultSelector, EVENT_READ};
use std::alloc::{GlobalAlloc, Layout, System};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static FREED: AtomicUsize = AtomicUsize::new(0);

pub struct Counting;

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREED.fetch_add(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        FREED.fetch_add(layout.size(), Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

fn live() -> usize {
    ALLOCATED.load(Ordering::Relaxed) - FREED.load(Ordering::Relaxed)
}

pub struct Row {
    pub data: &'static str,
    pub data_size: usize,
    pub registrations: usize,
    pub bytes_per_registration: f64,
}

pub fn run() -> Vec<Row> {
    println!("memory: heap bytes per registration of DefaultSelector (both ends of each pair registered)");
    let rows = vec![
        measure::<()>("()"),
        measure::<usize>("usize"),
        measure::<[u64; 4]>("[u64; 4]"),
    ];
    for row in &rows {
        println!(
            "  T = {:<9} ({:>2} bytes): {:.1} bytes per registration over {} registrations",
            row.data, row.data_size, row.bytes_per_registration, row.registrations
        );
    }
    println!();
    rows
}

fn measure<T: Clone + Default>(name: &'static str) -> Row {
    const PAIRS: usize = 5_000;
    let pairs: Vec<(UnixStream, UnixStream)> =
        (0..PAIRS).map(|_| UnixStream::pair().unwrap()).collect();
    let mut ready = Vec::new();
    let before = live();
    let mut sel = DefaultSelector::<T>::new().unwrap();
    for (a, b) in &pairs {
        sel.register(a, EVENT_READ, T::default()).unwrap();
        sel.register(b, EVENT_READ, T::default()).unwrap();
    }
    let ready_before = live();
    // A select sizes the kernel event buffer for every registration; nothing is ready, so
    // `ready` stays empty and unallocated.
    sel.select_into(Some(Duration::ZERO), &mut ready).unwrap();
    assert!(ready.is_empty());
    assert!(live() >= ready_before);
    let bytes = live() - before;
    drop(sel);
    Row {
        data: name,
        data_size: std::mem::size_of::<T>(),
        registrations: 2 * PAIRS,
        bytes_per_registration: bytes as f64 / (2 * PAIRS) as f64,
    }
}
