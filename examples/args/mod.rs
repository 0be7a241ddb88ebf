//! The command line the example servers share: `--port PORT` (or `--port=PORT`), where the
//! Python programs they port have the port written in. `--port 0` picks a free one.
// Each example uses what it needs of this.
#![allow(dead_code)]

/// The port given on the command line, or `default`. Anything else prints a usage line and
/// exits with status 2, as command-line tools do.
pub fn port_from_args(program: &str, default: u16) -> u16 {
    let usage = format!("usage: {program} [--port PORT] (default {default}; 0 = any free port)");
    let parse = || -> Result<u16, String> {
        let mut port = default;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let value = if arg == "--port" {
                args.next().ok_or_else(|| usage.clone())?
            } else if let Some(value) = arg.strip_prefix("--port=") {
                value.to_owned()
            } else {
                return Err(usage.clone());
            };
            port = value
                .parse()
                .map_err(|_| format!("bad port {value:?}\n{usage}"))?;
        }
        Ok(port)
    };
    parse().unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2)
    })
}

/// Prints `listening on ADDRESS`, the first line of every example server (the tests read the
/// port from it).
pub fn announce(listener: &socket2::Socket) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    println!(
        "listening on {}",
        address.as_socket().expect("an IP socket")
    );
    Ok(())
}
