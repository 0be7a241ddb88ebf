//! `cargo bench --bench selectors`: ioselectors against raw epoll, `polling`, `mio` and CPython,
//! on libevent-style dispatch (of the selectors, and of the `select` module's primitives against
//! raw epoll_wait, poll and select), register/modify/unregister churn and a loopback echo server
//! (round trips per second, and the server's own cost per round trip: timed with client and
//! server taking turns, and counted in instructions by callgrind when valgrind is installed).
//!
//! Each workload runs every contender in the same process, interleaved round by round, and
//! reports medians and ratios (never absolute targets). CPython's numbers come from
//! `benches/selectors/python_selectors.py`, run as a subprocess in the same run. The results, the targets
//! (met / not met) and a log-log plot of dispatch cost against N are written to
//! `docs/benchmarks.md` and `docs/dispatch.svg`.
//!
//! `cargo bench --bench selectors -- --quick` is a short smoke run; it writes its report
//! under `target/bench/` instead of `docs/`. `-- --echo-only ioselectors|mio|epoll-et` runs one
//! echo server (1,000 connections, 4 KiB) for 3 s, to profile it with strace or perf;
//! `-- --echo-turns mio|epoll-et|ioselectors C SIZE TURNS` is what callgrind runs;
//! `-- --dispatch-only` prints the dispatch table alone, `-- --echo-table-only` the echo
//! table, `-- --registry-only` the cross-thread register + unregister figures (ours against
//! mio's `Registry`), `-- --threaded-only` the threaded echo table (acceptor + two I/O
//! threads, ours against mio's same design), and `-- --socketserver-only` the socketserver's
//! shutdown time and idle wake-ups.

#[cfg(target_os = "linux")]
mod churn;
#[cfg(target_os = "linux")]
mod dispatch;
#[cfg(target_os = "linux")]
mod echo;
#[cfg(target_os = "linux")]
mod echo_cost;
#[cfg(target_os = "linux")]
mod measure;
#[cfg(target_os = "linux")]
mod memory;
#[cfg(target_os = "linux")]
mod primitives;
#[cfg(target_os = "linux")]
mod python;
#[cfg(target_os = "linux")]
mod registry;
#[cfg(target_os = "linux")]
mod report;
#[cfg(target_os = "linux")]
mod socketserver;
#[cfg(target_os = "linux")]
mod threaded;

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

#[cfg(target_os = "linux")]
fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    if let Some(echo) = std::env::args()
        .skip_while(|arg| arg != "--echo-only")
        .nth(1)
    {
        // Profiling aid: `--echo-only ioselectors|mio|epoll-et` serves C=1000 4 KiB echo for 3 s.
        return echo::profile(&echo);
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|arg| arg == "--echo-turns") {
        // What the echo cost measurement runs under callgrind: `--echo-turns SERVER C SIZE TURNS`.
        let number = |k: usize| {
            args[i + k]
                .parse()
                .expect("--echo-turns SERVER C SIZE TURNS")
        };
        return echo_cost::turns_for_callgrind(&args[i + 1], number(2), number(3), number(4));
    }
    let plan = measure::Plan::new(quick);
    measure::raise_fd_limit();
    if args.iter().any(|arg| arg == "--dispatch-only") {
        // Tuning aid: the dispatch table alone, on stdout.
        dispatch::run(&plan);
        return;
    }
    if args.iter().any(|arg| arg == "--echo-table-only") {
        // Tuning aid: the echo table alone, on stdout.
        echo::run(&plan);
        return;
    }
    if args.iter().any(|arg| arg == "--registry-only") {
        // Tuning aid: the cross-thread registration figures alone, on stdout.
        registry::run(&plan);
        return;
    }
    if args.iter().any(|arg| arg == "--socketserver-only") {
        // Tuning aid: the socketserver's shutdown figures alone, on stdout.
        socketserver::run(&plan);
        return;
    }
    if args.iter().any(|arg| arg == "--threaded-only") {
        // Tuning aid: the threaded echo table alone, on stdout.
        threaded::run(&plan);
        return;
    }

    println!(
        "ioselectors benchmarks ({} run)\n",
        if quick { "quick" } else { "full" }
    );
    let python = python::run(quick);
    let dispatch = dispatch::run(&plan);
    let primitives = primitives::run(&plan);
    let churn = churn::run(&plan);
    let registry = registry::run(&plan);
    let echo = echo::run(&plan);
    let threaded = threaded::run(&plan);
    let socketserver = socketserver::run(&plan);
    let echo_cost = echo_cost::run(&plan);
    let memory = memory::run();

    let report = report::Report {
        quick,
        dispatch,
        primitives,
        churn,
        registry,
        echo,
        threaded,
        socketserver,
        echo_cost,
        memory,
        python,
    };
    report.print_and_write();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("the benchmarks compare against raw epoll: they run on Linux only");
}
