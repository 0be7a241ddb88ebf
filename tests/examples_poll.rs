//! Starts the `select.poll()` and `select.epoll()` examples (built by `cargo test`) and talks
//! to them over loopback: several clients at once, every reply checked byte for byte, clients
//! that vanish without reading, and the original Python clients where they are available.
//!
//! * `poll_server`: answers `i have receive` to every message (Unix, Windows).
//! * `poll_echo_server`: echoes; `exit` closes the connection (Unix, Windows).
//! * `epoll_et_server`: edge-triggered echo (Linux).
//! * `epoll_oneshot_pool`: echo by worker threads sharing one epoll, `EPOLLONESHOT` (Linux).
//!
//! The Python 2 client of the poll echo server runs when a Python 2 interpreter is found:
//! `$PYTHON2`, or `python2` on the path. Without one, the Rust clients still check every reply.

mod common;
use common::example::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// `poll_server`'s answer to every message.
const I_HAVE_RECEIVE: &[u8] = b"i have receive";

/// A message of `len` bytes, different for each client and round: digits and letters, so a
/// reply that mixes up clients, repeats or drops bytes does not compare equal.
fn message(client: usize, round: usize, len: usize) -> Vec<u8> {
    let head = format!("client {client} round {round}:");
    let mut message = head.into_bytes();
    let mut k = client * 31 + round * 7;
    while message.len() < len {
        message.push(b"abcdefghijklmnopqrstuvwxyz0123456789"[k % 36]);
        k += 1;
    }
    message.truncate(len.max(1));
    message
}

