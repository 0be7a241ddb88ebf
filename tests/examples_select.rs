//! Starts the four `select.select` example servers (built by `cargo test`) and talks to them
//! over loopback: several clients at once, clients that vanish, the original Python clients
//! where the reference material is present, and bad arguments.
//!
//! | example | answers a message `m` with |
//! |---|---|
//! | `select_server` | `I have receive` |
//! | `select_queue_server` | `m` |
//! | `select_good_server` | `m` + `Good` |
//! | `select_upper_server` | `m`, ASCII letters upper-cased |

mod common;
use common::example::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// `select_server`: the same 14 bytes for every message.
fn i_have_receive(_message: &[u8]) -> Vec<u8> {
    b"I have receive".to_vec()
}

/// `select_queue_server`: the message itself.
fn echo(message: &[u8]) -> Vec<u8> {
    message.to_vec()
}

/// `select_good_server`: the message, then `Good`.
fn good(message: &[u8]) -> Vec<u8> {
    [message, b"Good"].concat()
}

/// `select_upper_server`: Python's `bytes.upper()`.
fn upper(message: &[u8]) -> Vec<u8> {
    message.to_ascii_uppercase()
}

/// An example server whose stderr (its log) is collected instead of cluttering the test output.
struct Running {
    server: Server,
    log: JoinHandle<String>,
}

fn start(name: &str) -> Running {
    let mut command = Command::new(example_binary(name));
    command.args(["--port", "0"]).stderr(Stdio::piped());
    let mut server = Server::start_with(&mut command);
    let mut stderr = server.child.stderr.take().unwrap();
    let log = thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        log
    });
    Running { server, log }
}

impl Running {
    /// Checks that the server is still running and never panicked, stops it, and returns its
    /// log.
    fn stop(self) -> String {
        let Running { mut server, log } = self;
        let status = server.child.try_wait().unwrap();
        let _ = server.child.kill();
        let _ = server.child.wait();
        let log = log.join().unwrap();
        assert!(
            status.is_none(),
            "the server exited ({status:?}); its log:\n{log}"
        );
        assert!(
            !log.contains("panicked"),
            "the server panicked; its log:\n{log}"
        );
        log
    }
}

/// Reads exactly `len` bytes (within the 10 s read timeout of `connect`).
fn read_reply(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut reply = vec![0u8; len];
    stream.read_exact(&mut reply).unwrap();
    reply
}

/// Three clients send before any of them reads, and read their replies in another order,
/// for several rounds; then one leaves, a newcomer is served, and every remaining client
/// gets exactly the reply to its next message (so nothing stray came before it).
fn serves_interleaved_clients(name: &str, reply: fn(&[u8]) -> Vec<u8>) {
    let running = start(name);
    let mut clients: Vec<TcpStream> = (0..3).map(|_| running.server.connect()).collect();
    for round in 0..4 {
        let messages: Vec<Vec<u8>> = (0..clients.len())
            .map(|i| format!("round {round}, client {i}: héllo wörld\n").into_bytes())
            .collect();
        for (client, message) in clients.iter_mut().zip(&messages) {
            client.write_all(message).unwrap();
        }
        let order: Vec<usize> = match round % 2 {
            0 => vec![2, 0, 1],
            _ => vec![1, 2, 0],
        };
        for i in order {
            let expected = reply(&messages[i]);
            let got = read_reply(&mut clients[i], expected.len());
            assert_eq!(
                got,
                expected,
                "{name}, round {round}, client {i}: got {:?}",
                String::from_utf8_lossy(&got)
            );
        }
    }
    drop(clients.remove(0));
    clients.push(running.server.connect());
    for (i, client) in clients.iter_mut().enumerate() {
        let message = format!("last word of client {i}").into_bytes();
        let expected = reply(&message);
        assert_replies(client, &message, &expected, name);
    }
    running.stop();
}

