//! Bulk runs (`vx run` over many inputs): the inputs (files, folders, `@lists`), a shard of
//! them, `jobs` workers sharing the process's models, one directory per input published as a
//! whole, `OUTDIR/results.jsonl` (one line per input, appended and synced as each finishes),
//! and resume: an input whose results are complete and current is not decoded again.
//!
//! **What "current" means.** `result.json` keeps a `cache` section: the input's content key
//! ([`content_key`]: its size and BLAKE3 over sampled blocks) and, per operation, a key of its
//! name, parameters and model file digest (computed by the caller, see [`op_key`]). On a
//! re-run an input is skipped when the content key and every operation's key match and no
//! operation failed; when only some keys differ, only those operations (and the operations
//! they take their frames from) run again, and the files of the others are carried over
//! (hard links) into the new directory. `--force` recomputes everything.
//!
//! **Nothing lost, nothing mixed.** Each input is built in a staging directory and renamed to
//! `OUTDIR/<id>` once its `result.json` is written (see `vx_image::fsutil::Stage`); its line
//! goes to `results.jsonl` after that, written in one `write` and synced. A crash leaves at
//! most a torn last line, which the next run detects and cuts off ([`ResultsLog::open`]); an
//! input whose directory was published but whose line was lost gets its line from its
//! `result.json` on the next run, without decoding. At the end of a run `results.jsonl` is
//! rewritten with one line per input (the latest), so re-runs never duplicate lines.
use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};
use vx_image::fsutil::{DirLock, Stage};

mod log;
pub use log::{line_of, ResultsLog};

use crate::engine::{EngineOptions, Task};
use crate::plan::Step;
use crate::result::input_ids;
use crate::{Error, Result};

/// Inputs found on the command line.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Files to run, in the order given (folders: sorted by path), without duplicates.
    pub files: Vec<PathBuf>,
    /// Entries that could not be read (unreadable folders, symlink loops, missing files,
    /// unreadable list files), with the reason: reported, not fatal.
    pub problems: Vec<(PathBuf, String)>,
}

/// Expand `args`: files as given, folders recursively (hidden entries and `out` itself
/// skipped; symlinked folders followed once, loops reported), `@list.txt` one path per line
/// (blank lines and `#` comments skipped; relative paths are relative to the list's folder).
/// Media are recognised later, by probing: a file FFmpeg cannot open gets an error line.
pub fn expand(args: &[PathBuf], out: &Path) -> Inputs {
    let mut inputs = Inputs::default();
    let out_abs = std::fs::canonicalize(out).ok();
    let mut seen_files = HashSet::new();
    let mut seen_dirs = HashSet::new();
    for a in args {
        let s = a.to_string_lossy();
        if let Some(list) = s.strip_prefix('@') {
            let list = PathBuf::from(list);
            match std::fs::read_to_string(&list) {
                Ok(text) => {
                    let base = list.parent().map(Path::to_path_buf).unwrap_or_default();
                    for line in text.lines().map(str::trim) {
                        if line.is_empty() || line.starts_with('#') {
                            continue;
                        }
                        let p = PathBuf::from(line);
                        let p = if p.is_relative() { base.join(p) } else { p };
                        walk(&p, &out_abs, &mut seen_files, &mut seen_dirs, &mut inputs);
                    }
                }
                Err(e) => inputs
                    .problems
                    .push((list, format!("cannot read the list: {e}"))),
            }
        } else {
            walk(a, &out_abs, &mut seen_files, &mut seen_dirs, &mut inputs);
        }
    }
    inputs
}

