//! The UDP server of Python's `socketserver` documentation, ported statement for statement:
//! for a datagram server, the request is the datagram and the server's socket, and the reply
//! (the datagram upper-cased) is sent back with `send_to` to the client's address, since
//! there is no connection.
//!
//! ```text
//! cargo run --example socketserver_udp -- --port 9999
//! ```
//!
//! Then `echo hello world | nc -u localhost 9999` answers `HELLO WORLD`. The default port is
//! the Python server's, 9999; `--port 0` picks a free one. The first line printed is
//! `listening on ADDRESS`.

mod args;
use ioselectors::socketserver::{BaseRequest, RequestHandler, UdpServer};
use std::io;
use std::net::UdpSocket;

/// Works like the TCP handler, except that the request is `(data, socket)`, and the reply
/// must name the client's address.
struct MyUdpHandler;

impl RequestHandler for MyUdpHandler {
    type Request = BaseRequest<UdpSocket>;

    fn handle(&self, req: &mut BaseRequest<UdpSocket>) -> io::Result<()> {
        let data = strip(&req.request.0);
        let socket = &req.request.1;
        println!("{} wrote:", req.client_address.ip());
        println!("{:?}", String::from_utf8_lossy(data));
        socket.send_to(&data.to_ascii_uppercase(), req.client_address)?;
        Ok(())
    }
}

/// Python's `bytes.strip()`: the data without the ASCII whitespace at either end.
fn strip(data: &[u8]) -> &[u8] {
    let space = |byte: &u8| b" \t\n\r\x0b\x0c".contains(byte);
    let start = data.iter().position(|b| !space(b)).unwrap_or(data.len());
    let end = data
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |last| last + 1);
    &data[start..end]
}

fn main() -> io::Result<()> {
    let port = args::port_from_args("socketserver_udp", 9999);
    let server = UdpServer::new(("localhost", port), MyUdpHandler)?;
    println!("listening on {}", server.server_address());
    server.serve_forever()
}