/// Ends a conversation: shuts down the client's writing side and reads to the end. The
/// server sees end of file and closes the connection; anything it sent that the exchanges
/// did not read (an extra or a longer reply) shows up here.
fn finish(mut stream: TcpStream) {
    stream.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert_eq!(
        rest,
        b"",
        "unexpected bytes after the last reply: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

/// A client that connects, sends `message` and goes without reading anything. With `reset`
/// it closes with SO_LINGER 0, so the server gets a reset (ECONNRESET, POLLERR) instead of
/// an orderly end of file.
fn vanish(server: &Server, message: &[u8], reset: bool) {
    let mut stream = server.connect();
    stream.write_all(message).unwrap();
    if reset {
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
}

/// Clients that vanish in every way, between exchanges of the clients that stay; then the
/// server must still be running, serve them, and accept new clients.
fn survives_vanishing_clients(name: &str, args: &[&str], reply: impl Fn(&[u8]) -> Vec<u8>) {
    let mut server = Server::start(name, args);
    let mut stay = server.connect();
    for round in 0..4 {
        let reset = round % 2 == 1;
        let talk = message(0, round, 20);
        vanish(&server, &message(99, round, 30), reset);
        assert_eq!(exchange(&mut stay, &talk, reply(&talk).len()), reply(&talk));
        // A client that leaves with its answer unread (so its close is a reset): `peek`
        // waits for the answer without taking it.
        let mut half = server.connect();
        half.write_all(&message(98, round, 10)).unwrap();
        half.peek(&mut [0u8; 1]).unwrap();
        drop(half);
        // Two rounds after the clients left: the second answer comes from a wait that began
        // after the server saw them go.
        for turn in 0..2 {
            let talk = message(1, round * 2 + turn, 25);
            assert_eq!(exchange(&mut stay, &talk, reply(&talk).len()), reply(&talk));
        }
    }
    let mut late = server.connect();
    let talk = message(2, 0, 12);
    assert_eq!(exchange(&mut late, &talk, reply(&talk).len()), reply(&talk));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "{name} exited when clients vanished"
    );
    finish(stay);
    finish(late);
}

/// Several clients, each talking in turn, then all sending before any reads (so that one
/// wait reports several connections), then in reverse order: every reply checked.
fn serves_interleaved_clients(name: &str, args: &[&str], reply: impl Fn(&[u8]) -> Vec<u8>) {
    let server = Server::start(name, args);
    let mut clients: Vec<TcpStream> = (0..4).map(|_| server.connect()).collect();
    for round in 0..5 {
        for (i, client) in clients.iter_mut().enumerate() {
            let talk = message(i, round, 5 + i * 7 + round);
            assert_eq!(exchange(client, &talk, reply(&talk).len()), reply(&talk));
        }
    }
    for round in 5..10 {
        let sent: Vec<Vec<u8>> = clients
            .iter_mut()
            .enumerate()
            .map(|(i, client)| {
                let talk = message(i, round, 40 + i);
                client.write_all(&talk).unwrap();
                talk
            })
            .collect();
        for (client, talk) in clients.iter_mut().zip(&sent).rev() {
            let expected = reply(talk);
            let mut got = vec![0u8; expected.len()];
            client.read_exact(&mut got).unwrap();
            assert_eq!(got, expected);
        }
    }
    for (i, client) in clients.iter_mut().enumerate().rev() {
        let talk = message(i, 10, 3);
        assert_eq!(exchange(client, &talk, reply(&talk).len()), reply(&talk));
    }
    for client in clients {
        finish(client);
    }
}

fn echo(message: &[u8]) -> Vec<u8> {
    message.to_vec()
}

/// The poll echo server's Python client (Python 2: `raw_input`, `print` statements),
/// unchanged but for the port, if the reference material is there.
fn python2_echo_client(port: u16) -> Option<String> {
    python_client("003", "import socket", "```", "9002", port)
}

/// Runs a Python 2 program with `input` on its standard input, and returns what it printed;
/// `None` without a Python 2 interpreter (`$PYTHON2`, or `python2`).
fn run_python2(code: &str, input: &[u8]) -> Option<String> {
    let python = std::env::var_os("PYTHON2").unwrap_or_else(|| "python2".into());
    let works = Command::new(&python)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !works {
        return None;
    }
    let output = run_interpreter(&python, code, input);
    assert!(
        output.status.success(),
        "the Python client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The echo client of the poll tutorial, against an echo server: two lines, then `exit`.
fn python2_echo_client_is_served(name: &str) {
    let server = Server::start(name, &[]);
    let Some(client) = python2_echo_client(server.addr.port()) else {
        eprintln!(
            "the original Python client is not available here: only the Rust clients were checked"
        );
        return;
    };
    let Some(printed) = run_python2(&client, b"hello\necho server\nexit\n") else {
        eprintln!(
            "no Python 2 interpreter ($PYTHON2 or python2): only the Rust clients were checked"
        );
        return;
    };
    // raw_input's prompt, then each echo printed on its own line.
    assert_eq!(
        printed, "> hello\n> echo server\n> ",
        "the client printed {printed:?}"
    );
}

// ---- poll_server -----------------------------------------------------------------------

fn i_have_receive(_: &[u8]) -> Vec<u8> {
    I_HAVE_RECEIVE.to_vec()
}

#[test]
fn poll_server_answers_every_message_of_interleaved_clients() {
    serves_interleaved_clients("poll_server", &[], i_have_receive);
}

#[test]
fn poll_server_survives_vanishing_clients() {
    survives_vanishing_clients("poll_server", &[], i_have_receive);
}

/// The client the Python server was written for (Python 3), unchanged but for the port: it
/// sends each line typed, prints the answer, and stops at an empty line.
#[test]
fn poll_server_serves_the_original_python_client() {
    let server = Server::start("poll_server", &[]);
    let Some(client) = python_client(
        "000",
        "# myclient.py",
        "select.poll()",
        "8000",
        server.addr.port(),
    ) else {
        eprintln!(
            "the original Python client is not available here: only the Rust clients were checked"
        );
        return;
    };
    let printed = run_python(&client, b"hello\npoll\n\n");
    assert_eq!(printed, "i have receive\ni have receive\n");
}

#[test]
fn poll_server_refuses_bad_arguments() {
    assert_refuses_arguments("poll_server", &["--port", "nope"]);
    assert_refuses_arguments("poll_server", &["--port"]);
    assert_refuses_arguments("poll_server", &["--bogus"]);
}

// ---- poll_echo_server ------------------------------------------------------------------

#[test]
fn poll_echo_server_echoes_interleaved_clients() {
    serves_interleaved_clients("poll_echo_server", &[], echo);
}

#[test]
fn poll_echo_server_survives_vanishing_clients() {
    survives_vanishing_clients("poll_echo_server", &[], echo);
}

/// `exit` closes that connection (the client reads end of file); the others go on.
#[test]
fn poll_echo_server_closes_on_exit() {
    let server = Server::start("poll_echo_server", &[]);
    let mut leaving = server.connect();
    let mut staying = server.connect();
    assert_eq!(exchange(&mut leaving, b"hello", 5), b"hello");
    assert_eq!(exchange(&mut staying, b"hi", 2), b"hi");
    leaving.write_all(b"exit").unwrap();
    let mut rest = Vec::new();
    leaving.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"", "`exit` must not be echoed");
    assert_eq!(exchange(&mut staying, b"exit?", 5), b"exit?");
    assert_eq!(exchange(&mut staying, b"still here", 10), b"still here");
    staying.write_all(b"exit").unwrap();
    staying.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"");
    let mut late = server.connect();
    assert_eq!(exchange(&mut late, b"late", 4), b"late");
    finish(late);
}

#[test]
fn poll_echo_server_serves_the_original_python_client() {
    python2_echo_client_is_served("poll_echo_server");
}

#[test]
fn poll_echo_server_refuses_bad_arguments() {
    assert_refuses_arguments("poll_echo_server", &["--port", "70000"]);
    assert_refuses_arguments("poll_echo_server", &["extra"]);
}

// ---- the epoll examples (Linux) ----------------------------------------------------------

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll {
    use super::*;

    /// Sends `len` bytes from a thread while this one reads the echo, so neither side waits
    /// for the other to drain a full buffer; returns the echo.
    fn echo_large(stream: &TcpStream, len: usize) {
        let sent = message(7, 7, len);
        let mut writer = stream.try_clone().unwrap();
        let to_send = sent.clone();
        let writing = std::thread::spawn(move || writer.write_all(&to_send).unwrap());
        let mut got = vec![0u8; len];
        (&*stream).read_exact(&mut got).unwrap();
        writing.join().unwrap();
        assert!(
            got == sent,
            "the echo of {len} bytes differs from what was sent"
        );
    }

    #[test]
    fn et_server_echoes_interleaved_clients() {
        serves_interleaved_clients("epoll_et_server", &[], echo);
    }

    /// 256 KiB in one write: far more than one 1024-byte read, and more than the socket
    /// buffers hold. An edge-triggered server that stopped reading before WouldBlock would
    /// never be told about the rest, and the echo would stop short.
    #[test]
    fn et_server_echoes_a_message_larger_than_its_read_buffer() {
        let server = Server::start("epoll_et_server", &[]);
        let mut stream = server.connect();
        echo_large(&stream, 256 * 1024);
        assert_eq!(exchange(&mut stream, b"and then", 8), b"and then");
        echo_large(&stream, 1024 * 1024 + 3);
        finish(stream);
    }

    /// Many connections arrive before the server runs: one edge on the listening socket
    /// stands for all of them, so it must accept until WouldBlock.
    #[test]
    fn et_server_accepts_every_waiting_connection() {
        let server = Server::start("epoll_et_server", &[]);
        let mut clients: Vec<TcpStream> = (0..64).map(|_| server.connect()).collect();
        for (i, client) in clients.iter_mut().enumerate().rev() {
            let talk = message(i, 0, 16);
            assert_eq!(exchange(client, &talk, talk.len()), talk);
        }
        for client in clients {
            finish(client);
        }
    }

    #[test]
    fn et_server_survives_vanishing_clients() {
        survives_vanishing_clients("epoll_et_server", &[], echo);
    }

    #[test]
    fn et_server_serves_the_python_echo_client() {
        python2_echo_client_is_served("epoll_et_server");
    }

    #[test]
    fn et_server_refuses_bad_arguments() {
        assert_refuses_arguments("epoll_et_server", &["--port", "-1"]);
    }

    /// 32 clients on threads of their own, 20 exchanges each, all at once: every echo must
    /// be exactly that client's message.
    #[test]
    fn oneshot_pool_serves_many_concurrent_clients() {
        let server = Server::start("epoll_oneshot_pool", &[]);
        std::thread::scope(|scope| {
            for client in 0..32 {
                let server = &server;
                scope.spawn(move || {
                    let mut stream = server.connect();
                    for round in 0..20 {
                        let talk = message(client, round, 1 + (client * 13 + round * 29) % 900);
                        assert_eq!(exchange(&mut stream, &talk, talk.len()), talk);
                    }
                    finish(stream);
                });
            }
        });
    }

    /// More than the socket buffers hold: replies that cannot be sent at once wait for
    /// EPOLLOUT, and the echo comes back whole and in order.
    #[test]
    fn oneshot_pool_echoes_a_large_message() {
        let server = Server::start("epoll_oneshot_pool", &["--workers", "3"]);
        let stream = server.connect();
        echo_large(&stream, 256 * 1024);
        finish(stream);
    }

    /// One worker serves every connection in turn: a client that goes quiet does not hold
    /// it.
    #[test]
    fn oneshot_pool_with_one_worker_serves_interleaved_clients() {
        serves_interleaved_clients("epoll_oneshot_pool", &["--workers", "1"], echo);
    }

    #[test]
    fn oneshot_pool_survives_vanishing_clients() {
        survives_vanishing_clients("epoll_oneshot_pool", &["--workers", "2"], echo);
    }

    #[test]
    fn oneshot_pool_serves_the_python_echo_client() {
        python2_echo_client_is_served("epoll_oneshot_pool");
    }

    #[test]
    fn oneshot_pool_refuses_bad_arguments() {
        assert_refuses_arguments("epoll_oneshot_pool", &["--workers", "0"]);
        assert_refuses_arguments("epoll_oneshot_pool", &["--workers=x"]);
        assert_refuses_arguments("epoll_oneshot_pool", &["--port", "nope"]);
    }
}
