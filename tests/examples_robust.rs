//! The examples under stress: running out of descriptors (echo and chat servers), the chat
//! relay with slow, fast and vanishing clients, `communicate` over a child's pipes, and the
//! worker pool behind a `Waker`. Each example is started as its own process (built by
//! `cargo test`) and talked to over loopback.

mod common;
use common::example::*;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Running out of descriptors
// ---------------------------------------------------------------------------------------

/// The descriptor limit the servers run under, and how many clients connect: more than the
/// server can accept.
#[cfg(unix)]
const FD_LIMIT: u64 = 64;
#[cfg(unix)]
const CLIENTS: usize = 80;

/// Starts `name` with `RLIMIT_NOFILE` set to `limit` (soft and hard) in the child, through
/// `setrlimit` between fork and exec: no external tool needed.
#[cfg(unix)]
fn start_with_fd_limit(name: &str, limit: u64) -> Server {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(example_binary(name));
    // Its complaints about `accept` are expected here.
    command
        .args(["--port", "0"])
        .stderr(std::process::Stdio::null());
    // SAFETY: the hook only calls setrlimit, which is async-signal-safe, and builds the error
    // from errno without allocating in the success path.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
    Server::start_with(&mut command)
}

/// Linux: waits until the server holds every descriptor it may (so `accept` now fails with
/// EMFILE), watching `/proc/<pid>/fd`: there is no other signal for it.
#[cfg(target_os = "linux")]
fn wait_until_out_of_descriptors(server: &Server) {
    let dir = format!("/proc/{}/fd", server.child.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let open = std::fs::read_dir(&dir).unwrap().count() as u64;
        if open >= FD_LIMIT {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server holds only {open} descriptors"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Linux: the CPU time (user + system) the process has used so far.
#[cfg(target_os = "linux")]
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which is in parentheses and may hold spaces):
    // state is field 3, utime field 14 and stime field 15.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// Starts `name` under a descriptor limit of 64 and connects 80 clients, so that the server
/// runs out of descriptors with connections still waiting to be accepted. On Linux, checks
/// that it then sleeps (under 30 % of one core over a second) instead of asking `accept`
/// again and again. Then closes 30 clients and hands the server and the 50 others to
/// `check`, which makes sure they are served.
#[cfg(unix)]
fn survives_running_out_of_descriptors(name: &str, check: impl FnOnce(&Server, Vec<TcpStream>)) {
    let server = start_with_fd_limit(name, FD_LIMIT);
    let clients: Vec<TcpStream> = (0..CLIENTS).map(|_| server.connect()).collect();
    #[cfg(target_os = "linux")]
    {
        wait_until_out_of_descriptors(&server);
        let pid = server.child.id();
        let before = cpu_time(pid);
        // A measuring window: there is nothing to wait for, only time to let pass.
        thread::sleep(Duration::from_secs(1));
        let used = cpu_time(pid) - before;
        assert!(
            used < Duration::from_millis(300),
            "{name} used {used:?} of CPU in 1 s while out of descriptors: it spins"
        );
    }
    // The first clients were accepted first: closing them frees descriptors for the rest.
    let rest = clients.into_iter().skip(30).collect();
    check(&server, rest);
}

/// The echo server, out of descriptors, rests its listener instead of spinning, and serves
/// the waiting clients as soon as descriptors are free again.
#[test]
#[cfg(unix)] // descriptor limits (RLIMIT_NOFILE) are a Unix notion
fn echo_server_survives_running_out_of_descriptors() {
    survives_running_out_of_descriptors("echo_server", |_, clients| {
        for mut client in clients {
            assert_eq!(exchange(&mut client, b"ping", 7), b"PING_SB");
        }
    });
}

/// The same for the chat server: afterwards the waiting clients get in, and two new ones can
/// talk.
#[test]
#[cfg(unix)] // descriptor limits (RLIMIT_NOFILE) are a Unix notion
fn chat_server_survives_running_out_of_descriptors() {
    survives_running_out_of_descriptors("chat_server", |server, mut clients| {
        // The last client waited in the listener's backlog; connected in this order, the
        // clients are accepted in this order, so `last` and `first` are both in the chat
        // before the server reads anything from `second`.
        let mut last = BufReader::new(clients.pop().unwrap());
        let mut first = member(server);
        let mut second = member(server);
        say(&mut second, b"hello from second\n");
        assert_eq!(hear(&mut first), b"hello from second\n");
        assert_eq!(hear(&mut last), b"hello from second\n");
        say(&mut first, b"and from first\n");
        assert_eq!(hear(&mut second), b"and from first\n");
    });
}

// ---------------------------------------------------------------------------------------
// The chat server
// ---------------------------------------------------------------------------------------

type Member = BufReader<TcpStream>;

fn member(server: &Server) -> Member {
    BufReader::with_capacity(256 * 1024, server.connect())
}

fn say(member: &mut Member, line: &[u8]) {
    member.get_mut().write_all(line).unwrap();
}

/// The next line `member` receives, with its `\n`.
fn hear(member: &mut Member) -> Vec<u8> {
    let mut line = Vec::new();
    member
        .read_until(b'\n', &mut line)
        .unwrap_or_else(|err| panic!("no line came: {err}"));
    assert!(line.ends_with(b"\n"), "the connection ended: {line:?}");
    line
}

/// Connects a new member and announces it; once every earlier member has heard the
/// announcement, the server has accepted the new one and is done with the announcement, so
/// no member joining later can hear it (nothing else tells). The first member has nobody to
/// tell, and says nothing: it is accepted before anyone who connects after it.
fn join(server: &Server, earlier: &mut [&mut Member], name: &str) -> Member {
    let mut new = member(server);
    if earlier.is_empty() {
        return new;
    }
    let announcement = format!("{name} joined\n");
    say(&mut new, announcement.as_bytes());
    for member in earlier {
        assert_eq!(hear(member), announcement.as_bytes());
    }
    new
}

#[test]
fn chat_relays_each_line_verbatim_to_the_others_only() {
    let server = Server::start("chat_server", &[]);
    let mut a = join(&server, &mut [], "a");
    let mut b = join(&server, &mut [&mut a], "b");
    let mut c = join(&server, &mut [&mut a, &mut b], "c");

    // A line in two pieces, with bytes that are not UTF-8 and a `\r`: relayed whole, as is.
    say(&mut a, b"par");
    say(&mut a, b"tial \xff\xfe\r\n");
    assert_eq!(hear(&mut b), b"partial \xff\xfe\r\n");
    assert_eq!(hear(&mut c), b"partial \xff\xfe\r\n");
    // Several lines in one write, and an empty one.
    say(&mut b, b"one\n\nthree\n");
    for line in [&b"one\n"[..], b"\n", b"three\n"] {
        assert_eq!(hear(&mut a), line);
        assert_eq!(hear(&mut c), line);
    }
    // Nobody hears their own lines: the next thing `a` hears is `c`'s, not its own `partial`
    // (and `b`'s next is `c`'s, not `one`).
    say(&mut c, b"from c\n");
    assert_eq!(hear(&mut a), b"from c\n");
    assert_eq!(hear(&mut b), b"from c\n");
}

/// `slow` does not read while 16 MiB are relayed to it: `fast` gets every line meanwhile,
/// with never more than 5 s between two, `slow` loses nothing, and gets it all, in order,
/// when it reads at last.
#[test]
fn chat_a_client_that_does_not_read_delays_nobody_and_loses_nothing() {
    const LINES: usize = 16 * 1024; // of 1 KiB: 16 MiB
    let server = Server::start("chat_server", &[]);
    let mut sender = join(&server, &mut [], "sender");
    let mut slow = join(&server, &mut [&mut sender], "slow");
    let mut fast = join(&server, &mut [&mut sender, &mut slow], "fast");

    let mut writer = sender.get_ref().try_clone().unwrap();
    let sending = thread::spawn(move || {
        for chunk in 0..LINES / 64 {
            let mut lines = Vec::with_capacity(64 * 1024);
            for i in chunk * 64..(chunk + 1) * 64 {
                lines.extend_from_slice(&numbered_line(i));
            }
            writer.write_all(&lines).unwrap();
        }
        writer.write_all(b"sender done\n").unwrap();
    });
    // `fast` keeps getting its lines while `slow` reads nothing.
    fast.get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for i in 0..LINES {
        assert_eq!(hear(&mut fast), numbered_line(i), "line {i}");
    }
    assert_eq!(hear(&mut fast), b"sender done\n");
    sending.join().unwrap();
    // And the others still talk promptly.
    sender
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let start = Instant::now();
    say(&mut fast, b"fast says hi\n");
    assert_eq!(hear(&mut sender), b"fast says hi\n");
    assert!(start.elapsed() < Duration::from_secs(5));

    // Now `slow` reads: everything, in order.
    for i in 0..LINES {
        assert_eq!(hear(&mut slow), numbered_line(i), "line {i}");
    }
    assert_eq!(hear(&mut slow), b"sender done\n");
    assert_eq!(hear(&mut slow), b"fast says hi\n");
}

/// Line `i` of the big relay: its number, then letters up to 1 KiB with the `\n`.
fn numbered_line(i: usize) -> Vec<u8> {
    let mut line = format!("{i:08} ").into_bytes();
    line.extend((line.len()..1023).map(|j| b'a' + ((i + j) % 26) as u8));
    line.push(b'\n');
    line
}

/// A client owed more than 64 MiB is disconnected; the others get everything. The sender
/// keeps pace with `reader` (at most two rounds of 8 MiB ahead), so that only `stuck` falls
/// that far behind: the server never holds a sender back, and a reader slower than its
/// sender by 64 MiB would be disconnected too.
#[test]
fn chat_disconnects_a_client_owed_more_than_64_mib() {
    const LINES: usize = 96 * 1024; // of 1 KiB: 96 MiB
    const ROUND: usize = 8 * 1024; // 8 MiB
    let server = Server::start("chat_server", &[]);
    let mut sender = join(&server, &mut [], "sender");
    let mut stuck = join(&server, &mut [&mut sender], "stuck");
    let mut reader = join(&server, &mut [&mut sender, &mut stuck], "reader");

    let (rounds_read, round_read) = mpsc::channel();
    let reading = thread::spawn(move || {
        let mut line = Vec::new();
        for i in 0..LINES {
            line.clear();
            reader.read_until(b'\n', &mut line).unwrap();
            assert_eq!(line, numbered_line(i % 64), "line {i}");
            if (i + 1) % ROUND == 0 {
                let _ = rounds_read.send(());
            }
        }
        assert_eq!(hear(&mut reader), b"sender done\n");
    });
    let block: Vec<u8> = (0..64).flat_map(numbered_line).collect();
    for round in 0..LINES / ROUND {
        for _ in 0..ROUND / 64 {
            say(&mut sender, &block);
        }
        if round > 0 {
            round_read
                .recv_timeout(Duration::from_secs(30))
                .expect("the reader stopped getting lines");
        }
    }
    say(&mut sender, b"sender done\n");
    reading.join().unwrap();

    // `stuck` gets what was on its way when it was dropped (no more than the 64 MiB it
    // was owed and what the kernel buffers held), then the end of the connection.
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match stuck.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("after {got} bytes: {err}"),
        }
    }
    assert!(
        got < LINES * 1024,
        "the client got all {got} bytes: it was not disconnected"
    );
}

