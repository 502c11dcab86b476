//! What `vx run` shows while it works through many inputs: on a terminal a progress bar
//! (done/total, files/hour, ETA, the files in progress; indicatif), elsewhere a plain line every
//! 10 seconds; errors as they happen; a closing summary. `-q` keeps only errors.
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use vx_pipeline::bulk::{Event, Summary};

struct State {
    current: Vec<String>,
    done: usize,
    slowest: Vec<(f64, String)>,
    last_line: Instant,
}

pub struct Bulk {
    bar: Option<ProgressBar>,
    quiet: bool,
    total: usize,
    started: Instant,
    state: Mutex<State>,
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn per_hour(done: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        done as f64 * 3600.0 / secs
    } else {
        0.0
    }
}

impl Bulk {
    pub fn new(total: usize, jobs: usize, quiet: bool) -> Bulk {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "vx: [{bar:30}] {pos}/{len} {per_hour} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key(
                    "per_hour",
                    |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let secs = s.elapsed().as_secs_f64();
                        let _ = write!(w, "{:.0} files/h", per_hour(s.pos() as usize, secs));
                    },
                )
                .progress_chars("=> "),
            );
            b.enable_steady_tick(Duration::from_millis(500));
            b
        });
        Bulk {
            bar,
            quiet,
            total,
            started: Instant::now(),
            state: Mutex::new(State {
                current: vec![String::new(); jobs.max(1)],
                done: 0,
                slowest: Vec::new(),
                last_line: Instant::now(),
            }),
        }
    }

    fn say(&self, line: String) {
        match &self.bar {
            Some(b) => b.println(line),
            None => vx_cli::say!("{line}"),
        }
    }

    pub fn event(&self, e: Event) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match e {
            Event::Started { worker, source } => {
                if let Some(c) = st.current.get_mut(worker) {
                    *c = name(source);
                }
            }
            Event::Done {
                worker,
                line,
                cached,
                secs,
            } => {
                st.done += 1;
                if let Some(c) = st.current.get_mut(worker) {
                    c.clear();
                }
                let source = line["source"].as_str().unwrap_or("?").to_string();
                if !cached {
                    st.slowest.push((secs, source.clone()));
                    st.slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
                    st.slowest.truncate(3);
                }
                match line["status"].as_str() {
                    Some("error") | Some("partial") => self.say(format!(
                        "vx: error: {}",
                        line["reason"].as_str().unwrap_or(&source)
                    )),
                    _ => {}
                }
                // The input's warnings (a truncated file...), as the single commands print
                // them; an input carried over from an earlier run said them then.
                if !cached {
                    for w in line["warnings"].as_array().into_iter().flatten() {
                        if let Some(w) = w.as_str() {
                            self.say(format!("vx: warning: {source}: {w}"));
                        }
                    }
                }
                if let Some(b) = &self.bar {
                    b.inc(1);
                } else if !self.quiet && st.last_line.elapsed() >= Duration::from_secs(10) {
                    st.last_line = Instant::now();
                    let secs = self.started.elapsed().as_secs_f64();
                    let rate = per_hour(st.done, secs);
                    let left = self.total.saturating_sub(st.done);
                    let eta = if st.done > 0 {
                        secs / st.done as f64 * left as f64
                    } else {
                        0.0
                    };
                    vx_cli::say!(
                        "vx: {}/{} done, {rate:.0} files/hour, about {eta:.0} s left",
                        st.done,
                        self.total
                    );
                }
            }
            Event::Note(n) => {
                if !self.quiet {
                    self.say(format!("vx: warning: {n}"));
                }
            }
        }
        if let Some(b) = &self.bar {
            let now: Vec<&str> = st
                .current
                .iter()
                .filter(|c| !c.is_empty())
                .map(String::as_str)
                .collect();
            b.set_message(now.join(", "));
        }
    }

    /// The closing lines; `unread`: the arguments that gave no input (a missing path, a FIFO,
    /// a folder seen twice), each already warned about.
    pub fn finish(&self, s: &Summary, secs: f64, out: &Path, unread: usize) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.interrupted {
            vx_cli::say!(
                "vx: interrupted: {} input(s) done, {} left for the next run (same command)",
                st.done,
                self.total.saturating_sub(st.done)
            );
        }
        if self.quiet {
            return;
        }
        let done = s.ok + s.partial + s.skipped + s.errors;
        let mut line = format!(
            "vx: {done} input(s) in {secs:.1} s ({:.0} files/hour): {} ok, {} partial, {} skipped, {} error(s)",
            per_hour(done, secs),
            s.ok,
            s.partial,
            s.skipped,
            s.errors
        );
        if s.cached > 0 {
            line.push_str(&format!("; {} already done and current", s.cached));
        }
        if s.other_shards > 0 {
            line.push_str(&format!("; {} in other shards", s.other_shards));
        }
        if unread > 0 {
            line.push_str(&format!("; {unread} path(s) not read (warnings above)"));
        }
        vx_cli::say!("{line}; results in {}", out.join("results.jsonl").display());
        if !st.slowest.is_empty() && done > 3 {
            let slow: Vec<String> = st
                .slowest
                .iter()
                .map(|(t, p)| format!("{} {t:.1} s", name(Path::new(p))))
                .collect();
            vx_cli::say!("vx: slowest: {}", slow.join(", "));
        }
    }
}
