//! Python's `subprocess.Popen.communicate` on Unix, done the way CPython does it: one
//! selector over the child's stdin, stdout and stderr pipes, with an overall timeout.
//!
//! Reading a child's stdout to the end and then its stderr deadlocks as soon as the child
//! writes more to stderr than the pipe holds (64 KiB on Linux): the child waits for the
//! parent to read stderr, and the parent waits for stdout to end. Feeding its stdin first
//! deadlocks the same way. A selector waits for whichever pipe is ready: each readable pipe
//! gets one `read` (32 KiB at most), the writable stdin one `write` of at most 512 bytes
//! (POSIX's smallest `PIPE_BUF`: a pipe reported writable has room for that much, so the
//! write does not block although the pipe is in blocking mode), and a pipe is unregistered
//! and closed once it is finished, until none is left or the time is up.
//!
//! The child is this program again, run with `--child`: it writes `--lines` lines to stdout
//! and as many to stderr, alternately, then copies its stdin to stdout (and with `--hang`
//! sleeps, keeping its pipes open, to show the timeout). Then a summary is printed:
//!
//! ```text
//! cargo run --example communicate -- --lines 100000 --input-bytes 1048576 --timeout 10
//! stdin: 1048576 bytes written
//! stdout: 2037471 bytes, 116384 lines
//! stderr: 988895 bytes, 100000 lines
//! child: exit status: 0
//! ```
//!
//! On timeout the child is killed, what was read so far is reported on stderr, and the exit
//! status is 1.
//!
//! **Windows**: its selectors take sockets only, so pipes cannot be registered; the example
//! says so and exits (CPython's `communicate` uses a thread per pipe there).

use std::time::Duration;

const USAGE: &str = "usage: communicate [--timeout SECS] [--lines N] [--input-bytes N] [--hang]
  --timeout SECS    give up (and kill the child) after this long (default 10)
  --lines N         lines the child writes to stdout and to stderr (default 100000)
  --input-bytes N   bytes fed to the child's stdin, which it copies to stdout (default 0)
  --hang            the child keeps its pipes open and sleeps: the timeout strikes";

#[cfg_attr(not(unix), allow(dead_code))]
pub struct Options {
    timeout: Duration,
    lines: u64,
    input_bytes: usize,
    hang: bool,
    /// Run as the child (what the parent starts).
    child: bool,
}

fn options_from_args() -> Result<Options, String> {
    let mut options = Options {
        timeout: Duration::from_secs(10),
        lines: 100_000,
        input_bytes: 0,
        hang: false,
        child: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--timeout" => {
                let text = value("--timeout")?;
                options.timeout = text
                    .parse()
                    .ok()
                    .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                    .ok_or(format!("invalid timeout {text:?}"))?;
            }
            "--lines" => {
                let text = value("--lines")?;
                options.lines = text
                    .parse()
                    .map_err(|_| format!("invalid --lines {text:?}"))?;
            }
            "--input-bytes" => {
                let text = value("--input-bytes")?;
                options.input_bytes = text
                    .parse()
                    .map_err(|_| format!("invalid --input-bytes {text:?}"))?;
            }
            "--hang" => options.hang = true,
            "--child" => options.child = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(options)
}

fn main() {
    let options = options_from_args().unwrap_or_else(|message| {
        eprintln!("{message}\n{USAGE}");
        std::process::exit(2);
    });
    #[cfg(unix)]
    {
        let result = if options.child {
            unix::child(&options)
        } else {
            unix::parent(&options)
        };
        if let Err(err) = result {
            eprintln!("communicate: {err}");
            std::process::exit(1);
        }
    }
    #[cfg(not(unix))]
    {
        let _ = options;
        println!(
            "communicate: Windows selectors take sockets only, so a child's pipes cannot be \
             selected here (CPython's communicate uses one thread per pipe on Windows). \
             Nothing to do."
        );
    }
}

#[cfg(unix)]
mod unix {
    use super::Options;
    use ioselectors::{AsSource, DefaultSelector, EVENT_READ, EVENT_WRITE};
    use std::io::{self, BufWriter, Read, Write};
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    /// The most written to stdin at a time: POSIX's smallest `PIPE_BUF`.
    const PIPE_BUF: usize = 512;

