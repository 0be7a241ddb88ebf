//! `Registry`: the handle other threads change a selector's registrations with. Its
//! contract, on every selector: a change counts for a `select()` blocked at that moment; the
//! rules and errors are the selector's own, returned to the calling thread; the selector's
//! `get_key` and `get_map` show a change once its thread has applied it; nothing works after
//! `close()`.

mod common;
use common::*;
use std::io::{ErrorKind, Write};
use std::thread;
use std::time::Duration;

const SOON: Option<Duration> = Some(Duration::from_secs(10));

/// Compile-time: a handle crosses threads when the data does.
#[allow(dead_code)]
fn handles_are_send_and_sync<B: Backend>(registry: Registry<B, String>) {
    fn send_sync<X: Send + Sync>(_: X) {}
    send_sync(registry);
}

/// Registering from another thread while `select(None)` blocks: the wait returns with the
/// new source's event, under its key (poll and select are woken to take the change in).
fn register_wakes_a_blocked_select(mut s: Selector<impl Backend, Data>) {
    let registry = s.registry().unwrap();
    let (a, mut peer) = pair();
    peer.write_all(b"x").unwrap();
    let registering = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        registry
            .register(&a, EVENT_READ, "from another thread")
            .unwrap();
        a // kept open until the selector has reported it
    });
    let (took, ready) = timed(|| s.select(SOON).unwrap());
    let _a = registering.join().unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(ready[0].0.data, "from another thread");
    assert!(took < Duration::from_secs(5), "woke after {took:?}");
}

/// The selector's own view (`get_key`, `get_map`) shows a handle's change once the
/// selector's thread has applied it: at its next `select()` or change of a registration.
fn get_key_shows_a_handles_change_after_the_next_select(mut s: Selector<impl Backend, Data>) {
    let registry = s.registry().unwrap();
    let (a, _peer) = pair();
    registry.register(&a, EVENT_WRITE, "a").unwrap();
    assert_eq!(s.get_key(&a).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.select(SOON).unwrap()[0].0.data, "a");
    assert_eq!(s.get_key(&a).unwrap().data, "a");
    registry.modify(&a, EVENT_READ, "b").unwrap();
    assert_eq!(s.get_key(&a).unwrap().data, "a");
    // A change of the selector's own applies the queue first.
    let (b, _b_peer) = pair();
    s.register(&b, EVENT_READ, "b").unwrap();
    assert_eq!(s.get_key(&a).unwrap().data, "b");
    assert_eq!(s.get_key(&a).unwrap().events, EVENT_READ);
    registry.unregister(&a).unwrap();
    assert!(s.select(Some(Duration::ZERO)).unwrap().is_empty());
    assert_eq!(s.get_map().unwrap().len(), 1);
}

/// The rules are the selector's, and their errors come back to the calling thread.
fn rules_and_errors_are_the_selectors(s: Selector<impl Backend, Data>) {
    let registry = s.registry().unwrap();
    let (a, _peer) = pair();
    registry.register(&a, EVENT_READ, "a").unwrap();
    let err = registry.register(&a, EVENT_READ, "again").unwrap_err();
    assert_eq!(
        cause(&err),
        Some(&SelectorError::AlreadyRegistered { fd: fd_of(&a) })
    );
    let err = registry.modify(&a, Events::empty(), "x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let (b, _b_peer) = pair();
    let err = registry.unregister(&b).unwrap_err();
    assert_eq!(
        cause(&err),
        Some(&SelectorError::NotRegistered { fd: fd_of(&b) })
    );
    let err = registry.modify_events(&b, EVENT_READ).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // Registered by the selector's thread, changed by another's: one set of registrations.
    drop(s);
    let err = registry.register(&b, EVENT_READ, "b").unwrap_err();
    assert!(
        matches!(cause(&err), Some(SelectorError::Closed { .. })),
        "{err:?}"
    );
}

/// An owned registration made through a handle is the selector's: its source is closed when
/// a handle unregisters it (once the selector's thread has applied that), and a handle's
/// `modify` will not swap it.
fn owned_registrations_through_a_handle(mut s: Selector<impl Backend, Stream>) {
    let registry = s.registry().unwrap();
    let (a, mut peer) = pair();
    let fd = fd_of(&a);
    registry.register_owned(a, EVENT_READ).unwrap();
    let (other, _other_peer) = pair();
    let err = registry.modify(fd, EVENT_READ, other).unwrap_err();
    assert_eq!(cause(&err), Some(&SelectorError::OwnedSource { fd }));
    registry
        .modify_events(fd, EVENT_READ | EVENT_WRITE)
        .unwrap();
    let ready = s.select_fds(SOON).unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].events(), EVENT_WRITE);
    registry.unregister(fd).unwrap();
    s.select_fds(Some(Duration::ZERO)).unwrap();
    // The selector dropped the stream: the peer sees the end of it.
    let mut byte = [0];
    peer.set_read_timeout(SOON).unwrap();
    assert_eq!(std::io::Read::read(&mut peer, &mut byte).unwrap(), 0);
}

/// Regression (found by the model fuzzer): the next wait makes room for every registration,
/// those made through a handle since the selector's thread last looked included, so that
/// all the ready ones are reported by one `select()`. It used to size the kernel's event
/// buffer by the registrations the selector's thread knew of, and reported as few as one of 41.
fn registrations_through_a_handle_all_fit_in_the_next_wait(mut s: Selector<impl Backend, Data>) {
    let registry = s.registry().unwrap();
    let (first, _first_peer) = pair();
    s.register(&first, EVENT_WRITE, "first").unwrap();
    let pairs: Vec<_> = (0..40).map(|_| pair()).collect();
    for (a, _) in &pairs {
        registry
            .register(a, EVENT_WRITE, "through the handle")
            .unwrap();
    }
    let ready = s.select(SOON).unwrap();
    assert_eq!(
        ready.len(),
        41,
        "{} of 41 writable sockets reported",
        ready.len()
    );
}

macro_rules! suite {
    ($name:ident, $type:ty, $new:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn register_wakes_a_blocked_select() {
                super::register_wakes_a_blocked_select($new.unwrap());
            }

            #[test]
            fn get_key_shows_a_handles_change_after_the_next_select() {
                super::get_key_shows_a_handles_change_after_the_next_select($new.unwrap());
            }

            #[test]
            fn rules_and_errors_are_the_selectors() {
                super::rules_and_errors_are_the_selectors($new.unwrap());
            }

            #[test]
            fn registrations_through_a_handle_all_fit_in_the_next_wait() {
                super::registrations_through_a_handle_all_fit_in_the_next_wait($new.unwrap());
            }

            #[test]
            fn owned_registrations_through_a_handle() {
                super::owned_registrations_through_a_handle($new.unwrap());
            }
        }
    };
}

for_every_selector!(suite);

/// epoll refuses a regular file: the kernel's error, with its errno, comes back to the
/// thread that asked.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn the_kernels_refusal_comes_back_to_the_calling_thread() {
    let s = EpollSelector::<Data>::new().unwrap();
    let registry = s.registry().unwrap();
    let file = tempfile::tempfile().unwrap();
    let err = thread::spawn(move || registry.register(&file, EVENT_READ, "file").unwrap_err())
        .join()
        .unwrap();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));
}