/// A client that vanishes (with unread lines, in the middle of a line of its own) is
/// dropped, its unfinished line with it; the others go on, and newcomers get in.
#[test]
fn chat_a_vanishing_client_disturbs_nobody() {
    let server = Server::start("chat_server", &[]);
    let mut a = join(&server, &mut [], "a");
    let mut b = join(&server, &mut [&mut a], "b");
    let mut c = join(&server, &mut [&mut a, &mut b], "c");
    say(&mut a, b"you will not read this, c\n");
    assert_eq!(hear(&mut b), b"you will not read this, c\n");
    say(&mut c, b"half a li");
    drop(c);
    say(&mut a, b"after c\n");
    assert_eq!(hear(&mut b), b"after c\n");
    let mut d = join(&server, &mut [&mut a, &mut b], "d");
    say(&mut d, b"hi from d\n");
    assert_eq!(hear(&mut a), b"hi from d\n");
    assert_eq!(hear(&mut b), b"hi from d\n");
}

/// A client sending a line longer than 1 MiB is disconnected; the others hear none of it.
#[test]
fn chat_disconnects_a_client_with_an_endless_line() {
    let server = Server::start("chat_server", &[]);
    let mut a = join(&server, &mut [], "a");
    let mut endless = join(&server, &mut [&mut a], "endless");
    // The server may close the connection before it is all sent: that is the point.
    let _ = endless.get_mut().write_all(&vec![b'x'; 2 << 20]);
    let mut rest = Vec::new();
    match endless.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "{} bytes relayed", rest.len()),
        Err(err) => assert_eq!(err.kind(), io::ErrorKind::ConnectionReset),
    }
    let mut b = join(&server, &mut [&mut a], "b");
    say(&mut b, b"still here?\n");
    assert_eq!(hear(&mut a), b"still here?\n");
}

