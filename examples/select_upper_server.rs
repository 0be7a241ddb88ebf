//! Python's shortest `select.select` server, ported line for line: the one from a Chinese
//! lesson on I/O multiplexing (the lesson's first server, before it moves on to `selectors`)
//! that watches a single list, `read_l`, holding the listening socket and every connection,
//! and answers each message right away in upper case.
//!
//! What it demonstrates: the bare `select` loop. Only the read list is used (the write and
//! exceptional lists are empty); when the listener is readable a client is waiting to be
//! accepted, when a connection is readable a message has arrived (answered at once with
//! `data.upper()`: ASCII letters upper-cased, every other byte unchanged, so `hello` gets
//! `HELLO`) or the client has left (the connection is closed and taken off the list). The
//! loop prints the ready sockets and the watched ones every round.
//!
//! Python's lists hold socket objects. A Rust value has one owner, so here the lists hold
//! small ids (`Id`) and `Sockets` owns what they name; `select` lends the listed sockets to
//! `ioselectors::select::select_into` and turns the positions it reports back into ids (both
//! in `examples/select_lists/`, shared by the `select.select` ports).
//! select(2) only watches descriptors below `FD_SETSIZE` (1024 on most systems): a server
//! for more clients than that uses a selector (`ioselectors::DefaultSelector`) instead.
//!
//! ```text
//! cargo run --example select_upper_server -- --port 8081
//! ```
//!
//! Then type lines into `nc 127.0.0.1 8081` (from several terminals at once): each comes back
//! upper-cased. The default port is the Python server's, 8081; `--port 0` picks a free one.
//! The first line printed is `listening on ADDRESS`.

mod select_lists;
use select_lists::{port_from_args, select, Id, Sockets, LISTENER};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener};

/// The id of the listening socket (Python's `s`).
const S: Id = LISTENER;

fn main() -> io::Result<()> {
    let port = port_from_args("select_upper_server", 8081);

    let s = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    s.set_nonblocking(true)?; // the listener is non-blocking
    println!("listening on {}", s.local_addr()?);
    io::stdout().flush()?;

    let mut sockets = Sockets::new(s, "s");
    let mut read_l: Vec<Id> = vec![S];

    loop {
        // Watch the read list only.
        let (r_l, _w_l, _x_l) = select(&sockets, &read_l, &[], &[], None)?;
        println!(
            "{:?} {:?}",
            sockets.describe(&r_l),
            sockets.describe(&read_l)
        );

        for ready_obj in r_l {
            if ready_obj == S {
                // Python: on this non-blocking listener, `accept` raises BlockingIOError when
                // the client has already given up (and other errors too), ending the server; a
                // robust server logs it and goes on, as here.
                //
                // The connection is made blocking, as it is in Python (Windows would otherwise
                // hand it the listener's non-blocking mode).
                match sockets.listener().expect("never closed").accept().and_then(
                    |(conn, _addr)| {
                        conn.set_nonblocking(false)?;
                        Ok(conn)
                    },
                ) {
                    Ok(conn) => {
                        let id = sockets.add(conn);
                        read_l.push(id);
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Err(err) => eprintln!("accept failed: {err}"),
                }
            } else {
                let conn = sockets.conns.get_mut(&ready_obj).expect("listed, so open");
                let mut data = [0u8; 1024];
                // Python's `try` covers `recv` and `send` but catches ConnectionResetError only:
                // anything else (BrokenPipeError from `send` to a client that vanished, for
                // one) ends the server. A robust server closes just the failing connection on
                // any error, as here.
                let answered = match conn.read(&mut data) {
                    // The client closed the connection.
                    Ok(0) => Err(None),
                    // Python: `send(data.upper())` may send only part of the reply and ignores
                    // how much went; a robust server keeps the rest and sends it when select
                    // reports the socket writable (a write list). Here: `write_all` (Python's
                    // `sendall`) on this blocking socket.
                    Ok(n) => conn
                        .write_all(&data[..n].to_ascii_uppercase())
                        .map_err(Some),
                    Err(err) => Err(Some(err)),
                };
                if let Err(err) = answered {
                    if let Some(err) = err {
                        eprintln!("closing connection {ready_obj}: {err}");
                    }
                    // Close the connection and take it off the list.
                    sockets.close(ready_obj);
                    read_l.retain(|&id| id != ready_obj);
                }
            }
        }
    }
}
