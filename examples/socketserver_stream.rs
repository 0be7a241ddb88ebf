//! The TCP server of Python's `socketserver` documentation in its second form, ported
//! statement for statement: a `StreamRequestHandler`, which reads a line from the buffered
//! `rfile` instead of calling `recv`, prints it, and writes it back upper-cased to `wfile`.
//!
//! ```text
//! cargo run --example socketserver_stream -- --port 9999
//! ```
//!
//! Then `echo hello world | nc localhost 9999` answers `HELLO WORLD`. Unlike the
//! `socketserver_tcp` form, a line that arrives in pieces is read whole. The default port is
//! the Python server's, 9999; `--port 0` picks a free one. The first line printed is
//! `listening on ADDRESS`.

mod args;
use ioselectors::socketserver::{RequestHandler, StreamRequest, TcpServer};
use std::io::{self, BufRead, Write};

struct MyTcpHandler;

impl RequestHandler for MyTcpHandler {
    type Request = StreamRequest;

    fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
        // req.rfile is a buffered reader over the connection; we can now read a whole line
        // instead of making raw reads
        let mut line = Vec::new();
        req.rfile.read_until(b'\n', &mut line)?;
        let data = strip(&line);
        println!("{} wrote:", req.client_address.ip());
        println!("{:?}", String::from_utf8_lossy(data));
        // Likewise, req.wfile is a writer to the client
        req.wfile.write_all(&data.to_ascii_uppercase())
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
    let port = args::port_from_args("socketserver_stream", 9999);
    let server = TcpServer::new(("localhost", port), MyTcpHandler)?;
    println!("listening on {}", server.server_address());
    server.serve_forever()
}
