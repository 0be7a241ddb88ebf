//! Under strace: a steady-state `select()` loop on `DefaultSelector` makes exactly one
//! `epoll_wait`-family syscall per call, and nothing else. The test re-runs itself as a
//! child under `strace -f`, and reads the child's trace between two marker syscalls.
#![cfg(any(target_os = "linux", target_os = "android"))]

mod common;
use common::*;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

const CHILD: &str = "IOSELECTORS_STRACE_CHILD";
const CALLS: usize = 200;

/// The loop being traced, bracketed by `getppid()` markers (a syscall nothing else makes).
fn traced_loop() {
    let mut sel = DefaultSelector::<usize>::new().unwrap();
    let pairs: Vec<(Stream, Stream)> = (0..100).map(|_| pair()).collect();
    for (i, (rd, _)) in pairs.iter().enumerate() {
        sel.register(rd, EVENT_READ, i).unwrap();
    }
    (&pairs[7].1).write_all(b"x").unwrap();
    let mut ready = Vec::new();
    sel.select_into(Some(Duration::ZERO), &mut ready).unwrap(); // warm-up
                                                                // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() };
    for _ in 0..CALLS / 2 {
        sel.select_into(Some(Duration::ZERO), &mut ready).unwrap();
        sel.select_into(None, &mut ready).unwrap();
    }
    // SAFETY: as above.
    unsafe { libc::getppid() };
    assert_eq!(ready.len(), 1);
}

#[test]
fn steady_state_select_is_one_syscall() {
    if std::env::var_os(CHILD).is_some() {
        return traced_loop();
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
        .args([
            "--exact",
            "steady_state_select_is_one_syscall",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .status()
        .unwrap();
    assert!(status.success());
    let trace = std::fs::read_to_string(trace.path()).unwrap();

    // Lines look like "1234 epoll_pwait(3, ...) = 1"; keep the marker thread's, between markers.
    let markers: Vec<(usize, &str)> = trace
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains(" getppid("))
        .collect();
    assert_eq!(markers.len(), 2, "markers not found in:\n{trace}");
    let tid = markers[0].1.split_whitespace().next().unwrap();
    let syscalls: Vec<&str> = trace.lines().collect::<Vec<_>>()[markers[0].0 + 1..markers[1].0]
        .iter()
        .filter(|line| line.split_whitespace().next() == Some(tid))
        .map(|line| {
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .split('(')
                .next()
                .unwrap()
        })
        .collect();
    let first = &syscalls[..syscalls.len().min(12)];
    assert_eq!(
        syscalls.len(),
        CALLS,
        "{} syscalls for {CALLS} selects: {first:?}…",
        syscalls.len()
    );
    assert!(
        syscalls
            .iter()
            .all(|name| ["epoll_wait", "epoll_pwait", "epoll_pwait2"].contains(name)),
        "{first:?}…"
    );
}