/// Clients that vanish in every way a client can: after sending, in the middle of a long
/// reply, with a reset, and right after connecting. The server must go on serving a client
/// that was there before and one that comes after.
fn survives_vanishing_clients(name: &str, reply: fn(&[u8]) -> Vec<u8>) {
    let running = start(name);
    let mut stayer = running.server.connect();
    let hello = b"hello";
    assert_eq!(
        exchange(&mut stayer, hello, reply(hello).len()),
        reply(hello)
    );

    let vanish = |prepare: &dyn Fn(&mut TcpStream)| {
        let mut client = running.server.connect();
        client
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        prepare(&mut client);
        // Dropped here, without reading a byte.
    };
    // Sends a message and leaves without reading the reply.
    vanish(&|client| client.write_all(b"bye").unwrap());
    // Sends 16 KiB and leaves while the server is still answering: the unread replies make
    // the client's system reset the connection under the server's writes.
    vanish(&|client| client.write_all(&[b'x'; 16 * 1024]).unwrap());
    // Sends a message, then resets the connection (SO_LINGER 0) instead of closing it.
    vanish(&|client| {
        client.write_all(b"reset").unwrap();
        socket2::SockRef::from(&*client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    });
    // Leaves right after connecting.
    vanish(&|_| {});

    let mut newcomer = running.server.connect();
    for round in 0..3 {
        for client in [&mut stayer, &mut newcomer] {
            let message = format!("still there? {round}").into_bytes();
            let expected = reply(&message);
            assert_replies(client, &message, &expected, name);
        }
    }
    running.stop();
}

/// One 64 KiB message, written by one thread while the test reads the reply: the server
/// answers it chunk by chunk (at most 1024 bytes per read), every byte in order.
fn answers_a_long_message(name: &str, reply: fn(&[u8]) -> Vec<u8>) {
    let running = start(name);
    let message: Vec<u8> = (0..64 * 1024).map(|i| b"abcdefghij"[i % 10]).collect();
    let expected = reply(&message);
    let mut client = running.server.connect();
    let mut writer = client.try_clone().unwrap();
    let sent = message.clone();
    let writing = thread::spawn(move || writer.write_all(&sent).unwrap());
    let got = read_reply(&mut client, expected.len());
    writing.join().unwrap();
    assert!(got == expected, "{name}: the long reply differs");
    let expected = reply(b"after");
    assert_eq!(exchange(&mut client, b"after", expected.len()), expected);
    running.stop();
}

/// Runs the original Python client (`None`: the reference material or Python is missing).
fn run_original_client(client: Option<String>, input: &[u8]) -> Option<String> {
    let Some(client) = client else {
        eprintln!("the original Python client is not available here: only Rust clients checked");
        return None;
    };
    Some(run_python(&client, input))
}

#[test]
fn select_server_answers_interleaved_clients() {
    serves_interleaved_clients("select_server", i_have_receive);
}

#[test]
fn select_server_survives_vanishing_clients() {
    survives_vanishing_clients("select_server", i_have_receive);
}

/// The tutorial's client: one line of input per message, an empty line to quit.
#[test]
fn select_server_answers_the_original_python_client() {
    let running = start("select_server");
    let port = running.server.addr.port();
    let client = python_client("000", "# myclient.py", "## `select.poll()`", "8000", port);
    if let Some(printed) = run_original_client(client, b"hello\n\xe4\xbd\xa0\xe5\xa5\xbd\n\n") {
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines, ["I have receive", "I have receive"], "{printed:?}");
    }
    running.stop();
}

#[test]
fn select_queue_server_answers_interleaved_clients() {
    serves_interleaved_clients("select_queue_server", echo);
}

#[test]
fn select_queue_server_survives_vanishing_clients() {
    survives_vanishing_clients("select_queue_server", echo);
}

#[test]
fn select_queue_server_echoes_a_long_message() {
    answers_a_long_message("select_queue_server", echo);
}

/// The tutorial's client prompts `<<<`, sends each line and prints the reply's `bytes` repr;
/// at the end of its input it stops (with EOFError).
#[test]
fn select_queue_server_answers_the_original_python_client() {
    let running = start("select_queue_server");
    let port = running.server.addr.port();
    // The client closes the tutorial, indented as a block under a `client端：` heading.
    let client = python_client("001", "client端", "\0", "8800", port).map(|block| {
        let lines: Vec<&str> = block
            .lines()
            .skip(1)
            .map(|line| line.strip_prefix("    ").unwrap_or(line.trim_start()))
            .collect();
        lines.join("\n")
    });
    if let Some(printed) = run_original_client(client, b"hello\nselect queue\n") {
        let replies: Vec<&str> = printed
            .split("<<<")
            .map(str::trim)
            .filter(|reply| !reply.is_empty())
            .collect();
        assert_eq!(replies, ["b'hello'", "b'select queue'"], "{printed:?}");
    }
    running.stop();
}

#[test]
fn select_good_server_answers_interleaved_clients() {
    serves_interleaved_clients("select_good_server", good);
}

#[test]
fn select_good_server_survives_vanishing_clients() {
    survives_vanishing_clients("select_good_server", good);
}

// The tutorial of `select_good_server` has no client: the Rust clients above are its only ones.

#[test]
fn select_upper_server_answers_interleaved_clients() {
    serves_interleaved_clients("select_upper_server", upper);
}

#[test]
fn select_upper_server_survives_vanishing_clients() {
    survives_vanishing_clients("select_upper_server", upper);
}

#[test]
fn select_upper_server_answers_a_long_message() {
    answers_a_long_message("select_upper_server", upper);
}

/// The lesson's only client (written for its `selectors` server on port 8088, which answers
/// the same way plus `_SB`): prompts `>>: `, skips empty lines, prints each reply; at the end
/// of its input it stops (with EOFError).
#[test]
fn select_upper_server_answers_the_original_python_client() {
    let running = start("select_upper_server");
    let port = running.server.addr.port();
    let client = python_client("004", "#客户端", "使用", "8088", port);
    if let Some(printed) = run_original_client(client, b"hello\n\nupper case\n") {
        let replies: Vec<&str> = printed
            .split(">>: ")
            .map(str::trim)
            .filter(|reply| !reply.is_empty())
            .collect();
        assert_eq!(replies, ["HELLO", "UPPER CASE"], "{printed:?}");
    }
    running.stop();
}

#[test]
fn bad_arguments_are_refused_with_status_2() {
    for name in [
        "select_server",
        "select_queue_server",
        "select_good_server",
        "select_upper_server",
    ] {
        for args in [
            &["--port", "nope"][..],
            &["--port"],
            &["--port=70000"],
            &["--verbose"],
        ] {
            assert_refuses_arguments(name, args);
        }
    }
}