// ---------------------------------------------------------------------------------------
// communicate
// ---------------------------------------------------------------------------------------

/// `out 1` … `out N`, each with its `\n`: what the child writes to stdout (and, with `err`,
/// to stderr).
#[cfg(unix)]
fn child_lines_bytes(lines: usize) -> usize {
    (1..=lines).map(|i| format!("out {i}\n").len()).sum()
}

/// Over 64 KiB on each pipe (more than a pipe holds) and 1 MiB fed to stdin: a parent that
/// read one pipe to its end before the other, or fed stdin first, would deadlock.
#[test]
#[cfg(unix)] // Windows selectors take sockets only: no pipes (see the Windows test below)
fn communicate_gathers_stdout_and_stderr_while_feeding_stdin() {
    const LINES: usize = 100_000;
    const INPUT: usize = 1 << 20;
    let output = Command::new(example_binary("communicate"))
        .args(["--lines", &LINES.to_string()])
        .args(["--input-bytes", &INPUT.to_string(), "--timeout", "60"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{:?}: {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = child_lines_bytes(LINES);
    // The input is lines of 64 bytes, copied to stdout after the child's own.
    let expected = format!(
        "stdin: {INPUT} bytes written\n\
         stdout: {} bytes, {} lines\n\
         stderr: {bytes} bytes, {LINES} lines\n\
         child: exit status: 0\n",
        bytes + INPUT,
        LINES + INPUT / 64,
    );
    assert_eq!(stdout, expected);
}

#[test]
#[cfg(unix)] // Windows selectors take sockets only: no pipes (see the Windows test below)
fn communicate_without_input_closes_stdin_at_once() {
    let output = Command::new(example_binary("communicate"))
        .args(["--lines", "3"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let bytes = child_lines_bytes(3);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!(
            "stdin: 0 bytes written\nstdout: {bytes} bytes, 3 lines\n\
             stderr: {bytes} bytes, 3 lines\nchild: exit status: 0\n"
        )
    );
}

/// A child that keeps its pipes open and never ends: the timeout strikes, the child is
/// killed, and what came so far is reported.
#[test]
#[cfg(unix)] // Windows selectors take sockets only: no pipes (see the Windows test below)
fn communicate_gives_up_at_its_timeout() {
    let start = Instant::now();
    let output = Command::new(example_binary("communicate"))
        .args(["--lines", "10", "--hang", "--timeout", "1"])
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(stderr.contains("stdout: 61 bytes, 10 lines"), "{stderr}");
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
#[cfg(windows)]
fn communicate_explains_that_pipes_cannot_be_selected_on_windows() {
    let output = Command::new(example_binary("communicate"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("sockets only"), "{stdout}");
}

// ---------------------------------------------------------------------------------------
// waker_worker
// ---------------------------------------------------------------------------------------

/// Adler-32, as the workers compute it.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn expected_reply(line: &[u8]) -> Vec<u8> {
    format!("{} {:08x}\n", line.len(), adler32(line)).into_bytes()
}

#[test]
fn waker_worker_replies_with_length_and_adler32() {
    assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398); // the checksum's known value
    let server = Server::start("waker_worker", &[]);
    let mut client = BufReader::new(server.connect());
    client
        .get_mut()
        .write_all(b"hello\nWikipedia\n\nno newline at the end")
        .unwrap();
    client.get_ref().shutdown(Shutdown::Write).unwrap();
    let mut replies = String::new();
    client.read_to_string(&mut replies).unwrap();
    assert_eq!(replies, "5 062c0215\n9 11e60398\n0 00000001\n21 552e079d\n");
    assert_eq!(expected_reply(b"no newline at the end"), b"21 552e079d\n");
}

/// Several clients at once, each sending 200 lines in one go, through workers that finish
/// out of order (`--jitter-ms`): every client gets the right reply to each of its lines, in
/// the order of its lines.
#[test]
fn waker_worker_answers_several_clients_in_order() {
    let server = Server::start("waker_worker", &["--workers", "3", "--jitter-ms", "3"]);
    let clients: Vec<_> = (0..6)
        .map(|k| {
            let mut stream = server.connect();
            thread::spawn(move || {
                let lines: Vec<Vec<u8>> = (0..200)
                    .map(|i| format!("client {k} line {i} {}", "z".repeat((i * 7 + k) % 300)))
                    .map(String::into_bytes)
                    .collect();
                let all: Vec<u8> = lines
                    .iter()
                    .flat_map(|l| [&l[..], &b"\n"[..]].concat())
                    .collect();
                stream.write_all(&all).unwrap();
                let mut replies = BufReader::new(stream);
                for (i, line) in lines.iter().enumerate() {
                    let mut reply = Vec::new();
                    replies.read_until(b'\n', &mut reply).unwrap();
                    assert_eq!(reply, expected_reply(line), "client {k}, line {i}");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}

/// More lines at once than the server lets a client have at the workers (1,024): it stops
/// reading from the client until replies come back, then goes on; nothing is lost.
#[test]
fn waker_worker_takes_a_flood_of_lines() {
    const LINES: usize = 5_000;
    let server = Server::start("waker_worker", &["--workers", "2", "--jitter-ms", "1"]);
    let mut stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let sending = thread::spawn(move || {
        let all: Vec<u8> = (0..LINES)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        writer.write_all(&all).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut replies = Vec::new();
    stream.read_to_end(&mut replies).unwrap();
    sending.join().unwrap();
    let expected: Vec<u8> = (0..LINES)
        .flat_map(|i| expected_reply(i.to_string().as_bytes()))
        .collect();
    assert_eq!(replies.len(), expected.len());
    assert!(replies == expected, "a reply is wrong or out of order");
}

// ---------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------

#[test]
fn bad_arguments_are_refused() {
    for (name, args) in [
        ("chat_server", &["--port", "nope"][..]),
        ("chat_server", &["--what"]),
        ("waker_worker", &["--workers", "0"]),
        ("waker_worker", &["--port"]),
        ("communicate", &["--timeout", "soon"]),
        ("communicate", &["--lines"]),
    ] {
        assert_refuses_arguments(name, args);
    }
}
