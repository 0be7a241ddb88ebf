//! Python's classic `select.select` server, ported statement for statement: the one from a tutorial on
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
//! As in Python, one socket type serves the listener and the connections
//! (`socket2::Socket`, in an `Rc` so that `select` can hand back the lists' own sockets),
//! and the loop changes the lists while it walks what `select` returned. A connection is
//! closed once no list holds it.
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

mod args;
use ioselectors::select::{select, SourceList};
use socket2::{Domain, Socket, Type};
use std::{io::Read, io::Write, net::SocketAddr, rc::Rc};

fn main() -> std::io::Result<()> {
    let port = args::port_from_args("select_server", 8000);
    let (mut rlist, mut wlist, mut xlist) = (Vec::new(), Vec::new(), Vec::new());

    // Python binds every interface ('0.0.0.0'); the example stays on loopback.
    let socketfd = Rc::new(Socket::new(Domain::IPV4, Type::STREAM, None)?);
    socketfd.set_reuse_address(true)?;
    socketfd.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    socketfd.listen(10)?;
    args::announce(&socketfd)?;

    // Watch the listener for new clients (rlist) and for an exceptional condition (xlist).
    rlist.push(socketfd.clone());
    xlist.push(socketfd.clone());

    loop {
        let (rl, wl, xl) = select(&rlist, &wlist, &xlist, None)?;
        for r in rl {
            if Rc::ptr_eq(&r, &socketfd) {
                // A client that has given up already is no reason to stop (Python stops).
                if let Ok((connfd, _addr)) = r.accept() {
                    rlist.push(Rc::new(connfd));
                }
            } else {
                let mut data = [0; 1024];
                match (&*r).read(&mut data) {
                    // The client left, or reset the connection (which Python does not
                    // expect). A reply still due goes out, or fails, below.
                    Ok(0) | Err(_) => drop(rlist.remove_source(&r)),
                    Ok(n) => {
                        let text = String::from_utf8_lossy(&data[..n]); // Python: decode()
                        let peer = r.peer_addr().ok().and_then(|addr| addr.as_socket());
                        println!("{peer:?} : {text}");
                        // Answer once select reports the connection writable.
                        wlist.push(r);
                    }
                }
            }
        }
        for w in wl {
            // A client gone since makes the reply fail: forget it (Python stops).
            if (&*w).write_all(b"I have receive").is_err() {
                rlist.remove_source(&w);
            }
            // Answered: one entry less on wlist (one per message received).
            wlist.remove_source(&w);
        }
        for x in xl {
            if Rc::ptr_eq(&x, &socketfd) {
                // Python closes it but leaves it listed, and the next select fails.
                rlist.remove_source(&x);
                xlist.remove_source(&x);
            }
        }
    }
}
