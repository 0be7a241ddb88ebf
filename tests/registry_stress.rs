//! `Registry` handles under load: several threads register, modify and unregister sources
//! while one thread selects, on every selector of the platform. Checked:
//!
//! * every event is delivered with the right key: the data a report carries is the data the
//!   fd is registered with at that moment, and its events are within what it is registered
//!   for;
//! * none after `unregister` (or after a `modify` replaced the data): once the changing
//!   thread's call has returned (and the selecting thread has heard so), no report carries
//!   the old registration;
//! * no lost wake-up: each registration's first readiness is reported, within seconds, to a
//!   selecting thread that was blocked when the registration was made.
//!
//! `.ci/run` also runs this binary under ThreadSanitizer, which checks that the hand-off
//! between the threads (the registry's lock and queue) is free of data races.

mod common;
use common::*;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Registrations, by the data they carry: an id, unique per registration and per data change.
/// Even ids wait for `EVENT_WRITE`, odd ids for `EVENT_READ`.
type Id = u64;

#[derive(Default)]
struct Board {
    /// The fd each live id is registered under.
    live: HashMap<Id, RawSource>,
    /// Ids whose registration a changing thread has ended (by `unregister`, or a `modify`
    /// that replaced the data) and told the selecting thread about.
    gone: Vec<Id>,
    /// Ids the selecting thread has seen reported.
    seen: HashSet<Id>,
    /// What went wrong, if anything.
    violations: Vec<String>,
}

struct Shared {
    board: Mutex<Board>,
    reported: Condvar,
}

impl Shared {
    /// Waits until `id` has been reported; `false` after 10 s (a lost wake-up).
    fn wait_seen(&self, id: Id) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut board = self.board.lock().unwrap();
        while !board.seen.contains(&id) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            board = self.reported.wait_timeout(board, left).unwrap().0;
        }
        true
    }
}

/// One changing thread: `rounds` times, registers a socket for WRITE (always writable),
/// waits for its report, replaces data and events with a READ registration, makes it
/// readable, waits for its report, and unregisters it.
fn change(
    worker: u64,
    rounds: u64,
    registry: Registry<impl Backend, Id>,
    shared: &Shared,
) -> Result<(), String> {
    let (mut a, mut peer) = pair();
    a.set_nonblocking(true).unwrap();
    for round in 0..rounds {
        let write_id = (worker << 32) | (round << 1);
        let read_id = write_id | 1;
        let fd = fd_of(&a);
        shared.board.lock().unwrap().live.insert(write_id, fd);
        registry
            .register(&a, EVENT_WRITE, write_id)
            .map_err(|err| format!("register: {err}"))?;
        if !shared.wait_seen(write_id) {
            return Err(format!(
                "lost wake-up: {write_id:#x} (WRITE) never reported"
            ));
        }
        shared.board.lock().unwrap().live.insert(read_id, fd);
        registry
            .modify(&a, EVENT_READ, read_id)
            .map_err(|err| format!("modify: {err}"))?;
        {
            let mut board = shared.board.lock().unwrap();
            board.live.remove(&write_id);
            board.gone.push(write_id);
        }
        peer.write_all(b"x").unwrap();
        if !shared.wait_seen(read_id) {
            return Err(format!("lost wake-up: {read_id:#x} (READ) never reported"));
        }
        registry
            .unregister(&a)
            .map_err(|err| format!("unregister: {err}"))?;
        {
            let mut board = shared.board.lock().unwrap();
            board.live.remove(&read_id);
            board.gone.push(read_id);
        }
        let mut byte = [0];
        a.read_exact(&mut byte).unwrap();
    }
    Ok(())
}

/// The selecting thread: reports until `stop`, checking each report against the board;
/// gives the selector back.
fn select_until<B: Backend>(
    mut sel: Selector<B, Id>,
    shared: &Shared,
    stop: &AtomicBool,
) -> Selector<B, Id> {
    let mut gone = HashSet::new();
    let mut ready = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        // What the changing threads have ended so far: none of it may be reported by the
        // select() that starts after this.
        gone.extend(shared.board.lock().unwrap().gone.drain(..));
        if let Err(err) = sel.select_into(Some(Duration::from_millis(50)), &mut ready) {
            let mut board = shared.board.lock().unwrap();
            board.violations.push(format!("select: {err}"));
            return sel;
        }
        let mut board = shared.board.lock().unwrap();
        for (key, events) in &ready {
            let id = key.data;
            let want = if id & 1 == 0 { EVENT_WRITE } else { EVENT_READ };
            if gone.contains(&id) {
                board
                    .violations
                    .push(format!("{id:#x} reported after its registration ended"));
            } else if board.gone.contains(&id) {
                // Ended while this select() was under way: either outcome is right.
            } else if board.live.get(&id) != Some(&key.fd) {
                board
                    .violations
                    .push(format!("{id:#x} reported under fd {}", key.fd));
            } else if key.events != want || !want.contains(*events) || events.is_empty() {
                board
                    .violations
                    .push(format!("{id:#x} reported {events:?} for {:?}", key.events));
            }
            board.seen.insert(id);
        }
        drop(board);
        shared.reported.notify_all();
    }
    sel
}

fn stress<B: Backend + Send>(sel: Selector<B, Id>, threads: u64, rounds: u64)
where
    Selector<B, Id>: Send,
    Registry<B, Id>: Send,
{
    let shared = Arc::new(Shared {
        board: Mutex::new(Board::default()),
        reported: Condvar::new(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let registries: Vec<_> = (0..threads).map(|_| sel.registry().unwrap()).collect();
    let selecting = {
        let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
        thread::spawn(move || select_until(sel, &shared, &stop))
    };
    let changing: Vec<_> = registries
        .into_iter()
        .enumerate()
        .map(|(worker, registry)| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || change(worker as u64, rounds, registry, &shared))
        })
        .collect();
    let results: Vec<_> = changing.into_iter().map(|t| t.join().unwrap()).collect();
    stop.store(true, Ordering::SeqCst);
    let mut sel = selecting.join().unwrap();
    let board = shared.board.lock().unwrap();
    assert!(board.violations.is_empty(), "{:#?}", board.violations);
    for result in results {
        result.unwrap();
    }
    // Every registration ended, and the selector, once it has applied the last changes,
    // holds none of them.
    assert!(sel.select(Some(Duration::ZERO)).unwrap().is_empty());
    assert_eq!(sel.get_map().unwrap().len(), 0);
}

/// Rounds per changing thread: 300, or `IOSELECTORS_STRESS_ROUNDS` (fewer under
/// ThreadSanitizer, which is slow).
fn rounds() -> u64 {
    std::env::var("IOSELECTORS_STRESS_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(300)
}

macro_rules! suite {
    ($name:ident, $type:ty, $new:expr) => {
        #[test]
        fn $name() {
            let sel: Selector<_, Id> = $new.unwrap();
            stress(sel, 4, rounds());
        }
    };
}

mod every_selector {
    use super::*;
    for_every_selector!(suite);
}
