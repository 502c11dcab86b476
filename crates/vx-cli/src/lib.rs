//! The parts of the vx command line shared by the two binaries: `vx` (small, no FFmpeg) and
//! `vx-full` (every command, linked with FFmpeg's libraries).
pub mod models;
pub mod stream;

/// Die quietly of SIGPIPE when the reader of our output goes away (`vx models list | head -1`),
/// as Unix tools do, instead of Rust's default (the signal ignored, then a panic or an error on
/// the next write to stdout). Called first thing in both binaries; `vx` passes it on to
/// `vx-full` through exec.
pub fn default_sigpipe() {
    // SAFETY: restoring a signal's default disposition before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
    out.replace('\n', " ")
}
