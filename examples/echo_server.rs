//! Seed 004's `selectors` echo server, line for line: the callback lives in each key's data,
//! and every message comes back upper-cased with `_SB` appended.
//!
//! ```text
//! cargo run --example echo_server -- --port 8088
//! ```
//!
//! Then talk to it with `nc 127.0.0.1 8088`, or with the Python client of seed 004.

use ioselectors::{DefaultSelector, Events, RawSource, EVENT_READ};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

/// `key.data`: what to call when the source is ready (Python: `accept` or `read`).
type Callback = fn(&mut Server, RawSource, Events);

struct Server {
    sel: DefaultSelector<Callback>,
    listener: TcpListener,
    /// The connections by fd: the selector borrows sources, the server owns them.
    conns: HashMap<RawSource, TcpStream>,
}

fn fileno(source: &impl ioselectors::AsSource) -> RawSource {
    ioselectors::Fileno::fileno(&source)
}

/// Python: `conn, addr = server_fileobj.accept(); sel.register(conn, EVENT_READ, read)`.
fn accept(server: &mut Server, _fd: RawSource, _mask: Events) {
    let (conn, addr) = match server.listener.accept() {
        Ok(accepted) => accepted,
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
        Err(err) => return eprintln!("accept failed: {err}"),
    };
    let registered = conn.set_nonblocking(true).and_then(|()| {
        server
            .sel
            .register(&conn, EVENT_READ, read as Callback)
            .map(drop)
    });
    match registered {
        Ok(()) => {
            println!("accepted {addr}");
            server.conns.insert(fileno(&conn), conn);
        }
        Err(err) => eprintln!("cannot serve {addr}: {err}"),
    }
}

/// Python: `data = conn.recv(1024)`; empty or failing → unregister and close; otherwise
/// `conn.send(data.upper() + b'_SB')`.
fn read(server: &mut Server, fd: RawSource, _mask: Events) {
    let Some(conn) = server.conns.get_mut(&fd) else {
        return;
    };
    let mut buf = [0u8; 1024];
    let outcome = match conn.read(&mut buf) {
        Ok(0) => Err(None),
        Ok(n) => {
            let mut reply = buf[..n].to_ascii_uppercase();
            reply.extend_from_slice(b"_SB");
            conn.write_all(&reply).map_err(Some)
        }
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(err) => Err(Some(err)),
    };
    if let Err(err) = outcome {
        match err {
            Some(err) => println!("closing fd {fd}: {err}"),
            None => println!("closing fd {fd}"),
        }
        // Unregister before closing, as the Python server does; dropping the stream closes it.
        let _ = server.sel.unregister(fd);
        server.conns.remove(&fd);
    }
}

fn port_from_args() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut port = 8088;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--port" | "-p" => args.next().ok_or("--port needs a value")?,
            _ if arg.starts_with("--port=") => arg["--port=".len()..].to_string(),
            "--help" | "-h" => {
                return Err(
                    "usage: echo_server [--port PORT]   (default 8088; 0 picks a free port)".into(),
                )
            }
            _ => {
                return Err(format!(
                    "unknown argument {arg:?}; usage: echo_server [--port PORT]"
                ))
            }
        };
        port = value
            .parse()
            .map_err(|_| format!("invalid port {value:?}"))?;
    }
    Ok(port)
}

fn main() -> io::Result<()> {
    let port = port_from_args().unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2);
    });
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    listener.set_nonblocking(true)?;
    let mut server = Server {
        sel: DefaultSelector::new()?,
        listener,
        conns: HashMap::new(),
    };
    server
        .sel
        .register(&server.listener, EVENT_READ, accept as Callback)?;
    println!("listening on {}", server.listener.local_addr()?);

    loop {
        // Python: `for key, mask in sel.select(): key.data(key.fileobj, mask)`. The keys are
        // snapshots, so the callbacks may register and unregister while we walk the list.
        for (key, mask) in server.sel.select(None)? {
            (key.data)(&mut server, key.fd, mask);
        }
    }
}