fn walk(
    p: &Path,
    out: &Option<PathBuf>,
    seen_files: &mut HashSet<PathBuf>,
    seen_dirs: &mut HashSet<PathBuf>,
    inputs: &mut Inputs,
) {
    // Standard input and URLs are handed to FFmpeg as they are.
    if vx_media::probe::is_stream_name(p) {
        if seen_files.insert(p.to_path_buf()) {
            inputs.files.push(p.to_path_buf());
        }
        return;
    }
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) => {
            let why = match std::fs::symlink_metadata(p) {
                Ok(m) if m.file_type().is_symlink() => format!("broken symbolic link ({e})"),
                _ => e.to_string(),
            };
            inputs.problems.push((p.to_path_buf(), why));
            return;
        }
    };
    let canon = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if !meta.is_dir() {
        // A FIFO, a device or a socket would block or never end (a link to /dev/zero): only
        // regular files are inputs (standard input is `-`).
        if !meta.is_file() {
            inputs.problems.push((
                p.to_path_buf(),
                "not a regular file (a FIFO, a device or a socket): skipped".into(),
            ));
            return;
        }
        if seen_files.insert(canon) {
            inputs.files.push(p.to_path_buf());
        }
        return;
    }
    if out.as_ref() == Some(&canon) {
        return;
    }
    if !seen_dirs.insert(canon.clone()) {
        inputs.problems.push((
            p.to_path_buf(),
            "folder already visited (a symbolic link loop?): skipped".into(),
        ));
        return;
    }
    let rd = match std::fs::read_dir(p) {
        Ok(rd) => rd,
        Err(e) => {
            inputs
                .problems
                .push((p.to_path_buf(), format!("cannot read the folder: {e}")));
            return;
        }
    };
    let mut entries: Vec<PathBuf> = Vec::new();
    for e in rd {
        match e {
            Ok(e) if !e.file_name().to_string_lossy().starts_with('.') => entries.push(e.path()),
            Ok(_) => {}
            Err(e) => inputs
                .problems
                .push((p.to_path_buf(), format!("cannot read the folder: {e}"))),
        }
    }
    entries.sort();
    for e in entries {
        walk(&e, out, seen_files, seen_dirs, inputs);
    }
}

/// `--shard K/N`: whether the input with this id belongs to shard `k` (0-based) of `n`.
/// Decided by the id alone (file name + path hash), so the same file lands in the same shard
/// however the list is ordered or split.
pub fn in_shard(id: &str, k: u32, n: u32) -> bool {
    if n <= 1 {
        return true;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % n as u64) as u32 == k
}

/// Parse `K/N` (0 <= K < N).
pub fn parse_shard(s: &str) -> std::result::Result<(u32, u32), String> {
    let bad = || format!("--shard {s}: expected K/N with 0 <= K < N, e.g. 0/4");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (u32, u32) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Blocks hashed by [`content_key`] besides the first and last MiB.
const SAMPLES: u64 = 32;
const SAMPLE_BYTES: u64 = 64 * 1024;
const EDGE_BYTES: u64 = 1024 * 1024;

/// The content key of a file: its size and BLAKE3 over its first and last MiB and 32 blocks
/// of 64 KiB spread evenly between (files up to 4 MiB are hashed whole). About 3 MiB read
/// whatever the size: a re-run over a finished corpus costs a few milliseconds per file
/// (hashing a 2 GB file whole costs seconds: BENCHMARKS.md). A change that leaves the
/// size and every sampled byte alike goes unnoticed: `--force` is for that.
pub fn content_key(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut h = blake3::Hasher::new();
    h.update(&len.to_le_bytes());
    if len <= 4 * EDGE_BYTES {
        std::io::copy(&mut f, &mut h)?;
    } else {
        let mut buf = vec![0u8; EDGE_BYTES as usize];
        let mut read_at = |f: &mut std::fs::File, at: u64, n: usize, h: &mut blake3::Hasher| {
            f.seek(SeekFrom::Start(at))?;
            f.read_exact(&mut buf[..n])?;
            h.update(&buf[..n]);
            std::io::Result::Ok(())
        };
        read_at(&mut f, 0, EDGE_BYTES as usize, &mut h)?;
        let span = len - 2 * EDGE_BYTES - SAMPLE_BYTES;
        for i in 0..SAMPLES {
            let at = EDGE_BYTES + span * i / (SAMPLES - 1).max(1);
            read_at(&mut f, at, SAMPLE_BYTES as usize, &mut h)?;
        }
        read_at(&mut f, len - EDGE_BYTES, EDGE_BYTES as usize, &mut h)?;
    }
    Ok(format!("{len}-{}", &h.finalize().to_hex()[..32]))
}

/// BLAKE3 of a whole file (models: once per run).
pub fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut h = blake3::Hasher::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
    Ok(h.finalize().to_hex()[..32].to_string())
}

