//! Python's `select.select` server that answers every message with the message plus `Good`,
//! ported statement for statement: the short one from a Python full-stack series on I/O multiplexing,
//! with a `demo_li` list of sockets to read, an `outputs` list of connections owed a reply,
//! a `message_dict` of received messages per connection, and a one-second `select` timeout.
//!
//! What it demonstrates: a `select` loop with a timeout (it wakes up every second even when
//! nothing happens, and prints how many sockets it watches and which are ready), and replies
//! deferred to the writable branch: the readable branch stores the message and puts the
//! connection on `outputs` once per message; the writable branch sends the oldest stored
//! message followed by `Good` and takes one entry off `outputs`. Each chunk the server reads
//! (at most 1024 bytes) is one message: `hello` is answered with `helloGood`.
//!
//! The Python program passes the listening socket itself where the list of sockets to read
//! belongs (`select.select(sk1, outputs, [], 1)`, which raises TypeError at once); what its
//! author meant is the list `demo_li`, and that is what this port passes.
//!
//! As in Python, one socket type serves the listener and the connections
//! (`socket2::Socket`, in an `Rc` so that `select` can hand back the lists' own sockets),
//! and the loop changes the lists while it walks what `select` returned. `message_dict` is
//! keyed by descriptor number (`fileno()`), where Python keys it by socket.
//! select(2) only watches descriptors below `FD_SETSIZE` (1024 on most systems): a server
//! for more clients than that uses a selector (`ioselectors::DefaultSelector`) instead.
//!
//! ```text
//! cargo run --example select_good_server -- --port 8002
//! ```
//!
//! Then type lines into `nc 127.0.0.1 8002` (from several terminals at once): `hi` comes back
//! as `hi` + newline + `Good`. The default port is the Python server's, 8002; `--port 0`
//! picks a free one. The first line printed is `listening on ADDRESS`.

mod args;
use ioselectors::{select::select, select::SourceList, Fileno};
use socket2::{Domain, Socket, Type};
use std::{collections::HashMap, io::Read, io::Write, net::SocketAddr, rc::Rc, time::Duration};

fn main() -> std::io::Result<()> {
    let port = args::port_from_args("select_good_server", 8002);
    let sk1 = Rc::new(Socket::new(Domain::IPV4, Type::STREAM, None)?);
    sk1.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    sk1.listen(128)?;
    args::announce(&sk1)?;

    let mut demo_li = vec![sk1.clone()];
    let mut outputs = Vec::new();
    let mut message_dict = HashMap::new();

    loop {
        let (r_list, w_list, _e_list) =
            select(&demo_li, &outputs, &[], Some(Duration::from_secs(1)))?;
        println!("{} {r_list:?}", demo_li.len());
        for sk1_or_conn in r_list {
            if Rc::ptr_eq(&sk1_or_conn, &sk1) {
                // A client that has given up already is no reason to stop (Python stops).
                if let Ok((conn, _address)) = sk1_or_conn.accept() {
                    message_dict.insert((&conn).fileno(), Vec::new());
                    demo_li.push(Rc::new(conn));
                }
            } else {
                let mut data_bytes = [0; 1024];
                match (&*sk1_or_conn).read(&mut data_bytes) {
                    // The client left (Python does not see it, and answers it for ever), or
                    // reset the connection. Replies still due go out, or fail, below.
                    Ok(0) | Err(_) => drop(demo_li.remove_source(&sk1_or_conn)),
                    // Bytes, not text: a reply whatever the client sent (Python stops).
                    Ok(n) => {
                        let messages = message_dict.get_mut(&(&sk1_or_conn).fileno());
                        messages.expect("accepted").push(data_bytes[..n].to_vec());
                        outputs.push(sk1_or_conn);
                    }
                }
            }
        }
        for conn in w_list {
            let queue = message_dict.get_mut(&(&conn).fileno()).expect("listed");
            let reply = [&queue.remove(0)[..], b"Good"].concat();
            // A client gone since makes the reply fail: forget it (Python stops).
            if (&*conn).write_all(&reply).is_err() {
                demo_li.remove_source(&conn);
            }
            outputs.remove_source(&conn);
        }
    }
}
