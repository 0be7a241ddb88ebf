//! An echo server whose worker threads share one `select.epoll()`, each connection
//! registered with `EPOLLONESHOT`: the pattern Python tutorials on select, poll and epoll
//! point at when they list `EPOLLONESHOT` ("after one event is pulled out, the fd is
//! internally disabled"). Those tutorials show no such program, so this is the program they
//! describe, not a line-by-line port; its default port, 8004, sits next to the 8000 and
//! 8002 of their other servers.
//!
//! How it works. Every worker blocks in `poll` on the same epoll (`Arc<Epoll>`: its methods
//! take `&self`). The listening socket and every connection are registered with
//! `EPOLLIN | EPOLLONESHOT`, so an event wakes one worker and then the registration is
//! disabled: no other worker can be handed the same connection while this one serves it.
//! The worker takes the connection out of the shared table, does one read of up to 1024
//! bytes and sends it back, puts the connection back, and re-arms it with `modify`, its
//! last step: from then on the next event may go to any worker. (Without `EPOLLONESHOT`,
//! two workers could be woken for one socket and read its bytes in the wrong order.)
//! Re-arming is level-triggered, so data left unread is reported again at once. When a
//! reply cannot be sent in full, the connection is re-armed for `EPOLLOUT` instead, and
//! reading waits until the reply is out.
//!
//! Every message comes back unchanged. A client that closes or fails is unregistered and
//! closed; the others go on.
//!
//! ```text
//! cargo run --example epoll_oneshot_pool -- --port 8004 --workers 4
//! ```
//!
//! Then talk to it with `nc 127.0.0.1 8004` (from several terminals at once): every line
//! comes back. `--workers N` (default 4) sets the number of threads; `--port 0` picks a
//! free port; the first line printed is `listening on ADDRESS`. epoll is Linux's: elsewhere
//! this example only says so.

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use ioselectors::select::{Epoll, EpollEvents, EpollFlags, EPOLLIN, EPOLLONESHOT, EPOLLOUT};
    use std::collections::HashMap;
    use std::io::{self, Read, Write};
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::os::unix::io::{AsRawFd, RawFd};
    use std::sync::{Arc, Mutex};

    /// Next to the ports of the tutorials' other servers (8000, 8002).
    const DEFAULT_PORT: u16 = 8004;
    const DEFAULT_WORKERS: usize = 4;

    /// One connection: the socket, and the part of the last message not sent back yet.
    struct Conn {
        stream: TcpStream,
        unsent: Vec<u8>,
    }

    /// What the workers share.
    struct Server {
        ep: Epoll,
        listener: TcpListener,
        /// The connections that no worker is serving right now, by descriptor.
        conns: Mutex<HashMap<RawFd, Conn>>,
    }

    pub fn main() -> io::Result<()> {
        let (port, workers) = args().unwrap_or_else(|message| {
            eprintln!("{message}");
            std::process::exit(2);
        });

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        // Non-blocking: a worker accepts until WouldBlock, and never waits in accept.
        listener.set_nonblocking(true)?;
        println!("listening on {}", listener.local_addr()?);
        io::stdout().flush()?;

        let server = Arc::new(Server {
            ep: Epoll::new()?,
            listener,
            conns: Mutex::new(HashMap::new()),
        });
        // One-shot for the listening socket too: one worker accepts, the others sleep on.
        server
            .ep
            .register(&server.listener, EPOLLIN | EPOLLONESHOT)?;

        let threads = (0..workers)
            .map(|id| {
                let server = Arc::clone(&server);
                std::thread::Builder::new()
                    .name(format!("worker {id}"))
                    .spawn(move || worker(id, &server))
            })
            .collect::<io::Result<Vec<_>>>()?;
        // The workers serve for ever (stop the server with Ctrl-C).
        for thread in threads {
            let _ = thread.join();
        }
        Ok(())
    }

    /// A worker: waits for one event at a time (leaving the others to idle workers) and
    /// serves it. A failing wait is not about one client: it ends the server.
    fn worker(id: usize, server: &Server) {
        let listener_fd = server.listener.as_raw_fd();
        let mut events = EpollEvents::with_capacity(1);
        loop {
            if let Err(err) = server.ep.poll_into(None, &mut events) {
                eprintln!("worker {id}: epoll wait failed: {err}");
                std::process::exit(1);
            }
            for event in events.iter() {
                if event.fd() == listener_fd {
                    accept_all(id, server);
                } else {
                    serve(server, event.fd(), event.events());
                }
            }
        }
    }

    /// Accepts every waiting connection, then re-arms the listening socket.
    fn accept_all(id: usize, server: &Server) {
        loop {
            let (stream, addr) = match server.listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue
                }
                Err(err) => {
                    eprintln!("worker {id}: accept failed: {err}");
                    break;
                }
            };
            if let Err(err) = stream.set_nonblocking(true) {
                eprintln!("worker {id}: cannot serve {addr}: {err}");
                continue;
            }
            let fd = stream.as_raw_fd();
            // Register while holding the table: once registered, another worker may be woken
            // for the connection, and it must find it there (it waits for the lock).
            let mut conns = server.conns.lock().unwrap();
            match server.ep.register(&stream, EPOLLIN | EPOLLONESHOT) {
                Ok(()) => {
                    conns.insert(
                        fd,
                        Conn {
                            stream,
                            unsent: Vec::new(),
                        },
                    );
                    drop(conns);
                    println!("worker {id}: accepted {addr} as fd {fd}");
                }
                Err(err) => eprintln!("worker {id}: cannot serve {addr}: {err}"),
            }
        }
        // Level-triggered one-shot: a connection that arrived meanwhile is reported at once.
        if let Err(err) = server.ep.modify(&server.listener, EPOLLIN | EPOLLONESHOT) {
            eprintln!("worker {id}: cannot re-arm the listening socket: {err}");
            std::process::exit(1);
        }
    }

    /// Serves one event of one connection, then re-arms it (or closes it).
    fn serve(server: &Server, fd: RawFd, event: EpollFlags) {
        // EPOLLONESHOT: the registration is disabled until re-armed, so this worker is the
        // only one serving the connection: it takes it out of the table meanwhile.
        let Some(mut conn) = server.conns.lock().unwrap().remove(&fd) else {
            eprintln!("fd {fd}: event {event:?} for no connection");
            return;
        };
        match step(&mut conn) {
            Ok(true) => {
                let mask = if conn.unsent.is_empty() {
                    EPOLLIN | EPOLLONESHOT
                } else {
                    EPOLLOUT | EPOLLONESHOT
                };
                server.conns.lock().unwrap().insert(fd, conn);
                // Re-arm last: from here on another worker may serve this connection.
                if let Err(err) = server.ep.modify(fd, mask) {
                    eprintln!("fd {fd}: cannot re-arm ({err}): closing it");
                    let conn = server.conns.lock().unwrap().remove(&fd);
                    let _ = server.ep.unregister(fd);
                    drop(conn);
                }
            }
            Ok(false) => {
                println!("closing fd {fd}");
                let _ = server.ep.unregister(fd);
                drop(conn);
            }
            Err(err) => {
                eprintln!("fd {fd}: {err}: closing it");
                let _ = server.ep.unregister(fd);
                drop(conn);
            }
        }
    }

    /// One step for a connection: send what is left of the last reply, or, if nothing is,
    /// read one message and send it back. Returns `Ok(false)` once the client has closed its
    /// end.
    fn step(conn: &mut Conn) -> io::Result<bool> {
        if conn.unsent.is_empty() {
            let mut data = [0u8; 1024];
            match conn.stream.read(&mut data) {
                Ok(0) => return Ok(false),
                Ok(n) => conn.unsent.extend_from_slice(&data[..n]),
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    return Ok(true)
                }
                Err(err) => return Err(err),
            }
        }
        while !conn.unsent.is_empty() {
            match conn.stream.write(&conn.unsent) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(sent) => {
                    conn.unsent.drain(..sent);
                }
                // The rest goes when EPOLLOUT says so.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(true)
    }

    /// `--port N` (0 picks a free port) and `--workers N` (at least 1), also as `--port=N`
    /// and `--workers=N`; anything else is refused with exit code 2.
    fn args() -> Result<(u16, usize), String> {
        const USAGE: &str = "usage: epoll_oneshot_pool [--port PORT] [--workers N]   \
                             (default port 8004, 0 picks a free one; default 4 workers)";
        let mut port = DEFAULT_PORT;
        let mut workers = DEFAULT_WORKERS;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let (name, inline_value) = match arg.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            match name.as_str() {
                "--help" | "-h" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                "--port" | "-p" | "--workers" | "-w" => {}
                _ => return Err(format!("unknown argument {name:?}\n{USAGE}")),
            }
            let value = match inline_value {
                Some(value) => value,
                None => args
                    .next()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))?,
            };
            if name == "--port" || name == "-p" {
                port = value
                    .parse()
                    .map_err(|_| format!("invalid port {value:?}\n{USAGE}"))?;
            } else {
                workers = value
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or_else(|| format!("invalid number of workers {value:?}\n{USAGE}"))?;
            }
        }
        Ok((port, workers))
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
