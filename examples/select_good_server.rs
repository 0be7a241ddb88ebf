//! Python's `select.select` server that answers every message with the message plus `Good`,
//! ported line for line: the short one from a Python full-stack series on I/O multiplexing,
//! with a `demo_li` list of sockets to read, an `outputs` list of connections owed a reply,
//! a `message_dict` of received messages per connection, and a one-second `select` timeout.
//!
//! What it demonstrates: a `select` loop with a timeout (it wakes up every second even when
//! nothing happens, and prints how many sockets it watches and which are ready), and replies
//! deferred to the writable branch: the readable branch stores the message and puts the
//! connection on `outputs` once per message; the writable branch sends the oldest stored
//! message followed by `Good` and takes one entry off `outputs`. Each chunk the server reads
//! (at most 1024 bytes) is one message: `hello` is answered with `helloGood`.
//!
//! The Python program passes the listening socket itself where the list of sockets to read
//! belongs (`select.select(sk1, outputs, [], 1)`, which raises TypeError at once); what its
//! author meant is the list `demo_li`, and that is what this port passes.
//!
//! Python's lists hold socket objects. A Rust value has one owner, so here the lists hold
//! small ids (`Id`) and `Sockets` owns what they name; `select` lends the listed sockets to
//! `ioselectors::select::select_into` and turns the positions it reports back into ids (both
//! in `examples/select_lists/`, shared by the `select.select` ports).
//! select(2) only watches descriptors below `FD_SETSIZE` (1024 on most systems): a server
//! for more clients than that uses a selector (`ioselectors::DefaultSelector`) instead.
//!
//! ```text
//! cargo run --example select_good_server -- --port 8002
//! ```
//!
//! Then type lines into `nc 127.0.0.1 8002` (from several terminals at once): `hi` comes back
//! as `hi` + newline + `Good`. The default port is the Python server's, 8002; `--port 0`
//! picks a free one. The first line printed is `listening on ADDRESS`.

mod select_lists;
use select_lists::{port_from_args, select, Id, Sockets, LISTENER};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

/// What the server appends to every message it sends back.
const GOOD: &[u8] = b"Good";

/// The id of the listening socket (Python's `sk1`).
const SK1: Id = LISTENER;

/// Closes a connection: off both lists, its messages deleted, the socket dropped (closed).
fn close(
    conn: Id,
    sockets: &mut Sockets,
    demo_li: &mut Vec<Id>,
    outputs: &mut Vec<Id>,
    message_dict: &mut HashMap<Id, Vec<Vec<u8>>>,
) {
    demo_li.retain(|&id| id != conn);
    outputs.retain(|&id| id != conn);
    message_dict.remove(&conn);
    sockets.close(conn);
}

fn main() -> io::Result<()> {
    let port = port_from_args("select_good_server", 8002);

    let sk1 = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    println!("listening on {}", sk1.local_addr()?);
    io::stdout().flush()?;

    let mut sockets = Sockets::new(sk1, "sk1");
    let mut demo_li: Vec<Id> = vec![SK1];
    let mut outputs: Vec<Id> = Vec::new();
    // The messages received and not yet answered, per connection, oldest first. Python keeps
    // them as `str` (decoded UTF-8); see the readable branch.
    let mut message_dict: HashMap<Id, Vec<Vec<u8>>> = HashMap::new();

    loop {
        // Python: `select.select(sk1, outputs, [], 1)`, meaning `demo_li` (see above).
        let (r_list, w_list, _e_list) = select(
            &sockets,
            &demo_li,
            &outputs,
            &[],
            Some(Duration::from_secs(1)),
        )?;

        println!("{} {:?}", demo_li.len(), sockets.describe(&r_list));

        for sk1_or_conn in r_list {
            if sk1_or_conn == SK1 {
                // Python: a failing accept (the client already gave up) raises and ends the
                // server; a robust server logs it and goes on, as here.
                match sockets.listener().expect("never closed").accept() {
                    Ok((conn, _address)) => {
                        let id = sockets.add(conn);
                        demo_li.push(id);
                        message_dict.insert(id, Vec::new());
                    }
                    Err(err) => eprintln!("accept failed: {err}"),
                }
            } else {
                let conn = sockets
                    .conns
                    .get_mut(&sk1_or_conn)
                    .expect("listed, so open");
                let mut data_bytes = [0u8; 1024];
                match conn.read(&mut data_bytes) {
                    // Python: on an error it only takes the connection off `demo_li`: the
                    // socket stays open, and its messages and `outputs` entries stay behind;
                    // a robust server closes it and forgets it everywhere, as here.
                    Err(err) => {
                        eprintln!("closing connection {sk1_or_conn}: {err}");
                        close(
                            sk1_or_conn,
                            &mut sockets,
                            &mut demo_li,
                            &mut outputs,
                            &mut message_dict,
                        );
                    }
                    // Python: an empty read (the client closed the connection) is not handled:
                    // the empty message is stored and answered with `Good`, and the socket,
                    // readable for ever, does so again every round (a busy loop) until sending
                    // to the departed client raises and ends the server. A robust server closes
                    // the connection on an empty read, as here.
                    Ok(0) => close(
                        sk1_or_conn,
                        &mut sockets,
                        &mut demo_li,
                        &mut outputs,
                        &mut message_dict,
                    ),
                    // Python: `str(data_bytes, encoding="utf-8")` raises (and ends the server)
                    // on bytes that are not UTF-8, including a character split between two
                    // reads; a robust server keeps bytes, as here: text gets the same reply.
                    Ok(n) => {
                        message_dict
                            .get_mut(&sk1_or_conn)
                            .expect("every connection has a list")
                            .push(data_bytes[..n].to_vec());
                        outputs.push(sk1_or_conn);
                    }
                }
            }
        }

        for conn in w_list {
            // Closed by the readable branch of this same round.
            let Some(messages) = message_dict.get_mut(&conn).filter(|m| !m.is_empty()) else {
                continue;
            };
            // `recv_str = message_dict[conn][0]; del message_dict[conn][0]`
            let mut reply = messages.remove(0);
            reply.extend_from_slice(GOOD);
            // Python: `sendall` on this blocking socket waits until the client has taken it
            // all (so a client that does not read stalls every other client), and raises,
            // ending the server, when the client has vanished. A robust server uses
            // non-blocking sockets, keeps what is unsent for the next writable turn, and
            // closes only the failing connection. Here an error closes just this connection.
            let stream = sockets.conns.get_mut(&conn).expect("listed, so open");
            if let Err(err) = stream.write_all(&reply) {
                eprintln!("closing connection {conn}: {err}");
                close(
                    conn,
                    &mut sockets,
                    &mut demo_li,
                    &mut outputs,
                    &mut message_dict,
                );
                continue;
            }
            // `outputs.remove(conn)`: one entry per message.
            if let Some(at) = outputs.iter().position(|&id| id == conn) {
                outputs.remove(at);
            }
        }
    }
}
