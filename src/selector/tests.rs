//! The shared rules, checked against a scripted backend that records every call it gets.

use crate::backend::sealed::Os;
use crate::backend::Tag;
use crate::registry::{lock, State};
use crate::source::{self, BorrowedSource, RawSource};
use crate::{Events, Selector, SelectorError, SelectorKey, EVENT_READ, EVENT_WRITE};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::UdpSocket;
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

type Report = io::Result<Vec<(RawSource, Events)>>;

/// A backend that records the calls it gets and reports what the test scripts.
#[derive(Debug, Default)]
struct Scripted {
    /// Registry's end: the calls, and how to answer them.
    calls: Vec<String>,
    refuse: bool,
    /// The errno a purge fails with, if it fails.
    purge_error: Option<i32>,
    /// Waiter's end: what each wait reports, in turn; once empty, waits report nothing.
    waits: VecDeque<Report>,
    /// What the last wait reported.
    current: Vec<(RawSource, Events)>,
    timeouts: Vec<Option<Duration>>,
    /// What `on_ready` returned for each event of each wait (in the last pass over it).
    rearmed: Vec<(RawSource, Option<Events>)>,
    /// How many entries `rearmed` had before the last wait.
    rearmed_before: usize,
    /// The tag every reported event carries (`None`: the backend reports by number only),
    /// unless `tags` gives its fd one of its own.
    reported_tag: Option<Tag>,
    tags: HashMap<RawSource, Tag>,
    /// Deletes cannot make sure the kernel let go (as for a source closed first).
    unsure_deletes: bool,
}

/// A kernel's refusal: an OS error, as the backends pass it on (EACCES).
fn refusal() -> io::Error {
    io::Error::from_raw_os_error(13)
}

impl Os for Scripted {
    const NAME: &'static str = "scripted";

    fn open() -> io::Result<(Scripted, Scripted)> {
        Ok(Default::default())
    }

    fn add(&mut self, source: BorrowedSource<'_>, events: Events, _tag: Tag) -> io::Result<()> {
        self.calls
            .push(format!("add {} {}", source::raw(source), events.bits()));
        if self.refuse {
            return Err(refusal());
        }
        Ok(())
    }

    fn modify(&mut self, fd: RawSource, events: Events, _tag: Tag) -> io::Result<()> {
        self.calls.push(format!("modify {fd} {}", events.bits()));
        if self.refuse {
            return Err(refusal());
        }
        Ok(())
    }

    fn delete(&mut self, fd: RawSource) -> bool {
        self.calls.push(format!("delete {fd}"));
        !self.unsure_deletes
    }

    fn wait(&mut self, timeout: Option<Duration>, _registered: usize) -> io::Result<()> {
        self.timeouts.push(timeout);
        self.rearmed_before = self.rearmed.len();
        self.current = self.waits.pop_front().unwrap_or_else(|| Ok(Vec::new()))?;
        Ok(())
    }

    fn for_each_event<F>(&mut self, _registry: Option<&mut Scripted>, mut on_ready: F)
    where
        F: FnMut(RawSource, Option<Tag>, Events) -> Option<Events>,
    {
        // What the last pass over this wait's events says (the selector may make two).
        self.rearmed.truncate(self.rearmed_before);
        for &(fd, events) in &self.current {
            let tag = self.tags.get(&fd).copied().or(self.reported_tag);
            let interest = on_ready(fd, tag, events);
            self.rearmed.push((fd, interest));
        }
    }

    fn purge(
        &mut self,
        _waiter: &mut Scripted,
        live: &mut dyn Iterator<Item = (RawSource, Events, Tag)>,
    ) -> io::Result<()> {
        let mut live: Vec<_> = live
            .map(|(fd, events, tag)| (fd, events.bits(), tag))
            .collect();
        live.sort_unstable();
        self.calls.push(format!("purge {live:?}"));
        match self.purge_error {
            Some(code) => Err(io::Error::from_raw_os_error(code)),
            None => Ok(()),
        }
    }

    fn close(&mut self, _waiter: &mut Scripted, registered: &mut dyn Iterator<Item = RawSource>) {
        let mut fds: Vec<_> = registered.collect();
        fds.sort_unstable();
        self.calls.push(format!("close {fds:?}"));
    }
}

type ScriptedSelector = Selector<Scripted, &'static str>;

/// The scripted registry's end, under the registry's lock.
fn set(sel: &ScriptedSelector) -> MutexGuard<'_, State<Scripted, &'static str>> {
    lock(&sel.shared)
}

fn calls(sel: &ScriptedSelector) -> Vec<String> {
    set(sel).set.calls.clone()
}

