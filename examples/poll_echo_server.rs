//! A port of the `select.poll()` echo server of a Python tutorial on the `select` module (a
//! Python 2 program, with a client that sends each line typed and `exit` to leave).
//!
//! One thread serves every client with `select::Poll`. The listening socket is registered for
//! `POLLIN`, each connection for `POLLIN | POLLPRI | POLLHUP | POLLERR`. A message comes back
//! unchanged, byte for byte; a connection whose message is exactly `exit` is unregistered and
//! closed (the client sees end of file). When 20 seconds pass without any event the server
//! prints `there is no events, exit.` and stops, as the Python does. It prints every event
//! number it gets, as the Python does, so you can watch what `poll` reports.
//!
//! What it shows: `Poll::poll` with a timeout (an empty result means it ran out), masks with
//! more than one bit, and why a level-triggered loop must handle every event it is given.
//!
//! ```text
//! cargo run --example poll_echo_server -- --port 9002
//! ```
//!
//! Then talk to it with `nc 127.0.0.1 9002`: every line comes back. A message is whatever
//! one read returns, so `exit` must arrive on its own, without a newline: with `nc`, type
//! `exit` and press Ctrl-D instead of Enter. `--port 0` picks a free port; the first line
//! printed is `listening on ADDRESS`.
//!
//! Where the Python would crash or spin when a client misbehaves, this port keeps the
//! Python's shape, says so in a `// Python:` comment, and closes only that connection. It
//! runs on Unix and on Windows, where `Poll` is `WSAPoll` and `POLLPRI` is never reported.

use ioselectors::select::{Poll, POLLERR, POLLHUP, POLLIN, POLLPRI};
use ioselectors::{AsSource, Fileno, RawSource};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

/// The Python's port.
const DEFAULT_PORT: u16 = 9002;

/// Python: `poller.poll(20000)`: after this long without an event, the server stops.
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// Python: `sock.fileno()`, the number `poll` reports a socket by (a socket handle on
/// Windows).
fn fileno(sock: &impl AsSource) -> RawSource {
    Fileno::fileno(&sock)
}

/// Python: `poller.unregister(cli); del _map[fd]; cli.close()`. Unregister first, while the
/// number still names this socket; removing the socket from the map closes it.
fn close(poller: &mut Poll, map: &mut HashMap<RawSource, TcpStream>, fd: RawSource) {
    let _ = poller.unregister(fd);
    map.remove(&fd);
}

fn main() -> io::Result<()> {
    let port = port_from_args().unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2);
    });
    let read_only_mask = POLLIN | POLLPRI | POLLHUP | POLLERR;

    // Python: server_soc = socket(AF_INET, SOCK_STREAM); bind(('127.0.0.1', 9002));
    // listen(2); setblocking(False). Rust's `bind` also listens (with a longer queue).
    let server_soc = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    server_soc.set_nonblocking(true)?;
    println!("listening on {}", server_soc.local_addr()?);
    io::stdout().flush()?;

    // Python: poller = select.poll(); poller.register(server_soc, POLLIN); _map = {}
    let mut poller = Poll::new();
    poller.register(&server_soc, POLLIN);
    let server_fd = fileno(&server_soc);
    let mut map: HashMap<RawSource, TcpStream> = HashMap::new();

    loop {
        let events = poller.poll(Some(IDLE_TIMEOUT))?;
        if events.is_empty() {
            println!("there is no events, exit.");
            break;
        }
        for (fd, event) in events {
            if fd == server_fd {
                println!("server event: {} ", event.bits());
                let (cli, addr) = match server_soc.accept() {
                    Ok(accepted) => accepted,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(err) => {
                        eprintln!("accept failed: {err}");
                        continue;
                    }
                };
                println!("get connect from {addr}.");
                if let Err(err) = cli.set_nonblocking(true) {
                    eprintln!("cannot serve {addr}: {err}");
                    continue;
                }
                poller.register(&cli, read_only_mask);
                map.insert(fileno(&cli), cli);
            } else {
                println!("cli event: {} ", event.bits());
                let Some(cli) = map.get_mut(&fd) else {
                    continue;
                };
                // Python: `if event == select.POLLIN`: readable and nothing else. (On Windows
                // POLLIN is POLLRDNORM | POLLRDBAND and WSAPoll reports POLLRDNORM alone, so
                // "no bit outside POLLIN" is the portable way to say it.)
                if POLLIN.contains(event) {
                    let peer = cli
                        .peer_addr()
                        .map_or_else(|_| "?".to_string(), |addr| addr.to_string());
                    let mut buf = [0u8; 1024];
                    let data = match cli.read(&mut buf) {
                        // Python: an empty recv (the client closed) is printed and echoed
                        // like a message, and poll reports the same POLLIN again at once,
                        // for ever: the server spins. A robust server would close the
                        // connection on an empty read, as this port does.
                        Ok(0) => {
                            println!("get data from {peer}: (end of file)");
                            close(&mut poller, &mut map, fd);
                            continue;
                        }
                        Ok(n) => &buf[..n],
                        Err(err)
                            if matches!(
                                err.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                            ) =>
                        {
                            continue
                        }
                        // Python: recv raises (ECONNRESET when a client vanished with an
                        // answer unread) and the whole server dies; a robust server would
                        // close only that connection, as this port does.
                        Err(err) => {
                            eprintln!("fd {fd}: recv failed ({err}): closing it");
                            close(&mut poller, &mut map, fd);
                            continue;
                        }
                    };
                    println!("get data from {peer}: {}", String::from_utf8_lossy(data));
                    // Python: a message is whatever one recv returned, so `exit` is seen
                    // only when it arrives alone; a robust server would frame its messages
                    // (by lines, say) and look for the command in the stream.
                    if data == b"exit" {
                        close(&mut poller, &mut map, fd);
                        continue;
                    }
                    // Python: cli.send(data) ignores how many bytes send took; a robust
                    // server would keep the rest and send it when POLLOUT says it can (this
                    // port reports a short send). It also raises when the client has gone;
                    // this port closes only that connection.
                    match cli.write(data) {
                        Ok(sent) if sent < data.len() => {
                            eprintln!("fd {fd}: sent only {sent} of {} bytes", data.len());
                        }
                        Ok(_) => {}
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                            eprintln!("fd {fd}: send would block: {} bytes lost", data.len());
                        }
                        Err(err) => {
                            eprintln!("fd {fd}: send failed ({err}): closing it");
                            close(&mut poller, &mut map, fd);
                        }
                    }
                } else {
                    // Python: any other event (POLLHUP or POLLERR once the client has gone,
                    // POLLIN | POLLPRI for urgent data) is printed and dropped, and poll
                    // reports it again at once, for ever: a busy loop. A robust server would
                    // close the connection (or read the urgent byte), as this port closes it.
                    eprintln!("fd {fd}: event {event:?}: closing it");
                    close(&mut poller, &mut map, fd);
                }
            }
        }
    }
    // Python: server_soc.close(). Dropping the listener and the map closes every socket.
    Ok(())
}

/// `--port N` or `--port=N` (0 picks a free port); anything else is refused with exit code 2.
fn port_from_args() -> Result<u16, String> {
    const USAGE: &str =
        "usage: poll_echo_server [--port PORT]   (default 9002; 0 picks a free port)";
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
