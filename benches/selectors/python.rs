//! CPython's numbers: `benches/selectors/python_selectors.py`, run as a subprocess in the same run.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

pub struct Python {
    pub version: String,
    rows: Vec<Value>,
}

pub fn run(quick: bool) -> Option<Python> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/bench/python.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut command = Command::new("python3");
    command
        .arg(root.join("benches/selectors/python_selectors.py"))
        .arg("--json")
        .arg(&out);
    if quick {
        command.arg("--quick");
    }
    println!("CPython (benches/selectors/python_selectors.py):");
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => {
            println!("CPython benchmark failed ({status}): no Python columns\n");
            return None;
        }
        Err(err) => {
            println!("python3 not run ({err}): no Python columns\n");
            return None;
        }
    }
    println!();
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    Some(Python {
        version: json["python"]
            .as_str()
            .unwrap_or("?")
            .split_whitespace()
            .next()
            .unwrap_or("?")
            .to_string(),
        rows: json["results"].as_array().cloned().unwrap_or_default(),
    })
}

impl Python {
    fn find(
        &self,
        workload: &str,
        implementation: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<&Value> {
        self.rows.iter().find(|row| {
            row["workload"] == workload && row["impl"] == implementation && matches(row)
        })
    }

    /// ns per `select(0)`.
    pub fn dispatch(&self, implementation: &str, n: usize, active: usize) -> Option<f64> {
        self.find("dispatch", implementation, |row| {
            row["n"] == n && row["active"] == active
        })?["ns"]
            .as_f64()
    }

    /// ns per non-blocking wait of one `select` primitive (`epoll().poll(0)`, `poll().poll(0)`,
    /// `select.select(rlist, [], [], 0)`).
    pub fn primitive(&self, implementation: &str, n: usize, active: usize) -> Option<f64> {
        self.find("primitives", implementation, |row| {
            row["n"] == n && row["active"] == active
        })?["ns"]
            .as_f64()
    }

    /// ns per register + modify + unregister.
    pub fn churn(&self, implementation: &str) -> Option<f64> {
        self.find("churn", implementation, |_| true)?["ns"].as_f64()
    }

    /// Round trips per second.
    pub fn echo(&self, implementation: &str, connections: usize, size: usize) -> Option<f64> {
        self.find("echo", implementation, |row| {
            row["connections"] == connections && row["size"] == size
        })?["round_trips_per_sec"]
            .as_f64()
    }

    /// The socketserver's idle `shutdown()`: median and slowest ms, and context switches per
    /// idle second.
    pub fn socketserver(&self) -> Option<(f64, f64, f64)> {
        let row = self.find("socketserver", "cpython", |_| true)?;
        Some((
            row["shutdown_ms"].as_f64()?,
            row["shutdown_max_ms"].as_f64()?,
            row["idle_wake_ups_per_sec"].as_f64()?,
        ))
    }
}
