//! Echo: C loopback connections, each with one message in flight; round trips per second of
//! two ioselectors echo servers (level-triggered `DefaultSelector`, edge-triggered
//! `select::Epoll`) against a mio echo server doing the same work. The client is the same for
//! all (level-triggered raw epoll) and runs on its own thread.

use crate::measure::{median, Plan};
use ioselectors::select::{Epoll, EpollEvents, EPOLLET, EPOLLIN};
use ioselectors::{DefaultSelector, EVENT_READ};
use rustix::event::{epoll, Timespec};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

pub struct Row {
    pub connections: usize,
    pub size: usize,
    /// Round trips per second.
    pub ours: f64,
    pub mio: f64,
    /// Round trips per second of the edge-triggered `select::Epoll` server.
    pub epoll_et: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Server {
    Ioselectors,
    Mio,
    EpollEt,
}

const SERVERS: [Server; 3] = [Server::Ioselectors, Server::Mio, Server::EpollEt];

pub fn run(plan: &Plan) -> Vec<Row> {
    println!("echo: round trips per second, C connections with one message in flight each");
    let mut rows = Vec::new();
    for connections in [1, 100, 1000] {
        for size in [64, 4096] {
            let mut rates = [Vec::new(), Vec::new(), Vec::new()];
            for round in 0..plan.echo_rounds {
                // Rotate the starting server, so none always runs first (or last).
                for k in 0..SERVERS.len() {
                    let i = (round + k) % SERVERS.len();
                    rates[i].push(one_round(SERVERS[i], connections, size, plan.echo_round));
                }
            }
            let [ours, mio, epoll_et] = rates.map(median);
            let row = Row {
                connections,
                size,
                ours,
                mio,
                epoll_et,
            };
            println!(
                "  C={connections:>4} size={size:>4}: ioselectors {:.0}, mio {:.0} ({:.2}x), \
                 Epoll (ET) {:.0} ({:.2}x)",
                row.ours,
                row.mio,
                row.ours / row.mio,
                row.epoll_et,
                row.epoll_et / row.mio
            );
            rows.push(row);
        }
    }
    println!();
    rows
}

fn one_round(server: Server, connections: usize, size: usize, duration: Duration) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let thread = std::thread::spawn(move || match server {
        Server::Ioselectors => serve_ioselectors(listener, connections),
        Server::Mio => serve_mio(listener, connections),
        Server::EpollEt => serve_epoll_et(listener, connections),
    });
    let rate = client(addr, connections, size, duration);
    thread.join().unwrap();
    rate
}

/// Sends one message per connection, and another each time its echo is back in full.
pub fn client(addr: SocketAddr, connections: usize, size: usize, duration: Duration) -> f64 {
    let streams: Vec<TcpStream> = (0..connections)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
    for (i, stream) in streams.iter().enumerate() {
        stream.set_nodelay(true).unwrap();
        stream.set_nonblocking(true).unwrap();
        epoll::add(
            &ep,
            stream,
            epoll::EventData::new_u64(i as u64),
            epoll::EventFlags::IN,
        )
        .unwrap();
    }
    let message = vec![b'x'; size];
    let mut received = vec![0usize; connections];
    let mut buf = vec![0u8; 65536];
    let mut events: Vec<epoll::Event> = Vec::with_capacity(connections);
    let timeout = Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    let start = Instant::now();
    for mut stream in &streams {
        stream.write_all(&message).unwrap();
    }
    let mut trips = 0u64;
    while start.elapsed() < duration {
        events.clear();
        epoll::wait(
            &ep,
            rustix::buffer::spare_capacity(&mut events),
            Some(&timeout),
        )
        .unwrap();
        for event in &events {
            let i = event.data.u64() as usize;
            let mut stream = &streams[i];
            match stream.read(&mut buf) {
                Ok(n) if n > 0 => received[i] += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                other => panic!("client read: {other:?}"),
            }
            if received[i] >= size {
                received[i] -= size;
                trips += 1;
                stream.write_all(&message).unwrap();
            }
        }
    }
    trips as f64 / start.elapsed().as_secs_f64()
}

