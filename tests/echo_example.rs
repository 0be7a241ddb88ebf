//! Starts `examples/echo_server.rs` (built by `cargo test`) and talks to it over loopback.

mod common;
use common::example::*;
use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

#[test]
fn replies_upper_case_with_sb_to_many_clients() {
    let server = Server::start("echo_server", &[]);
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(exchange(&mut a, b"hello", 8), b"HELLO_SB");
    assert_eq!(exchange(&mut b, b"world", 8), b"WORLD_SB");
    assert_eq!(exchange(&mut a, b"again", 8), b"AGAIN_SB");
    drop(a); // the server unregisters and closes it; b is still served
    assert_eq!(exchange(&mut b, b"still here", 13), b"STILL HERE_SB");
}

/// The Python client the original server was written for, unchanged but for the port.
#[test]
fn the_original_python_client_gets_its_replies() {
    let server = Server::start("echo_server", &[]);
    let Some(client) = python_client("004", "#客户端", "使用", "8088", server.addr.port())
    else {
        eprintln!(
            "the original Python client is not available here: only the Rust client was checked"
        );
        return;
    };
    // Two lines, then EOF: the client's input() raises EOFError and it exits.
    let printed = run_python(&client, b"hello\nselectors\n");
    assert!(printed.contains("HELLO_SB"), "client printed {printed:?}");
    assert!(
        printed.contains("SELECTORS_SB"),
        "client printed {printed:?}"
    );
}

#[test]
fn bad_arguments_are_refused() {
    assert_refuses_arguments("echo_server", &["--port", "nope"]);
}

/// A client that sends 16 MiB without reading is slowed down, not reset: once it reads, it
/// gets every byte back, upper-cased, with `_SB` after each `recv` the server made (at most
/// 1,024 bytes each).
#[test]
fn a_client_that_sends_16_mib_before_reading_gets_it_all_back() {
    const TOTAL: usize = 16 << 20;
    let server = Server::start("echo_server", &[]);
    let mut client = server.connect();
    let mut writer = client.try_clone().unwrap();
    let (sent, all_sent) = mpsc::channel();
    let sender = thread::spawn(move || {
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..TOTAL / chunk.len() {
            writer.write_all(&chunk).unwrap();
        }
        sent.send(()).unwrap();
    });
    // Read nothing for a while. Either the kernel's buffers took all 16 MiB, or (the usual
    // case) the server stopped reading once 1 MiB of replies waited, and the sender is
    // stuck until we read: nothing signals that, so give it two seconds.
    let _ = all_sent.recv_timeout(Duration::from_secs(2));

    let mut reply = SbReply::default();
    let mut buf = vec![0u8; 256 * 1024];
    while reply.letters < TOTAL || !reply.at_marker_end() {
        let n = client.read(&mut buf).expect("the reply stopped coming");
        assert!(n > 0, "the server closed the connection");
        reply.take(&buf[..n]);
    }
    sender.join().unwrap();
    assert_eq!(reply.letters, TOTAL);
    assert!(
        reply.markers >= TOTAL / 1024,
        "{} replies for {TOTAL} bytes, yet the server reads 1,024 bytes at a time",
        reply.markers
    );
    // Still served.
    assert_eq!(exchange(&mut client, b"done", 7), b"DONE_SB");
}

/// A server that read on regardless would take everything a client sends, however much, and
/// keep the replies in memory. The echo server stops reading once 1 MiB of replies waits:
/// a client that never reads is stalled by TCP after what the kernel's buffers hold, and
/// the server goes on serving others meanwhile.
#[test]
fn a_client_that_never_reads_cannot_make_the_server_buffer_without_bound() {
    const CAP: usize = 256 << 20;
    let server = Server::start("echo_server", &[]);
    let mut client = server.connect();
    // A write that makes no progress for 2 s: the server has stopped reading.
    client
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut taken = 0;
    loop {
        match client.write(&chunk) {
            Ok(n) => taken += n,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(err) => panic!("the server dropped the client after {taken} bytes: {err}"),
        }
        assert!(
            taken < CAP,
            "the server took {taken} bytes from a client that never reads"
        );
    }
    // The kernel's buffers on both sides hold some MiB; the server holds about 1 MiB more.
    assert!(taken < 96 << 20, "{taken} bytes taken before the stall");
    let mut other = server.connect();
    assert_eq!(exchange(&mut other, b"meanwhile", 12), b"MEANWHILE_SB");
    // And the stalled client is served as soon as it reads.
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = [0u8; 1024];
    client.read_exact(&mut head).unwrap();
    assert!(head.iter().all(|&byte| byte == b'A'), "{head:?}");
}

/// Checks a stream of replies made of `A`s and `_SB` markers, a piece at a time.
#[derive(Default)]
struct SbReply {
    /// The `A`s so far.
    letters: usize,
    /// The `_SB` markers so far.
    markers: usize,
    /// How much of the current marker has been seen (0: none, 1: `_`, 2: `_S`).
    in_marker: usize,
    /// The `A`s since the last marker.
    run: usize,
}

impl SbReply {
    fn take(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            match (self.in_marker, byte) {
                (0, b'A') => {
                    self.letters += 1;
                    self.run += 1;
                    assert!(self.run <= 1024, "more than 1,024 bytes in one reply");
                }
                (0, b'_') => {
                    assert!(self.run > 0, "an empty reply at byte {}", self.letters);
                    self.in_marker = 1;
                }
                (1, b'S') => self.in_marker = 2,
                (2, b'B') => {
                    self.in_marker = 0;
                    self.markers += 1;
                    self.run = 0;
                }
                _ => panic!(
                    "unexpected byte {byte:#04x} after {} letters and {} markers",
                    self.letters, self.markers
                ),
            }
        }
    }

    /// Whether the last byte taken ended a marker (every reply ends with one).
    fn at_marker_end(&self) -> bool {
        self.in_marker == 0 && self.run == 0
    }
}
