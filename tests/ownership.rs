//! Selectors that own their sources (`register_owned`), as Python's keys keep their file
//! objects alive.

mod common;
use common::*;
use ioselectors::backend::Backend;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

/// The selector keeps the source open while it is registered and gives it back, still open,
/// with the key.
fn owned_round_trip<B: Backend>(mut s: Selector<B, Rc<Stream>>) {
    let (a, mut peer) = pair();
    let fd = fd_of(&a);
    let key = s.register_owned(Rc::new(a), EVENT_READ).unwrap().clone();
    assert_eq!(key.fd, fd);
    assert_eq!(key.events, EVENT_READ);
    // Still open: the peer's bytes arrive, and the key's data reads them.
    peer.write_all(b"hi").unwrap();
    let ready = s.select(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ready.len(), 1);
    let mut buf = [0u8; 2];
    (&*ready[0].0.data).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    // Given back by unregister, still open: writing to it reaches the peer.
    let given_back = s.unregister(fd).unwrap().data;
    drop((ready, key));
    let a = Rc::try_unwrap(given_back).expect("the selector keeps no other reference");
    (&a).write_all(b"ok").unwrap();
    peer.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");
}

/// A refusal gives the source back, still open.
fn refused_source_is_given_back<B: Backend>(mut s: Selector<B, Rc<Stream>>) {
    let (a, mut peer) = pair();
    let a = Rc::new(a);
    s.register_owned(a.clone(), EVENT_READ).unwrap();
    let refused = s.register_owned(a.clone(), EVENT_READ).unwrap_err();
    assert_eq!(refused.error.kind(), std::io::ErrorKind::AlreadyExists);
    let refused = s
        .register_owned(Rc::new(pair().0), Events::empty())
        .unwrap_err();
    assert_eq!(refused.error.kind(), std::io::ErrorKind::InvalidInput);
    // `?` turns a refusal into the io::Error.
    let as_io: std::io::Error = refused.into();
    assert_eq!(as_io.kind(), std::io::ErrorKind::InvalidInput);
    let back = s.unregister(&*a).unwrap().data;
    drop(back);
    (&*a).write_all(b"x").unwrap();
    let mut buf = [0u8; 1];
    peer.read_exact(&mut buf).unwrap();
}

macro_rules! suite {
    ($name:ident, $type:ty, $new:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn owned_round_trip() {
                super::owned_round_trip($new.unwrap());
            }

            #[test]
            fn refused_source_is_given_back() {
                super::refused_source_is_given_back($new.unwrap());
            }
        }
    };
}

for_every_selector!(suite);