fn clear_calls(sel: &ScriptedSelector) {
    set(sel).set.calls.clear();
}

fn socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

fn fd(socket: &UdpSocket) -> RawSource {
    crate::Fileno::fileno(&socket)
}

fn selector() -> ScriptedSelector {
    Selector::new().unwrap()
}

#[test]
fn data_only_modify_makes_no_backend_call() {
    let mut sel = selector();
    let sock = socket();
    sel.register(&sock, EVENT_READ, "a").unwrap();
    clear_calls(&sel);
    assert_eq!(sel.modify(&sock, EVENT_READ, "b").unwrap().data, "b");
    assert!(calls(&sel).is_empty(), "{:?}", calls(&sel));
}

#[test]
fn events_modify_is_exactly_one_backend_call() {
    let mut sel = selector();
    let sock = socket();
    sel.register(&sock, EVENT_READ, "a").unwrap();
    clear_calls(&sel);
    sel.modify(&sock, EVENT_READ | EVENT_WRITE, "a").unwrap();
    assert_eq!(calls(&sel), vec![format!("modify {} 3", fd(&sock))]);
}

#[test]
fn refused_modify_passes_the_error_on_and_keeps_the_registration() {
    let mut sel = selector();
    let sock = socket();
    let before = sel.register(&sock, EVENT_READ, "old").unwrap().clone();
    set(&sel).set.refuse = true;
    let err = sel.modify(&sock, EVENT_WRITE, "new").unwrap_err();
    // The kernel's error, as it gave it: errno kept, nothing wrapped around it.
    assert_eq!(err.raw_os_error(), Some(13));
    assert!(err.get_ref().is_none(), "{err:?}");
    assert_eq!(*sel.get_key(&sock).unwrap(), before);
}

