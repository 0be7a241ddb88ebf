//! An edge-triggered `select.epoll()` echo server: the server that Python tutorials on
//! select, poll and epoll describe when they explain epoll's two modes, written the way
//! their `poll` servers are written. Those tutorials show no epoll program of their own, so
//! this is the program they describe, not a line-by-line port; its default port, 8003, sits
//! next to the 8000 and 8002 of their other servers.
//!
//! What the tutorials teach, and what this server does about it:
//!
//! * **Level-triggered** (epoll's default, and how `poll` and `select` behave): as long as a
//!   socket has unread data, every wait reports it again. A handler may read a little and
//!   come back later.
//! * **Edge-triggered** (`EPOLLET`): epoll reports a socket once, when it *becomes* ready.
//!   Whatever the handler leaves unread is not reported again until more data arrives,
//!   which may be never. So with `EPOLLET` the sockets must be non-blocking, and on each
//!   event the server reads until the socket says `WouldBlock`, accepts until the
//!   listening socket says `WouldBlock`, and writes until it is done or told `WouldBlock`
//!   (then it adds `EPOLLOUT`, and the next edge says when to go on).
//!
//! Every byte received comes back unchanged, however large the message: each event's data is
//! read in 1024-byte pieces, all of them, until `WouldBlock`. A client that closes or fails
//! is unregistered and closed; the others go on.
//!
//! ```text
//! cargo run --example epoll_et_server -- --port 8003
//! ```
//!
//! Then talk to it with `nc 127.0.0.1 8003`: every line comes back. `--port 0` picks a free
//! port; the first line printed is `listening on ADDRESS`. epoll is Linux's: elsewhere this
//! example only says so.

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use ioselectors::select::{Epoll, EpollFlags, EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLOUT};
    use std::collections::HashMap;
    use std::io::{self, Read, Write};
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::os::unix::io::{AsRawFd, RawFd};

    /// Next to the ports of the tutorials' other servers (8000, 8002).
    const DEFAULT_PORT: u16 = 8003;

    /// One connection: the socket, and what has been received but not yet sent back.
    struct Conn {
        stream: TcpStream,
        unsent: Vec<u8>,
        /// Whether the registration includes `EPOLLOUT` (only while `unsent` is not empty).
        watching_out: bool,
    }

    impl Conn {
        /// Handles one event. Returns `Ok(false)` once the client has closed its end.
        fn handle(&mut self, event: EpollFlags) -> io::Result<bool> {
            let mut open = true;
            // EPOLLHUP and EPOLLERR come without being asked for: a read then returns end of
            // file or the error, so they are handled as readable.
            if event.intersects(EPOLLIN | EPOLLHUP | EPOLLERR) {
                // Edge-triggered: this event is the only notice of everything that arrived
                // since the last one. Read until WouldBlock, echoing as it comes.
                let mut data = [0u8; 1024];
                loop {
                    match self.stream.read(&mut data) {
                        Ok(0) => {
                            // The client closed (or shut down) its end. What it has not read
                            // yet is dropped with the connection.
                            open = false;
                            break;
                        }
                        Ok(n) => {
                            self.unsent.extend_from_slice(&data[..n]);
                            self.send_unsent()?;
                        }
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            if event.contains(EPOLLOUT) {
                self.send_unsent()?;
            }
            Ok(open)
        }

        /// Sends what it can of `unsent`: all of it, or up to WouldBlock. A client that sends
        /// without reading makes `unsent` grow; a production server would stop reading past
        /// a limit (and, edge-triggered, remember to read again once it has caught up).
        fn send_unsent(&mut self) -> io::Result<()> {
            while !self.unsent.is_empty() {
                match self.stream.write(&self.unsent) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(sent) => {
                        self.unsent.drain(..sent);
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(())
        }
    }

    /// Unregisters a connection, then closes it (by dropping it): unregister while the
    /// number still names this socket.
    fn close(ep: &Epoll, conns: &mut HashMap<RawFd, Conn>, fd: RawFd) {
        let _ = ep.unregister(fd);
        conns.remove(&fd);
    }

    pub fn main() -> io::Result<()> {
        let port = port_from_args().unwrap_or_else(|message| {
            eprintln!("{message}");
            std::process::exit(2);
        });

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        // Edge-triggered needs non-blocking sockets: "read until WouldBlock" must end in
        // WouldBlock, not in a wait that stalls every other client.
        listener.set_nonblocking(true)?;
        println!("listening on {}", listener.local_addr()?);
        io::stdout().flush()?;

        // Python: ep = select.epoll(); ep.register(listener.fileno(), EPOLLIN | EPOLLET)
        let ep = Epoll::new()?;
        ep.register(&listener, EPOLLIN | EPOLLET)?;
        let listener_fd = listener.as_raw_fd();
        let mut conns: HashMap<RawFd, Conn> = HashMap::new();

        loop {
            // Python: for fd, event in ep.poll():
            for (fd, event) in ep.poll(None, 64)? {
                if fd == listener_fd {
                    accept_all(&listener, &ep, &mut conns);
                    continue;
                }
                let Some(conn) = conns.get_mut(&fd) else {
                    continue;
                };
                match conn.handle(event) {
                    Ok(true) => {
                        // Watch EPOLLOUT only while something waits to be sent. `modify`
                        // also re-checks the socket: if it is writable already, the next
                        // wait reports it.
                        let want_out = !conn.unsent.is_empty();
                        if want_out != conn.watching_out {
                            let mask = if want_out {
                                EPOLLIN | EPOLLOUT | EPOLLET
                            } else {
                                EPOLLIN | EPOLLET
                            };
                            match ep.modify(fd, mask) {
                                Ok(()) => conn.watching_out = want_out,
                                Err(err) => {
                                    eprintln!("fd {fd}: {err}: closing it");
                                    close(&ep, &mut conns, fd);
                                }
                            }
                        }
                    }
                    Ok(false) => {
                        println!("closing fd {fd}");
                        close(&ep, &mut conns, fd);
                    }
                    Err(err) => {
                        eprintln!("fd {fd}: {err}: closing it");
                        close(&ep, &mut conns, fd);
                    }
                }
            }
        }
    }

    /// Edge-triggered: one event may stand for many connections waiting to be accepted, so
    /// accept until WouldBlock. A connection that sent data before it was registered is not
    /// missed: registering reports what is ready already.
    fn accept_all(listener: &TcpListener, ep: &Epoll, conns: &mut HashMap<RawFd, Conn>) {
        loop {
            let (stream, addr) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue
                }
                // Out of descriptors, say. The connections left waiting are reported again
                // only when another one arrives (edge-triggered).
                Err(err) => {
                    eprintln!("accept failed: {err}");
                    return;
                }
            };
            let registered = stream
                .set_nonblocking(true)
                .and_then(|()| ep.register(&stream, EPOLLIN | EPOLLET));
            match registered {
                Ok(()) => {
                    println!("accepted {addr}");
                    conns.insert(
                        stream.as_raw_fd(),
                        Conn {
                            stream,
                            unsent: Vec::new(),
                            watching_out: false,
                        },
                    );
                }
                Err(err) => eprintln!("cannot serve {addr}: {err}"),
            }
        }
    }

    /// `--port N` or `--port=N` (0 picks a free port); anything else is refused with exit
    /// code 2.
    fn port_from_args() -> Result<u16, String> {
        const USAGE: &str =
            "usage: epoll_et_server [--port PORT]   (default 8003; 0 picks a free port)";
        let mut port = DEFAULT_PORT;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let value = if arg == "--port" || arg == "-p" {
                args.next()
                    .ok_or_else(|| format!("--port needs a value\n{USAGE}"))?
            } else if let Some(value) = arg.strip_prefix("--port=") {
                value.to_string()
            } else if arg == "--help" || arg == "-h" {
                println!("{USAGE}");
                std::process::exit(0);
            } else {
                return Err(format!("unknown argument {arg:?}\n{USAGE}"));
            };
            port = value
                .parse()
                .map_err(|_| format!("invalid port {value:?}\n{USAGE}"))?;
        }
        Ok(port)
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn main() -> std::io::Result<()> {
    imp::main()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn main() {
    println!("this example needs Linux (epoll)");
}
