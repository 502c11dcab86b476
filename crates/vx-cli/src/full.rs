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
    },
    /// Detect objects in images with an ONNX model (adapter chosen from the model's signature:
    /// TF Object Detection API SSD, CenterFace, YOLO v5/v8/11).
    ///
    /// Video input is not supported yet.
    Detect {
        /// Images (JPEG, PNG, WebP, ... decoded in-process).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Model file, or a name looked up in $VX_MODEL_DIR (with or without .onnx).
        #[arg(long)]
        model: String,
        /// Class names ("<id> <name>" per line); default: coco_labels_90.txt beside the model.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Keep detections with at least this score.
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
        /// Write the JSON here instead of stdout (atomically).
        #[arg(short, long, value_name = "OUT.json")]
        out: Option<PathBuf>,
        /// Inference threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Detect faces in images with a CenterFace ONNX model (boxes and 5 landmarks).
    Faces {
        /// Images (JPEG, PNG, WebP, ... decoded in-process).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Model file, or a name looked up in $VX_MODEL_DIR (with or without .onnx).
        #[arg(long)]
        model: String,
        /// Keep faces with at least this score.
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
        /// Write the JSON here instead of stdout (atomically).
        #[arg(short, long, value_name = "OUT.json")]
        out: Option<PathBuf>,
        /// Inference threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// MJPEG over RTP/UDP (RFC 2435): send or receive a stream.
    Stream {
        #[command(subcommand)]
        cmd: stream::StreamCmd,
    },
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
        Command::Detect {
            inputs,
            model,
            labels,
            threshold,
            out,
            threads,
        } => detect(
            &inputs,
            &model,
            None,
            labels.as_deref(),
            threshold,
            out.as_deref(),
            threads,
        ),
        Command::Faces {
            inputs,
            model,
            threshold,
            out,
            threads,
        } => detect(
            &inputs,
            &model,
            Some(vx_infer::detect::Family::CenterFace),
            None,
            threshold,
            out.as_deref(),
            threads,
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
            keyframes_cmd(&file, &out, &opts, cli.quiet)
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

fn keyframes_cmd(file: &Path, out: &Path, opts: &KeyframeOptions, quiet: bool) -> Result<ExitCode> {
    let show = !quiet && std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut last_draw = std::time::Instant::now();
    let report = keyframes::extract(file, out, opts, |p: Progress| {
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
    });
    if show {
        eprint!("\r\x1b[K");
    }
    let report = report?;
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

/// A model given by path, or by name in $VX_MODEL_DIR.
fn resolve_model(model: &str) -> Result<PathBuf> {
    let p = PathBuf::from(model);
    if p.exists() {
        return Ok(p);
    }
    if let Some(dir) = std::env::var_os("VX_MODEL_DIR").map(PathBuf::from) {
        for name in [model.to_string(), format!("{model}.onnx")] {
            let c = dir.join(&name);
            if c.exists() {
                return Ok(c);
            }
        }
    }
    anyhow::bail!("{model}: no such model file (nor in $VX_MODEL_DIR)")
}

#[derive(serde::Serialize)]
struct DetectResult {
    source: PathBuf,
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

fn detect(
    inputs: &[PathBuf],
    model: &str,
    family: Option<vx_infer::detect::Family>,
    labels: Option<&Path>,
    threshold: f32,
    out: Option<&Path>,
    threads: usize,
) -> Result<ExitCode> {
    use vx_infer::detect::{Detector, Labels};
    let model = resolve_model(model)?;
    let labels = match labels {
        Some(p) => Labels::load(p)?,
        None => match model
            .parent()
            .map(|d| d.join("coco_labels_90.txt"))
            .filter(|p| p.exists())
        {
            Some(p) => Labels::load(&p)?,
            None => Labels::default(),
        },
    };
    let mut det = Detector::open(
        &model,
        family,
        labels,
        vx_infer::runtime::SessionOptions { threads },
    )?;
    let mut results = Vec::with_capacity(inputs.len());
    let mut failed = false;
    for input in inputs {
        let r = (|| -> Result<DetectResult> {
            if !vx_media::still::is_image(input)? {
                anyhow::bail!(
                    "{}: video input is not supported by vx detect yet",
                    input.display()
                );
            }
            let img = vx_media::still::decode_rgb(input)?;
            let detections = det.detect(&img.data, img.width, img.height, threshold)?;
            Ok(DetectResult {
                source: input.clone(),
                width: img.width,
                height: img.height,
                detections,
            })
        })();
        match r {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("vx: error: {}", one_line(&e));
                failed = true;
            }
        }
    }
    let report = DetectReport {
        model,
        threshold,
        results,
    };
    let mut json = serde_json::to_vec_pretty(&report)?;
    json.push(b'\n');
    match out {
        Some(p) => {
            vx_image::fsutil::write_atomic(p, &json).with_context(|| p.display().to_string())?
        }
        None => std::io::stdout().write_all(&json)?,
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
