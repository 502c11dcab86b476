//! The parts of the vx command line shared by the two binaries: `vx` (small, no FFmpeg) and
//! `vx-full` (every command, linked with FFmpeg's libraries).
pub mod models;
pub mod stream;

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
