//! The parts of the vx command line that need no FFmpeg types: streaming (its media access
//! goes through [`stream::MediaBackend`]), models, and the output helpers.
pub mod models;
pub mod setup;
pub mod stream;

/// `eprintln!` that never panics: a message that cannot be written (stderr on a full disk,
/// closed) is dropped, the work's result stands.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// `eprint!` that never panics (see [`say!`]).
#[macro_export]
macro_rules! say_part {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut e = std::io::stderr();
        let _ = write!(e, $($t)*);
        let _ = e.flush();
    }};
}

/// `println!` for results: a failed write (stdout closed, a full disk) is an error of the
/// command (exit 1), never a panic. Use in functions returning `anyhow::Result`.
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($t)*)
            .map_err(|e| anyhow::anyhow!("standard output: {e}"))?
    }};
}

/// Die quietly of SIGPIPE when the reader of our output goes away (`vx models list | head -1`),
/// as Unix tools do, instead of Rust's default (the signal ignored, then a panic or an error on
/// the next write to stdout). Called first thing in `main`.
pub fn default_sigpipe() {
    // SAFETY: restoring a signal's default disposition before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A usage error found after parsing (exit status 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A usage error (exit status 2) as an `anyhow::Error`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// An error and its causes on one line, without repeating a cause the message already says.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    printable(&out.replace('\n', " "))
}

/// `s` with control characters (an ESC from a file name would drive the terminal) shown as
/// escapes, e.g. `\u{1b}`.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The bytes of a small input file (an SDP, a JPEG to send): a regular file (after links)
/// of at most `max` bytes, else an error naming the file and the cause. A path to /dev/zero
/// read until memory ran out, a FIFO blocked forever.
pub fn read_small(path: &std::path::Path, max: u64) -> anyhow::Result<Vec<u8>> {
    vx_image::fsread::read_capped(path, max, false)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