#[test]
fn refused_register_leaves_no_key() {
    let mut sel = selector();
    let sock = socket();
    set(&sel).set.refuse = true;
    let err = sel.register(&sock, EVENT_READ, "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(13));
    assert!(err.get_ref().is_none(), "{err:?}");
    assert!(sel.get_map().unwrap().is_empty());
    assert_eq!(
        sel.get_key(&sock).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}

#[test]
fn invalid_events_are_refused_before_the_backend_is_asked() {
    let mut sel = selector();
    let sock = socket();
    assert!(sel.register(&sock, Events::empty(), "x").is_err());
    sel.register(&sock, EVENT_READ, "x").unwrap();
    assert!(sel.modify(&sock, Events::from_bits_retain(8), "y").is_err());
    assert_eq!(calls(&sel), vec![format!("add {} 1", fd(&sock))]);
}

#[test]
fn unregister_and_close_release_kernel_state() {
    let mut sel = selector();
    let (a, b) = (socket(), socket());
    sel.register(&a, EVENT_READ, "a").unwrap();
    sel.register(&b, EVENT_WRITE, "b").unwrap();
    sel.unregister(&a).unwrap();
    sel.close();
    sel.close();
    assert_eq!(
        calls(&sel)[2..],
        [format!("delete {}", fd(&a)), format!("close [{}]", fd(&b))]
    );
    assert!(sel.is_closed());
}

#[test]
fn reports_are_masked_merged_and_filtered() {
    let mut sel = selector();
    let (a, b, c) = (socket(), socket(), socket());
    sel.register(&a, EVENT_READ | EVENT_WRITE, "a").unwrap();
    sel.register(&b, EVENT_READ, "b").unwrap();
    let unregistered = fd(&c);
    sel.waiter.waits.push_back(Ok(vec![
        (fd(&a), EVENT_READ),
        (fd(&b), EVENT_WRITE), // not asked for: dropped
        (unregistered, EVENT_READ),
        (fd(&b), EVENT_READ | EVENT_WRITE), // masked to READ
        (fd(&a), EVENT_WRITE),              // kqueue's second event: merged
    ]));
    let ready = sel.select(Some(Duration::ZERO)).unwrap();
    let key = |s: &UdpSocket, events, data| SelectorKey {
        fd: fd(s),
        events,
        data,
    };
    assert_eq!(
        ready,
        vec![
            (
                key(&a, EVENT_READ | EVENT_WRITE, "a"),
                EVENT_READ | EVENT_WRITE
            ),
            (key(&b, EVENT_READ, "b"), EVENT_READ),
        ]
    );
    // The backend learns each fd's interest (for re-arming), and None for strangers.
    assert!(sel.waiter.rearmed.contains(&(unregistered, None)));
    assert!(sel.waiter.rearmed.contains(&(fd(&b), Some(EVENT_READ))));
}

#[test]
fn interrupted_waits_are_retried_with_the_time_left() {
    let mut sel = selector();
    let sock = socket();
    sel.register(&sock, EVENT_READ, "s").unwrap();
    sel.waiter
        .waits
        .push_back(Err(io::ErrorKind::Interrupted.into()));
    sel.waiter
        .waits
        .push_back(Ok(vec![(fd(&sock), EVENT_READ)]));
    let ready = sel.select(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(ready.len(), 1);
    let timeouts = &sel.waiter.timeouts;
    assert_eq!(timeouts.len(), 2);
    assert!(timeouts[1].unwrap() <= timeouts[0].unwrap(), "{timeouts:?}");
    assert!(timeouts[1].unwrap() > Duration::from_secs(50));
}

#[test]
fn other_errors_are_returned() {
    let mut sel = selector();
    sel.waiter.waits.push_back(Err(refusal()));
    assert_eq!(sel.select(None).unwrap_err().raw_os_error(), Some(13));
}

#[test]
fn early_wakeups_never_shorten_the_timeout() {
    let mut sel = selector();
    let timeout = Duration::from_millis(30);
    let start = Instant::now();
    // The scripted backend returns at once, with nothing: the selector must keep waiting.
    assert!(sel.select(Some(timeout)).unwrap().is_empty());
    assert!(start.elapsed() >= timeout);
    assert!(sel.waiter.timeouts.len() > 1);
    assert!(sel.waiter.timeouts.windows(2).all(|w| w[1] <= w[0]));
}

#[test]
fn zero_timeout_waits_exactly_once() {
    let mut sel = selector();
    assert!(sel.select(Some(Duration::ZERO)).unwrap().is_empty());
    assert_eq!(sel.waiter.timeouts, vec![Some(Duration::ZERO)]);
}

#[test]
fn huge_timeouts_are_cut_into_kernel_sized_waits() {
    let mut sel = selector();
    let sock = socket();
    sel.register(&sock, EVENT_READ, "s").unwrap();
    sel.waiter
        .waits
        .push_back(Ok(vec![(fd(&sock), EVENT_READ)]));
    sel.select(Some(Duration::from_secs(u64::MAX))).unwrap();
    sel.waiter
        .waits
        .push_back(Ok(vec![(fd(&sock), EVENT_READ)]));
    sel.select(Some(Duration::from_secs(100 * 86_400))).unwrap();
    assert_eq!(
        sel.waiter.timeouts[0], None,
        "beyond Instant's range: as good as forever"
    );
    assert_eq!(
        sel.waiter.timeouts[1],
        Some(Duration::from_millis(i32::MAX as u64))
    );
}

#[test]
fn errors_name_the_fd() {
    let mut sel = selector();
    let sock = socket();
    let n = fd(&sock);
    sel.register(&sock, EVENT_READ, "s").unwrap();
    let messages = [
        sel.register(&sock, EVENT_READ, "s")
            .unwrap_err()
            .to_string(),
        sel.modify(&sock, Events::empty(), "s")
            .unwrap_err()
            .to_string(),
        sel.get_key(n + 1).unwrap_err().to_string(),
    ];
    assert!(
        messages[0].starts_with(&format!("fd {n} is already registered (if the source")),
        "{}",
        messages[0]
    );
    assert!(messages[1].starts_with(&format!("invalid events 0x0 for fd {n}")));
    assert_eq!(messages[2], format!("fd {} is not registered", n + 1));
    let closed: io::Error = SelectorError::Closed {
        operation: "select",
        fd: None,
    }
    .into();
    assert_eq!(closed.to_string(), "cannot select: the selector is closed");
}

#[test]
fn events_of_a_dead_registration_are_dropped_and_purged() {
    let mut sel = selector();
    let sock = socket();
    // Registration 0, gone; registration 1 reuses the number.
    sel.register(&sock, EVENT_READ, "old").unwrap();
    sel.unregister(&sock).unwrap();
    sel.register(&sock, EVENT_WRITE, "new").unwrap();
    clear_calls(&sel);
    sel.waiter.reported_tag = Some(0);
    sel.waiter
        .waits
        .push_back(Ok(vec![(fd(&sock), EVENT_READ | EVENT_WRITE)]));
    assert!(sel.select(Some(Duration::ZERO)).unwrap().is_empty());
    // The kernel is told to forget everything but the live registration (tag 1).
    assert_eq!(calls(&sel), vec![format!("purge [({}, 2, 1)]", fd(&sock))]);
    assert_eq!(sel.waiter.rearmed, vec![(fd(&sock), None)]);

    // The live registration's own events are reported, and purge nothing.
    clear_calls(&sel);
    sel.waiter.reported_tag = Some(1);
    sel.waiter
        .waits
        .push_back(Ok(vec![(fd(&sock), EVENT_WRITE)]));
    let ready = sel.select(Some(Duration::ZERO)).unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].0.data, "new");
    assert!(calls(&sel).is_empty(), "{:?}", calls(&sel));
}

#[test]
fn events_of_an_unregistered_fd_are_dropped_and_purged() {
    let mut sel = selector();
    let sock = socket();
    sel.register(&sock, EVENT_READ, "gone").unwrap();
    sel.unregister(&sock).unwrap();
    clear_calls(&sel);
    sel.waiter.reported_tag = Some(0);
    sel.waiter
        .waits
        .push_back(Ok(vec![(fd(&sock), EVENT_READ)]));
    assert!(sel.select(Some(Duration::ZERO)).unwrap().is_empty());
    assert_eq!(calls(&sel), vec!["purge []".to_string()]);
}

/// A ghost and a live event in one wait, and the purge fails (out of descriptors): the live
/// event is reported; with nothing live ready, the purge's error is, at once, instead of a
/// wait that the dead entry would cut short again and again.
#[test]
fn a_failed_purge_reports_live_events_or_its_error_and_never_waits_on() {
    let mut sel = selector();
    let (gone, live) = (socket(), socket());
    sel.register(&gone, EVENT_READ, "gone").unwrap();
    sel.unregister(&gone).unwrap();
    sel.register(&live, EVENT_READ, "live").unwrap();
    sel.waiter.tags = HashMap::from([(fd(&gone), 0), (fd(&live), 1)]);
    set(&sel).set.purge_error = Some(24); // EMFILE
    sel.waiter
        .waits
        .push_back(Ok(vec![(fd(&gone), EVENT_READ), (fd(&live), EVENT_READ)]));
    let ready = sel.select(Some(Duration::ZERO)).unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].0.data, "live");

    sel.waiter.timeouts.clear();
    sel.waiter
        .waits
        .push_back(Ok(vec![(fd(&gone), EVENT_READ)]));
    let err = sel.select(Some(Duration::from_secs(60))).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(24));
    assert_eq!(sel.waiter.timeouts.len(), 1, "one wait, then the error");
    // The registration is still there, and reported once the purge can be done.
    set(&sel).set.purge_error = None;
    sel.waiter
        .waits
        .push_back(Ok(vec![(fd(&gone), EVENT_READ), (fd(&live), EVENT_READ)]));
    assert_eq!(sel.select(Some(Duration::ZERO)).unwrap().len(), 1);
}