    /// Each key's data: which of the child's pipes it is.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Pipe {
        Stdin,
        Stdout,
        Stderr,
    }

    /// What `communicate` gathered (all of it, or what it had when the time ran out).
    #[derive(Default)]
    struct Gathered {
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        /// How much of the input the child took.
        written: usize,
    }

    /// The child: `lines` lines on each of stdout and stderr, then stdin copied to stdout.
    pub fn child(options: &Options) -> io::Result<()> {
        let mut stdout = BufWriter::new(io::stdout().lock());
        let mut stderr = BufWriter::new(io::stderr().lock());
        for i in 1..=options.lines {
            writeln!(stdout, "out {i}")?;
            writeln!(stderr, "err {i}")?;
        }
        stderr.flush()?;
        io::copy(&mut io::stdin().lock(), &mut stdout)?;
        stdout.flush()?;
        if options.hang {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
        Ok(())
    }

    /// Starts the child, communicates with it and prints the summary.
    pub fn parent(options: &Options) -> io::Result<()> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["--child", "--lines", &options.lines.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if options.hang {
            command.arg("--hang");
        }
        let mut child = command.spawn()?;
        let input = input(options.input_bytes);
        let deadline = Instant::now() + options.timeout;
        match communicate(&mut child, &input, deadline)? {
            Ok(gathered) => {
                let status = child.wait()?;
                println!("stdin: {} bytes written", gathered.written);
                println!("stdout: {}", count(&gathered.stdout));
                println!("stderr: {}", count(&gathered.stderr));
                println!("child: {status}");
                Ok(())
            }
            // Python: `TimeoutExpired`, with the output so far; `run()` then kills the child.
            Err(gathered) => {
                child.kill()?;
                child.wait()?;
                eprintln!(
                    "timed out after {:?}: killed the child; so far stdin: {} bytes written, \
                     stdout: {}, stderr: {}",
                    options.timeout,
                    gathered.written,
                    count(&gathered.stdout),
                    count(&gathered.stderr)
                );
                std::process::exit(1);
            }
        }
    }

    /// `n` bytes of input: lines of 63 letters and a `\n`, the last one maybe cut short.
    fn input(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| match i % 64 {
                63 => b'\n',
                column => b'a' + (column % 26) as u8,
            })
            .collect()
    }

    fn count(bytes: &[u8]) -> String {
        let lines = bytes.iter().filter(|&&byte| byte == b'\n').count();
        format!("{} bytes, {lines} lines", bytes.len())
    }

    /// Python's `Popen._communicate`: feeds `input` to the child's stdin and gathers its
    /// stdout and stderr until all three pipes are finished (`Ok`), or `deadline` passes
    /// (`Err`, with what was gathered so far). Takes the pipes out of `child`.
    fn communicate(
        child: &mut Child,
        input: &[u8],
        deadline: Instant,
    ) -> io::Result<Result<Gathered, Gathered>> {
        let mut stdin = child.stdin.take();
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        if input.is_empty() {
            // Nothing to send: close stdin at once, so the child sees its end.
            stdin = None;
        }
        let mut sel = DefaultSelector::new()?;
        if let Some(pipe) = &stdin {
            sel.register(pipe, EVENT_WRITE, Pipe::Stdin)?;
        }
        if let Some(pipe) = &stdout {
            sel.register(pipe, EVENT_READ, Pipe::Stdout)?;
        }
        if let Some(pipe) = &stderr {
            sel.register(pipe, EVENT_READ, Pipe::Stderr)?;
        }
        let mut gathered = Gathered::default();
        // Python: `while selector.get_map():`
        while !sel.get_map()?.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Err(gathered));
            }
            for (key, _events) in sel.select(Some(left))? {
                match key.data {
                    Pipe::Stdin => feed(&mut sel, &mut stdin, input, &mut gathered.written)?,
                    Pipe::Stdout => read_once(&mut sel, &mut stdout, &mut gathered.stdout)?,
                    Pipe::Stderr => read_once(&mut sel, &mut stderr, &mut gathered.stderr)?,
                }
            }
        }
        Ok(Ok(gathered))
    }

    /// Stdin is writable: writes the next piece of `input`. Once all of it is written, or
    /// the child has closed its end (`BrokenPipe`, which Python ignores too), unregisters the
    /// pipe and closes it.
    fn feed<W: Write + AsSource>(
        sel: &mut DefaultSelector<Pipe>,
        pipe: &mut Option<W>,
        input: &[u8],
        written: &mut usize,
    ) -> io::Result<()> {
        let Some(writer) = pipe else { return Ok(()) };
        let end = input.len().min(*written + PIPE_BUF);
        let finished = match writer.write(&input[*written..end]) {
            Ok(n) => {
                *written += n;
                *written == input.len()
            }
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => true,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => false,
            Err(err) => return Err(err),
        };
        if finished {
            sel.unregister(&*writer)?;
            *pipe = None; // closes it
        }
        Ok(())
    }

    /// An output pipe is readable: one read (Python: `os.read(key.fd, 32768)`). At its end,
    /// unregisters the pipe and closes it.
    fn read_once<R: Read + AsSource>(
        sel: &mut DefaultSelector<Pipe>,
        pipe: &mut Option<R>,
        sink: &mut Vec<u8>,
    ) -> io::Result<()> {
        let Some(reader) = pipe else { return Ok(()) };
        let mut buf = [0u8; 32 * 1024];
        match reader.read(&mut buf) {
            Ok(0) => {
                sel.unregister(&*reader)?;
                *pipe = None; // closes it
            }
            Ok(n) => sink.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
        Ok(())
    }
}
