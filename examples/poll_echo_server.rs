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
//! As in Python, one socket type (`socket2::Socket`) serves the listener and the
//! connections. Where the Python would crash or spin when a client misbehaves, this port says
//! so in a comment and closes only that connection. It runs on Unix and on Windows, where
//! `Poll` is `WSAPoll` and `POLLPRI` is never reported.

mod args;
use ioselectors::select::{Poll, POLLERR, POLLHUP, POLLIN, POLLPRI};
use ioselectors::Fileno;
use socket2::{Domain, Socket, Type};
use std::{collections::HashMap, io::Read, io::Write, net::SocketAddr, time::Duration};

fn main() -> std::io::Result<()> {
    let port = args::port_from_args("poll_echo_server", 9002);
    let read_only_mask = POLLIN | POLLPRI | POLLHUP | POLLERR;

    let server_soc = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    server_soc.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    server_soc.listen(2)?;
    server_soc.set_nonblocking(true)?;
    args::announce(&server_soc)?;

    let mut poller = Poll::new();
    poller.register(&server_soc, POLLIN);
    let mut map = HashMap::new();

    loop {
        let events = poller.poll(Some(Duration::from_secs(20)))?;
        if events.is_empty() {
            println!("there is no events, exit.");
            return Ok(());
        }
        for (fd, event) in events {
            if fd == (&server_soc).fileno() {
                println!("server event: {} ", event.bits());
                // A client that has given up already is no reason to stop (Python stops).
                if let Ok((cli, addr)) = server_soc.accept() {
                    println!("get connect from {:?}.", addr.as_socket());
                    cli.set_nonblocking(true)?;
                    poller.register(&cli, read_only_mask);
                    map.insert((&cli).fileno(), cli);
                }
            } else {
                println!("cli event: {} ", event.bits());
                let cli = &map[&fd];
                let mut data = [0; 1024];
                // Python reads only on POLLIN alone, and spins on anything else: a hang-up,
                // an error, the end of the stream or a reset (Python stops) close it here.
                let n = if POLLIN.contains(event) {
                    (&*cli).read(&mut data)
                } else {
                    Ok(0)
                };
                let peer = cli.peer_addr().ok().and_then(|addr| addr.as_socket());
                match n {
                    Ok(n) if n > 0 && &data[..n] != b"exit" => {
                        println!(
                            "get data from {peer:?}: {}",
                            String::from_utf8_lossy(&data[..n])
                        );
                        // What the socket does not take is lost, as in Python.
                        let _ = (&*cli).write(&data[..n]);
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                    _ => {
                        poller.unregister(fd)?;
                        map.remove(&fd);
                    }
                }
            }
        }
    }
}