/// Dead entries can take the room of live events in the kernel's buffer: after a purge, one
/// more look, without waiting, gathers what they crowded out.
#[test]
fn after_a_purge_a_look_without_waiting_gathers_crowded_out_events() {
    let mut sel = selector();
    let (gone, a, b) = (socket(), socket(), socket());
    sel.register(&gone, EVENT_READ, "gone").unwrap();
    sel.unregister(&gone).unwrap();
    sel.register(&a, EVENT_READ, "a").unwrap();
    sel.register(&b, EVENT_READ | EVENT_WRITE, "b").unwrap();
    sel.waiter.tags = HashMap::from([(fd(&gone), 0), (fd(&a), 1), (fd(&b), 2)]);
    sel.waiter.waits.push_back(Ok(vec![
        (fd(&gone), EVENT_READ),
        (fd(&a), EVENT_READ),
        (fd(&b), EVENT_WRITE),
    ]));
    sel.waiter.waits.push_back(Ok(vec![(fd(&b), EVENT_READ)]));
    let mut ready = sel.select(Some(Duration::from_secs(60))).unwrap();
    ready.sort_by_key(|(key, _)| key.data);
    assert_eq!(ready.len(), 2, "{ready:?}");
    assert_eq!((ready[0].0.data, ready[0].1), ("a", EVENT_READ));
    assert_eq!(
        (ready[1].0.data, ready[1].1),
        ("b", EVENT_READ | EVENT_WRITE)
    );
    assert_eq!(sel.waiter.timeouts.len(), 2);
    assert_eq!(sel.waiter.timeouts[1], Some(Duration::ZERO));
}

