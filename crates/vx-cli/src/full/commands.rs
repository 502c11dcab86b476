//! One short function per command: build the plan, run it on the engine, print the report.
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use vx_image::fsutil::OutFile;
use vx_pipeline::budget::Budget;
use vx_pipeline::engine::{run_file, EngineOptions, FileRun, Status, Task};
use vx_pipeline::op::{Operation, Output};
use vx_pipeline::ops;

use crate::{AudioFmt, DetectArgs, ModelsCmd, RunArgs, SceneDetector, TextFormat};
use vx_cli::stream;

/// A usage error found after parsing (exit status 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The input has no stream of the kind the command needs (no audio stream for transcribe, no
/// video stream for keyframes): not damage, exit status 3 so scripts can tell them apart.
#[derive(Debug)]
pub struct NoStreamError(pub String);

impl std::fmt::Display for NoStreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoStreamError {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// The pipeline's usage errors are usage errors of the command line.
fn lift(e: vx_pipeline::Error) -> anyhow::Error {
    match e {
        vx_pipeline::Error::Usage(m) => usage(m),
        e => e.into(),
    }
}

/// `--video-stream N` / `--audio-stream N`, for every command of this process.
static STREAMS: std::sync::OnceLock<(Option<usize>, Option<usize>)> = std::sync::OnceLock::new();

pub fn choose_streams(video: Option<usize>, audio: Option<usize>) {
    let _ = STREAMS.set((video, audio));
}

/// `--start` / `--end` / `--duration`, for every command of this process.
static RANGE: std::sync::OnceLock<(f64, Option<f64>)> = std::sync::OnceLock::new();

pub fn choose_range(start: f64, end: Option<f64>) {
    let _ = RANGE.set((start, end));
}

fn range() -> Option<(f64, Option<f64>)> {
    RANGE.get().copied()
}

fn streams() -> (Option<usize>, Option<usize>) {
    STREAMS.get().copied().unwrap_or_default()
}

/// Engine options with a progress line on a terminal ("vx: LABEL 45.3% 12.0 s").
fn engine(label: &str, decoder_threads: usize, quiet: bool) -> EngineOptions {
    let show = !quiet && std::io::stderr().is_terminal();
    let label = label.to_string();
    let started = std::time::Instant::now();
    let (from, to) = range().unwrap_or((0.0, None));
    EngineOptions {
        decoder_threads,
        // "vx: transcribe  42.0%  4.6 s of 11.0 s, about 3 s left"
        progress: show.then(|| {
            Box::new(move |t: f64, d: Option<f64>| {
                let end = match (to, d) {
                    (Some(e), Some(d)) => Some(e.min(d)),
                    (Some(e), None) => Some(e),
                    (None, d) => d,
                };
                let done = (t - from).max(0.0);
                let line = match end.map(|e| e - from).filter(|len| *len > 0.0) {
                    Some(len) => {
                        let f = (done / len).clamp(0.0, 1.0);
                        let secs = started.elapsed().as_secs_f64();
                        let left = if f > 0.02 {
                            secs / f * (1.0 - f)
                        } else {
                            f64::NAN
                        };
                        let eta = if left.is_finite() {
                            format!(", about {left:.0} s left")
                        } else {
                            String::new()
                        };
                        format!("{:5.1}%  {done:.1} s of {len:.1} s{eta}", f * 100.0)
                    }
                    None => format!("{done:.1} s"),
                };
                vx_cli::say_part!("\r\x1b[Kvx: {label} {line}");
            }) as vx_pipeline::engine::Progress
        }),
        video_stream: streams().0,
        audio_stream: streams().1,
        range: range(),
        ..Default::default()
    }
}

fn clear_progress(quiet: bool) {
    if !quiet && std::io::stderr().is_terminal() {
        vx_cli::say_part!("\r\x1b[K");
    }
}

/// Run one operation over `path`; its output, or its error (a skip is an error here: the
/// single command was asked for something the file does not have).
fn single(
    path: &Path,
    op: Box<dyn Operation>,
    mut opts: EngineOptions,
    quiet: bool,
) -> Result<Output> {
    let started = std::time::Instant::now();
    let run = run_file(path, vec![Task { op, input: None }], &mut opts);
    clear_progress(quiet);
    let mut run = run?;
    note_streams(path, &run, quiet);
    let out = take_op(path, &mut run, 0)?;
    // A closing line for the commands whose output is the JSON itself.
    let name = run.ops.first().map(|o| o.name).unwrap_or("");
    if !quiet
        && matches!(
            name,
            "vad" | "transcribe" | "embed-audio" | "detect" | "faces"
        )
    {
        let secs = started.elapsed().as_secs_f64();
        let media = match (range(), run.input.duration) {
            (Some((s, Some(e))), _) => Some(e - s),
            (Some((s, None)), Some(d)) => Some(d - s),
            (None, d) => d,
            _ => None,
        }
        .filter(|m| *m > 0.0 && !run.input.still);
        let speed = media
            .map(|m| format!(" ({m:.1} s of media, {:.1}x real time)", m / secs.max(1e-3)))
            .unwrap_or_default();
        vx_cli::say!("vx: {name}: {} done in {secs:.2} s{speed}", path.display());
    }
    Ok(out)
}

/// Say which stream was used when the file has several of a kind and none was chosen (a
/// film with its French track first gives an empty English transcript otherwise, silently).
fn note_streams(path: &Path, run: &FileRun, quiet: bool) {
    let (chosen_v, chosen_a) = streams();
    let ((nv, v), (na, a)) = run.streams;
    for (kind, n, used, chosen, flag) in [
        ("video", nv, v, chosen_v, "--video-stream"),
        ("audio", na, a, chosen_a, "--audio-stream"),
    ] {
        if let (true, Some(u), None, false) = (n > 1, used, chosen, quiet) {
            vx_cli::say!(
                "vx: note: {}: {n} {kind} streams; #{u} was used ({flag} N picks another)",
                path.display()
            );
        }
    }
}

fn take_op(path: &Path, run: &mut FileRun, i: usize) -> Result<Output> {
    let op = &mut run.ops[i];
    match (&op.status, op.error.take(), op.output.take()) {
        (Status::Ok, _, Some(o)) => Ok(o),
        (Status::Skipped(r), _, _) => Err(NoStreamError(format!("{}: {r}", path.display())).into()),
        (_, Some(e), _) => Err(lift(e)),
        (s, _, _) => bail!("{}: {s:?}", path.display()),
    }
}

fn typed<T: 'static>(o: Output) -> Result<T> {
    o.take::<T>()
        .ok_or_else(|| anyhow::anyhow!("internal: unexpected report type"))
}

