//! `vx`: every vx command, in one binary with a minimal FFmpeg linked in statically
//! (scripts/build-ffmpeg, docs/FFMPEG.md).
//!
//! A thin shell: the clap definitions (this file) and, in `commands.rs`, one short function
//! per command that builds a plan for the engine (vx-pipeline), runs it and prints the
//! operation's report. Exit codes: 0 success, 1 processing error, 2 usage error, 3 the input
//! has no stream of the kind the command needs (no audio stream, no video stream).
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use vx_cli::{one_line, stream};

mod args;
mod commands;
mod info;
mod inputs;
mod mcp;
mod progress;
mod run;
mod search;
mod video;

#[derive(Parser)]
#[command(
    name = "vx",
    version,
    about = "Keyframes, metadata and more from video, in-process with FFmpeg's libraries"
)]
#[command(propagate_version = true)]
struct Cli {
    /// Decode the Nth video stream of each input (0-based among its video streams, like
    /// ffmpeg's -map 0:v:N) instead of FFmpeg's best one.
    #[arg(long, global = true, value_name = "N", help_heading = "Media options")]
    video_stream: Option<usize>,
    /// Decode the Nth audio stream (0-based among its audio streams, like -map 0:a:N).
    #[arg(long, global = true, value_name = "N", help_heading = "Media options")]
    audio_stream: Option<usize>,
    /// Only from SECONDS on (the file is seeked, not decoded from its start); times in the
    /// outputs stay those of the file.
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        help_heading = "Media options"
    )]
    start: Option<f64>,
    /// Only up to SECONDS (exclusive).
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        conflicts_with = "duration",
        help_heading = "Media options"
    )]
    end: Option<f64>,
    /// Only this many SECONDS from --start (or from the beginning).
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        help_heading = "Media options"
    )]
    duration: Option<f64>,
    /// Show FFmpeg's own warnings on stderr.
    #[arg(short, long, global = true, help_heading = "Global options")]
    verbose: bool,
    /// No progress or summary on stderr (errors and warnings are still printed).
    #[arg(short, long, global = true, help_heading = "Global options")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print container and stream metadata as JSON Lines: one object per file (`--pretty`:
    /// indented).
    Probe {
        /// Media files to probe.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Indented JSON instead of one line per file (JSON Lines).
        #[arg(long)]
        pretty: bool,
    },
    /// Write every keyframe of a video as an image, plus DIR/keyframes.json.
    ///
    /// A keyframe is a frame the decoder flags as key: the set `ffmpeg -skip_frame nokey`
    /// yields. Only those frames are decoded. See docs/KEYFRAMES.md.
    Keyframes {
        /// Input videos; with several, DIR gets one directory per input (named after the
        /// file, with its path hash when two inputs share a name).
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
              value_parser = clap::value_parser!(u32).range(0..=64))]
        dedup: Option<u32>,
        /// Downscale so that the longest side is at most N pixels.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_side: Option<u32>,
        /// One frame every SECONDS instead of the keyframes (every frame is decoded; a clip
        /// with a single keyframe still gives a picture every SECONDS).
        #[arg(long, value_name = "SECONDS", conflicts_with_all = ["at", "per_scene"])]
        every: Option<f64>,
        /// The frames at these times instead of the keyframes, e.g. `--at 1.5,30,62`.
        #[arg(
            long,
            value_name = "T1,T2,...",
            value_delimiter = ',',
            conflicts_with = "per_scene"
        )]
        at: Option<Vec<f64>>,
        /// One frame per scene (its middle frame; scenes from `vx scenes`' content detector,
        /// found in a first pass over the file).
        #[arg(long)]
        per_scene: bool,
        /// Also write DIR/sheet.jpg: the frames as a grid of thumbnails with their times (at
        /// most 60, evenly spread).
        #[arg(long)]
        sheet: bool,
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
        /// Input files (audio or video); with several, -o names a directory that gets one
        /// NAME.wav per input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output WAV file (written under a temporary name, renamed when complete; `-` or a
        /// pipe: streamed, with the WAV sizes set to "until the end").
        #[arg(short, long, value_name = "OUT.wav")]
        out: PathBuf,
        /// Sample rate in Hz.
        #[arg(long, default_value_t = 16000, value_parser = clap::value_parser!(u32).range(1000..=768000))]
        rate: u32,
        /// Number of channels (libswresample's standard layouts: 1 to 8).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
        channels: u16,
        /// Sample format of the WAV (ffmpeg's -sample_fmt; `--format`, its earlier name, is
        /// still accepted: elsewhere `--format` is the output file's format).
        #[arg(long = "sample-format", visible_alias = "sample-fmt", alias = "format", value_enum, default_value_t = AudioFmt::S16)]
        format: AudioFmt,
    },
    /// Shot boundaries: scenes and cuts as JSON (or PySceneDetect's CSV scene list).
    /// `content` is PySceneDetect's ContentDetector (HSV differences); `transnet` is
    /// TransNetV2 (catches crossfades; model transnetv2.onnx in the model directory).
    Scenes {
        /// Input video.
        file: PathBuf,
        /// content, adaptive or transnet.
        #[arg(long, value_enum, default_value_t = SceneDetector::Content)]
        detector: SceneDetector,
        /// Cut threshold: content score (default 27), adaptive ratio (3.0) or transnet
        /// probability (0.5).
        #[arg(long)]
        threshold: Option<f64>,
        /// content: frames between cuts at least.
        #[arg(long, default_value_t = 15, value_name = "FRAMES")]
        min_scene_len: usize,
        /// transnet: the model (path or name in the model directory).
        #[arg(short, long, default_value = "transnetv2.onnx")]
        model: String,
        /// PySceneDetect's scene list (CSV) instead of JSON.
        #[arg(long)]
        csv: bool,
        /// Write here instead of stdout (`-`: stdout).
        #[arg(short, long, value_name = "OUT")]
        out: Option<PathBuf>,
    },
    /// The text subtitles a file carries (mov_text, SubRip, ASS, WebVTT) as JSON, SRT, WebVTT
    /// or text, times on the file's timeline. Bitmap subtitles (DVD, PGS, DVB) are listed but
    /// not extracted.
    Subtitles {
        /// Input file.
        file: PathBuf,
        /// Which subtitle stream (0-based among them); default: the first text one.
        #[arg(long, value_name = "N")]
        stream: Option<usize>,
        /// List the subtitle streams (JSON Lines) instead.
        #[arg(long)]
        list: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TextFormat::Json)]
        format: TextFormat,
        /// Write here instead of stdout (`-`: stdout).
        #[arg(short, long, value_name = "OUT")]
        out: Option<PathBuf>,
    },
    /// Speech to text with whisper.cpp, run only on the speech VAD finds (windows of up to
    /// 30 s); timestamps in seconds of the file.
    Transcribe {
        /// Input files (audio or video); with several, -o names a directory that gets one
        /// NAME.json (.srt, .vtt, .txt) per input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// whisper.cpp ggml model: a path, or a name in the model directory (`vx models list`;
        /// catalogue names such as tiny.en find ggml-tiny.en.bin).
        #[arg(short, long)]
        model: String,
        /// Output format; several, comma-separated (`json,srt,vtt`), write one file each
        /// from one transcription: OUT with each format's extension (-o required).
        #[arg(long, value_enum, value_delimiter = ',', default_value = "json")]
        format: Vec<TextFormat>,
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
        /// Text the decoder sees before each batch of speech (names, spelling, style), as
        /// whisper's initial prompt.
        #[arg(long, value_name = "TEXT")]
        prompt: Option<String>,
        /// Beam search with N beams (slower, sometimes more accurate); 1 = greedy.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
        beam_size: u16,
        /// Word times (JSON: each segment's `words`, with start, end and probability; SRT and
        /// VTT: one cue per word).
        #[arg(long)]
        words: bool,
        /// Translate the speech into English (multilingual models only).
        #[arg(long)]
        translate: bool,
        /// Print each segment on standard output as soon as it is settled, as whisper.cpp
        /// does (`[00:00:01.000 --> 00:00:04.200]  text`); the formats then go to -o only.
        #[arg(long)]
        stream_output: bool,
    },
    /// Find where people speak (Silero VAD on 16 kHz mono audio decoded in-process): JSON
    /// with the speech spans in seconds.
    Vad {
        /// Input files (audio or video); with several, -o names a directory that gets one
        /// NAME.json per input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Silero VAD ONNX model, or a name in $VX_MODEL_DIR.
        #[arg(short, long)]
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
        #[arg(short, long)]
        model: String,
        /// Write the JSON here instead of stdout (atomically).
        #[arg(short, long, value_name = "OUT.json")]
        out: Option<PathBuf>,
        /// Also write the vectors as a [windows, 512] float32 .npy file.
        #[arg(long, value_name = "OUT.npy")]
        npy: Option<PathBuf>,
    },
    /// Sentence embeddings of texts (all-MiniLM-L6-v2 and other sentence-transformers
    /// exports: mean of the token embeddings, unit length). A text over 256 tokens is split
    /// into pieces at word boundaries, each with its own vector.
    EmbedText {
        /// Texts to embed (`-` reads one text per line from stdin).
        #[arg(required_unless_present = "file")]
        texts: Vec<String>,
        /// Read one text per line from this file as well.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// The ONNX model, or a name in the model directory.
        #[arg(short, long, default_value = "all-MiniLM-L6-v2-int8.onnx")]
        model: String,
        /// The tokenizer.json; default: tokenizer.json or NAME-tokenizer.json beside the model.
        #[arg(long, value_name = "PATH")]
        tokenizer: Option<PathBuf>,
        /// Write the JSON here instead of stdout (atomically).
        #[arg(short, long, value_name = "OUT.json")]
        out: Option<PathBuf>,
        /// Also write the vectors as a [pieces, dim] float32 .npy file.
        #[arg(long, value_name = "OUT.npy")]
        npy: Option<PathBuf>,
        /// Inference threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Detect objects in images or videos with an ONNX model (adapter chosen from the model's
    /// signature: TF Object Detection API SSD, CenterFace, YOLO v5/v8/11).
    ///
    /// Videos: every keyframe by default, or one frame every --every seconds; decoded frames go
    /// straight to the model (no JPEG, no files) while the next ones decode.
    Detect(DetectArgs),
    /// Detect faces (boxes and 5 landmarks) in images or videos with a CenterFace ONNX model.
    Faces(DetectArgs),
    /// Read the text shown in images or videos (PP-OCRv4: text detection, direction
    /// classifier, recogniser; the steps and defaults of RapidOCR).
    ///
    /// Videos: every keyframe by default, or one frame every --every seconds. JSON: per
    /// picture, its lines in reading order, each with its text, score and four corners.
    Ocr(OcrArgs),
    /// Build (or rebuild) the search index of a `vx run` results directory: SQLite with
    /// full-text search over transcripts, on-screen text and detected labels, and sentence
    /// embeddings of the texts (docs/INDEX.md). Default: OUTDIR/index.db.
    Index {
        /// The results directory of `vx run`.
        outdir: PathBuf,
        /// Where the index goes.
        #[arg(long, value_name = "PATH")]
        index: Option<PathBuf>,
        /// Sentence-embedding model (default all-MiniLM-L6-v2-int8.onnx when it is in the model
        /// directory).
        #[arg(long, value_name = "MODEL")]
        text_model: Option<String>,
        /// No embeddings: search by words only.
        #[arg(long, conflicts_with = "text_model")]
        no_embed: bool,
    },
    /// Search an index: words (BM25) and meaning (cosine of sentence embeddings), merged by
    /// reciprocal rank fusion. One hit per line (score, source, time, kind, text), or JSON
    /// Lines. Exit status 1 when nothing matches.
    Search {
        /// The index file, or the results directory holding index.db.
        index: PathBuf,
        /// What to look for.
        #[arg(required_unless_present = "queries")]
        query: Option<String>,
        /// Several queries, one per line, in one process (the vectors read once); each
        /// hit says its query, and the median time per query goes to stderr.
        #[arg(long, value_name = "FILE", conflicts_with = "query")]
        queries: Option<PathBuf>,
        /// How many hits.
        #[arg(short, default_value_t = 10)]
        k: usize,
        /// Only hits of this kind.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// JSON Lines: source, dir, kind, start, end, text, score, keyframe.
        #[arg(long)]
        json: bool,
        /// Sentence-embedding model for the query (default: the one the index was built with).
        #[arg(long, value_name = "MODEL")]
        text_model: Option<String>,
    },
    /// The index for AI agents: a Model Context Protocol server over stdio (JSON-RPC 2.0,
    /// one message per line) with the tools `search`, `describe_file` and `extract` (a new
    /// file run through `vx run` into the same index). Register it in an agent as the command
    /// `vx mcp INDEX`.
    Mcp {
        /// The index file, or the results directory holding index.db.
        index: PathBuf,
        /// Sentence-embedding model for queries (default: the one the index was built with).
        #[arg(long, value_name = "MODEL")]
        text_model: Option<String>,
    },
    /// A local web page over an index: a search box, results as keyframe thumbnails that
    /// play the source at their second, and a page per file (scenes, transcript, on-screen
    /// text, detections drawn on frames). Serves only the index's own sources and results,
    /// read-only, on 127.0.0.1 unless --listen says otherwise. Stops on Ctrl-C.
    Serve {
        /// The index file, or the results directory holding index.db.
        index: PathBuf,
        /// Address and port to listen on (port 0: any free port; the address is printed).
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Sentence-embedding model for queries (default: the one the index was built with).
        #[arg(long, value_name = "MODEL")]
        text_model: Option<String>,
    },
    /// Run several operations over each input in one pass over the file.
    ///
    /// `--ops "keyframes;[detect,faces];transcribe"`: `;` separates stages, `[a,b]` runs
    /// operations side by side; operations of a stage after keyframes look at the frames it
    /// kept, after scenes at the first frame of each scene ("scenes;keyframes;[detect,ocr]":
    /// one image per scene, with its objects and text). Each input gets OUTDIR/<id>/ with one JSON per operation (keyframes.json with its
    /// images, detect.json, faces.json, transcribe.json...) and result.json (status, outputs
    /// and time of each operation). Operations: probe, keyframes, detect, faces, ocr, scenes,
    /// audio, vad, transcribe, embed-audio, subtitles.
    Run(RunArgs),
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
    /// Print a shell completion script: `vx completions bash > /etc/bash_completion.d/vx`
    /// (zsh: into a directory of $fpath as `_vx`; fish: ~/.config/fish/completions/vx.fish).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `vx man > ~/.local/share/man/man1/vx.1`.
    Man,
    /// What this installation has: FFmpeg's libraries and decoders, ONNX Runtime, whisper.cpp's
    /// build, the model directory and the default models, and which commands are ready.
    /// Exit status 1 when something a command needs is missing.
    Doctor {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Fetch the ONNX Runtime library vx loads (libonnxruntime.so from the official PyPI
    /// `onnxruntime` wheel, SHA-256 checked) into $VX_HOME/onnxruntime (default
    /// ~/.local/share/vx/onnxruntime). Nothing is fetched when it is there already.
    /// $VX_ORT_MIRROR replaces the download's base URL.
    Setup {
        /// Fetch it again even when it is there.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum ModelsCmd {
    /// Files in the model directory with sizes and SHA-256, then what `fetch` could add.
    List {
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Download an official model — whisper.cpp ggml (tiny, tiny.en, base, base.en, small,
    /// small.en) from Hugging Face, Silero VAD (silero_vad) from GitHub — checked against its
    /// SHA-256, into the model directory ($VX_MODEL_MIRROR replaces every base URL). `--all`:
    /// every one a default needs (tiny.en, silero_vad); `vx models list` says how to get the
    /// defaults no official source serves (SSD, CenterFace, sound embedding).
    Fetch {
        /// Catalogue name, e.g. tiny.en.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Every catalogue model a command's default needs.
        #[arg(long)]
        all: bool,
        /// Download again even if a good copy is there.
        #[arg(long)]
        force: bool,
    },
    /// Rewrite a whisper.cpp ggml model with f16 weights with quantised weights (as
    /// whisper.cpp's `quantize` does, bit for bit): smaller, and faster on CPU. MODEL is a path
    /// or a name in the model directory; the output (default: beside it, `-q8_0` added to its
    /// name) is checked like any model. Compare the words on your audio before switching.
    Quantize {
        /// The f16 model, e.g. whisper-tiny.en.ggml.bin or tiny.en.
        model: String,
        /// q8_0 (8-bit) or q5_1 (5-bit, smaller, less exact).
        #[arg(long = "type", default_value = "q8_0", value_parser = ["q8_0", "q5_1"])]
        quant: String,
        /// Output file.
        #[arg(short, long, value_name = "OUT")]
        out: Option<std::path::PathBuf>,
    },
}

pub(crate) use args::*;

/// `vx stream ...` parsed alone: building clap's tree of every command costs ~0.4 MiB of
/// resident memory (its code and strings are paged in), which the streamer, meant to run in
/// a few MiB, need not pay. Help, version and anything this parser refuses go to [`Cli`].
#[derive(Parser)]
#[command(name = "vx")]
struct StreamOnly {
    #[arg(short, long, global = true)]
    verbose: bool,
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: StreamOnlyCmd,
}

#[derive(Subcommand)]
enum StreamOnlyCmd {
    Stream {
        #[command(subcommand)]
        cmd: stream::StreamCmd,
    },
}

fn stream_only() -> Option<StreamOnly> {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let first = args
        .iter()
        .find(|a| !matches!(a.as_str(), "-q" | "--quiet" | "-v" | "--verbose"))?;
    let help = args
        .iter()
        .any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version" | "help"));
    if first != "stream" || help {
        return None;
    }
    StreamOnly::try_parse().ok()
}

fn main() -> ExitCode {
    vx_cli::default_sigpipe();
    if let Some(cli) = stream_only() {
        vx_media::init(if cli.verbose {
            vx_media::FfmpegLog::Warnings
        } else {
            vx_media::FfmpegLog::Quiet
        });
        let StreamOnlyCmd::Stream { cmd } = cli.command;
        return match stream::run(cmd, cli.quiet, &commands::Ffmpeg) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                vx_cli::say!("vx: error: {}", one_line(&e));
                ExitCode::from(1)
            }
        };
    }
    // clap's own errors get the "vx: " prefix every other message has (exit 2); help and
    // version go to stdout as usual.
    // `--version`: the versions of what vx is built on, one line each (`-V`: vx's alone).
    let mut cmd = <Cli as clap::CommandFactory>::command();
    if std::env::args_os().any(|a| a == "--version") {
        cmd = cmd.long_version(&*Box::leak(info::versions().into_boxed_str()));
    }
    let parsed = cmd
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            vx_cli::say_part!("vx: error: {text}");
            return ExitCode::from(2);
        }
    };
    commands::choose_streams(cli.video_stream, cli.audio_stream);
    let start = cli.start.unwrap_or(0.0);
    let end = cli.end.or(cli.duration.map(|d| start + d));
    let bad = |v: Option<f64>| v.is_some_and(|v| !(v.is_finite() && v >= 0.0));
    if bad(cli.start) || bad(cli.end) || bad(cli.duration) || end.is_some_and(|e| e <= start) {
        vx_cli::say!(
            "vx: error: --start, --end and --duration are seconds >= 0, with the end after the start"
        );
        return ExitCode::from(2);
    }
    if cli.start.is_some() || end.is_some() {
        commands::choose_range(start, end);
    }
    vx_media::init(if cli.verbose {
        vx_media::FfmpegLog::Warnings
    } else {
        vx_media::FfmpegLog::Quiet
    });
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            vx_cli::say!("vx: error: {}", one_line(&e));
            if e.downcast_ref::<commands::UsageError>().is_some() {
                ExitCode::from(2)
            } else if e.downcast_ref::<commands::NoStreamError>().is_some() {
                ExitCode::from(3)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn run(mut cli: Cli) -> Result<ExitCode> {
    let quiet = cli.quiet;
    // Folders where files are accepted: the files inside them, as `vx run` finds them.
    // What the command writes into is never taken as input (a second run over `vids/` with
    // `-o vids/kf` must not read the first run's images).
    let listed = match &mut cli.command {
        Command::Probe { files, .. } => Some((files, Vec::new())),
        Command::Keyframes { files, out, .. } | Command::Audio { files, out, .. } => {
            Some((files, vec![out.clone()]))
        }
        Command::Transcribe { files, out, .. } | Command::Vad { files, out, .. } => {
            Some((files, out.iter().cloned().collect()))
        }
        Command::Detect(a) | Command::Faces(a) => Some((
            &mut a.inputs,
            a.annotate.iter().chain(&a.blur).cloned().collect(),
        )),
        Command::Ocr(a) => Some((&mut a.inputs, a.annotate.iter().cloned().collect())),
        _ => None,
    };
    if let Some((list, outputs)) = listed {
        inputs::expand_folders(list, &outputs, quiet)?;
    }
    let media_options = cli.start.is_some()
        || cli.end.is_some()
        || cli.duration.is_some()
        || cli.video_stream.is_some()
        || cli.audio_stream.is_some();
    match cli.command {
        Command::Probe { files, pretty } => commands::probe(&files, pretty),
        Command::Models { cmd } => info::models(cmd, quiet),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "vx", &mut out);
            use std::io::Write;
            std::io::stdout().write_all(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { json } => info::doctor(json),
        Command::Setup { force } => info::setup(force, quiet),
        Command::Man => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            // vx(1): the global options and the commands; `vx help CMD` has each one's options.
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            use std::io::Write;
            std::io::stdout().write_all(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audio {
            files,
            out,
            rate,
            channels,
            format,
        } => inputs::each_input(&files, Some(&out), "wav", |f, o| {
            let o = o.unwrap_or(out.as_path());
            commands::audio(f, o, rate, channels, format, quiet)
        }),
        Command::Vad {
            files,
            model,
            threshold,
            out,
        } => inputs::each_input(&files, out.as_deref(), "json", |f, o| {
            commands::vad(f, &model, threshold, o, quiet)
        }),
        Command::EmbedAudio {
            file,
            model,
            out,
            npy,
        } => commands::embed_audio(&file, &model, out.as_deref(), npy, quiet),
        Command::Scenes {
            file,
            detector,
            threshold,
            min_scene_len,
            model,
            csv,
            out,
        } => video::scenes(
            &file,
            detector,
            threshold,
            min_scene_len,
            &model,
            csv,
            out.as_deref(),
            quiet,
        ),
        Command::Subtitles {
            file,
            stream,
            list,
            format,
            out,
        } => video::subtitles(&file, stream, list, format, out.as_deref()),
        Command::Transcribe {
            files,
            model,
            format,
            out,
            language,
            threads,
            no_vad,
            full_context,
            vad_model,
            prompt,
            beam_size,
            words,
            translate,
            stream_output,
        } => {
            let ext = format.first().map_or("json", |f| f.ext());
            inputs::each_input(&files, out.as_deref(), ext, |f, o| {
                commands::transcribe(
                    f,
                    &model,
                    &format,
                    o,
                    commands::TranscribeFlags {
                        language: language.clone(),
                        threads,
                        no_vad,
                        full_context,
                        vad_model: vad_model.clone(),
                        prompt: prompt.clone(),
                        beam_size: beam_size.into(),
                        words,
                        translate,
                        stream_output,
                    },
                    quiet,
                )
            })
        }
        Command::Detect(a) => commands::detect(&a, a.family.map(Into::into), "detect", quiet),
        Command::Ocr(a) => video::ocr(&a, quiet),
        Command::Mcp { index, text_model } => mcp::serve(&index, text_model.as_deref()),
        Command::Serve {
            index,
            listen,
            text_model,
        } => search::serve(&index, listen, text_model.as_deref(), quiet),
        Command::Index {
            outdir,
            index,
            text_model,
            no_embed,
        } => search::index(
            &outdir,
            index.as_deref(),
            text_model.as_deref(),
            no_embed,
            quiet,
        ),
        Command::Search {
            index,
            query,
            queries,
            k,
            kind,
            json,
            text_model,
        } => search::search(
            &index,
            query.as_deref(),
            queries.as_deref(),
            k,
            kind.map(Into::into),
            json,
            text_model.as_deref(),
        ),
        Command::EmbedText {
            texts,
            file,
            model,
            tokenizer,
            out,
            npy,
            threads,
        } => video::embed_text(
            &texts,
            file.as_deref(),
            &model,
            tokenizer.as_deref(),
            out.as_deref(),
            npy.as_deref(),
            threads,
            quiet,
        ),
        Command::Faces(a) => commands::detect(
            &a,
            Some(
                a.family
                    .map_or(vx_infer::detect::Family::CenterFace, Into::into),
            ),
            "faces",
            quiet,
        ),
        Command::Stream { .. } if media_options => Err(commands::usage(
            "vx stream sends a whole file's first video stream: --start, --end, --duration, \
             --video-stream and --audio-stream do not apply",
        )),
        Command::Stream { cmd } => {
            stream::run(cmd, quiet, &commands::Ffmpeg).map(|_| ExitCode::SUCCESS)
        }
        Command::Run(a) => run::run(&a, quiet),
        Command::Keyframes {
            files,
            out,
            quality,
            max,
            min_interval,
            dedup,
            max_side,
            every,
            at,
            per_scene,
            sheet,
            format,
            threads,
            detect,
            threshold,
        } => {
            let at: Option<&'static [f64]> = match at {
                Some(mut t) => {
                    if t.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
                        vx_cli::say!("vx: error: --at takes times in seconds >= 0");
                        return Ok(ExitCode::from(2));
                    }
                    t.sort_by(f64::total_cmp);
                    // Kept for the whole process: the engine's selection refers to it.
                    Some(&*Box::leak(t.into_boxed_slice()))
                }
                None => None,
            };
            if let Some(e) = every {
                if !(e.is_finite() && e > 0.0) {
                    vx_cli::say!("vx: error: --every must be a number of seconds > 0");
                    return Ok(ExitCode::from(2));
                }
            }
            if let Some(s) = min_interval {
                if !(s.is_finite() && s >= 0.0) {
                    vx_cli::say!("vx: error: --min-interval must be a number of seconds >= 0");
                    return Ok(ExitCode::from(2));
                }
            }
            let opts = vx_pipeline::ops::keyframes::KeyframeOptions {
                quality,
                max,
                min_interval,
                dedup,
                max_side,
                every,
                at,
                sheet,
                format: match format {
                    Format::Jpg => vx_image::jpeg::ImageFormat::Jpeg,
                    Format::Png => vx_image::jpeg::ImageFormat::Png,
                },
                workers: 1,
            };
            // One directory per input when there are several (each_input's "" extension).
            inputs::each_input(&files, Some(&out), "", |file, dir| {
                let mut opts = opts.clone();
                if per_scene {
                    let t = video::scene_middles(file, quiet)?;
                    opts.at = Some(&*Box::leak(t.into_boxed_slice()));
                }
                commands::keyframes(
                    file,
                    dir.unwrap_or(&out),
                    opts,
                    threads,
                    detect.as_deref().map(|m| (m, threshold)),
                    quiet,
                )
            })
        }
    }
}
