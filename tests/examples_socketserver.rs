//! The socketserver examples, started and talked to — by the clients of Python's
//! `socketserver` documentation where Python is installed, and compared byte for byte with
//! the Python programs they port, run side by side; by Rust clients everywhere.
#![cfg(feature = "socketserver")]

mod common;
use common::example::{assert_refuses_arguments, example_binary, run_interpreter, Server};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);

/// What the clients send: a plain line, whitespace to strip, an empty one, UTF-8.
const MESSAGES: [&str; 4] = [
    "hello world",
    "  Mixed Case\twith a tab  ",
    "",
    "ünïcode ok",
];

/// Python, if this machine has it (not under Wine).
fn python() -> Option<&'static str> {
    let python = if cfg!(windows) { "python" } else { "python3" };
    let works = Command::new(python).arg("--version").output();
    works
        .ok()
        .filter(|output| output.status.success())
        .map(|_| python)
}

/// The Python servers these examples port, as the `socketserver` documentation has them;
/// port 0 instead of 9999, and a first line that tells the test harness the address.
const ANNOUNCE: &str =
    "        print('listening on {}:{}'.format(*server.server_address), flush=True)\n";

const PY_TCP_SERVER: &str = r#"
import socketserver

class MyTCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        # self.request is the TCP socket connected to the client
        self.data = self.request.recv(1024).strip()
        print("{} wrote:".format(self.client_address[0]))
        print(self.data)
        # just send back the same data, but upper-cased
        self.request.sendall(self.data.upper())

if __name__ == "__main__":
    HOST, PORT = "localhost", 0
    with socketserver.TCPServer((HOST, PORT), MyTCPHandler) as server:
ANNOUNCE        server.serve_forever()
"#;

const PY_STREAM_SERVER: &str = r#"
import socketserver

class MyTCPHandler(socketserver.StreamRequestHandler):
    def handle(self):
        # self.rfile is a file-like object created by the handler
        self.data = self.rfile.readline().strip()
        print("{} wrote:".format(self.client_address[0]))
        print(self.data)
        # Likewise, self.wfile is a file-like object used to write back to the client
        self.wfile.write(self.data.upper())

if __name__ == "__main__":
    HOST, PORT = "localhost", 0
    with socketserver.TCPServer((HOST, PORT), MyTCPHandler) as server:
ANNOUNCE        server.serve_forever()
"#;

const PY_UDP_SERVER: &str = r#"
import socketserver

class MyUDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data = self.request[0].strip()
        socket = self.request[1]
        print("{} wrote:".format(self.client_address[0]))
        print(data)
        socket.sendto(data.upper(), self.client_address)

if __name__ == "__main__":
    HOST, PORT = "localhost", 0
    with socketserver.UDPServer((HOST, PORT), MyUDPHandler) as server:
ANNOUNCE        server.serve_forever()
"#;

/// The documentation's clients: the message from the command line, plus a newline.
const PY_TCP_CLIENT: &str = r#"
import socket
import sys

HOST, PORT = "localhost", int(sys.argv[1])
data = " ".join(sys.argv[2:])

# Create a socket (SOCK_STREAM means a TCP socket)
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
    # Connect to server and send data
    sock.connect((HOST, PORT))
    sock.sendall(bytes(data + "\n", "utf-8"))
    # Receive data from the server and shut down
    received = str(sock.recv(1024), "utf-8")

print("Sent:     {}".format(data))
print("Received: {}".format(received))
"#;

const PY_UDP_CLIENT: &str = r#"
import socket
import sys

HOST, PORT = "localhost", int(sys.argv[1])
data = " ".join(sys.argv[2:])

# SOCK_DGRAM is the socket type to use for UDP sockets
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(10)
sock.sendto(bytes(data + "\n", "utf-8"), (HOST, PORT))
received = str(sock.recv(1024), "utf-8")

print("Sent:     {}".format(data))
print("Received: {}".format(received))
"#;

const PY_THREADED: &str = r#"
import socket
import threading
import socketserver

class ThreadedTCPRequestHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data = str(self.request.recv(1024), 'ascii')
        cur_thread = threading.current_thread()
        response = bytes("{}: {}".format(cur_thread.name, data), 'ascii')
        self.request.sendall(response)

class ThreadedTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    pass

def client(ip, port, message):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.connect((ip, port))
        sock.sendall(bytes(message, 'ascii'))
        response = str(sock.recv(1024), 'ascii')
        print("Received: {}".format(response))

if __name__ == "__main__":
    # Port 0 means to select an arbitrary unused port
    HOST, PORT = "localhost", 0

    server = ThreadedTCPServer((HOST, PORT), ThreadedTCPRequestHandler)
    with server:
        ip, port = server.server_address
        server_thread = threading.Thread(target=server.serve_forever)
        server_thread.daemon = True
        server_thread.start()
        print("Server loop running in thread:", server_thread.name)

        client(ip, port, "Hello World 1")
        client(ip, port, "Hello World 2")
        client(ip, port, "Hello World 3")

        server.shutdown()
"#;

