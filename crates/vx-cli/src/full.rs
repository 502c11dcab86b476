//! `vx-full`: every vx command, linked with FFmpeg's libraries. Users run `vx` (src/main.rs),
//! which handles FFmpeg-free streaming itself and runs this binary (as argv[0] "vx") for
//! everything else.
//!
//! A thin shell over the library crates: parse arguments, report progress, print one clear
//! line per failure. Exit codes: 0 success, 1 processing error, 2 usage error.
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use vx_cli::{one_line, stream};
use vx_media::jpeg::ImageFormat;
use vx_media::keyframes::{self, KeyframeOptions, Progress};

#[derive(Parser)]
#[command(
    name = "vx",
    version,
    about = "Keyframes, metadata and more from video, in-process with FFmpeg's libraries"
)]
#[command(propagate_version = true)]
struct Cli {
    /// Show FFmpeg's own warnings on stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// No progress or summary on stderr (errors and warnings are still printed).
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print container and stream metadata as JSON (one object; JSON Lines for several files).
    Probe {
        /// Media files to probe.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write every keyframe of a video as an image, plus DIR/keyframes.json.
    ///
    /// A keyframe is a frame the decoder flags as key: the set `ffmpeg -skip_frame nokey`
    /// yields. Only those frames are decoded. See docs/KEYFRAMES.md.
    Keyframes {
        /// Input video.
        file: PathBuf,
        /// Output directory (created if missing).
        #[arg(short, long, value_name = "DIR")]
        out: PathBuf,
        /// JPEG quality, 1-100.
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
        quality: u8,
        /// Stop after N keyframes.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
        /// Skip keyframes closer than SECONDS to the last kept one.
        #[arg(long, value_name = "SECONDS")]
        min_interval: Option<f64>,
        /// Drop near-duplicates of the last kept keyframe: pHash Hamming distance <= DISTANCE
        /// (0-64). Off by default; `--dedup` alone means 8.
        #[arg(long, value_name = "DISTANCE", num_args = 0..=1, default_missing_value = "8",
              require_equals = true, value_parser = clap::value_parser!(u32).range(0..=64))]
        dedup: Option<u32>,
        /// Downscale so that the longest side is at most N pixels.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_side: Option<u32>,
        /// Image format.
        #[arg(long, value_enum, default_value_t = Format::Jpg)]
        format: Format,
        /// Decoder threads and encoder workers (0 = one per CPU).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Also run this detection model (path or name in $VX_MODEL_DIR) on every written
        /// keyframe, from the same decoded frames, into DIR/detections.json.
        #[arg(long, value_name = "MODEL")]
        detect: Option<String>,
        /// Score threshold for --detect.
        #[arg(long, default_value_t = 0.5, requires = "detect")]
        threshold: f32,
    },
    /// Extract the audio of any file FFmpeg opens as WAV, resampled in-process
    /// (libswresample): 16 kHz mono 16-bit by default, what speech models take.
    Audio {
        /// Input file (audio or video).
        file: PathBuf,
        /// Output WAV file (written under a temporary name, renamed when complete).
        #[arg(short, long, value_name = "OUT.wav")]
        out: PathBuf,
        /// Sample rate in Hz.
        #[arg(long, default_value_t = 16000, value_parser = clap::value_parser!(u32).range(1000..=768000))]
        rate: u32,
        /// Number of channels.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
        channels: u16,
        /// Sample format.
        #[arg(long, value_enum, default_value_t = AudioFmt::S16)]
        format: AudioFmt,
    },
    /// Speech to text with whisper.cpp, run only on the speech VAD finds (windows of up to
    /// 30 s); timestamps in seconds of the file.
    Transcribe {
        /// Input file (audio or video).
        file: PathBuf,
        /// whisper.cpp ggml model: a path, or a name in the model directory (`vx models list`;
        /// catalogue names such as tiny.en find ggml-tiny.en.bin).
        #[arg(long)]
        model: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TextFormat::Json)]
        format: TextFormat,
        /// Write here instead of stdout (atomically).
        #[arg(short, long, value_name = "OUT")]
        out: Option<PathBuf>,
        /// Spoken language (e.g. "en", or "auto"); default: English for English-only models,
        /// else detected on the first speech window and kept for the file.
        #[arg(long)]
        language: Option<String>,
        /// whisper.cpp threads (0 = one per CPU).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Transcribe everything, silence included (no VAD).
        #[arg(long)]
        no_vad: bool,
        /// Encode whisper's full 30 s context for every window (slower; by default the encoder
        /// sees the window plus a margin, at least 10 s).
        #[arg(long)]
        full_context: bool,
        /// Silero VAD model; default: silero_vad.onnx in $VX_MODEL_DIR or beside --model.
        #[arg(long, value_name = "PATH")]
        vad_model: Option<String>,
    },
    /// Find where people speak (Silero VAD on 16 kHz mono audio decoded in-process): JSON
    /// with the speech spans in seconds.
    Vad {
        /// Input file (audio or video).
        file: PathBuf,
        /// Silero VAD ONNX model, or a name in $VX_MODEL_DIR.
        #[arg(long)]
        model: String,
        /// Speech probability threshold (speech ends 0.15 below it).
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
        /// Write the JSON here instead of stdout (atomically).
        #[arg(short, long, value_name = "OUT.json")]
        out: Option<PathBuf>,
    },
    /// Sound embeddings (aisfx, 512-d) for every 2.32 s window (hop 1.16 s) of a file's audio.
    EmbedAudio {
        /// Input file (audio or video).
        file: PathBuf,
        /// The aisfx ONNX model (sfx_embedding.onnx), or a name in $VX_MODEL_DIR.
        #[arg(long)]
        model: String,
        /// Write the JSON here instead of stdout (atomically).
        #[arg(short, long, value_name = "OUT.json")]
        out: Option<PathBuf>,
        /// Also write the vectors as a [windows, 512] float32 .npy file.
        #[arg(long, value_name = "OUT.npy")]
        npy: Option<PathBuf>,
    },
    /// Detect objects in images or videos with an ONNX model (adapter chosen from the model's
    /// signature: TF Object Detection API SSD, CenterFace, YOLO v5/v8/11).
    ///
    /// Videos: every keyframe by default, or one frame every --every seconds; decoded frames go
    /// straight to the model (no JPEG, no files) while the next ones decode.
    Detect(DetectArgs),
    /// Detect faces (boxes and 5 landmarks) in images or videos with a CenterFace ONNX model.
    Faces(DetectArgs),
    /// MJPEG over RTP/UDP (RFC 2435): send or receive a stream.
    Stream {
        #[command(subcommand)]
        cmd: stream::StreamCmd,
    },
    /// The model directory ($VX_MODEL_DIR, else ~/.cache/vx/models): what is there, and
    /// downloads of the official whisper.cpp models.
    Models {
        #[command(subcommand)]
        cmd: ModelsCmd,
    },
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// Files in the model directory with sizes and SHA-256, then what `fetch` could add.
    List {
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Download an official whisper.cpp ggml model (tiny, tiny.en, base, base.en, small,
    /// small.en) from Hugging Face ($VX_MODEL_MIRROR replaces the base URL), checked against
    /// its SHA-256, into the model directory.
    Fetch {
        /// Catalogue name, e.g. tiny.en.
        name: String,
        /// Download again even if a good copy is there.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum FamilyArg {
    /// TensorFlow Object Detection API SSD (uint8 NHWC input; boxes/scores/classes outputs).
    Ssd,
    /// CenterFace face detector (heatmap, scale, offset, landmarks).
    Centerface,
    /// Ultralytics YOLO v5 / v8 / 11 export.
    Yolo,
}

impl From<FamilyArg> for vx_infer::detect::Family {
    fn from(f: FamilyArg) -> Self {
        match f {
            FamilyArg::Ssd => Self::Ssd,
            FamilyArg::Centerface => Self::CenterFace,
            FamilyArg::Yolo => Self::Yolo,
        }
    }
}

#[derive(clap::Args)]
struct DetectArgs {
    /// Images (JPEG, PNG, WebP, ...) and/or videos, decoded in-process.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Model file, or a name looked up in the model directory (with or without .onnx; see
    /// `vx models list`).
    #[arg(long)]
    model: String,
    /// Class names ("<id> <name>" or one name per line); default: coco_labels_90.txt beside
    /// the model when there is one.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Keep detections with at least this score.
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
    /// Videos: one frame every SECONDS instead of every keyframe.
    #[arg(long, value_name = "SECONDS")]
    every: Option<f64>,
    /// Also write each picture with its boxes and labels drawn, as JPEG, into DIR.
    #[arg(long, value_name = "DIR")]
    annotate: Option<PathBuf>,
    /// Model family, instead of choosing it from the model's inputs and outputs.
    #[arg(long, value_enum)]
    family: Option<FamilyArg>,
    /// Videos: frames per model call, where the model allows several (SSD); 1 = one at a
    /// time. (On the 2-core build machine the batch size made no measurable difference:
    /// bench/detect.)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    batch: u32,
    /// Write the JSON here instead of stdout (atomically).
    #[arg(short, long, value_name = "OUT.json")]
    out: Option<PathBuf>,
    /// Inference threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum TextFormat {
    Json,
    Srt,
    Vtt,
    Txt,
}

#[derive(Clone, Copy, ValueEnum)]
enum AudioFmt {
    S16,
    F32,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Jpg,
    Png,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    vx_media::init(if cli.verbose {
        vx_media::FfmpegLog::Warnings
    } else {
        vx_media::FfmpegLog::Quiet
    });
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vx: error: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Probe { files } => probe(&files),
        Command::Models { cmd } => models(cmd, cli.quiet),
        Command::Audio {
            file,
            out,
            rate,
            channels,
            format,
        } => {
            use vx_media::audio::{extract_wav, AudioFormat, SampleFormat};
            let format = match format {
                AudioFmt::S16 => SampleFormat::S16,
                AudioFmt::F32 => SampleFormat::F32,
            };
            let started = std::time::Instant::now();
            let stats = extract_wav(
                &file,
                &out,
                AudioFormat {
                    rate,
                    channels,
                    format,
                },
            )?;
            if !cli.quiet {
                eprintln!(
                    "vx: {:.3} s of audio ({} samples at {rate} Hz, {channels} channel(s)) written to {} in {:.2} s",
                    stats.samples as f64 / rate as f64,
                    stats.samples,
                    out.display(),
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Vad {
            file,
            model,
            threshold,
            out,
        } => vad(&file, &model, threshold, out.as_deref()),
        Command::EmbedAudio {
            file,
            model,
            out,
            npy,
        } => embed_audio(&file, &model, out.as_deref(), npy.as_deref()),
        Command::Transcribe {
            file,
            model,
            format,
            out,
            language,
            threads,
            no_vad,
            full_context,
            vad_model,
        } => transcribe(
            &file,
            &model,
            format,
            out.as_deref(),
            language.as_deref(),
            threads,
            no_vad,
            full_context,
            vad_model.as_deref(),
            cli.quiet,
        ),
        Command::Detect(a) => detect(&a, a.family.map(Into::into)),
        Command::Faces(a) => detect(
            &a,
            Some(
                a.family
                    .map_or(vx_infer::detect::Family::CenterFace, Into::into),
            ),
        ),
        Command::Stream { cmd } => {
            stream::run(cmd, cli.quiet, Some(&Ffmpeg)).map(|_| ExitCode::SUCCESS)
        }
        Command::Keyframes {
            file,
            out,
            quality,
            max,
            min_interval,
            dedup,
            max_side,
            format,
            threads,
            detect,
            threshold,
        } => {
            if let Some(s) = min_interval {
                if !(s.is_finite() && s >= 0.0) {
                    eprintln!("vx: error: --min-interval must be a number of seconds >= 0");
                    return Ok(ExitCode::from(2));
                }
            }
            let opts = KeyframeOptions {
                quality,
                max,
                min_interval,
                dedup,
                max_side,
                format: match format {
                    Format::Jpg => ImageFormat::Jpeg,
                    Format::Png => ImageFormat::Png,
                },
                threads,
            };
            keyframes_cmd(
                &file,
                &out,
                &opts,
                detect.as_deref().map(|m| (m, threshold)),
                cli.quiet,
            )
        }
    }
}

fn probe(files: &[PathBuf]) -> Result<ExitCode> {
    let mut failed = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for f in files {
        match vx_media::probe::probe(f) {
            Ok(info) => {
                if files.len() == 1 {
                    serde_json::to_writer_pretty(&mut out, &info)?;
                } else {
                    serde_json::to_writer(&mut out, &info)?;
                }
                writeln!(out)?;
            }
            Err(e) => {
                eprintln!("vx: error: {e}");
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

fn keyframes_cmd(
    file: &Path,
    out: &Path,
    opts: &KeyframeOptions,
    detect: Option<(&str, f32)>,
    quiet: bool,
) -> Result<ExitCode> {
    let show = !quiet && std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut last_draw = std::time::Instant::now();
    let mut detector = match detect {
        Some((model, threshold)) => {
            let model = resolve_model(model)?;
            let labels = default_labels(&model, None)?;
            let det = vx_infer::detect::Detector::open(&model, None, labels, Default::default())?;
            Some((det, model, threshold))
        }
        None => None,
    };
    let mut found: Vec<DetectResult> = Vec::new();
    let mut detect_err: Option<anyhow::Error> = None;
    let inspect = |k: &keyframes::Keyframe, img: &vx_media::image::Yuv| {
        let Some((det, _, threshold)) = detector.as_mut() else {
            return;
        };
        if detect_err.is_some() {
            return;
        }
        let rgb = img.to_rgb();
        match det.detect(&rgb, img.width, img.height, *threshold) {
            Ok(detections) => found.push(DetectResult {
                source: file.to_path_buf(),
                time: k.time,
                keyframe: Some(k.path.clone()),
                annotated: None,
                width: img.width,
                height: img.height,
                detections,
            }),
            Err(e) => detect_err = Some(e.into()),
        }
    };
    let report = keyframes::extract_with(
        file,
        out,
        opts,
        |p: Progress| {
            if show && last_draw.elapsed().as_millis() >= 100 {
                last_draw = std::time::Instant::now();
                let pct = p
                    .duration
                    .filter(|d| *d > 0.0)
                    .map(|d| (p.seconds / d * 100.0).clamp(0.0, 100.0));
                let bar = match pct {
                    Some(pc) => format!("{pc:5.1}% "),
                    None => String::new(),
                };
                eprint!(
                    "\r\x1b[Kvx: keyframes {bar}{:.1} s  {} written",
                    p.seconds, p.written
                );
            }
        },
        inspect,
    );
    if show {
        eprint!("\r\x1b[K");
    }
    let report = report?;
    if let Some(e) = detect_err {
        return Err(e);
    }
    if let Some((_, model, threshold)) = detector {
        let p = out.join("detections.json");
        let json = json_text(
            &DetectReport {
                model,
                threshold,
                results: found,
            },
            true,
        )?;
        vx_image::fsutil::write_atomic(&p, &json).with_context(|| p.display().to_string())?;
    }
    let json = keyframes::write_report(&report, out).context("writing keyframes.json")?;
    for w in &report.warnings {
        eprintln!("vx: warning: {}: {w}", file.display());
    }
    if !quiet {
        eprintln!(
            "vx: {} keyframe(s) written to {} in {:.2} s ({} decoded{}{}); index: {}",
            report.stats.written,
            out.display(),
            started.elapsed().as_secs_f64(),
            report.stats.decoded,
            if report.stats.skipped_interval > 0 {
                format!(", {} too close", report.stats.skipped_interval)
            } else {
                String::new()
            },
            if report.stats.skipped_duplicate > 0 {
                format!(", {} duplicates", report.stats.skipped_duplicate)
            } else {
                String::new()
            },
            json.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The FFmpeg side of `vx stream`: video sources, Matroska recording, video size.
struct Ffmpeg;

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

/// A model given by path, or by name in $VX_MODEL_DIR.
fn resolve_model(model: &str) -> Result<PathBuf> {
    vx_cli::models::resolve(model)
}

fn models(cmd: ModelsCmd, quiet: bool) -> Result<ExitCode> {
    use vx_cli::models::{fetch, list, model_dir, CATALOGUE};
    let dir = model_dir();
    match cmd {
        ModelsCmd::List { json } => {
            let files = list(&dir)?;
            let missing: Vec<_> = CATALOGUE
                .iter()
                .filter(|k| !files.iter().any(|f| f.file == k.file))
                .collect();
            if json {
                let v = serde_json::json!({
                    "dir": dir,
                    "files": files,
                    "fetchable": missing,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("{}", dir.display());
            if files.is_empty() {
                println!("  (no model files)");
            }
            for f in &files {
                let note = match (f.known_as, f.verified) {
                    (Some(n), Some(true)) => format!("  = {n}, checksum ok"),
                    (Some(n), _) => format!("  ! {n}, CHECKSUM MISMATCH"),
                    _ => String::new(),
                };
                println!(
                    "  {:<32} {:>9.1} MiB  sha256 {}{note}",
                    f.file,
                    f.bytes as f64 / (1024.0 * 1024.0),
                    f.sha256
                );
            }
            if !missing.is_empty() {
                println!("fetchable (vx models fetch NAME):");
                for k in missing {
                    println!(
                        "  {:<10} {:>6.0} MiB  {}",
                        k.name,
                        k.approx_bytes as f64 / (1024.0 * 1024.0),
                        k.about
                    );
                }
            }
        }
        ModelsCmd::Fetch { name, force } => {
            let tty = std::io::stderr().is_terminal() && !quiet;
            let mut last = std::time::Instant::now();
            let path = fetch(&name, &dir, force, |done, total| {
                if tty && last.elapsed().as_millis() >= 200 {
                    last = std::time::Instant::now();
                    eprint!(
                        "\r{name}: {:.1} / {:.1} MiB",
                        done as f64 / 1048576.0,
                        total as f64 / 1048576.0
                    );
                }
            })?;
            if tty {
                eprintln!();
            }
            if !quiet {
                eprintln!("vx: {name}: {}", path.display());
            }
            println!("{}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct DetectResult {
    source: PathBuf,
    /// Seconds (pts x time base) of the frame, for videos.
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<f64>,
    /// The keyframe image this result is about (vx keyframes --detect), relative to DIR.
    #[serde(skip_serializing_if = "Option::is_none")]
    keyframe: Option<String>,
    /// The annotated picture, with --annotate.
    #[serde(skip_serializing_if = "Option::is_none")]
    annotated: Option<PathBuf>,
    width: usize,
    height: usize,
    detections: Vec<vx_infer::detect::Detection>,
}

#[derive(serde::Serialize)]
struct DetectReport {
    model: PathBuf,
    threshold: f32,
    results: Vec<DetectResult>,
}

fn detect(a: &DetectArgs, family: Option<vx_infer::detect::Family>) -> Result<ExitCode> {
    use vx_infer::detect::Detector;
    if let Some(e) = a.every {
        if !(e.is_finite() && e > 0.0) {
            eprintln!("vx: error: --every must be a number of seconds > 0");
            return Ok(ExitCode::from(2));
        }
    }
    let model = resolve_model(&a.model)?;
    let labels = default_labels(&model, a.labels.as_deref())?;
    let mut det = Detector::open(
        &model,
        family,
        labels,
        vx_infer::runtime::SessionOptions { threads: a.threads },
    )?;
    let mut results = Vec::with_capacity(a.inputs.len());
    let mut failed = false;
    for input in &a.inputs {
        let r = (|| -> Result<Vec<DetectResult>> {
            use vx_media::decode::{DecodeMode, VideoDecoder};
            // One open: a still image is decoded here, a video handed on.
            let mode = if a.every.is_some() {
                DecodeMode::All
            } else {
                DecodeMode::KeyFrames
            };
            let mut dec = VideoDecoder::open(input, mode, 0)?;
            if dec.is_still() {
                let img = vx_media::still::first_rgb(&mut dec)?;
                let detections = det.detect(&img.data, img.width, img.height, a.threshold)?;
                let (width, height) = (img.width, img.height);
                let annotated = match &a.annotate {
                    Some(dir) => Some(annotate(dir, input, None, img, &detections)?),
                    None => None,
                };
                return Ok(vec![DetectResult {
                    source: input.clone(),
                    time: None,
                    keyframe: None,
                    annotated,
                    width,
                    height,
                    detections,
                }]);
            }
            detect_video(
                &mut det,
                dec,
                a.every,
                a.threshold,
                a.annotate.as_deref(),
                a.batch as usize,
            )
        })();
        match r {
            Ok(r) => results.extend(r),
            Err(e) => {
                eprintln!("vx: error: {}", one_line(&e));
                failed = true;
            }
        }
    }
    let report = DetectReport {
        model,
        threshold: a.threshold,
        results,
    };
    let json = json_text(&report, true)?;
    emit(a.out.as_deref(), &json)?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Detections on a video's keyframes (or one frame every `every` seconds). This thread
/// decodes and converts (one swscale pass from the decoder's YUV to the model's RGB); a
/// scoped worker runs the model on up to `batch` waiting frames per call; a channel of
/// `batch` frames bounds memory and lets both overlap.
fn detect_video(
    det: &mut vx_infer::detect::Detector,
    mut dec: vx_media::decode::VideoDecoder,
    every: Option<f64>,
    threshold: f32,
    annotate_dir: Option<&Path>,
    batch: usize,
) -> Result<Vec<DetectResult>> {
    type Work = (
        Option<f64>,
        vx_media::still::Rgb,
        Option<vx_media::still::Rgb>,
    );
    let path = dec.path().to_path_buf();
    let input = path.as_path();
    let rotation = dec.info.rotation;
    let mut conv = vx_media::convert::Converter::new();
    let mut full_conv = vx_media::convert::Converter::new();
    // Upright source size (boxes are reported in it) and the size the model wants.
    let (cw, ch) = (dec.info.width as usize, dec.info.height as usize);
    let source = if rotation.rem_euclid(180) == 90 {
        (ch, cw)
    } else {
        (cw, ch)
    };
    let target = det.native_size();
    let batch = batch.max(1);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Work>(batch);
    std::thread::scope(|s| -> Result<Vec<DetectResult>> {
        let worker = s.spawn(move || -> Result<Vec<DetectResult>> {
            let mut out = Vec::new();
            let mut pending: Vec<Work> = Vec::with_capacity(batch);
            // Wait for one frame, then take whatever else is already waiting (up to `batch`).
            while let Ok(w) = rx.recv() {
                pending.push(w);
                while pending.len() < batch {
                    match rx.try_recv() {
                        Ok(w) => pending.push(w),
                        Err(_) => break,
                    }
                }
                let pictures: Vec<&[u8]> = pending.iter().map(|w| &w.1.data[..]).collect();
                let (pw, ph) = (pending[0].1.width, pending[0].1.height);
                let found = det.detect_frames(&pictures, pw, ph, source, threshold)?;
                for ((time, _, full), detections) in pending.drain(..).zip(found) {
                    let annotated = match (annotate_dir, full) {
                        (Some(dir), Some(full)) => {
                            Some(annotate(dir, input, time, full, &detections)?)
                        }
                        _ => None,
                    };
                    out.push(DetectResult {
                        source: input.to_path_buf(),
                        time,
                        keyframe: None,
                        annotated,
                        width: source.0,
                        height: source.1,
                        detections,
                    });
                }
            }
            Ok(out)
        });
        let mut next: Option<f64> = None;
        let mut sent = 0usize;
        let tb = dec.time_base();
        while let Some(frame) = dec.next_frame() {
            let (_, time) = vx_media::decode::frame_time(frame, tb);
            if let (Some(step), Some(t)) = (every, time) {
                if next.is_some_and(|n| t + 1e-6 < n) {
                    continue;
                }
                // The next sample is the first multiple of `step` (from the first one) after t.
                let base = next.unwrap_or(t);
                next = Some(base + (((t - base) / step).floor() + 1.0) * step);
            }
            let rgb = conv
                .to_rgb(frame, rotation, target)
                .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
            // Annotated pictures are drawn at the source size, converted only when asked for.
            let full = match annotate_dir {
                Some(_) => Some(
                    full_conv
                        .to_rgb(frame, rotation, None)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?,
                ),
                None => None,
            };
            if tx.send((time, rgb, full)).is_err() {
                break; // the worker stopped on an error: it is reported below
            }
            sent += 1;
        }
        drop(tx);
        let results = worker
            .join()
            .map_err(|_| anyhow::anyhow!("detection thread panicked"))??;
        if sent == 0 {
            anyhow::bail!(vx_media::MediaError::NoFrames {
                path: input.into(),
                detail: dec.no_frame_detail()
            });
        }
        for w in dec.warnings(false) {
            eprintln!("vx: warning: {}: {w}", input.display());
        }
        Ok(results)
    })
}

/// Draw `detections` on `img` and write it as DIR/<input stem>[-<ms>].jpg (atomically).
fn annotate(
    dir: &Path,
    input: &Path,
    time: Option<f64>,
    mut img: vx_media::still::Rgb,
    detections: &[vx_infer::detect::Detection],
) -> Result<PathBuf> {
    use vx_image::draw::{annotate, color_for, Mark};
    let marks: Vec<Mark> = detections
        .iter()
        .map(|d| Mark {
            x: d.bbox.x,
            y: d.bbox.y,
            w: d.bbox.w,
            h: d.bbox.h,
            caption: format!("{} {:.2}", d.label, d.score),
            color: color_for(d.class_id),
        })
        .collect();
    annotate(&mut img.data, img.width, img.height, &marks);
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let name = match time {
        Some(t) => format!("{stem}-{:08}ms.jpg", (t * 1000.0).round() as i64),
        None => format!("{stem}.jpg"),
    };
    let path = dir.join(name);
    let jpeg = vx_image::jpeg::Encoder::new(90)
        .and_then(|mut e| e.jpeg_rgb(&img.data, img.width, img.height))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    vx_image::fsutil::write_atomic(&path, &jpeg).with_context(|| path.display().to_string())?;
    Ok(path)
}

#[derive(serde::Serialize)]
struct VadReport {
    source: PathBuf,
    model: PathBuf,
    threshold: f32,
    /// Seconds of audio analysed.
    duration: f64,
    speech_seconds: f64,
    speech: Vec<vx_infer::vad::Span>,
}

fn vad(file: &Path, model: &str, threshold: f32, out: Option<&Path>) -> Result<ExitCode> {
    use vx_infer::vad::{spans, SileroVad, SpanOptions, CHUNK, SAMPLE_RATE};
    use vx_media::audio::{decode, AudioFormat, SampleFormat};
    if !(threshold > 0.0 && threshold < 1.0) {
        eprintln!("vx: error: --threshold must be between 0 and 1");
        return Ok(ExitCode::from(2));
    }
    let model = resolve_model(model)?;
    let mut vad = SileroVad::open(&model, Default::default())?;
    let mut pending: Vec<f32> = Vec::with_capacity(CHUNK * 2);
    let mut probs: Vec<f32> = Vec::new();
    let mut err: Option<anyhow::Error> = None;
    let fmt = AudioFormat {
        rate: SAMPLE_RATE,
        channels: 1,
        format: SampleFormat::F32,
    };
    let stats = decode(file, fmt, |bytes| {
        pending.extend(vx_media::audio::f32_samples(bytes));
        let full = pending.len() / CHUNK * CHUNK;
        for c in pending[..full].chunks(CHUNK) {
            match vad.probability(c) {
                Ok(p) => probs.push(p),
                Err(e) => {
                    err.get_or_insert(e.into());
                }
            }
        }
        pending.drain(..full);
        Ok(())
    })?;
    if !pending.is_empty() {
        probs.push(vad.probability(&pending)?);
    }
    if let Some(e) = err {
        return Err(e);
    }
    let duration = stats.samples as f64 / SAMPLE_RATE as f64;
    let speech = spans(
        &probs,
        duration,
        SpanOptions {
            threshold,
            ..Default::default()
        },
    );
    let report = VadReport {
        source: file.to_path_buf(),
        model,
        threshold,
        duration,
        speech_seconds: speech.iter().map(|s| s.end - s.start).sum(),
        speech,
    };
    let json = json_text(&report, true)?;
    emit(out, &json)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct EmbedReport {
    source: PathBuf,
    model: PathBuf,
    dim: usize,
    windows: Vec<vx_infer::sfx::Embedding>,
}

/// A float32 .npy file of `rows` x `cols`.
fn npy_f32(rows: usize, cols: usize, data: impl Iterator<Item = f32>) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn embed_audio(
    file: &Path,
    model: &str,
    out: Option<&Path>,
    npy: Option<&Path>,
) -> Result<ExitCode> {
    use vx_infer::sfx::{SfxEmbedder, SAMPLE_RATE};
    let model = resolve_model(model)?;
    let mut emb = SfxEmbedder::open(&model, Default::default())?;
    // The audio streams from the decoder into the log-mel front end and the model (blocks in
    // batches): memory does not grow with the file's length.
    let mut windows = Vec::new();
    let mut stream = emb.stream();
    let mut failure: Option<vx_infer::InferError> = None;
    let fmt = vx_media::audio::AudioFormat {
        rate: SAMPLE_RATE,
        channels: 1,
        format: vx_media::audio::SampleFormat::F32,
    };
    let mut piece: Vec<f32> = Vec::new();
    let decoded = vx_media::audio::decode(file, fmt, |bytes| {
        piece.clear();
        piece.extend(vx_media::audio::f32_samples(bytes));
        stream.push(&piece, &mut |e| windows.push(e)).map_err(|e| {
            failure = Some(e);
            vx_media::MediaError::Decode {
                path: file.into(),
                reason: "stopped".into(),
            }
        })
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    decoded?;
    stream.finish(&mut |e| windows.push(e))?;
    let dim = windows.first().map(|w| w.vector.len()).unwrap_or(0);
    if let Some(p) = npy {
        let bytes = npy_f32(
            windows.len(),
            dim,
            windows.iter().flat_map(|w| w.vector.iter().copied()),
        );
        vx_image::fsutil::write_atomic(p, &bytes).with_context(|| p.display().to_string())?;
    }
    let report = EmbedReport {
        source: file.to_path_buf(),
        model,
        dim,
        windows,
    };
    let json = json_text(&report, false)?;
    emit(out, &json)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct Transcript {
    source: PathBuf,
    language: Option<String>,
    duration: f64,
    text: String,
    segments: Vec<vx_infer::transcribe::Segment>,
}

#[allow(clippy::too_many_arguments)]
fn transcribe(
    file: &Path,
    model: &str,
    format: TextFormat,
    out: Option<&Path>,
    language: Option<&str>,
    threads: usize,
    no_vad: bool,
    full_context: bool,
    vad_model: Option<&str>,
    quiet: bool,
) -> Result<ExitCode> {
    use vx_infer::transcribe::{to_srt, to_vtt, Options, Whisper, WindowOptions, WindowStream};
    use vx_infer::vad::{SileroVad, Span, SpanOptions, CHUNK, SAMPLE_RATE};
    let model = resolve_model(model)?;
    let vad_path = if no_vad {
        None
    } else {
        Some(match vad_model {
            Some(m) => resolve_model(m)?,
            None => {
                let beside = model.parent().map(|d| d.join("silero_vad.onnx"));
                resolve_model("silero_vad.onnx")
                    .ok()
                    .or(beside.filter(|p| p.exists()))
                    .ok_or_else(|| anyhow::anyhow!("no Silero VAD model found (give --vad-model PATH, or --no-vad to transcribe silence too)"))?
            }
        })
    };
    let vad = vad_path
        .map(|p| SileroVad::open(&p, Default::default()))
        .transpose()?;
    let threads = if threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        threads
    };
    let opts = Options {
        threads,
        full_context,
    };
    let mut segments = Vec::new();
    // Progress on a terminal: how far into the file whisper has got.
    let show = !quiet && std::io::stderr().is_terminal();
    let clock = |t: f64| format!("{}:{:02}", (t / 60.0) as u64, (t % 60.0) as u64);
    // A multilingual model without --language detects it on the first window and keeps it.
    let mut language = language.filter(|l| *l != "auto").map(str::to_string);
    let wo = WindowOptions::default();
    let rate = SAMPLE_RATE as f64;

    // The audio is decoded (and run through the VAD) on its own thread and arrives here in
    // blocks; whisper loads meanwhile and then transcribes each window as soon as no later
    // audio can change it (`WindowStream`). Only the audio that windows still to come can
    // need is kept, so memory does not grow with the file's length.
    enum Msg {
        /// Samples and the VAD probability of each CHUNK of them (empty without VAD).
        Audio(Vec<f32>, Vec<f32>),
        /// Decoding finished: total samples.
        End(usize),
    }
    // At most 16 blocks (~32 s of audio) wait: decoding stays a little ahead of whisper.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Msg>>(16);
    let (whisper, duration) = std::thread::scope(|sc| -> Result<(Whisper, f64)> {
        let use_vad = vad.is_some();
        sc.spawn(move || {
            let mut vad = vad;
            if let Some(v) = vad.as_mut() {
                v.reset();
            }
            let mut pending: Vec<f32> = Vec::new();
            let mut total = 0usize;
            let mut failure: Option<anyhow::Error> = None;
            // Send whole chunks (all of `pending` at the end) with their probabilities.
            let mut flush = |pending: &mut Vec<f32>, last: bool| -> Result<()> {
                let n = if last {
                    pending.len()
                } else {
                    pending.len() / CHUNK * CHUNK
                };
                if n == 0 {
                    return Ok(());
                }
                let block: Vec<f32> = pending.drain(..n).collect();
                let probs = match vad.as_mut() {
                    Some(v) => block
                        .chunks(CHUNK)
                        .map(|c| v.probability(c))
                        .collect::<Result<Vec<f32>, _>>()?,
                    None => Vec::new(),
                };
                tx.send(Ok(Msg::Audio(block, probs)))
                    .map_err(|_| anyhow::anyhow!("stopped"))
            };
            let decoded = vx_media::audio::decode(
                file,
                vx_media::audio::AudioFormat {
                    rate: SAMPLE_RATE,
                    channels: 1,
                    format: vx_media::audio::SampleFormat::F32,
                },
                |bytes| {
                    let before = pending.len();
                    pending.extend(vx_media::audio::f32_samples(bytes));
                    total += pending.len() - before;
                    // About 2 s of audio per message.
                    if pending.len() >= CHUNK * 64 {
                        if let Err(e) = flush(&mut pending, false) {
                            failure = Some(e);
                            return Err(vx_media::MediaError::Decode {
                                path: file.into(),
                                reason: "stopped".into(),
                            });
                        }
                    }
                    Ok(())
                },
            );
            let result = match (decoded, failure) {
                (_, Some(e)) => Err(e),
                (Err(e), None) => Err(e.into()),
                (Ok(_), None) => flush(&mut pending, true).map(|_| Msg::End(total)),
            };
            let _ = tx.send(result);
        });
        let mut whisper = Whisper::open(&model)?;
        // `audio` holds samples from `base` on; `probs` every probability so far (4 bytes per
        // 32 ms); `done` windows transcribed; `next` where the next fixed window starts (no VAD).
        let (mut audio, mut base) = (Vec::<f32>::new(), 0usize);
        let mut vad_windows = use_vad.then(|| WindowStream::new(SpanOptions::default(), wo));
        let mut next = 0.0f64;
        loop {
            let mut end = None;
            let mut probs = Vec::new();
            // Wait for a block, then take whatever else has arrived.
            let mut msg = Some(rx.recv().map_err(|_| {
                anyhow::anyhow!("{}: audio decoding stopped early", file.display())
            })??);
            while let Some(m) = msg.take() {
                match m {
                    Msg::Audio(samples, p) => {
                        audio.extend(samples);
                        probs.extend(p);
                    }
                    Msg::End(n) => end = Some(n as f64 / rate),
                }
                if end.is_none() {
                    if let Ok(m) = rx.try_recv() {
                        msg = Some(m?);
                    }
                }
            }
            let now = (base + audio.len()) as f64 / rate;
            let (ws, horizon) = if let Some(stream) = vad_windows.as_mut() {
                let mut s = stream.push(&probs);
                if let Some(duration) = end {
                    if let Some(stream) = vad_windows.take() {
                        s.windows.extend(stream.finish(duration));
                    }
                }
                (s.windows, s.horizon)
            } else {
                // Fixed windows of `max` seconds (padded like the VAD ones).
                let mut fresh = Vec::new();
                let limit = end.unwrap_or(now - wo.pad);
                while next < limit && (end.is_some() || next + wo.max <= limit) {
                    let stop = (next + wo.max).min(end.unwrap_or(f64::MAX));
                    fresh.push(Span {
                        start: (next - wo.pad).max(0.0),
                        end: (stop + wo.pad).min(end.unwrap_or(f64::MAX)),
                    });
                    next = stop;
                }
                (fresh, next - wo.pad)
            };
            for w in &ws {
                let a = ((w.start * rate) as usize).max(base) - base;
                let b = ((w.end * rate) as usize).min(base + audio.len()) - base;
                if b > a {
                    let t =
                        whisper.transcribe(&audio[a..b], w.start, language.as_deref(), &opts)?;
                    language = Some(t.language);
                    segments.extend(t.segments);
                }
                if show {
                    eprint!(
                        "\rvx: transcribed up to {} of {}  ",
                        clock(w.end),
                        clock(end.unwrap_or(now))
                    );
                }
            }
            if let Some(duration) = end {
                return Ok((whisper, duration));
            }
            // Forget the audio no window still to come can need.
            let keep_from = ((horizon * rate) as usize).clamp(base, base + audio.len());
            audio.drain(..keep_from - base);
            base = keep_from;
        }
    })?;
    if show {
        eprintln!();
    }
    let language = language.or_else(|| (!whisper.is_multilingual()).then(|| "en".to_string()));
    let text = segments
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let body = match format {
        TextFormat::Json => {
            let t = Transcript {
                source: file.to_path_buf(),
                language,
                duration,
                text,
                segments,
            };
            json_text(&t, true)?
        }
        TextFormat::Srt => to_srt(&segments).into_bytes(),
        TextFormat::Vtt => to_vtt(&segments).into_bytes(),
        TextFormat::Txt => format!("{text}\n").into_bytes(),
    };
    emit(out, &body)?;
    Ok(ExitCode::SUCCESS)
}

/// Write `bytes` to `out` atomically, or to stdout when no path is given.
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

fn emit(out: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match out {
        Some(p) => {
            vx_image::fsutil::write_atomic(p, bytes).with_context(|| p.display().to_string())
        }
        None => Ok(std::io::stdout().write_all(bytes)?),
    }
}
