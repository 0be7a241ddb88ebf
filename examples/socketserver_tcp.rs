//! The TCP server of Python's `socketserver` documentation, ported statement for statement:
//! a `BaseRequestHandler` whose `handle` receives up to 1024 bytes from the client, prints
//! them, and sends them back upper-cased; `TCPServer(...).serve_forever()` calls it for each
//! connection, one at a time.
//!
//! ```text
//! cargo run --example socketserver_tcp -- --port 9999
//! ```
//!
//! Then `echo hello world | nc localhost 9999` answers `HELLO WORLD` (and the connection is
//! closed: one request per connection). The default port is the Python server's, 9999;
//! `--port 0` picks a free one. The first line printed is `listening on ADDRESS`.
//! `socketserver_stream` is the same server over the buffered `rfile` and `wfile`.

mod args;
use ioselectors::socketserver::{BaseRequest, RequestHandler, TcpServer};
use std::io::{self, Read, Write};

/// The request handler: the server calls `handle` once per connection, to talk to the
/// client.
struct MyTcpHandler;

impl RequestHandler for MyTcpHandler {
    type Request = BaseRequest;

    fn handle(&self, req: &mut BaseRequest) -> io::Result<()> {
        // req.request is the TCP socket connected to the client
        let mut data = [0; 1024];
        let n = req.request.read(&mut data)?;
        let data = strip(&data[..n]);
        println!("{} wrote:", req.client_address.ip());
        println!("{:?}", String::from_utf8_lossy(data));
        // just send back the same data, but upper-cased
        req.request.write_all(&data.to_ascii_uppercase())
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
    let port = args::port_from_args("socketserver_tcp", 9999);
    // Create the server, binding to localhost on port 9999
    let server = TcpServer::new(("localhost", port), MyTcpHandler)?;
    println!("listening on {}", server.server_address());
    // Activate the server; this will keep running until you interrupt the program with
    // Ctrl-C
    server.serve_forever()
}