/// Accepts `connections` clients, then echoes until all of them have hung up.
fn serve_ioselectors(listener: TcpListener, connections: usize) {
    const LISTENER: usize = usize::MAX;
    let mut sel = DefaultSelector::new().unwrap();
    sel.register(&listener, EVENT_READ, LISTENER).unwrap();
    let mut conns: Vec<Option<TcpStream>> = Vec::with_capacity(connections);
    let mut open = 0;
    let mut ready = Vec::new();
    let mut buf = vec![0u8; 65536];
    while conns.len() < connections || open > 0 {
        sel.select_into(None, &mut ready).unwrap();
        for (key, _) in &ready {
            if key.data == LISTENER {
                while let Ok((conn, _)) = listener.accept() {
                    conn.set_nonblocking(true).unwrap();
                    conn.set_nodelay(true).unwrap();
                    sel.register(&conn, EVENT_READ, conns.len()).unwrap();
                    conns.push(Some(conn));
                    open += 1;
                }
                continue;
            }
            let Some(conn) = conns[key.data].as_mut() else {
                continue;
            };
            // Level-triggered: one read per readiness; what is left is reported again.
            match conn.read(&mut buf) {
                // A failed write (the client hung up) shows as EOF or reset on the next read.
                Ok(n) if n > 0 => drop(conn.write_all(&buf[..n])),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                // End of file, or reset by a client that hung up with an echo unread.
                _ => {
                    sel.unregister(&*conn).unwrap();
                    conns[key.data] = None;
                    open -= 1;
                }
            }
        }
    }
}

/// The same server on mio: edge-triggered, so each readiness is read until it would block.
fn serve_mio(listener: TcpListener, connections: usize) {
    const LISTENER: mio::Token = mio::Token(usize::MAX - 1);
    let mut poll = mio::Poll::new().unwrap();
    let mut listener = mio::net::TcpListener::from_std(listener);
    poll.registry()
        .register(&mut listener, LISTENER, mio::Interest::READABLE)
        .unwrap();
    let mut conns: Vec<Option<mio::net::TcpStream>> = Vec::with_capacity(connections);
    let mut accepted = 0;
    let mut open = 0;
    let mut events = mio::Events::with_capacity(1024);
    let mut buf = vec![0u8; 65536];
    while accepted < connections || open > 0 {
        poll.poll(&mut events, None).unwrap();
        for event in &events {
            if event.token() == LISTENER {
                while let Ok((mut conn, _)) = listener.accept() {
                    conn.set_nodelay(true).unwrap();
                    poll.registry()
                        .register(&mut conn, mio::Token(conns.len()), mio::Interest::READABLE)
                        .unwrap();
                    conns.push(Some(conn));
                    accepted += 1;
                    open += 1;
                }
                continue;
            }
            let i = event.token().0;
            while let Some(conn) = conns[i].as_mut() {
                match conn.read(&mut buf) {
                    // A failed write (the client hung up) shows as EOF or reset on the next read.
                    Ok(n) if n > 0 => drop(conn.write_all(&buf[..n])),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    // End of file, or reset by a client that hung up with an echo unread.
                    _ => {
                        poll.registry().deregister(conn).unwrap();
                        conns[i] = None;
                        open -= 1;
                    }
                }
            }
        }
    }
}

/// The mio server's work on `select::Epoll`: every socket registered `EPOLLIN | EPOLLET`
/// with its index as data, each readiness read until it would block.
fn serve_epoll_et(listener: TcpListener, connections: usize) {
    const LISTENER: u64 = u64::MAX;
    let ep = Epoll::new().unwrap();
    ep.register_with_data(&listener, EPOLLIN | EPOLLET, LISTENER)
        .unwrap();
    let mut conns: Vec<Option<TcpStream>> = Vec::with_capacity(connections);
    let mut open = 0;
    let mut events = EpollEvents::with_capacity(1024);
    let mut buf = vec![0u8; 65536];
    while conns.len() < connections || open > 0 {
        ep.poll_into(None, &mut events).unwrap();
        for event in events.iter() {
            if event.data() == LISTENER {
                // Edge-triggered: accept until the queue is empty.
                while let Ok((conn, _)) = listener.accept() {
                    conn.set_nonblocking(true).unwrap();
                    conn.set_nodelay(true).unwrap();
                    ep.register_with_data(&conn, EPOLLIN | EPOLLET, conns.len() as u64)
                        .unwrap();
                    conns.push(Some(conn));
                    open += 1;
                }
                continue;
            }
            let i = event.data() as usize;
            while let Some(conn) = conns[i].as_mut() {
                match conn.read(&mut buf) {
                    // A failed write (the client hung up) shows as EOF or reset on the next read.
                    Ok(n) if n > 0 => drop(conn.write_all(&buf[..n])),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    // End of file, or reset by a client that hung up with an echo unread.
                    _ => {
                        ep.unregister(&*conn).unwrap();
                        conns[i] = None;
                        open -= 1;
                    }
                }
            }
        }
    }
}

/// One echo case (C=1000, 4 KiB) for 3 s on one server, for strace or perf.
pub fn profile(server: &str) {
    let server = match server {
        "mio" => Server::Mio,
        "epoll-et" => Server::EpollEt,
        _ => Server::Ioselectors,
    };
    let rate = one_round(server, 1000, 4096, Duration::from_secs(3));
    println!("{rate:.0} round trips per second");
}
