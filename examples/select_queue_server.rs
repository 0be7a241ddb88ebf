//! Python's `select.select` echo server with one message queue per connection, ported line
//! for line: the well-known tutorial server that keeps an `input` list (the listener and every
//! connection), an `output` list (the connections with something to send) and a
//! `message_queue` dict mapping each connection to a `queue.Queue`, and passes `input` to
//! `select` twice, as the read list and as the exceptional list.
//!
//! What it demonstrates: reading and writing are decoupled. The readable branch only queues
//! what arrived and puts the connection on `output`; the writable branch sends one queued
//! message per turn, and takes the connection off `output` once its queue is empty, so an
//! idle connection is not polled for writing. Sockets are non-blocking, so one slow client
//! never holds up the others. Every message comes back unchanged (an echo), in chunks of at
//! most 1024 bytes, as the Python server reads them.
//!
//! Python's lists hold socket objects. A Rust value has one owner, so here the lists hold
//! small ids (`Id`) and `Sockets` owns what they name; `select` lends the listed sockets to
//! `ioselectors::select::select_into` and turns the positions it reports back into ids (both
//! in `examples/select_lists/`, shared by the `select.select` ports).
//! select(2) only watches descriptors below `FD_SETSIZE` (1024 on most systems): a server
//! for more clients than that uses a selector (`ioselectors::DefaultSelector`) instead.
//!
//! ```text
//! cargo run --example select_queue_server -- --port 8800
//! ```
//!
//! Then type lines into `nc 127.0.0.1 8800` (from several terminals at once): each comes
//! back. The default port is the Python server's, 8800; `--port 0` picks a free one. The
//! first line printed is `listening on ADDRESS`; the server's running commentary
//! (`waiting for the next event`, `received …`) goes to stderr.

mod select_lists;
use select_lists::{port_from_args, select, Id, Sockets, LISTENER};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener};

/// The id of the listening socket (Python's `server`).
const SERVER: Id = LISTENER;

/// Python's third branch and the `exceptional` loop: takes the socket off both lists, closes
/// it and deletes its queue.
fn close(
    s: Id,
    sockets: &mut Sockets,
    input: &mut Vec<Id>,
    output: &mut Vec<Id>,
    message_queue: &mut HashMap<Id, VecDeque<Vec<u8>>>,
) {
    output.retain(|&id| id != s);
    input.retain(|&id| id != s);
    sockets.close(s);
    message_queue.remove(&s);
}

