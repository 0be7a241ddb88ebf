//! The threaded server of Python's `socketserver` documentation, ported statement for
//! statement: a `ThreadingMixIn` TCP server, which handles each request on a new thread, and
//! its clients in the same program. Each reply names the thread that handled the request.
//!
//! ```text
//! cargo run --example socketserver_threaded
//! ```
//!
//! prints
//!
//! ```text
//! Server loop running in thread: serve_forever
//! Received: Thread-1 (process_request_thread): Hello World 1
//! Received: Thread-2 (process_request_thread): Hello World 2
//! Received: Thread-3 (process_request_thread): Hello World 3
//! ```
//!
//! (Python numbers its threads from the server's, `Thread-1 (serve_forever)`; the request
//! threads' names are otherwise the same.) `shutdown()` stops the server at once, where
//! Python's waits for up to half a second.

use ioselectors::socketserver::{BaseRequest, RequestHandler, ThreadingTcpServer};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;

struct ThreadedTcpRequestHandler;

impl RequestHandler for ThreadedTcpRequestHandler {
    type Request = BaseRequest;

    fn handle(&self, req: &mut BaseRequest) -> io::Result<()> {
        let mut data = [0; 1024];
        let n = req.request.read(&mut data)?;
        let data = String::from_utf8_lossy(&data[..n]);
        let cur_thread = thread::current();
        let response = format!("{}: {}", cur_thread.name().unwrap_or_default(), data);
        req.request.write_all(response.as_bytes())
    }
}

fn client(address: SocketAddr, message: &str) -> io::Result<()> {
    let mut sock = TcpStream::connect(address)?;
    sock.write_all(message.as_bytes())?;
    let mut response = [0; 1024];
    let n = sock.read(&mut response)?;
    println!("Received: {}", String::from_utf8_lossy(&response[..n]));
    Ok(())
}

fn main() -> io::Result<()> {
    // Port 0 means to select an arbitrary unused port
    let server = ThreadingTcpServer::new(("localhost", 0), ThreadedTcpRequestHandler)?;
    let address = *server.server_address();
    thread::scope(|scope| {
        // Start a thread with the server -- that thread will then start one more thread for
        // each request
        let server_thread = thread::Builder::new()
            .name("serve_forever".into())
            .spawn_scoped(scope, || server.serve_forever())?;
        println!(
            "Server loop running in thread: {}",
            server_thread.thread().name().unwrap_or_default()
        );
        client(address, "Hello World 1")?;
        client(address, "Hello World 2")?;
        client(address, "Hello World 3")?;
        server.shutdown();
        server_thread.join().expect("the server thread panicked")
    })
}
