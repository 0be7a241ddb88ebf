//! Starts `examples/echo_server.rs` (built by `cargo test`) and talks to it over loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Seed 004's client, unchanged but for the port.
const SEED_CLIENT: &str = r#"
from socket import *
c=socket(AF_INET,SOCK_STREAM)
c.connect(('127.0.0.1',8088))

while True:
    msg=input('>>: ')
    if not msg:continue
    c.send(msg.encode('utf-8'))
    data=c.recv(1024)
    print(data.decode('utf-8'))
"#;

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example_binary() -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples")
        .join(format!("echo_server{}", std::env::consts::EXE_SUFFIX))
}

fn start() -> Server {
    let binary = example_binary();
    let mut child = Command::new(&binary)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    // Keep draining stdout so the server never blocks on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Server { child, addr }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

fn exchange(stream: &mut TcpStream, message: &str) -> String {
    stream.write_all(message.as_bytes()).unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn replies_upper_case_with_sb_to_many_clients() {
    let server = start();
    let mut a = connect(server.addr);
    let mut b = connect(server.addr);
    assert_eq!(exchange(&mut a, "hello"), "HELLO_SB");
    assert_eq!(exchange(&mut b, "world"), "WORLD_SB");
    assert_eq!(exchange(&mut a, "again"), "AGAIN_SB");
    drop(a); // the server unregisters and closes it; b is still served
    assert_eq!(exchange(&mut b, "still here"), "STILL HERE_SB");
}

#[test]
fn seed_python_client_gets_its_reply() {
    let python = if cfg!(windows) { "python" } else { "python3" };
    if Command::new(python).arg("--version").output().is_err() {
        eprintln!("{python} not found: only the Rust client was checked");
        return;
    }
    let server = start();
    let client = SEED_CLIENT.replace("8088", &server.addr.port().to_string());
    let mut python = Command::new(python)
        .args(["-c", &client])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Two lines, then EOF: the client's input() raises EOFError and it exits.
    python
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello\nselectors\n")
        .unwrap();
    let output = python.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("HELLO_SB"), "client printed {stdout:?}");
    assert!(stdout.contains("SELECTORS_SB"), "client printed {stdout:?}");
}

#[test]
fn bad_arguments_are_refused() {
    let status = Command::new(example_binary())
        .args(["--port", "nope"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
