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
//! Where the Python would crash or spin when a client misbehaves, this port keeps the
//! Python's shape, says so in a `// Python:` comment, and closes only that connection. It
//! listens on 127.0.0.1 (the Python on every interface). It runs on Unix and on Windows,
//! where `Poll` is `WSAPoll`.

use ioselectors::select::{Poll, POLLERR, POLLIN, POLLOUT};
use ioselectors::{AsSource, Fileno, RawSource};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

/// The Python's `PORT`.
const DEFAULT_PORT: u16 = 8000;

/// The answer to every message, byte for byte.
const REPLY: &[u8] = b"i have receive";

/// Python: `sock.fileno()`, the number `poll` reports a socket by (a socket handle on
/// Windows).
fn fileno(sock: &impl AsSource) -> RawSource {
    Fileno::fileno(&sock)
}

/// Python: `po.unregister(fn); dic_fd[fn].close(); del dic_fd[fn]`. Unregister first, while
/// the number still names this socket; removing the socket from the table closes it.
fn close(po: &mut Poll, dic_fd: &mut HashMap<RawSource, TcpStream>, fd: RawSource) {
    let _ = po.unregister(fd);
    dic_fd.remove(&fd);
}

fn main() -> io::Result<()> {
    let port = port_from_args().unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2);
    });

    // Python: socket(AF_INET, SOCK_STREAM); setsockopt(SO_REUSEADDR); bind; listen(10).
    // Rust's `bind` also listens, and sets SO_REUSEADDR on Unix as the Python does.
    let socketfd = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    // Python: the listening socket stays blocking: accept() after POLLIN usually returns at
    // once, but if the client gave up in between, some systems make it wait for the next
    // client while every other connection waits too; a robust server would make it
    // non-blocking and ignore WouldBlock, as this port does.
    socketfd.set_nonblocking(true)?;
    println!("listening on {}", socketfd.local_addr()?);
    io::stdout().flush()?;

    // Python: po = select.poll(); po.register(socketfd, POLLIN | POLLERR)
    let mut po = Poll::new();
    po.register(&socketfd, POLLIN | POLLERR);
    // Python: dic_fd = {socketfd.fileno(): socketfd}. Here the listening socket is kept
    // apart, and the table holds the connections.
    let listening_fd = fileno(&socketfd);
    let mut dic_fd: HashMap<RawSource, TcpStream> = HashMap::new();

    loop {
        // Python: events = po.poll() (no timeout: wait as long as it takes)
        for (fd, event) in po.poll(None)? {
            if fd == listening_fd {
                // Python: connfd, addr = dic_fd[fn].accept()
                //         po.register(connfd, POLLIN | POLLERR); dic_fd[connfd.fileno()] = connfd
                match socketfd.accept() {
                    Ok((connfd, addr)) => {
                        // Python: the connections stay blocking. poll says when they are
                        // ready; non-blocking makes sure a wrong guess costs a WouldBlock,
                        // not a stalled server.
                        if let Err(err) = connfd.set_nonblocking(true) {
                            eprintln!("cannot serve {addr}: {err}");
                            continue;
                        }
                        po.register(&connfd, POLLIN | POLLERR);
                        dic_fd.insert(fileno(&connfd), connfd);
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Err(err) => eprintln!("accept failed: {err}"),
                }
            } else if event.intersects(POLLIN) {
                let Some(conn) = dic_fd.get_mut(&fd) else {
                    continue;
                };
                let mut data = [0u8; 1024];
                // Python: data = dic_fd[fn].recv(1024) raises ConnectionResetError when a
                // client vanished with a message unread, and the whole server dies; a
                // robust server would close only that connection, as this port does.
                match conn.read(&mut data) {
                    Ok(0) => {
                        // Python: not data: the client closed its end.
                        close(&mut po, &mut dic_fd, fd);
                        println!("has delete fd {fd}");
                    }
                    Ok(n) => {
                        let peer = conn
                            .peer_addr()
                            .map_or_else(|_| "?".to_string(), |addr| addr.to_string());
                        // Python: print(peername, ':', data.decode()) raises
                        // UnicodeDecodeError (ending the server) for bytes that are not
                        // UTF-8, such as a character split between two reads; a robust
                        // server would decode with errors='replace', as this port does.
                        println!("{peer} : {}", String::from_utf8_lossy(&data[..n]));
                        // Python: po.modify(fn, POLLIN | POLLERR | POLLOUT): answer once
                        // the connection is writable.
                        po.modify(fd, POLLIN | POLLERR | POLLOUT)?;
                    }
                    Err(err)
                        if matches!(
                            err.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    Err(err) => {
                        eprintln!("fd {fd}: recv failed ({err}): closing it");
                        close(&mut po, &mut dic_fd, fd);
                    }
                }
            } else if event.intersects(POLLOUT) {
                let Some(conn) = dic_fd.get_mut(&fd) else {
                    continue;
                };
                // Python: dic_fd[fn].send(b'i have receive') ignores how many bytes send
                // took; a robust server would keep the rest and send it at the next POLLOUT
                // (this port reports a short send). It also raises BrokenPipeError when the
                // client has gone, ending the server; a robust server would close only that
                // connection, as this port does.
                match conn.write(REPLY) {
                    Ok(sent) => {
                        if sent < REPLY.len() {
                            eprintln!("fd {fd}: sent only {sent} of {} bytes", REPLY.len());
                        }
                        // Python: po.modify(fn, POLLIN | POLLERR)
                        po.modify(fd, POLLIN | POLLERR)?;
                    }
                    // Still registered for POLLOUT: poll says when to try again.
                    Err(err)
                        if matches!(
                            err.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    Err(err) => {
                        eprintln!("fd {fd}: send failed ({err}): closing it");
                        close(&mut po, &mut dic_fd, fd);
                    }
                }
            } else if event.intersects(POLLERR) {
                // Python: po.unregister(fn); del dic_fd[fn] (dropping the socket closes it).
                if let Some(Ok(Some(err))) = dic_fd.get(&fd).map(TcpStream::take_error) {
                    eprintln!("fd {fd}: {err}: closing it");
                }
                close(&mut po, &mut dic_fd, fd);
            } else {
                // Python: no branch takes POLLHUP or POLLNVAL alone, so the event is dropped
                // and poll reports it again at once, for ever: a busy loop. A robust server
                // would close the connection, as this port does.
                eprintln!("fd {fd}: hung up ({event:?}): closing it");
                close(&mut po, &mut dic_fd, fd);
            }
        }
    }
}

/// `--port N` or `--port=N` (0 picks a free port); anything else is refused with exit code 2.
fn port_from_args() -> Result<u16, String> {
    const USAGE: &str = "usage: poll_server [--port PORT]   (default 8000; 0 picks a free port)";
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
