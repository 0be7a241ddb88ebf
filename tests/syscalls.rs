//! Under strace, on `DefaultSelector` (epoll): a steady-state `select()` is exactly one
//! `epoll_wait`-family syscall; a data-only `modify` makes none; an events-changing `modify`
//! is one `epoll_ctl` (with the `linux_5_11` feature, the wait is `epoll_pwait2`). The test re-runs itself as a child under `strace -f` and reads the
//! child's trace between marker syscalls.
// Linux only: strace, and the epoll path it checks.
#![cfg(any(target_os = "linux", target_os = "android"))]

mod common;
use common::*;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

const CHILD: &str = "IOSELECTORS_STRACE_CHILD";
const CALLS: usize = 200;

/// Separates the traced sections: `getppid()`, a syscall nothing else here makes.
fn marker() {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() };
}

fn traced_child() {
    let mut sel = DefaultSelector::<usize>::new().unwrap();
    let pairs: Vec<(Stream, Stream)> = (0..100).map(|_| pair()).collect();
    for (i, (rd, _)) in pairs.iter().enumerate() {
        sel.register(rd, EVENT_READ, i).unwrap();
    }
    (&pairs[7].1).write_all(b"x").unwrap();
    let mut ready = Vec::new();
    sel.select_into(Some(Duration::ZERO), &mut ready).unwrap(); // warm-up
    marker();
    for _ in 0..CALLS / 2 {
        sel.select_into(Some(Duration::ZERO), &mut ready).unwrap();
        sel.select_into(None, &mut ready).unwrap();
    }
    marker();
    sel.modify(&pairs[0].0, EVENT_READ, 1000).unwrap();
    marker();
    sel.modify(&pairs[0].0, EVENT_READ | EVENT_WRITE, 1000)
        .unwrap();
    marker();
    assert_eq!(ready.len(), 1);
}

/// The syscall names of the marker thread, section by section.
fn sections(trace: &str) -> Vec<Vec<&str>> {
    // Lines look like "1234 epoll_pwait(3, ...) = 1".
    let mut fields = trace.lines().map(|line| {
        let mut words = line.split_whitespace();
        let tid = words.next().unwrap_or("");
        let name = words.next().unwrap_or("").split('(').next().unwrap();
        (tid, name)
    });
    let tid = fields
        .by_ref()
        .find(|(_, name)| *name == "getppid")
        .expect("no marker in the trace")
        .0;
    let mut sections = vec![Vec::new()];
    for (_, name) in fields.filter(|(t, _)| *t == tid) {
        if name == "getppid" {
            sections.push(Vec::new());
        } else {
            sections.last_mut().unwrap().push(name);
        }
    }
    sections.pop(); // after the last marker
    sections
}

#[test]
fn syscalls_per_call() {
    if std::env::var_os(CHILD).is_some() {
        return traced_child();
    }
    if Command::new("strace").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install strace for this test"
        );
        eprintln!("strace not installed: not checked");
        return;
    }
    let trace = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(trace.path())
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "syscalls_per_call", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::null()) // its own harness report would be counted twice
        .status()
        .unwrap();
    assert!(status.success());
    let trace = std::fs::read_to_string(trace.path()).unwrap();
    let sections = sections(&trace);
    assert_eq!(sections.len(), 3, "{sections:?}");

    let selects = &sections[0];
    let first = &selects[..selects.len().min(12)];
    assert_eq!(
        selects.len(),
        CALLS,
        "{} syscalls for {CALLS} selects: {first:?}…",
        selects.len()
    );
    // With the `linux_5_11` feature, every wait is epoll_pwait2 (nanosecond timeouts).
    let waits: &[&str] = if cfg!(feature = "linux_5_11") {
        &["epoll_pwait2"]
    } else {
        &["epoll_wait", "epoll_pwait"]
    };
    assert!(
        selects.iter().all(|name| waits.contains(name)),
        "{first:?}…"
    );

    assert_eq!(sections[1], Vec::<&str>::new(), "data-only modify");
    assert_eq!(sections[2], vec!["epoll_ctl"], "events-changing modify");
}
