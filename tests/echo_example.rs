//! Starts `examples/echo_server.rs` (built by `cargo test`) and talks to it over loopback.

mod common;
use common::example::*;
use std::process::{Command, Stdio};

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
    let status = Command::new(example_binary("echo_server"))
        .args(["--port", "nope"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