/// Part of every operation's key: bumped when vx's decoding or picture conversion changes
/// what operations compute, so that a resumed run recomputes results made before. 2: FFmpeg
/// 7.1 linked statically, and BT.709/BT.2020 pictures converted with their own matrix.
pub const DECODE_REVISION: &str = "2";

/// The key of one operation: [`DECODE_REVISION`], its name, its parameters (as the caller
/// writes them down, e.g. a JSON object) and the digest of its model file, if any.
pub fn op_key(name: &str, params: &Value, model_digest: Option<&str>) -> String {
    let mut h = blake3::Hasher::new();
    h.update(DECODE_REVISION.as_bytes());
    h.update(b"\0");
    h.update(name.as_bytes());
    h.update(b"\0");
    h.update(params.to_string().as_bytes());
    h.update(b"\0");
    h.update(model_digest.unwrap_or("").as_bytes());
    h.finalize().to_hex()[..32].to_string()
}

/// How a bulk run goes.
pub struct BulkOptions {
    pub out: PathBuf,
    /// Inputs processed at once.
    pub jobs: usize,
    /// Recompute even what is current.
    pub force: bool,
    /// Only the inputs of shard K of N.
    pub shard: Option<(u32, u32)>,
    pub debug: bool,
    pub queue: usize,
    /// Video decoder threads per input.
    pub decoder_threads: usize,
    /// Set (Ctrl-C) to stop: inputs in progress are abandoned, nothing of them is kept.
    pub cancel: Arc<AtomicBool>,
    /// `--video-stream N` / `--audio-stream N` (see `EngineOptions`).
    pub video_stream: Option<usize>,
    pub audio_stream: Option<usize>,
    /// `--start`/`--end` (see `EngineOptions::range`); part of every operation's key.
    pub range: Option<(f64, Option<f64>)>,
    /// Write the Parquet tables of the directory at the end (`--format parquet`, see
    /// [`crate::tables`]; needs the `parquet` feature). An earlier run's tables are removed at
    /// the start either way.
    pub tables: bool,
}

/// What the caller hears about.
pub enum Event<'a> {
    /// An input starts (`worker` in 0..jobs).
    Started { worker: usize, source: &'a Path },
    /// An input is done: its `results.jsonl` line; `cached`: nothing was decoded.
    Done {
        worker: usize,
        line: &'a Value,
        cached: bool,
        secs: f64,
    },
    /// A warning about the run itself (a repaired log, an unreadable entry).
    Note(String),
}

/// Builds the operations of the plan steps `steps` (indexes into the plan) for one input,
/// writing into `dir`; task inputs refer to positions in `steps`.
pub type Factory<'a> = dyn Fn(&Path, &[usize]) -> Result<Vec<Task>> + Sync + 'a;

