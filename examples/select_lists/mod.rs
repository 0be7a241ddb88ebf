//! What the four `select.select` ports share. Python's lists hold socket objects and
//! `select.select` hands back the same objects; a Rust value has one owner, so these ports'
//! lists hold small ids (`Id`), like the fd → socket dict of Python's `poll` servers, and
//! `Sockets` owns what they name. `select` lends the listed sockets to
//! `ioselectors::select::select_into` and turns the positions it reports back into ids.
//!
//! Not an example of its own: each `select_*` example includes it with `mod select_lists;`.

// Not every port uses every helper.
#![allow(dead_code)]

use ioselectors::select::{select_into, Selected};
use ioselectors::{AsSource, BorrowedSource};
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Names a socket in the lists: Python puts the socket objects themselves there.
pub type Id = usize;

/// The id of the listening socket.
pub const LISTENER: Id = 0;

/// Owns the sockets the lists name.
pub struct Sockets {
    /// The listening socket; `None` once the port has closed it.
    listener: Option<TcpListener>,
    /// The Python program's name for the listening socket, for `describe`.
    listener_name: &'static str,
    /// The client connections, by id.
    pub conns: HashMap<Id, TcpStream>,
    /// The id the next client gets: ids are never reused, as Python's objects are distinct.
    next_id: Id,
}

impl Sockets {
    /// Starts with the listening socket (id `LISTENER`), called `listener_name` in Python.
    pub fn new(listener: TcpListener, listener_name: &'static str) -> Sockets {
        Sockets {
            listener: Some(listener),
            listener_name,
            conns: HashMap::new(),
            next_id: LISTENER + 1,
        }
    }

    /// The listening socket, unless the port has closed it.
    pub fn listener(&self) -> Option<&TcpListener> {
        self.listener.as_ref()
    }

    /// Takes a new client connection; returns its id.
    pub fn add(&mut self, conn: TcpStream) -> Id {
        let id = self.next_id;
        self.next_id += 1;
        self.conns.insert(id, conn);
        id
    }

    /// Drops (closes) the socket `id` names, the listening one included.
    pub fn close(&mut self, id: Id) {
        if id == LISTENER {
            self.listener = None;
        } else {
            self.conns.remove(&id);
        }
    }

    /// Borrows the socket each id of `list` names, in list order.
    fn lend(&self, list: &[Id]) -> Vec<BorrowedSource<'_>> {
        list.iter()
            .map(|&id| match id {
                LISTENER => self.listener().expect("listed, so open").as_source(),
                _ => self.conns[&id].as_source(),
            })
            .collect()
    }

    /// How Python prints a list of sockets, shortened: `NAME ADDRESS` for the listening
    /// socket, `conn PEER` for a connection.
    pub fn describe(&self, list: &[Id]) -> Vec<String> {
        let address = |addr: io::Result<SocketAddr>| {
            addr.map_or_else(|_| "?".to_owned(), |addr| addr.to_string())
        };
        list.iter()
            .map(|&id| match id {
                LISTENER => format!(
                    "{} {}",
                    self.listener_name,
                    address(self.listener().expect("listed, so open").local_addr())
                ),
                _ => format!("conn {}", address(self.conns[&id].peer_addr())),
            })
            .collect()
    }
}

/// Python's `select.select(rlist, wlist, xlist, timeout)` over ids: the ready ids of each
/// list, in list order.
pub fn select(
    sockets: &Sockets,
    rlist: &[Id],
    wlist: &[Id],
    xlist: &[Id],
    timeout: Option<Duration>,
) -> io::Result<(Vec<Id>, Vec<Id>, Vec<Id>)> {
    let (r, w, x) = (
        sockets.lend(rlist),
        sockets.lend(wlist),
        sockets.lend(xlist),
    );
    let mut ready = Selected::new();
    select_into(&r, &w, &x, timeout, &mut ready)?;
    let ids = |list: &[Id], positions: &[usize]| -> Vec<Id> {
        positions.iter().map(|&at| list[at]).collect()
    };
    Ok((
        ids(rlist, ready.readable()),
        ids(wlist, ready.writable()),
        ids(xlist, ready.exceptional()),
    ))
}

/// `--port N` or `--port=N`; the default is the Python server's port. A bad command line
/// prints the usage of `program` and exits with status 2.
pub fn port_from_args(program: &str, default: u16) -> u16 {
    let usage = format!("usage: {program} [--port PORT] (default {default}; 0 = any free port)");
    let parse = || -> Result<u16, String> {
        let mut port = default;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let value = if arg == "--port" {
                args.next().ok_or_else(|| usage.clone())?
            } else if let Some(value) = arg.strip_prefix("--port=") {
                value.to_owned()
            } else {
                return Err(usage.clone());
            };
            port = value
                .parse()
                .map_err(|_| format!("bad port {value:?}\n{usage}"))?;
        }
        Ok(port)
    };
    parse().unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2)
    })
}
