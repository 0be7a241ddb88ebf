//! Interleaved timing: every contender runs one batch per round, in turn, and the median of
//! its per-call costs over the rounds is what counts.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long to measure.
pub struct Plan {
    pub quick: bool,
    /// Rounds per comparison (each contender runs one batch per round).
    pub rounds: usize,
    /// Target duration of one batch.
    pub batch: Duration,
    /// How long each echo round runs.
    pub echo_round: Duration,
    pub echo_rounds: usize,
    /// How long each threaded echo round runs, and how many there are: with three busy
    /// threads on two cores a round's rate varies by ±15 %, so more, shorter rounds than the
    /// echo section's (four cases of two servers in about a minute).
    pub threaded_round: Duration,
    pub threaded_rounds: usize,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                rounds: 5,
                batch: Duration::from_millis(2),
                echo_round: Duration::from_millis(150),
                echo_rounds: 1,
                threaded_round: Duration::from_millis(150),
                threaded_rounds: 1,
            }
        } else {
            Plan {
                quick,
                rounds: 31,
                batch: Duration::from_millis(10),
                echo_round: Duration::from_secs(1),
                echo_rounds: 9,
                threaded_round: Duration::from_millis(500),
                threaded_rounds: 11,
            }
        }
    }
}

/// Something measured: `run(iterations)` does the work that many times and returns the time
/// that counts (so a contender can leave preparation out of it).
pub struct Contender<'a> {
    pub name: &'static str,
    pub run: Box<dyn FnMut(u64) -> Duration + 'a>,
}

impl<'a> Contender<'a> {
    /// A contender whose whole loop is timed.
    /// Like `timed`, for a `wait` that returns what it found: the first call (in the untimed
    /// warm-up) must return `expected`. `wait` is called from this one place only, so the
    /// compiler inlines it into the timing loop whatever its size: a closure called from two
    /// places may stay out of line, and a call frame left around the syscall costs ~50 ns
    /// after it returns (see the notes in the report), which would time the harness, not the
    /// contender.
    pub fn checked<R: PartialEq + std::fmt::Debug + 'a>(
        name: &'static str,
        expected: R,
        mut wait: impl FnMut() -> R + 'a,
    ) -> Contender<'a> {
        let mut expected = Some(expected);
        Contender::timed(name, move || {
            let found = wait();
            if let Some(expected) = expected.take() {
                assert_eq!(found, expected, "{name}: wrong result");
            }
            consume(found);
        })
    }

    pub fn timed(name: &'static str, mut once: impl FnMut() + 'a) -> Contender<'a> {
        Contender {
            name,
            run: Box::new(move |iterations| {
                let start = Instant::now();
                for _ in 0..iterations {
                    once();
                }
                start.elapsed()
            }),
        }
    }
}

/// Median nanoseconds per call of each contender, in the given order.
pub fn compare(plan: &Plan, contenders: &mut [Contender<'_>]) -> Vec<f64> {
    // Calibrate: how many calls fill a batch, per contender.
    let iterations: Vec<u64> = contenders
        .iter_mut()
        .map(|c| {
            (c.run)(100); // warm-up
            let probe = (c.run)(1000).max(Duration::from_nanos(1));
            (plan.batch.as_nanos() as u64 * 1000 / probe.as_nanos() as u64).clamp(10, 10_000_000)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(plan.rounds); contenders.len()];
    for round in 0..plan.rounds {
        // Rotate the starting contender, so none always runs first (or last).
        for k in 0..contenders.len() {
            let i = (round + k) % contenders.len();
            let elapsed = (contenders[i].run)(iterations[i]);
            samples[i].push(elapsed.as_nanos() as f64 / iterations[i] as f64);
        }
    }
    samples.into_iter().map(median).collect()
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Keeps a value alive for the optimiser.
pub fn consume<T>(value: T) {
    black_box(value);
}

/// Raises RLIMIT_NOFILE (10,000 socket pairs need 20,000 fds and more): to 65,536 where
/// that is allowed (root), else the soft limit to the hard one.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            let wanted = limit.rlim_max.max(1 << 16);
            let raised = libc::rlimit {
                rlim_cur: wanted,
                rlim_max: wanted,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

/// 10,000 socket pairs, or as many as RLIMIT_NOFILE allows: the same rule as
/// `benches/selectors/python_selectors.py`, so both measure the same N.
pub fn largest_n() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    10_000.min((limit.rlim_cur as usize).saturating_sub(64) / 2)
}