/// Counts at the end.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub ok: usize,
    pub partial: usize,
    pub skipped: usize,
    pub errors: usize,
    /// Inputs found current and not decoded.
    pub cached: usize,
    /// Inputs left for another run (interrupted).
    pub abandoned: usize,
    /// Inputs outside this shard.
    pub other_shards: usize,
    pub interrupted: bool,
    /// With [`BulkOptions::tables`]: the rows of each table written, and the seconds it took.
    pub tables: Option<(Vec<(&'static str, usize)>, f64)>,
    /// Tables of an earlier run removed at the start (rewritten at the end with
    /// [`BulkOptions::tables`]).
    pub tables_removed: Vec<PathBuf>,
    /// Why the tables could not be written (the inputs' results are all there).
    pub tables_error: Option<String>,
}

/// Run the plan over every input (see the module documentation).
#[allow(clippy::too_many_arguments)]
pub fn run(
    steps: &[Step],
    op_keys: &[String],
    inputs: &[PathBuf],
    opts: &BulkOptions,
    factory: &Factory,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Summary> {
    if opts.tables && !crate::tables::CAN_WRITE {
        return Err(Error::Usage(
            "Parquet tables: vx was built without the `parquet` feature".into(),
        ));
    }
    let lock = Arc::new(DirLock::take(&opts.out).map_err(|e| Error::io(&opts.out, e))?);
    let (log, notes) = ResultsLog::open(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    for n in notes {
        on_event(Event::Note(n));
    }
    // An earlier run's tables go first: whatever happens to this run (a failure, a kill),
    // none is left that no longer matches results.jsonl. Written again at the end.
    let mut summary = Summary {
        tables_removed: crate::tables::remove_outdir(&opts.out)?,
        ..Default::default()
    };
    let mut todo = Vec::new();
    for (p, id) in inputs.iter().zip(input_ids(inputs)) {
        match opts.shard {
            Some((k, n)) if !in_shard(&id, k, n) => summary.other_shards += 1,
            _ => todo.push((p.clone(), id)),
        }
    }
    let log = Mutex::new(log);
    let summary = Mutex::new(summary);
    let next = AtomicUsize::new(0);
    let jobs = opts.jobs.clamp(1, todo.len().max(1));
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for worker in 0..jobs {
            let (todo, log, summary, next, lock, failure) =
                (&todo, &log, &summary, &next, &lock, &failure);
            s.spawn(move || loop {
                if opts.cancel.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((path, id)) = todo.get(i) else {
                    return;
                };
                on_event(Event::Started {
                    worker,
                    source: path,
                });
                let t = Instant::now();
                let r = one(path, id, steps, op_keys, opts, factory, lock, log, on_event);
                let mut sm = summary.lock().unwrap_or_else(|e| e.into_inner());
                match r {
                    Ok((line, cached)) => {
                        if cached {
                            sm.cached += 1;
                        }
                        match line["status"].as_str() {
                            Some("ok") => sm.ok += 1,
                            Some("partial") => sm.partial += 1,
                            Some("skipped") => sm.skipped += 1,
                            _ => sm.errors += 1,
                        }
                        drop(sm);
                        on_event(Event::Done {
                            worker,
                            line: &line,
                            cached,
                            secs: t.elapsed().as_secs_f64(),
                        });
                    }
                    Err(Error::Cancelled { .. }) => sm.abandoned += 1,
                    Err(e) => {
                        // The output directory or the log failed: stop everything.
                        opts.cancel.store(true, Ordering::Relaxed);
                        failure
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        // A run that failed before finishing anything leaves no directory it created.
        let empty = log.lock().map(|l| l.is_empty()).unwrap_or(false);
        if empty && lock.created() {
            let _ = std::fs::remove_file(opts.out.join("results.jsonl"));
            let dir = lock.path().to_path_buf();
            drop(lock);
            let _ = std::fs::remove_dir(&dir);
        }
        return Err(e);
    }
    let mut log = log.into_inner().unwrap_or_else(|e| e.into_inner());
    log.compact().map_err(|e| Error::io(&opts.out, e))?;
    let mut summary = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    drop(log);
    // The tables, from the compacted log, while the directory is still this run's (not after
    // an interruption: the same command later writes them). A failure is reported with the
    // summary, not instead of it.
    summary.interrupted = opts.cancel.load(Ordering::Relaxed);
    if opts.tables && !summary.interrupted {
        let t = Instant::now();
        match crate::tables::write_outdir(&opts.out) {
            Ok(counts) => summary.tables = Some((counts, t.elapsed().as_secs_f64())),
            Err(e) => summary.tables_error = Some(e.to_string()),
        }
    }
    drop(lock);
    summary.abandoned += todo.len().saturating_sub(
        summary.ok + summary.partial + summary.skipped + summary.errors + summary.abandoned,
    );
    Ok(summary)
}

/// One input: cached, or (partly) run and published. Returns its line and whether nothing
/// was decoded. Errors are the run's own (output directory, log) or `Cancelled`; an input's
/// failure is its line.
#[allow(clippy::too_many_arguments)]
fn one(
    path: &Path,
    id: &str,
    steps: &[Step],
    op_keys: &[String],
    opts: &BulkOptions,
    factory: &Factory,
    lock: &Arc<DirLock>,
    log: &Mutex<ResultsLog>,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<(Value, bool)> {
    let final_dir = opts.out.join(id);
    // Only an earlier run's directory (one with a result.json) is ever replaced.
    if let Ok(m) = std::fs::symlink_metadata(&final_dir) {
        if !m.is_dir() || !final_dir.join("result.json").is_file() {
            let line = json!({
                "id": id, "source": path, "status": "error", "complete": false, "ops": {},
                "reason": format!(
                    "{} exists and was not written by vx: not replaced (move it away)",
                    final_dir.display()
                ),
            });
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .append(&line)
                .map_err(|e| Error::io(opts.out.join("results.jsonl"), e))?;
            return Ok((line, false));
        }
    }
    // Standard input and URLs cannot be checked for change: never current, always run.
    let content = if vx_media::probe::is_stream_name(path) {
        Ok(format!("uncached-{:?}", std::time::SystemTime::now()))
    } else {
        content_key(path)
    };
    let bytes = std::fs::metadata(path).map(|m| m.len()).ok();
    let old: Option<Value> = std::fs::read(final_dir.join("result.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    // Which steps are current.
    let mut current = vec![false; steps.len()];
    if let (false, Ok(content), Some(old)) = (opts.force, &content, &old) {
        if old["cache"]["content"] == content.as_str() {
            for (i, s) in steps.iter().enumerate() {
                let op = &old["ops"][&s.name];
                // Current: same key, finished, and every file it listed still there (a file
                // deleted since is made again, not reported as written).
                let present = op["outputs"].as_array().into_iter().flatten().all(|rel| {
                    rel.as_str()
                        .is_some_and(|r| std::fs::symlink_metadata(final_dir.join(r)).is_ok())
                });
                current[i] = old["cache"]["ops"][&s.name] == op_keys[i].as_str()
                    && matches!(op["status"].as_str(), Some("ok" | "skipped"))
                    && present;
            }
        }
    }
    if !steps.is_empty() && current.iter().all(|c| *c) {
        if let Some(old) = &old {
            let line = line_of(old);
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            // A line lost in a crash after the directory was published comes back here.
            if log.get(id).is_none_or(|l| l != line) {
                log.append(&line).map_err(|e| Error::io(&opts.out, e))?;
            }
            return Ok((line, true));
        }
    }
    // Steps to run: those not current, and the producers they take frames from; the files of
    // the current ones carried over into the stage. A file that cannot be carried (gone or
    // unreadable since it was checked) makes its step run again, in a new stage: one input's
    // leftovers never stop the run.
    let (stage, dir, kept, run_it) = loop {
        let mut run_it: Vec<bool> = current.iter().map(|c| !c).collect();
        for i in (0..steps.len()).rev() {
            if run_it[i] {
                let mut p = steps[i].input;
                while let Some(j) = p {
                    run_it[j] = true;
                    p = steps[j].input;
                }
            }
        }
        let stage = Stage::new(lock.clone()).map_err(|e| Error::io(&opts.out, e))?;
        let dir = stage.path().to_path_buf();
        let mut kept = serde_json::Map::new();
        let mut lost = None;
        if let Some(old) = &old {
            for (i, s) in steps.iter().enumerate() {
                if run_it[i] {
                    continue;
                }
                let mut rec = old["ops"][&s.name].clone();
                for rel in rec["outputs"].as_array().into_iter().flatten() {
                    let Some(rel) = rel.as_str() else { continue };
                    match carry(&final_dir, &dir, Path::new(rel)) {
                        Ok(()) => {}
                        // Gone since it was checked: the step runs again.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            lost = Some(i);
                            break;
                        }
                        // A full disk, no permission: the run's problem, said as before (the
                        // earlier results stay published).
                        Err(e) => return Err(Error::io(final_dir.join(rel), e)),
                    }
                }
                if lost.is_some() {
                    break;
                }
                rec["cached"] = json!(true);
                kept.insert(s.name.clone(), rec);
            }
        }
        match lost {
            Some(i) => current[i] = false,
            None => break (stage, dir, kept, run_it),
        }
    };
    let to_run: Vec<usize> = (0..steps.len()).filter(|&i| run_it[i]).collect();
    let content = match content {
        Ok(c) => c,
        Err(e) => {
            let record = json!({
                "id": id, "source": path, "status": "error", "complete": false,
                "reason": format!("{}: cannot read: {e}", path.display()), "bytes": bytes,
                "ops": {},
            });
            return publish(record, stage, id, opts, log);
        }
    };
    // A factory error (a model or output that cannot be opened) is the run's, not the input's:
    // it is told apart from the input's own errors below.
    let factory_failed: Mutex<Option<Error>> = Mutex::new(None);
    let make = || {
        factory(&dir, &to_run).map_err(|e| {
            let msg = Error::Message(e.to_string());
            *factory_failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            msg
        })
    };
    let mut eopts = EngineOptions {
        decoder_threads: opts.decoder_threads,
        queue: opts.queue,
        debug: opts.debug,
        progress: None,
        cancel: Some(opts.cancel.clone()),
        video_stream: opts.video_stream,
        audio_stream: opts.audio_stream,
        // The first text subtitle stream.
        subtitle_stream: None,
        range: opts.range,
    };
    let run = crate::engine::run_file_with(path, make, &mut eopts);
    if let Some(e) = factory_failed
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        return Err(e);
    }
    let record = match run {
        Ok(run) => {
            let mut written = Vec::new();
            for op in &run.ops {
                let mut p = None;
                if let Some(o) = &op.output {
                    let f = dir.join(format!("{}.json", op.name));
                    let mut v = o.report.to_json();
                    relocate(&mut v, &dir, &final_dir);
                    write_json(&f, &v, true)?;
                    p = Some(f);
                }
                written.push(p);
            }
            if let Some(d) = &run.debug {
                write_json(&dir.join("trace.json"), &d.chrome_trace(), false)?;
            }
            for op in &run.ops {
                if let crate::engine::Status::Error(e) = &op.status {
                    on_event(Event::Note(format!(
                        "{} ({}): {e}",
                        path.display(),
                        op.name
                    )));
                }
            }
            let rec = crate::result::record(id, &run, &dir, &written);
            let mut v = serde_json::to_value(rec).map_err(|e| Error::Message(e.to_string()))?;
            relocate(&mut v, &dir, &final_dir);
            // The carried-over operations, in plan order.
            if let Some(m) = v["ops"].as_object_mut() {
                for (name, rec) in kept {
                    m.insert(name, rec);
                }
            }
            restatus(&mut v);
            v
        }
        Err(Error::Cancelled { path }) => return Err(Error::Cancelled { path }),
        Err(e) => json!({
            "id": id, "source": path, "status": "error", "complete": false,
            "reason": one_line(&e), "ops": {},
        }),
    };
    let mut record = record;
    record["bytes"] = json!(bytes);
    record["cache"] = json!({
        "content": content,
        "ops": steps.iter().zip(op_keys).map(|(s, k)| (s.name.clone(), json!(k))).collect::<serde_json::Map<_, _>>(),
    });
    publish(record, stage, id, opts, log)
}

/// Write result.json into the stage, publish it as `OUTDIR/<id>`, append the line.
fn publish(
    record: Value,
    stage: Stage,
    id: &str,
    opts: &BulkOptions,
    log: &Mutex<ResultsLog>,
) -> Result<(Value, bool)> {
    write_json(&stage.path().join("result.json"), &record, true)?;
    stage
        .publish_as(id)
        .map_err(|e| Error::io(opts.out.join(id), e))?;
    let line = line_of(&record);
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .append(&line)
        .map_err(|e| Error::io(opts.out.join("results.jsonl"), e))?;
    Ok((line, false))
}

/// The status of a record from its operations (after carried-over ones were added).
fn restatus(v: &mut Value) {
    let (mut ok, mut err, mut skip) = (0, 0, 0);
    for op in v["ops"].as_object().into_iter().flat_map(|m| m.values()) {
        match op["status"].as_str() {
            Some("ok") => ok += 1,
            Some("skipped") => skip += 1,
            _ => err += 1,
        }
    }
    v["status"] = json!(match (ok, err, skip) {
        (0, 0, _) => "skipped",
        (_, 0, _) => "ok",
        (0, _, _) => "error",
        _ => "partial",
    });
}

/// Hard-link (or copy) `rel` from the published directory into the stage.
fn carry(from: &Path, to: &Path, rel: &Path) -> std::io::Result<()> {
    if rel.as_os_str().is_empty()
        || rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Ok(());
    }
    let (src, dst) = (from.join(rel), to.join(rel));
    // Not a regular file where the record says one is (a directory, a device: a hand-edited
    // result.json): gone, so the step runs again — not the whole run's failure.
    if !std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_file()) {
        return Err(std::io::ErrorKind::NotFound.into());
    }
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::hard_link(&src, &dst).or_else(|_| std::fs::copy(&src, &dst).map(|_| ()))
}

fn write_json(path: &Path, v: &Value, pretty: bool) -> Result<()> {
    let mut text = if pretty {
        serde_json::to_vec_pretty(v)
    } else {
        serde_json::to_vec(v)
    }
    .map_err(|e| Error::Message(e.to_string()))?;
    text.push(b'\n');
    vx_image::fsutil::write_atomic(path, &text).map_err(|e| Error::io(path, e))
}

/// Rewrite every path in `v` that lies inside the staging directory `from` to where it will
/// be once published (`to`).
fn relocate(v: &mut Value, from: &Path, to: &Path) {
    match v {
        Value::String(s) => {
            if let Ok(rel) = Path::new(s.as_str()).strip_prefix(from) {
                *s = to.join(rel).to_string_lossy().into_owned();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| relocate(x, from, to)),
        Value::Object(m) => m.values_mut().for_each(|x| relocate(x, from, to)),
        _ => {}
    }
}

/// An error on one line (pipeline errors name their file).
fn one_line(e: &Error) -> String {
    e.to_string().replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_inputs() {
        let ids: Vec<String> = (0..1000).map(|i| format!("clip{i}.mp4-{i:08x}")).collect();
        let mut count = [0; 4];
        for id in &ids {
            let hits: Vec<u32> = (0..4).filter(|&k| in_shard(id, k, 4)).collect();
            assert_eq!(hits.len(), 1, "{id}");
            count[hits[0] as usize] += 1;
        }
        assert!(count.iter().all(|&c| c > 180), "{count:?}");
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        for bad in ["4/4", "1", "a/b", "0/0", "-1/3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn torn_lines_are_cut_and_the_log_compacts() {
        let dir = std::env::temp_dir().join(format!("vx-bulk-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("results.jsonl"),
            "{\"id\":\"a\",\"status\":\"ok\"}\nnot json\n{\"id\":\"b\",\"sta",
        )
        .unwrap();
        let (mut log, notes) = ResultsLog::open(&dir).unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(log.len(), 1);
        log.append(&json!({"id": "b", "status": "error"})).unwrap();
        log.append(&json!({"id": "a", "status": "partial"}))
            .unwrap();
        log.compact().unwrap();
        let text = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
        assert_eq!(
            text,
            "{\"id\":\"a\",\"status\":\"partial\"}\n{\"id\":\"b\",\"status\":\"error\"}\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn content_keys_see_sampled_changes() {
        let dir = std::env::temp_dir().join(format!("vx-bulk-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("big.bin");
        let mut data: Vec<u8> = (0..10_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let a = content_key(&p).unwrap();
        assert_eq!(a, content_key(&p).unwrap());
        data[0] ^= 1; // the first MiB is hashed whole
        std::fs::write(&p, &data).unwrap();
        assert_ne!(a, content_key(&p).unwrap());
        data.push(0); // so is the size
        std::fs::write(&p, &data).unwrap();
        assert!(content_key(&p).unwrap().starts_with("10000001-"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