fn python_server(python: &str, program: &str) -> Server {
    let code = program.replace("ANNOUNCE", ANNOUNCE);
    Server::start_with(Command::new(python).args(["-c", &code]))
}

/// What the documentation's client printed, talking to `server`.
fn python_client(python: &str, client: &str, server: &Server, message: &str) -> String {
    let mut code = String::from("import sys; sys.argv = ['client', ");
    code.push_str(&format!(
        "'{}'] + {:?}.split('|')\n",
        server.addr.port(),
        message
    ));
    code.push_str(client);
    let output = run_interpreter(python.as_ref(), &code, b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Python's `bytes.strip().upper()`, for the checks that need no Python.
fn expected_reply(message: &str) -> Vec<u8> {
    message
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .to_ascii_uppercase()
        .into_bytes()
}

fn tcp_exchange(server: &Server, message: &str) -> Vec<u8> {
    let mut client = TcpStream::connect(server.addr).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    client.write_all(format!("{message}\n").as_bytes()).unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap(); // the server closes after one request
    reply
}

fn udp_exchange(server: &Server, message: &str) -> Vec<u8> {
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    client
        .send_to(format!("{message}\n").as_bytes(), server.addr)
        .unwrap();
    let mut reply = [0; 1024];
    let n = client.recv(&mut reply).unwrap();
    reply[..n].to_vec()
}

/// Checks an example against its Python original: the replies to every message, by a Rust
/// client, then the documentation's Python client's output.
fn check(example: &str, original: &str, exchange: fn(&Server, &str) -> Vec<u8>, client: &str) {
    let server = Server::start(example, &[]);
    for message in MESSAGES {
        assert_eq!(
            exchange(&server, message),
            expected_reply(message),
            "{message:?}"
        );
    }
    let Some(python) = python() else { return };
    let original = python_server(python, original);
    for message in MESSAGES {
        assert_eq!(
            exchange(&server, message),
            exchange(&original, message),
            "{message:?}"
        );
        // Python's client joins its arguments with spaces: pass the message as one.
        let message = message.replace(' ', "|");
        let ours = python_client(python, client, &server, &message);
        assert_eq!(ours, python_client(python, client, &original, &message));
        assert!(ours.starts_with("Sent:     "), "{ours}");
    }
}

#[test]
fn socketserver_tcp_answers_as_the_python_original() {
    check(
        "socketserver_tcp",
        PY_TCP_SERVER,
        tcp_exchange,
        PY_TCP_CLIENT,
    );
}

#[test]
fn socketserver_stream_answers_as_the_python_original() {
    check(
        "socketserver_stream",
        PY_STREAM_SERVER,
        tcp_exchange,
        PY_TCP_CLIENT,
    );
}

#[test]
fn socketserver_udp_answers_as_the_python_original() {
    check(
        "socketserver_udp",
        PY_UDP_SERVER,
        udp_exchange,
        PY_UDP_CLIENT,
    );
}

/// The stream form reads a whole line even when it arrives in pieces.
#[test]
fn socketserver_stream_reads_a_line_sent_in_pieces() {
    let server = Server::start("socketserver_stream", &[]);
    let mut client = TcpStream::connect(server.addr).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    client.set_nodelay(true).unwrap();
    for piece in ["hel", "lo wo", "rld\n"] {
        client.write_all(piece.as_bytes()).unwrap();
        client.flush().unwrap();
    }
    let mut reply = String::new();
    client.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "HELLO WORLD");
}

/// The thread names with their numbers replaced: Python numbers its threads from the
/// server's own.
fn without_thread_numbers(output: &str) -> String {
    let mut normal = String::new();
    let mut rest = output;
    while let Some(at) = rest.find("Thread-") {
        normal.push_str(&rest[..at + "Thread-".len()]);
        rest = rest[at + "Thread-".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
        normal.push('N');
    }
    normal.push_str(rest);
    normal
}

#[test]
fn socketserver_threaded_prints_what_the_python_original_prints() {
    let output = Command::new(example_binary("socketserver_threaded"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let ours = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = ours.lines().collect();
    assert_eq!(lines.len(), 4, "{ours}");
    assert_eq!(lines[0], "Server loop running in thread: serve_forever");
    for (i, line) in lines[1..].iter().enumerate() {
        let reply = line.strip_prefix("Received: Thread-").expect(line);
        assert!(reply.ends_with(&format!(" (process_request_thread): Hello World {}", i + 1)));
    }
    assert!(
        lines[1] != lines[2] && lines[2] != lines[3],
        "a thread per request: {ours}"
    );
    let Some(python) = python() else { return };
    let original = run_interpreter(python.as_ref(), PY_THREADED, b"");
    let original = String::from_utf8(original.stdout).unwrap();
    let original_requests: Vec<&str> = original.lines().skip(1).collect();
    assert_eq!(
        without_thread_numbers(&lines[1..].join("\n")),
        without_thread_numbers(&original_requests.join("\n"))
    );
}

#[test]
fn socketserver_examples_refuse_unknown_arguments() {
    for example in [
        "socketserver_tcp",
        "socketserver_stream",
        "socketserver_udp",
    ] {
        assert_refuses_arguments(example, &["--bogus"]);
    }
}
