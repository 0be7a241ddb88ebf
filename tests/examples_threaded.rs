//! `threaded_server`: an acceptor thread hands connections to per-core I/O threads through
//! their selectors' registries. Talked to over loopback: a thousand clients at once, each
//! reply checked byte for byte, clients that vanish mid-message, and one that sends a lot
//! before it reads.

mod common;
use common::example::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;

/// The message client `client` sends in round `round`: distinct, and of varying length.
fn message(client: usize, round: usize) -> Vec<u8> {
    let mut message = format!("client {client} round {round}:").into_bytes();
    message.extend(
        std::iter::repeat(b'a' + (client % 26) as u8).take((client * 7 + round * 13) % 300),
    );
    message.push(b'\n');
    message
}

/// 1,000 clients connected at once, spread by the acceptor over the I/O threads, each
/// exchanging three messages: every reply is exactly what was sent.
#[test]
fn a_thousand_clients_at_once_get_their_bytes_back() {
    #[cfg(unix)]
    common::raise_nofile_limit(8192);
    let server = Server::start("threaded_server", &["--threads", "4"]);
    let workers: Vec<_> = (0..10)
        .map(|worker| {
            let addr = server.addr;
            thread::spawn(move || {
                let mut clients: Vec<(usize, TcpStream)> = (0..100)
                    .map(|i| {
                        let stream = TcpStream::connect(addr).unwrap();
                        stream
                            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
                            .unwrap();
                        (worker * 100 + i, stream)
                    })
                    .collect();
                for round in 0..3 {
                    for (client, stream) in &mut clients {
                        stream.write_all(&message(*client, round)).unwrap();
                    }
                    for (client, stream) in &mut clients {
                        let sent = message(*client, round);
                        let mut reply = vec![0; sent.len()];
                        stream.read_exact(&mut reply).unwrap();
                        assert_eq!(reply, sent, "client {client}, round {round}");
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

/// Clients that send half a message and vanish (closed, or reset) disturb nobody: the
/// others, on the same I/O threads, keep getting their replies.
#[test]
fn clients_vanishing_mid_message_disturb_nobody() {
    let server = Server::start("threaded_server", &["--threads", "2"]);
    let mut steady: Vec<TcpStream> = (0..8).map(|_| server.connect()).collect();
    for round in 0..20 {
        for i in 0..4 {
            let mut vanishing = server.connect();
            vanishing.write_all(b"half a mess").unwrap();
            if i % 2 == 0 {
                // A reset rather than a close: linger 0.
                socket2::SockRef::from(&vanishing)
                    .set_linger(Some(std::time::Duration::ZERO))
                    .unwrap();
            }
            drop(vanishing);
        }
        for (i, stream) in steady.iter_mut().enumerate() {
            let sent = message(i, round);
            assert_eq!(exchange(stream, &sent, sent.len()), sent, "round {round}");
        }
    }
}

/// A client that sends 8 MiB before reading anything gets every byte back: the server
/// stops reading from it while it is owed 1 MiB, and TCP holds the rest.
#[test]
fn a_client_that_sends_a_lot_before_reading_gets_it_all_back() {
    let server = Server::start("threaded_server", &["--threads", "2"]);
    let mut client = server.connect();
    let sent: Vec<u8> = (0..8 << 20).map(|i: usize| (i % 251) as u8).collect();
    let writer = {
        let mut client = client.try_clone().unwrap();
        let sent = sent.clone();
        thread::spawn(move || client.write_all(&sent).unwrap())
    };
    let mut reply = vec![0; sent.len()];
    client.read_exact(&mut reply).unwrap();
    writer.join().unwrap();
    assert!(reply == sent, "the echoed bytes differ");
}

#[test]
fn bad_arguments_are_refused() {
    assert_refuses_arguments("threaded_server", &["--threads", "0"]);
}
