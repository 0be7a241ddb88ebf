//! Starting an example server (built by `cargo test`) and talking to it over loopback.
//!
//! The examples are the binaries a plain `cargo test` builds beside the test binaries:
//! `cargo test --test examples_select` alone does not rebuild them (run
//! `cargo build --examples` first after changing one).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A running example; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of an example binary that `cargo test` built next to the test binaries.
pub fn example_binary(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

impl Server {
    /// Starts `name` with `--port 0` and `args`; its first line of output must be
    /// `listening on ADDR`. The rest of its output is drained in the background.
    pub fn start(name: &str, args: &[&str]) -> Server {
        Server::start_with(
            Command::new(example_binary(name))
                .args(["--port", "0"])
                .args(args),
        )
    }

    /// Like `start`, with a command prepared by the caller (e.g. under `prlimit`).
    pub fn start_with(command: &mut Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {command:?}: {err}"));
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

    /// A new client connection, with a 10 s read timeout so a missing reply fails the test
    /// instead of hanging it.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }
}

/// Runs example `name` with `args` and checks that it refuses them as a command-line tool
/// does: exit status 2, with a message on stderr.
pub fn assert_refuses_arguments(name: &str, args: &[&str]) {
    let output = Command::new(example_binary(name))
        .args(args)
        .stdout(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{name} {args:?}");
    assert!(!output.stderr.is_empty(), "{name} {args:?}: no message");
}

/// Sends `message` and checks that the reply is `expected`, naming `who` if it is not.
pub fn assert_replies(stream: &mut TcpStream, message: &[u8], expected: &[u8], who: &str) {
    assert_eq!(exchange(stream, message, expected.len()), expected, "{who}");
}

/// Sends `message` and reads exactly `reply_len` bytes back.
pub fn exchange(stream: &mut TcpStream, message: &[u8], reply_len: usize) -> Vec<u8> {
    stream.write_all(message).unwrap();
    let mut reply = vec![0u8; reply_len];
    stream.read_exact(&mut reply).unwrap();
    reply
}

/// The Python client of one of the programs these examples port, with its port replaced, if
/// the reference material it comes from sits next to the repository (`../shared/seeds`, as
/// in CI). The client is read from the document whose name starts with `seed`: the lines
/// from the first one containing `from` up to (not including) the next one containing
/// `until` (or the end). `None` when the material is not there, or Python is missing: the
/// Rust clients still check every reply.
pub fn python_client(
    seed: &str,
    from: &str,
    until: &str,
    port: &str,
    new_port: u16,
) -> Option<String> {
    let python = if cfg!(windows) { "python" } else { "python3" };
    Command::new(python).arg("--version").output().ok()?;
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/seeds");
    let file = std::fs::read_dir(seeds)
        .ok()?
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().starts_with(seed))?;
    let text = std::fs::read_to_string(file.path()).ok()?;
    let mut lines = text.lines().skip_while(|line| !line.contains(from));
    let first = lines.next()?;
    let mut client = format!("{first}\n");
    for line in lines.take_while(|line| !line.contains(until)) {
        client.push_str(line);
        client.push('\n');
    }
    Some(client.replace(port, &new_port.to_string()))
}

/// Runs a Python client with `input` on its standard input, and returns what it printed.
pub fn run_python(code: &str, input: &[u8]) -> String {
    let python = if cfg!(windows) { "python" } else { "python3" };
    let output = run_interpreter(python.as_ref(), code, input);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `interpreter -c code` with `input` on its standard input, and returns its output.
pub fn run_interpreter(interpreter: &std::ffi::OsStr, code: &str, input: &[u8]) -> Output {
    let mut child = Command::new(interpreter)
        .args(["-c", code])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}