/// A `select()` that no other thread disturbed matches the wait's events to the keys
/// without the registry's lock: it returns while another thread holds the lock.
#[test]
fn an_undisturbed_select_takes_no_lock() {
    let mut sel = selector();
    let sock = socket();
    sel.register(&sock, EVENT_READ, "a").unwrap();
    sel.waiter
        .waits
        .push_back(Ok(vec![(fd(&sock), EVENT_READ)]));
    let shared = std::sync::Arc::clone(&sel.shared);
    let (locked, is_locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _guard = lock(&shared);
        locked.send(()).unwrap();
        // Held until the select has returned, or long enough to tell a select that waited
        // for it.
        let _ = released.recv_timeout(Duration::from_secs(10));
    });
    is_locked.recv().unwrap();
    let ready = sel.select(Some(Duration::ZERO)).unwrap();
    let still_held = release.send(()).is_ok();
    holder.join().unwrap();
    assert_eq!(ready.len(), 1);
    assert!(still_held, "select() waited for the lock");

    // Once a handle has changed something, the next select takes the lock and applies it.
    let registry = sel.registry().unwrap();
    registry.modify(&sock, EVENT_READ, "b").unwrap();
    sel.waiter
        .waits
        .push_back(Ok(vec![(fd(&sock), EVENT_READ)]));
    assert_eq!(sel.select(Some(Duration::ZERO)).unwrap()[0].0.data, "b");
}

/// A handle's register + unregister of a registration the selector's thread has not taken in
/// queues nothing, and a modify merges into what is queued: however long that thread does
/// not select, the queue stays as long as what it has yet to take in.
#[test]
fn churn_through_a_handle_queues_nothing_while_the_selector_does_not_look() {
    let mut sel = selector();
    let registry = sel.registry().unwrap();
    let (a, b) = (socket(), socket());
    registry.register(&b, EVENT_READ, "b").unwrap();
    sel.select(Some(Duration::ZERO)).unwrap(); // `b` taken in
    for _ in 0..1000 {
        registry.register(&a, EVENT_READ, "a").unwrap();
        registry.modify_events(&a, EVENT_WRITE).unwrap();
        registry.unregister(&a).unwrap();
        registry.modify_events(&b, EVENT_WRITE).unwrap();
        registry.modify(&b, EVENT_READ, "b2").unwrap();
    }
    assert_eq!(set(&sel).pending.len(), 1, "one merged modify of b");
    sel.select(Some(Duration::ZERO)).unwrap();
    let key = sel.get_key(&b).unwrap();
    assert_eq!((key.events, key.data), (EVENT_READ, "b2"));
    assert!(sel.get_key(&a).is_err());
}

/// A registration a handle made and removed while the selector's thread waited, its kernel
/// entry surely gone: an event of it that the wait collected is dropped without a purge. If
/// the removal could not make sure (the source was closed first), it is purged.
#[test]
fn an_event_of_a_registration_made_and_removed_during_the_wait_needs_no_purge() {
    for unsure in [false, true] {
        let mut sel = selector();
        let registry = sel.registry().unwrap();
        let sock = socket();
        set(&sel).set.unsure_deletes = unsure;
        registry.register(&sock, EVENT_READ, "brief").unwrap(); // tag 0
        registry.unregister(&sock).unwrap();
        clear_calls(&sel);
        sel.waiter.reported_tag = Some(0);
        sel.waiter
            .waits
            .push_back(Ok(vec![(fd(&sock), EVENT_READ)]));
        assert!(sel.select(Some(Duration::ZERO)).unwrap().is_empty());
        let purged = calls(&sel).iter().any(|call| call.starts_with("purge"));
        assert_eq!(purged, unsure, "unsure removal: {unsure}");
    }
}

/// Regression (found by `tests/registry_stress.rs`): poll and select wait on a copy of the
/// registrations. A source another thread unregistered and closed between the copy and the
/// wait made `select()` fail with `EBADF`, for a descriptor no longer registered. The wait is
/// made again over the registrations as they are. (illumos and Solaris have no select(2)
/// selector; poll(2) reports a closed descriptor instead of failing.)
#[cfg(all(unix, not(any(target_os = "illumos", target_os = "solaris"))))]
#[test]
fn a_source_unregistered_and_closed_after_the_copy_does_not_fail_the_wait() {
    use crate::backend::SelectBackend;
    let mut sel = Selector::<SelectBackend, ()>::new().unwrap();
    let registry = sel.registry().unwrap();
    let (gone, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    registry.register(&gone, EVENT_READ, ()).unwrap();
    sel.sync_waiter(); // the copy a wait starting now would use
    registry.unregister(&gone).unwrap();
    drop(gone);
    // The wait over that copy, which names a closed descriptor, is made again over the
    // registrations as they are now.
    sel.wait_current(Some(Duration::ZERO)).unwrap();
    assert!(sel.select(Some(Duration::ZERO)).unwrap().is_empty());
}