/// A report as JSON text (indented or compact) with a final newline.
fn json_text(value: &impl serde::Serialize, pretty: bool) -> Result<Vec<u8>> {
    let mut json = if pretty {
        serde_json::to_vec_pretty(value)?
    } else {
        serde_json::to_vec(value)?
    };
    json.push(b'\n');
    Ok(json)
}

/// Open the output of a command before its work starts (see [`vx_image::fsutil::OutFile`]):
/// a missing or read-only directory fails now rather than after the work, and an output that
/// is one of the inputs is refused. `None` (no `-o`) and `-` are stdout.
fn open_out(inputs: &[&Path], out: Option<&Path>) -> Result<Option<OutFile>> {
    let Some(p) = out else { return Ok(None) };
    refuse_overwrite(inputs, p)?;
    Ok(Some(
        OutFile::create(p).with_context(|| p.display().to_string())?,
    ))
}

/// Refuse an output path that names one of the inputs (after links).
fn refuse_overwrite(inputs: &[&Path], out: &Path) -> Result<()> {
    for i in inputs {
        if vx_image::fsutil::same_file(i, out) {
            return Err(usage(format!(
                "{}: the output is the input file; choose another output",
                out.display()
            )));
        }
    }
    Ok(())
}

/// Write `bytes` to the output opened by [`open_out`] and publish it, or to stdout.
fn emit(out: Option<OutFile>, bytes: &[u8]) -> Result<()> {
    match out {
        Some(mut f) => {
            let dest = f.dest().display().to_string();
            f.write_all(bytes).context(dest.clone())?;
            f.commit().context(dest)
        }
        None => Ok(std::io::stdout().write_all(bytes)?),
    }
}

fn warn_all(path: &Path, warnings: &[String]) {
    for w in warnings {
        vx_cli::say!("vx: warning: {}: {w}", path.display());
    }
}

