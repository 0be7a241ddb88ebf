//! Python's `select.select` echo server with one message queue per connection, ported
//! statement for statement: the well-known tutorial server that keeps an `input` list (the listener and every
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
//! As in Python, one socket type serves the listener and the connections
//! (`socket2::Socket`, in an `Rc` so that `select` can hand back the lists' own sockets),
//! and the loop changes the lists while it walks what `select` returned. `message_queue` is
//! keyed by descriptor number (`fileno()`), where Python keys it by socket; a `VecDeque`
//! plays `queue.Queue`.
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

mod args;
use ioselectors::{select::select, select::SourceList, Fileno};
use socket2::{Domain, Socket, Type};
use std::collections::{HashMap, VecDeque};
use std::{io::ErrorKind::WouldBlock, io::Read, io::Write, net::SocketAddr, rc::Rc};

fn main() -> std::io::Result<()> {
    let port = args::port_from_args("select_queue_server", 8800);
    // Create a socket.
    let server = Rc::new(Socket::new(Domain::IPV4, Type::STREAM, None)?);
    server.set_nonblocking(true)?;
    server.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    // Listen for incoming connections.
    server.listen(5)?;
    args::announce(&server)?;

    let mut input = vec![server.clone()]; // to read from
    let mut output = Vec::new(); // to send to
    let mut message_queue = HashMap::new(); // the messages each connection is owed

    while !input.is_empty() {
        // Wait for at least one socket to be ready.
        eprintln!("\nwaiting for the next event");
        let (readable, writable, exceptional) = select(&input, &output, &input, None)?;

        for s in readable {
            if Rc::ptr_eq(&s, &server) {
                // A new connection (one that has given up already is no reason to stop).
                if let Ok((connection, _addr)) = s.accept() {
                    connection.set_nonblocking(true)?;
                    message_queue.insert((&connection).fileno(), VecDeque::new());
                    input.push(Rc::new(connection));
                }
            } else {
                let mut data = [0; 1024];
                match (&*s).read(&mut data) {
                    Ok(n) if n > 0 => {
                        let peer = s.peer_addr().ok().and_then(|addr| addr.as_socket());
                        eprintln!("received {:?} from {peer:?}", &data[..n]);
                        let queue = message_queue.get_mut(&(&s).fileno()).expect("accepted");
                        queue.push_back(data[..n].to_vec());
                        if !output.contains_source(&s) {
                            output.push(s); // answered once it is writable
                        }
                    }
                    Err(err) if err.kind() == WouldBlock => {}
                    // The client left (or reset the connection, which Python does not expect).
                    _ => {
                        output.remove_source(&s);
                        input.remove_source(&s);
                        message_queue.remove(&(&s).fileno());
                    }
                }
            }
        }

        for s in writable {
            let Some(queue) = message_queue.get_mut(&(&s).fileno()) else {
                continue; // closed above
            };
            let Some(next_msg) = queue.pop_front() else {
                output.remove_source(&s); // queue.Empty: nothing more to send
                continue;
            };
            // What the socket does not take goes out next time (Python drops it).
            match (&*s).write(&next_msg) {
                Ok(sent) if sent < next_msg.len() => queue.push_front(next_msg[sent..].to_vec()),
                Ok(_) => {}
                Err(err) if err.kind() == WouldBlock => queue.push_front(next_msg),
                Err(_) => drop(input.remove_source(&s)), // the client is gone
            }
        }

        for s in exceptional {
            // An error on a socket: off every list.
            input.remove_source(&s);
            output.remove_source(&s);
            message_queue.remove(&(&s).fileno());
        }
    }
    Ok(())
}
