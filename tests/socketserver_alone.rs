//! The socketserver cases that change the whole process (signal handlers, the descriptor
//! limit): their own binary, one at a time.
#![cfg(all(unix, feature = "socketserver"))]

mod common;
use ioselectors::socketserver::{RequestHandler, StreamRequest, TcpServer};
use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());
const PATIENCE: Duration = Duration::from_secs(10);

/// CPython's `SocketWriterTest.test_write`: `wfile` sends a write at once, without a flush,
/// and a big write whole although signals interrupt it (Python's `sendall` retries; so does
/// `write_all`).
#[test]
fn socket_writer_write_under_signals() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const BIG: usize = 16 << 20;
    struct Handler;
    impl RequestHandler for Handler {
        type Request = StreamRequest;
        fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
            req.wfile.write_all(b"write data\n")?;
            let mut line = Vec::new();
            req.rfile.read_until(b'\n', &mut line)?;
            assert_eq!(line, b"client response\n");
            req.wfile.write_all(&vec![0; BIG])
        }
    }
    let server = TcpServer::new("127.0.0.1:0", Handler).unwrap();
    let address = *server.server_address();
    let client = thread::spawn(move || {
        let mut client = TcpStream::connect(address).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut reader = io::BufReader::with_capacity(100, client.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "write data\n");
        client.write_all(b"client response\n").unwrap();
        let mut first = [0; 100];
        reader.read_exact(&mut first).unwrap();
        // Leave the server blocked in send() while signals land on it.
        thread::sleep(Duration::from_millis(200));
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        rest.len()
    });
    let (result, signals) = common::under_signal_storm(|| server.handle_request());
    result.unwrap();
    assert_eq!(client.join().unwrap(), BIG - 100);
    assert!(signals >= 5, "{signals} signals landed");
}

/// Out of descriptors, `accept` fails (EMFILE) while the client stays queued: the server
/// rests instead of retrying at once (Python's spins), then serves the client once
/// descriptors are free.
#[test]
fn emfile_on_accept_does_not_spin() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    struct Hello;
    impl RequestHandler for Hello {
        type Request = StreamRequest;
        fn handle(&self, req: &mut StreamRequest) -> io::Result<()> {
            req.wfile.write_all(b"hello")
        }
    }
    fn cpu_time() -> Duration {
        // SAFETY: getrusage writes the struct we pass.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
            usage
        };
        let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        time(usage.ru_utime) + time(usage.ru_stime)
    }
    let server = TcpServer::new("127.0.0.1:0", Hello).unwrap();
    let address = (*server.server_address()).into();
    // The client's socket exists before descriptors run out; connecting needs none.
    let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    thread::scope(|scope| {
        let serving = scope.spawn(|| server.serve_forever());
        // One request served: the loop runs (its selector exists).
        let mut first = TcpStream::connect(server.server_address()).unwrap();
        first.read_to_end(&mut Vec::new()).unwrap();
        let out_of_descriptors = common::OutOfDescriptors::now();
        client.connect(&address).unwrap();
        let before = cpu_time();
        thread::sleep(Duration::from_millis(500)); // the window in which a spin would burn
        let used = cpu_time() - before;
        drop(out_of_descriptors);
        let mut client = TcpStream::from(client);
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "hello");
        server.shutdown();
        serving.join().unwrap().unwrap();
        // Checked last, so that a failure does not leave the scope waiting for a server
        // that was never shut down.
        assert!(
            used < Duration::from_millis(150),
            "{used:?} of CPU in 500 ms"
        );
    });
}
