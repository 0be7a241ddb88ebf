//! Python's shortest `select.select` server, ported statement for statement: the one from a
//! Chinese lesson on I/O multiplexing (the lesson's first server, before it moves on to
//! `selectors`) that watches a single list, `read_l`, holding the listening socket and every
//! connection, and answers each message right away in upper case.
//!
//! What it demonstrates: the bare `select` loop. Only the read list is used; when the
//! listener is readable a client is waiting to be accepted, when a connection is readable a
//! message has arrived (answered at once with `data.upper()`: ASCII letters upper-cased, so
//! `hello` gets `HELLO`) or the client has left (it is taken off the list, and closed once
//! nothing holds it). The loop prints the ready sockets and the watched ones every round.
//!
//! As in Python, one socket type serves the listener and the connections
//! (`socket2::Socket`, in an `Rc` so that `select` can hand back the list's own sockets),
//! and the loop changes `read_l` while it walks what `select` returned.
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

mod args;
use ioselectors::select::{select, SourceList};
use socket2::{Domain, Socket, Type};
use std::{io::Read, io::Write, net::SocketAddr, rc::Rc};

fn main() -> std::io::Result<()> {
    let port = args::port_from_args("select_upper_server", 8081);
    let s = Rc::new(Socket::new(Domain::IPV4, Type::STREAM, None)?);
    s.set_reuse_address(true)?; // allow the port to be reused
    s.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    s.listen(5)?;
    s.set_nonblocking(true)?; // the listener is non-blocking
    args::announce(&s)?;
    let mut read_l = vec![s.clone()];
    loop {
        let (r_l, _w_l, _x_l) = select(&read_l, &[], &[], None)?; // watch the read list
        println!("{r_l:?} {read_l:?}");
        for ready_obj in r_l {
            if Rc::ptr_eq(&ready_obj, &s) {
                // A client that has given up already is no reason to stop (Python stops).
                if let Ok((conn, _addr)) = ready_obj.accept() {
                    conn.set_nonblocking(false)?; // as in Python (BSD, Windows inherit it)
                    read_l.push(Rc::new(conn));
                }
            } else {
                let mut data = [0; 1024];
                match (&*ready_obj).read(&mut data) {
                    // The client left, or reset the connection (Python's
                    // ConnectionResetError): forget it, which closes it.
                    Ok(0) | Err(_) => drop(read_l.remove_source(&ready_obj)),
                    // A reply that cannot go out means the client is gone: the next read
                    // says so (Python's `send` raises instead, and stops the server).
                    Ok(n) => drop((&*ready_obj).write_all(&data[..n].to_ascii_uppercase())),
                }
            }
        }
    }
}
