//! The runner: seeded sequences of operations, each run on a fresh world, the first failing
//! one shrunk by delta debugging and reported with its seed.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Mutex;

pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

/// How often each interesting case came up in a target's runs (printed with its result), so
/// that a fuzzer that stopped reaching a case shows it.
pub(crate) static COVERAGE: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

pub(crate) fn hit(case: &'static str) {
    *COVERAGE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(case)
        .or_default() += 1;
}

// ---- the runner: seeded sequences, shrunk on failure

/// splitmix64: small, fast, and good enough to pick operations.
#[derive(Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    /// A number in `0..100`, to pick an operation by weight.
    pub(crate) fn percent(&mut self) -> u64 {
        self.next() % 100
    }
}

pub(crate) fn env_number(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
}

/// Runs `steps` operations in sequences of `LENGTH`, each generated from the seed and run
/// by `run` on a fresh selector and world; shrinks the first failing sequence and panics
/// with it.
pub(crate) fn fuzz<Op: Clone + Debug>(
    target: &str,
    generate: fn(&mut Rng) -> Op,
    run: impl Fn(&[Op]) -> Result<(), String>,
) {
    const LENGTH: usize = 80;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let steps = env_number("IOSELECTORS_FUZZ_STEPS").unwrap_or(20_000) as usize;
    COVERAGE.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let seed = env_number("IOSELECTORS_FUZZ_SEED").unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        now.as_nanos() as u64
    });
    let mut rng = Rng(seed);
    let cases = (steps + LENGTH - 1) / LENGTH;
    for case in 0..cases {
        let ops: Vec<Op> = (0..LENGTH).map(|_| generate(&mut rng)).collect();
        if let Err(first) = attempt(&run, &ops) {
            // Quiet while shrinking: every attempt that still fails may panic.
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let (ops, message) = shrink(&run, ops, first);
            std::panic::set_hook(hook);
            panic!(
                "{target}: {message}\n  after this minimal sequence of {} operations \
                 (case {case} of seed {seed}; replay with IOSELECTORS_FUZZ_SEED={seed}):\n{ops:#?}",
                ops.len()
            );
        }
    }
    let coverage = std::mem::take(&mut *COVERAGE.lock().unwrap_or_else(|e| e.into_inner()));
    println!(
        "{target}: {} operations, seed {seed}: all as the model says; {coverage:?}",
        cases * LENGTH
    );
}

/// One run, with a panic turned into a failure.
pub(crate) fn attempt<Op>(
    run: &impl Fn(&[Op]) -> Result<(), String>,
    ops: &[Op],
) -> Result<(), String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(ops))) {
        Ok(result) => result,
        Err(panic) => Err(match panic.downcast_ref::<String>() {
            Some(message) => format!("panicked: {message}"),
            None => match panic.downcast_ref::<&str>() {
                Some(message) => format!("panicked: {message}"),
                None => "panicked".to_string(),
            },
        }),
    }
}

/// Delta debugging: drops ever smaller chunks of the sequence while it still fails.
pub(crate) fn shrink<Op: Clone>(
    run: &impl Fn(&[Op]) -> Result<(), String>,
    mut ops: Vec<Op>,
    mut message: String,
) -> (Vec<Op>, String) {
    let mut chunk = ops.len() / 2;
    let mut runs = 0;
    while chunk >= 1 && runs < 5_000 {
        let mut start = 0;
        let mut removed_any = false;
        while start < ops.len() && runs < 5_000 {
            let end = (start + chunk).min(ops.len());
            let candidate: Vec<Op> = ops[..start].iter().chain(&ops[end..]).cloned().collect();
            runs += 1;
            match attempt(run, &candidate) {
                Err(still) => {
                    ops = candidate;
                    message = still;
                    removed_any = true;
                }
                Ok(()) => start += chunk,
            }
        }
        if !removed_any {
            chunk /= 2;
        }
    }
    (ops, message)
}
