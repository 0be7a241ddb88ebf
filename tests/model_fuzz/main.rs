//! A model-based fuzzer: random sequences of operations, each result checked against a model
//! of what the contract says, and a failing sequence shrunk to a minimal one.
//!
//! Every selector, `select::Poll`, `select::Epoll` (level-triggered, `EPOLLET`,
//! `EPOLLONESHOT`) and `select()` are driven with register / modify / unregister / wait /
//! close, mixed with what real programs do to descriptors behind a selector's back: close
//! without `unregister`, `try_clone` + close + `unregister` (epoll's dead entries), `dup2`
//! onto a registered number, a closed number reused by a new file or by the same file, a
//! forked child holding every descriptor, numbers above `FD_SETSIZE` and the registry's paged
//! range, and the process running out of descriptors (`RLIMIT_NOFILE`).
//!
//! The oracle for readiness is poll(2) on the same descriptor, right before the wait: what
//! Python's selectors report is poll's bits mapped to `EVENT_READ` / `EVENT_WRITE` (select's
//! grouping for `SelectSelector`) and masked by the registered events. The model is exact
//! wherever the contract is: for every registration whose descriptor still names the file it
//! registered, and for poll and select (which watch numbers) always. A registration whose
//! descriptor was closed or replaced without `unregister` ("tainted") may, on epoll, report
//! what its number's old or new file does, or nothing: the contract only asks that it never
//! crash, never report anything of an unregistered registration, and that `unregister` work.
//!
//! The socketserver's `Server` (synchronous and threading) is driven the same way, against
//! a model of Python's contract: clients served or waiting in the backlog, `serve_forever`,
//! `shutdown` (from the test or from a handler), `handle_request`, `verify_request` refusals,
//! failing and panicking handlers, `server_close`.
//!
//! Runs in `cargo test` for a few seconds. `IOSELECTORS_FUZZ_STEPS=N` sets the operations per
//! target (default 20,000), `IOSELECTORS_FUZZ_SEED=S` replays (a failure prints its seed).
//! Its own binary, its tests one at a time: they fork, change the process's descriptor limit
//! and rely on descriptor numbers.
//!
//! Linux and Android only: the oracle reads poll(2)'s bits as Linux sets them (the BSDs and
//! macOS set `POLLHUP` and `POLLOUT` differently), and no other system can run here to check
//! a model of its own. Elsewhere the conformance suite covers the same contract by example.
#![cfg(any(target_os = "linux", target_os = "android"))]

#[path = "../common/mod.rs"]
mod common;

/// `Err(message)` unless `condition`.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}

mod epoll;
mod poll;
mod runner;
mod select_fn;
mod selectors;
#[cfg(feature = "socketserver")]
mod socketserver;
mod world;

const ZERO: Option<std::time::Duration> = Some(std::time::Duration::ZERO);