pub fn probe(files: &[PathBuf], pretty: bool) -> Result<ExitCode> {
    let mut failed = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for f in files {
        let r = single(
            f,
            Box::new(ops::probe::Probe::default()),
            EngineOptions::default(),
            true,
        )
        .and_then(typed::<serde_json::Value>);
        match r {
            Ok(info) => {
                if pretty {
                    serde_json::to_writer_pretty(&mut out, &info)?;
                } else {
                    serde_json::to_writer(&mut out, &info)?;
                }
                writeln!(out)?;
            }
            Err(e) => {
                vx_cli::say!("vx: error: {}", vx_cli::one_line(&e));
                failed = true;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Class names: the given file, else coco_labels_90.txt beside the model, else none.
fn default_labels(model: &Path, labels: Option<&Path>) -> Result<vx_infer::detect::Labels> {
    use vx_infer::detect::Labels;
    Ok(match labels {
        Some(p) => Labels::load(p)?,
        None => match model
            .parent()
            .map(|d| d.join("coco_labels_90.txt"))
            .filter(|p| p.exists())
        {
            Some(p) => Labels::load(&p)?,
            None => Labels::default(),
        },
    })
}

/// A model given by path, or by name in the model directory.
fn resolve_model(model: &str) -> Result<PathBuf> {
    vx_cli::models::resolve(model)
}

fn open_detector(
    model: &Path,
    family: Option<vx_infer::detect::Family>,
    labels: Option<&Path>,
    threads: usize,
) -> Result<ops::detect::SharedDetector> {
    let labels = default_labels(model, labels)?;
    let det = vx_infer::detect::Detector::open(
        model,
        family,
        labels,
        vx_infer::runtime::SessionOptions { threads },
    )?;
    Ok(ops::detect::SharedDetector::new(model, det))
}

/// Check a `--threshold` of detect / faces and return the one that applies (the model's own
/// cut-off when it is higher, with a warning: the reports give the applied value).
fn detect_threshold(shared: &ops::detect::SharedDetector, requested: f32) -> Result<f32> {
    if !(0.0..=1.0).contains(&requested) {
        return Err(usage(format!(
            "--threshold {requested}: a score threshold is between 0 and 1"
        )));
    }
    let applied = shared.applied_threshold(requested);
    if applied != requested {
        vx_cli::say!(
            "vx: warning: --threshold {requested} is below the model's own cut-off ({applied}) in {}: {applied} applies",
            shared.model.display()
        );
    }
    Ok(applied)
}

pub fn keyframes(
    file: &Path,
    out: &Path,
    mut opts: ops::keyframes::KeyframeOptions,
    threads: usize,
    detect: Option<(&str, f32)>,
    quiet: bool,
) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let budget = Budget::new(threads);
    let shares = budget.split(detect.is_some() as usize, true);
    opts.workers = shares.encoders;
    // The input inside the output directory would be an earlier run's image or a file the
    // publication may replace: refused (a copy elsewhere works).
    if let (Ok(dir), Some(parent)) = (
        std::fs::canonicalize(out),
        std::fs::canonicalize(file)
            .ok()
            .and_then(|f| f.parent().map(Path::to_path_buf)),
    ) {
        if dir == parent {
            return Err(usage(format!(
                "{}: the input is inside the output directory {}; choose another output",
                file.display(),
                out.display()
            )));
        }
    }
    let index = out.join("keyframes.json");
    if let Ok(m) = std::fs::symlink_metadata(&index) {
        if !(m.is_file() || m.file_type().is_symlink()) {
            return Err(anyhow::anyhow!(
                "{}: is not a regular file; move it away",
                index.display()
            ));
        }
    }
    // The directory is this run's until it ends; its files are built in a stage and published
    // together at the end (an earlier run's files are replaced, never mixed with these).
    let stage = vx_image::fsutil::Stage::begin(out).with_context(|| out.display().to_string())?;
    let mut tasks = vec![Task {
        op: Box::new(ops::keyframes::Keyframes::new(opts, stage.path()).map_err(lift)?),
        input: None,
    }];
    let mut det_model = None;
    if let Some((model, threshold)) = detect {
        let model = resolve_model(model)?;
        let shared = open_detector(&model, None, None, shares.onnx)?;
        let threshold = detect_threshold(&shared, threshold)?;
        det_model = Some(model);
        tasks.push(Task {
            op: Box::new(ops::detect::Detect::new(
                "detect",
                shared,
                ops::detect::DetectOptions {
                    threshold,
                    ..Default::default()
                },
            )),
            input: Some(0),
        });
    }
    // Alone, the decoder keeps libavcodec's own choice of threads (--threads 0), as always.
    let decoder = if detect.is_none() && threads == 0 {
        0
    } else {
        shares.decoder
    };
    let run = run_file(file, tasks, &mut engine("keyframes", decoder, quiet));
    clear_progress(quiet);
    let mut run = run?;
    let report: ops::keyframes::KeyframesReport = typed(take_op(file, &mut run, 0)?)?;
    if det_model.is_some() {
        let o = take_op(file, &mut run, 1)?;
        let p = stage.path().join("detections.json");
        let json = json_text(&o.report.to_json(), true)?;
        vx_image::fsutil::write_atomic(&p, &json).with_context(|| p.display().to_string())?;
    }
    let json_path = out.join("keyframes.json");
    let json = json_text(&report, true)?;
    let p = stage.path().join("keyframes.json");
    vx_image::fsutil::write_atomic(&p, &json).context("writing keyframes.json")?;
    let mut stale = ops::keyframes::previous_files(out);
    stale.push("detections.json".into());
    stage
        .publish("keyframes.json", &stale)
        .with_context(|| out.display().to_string())?;
    warn_all(file, &report.warnings);
    if !quiet {
        let s = &report.stats;
        vx_cli::say!(
            "vx: {} keyframe(s) written to {} in {:.2} s ({} decoded{}{}); index: {}",
            s.written,
            out.display(),
            started.elapsed().as_secs_f64(),
            s.decoded,
            if s.skipped_interval > 0 {
                format!(", {} too close", s.skipped_interval)
            } else {
                String::new()
            },
            if s.skipped_duplicate > 0 {
                format!(", {} duplicates", s.skipped_duplicate)
            } else {
                String::new()
            },
            json_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audio(
    file: &Path,
    out: &Path,
    rate: u32,
    channels: u16,
    format: AudioFmt,
    quiet: bool,
) -> Result<ExitCode> {
    use vx_media::audio::{AudioFormat, SampleFormat};
    let format = match format {
        AudioFmt::S16 => SampleFormat::S16,
        AudioFmt::F32 => SampleFormat::F32,
    };
    let started = std::time::Instant::now();
    refuse_overwrite(&[file], out)?;
    let op = ops::audio::Audio::new(
        AudioFormat {
            rate,
            channels,
            format,
        },
        out,
    )
    .map_err(lift)?;
    let o = single(file, Box::new(op), engine("audio", 0, quiet), quiet)?;
    warn_all(file, &o.warnings);
    let r: ops::audio::AudioReport = typed(o)?;
    if !quiet {
        vx_cli::say!(
            "vx: {:.3} s of audio ({} samples at {rate} Hz, {channels} channel(s)) written to {} in {:.2} s",
            r.duration,
            r.samples,
            out.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn vad(
    file: &Path,
    model: &str,
    threshold: f32,
    out: Option<&Path>,
    quiet: bool,
) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(usage(format!(
            "--threshold {threshold}: a speech probability threshold is between 0 and 1"
        )));
    }
    let model = resolve_model(model)?;
    let out = open_out(&[file], out)?;
    let op = ops::vad::Vad::new(&model, threshold, 0).map_err(lift)?;
    let o = single(file, Box::new(op), engine("vad", 0, quiet), quiet)?;
    warn_all(file, &o.warnings);
    emit(out, &json_text(&o.report.to_json(), true)?)?;
    Ok(ExitCode::SUCCESS)
}

pub fn embed_audio(
    file: &Path,
    model: &str,
    out: Option<&Path>,
    npy: Option<PathBuf>,
    quiet: bool,
) -> Result<ExitCode> {
    let model = resolve_model(model)?;
    if let (Some(o), Some(n)) = (out, &npy) {
        if o == n.as_path() || vx_image::fsutil::same_file(o, n) {
            return Err(usage(format!(
                "{}: -o and --npy name the same file; choose two",
                n.display()
            )));
        }
    }
    let out = open_out(&[file], out)?;
    if let Some(n) = &npy {
        refuse_overwrite(&[file], n)?;
    }
    let op = ops::embed_audio::EmbedAudio::new(&model, 0, npy).map_err(lift)?;
    let o = single(file, Box::new(op), engine("embed-audio", 0, quiet), quiet)?;
    warn_all(file, &o.warnings);
    emit(out, &json_text(&o.report.to_json(), false)?)?;
    Ok(ExitCode::SUCCESS)
}

/// The options of `vx transcribe` besides its input, model and output.
pub struct TranscribeFlags {
    pub language: Option<String>,
    pub threads: usize,
    pub no_vad: bool,
    pub full_context: bool,
    pub vad_model: Option<String>,
}

/// The Silero model transcribe uses: given, in the model directory, or beside the whisper one.
fn vad_for(model: &Path, vad_model: Option<&str>) -> Result<PathBuf> {
    match vad_model {
        Some(m) => resolve_model(m),
        None => {
            let beside = model.parent().map(|d| d.join("silero_vad.onnx"));
            resolve_model("silero_vad.onnx")
                .ok()
                .or(beside.filter(|p| p.exists()))
                .ok_or_else(|| anyhow::anyhow!("no Silero VAD model found (give --vad-model PATH, or --no-vad to transcribe silence too)"))
        }
    }
}

pub fn transcribe(
    file: &Path,
    model: &str,
    format: TextFormat,
    out: Option<&Path>,
    f: TranscribeFlags,
    quiet: bool,
) -> Result<ExitCode> {
    use vx_infer::transcribe::{to_srt, to_vtt};
    let model = resolve_model(model)?;
    let out = open_out(&[file], out)?;
    let vad_model = if f.no_vad {
        None
    } else {
        Some(vad_for(&model, f.vad_model.as_deref())?)
    };
    let shared = ops::transcribe::SharedWhisper::open(&model).map_err(lift)?;
    let op = ops::transcribe::Transcribe::new(
        shared,
        ops::transcribe::TranscribeOptions {
            language: f.language,
            threads: Budget::new(f.threads).total,
            full_context: f.full_context,
            vad_model,
        },
    )
    .map_err(lift)?;
    let o = single(file, Box::new(op), engine("transcribe", 0, quiet), quiet)?;
    warn_all(file, &o.warnings);
    let t: ops::transcribe::Transcript = typed(o)?;
    let body = match format {
        TextFormat::Json => json_text(&t, true)?,
        TextFormat::Srt => to_srt(&t.segments).into_bytes(),
        TextFormat::Vtt => to_vtt(&t.segments).into_bytes(),
        TextFormat::Txt => format!("{}\n", t.text).into_bytes(),
    };
    emit(out, &body)?;
    Ok(ExitCode::SUCCESS)
}

pub fn detect(
    a: &DetectArgs,
    family: Option<vx_infer::detect::Family>,
    name: &'static str,
    quiet: bool,
) -> Result<ExitCode> {
    if let Some(e) = a.every {
        if !(e.is_finite() && e > 0.0) {
            return Err(usage("--every must be a number of seconds > 0"));
        }
    }
    let model = resolve_model(&a.model)?;
    let inputs: Vec<&Path> = a.inputs.iter().map(PathBuf::as_path).collect();
    let out = open_out(&inputs, a.out.as_deref())?;
    let shared = open_detector(&model, family, a.labels.as_deref(), a.threads)?;
    let threshold = detect_threshold(&shared, a.threshold)?;
    if let Some(wanted) = &a.classes {
        let known = shared
            .detector
            .lock()
            .map(|d| d.class_names())
            .unwrap_or_default();
        for w in wanted {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(w)) {
                let some: Vec<&str> = known.iter().take(8).map(String::as_str).collect();
                return Err(usage(format!(
                    "--classes {w}: not a class of {} (e.g. {})",
                    model.display(),
                    some.join(", ")
                )));
            }
        }
    }
    let opts = ops::detect::DetectOptions {
        threshold,
        classes: a.classes.clone(),
        every: a.every,
        annotate: a.annotate.clone(),
        blur: a.blur.clone(),
        batch: a.batch as usize,
        ..Default::default()
    };
    let mut results = Vec::with_capacity(a.inputs.len());
    let mut warnings = Vec::new();
    let (mut failed, mut done) = (false, 0);
    for input in &a.inputs {
        let op = ops::detect::Detect::new(name, shared.clone(), opts.clone());
        match single(input, Box::new(op), engine(name, 0, quiet), quiet) {
            Ok(o) => {
                warn_all(input, &o.warnings);
                let r: ops::detect::DetectReport = typed(o)?;
                results.extend(r.results);
                warnings.extend(
                    r.warnings
                        .iter()
                        .map(|w| format!("{}: {w}", input.display())),
                );
                done += 1;
            }
            Err(e) => {
                let line = vx_cli::one_line(&e);
                vx_cli::say!("vx: error: {line}");
                warnings.push(line);
                failed = true;
            }
        }
    }
    let report = ops::detect::DetectReport {
        model,
        threshold,
        results,
        complete: warnings.is_empty(),
        warnings,
    };
    if done == 0 {
        // Nothing succeeded: no JSON that looks like an (empty) result.
        return Ok(ExitCode::from(1));
    }
    emit(out, &json_text(&report, true)?)?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `vx run`: the plan over each input, OUTDIR/<id>/ with one JSON per operation and
/// result.json.
pub fn run(a: &RunArgs, quiet: bool) -> Result<ExitCode> {
    use vx_pipeline::plan::plan;
    let plan = plan(&a.ops, ops::KNOWN).map_err(|e| usage(e.to_string()))?;
    // --model OP=MODEL
    let mut given: Vec<(String, String)> = Vec::new();
    for m in &a.models {
        let (op, path) = m
            .split_once('=')
            .ok_or_else(|| usage(format!("--model {m}: expected OP=MODEL")))?;
        if !plan.steps.iter().any(|s| s.name == op) {
            return Err(usage(format!(
                "--model {m}: '{op}' is not an operation of --ops"
            )));
        }
        given.push((op.to_string(), path.to_string()));
    }
    let model_for = |op: &str| -> Result<PathBuf> {
        if let Some((_, m)) = given.iter().find(|(o, _)| o == op) {
            return resolve_model(m);
        }
        let names = ops::default_models(op);
        names
            .iter()
            .find_map(|n| resolve_model(n).ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{op}: no model given (--model {op}=PATH) and none of {} in the model directory {}",
                    names.join(", "),
                    vx_cli::models::model_dir().display()
                )
            })
    };
    let has = |op: &str| plan.steps.iter().any(|s| s.name == op);
    // One budget (see vx_pipeline::budget for why it is split this way).
    let budget = Budget::new(a.threads);
    let models = plan.steps.iter().filter(|s| ops::is_model(&s.name)).count();
    let shares = budget.split(models, has("keyframes"));
    if shares.shared_pool {
        // Before the first session: every model of the plan draws on one pool.
        vx_infer::runtime::share_threads(shares.onnx);
    }
    // The models' files now (a missing one is a usage problem found before any work); the
    // models themselves are loaded once, by the first input that needs them: a re-run over a
    // finished corpus loads none.
    type Lazy<T> = std::sync::OnceLock<std::result::Result<T, String>>;
    let mut detector_models = std::collections::HashMap::new();
    for op in ["detect", "faces"] {
        if has(op) {
            detector_models.insert(op, model_for(op)?);
        }
    }
    let detectors: std::collections::HashMap<&str, Lazy<(ops::detect::SharedDetector, f32)>> =
        detector_models.keys().map(|k| (*k, Lazy::new())).collect();
    let detector = |op: &str| -> vx_pipeline::Result<(ops::detect::SharedDetector, f32)> {
        let cell = detectors
            .get(op)
            .ok_or_else(|| vx_pipeline::Error::Message(format!("{op}: no model")))?;
        cell.get_or_init(|| {
            let family = (op == "faces").then_some(vx_infer::detect::Family::CenterFace);
            let shared = open_detector(&detector_models[op], family, None, shares.onnx)
                .map_err(|e| vx_cli::one_line(&e))?;
            let threshold =
                detect_threshold(&shared, a.threshold).map_err(|e| vx_cli::one_line(&e))?;
            Ok((shared, threshold))
        })
        .clone()
        .map_err(vx_pipeline::Error::Message)
    };
    if !(0.0..=1.0).contains(&a.threshold) {
        return Err(usage(format!(
            "--threshold {}: a score threshold is between 0 and 1",
            a.threshold
        )));
    }
    let whisper_model = match has("transcribe") {
        true => Some(model_for("transcribe")?),
        false => None,
    };
    let whisper_cell: Lazy<ops::transcribe::SharedWhisper> = Lazy::new();
    let whisper = || -> vx_pipeline::Result<ops::transcribe::SharedWhisper> {
        whisper_cell
            .get_or_init(|| match &whisper_model {
                Some(m) => ops::transcribe::SharedWhisper::open(m).map_err(|e| e.to_string()),
                None => Err("no whisper model".into()),
            })
            .clone()
            .map_err(vx_pipeline::Error::Message)
    };
    let vad_model = match has("vad") || has("transcribe") {
        true => Some(model_for("vad")?),
        false => None,
    };
    let embed_model = match has("embed-audio") {
        true => Some(model_for("embed-audio")?),
        false => None,
    };
    // Each operation's cache key: its parameters and its models' digests (bulk::op_key).
    let version = env!("CARGO_PKG_VERSION");
    let digest = |p: &Path| -> Result<String> {
        vx_pipeline::bulk::file_digest(p).with_context(|| p.display().to_string())
    };
    let mut op_keys = Vec::new();
    for step in &plan.steps {
        let name = step.name.as_str();
        let (params, models): (serde_json::Value, Vec<PathBuf>) = match name {
            "detect" | "faces" => (
                serde_json::json!({"threshold": a.threshold}),
                vec![detector_models[name].clone()],
            ),
            "vad" => (
                serde_json::json!({"threshold": 0.5}),
                vad_model.iter().cloned().collect(),
            ),
            "transcribe" => (
                serde_json::json!({"language": null, "full_context": false}),
                whisper_model
                    .iter()
                    .cloned()
                    .chain(vad_model.iter().cloned())
                    .collect(),
            ),
            "embed-audio" => (serde_json::json!({}), embed_model.iter().cloned().collect()),
            _ => (serde_json::json!({}), Vec::new()),
        };
        let digests = models
            .iter()
            .map(|m| digest(m))
            .collect::<Result<Vec<_>>>()?
            .join(",");
        let params = serde_json::json!({
            "vx": version, "params": params, "range": range(), "streams": streams(),
        });
        op_keys.push(vx_pipeline::bulk::op_key(name, &params, Some(&digests)));
    }
    let jobs = a.jobs.max(1) as usize;
    let per_job = |n: usize| (n / jobs).max(1);
    let factory = |dir: &Path, steps: &[usize]| -> vx_pipeline::Result<Vec<Task>> {
        let mut tasks = Vec::new();
        for &i in steps {
            let step = &plan.steps[i];
            let op: Box<dyn Operation> = match step.name.as_str() {
                "probe" => Box::new(ops::probe::Probe::default()),
                "keyframes" => Box::new(ops::keyframes::Keyframes::new(
                    ops::keyframes::KeyframeOptions {
                        workers: per_job(shares.encoders),
                        ..Default::default()
                    },
                    dir,
                )?),
                name @ ("detect" | "faces") => {
                    let (shared, threshold) = detector(name)?;
                    Box::new(ops::detect::Detect::new(
                        if name == "detect" { "detect" } else { "faces" },
                        shared,
                        ops::detect::DetectOptions {
                            threshold,
                            debug_dir: a.debug.then(|| dir.join("debug")),
                            ..Default::default()
                        },
                    ))
                }
                "scenes" => Box::new(ops::scenes::Scenes::new(
                    ops::scenes::SceneOptions::content(),
                )?),
                "audio" => Box::new(ops::audio::Audio::new(
                    vx_media::audio::AudioFormat::default(),
                    &dir.join("audio.wav"),
                )?),
                "vad" => Box::new(ops::vad::Vad::new(
                    vad_model.as_deref().unwrap_or(Path::new("")),
                    0.5,
                    1,
                )?),
                "transcribe" => Box::new(ops::transcribe::Transcribe::new(
                    whisper()?,
                    ops::transcribe::TranscribeOptions {
                        language: None,
                        threads: shares.whisper,
                        full_context: false,
                        vad_model: vad_model.clone(),
                    },
                )?),
                "embed-audio" => Box::new(ops::embed_audio::EmbedAudio::new(
                    embed_model.as_deref().unwrap_or(Path::new("")),
                    shares.onnx,
                    None,
                )?),
                other => {
                    return Err(vx_pipeline::Error::Usage(format!(
                        "unknown operation {other}"
                    )))
                }
            };
            // Inputs refer to positions among the steps that run.
            let input = step.input.and_then(|p| steps.iter().position(|&j| j == p));
            tasks.push(Task { op, input });
        }
        Ok(tasks)
    };
    let found = vx_pipeline::bulk::expand(&a.inputs, &a.out);
    for (p, why) in &found.problems {
        vx_cli::say!("vx: warning: {}: {why}", p.display());
    }
    if found.files.is_empty() {
        return Err(usage("no input files found"));
    }
    let shard = match &a.shard {
        Some(s) => Some(vx_pipeline::bulk::parse_shard(s).map_err(usage)?),
        None => None,
    };
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        // Ctrl-C / SIGTERM: inputs in progress are abandoned (redone next time), the rest kept.
        let _ = ctrlc::set_handler(move || {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    let opts = vx_pipeline::bulk::BulkOptions {
        out: a.out.clone(),
        jobs,
        force: a.force,
        shard,
        debug: a.debug,
        queue: a.queue as usize,
        decoder_threads: per_job(shares.decoder),
        cancel,
        video_stream: streams().0,
        audio_stream: streams().1,
        range: range(),
    };
    let total = match shard {
        Some((k, n)) => found
            .files
            .iter()
            .filter(|f| vx_pipeline::bulk::in_shard(&vx_pipeline::result::input_id(f), k, n))
            .count(),
        None => found.files.len(),
    };
    let started = std::time::Instant::now();
    let progress = crate::progress::Bulk::new(total, jobs, quiet);
    let on_event = |e: vx_pipeline::bulk::Event| progress.event(e);
    let summary = vx_pipeline::bulk::run(
        &plan.steps,
        &op_keys,
        &found.files,
        &opts,
        &factory,
        &on_event,
    )
    .map_err(lift)?;
    progress.finish(&summary, started.elapsed().as_secs_f64(), &a.out);
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else if summary.partial + summary.errors > 0 || !found.problems.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
/// The FFmpeg side of `vx stream`: video sources, Matroska recording, video size.
pub struct Ffmpeg;

struct Mkv(vx_media::frames::MjpegRecorder);

impl stream::Recorder for Mkv {
    fn write(&mut self, jpeg: &[u8], rtp_timestamp: u32) -> Result<()> {
        Ok(self.0.write(jpeg, rtp_timestamp)?)
    }
    fn finish(self: Box<Self>) -> Result<()> {
        Ok(self.0.finish()?)
    }
}

impl stream::MediaBackend for Ffmpeg {
    fn for_each_jpeg(
        &self,
        path: &Path,
        quality: u8,
        accept: &mut dyn FnMut(&[u8]) -> bool,
        f: &mut dyn FnMut(&[u8]) -> std::ops::ControlFlow<()>,
    ) -> Result<()> {
        vx_media::frames::for_each_jpeg(path, quality, None, accept, |j, _| f(j))?;
        Ok(())
    }

    fn video_size(&self, path: &Path) -> Result<(u32, u32)> {
        let info = vx_media::probe::probe(path)?;
        let v = info
            .streams
            .iter()
            .find(|s| s.kind == "video")
            .ok_or_else(|| anyhow::anyhow!("{}: no video stream", path.display()))?;
        let (w, h) = (v.width.unwrap_or(0), v.height.unwrap_or(0));
        Ok(if v.rotation.unwrap_or(0) % 180 == 90 {
            (h, w)
        } else {
            (w, h)
        })
    }

    fn recorder(&self, path: &Path, width: u32, height: u32) -> Result<Box<dyn stream::Recorder>> {
        Ok(Box::new(Mkv(vx_media::frames::MjpegRecorder::create(
            path, width, height,
        )?)))
    }
}

pub fn models(cmd: ModelsCmd, quiet: bool) -> Result<ExitCode> {
    use vx_cli::models::{fetch, list, model_dir, CATALOGUE};
    let dir = model_dir();
    match cmd {
        ModelsCmd::List { json } => {
            let files = list(&dir)?;
            let missing: Vec<_> = CATALOGUE
                .iter()
                .filter(|k| !files.iter().any(|f| f.file == k.file))
                .collect();
            let manual: Vec<_> = vx_cli::models::MANUAL
                .iter()
                .filter(|m| !files.iter().any(|f| f.file == m.file))
                .collect();
            if json {
                let v = serde_json::json!({
                    "dir": dir,
                    "files": files,
                    "fetchable": missing,
                    "not_fetchable": manual,
                });
                vx_cli::outln!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            vx_cli::outln!("{}", dir.display());
            if files.is_empty() {
                vx_cli::outln!("  (no model files)");
            }
            for f in &files {
                if let Some(e) = &f.error {
                    vx_cli::outln!("  {:<32} unreadable: {e}", f.file);
                    continue;
                }
                let note = match (f.known_as, f.verified) {
                    (Some(n), Some(true)) => format!("  = {n}, checksum ok"),
                    (Some(n), _) => format!("  ! {n}, CHECKSUM MISMATCH"),
                    _ => String::new(),
                };
                vx_cli::outln!(
                    "  {:<32} {:>9.1} MiB  sha256 {}{note}",
                    f.file,
                    f.bytes as f64 / (1024.0 * 1024.0),
                    f.sha256
                );
            }
            if !missing.is_empty() {
                vx_cli::outln!("fetchable (vx models fetch NAME):");
                for k in missing {
                    vx_cli::outln!(
                        "  {:<10} {:>6.0} MiB  {}",
                        k.name,
                        k.approx_bytes as f64 / (1024.0 * 1024.0),
                        k.about
                    );
                }
            }
            if !manual.is_empty() {
                vx_cli::outln!(
                    "missing defaults with no official download (make them as described):"
                );
                for m in manual {
                    vx_cli::outln!("  {:<28} {:<12} {}", m.file, m.for_ops, m.how);
                }
            }
        }
        ModelsCmd::Fetch {
            name: None,
            all: true,
            force,
        } => {
            let (ok, failed) = vx_cli::models::fetch_all(&dir, force);
            for p in &ok {
                vx_cli::outln!("{}", p.display());
            }
            for f in &failed {
                vx_cli::say!("vx: error: {f}");
            }
            if !quiet {
                for m in vx_cli::models::MANUAL {
                    if !dir.join(m.file).is_file() {
                        vx_cli::say!(
                            "vx: note: {} ({}) has no official download; see `vx models list`",
                            m.file,
                            m.for_ops
                        );
                    }
                }
            }
            return Ok(if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        ModelsCmd::Fetch { name, force, .. } => {
            let name = name.unwrap_or_default();
            let tty = std::io::stderr().is_terminal() && !quiet;
            let mut last = std::time::Instant::now();
            let path = fetch(&name, &dir, force, |done, total| {
                if tty && last.elapsed().as_millis() >= 200 {
                    last = std::time::Instant::now();
                    vx_cli::say_part!(
                        "\r{name}: {:.1} / {:.1} MiB",
                        done as f64 / 1048576.0,
                        total as f64 / 1048576.0
                    );
                }
            })?;
            if tty {
                vx_cli::say!();
            }
            if !quiet {
                vx_cli::say!("vx: {name}: {}", path.display());
            }
            vx_cli::outln!("{}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vx doctor`.
pub fn doctor(json: bool) -> Result<ExitCode> {
    use serde_json::json;
    let ffmpeg: serde_json::Map<String, serde_json::Value> = vx_media::versions()
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let wanted = [
        "h264",
        "hevc",
        "vp8",
        "vp9",
        "av1",
        "libdav1d",
        "mpeg2video",
        "mpeg4",
        "mjpeg",
        "prores",
        "aac",
        "mp3",
        "opus",
        "vorbis",
        "flac",
        "pcm_s16le",
    ];
    let (have, missing): (Vec<&str>, Vec<&str>) =
        wanted.iter().partition(|n| vx_media::has_decoder(n));
    let ort = vx_infer::runtime::describe();
    let whisper = vx_infer::runtime::whisper_system_info();
    let dir = vx_cli::models::model_dir();
    let mut models = serde_json::Map::new();
    let mut problems = Vec::new();
    for (op, names) in ops::DEFAULT_MODELS {
        let found = names.iter().find_map(|n| resolve_model(n).ok());
        if found.is_none() {
            problems.push(format!(
                "{op}: no default model ({}) in {} (`vx models list` says how to get it)",
                names.join(", "),
                dir.display()
            ));
        }
        models.insert(op.to_string(), json!(found));
    }
    // Optional: `vx scenes --detector transnet` (content and adaptive need no model).
    models.insert(
        "scenes (--detector transnet)".into(),
        json!(resolve_model("transnetv2.onnx").ok()),
    );
    if let Err(e) = &ort {
        problems.push(format!(
            "detect, faces, vad, transcribe, embed-audio: ONNX Runtime: {e}"
        ));
    }
    if !missing.is_empty() {
        problems.push(format!("FFmpeg decoders missing: {}", missing.join(", ")));
    }
    let report = json!({
        "vx": env!("CARGO_PKG_VERSION"),
        "ffmpeg": ffmpeg,
        "decoders": have,
        "decoders_missing": missing,
        "onnxruntime": match &ort {
            Ok((p, info)) => json!({"path": p, "build": info}),
            Err(e) => json!({"error": e.to_string()}),
        },
        "whisper_cpp": whisper,
        "model_dir": dir,
        "default_models": models,
        "problems": problems,
    });
    if json {
        vx_cli::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        vx_cli::outln!("vx {}", env!("CARGO_PKG_VERSION"));
        let f = &report["ffmpeg"];
        vx_cli::outln!(
            "FFmpeg: libavcodec {}, libavformat {}, libavutil {}, libswscale {}, libswresample {}",
            f["libavcodec"].as_str().unwrap_or("?"),
            f["libavformat"].as_str().unwrap_or("?"),
            f["libavutil"].as_str().unwrap_or("?"),
            f["libswscale"].as_str().unwrap_or("?"),
            f["libswresample"].as_str().unwrap_or("?")
        );
        vx_cli::outln!("  decoders: {}", have.join(" "));
        match &ort {
            Ok((p, info)) => vx_cli::outln!("ONNX Runtime: {} ({info})", p.display()),
            Err(e) => vx_cli::outln!("ONNX Runtime: missing: {e}"),
        }
        vx_cli::outln!("whisper.cpp: {whisper}");
        vx_cli::outln!("model directory: {}", dir.display());
        for (op, m) in &models {
            match m.as_str() {
                Some(p) => vx_cli::outln!("  {op:<12} {p}"),
                None => vx_cli::outln!("  {op:<12} (missing)"),
            }
        }
        if problems.is_empty() {
            vx_cli::outln!("every command is ready");
        } else {
            for p in &problems {
                vx_cli::outln!("problem: {p}");
            }
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `vx subtitles`.
pub fn subtitles(
    file: &Path,
    stream: Option<usize>,
    list: bool,
    format: TextFormat,
    out: Option<&Path>,
) -> Result<ExitCode> {
    use vx_infer::transcribe::{to_srt, to_vtt, Segment};
    use vx_media::subtitles;
    let no_stream = |e: vx_media::MediaError| -> anyhow::Error {
        match e {
            vx_media::MediaError::NoStream { .. } => NoStreamError(e.to_string()).into(),
            e => e.into(),
        }
    };
    if list {
        for t in subtitles::tracks(file)? {
            vx_cli::outln!("{}", serde_json::to_string(&t)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let out = open_out(&[file], out)?;
    let (track, mut cues) = subtitles::extract(file, stream).map_err(no_stream)?;
    // --start/--end: the cues shown in the range.
    if let Some((from, to)) = range() {
        cues.retain(|c| c.end > from && to.is_none_or(|t| c.start < t));
    }
    let segments: Vec<Segment> = cues
        .iter()
        .map(|c| Segment {
            start: c.start,
            end: c.end,
            text: c.text.clone(),
        })
        .collect();
    let body = match format {
        TextFormat::Json => {
            let mut v = serde_json::json!({
                "source": file.to_string_lossy(),
                "stream_index": track.stream_index,
                "codec": track.codec,
                "cues": cues,
                "complete": true,
                "warnings": [],
            });
            // Left out when unknown, never null.
            if let Some(l) = &track.language {
                v["language"] = serde_json::json!(l);
            }
            json_text(&v, true)?
        }
        TextFormat::Srt => to_srt(&segments).into_bytes(),
        TextFormat::Vtt => to_vtt(&segments).into_bytes(),
        TextFormat::Txt => {
            let mut t: String = segments
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            t.push('\n');
            t.into_bytes()
        }
    };
    emit(out, &body)?;
    Ok(ExitCode::SUCCESS)
}

/// `vx scenes`.
#[allow(clippy::too_many_arguments)]
pub fn scenes(
    file: &Path,
    detector: SceneDetector,
    threshold: Option<f64>,
    min_scene_len: usize,
    model: &str,
    csv: bool,
    out: Option<&Path>,
    quiet: bool,
) -> Result<ExitCode> {
    use ops::scenes::{SceneOptions, Scenes, ScenesReport};
    let mut opts = match detector {
        SceneDetector::Content => SceneOptions::content(),
        SceneDetector::Adaptive => SceneOptions::adaptive(),
        SceneDetector::Transnet => SceneOptions::transnet(&resolve_model(model)?),
    };
    if let Some(t) = threshold {
        opts.threshold = t;
    }
    opts.min_scene_len = min_scene_len;
    let out = open_out(&[file], out)?;
    let op = Scenes::new(opts).map_err(lift)?;
    let o = single(file, Box::new(op), engine("scenes", 0, quiet), quiet)?;
    warn_all(file, &o.warnings);
    let r: ScenesReport = typed(o)?;
    let body = if csv {
        // PySceneDetect's `list-scenes` layout (without its timecode line).
        let mut t = String::from("Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame,End Timecode,End Time (seconds),Length (frames),Length (timecode),Length (seconds)\n");
        let tc = |s: f64| {
            let ms = (s * 1000.0).round() as u64;
            format!(
                "{:02}:{:02}:{:02}.{:03}",
                ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000
            )
        };
        for sc in &r.scenes {
            let len = sc.end - sc.start;
            t.push_str(&format!(
                "{},{},{},{:.3},{},{},{:.3},{},{},{:.3}\n",
                sc.index + 1,
                sc.start_frame + 1,
                tc(sc.start),
                sc.start,
                sc.end_frame + 1,
                tc(sc.end),
                sc.end,
                sc.end_frame + 1 - sc.start_frame,
                tc(len),
                len
            ));
        }
        t.into_bytes()
    } else {
        json_text(&r, true)?
    };
    emit(out, &body)?;
    Ok(ExitCode::SUCCESS)
}

/// `vx keyframes --per-scene`: the middle time of every scene of `file` (content detector).
pub fn scene_middles(file: &Path, quiet: bool) -> Result<Vec<f64>> {
    let op = ops::scenes::Scenes::new(ops::scenes::SceneOptions::content()).map_err(lift)?;
    let o = single(file, Box::new(op), engine("scenes", 0, quiet), true)?;
    let r: ops::scenes::ScenesReport = typed(o)?;
    Ok(r.scenes.iter().map(|s| (s.start + s.end) / 2.0).collect())
}

/// A single-input command over several inputs: one input runs as it always did (`out` as
/// given, or stdout); several need `-o DIR`, which gets one `<stem>.<ext>` per input (a stem
/// that repeats gets the input's path hash). An input that fails prints its error line and the
/// others go on; the exit status is 1 if one failed, else 3 if one lacked the stream needed.
pub fn each_input(
    files: &[PathBuf],
    out: Option<&Path>,
    ext: &str,
    mut one: impl FnMut(&Path, Option<&Path>) -> Result<ExitCode>,
) -> Result<ExitCode> {
    if let [file] = files {
        return one(file, out);
    }
    let Some(dir) = out else {
        return Err(usage(format!(
            "{} inputs: give -o DIR for their outputs (one {ext} file per input)",
            files.len()
        )));
    };
    if dir.exists() && !dir.is_dir() {
        return Err(usage(format!(
            "{}: several inputs need -o to name a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let stem = |f: &Path| {
        f.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "input".into())
    };
    let (mut failed, mut no_stream) = (false, false);
    for f in files {
        let repeats = files.iter().filter(|g| stem(g) == stem(f)).count() > 1;
        let name = if repeats {
            format!(
                "{}-{:08x}.{ext}",
                stem(f),
                vx_pipeline::result::path_hash(f)
            )
        } else {
            format!("{}.{ext}", stem(f))
        };
        match one(f, Some(&dir.join(name))) {
            Ok(c) if c == ExitCode::SUCCESS => {}
            Ok(_) => failed = true,
            Err(e) => {
                if e.downcast_ref::<UsageError>().is_some() {
                    return Err(e);
                }
                vx_cli::say!("vx: error: {}", vx_cli::one_line(&e));
                match e.downcast_ref::<NoStreamError>() {
                    Some(_) => no_stream = true,
                    None => failed = true,
                }
            }
        }
    }
    Ok(match (failed, no_stream) {
        (true, _) => ExitCode::from(1),
        (false, true) => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    })
}
