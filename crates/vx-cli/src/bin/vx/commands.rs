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

use crate::{AudioFmt, DetectArgs};
use vx_cli::stream;

/// A usage error found after parsing (exit status 2): the library's, which `vx stream` and
/// `vx models` raise too.
pub use vx_cli::UsageError;

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

pub(crate) use vx_cli::usage;

/// The pipeline's usage errors are usage errors of the command line.
pub(crate) fn lift(e: vx_pipeline::Error) -> anyhow::Error {
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

pub(crate) fn range() -> Option<(f64, Option<f64>)> {
    RANGE.get().copied()
}

pub(crate) fn streams() -> (Option<usize>, Option<usize>) {
    STREAMS.get().copied().unwrap_or_default()
}

/// Engine options with a progress line on a terminal ("vx: LABEL 45.3% 12.0 s").
pub(crate) fn engine(label: &str, decoder_threads: usize, quiet: bool) -> EngineOptions {
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

pub(crate) fn clear_progress(quiet: bool) {
    if !quiet && std::io::stderr().is_terminal() {
        vx_cli::say_part!("\r\x1b[K");
    }
}

/// Run one operation over `path`; its output, or its error (a skip is an error here: the
/// single command was asked for something the file does not have).
pub(crate) fn single(
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
            "vad" | "transcribe" | "embed-audio" | "detect" | "faces" | "ocr"
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
pub(crate) fn note_streams(path: &Path, run: &FileRun, quiet: bool) {
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

pub(crate) fn take_op(path: &Path, run: &mut FileRun, i: usize) -> Result<Output> {
    let op = &mut run.ops[i];
    match (&op.status, op.error.take(), op.output.take()) {
        (Status::Ok, _, Some(o)) => Ok(o),
        (Status::Skipped(r), _, _) => Err(NoStreamError(format!("{}: {r}", path.display())).into()),
        (_, Some(e), _) => Err(lift(e)),
        (s, _, _) => bail!("{}: {s:?}", path.display()),
    }
}

pub(crate) fn typed<T: 'static>(o: Output) -> Result<T> {
    o.take::<T>()
        .ok_or_else(|| anyhow::anyhow!("internal: unexpected report type"))
}

/// A report as JSON text (indented or compact) with a final newline.
pub(crate) fn json_text(value: &impl serde::Serialize, pretty: bool) -> Result<Vec<u8>> {
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
pub(crate) fn open_out(inputs: &[&Path], out: Option<&Path>) -> Result<Option<OutFile>> {
    let Some(p) = out else { return Ok(None) };
    refuse_overwrite(inputs, p)?;
    Ok(Some(
        OutFile::create(p).with_context(|| p.display().to_string())?,
    ))
}

/// Refuse an output path that names one of the inputs (after links).
pub(crate) fn refuse_overwrite(inputs: &[&Path], out: &Path) -> Result<()> {
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
pub(crate) fn emit(out: Option<OutFile>, bytes: &[u8]) -> Result<()> {
    match out {
        Some(mut f) => {
            let dest = f.dest().display().to_string();
            f.write_all(bytes).context(dest.clone())?;
            f.commit().context(dest)
        }
        None => to_stdout(bytes),
    }
}

pub(crate) fn warn_all(path: &Path, warnings: &[String]) {
    let name = path.display().to_string();
    for w in warnings {
        // A warning that names the file already (OCR's, which say which picture) says it once.
        if w.strip_prefix(name.as_str())
            .is_some_and(|rest| rest.starts_with([':', ' ']))
        {
            vx_cli::say!("vx: warning: {w}");
        } else {
            vx_cli::say!("vx: warning: {name}: {w}");
        }
    }
}

/// Write `bytes` to standard output, an error naming it (a full disk said only "No space left
/// on device").
pub(crate) fn to_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("standard output")
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

/// A model given by path, or by name in the model directory.
pub(crate) fn resolve_model(model: &str) -> Result<PathBuf> {
    vx_cli::models::resolve(model)
}

/// A default model: `name` in the model directory only.
pub(crate) fn model_dir_file(name: &str) -> Result<PathBuf> {
    vx_cli::models::in_model_dir(name)
}

/// The model of operation `op`: `given` (a path or a name in the model directory), else the
/// first of the operation's usual names found in the model directory
/// (vx_pipeline::ops::default_models) — for the single commands and `vx run` alike. `flag`
/// is how the user gives one (`--model PATH`, `--model OP=PATH`).
pub(crate) fn model_for(op: &str, given: Option<&str>, flag: &str) -> Result<PathBuf> {
    if let Some(m) = given {
        return resolve_model(m);
    }
    let names = ops::default_models(op);
    vx_pipeline::models::default_model(op).ok_or_else(|| {
            anyhow::anyhow!(
                "{op}: no model given ({flag}) and none of {} in the model directory {} (`vx models list` says how to get them)",
                names.join(", "),
                vx_cli::models::model_dir().display()
            )
        })
}

pub(crate) fn open_detector(
    model: &Path,
    family: Option<vx_infer::detect::Family>,
    labels: Option<&Path>,
    threads: usize,
) -> Result<ops::detect::SharedDetector> {
    vx_pipeline::runner::open_detector(model, family, labels, threads).map_err(lift)
}

/// A score threshold is between 0 and 1 (a usage error otherwise).
pub(crate) fn check_score_threshold(t: f32) -> Result<()> {
    vx_pipeline::runner::check_score_threshold(t).map_err(lift)
}

/// Check a `--threshold` of detect / faces and return the one that applies (the model's own
/// cut-off when it is higher, with a warning: the reports give the applied value).
pub(crate) fn detect_threshold(
    shared: &ops::detect::SharedDetector,
    requested: f32,
) -> Result<f32> {
    check_score_threshold(requested)?;
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
    per_scene: bool,
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
    // --per-scene: the content detector hands keyframes one frame per scene (the one nearest
    // its middle), in the same pass.
    let mut tasks = Vec::new();
    if per_scene {
        tasks.push(Task {
            op: Box::new(
                ops::scenes::Scenes::new(ops::scenes::SceneOptions::content()).map_err(lift)?,
            ),
            input: None,
        });
    }
    let kf = tasks.len();
    tasks.push(Task {
        op: Box::new(ops::keyframes::Keyframes::new(opts, stage.path()).map_err(lift)?),
        input: per_scene.then_some(0),
    });
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
            input: Some(kf),
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
    note_streams(file, &run, quiet);
    if per_scene {
        // The scene pass's own failure, not keyframes' "no frames" after it.
        take_op(file, &mut run, 0)?;
    }
    let report: ops::keyframes::KeyframesReport = typed(take_op(file, &mut run, kf)?)?;
    if det_model.is_some() {
        let o = take_op(file, &mut run, kf + 1)?;
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
    // An earlier run's contact sheet is not this run's (it stayed beside a run without one).
    stale.push("sheet.jpg".into());
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
    model: &Path,
    threshold: f32,
    out: Option<&Path>,
    threads: usize,
    quiet: bool,
) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(usage(format!(
            "--threshold {threshold}: a speech probability threshold is between 0 and 1"
        )));
    }
    let out = open_out(&[file], out)?;
    let op = ops::vad::Vad::new(model, threshold, threads).map_err(lift)?;
    let o = single(file, Box::new(op), engine("vad", 0, quiet), quiet)?;
    warn_all(file, &o.warnings);
    emit(out, &json_text(&o.report.to_json(), true)?)?;
    Ok(ExitCode::SUCCESS)
}

/// `vx embed-audio`; `npy` Some(None): beside the JSON output (`out` with .npy).
pub fn embed_audio(
    file: &Path,
    model: &Path,
    out: Option<&Path>,
    npy: Option<Option<&Path>>,
    threads: usize,
    quiet: bool,
) -> Result<ExitCode> {
    let npy = match npy {
        Some(None) => Some(
            out.filter(|o| o.as_os_str() != "-")
                .ok_or_else(|| {
                    usage("--npy without a name goes beside -o OUT.json: give -o, or --npy OUT.npy")
                })?
                .with_extension("npy"),
        ),
        Some(Some(n)) => Some(n.to_path_buf()),
        None => None,
    };
    two_outputs(out, npy.as_deref())?;
    let out = open_out(&[file], out)?;
    if let Some(n) = &npy {
        refuse_overwrite(&[file], n)?;
    }
    let op = ops::embed_audio::EmbedAudio::new(model, threads, npy).map_err(lift)?;
    let o = single(file, Box::new(op), engine("embed-audio", 0, quiet), quiet)?;
    warn_all(file, &o.warnings);
    // The .npy is this run's: not left behind when the JSON cannot be written.
    emit(out, &json_text(&o.report.to_json(), false)?).inspect_err(|_| {
        o.files.iter().for_each(|f| drop(std::fs::remove_file(f)));
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn detect(
    a: &DetectArgs,
    family: Option<vx_infer::detect::Family>,
    name: &'static str,
    quiet: bool,
) -> Result<ExitCode> {
    let inputs: Vec<&Path> = a.inputs.iter().map(PathBuf::as_path).collect();
    // --blur OUT.mkv: the blurred video of one input, every frame detected.
    let blur_video = a
        .blur
        .clone()
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("mkv")));
    if let Some(v) = &blur_video {
        if a.inputs.len() != 1 || a.every.is_some() {
            return Err(usage(format!(
                "--blur {}: a blurred video is made from one video input, every frame (no --every)",
                v.display()
            )));
        }
        refuse_overwrite(&inputs, v)?;
        if a.out.as_deref().is_some_and(|o| o == v.as_path()) {
            return Err(usage(format!(
                "--blur {}: the same file as -o; choose another",
                v.display()
            )));
        }
    }
    let model = model_for(name, a.model.as_deref(), "--model PATH")?;
    let out = open_out(&inputs, a.out.as_deref())?;
    let shared = open_detector(&model, family, a.labels.as_deref(), a.threads)?;
    let threshold = detect_threshold(&shared, a.threshold)?;
    if let Some(wanted) = &a.classes {
        let known = shared
            .detector
            .lock()
            .map(|d| d.class_names())
            .unwrap_or_default();
        vx_infer::detect::check_classes(wanted, &known, &model)
            .map_err(|e| usage(format!("--classes: {e}")))?;
    }
    let opts = ops::detect::DetectOptions {
        threshold,
        classes: a.classes.clone(),
        agnostic_nms: a.agnostic_nms,
        every: a.every,
        annotate: a.annotate.clone(),
        blur: a.blur.clone().filter(|_| blur_video.is_none()),
        blur_video,
        batch: a.batch as usize,
        ..Default::default()
    };
    let outcomes = a.inputs.iter().map(|input| {
        let op = ops::detect::Detect::new(name, shared.clone(), opts.clone());
        (
            input.as_path(),
            single(input, Box::new(op), engine(name, 0, quiet), quiet),
        )
    });
    let (gathered, status) = gather(outcomes, |r: ops::detect::DetectReport| {
        (r.results, r.warnings)
    })?;
    // Nothing succeeded: no JSON that looks like an (empty) result.
    if let Some((results, warnings)) = gathered {
        let report = ops::detect::DetectReport {
            model,
            threshold,
            agnostic_nms: a.agnostic_nms,
            results,
            complete: warnings.is_empty(),
            warnings,
        };
        emit(out, &json_text(&report, true)?)?;
    }
    Ok(status)
}

/// The results and warnings of every input that succeeded (None when none did).
pub(crate) type Gathered<T> = Option<(Vec<T>, Vec<String>)>;

/// The reports of a command's inputs gathered into one: each report's results and warnings
/// (`take`), the error line of each input that failed printed and kept as a warning. Returns
/// them (None when no input succeeded: then no JSON is written) and the exit status: 1 if
/// an input failed, else 3 if one lacked the stream the command needs, else 0.
pub(crate) fn gather<'a, R: 'static, T>(
    outcomes: impl IntoIterator<Item = (&'a Path, Result<Output>)>,
    mut take: impl FnMut(R) -> (Vec<T>, Vec<String>),
) -> Result<(Gathered<T>, ExitCode)> {
    let (mut results, mut warnings) = (Vec::new(), Vec::new());
    let (mut failed, mut no_stream, mut done) = (false, false, 0);
    for (input, outcome) in outcomes {
        match outcome {
            Ok(o) => {
                warn_all(input, &o.warnings);
                let (r, w) = take(typed(o)?);
                results.extend(r);
                warnings.extend(w.iter().map(|w| format!("{}: {w}", input.display())));
                done += 1;
            }
            Err(e) => {
                let line = vx_cli::one_line(&e);
                vx_cli::say!("vx: error: {line}");
                warnings.push(line);
                match e.downcast_ref::<NoStreamError>() {
                    Some(_) => no_stream = true,
                    None => failed = true,
                }
            }
        }
    }
    let status = match (failed, no_stream) {
        (true, _) => ExitCode::from(1),
        (false, true) => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    };
    Ok(((done > 0).then_some((results, warnings)), status))
}

/// `-o` and `--npy` must be two files (a usage error otherwise).
pub(crate) fn two_outputs(out: Option<&Path>, npy: Option<&Path>) -> Result<()> {
    if let (Some(o), Some(n)) = (out, npy) {
        if o == n || vx_image::fsutil::same_file(o, n) {
            return Err(usage(format!(
                "{}: -o and --npy name the same file; choose two",
                n.display()
            )));
        }
    }
    Ok(())
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

    fn video_info(&self, path: &Path) -> Result<stream::VideoInfo> {
        let info = vx_media::probe::probe(path)?;
        let v = info
            .streams
            .iter()
            .find(|s| s.kind == "video")
            .ok_or_else(|| anyhow::anyhow!("{}: no video stream", path.display()))?;
        let (w, h) = (v.width.unwrap_or(0), v.height.unwrap_or(0));
        let (width, height) = if v.rotation.unwrap_or(0) % 180 == 90 {
            (h, w)
        } else {
            (w, h)
        };
        Ok(stream::VideoInfo {
            width,
            height,
            rate: v.frame_rate,
        })
    }

    fn recorder(
        &self,
        path: &Path,
        width: u32,
        height: u32,
        frame_secs: f64,
    ) -> Result<Box<dyn stream::Recorder>> {
        Ok(Box::new(Mkv(vx_media::frames::MjpegRecorder::create(
            path, width, height,
        )?
        .with_frame_duration(frame_secs))))
    }
}
