//! Python's classic `select.select` server, ported line for line: the one from a tutorial on
//! I/O multiplexing that keeps an `rlist`, a `wlist` and an `xlist`, calls `select` on them in
//! a loop, and has a branch for each answer: the listening socket is readable (a new client),
//! a connection is readable (a message, or the client left), a connection is writable (time
//! to answer), the listener has an exceptional condition (close it).
//!
//! What it demonstrates: a reply is not sent when the message arrives. The readable branch
//! only puts the connection on `wlist`; the next `select` reports it writable, and the
//! writable branch answers and takes it off `wlist` again, so an idle connection is never
//! polled for writing. Every message is answered with the same 14 bytes, `I have receive`
//! (exactly what the Python server sends), and printed as `PEER : TEXT`.
//!
//! Python's lists hold socket objects. A Rust value has one owner, so here the lists hold
//! small ids (`Id`) and `Sockets` owns what they name; `select` lends the listed sockets to
//! `ioselectors::select::select_into` and turns the positions it reports back into ids (both
//! in `examples/select_lists/`, shared by the `select.select` ports).
//! select(2) only watches descriptors below `FD_SETSIZE` (1024 on most systems): a server
//! for more clients than that uses a selector (`ioselectors::DefaultSelector`) instead.
//!
//! ```text
//! cargo run --example select_server -- --port 8000
//! ```
//!
//! Then type lines into `nc 127.0.0.1 8000` (from several terminals at once): each line is
//! answered with `I have receive`. The default port is the Python server's, 8000;
//! `--port 0` picks a free one. The first line printed is `listening on ADDRESS`.

mod select_lists;
use select_lists::{port_from_args, select, Id, Sockets, LISTENER};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener};

/// What the Python server answers to every message, byte for byte.
const REPLY: &[u8] = b"I have receive";

/// The id of the listening socket (Python's `socketfd`).
const SOCKETFD: Id = LISTENER;

/// Python's `list.remove(item)`: takes out the first occurrence, if any.
fn remove_first(list: &mut Vec<Id>, id: Id) {
    if let Some(at) = list.iter().position(|&listed| listed == id) {
        list.remove(at);
    }
}

/// Closes a connection: takes it off every list, then drops (closes) the socket.
fn close(id: Id, sockets: &mut Sockets, rlist: &mut Vec<Id>, wlist: &mut Vec<Id>) {
    rlist.retain(|&listed| listed != id);
    wlist.retain(|&listed| listed != id);
    sockets.close(id);
}

fn main() -> io::Result<()> {
    let port = port_from_args("select_server", 8000);

    // Python: binds ('0.0.0.0', 8000), every interface, with SO_REUSEADDR, and listens with a
    // backlog of 10. The example stays on loopback; the standard library sets SO_REUSEADDR on
    // Unix and picks the backlog.
    let socketfd = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    println!("listening on {}", socketfd.local_addr()?);
    io::stdout().flush()?;

    let mut sockets = Sockets::new(socketfd, "socketfd");
    let mut rlist: Vec<Id> = Vec::new();
    let mut wlist: Vec<Id> = Vec::new();
    let mut xlist: Vec<Id> = Vec::new();

    // Watch the listener for new clients (rlist) and for an exceptional condition (xlist).
    rlist.push(SOCKETFD);
    xlist.push(SOCKETFD);

    loop {
        let (rl, wl, xl) = select(&sockets, &rlist, &wlist, &xlist, None)?;

        for r in rl {
            if r == SOCKETFD {
                // A new client: accept it and watch it for messages.
                let Some(socketfd) = sockets.listener() else {
                    continue;
                };
                // Python: a failing accept (the client already gave up) raises and ends the
                // server; a robust server logs it and goes on, as here.
                match socketfd.accept() {
                    Ok((connfd, _addr)) => {
                        let id = sockets.add(connfd);
                        rlist.push(id);
                    }
                    Err(err) => eprintln!("accept failed: {err}"),
                }
            } else {
                let conn = sockets.conns.get_mut(&r).expect("listed, so open");
                let mut data = [0u8; 1024];
                match conn.read(&mut data) {
                    // Nothing: the client closed the connection.
                    //
                    // Python: removes it from rlist only. If a reply was still due it stays in
                    // wlist, and the closed socket makes `send` (or the next `select`) raise
                    // and end the server; a robust server takes it off every list, as here.
                    Ok(0) => close(r, &mut sockets, &mut rlist, &mut wlist),
                    Ok(n) => {
                        // Python: `print(r.getpeername(), ':', data.decode())` raises (and
                        // ends the server) on bytes that are not UTF-8, or when the client has
                        // already reset the connection; a robust server prints what it can.
                        let peer = conn
                            .peer_addr()
                            .map_or_else(|_| "?".to_owned(), |addr| addr.to_string());
                        println!("{peer} : {}", String::from_utf8_lossy(&data[..n]));
                        // Answer once select reports the connection writable.
                        wlist.push(r);
                    }
                    // Python: only `recv` returning nothing is handled; a reset connection
                    // raises ConnectionResetError and ends the server. A robust server closes
                    // just that connection, as here.
                    Err(err) => {
                        eprintln!("closing connection {r}: {err}");
                        close(r, &mut sockets, &mut rlist, &mut wlist);
                    }
                }
            }
        }

        for w in wl {
            // Closed by the readable branch of this same round.
            let Some(conn) = sockets.conns.get_mut(&w) else {
                continue;
            };
            // Python: `w.send(b'I have receive')` may send only part of the reply, ignores how
            // much went, and raises (ending the server) when the client has vanished; a robust
            // server keeps the unsent rest for the next writable turn and closes only the
            // failing connection. Here: `write_all` (Python's `sendall`) on this blocking
            // socket, and an error closes just this connection.
            if let Err(err) = conn.write_all(REPLY) {
                eprintln!("closing connection {w}: {err}");
                close(w, &mut sockets, &mut rlist, &mut wlist);
                continue;
            }
            // Answered: stop watching it for writing (one entry per message received).
            remove_first(&mut wlist, w);
        }

        for x in xl {
            if x == SOCKETFD {
                // Python: `x.close()` closes the listener but leaves it in rlist and xlist, so
                // the next `select` raises and ends the server; a robust server takes it off
                // every list when it closes it, as here, and goes on serving its clients.
                eprintln!("exceptional condition on the listener: closing it");
                rlist.retain(|&id| id != SOCKETFD);
                xlist.retain(|&id| id != SOCKETFD);
                sockets.close(SOCKETFD);
            }
        }
    }
}