fn main() -> io::Result<()> {
    let port = port_from_args("select_queue_server", 8800);

    // The listening socket, non-blocking, on ('localhost', 8800).
    let server = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    server.set_nonblocking(true)?;
    println!("listening on {}", server.local_addr()?);
    io::stdout().flush()?;

    let mut sockets = Sockets::new(server, "server");
    // Sockets to read from, and (the same list) to watch for an exceptional condition.
    let mut input: Vec<Id> = vec![SERVER];
    // Sockets with data to send.
    let mut output: Vec<Id> = Vec::new();
    // Python calls `select.select(input, output, input)` once here and throws the result
    // away: all it does is wait for the first client. Left out.

    // The messages waiting to be sent, per connection. Python uses `queue.Queue`, a queue
    // for threads; one thread needs only a deque.
    let mut message_queue: HashMap<Id, VecDeque<Vec<u8>>> = HashMap::new();

    while !input.is_empty() {
        // Python: `print(sys.stderr, '…')` prints the stream object itself, and the text, to
        // stdout; what it means is `print('…', file=sys.stderr)`.
        eprintln!("\nwaiting for the next event");
        let (readable, writable, exceptional) = select(&sockets, &input, &output, &input, None)?;

        for s in readable {
            if s == SERVER {
                // A new connection: make it non-blocking, watch it, give it a queue.
                let Some(server) = sockets.listener() else {
                    continue;
                };
                match server.accept().and_then(|(connection, _addr)| {
                    connection.set_nonblocking(true)?;
                    Ok(connection)
                }) {
                    Ok(connection) => {
                        let id = sockets.add(connection);
                        input.push(id);
                        message_queue.insert(id, VecDeque::new());
                    }
                    // The client left before we accepted it.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    // Python: a failing accept raises and ends the server; a robust server
                    // logs it and goes on, as here.
                    Err(err) => eprintln!("accept failed: {err}"),
                }
            } else {
                let conn = sockets.conns.get_mut(&s).expect("listed, so open");
                let mut data = [0u8; 1024];
                match conn.read(&mut data) {
                    Ok(n) if n > 0 => {
                        let peer = conn
                            .peer_addr()
                            .map_or_else(|_| "?".to_owned(), |addr| addr.to_string());
                        eprintln!(
                            "received {:?} from {peer}",
                            String::from_utf8_lossy(&data[..n])
                        );
                        // Queue it, and have select tell us when the connection is writable.
                        //
                        // Python: the queue grows without bound while a client sends faster
                        // than it reads; a robust server stops reading from a connection (takes
                        // it off `input`) while its queue is long, and reads again once it
                        // has drained.
                        message_queue
                            .get_mut(&s)
                            .expect("every connection has a queue")
                            .push_back(data[..n].to_vec());
                        if !output.contains(&s) {
                            output.push(s);
                        }
                    }
                    // Nothing: the client closed the connection. No need to answer it any
                    // more: off both lists, closed, and its queue deleted.
                    Ok(_) => close(s, &mut sockets, &mut input, &mut output, &mut message_queue),
                    // Python: not handled. A non-blocking `recv` with nothing to read raises
                    // BlockingIOError, a reset connection ConnectionResetError, and either ends
                    // the server; a robust server waits for the next readable turn, or closes
                    // just that connection, as here.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Err(err) => {
                        eprintln!("closing connection {s}: {err}");
                        close(s, &mut sockets, &mut input, &mut output, &mut message_queue);
                    }
                }
            }
        }

        for s in writable {
            // Python: `message_queue[s]` raises KeyError (and ends the server) when the
            // readable loop above has just closed `s`, which happens whenever a client sends
            // a message and hangs up at once; a robust server skips sockets closed meanwhile,
            // as here.
            let Some(queue) = message_queue.get_mut(&s) else {
                continue;
            };
            let Some(next_msg) = queue.pop_front() else {
                // Nothing left to send: stop watching it for writing.
                output.retain(|&id| id != s);
                continue;
            };
            let conn = sockets.conns.get_mut(&s).expect("queued, so open");
            // Python: `s.send(next_msg)` may send only part of the message on this
            // non-blocking socket, and the rest is lost; it raises (ending the server) when
            // the client has vanished. A robust server puts the unsent rest back at the head
            // of the queue, for the next writable turn, and closes only the failing
            // connection, as here.
            match conn.write(&next_msg) {
                Ok(sent) if sent < next_msg.len() => queue.push_front(next_msg[sent..].to_vec()),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => queue.push_front(next_msg),
                Err(err) => {
                    eprintln!("closing connection {s}: {err}");
                    close(s, &mut sockets, &mut input, &mut output, &mut message_queue);
                }
            }
        }

        for s in exceptional {
            // Python: this loop takes `s` off input, then walks `output` with the same name
            // `s` while removing from it (which skips every other entry, and takes *other*
            // connections off output), then closes and forgets whichever socket `s` names last,
            // not the failing one; a socket closed above makes `input.remove(s)` raise. What
            // it means, and what a robust server does: take the failing socket off both lists,
            // close it, delete its queue.
            if !input.contains(&s) {
                continue; // closed above
            }
            eprintln!("exceptional condition on {s}: closing it");
            close(s, &mut sockets, &mut input, &mut output, &mut message_queue);
        }
    }
    Ok(())
}
