//! A port of the `select.poll()` server of a Python tutorial on I/O multiplexing (the one
//! written after its `select.select()` version, for the same line-by-line client).
//!
//! One thread serves every client with `select::Poll`. The listening socket and each
//! connection are registered for `POLLIN | POLLERR`. When a message arrives the server prints
//! it and `modify`s the connection to watch `POLLOUT` as well; once the connection is
//! writable it answers with the 14 bytes `i have receive` (whatever the message was, and
//! without a newline) and `modify`s it back to `POLLIN | POLLERR`. A connection that reaches
//! end of file or reports `POLLERR` is unregistered and closed.
//!
//! What it shows: `Poll::register`, `modify` and `unregister`, and the table from descriptor
//! numbers back to sockets that every `poll` loop keeps, since `poll` answers with numbers.
//!
//! ```text
//! cargo run --example poll_server -- --port 8000
//! ```
//!
//! Then talk to it with `nc 127.0.0.1 8000`: every line you type is answered with
//! `i have receive`. The tutorial's Python client (it sends each line typed and prints the
//! answer) works unchanged. `--port 0` picks a free port; the first line printed is
//! `listening on ADDRESS`.
//!
//! As in Python, one socket type (`socket2::Socket`) serves the listener and the
//! connections, so one table, `dic_fd`, holds them all. Where the Python would crash or spin
//! when a client misbehaves, this port says so in a comment and closes only that connection.
//! It listens on 127.0.0.1 (the Python on every interface). It runs on Unix and on Windows,
//! where `Poll` is `WSAPoll`.

mod args;
use ioselectors::select::{Poll, POLLERR, POLLIN, POLLOUT};
use ioselectors::Fileno;
use socket2::{Domain, Socket, Type};
use std::{collections::HashMap, io::Read, io::Write, net::SocketAddr};

fn main() -> std::io::Result<()> {
    let port = args::port_from_args("poll_server", 8000);
    let mut dic_fd = HashMap::new();

    // Create the listening socket (Python's binds every interface, '0.0.0.0').
    let socketfd = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socketfd.set_reuse_address(true)?;
    socketfd.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    socketfd.listen(10)?;
    socketfd.set_nonblocking(true)?; // a client gone before `accept` cannot block it
    args::announce(&socketfd)?;

    // A poll object, watching the listener; and the table from numbers back to sockets.
    let mut po = Poll::new();
    po.register(&socketfd, POLLIN | POLLERR);
    let listener = (&socketfd).fileno();
    dic_fd.insert(listener, socketfd);

    loop {
        for (fd, event) in po.poll(None)? {
            if fd == listener {
                if let Ok((connfd, _addr)) = dic_fd[&fd].accept() {
                    connfd.set_nonblocking(false)?; // as in Python (BSD, Windows inherit it)
                    po.register(&connfd, POLLIN | POLLERR);
                    dic_fd.insert((&connfd).fileno(), connfd);
                }
            } else if event.intersects(POLLIN) {
                let mut data = [0; 1024];
                match (&dic_fd[&fd]).read(&mut data) {
                    // The client left, or reset the connection (which Python does not expect).
                    Ok(0) | Err(_) => {
                        po.unregister(fd)?;
                        println!("has delete {:?}", dic_fd.remove(&fd));
                    }
                    Ok(n) => {
                        let peer = dic_fd[&fd].peer_addr().ok().and_then(|a| a.as_socket());
                        println!("{peer:?} : {}", String::from_utf8_lossy(&data[..n]));
                        // Answer once the connection is writable.
                        po.modify(fd, POLLIN | POLLERR | POLLOUT)?;
                    }
                }
            } else if event.intersects(POLLOUT) {
                // A reply that cannot go out means the client is gone: the next read says so.
                let _ = (&dic_fd[&fd]).write(b"i have receive");
                po.modify(fd, POLLIN | POLLERR)?;
            } else {
                // POLLERR, or a hang-up, which Python does not handle (it would spin).
                po.unregister(fd)?;
                dic_fd.remove(&fd);
            }
        }
    }
}
