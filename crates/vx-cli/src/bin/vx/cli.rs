//! The command line: the global options and every command (clap derive). The argument
//! structs several commands share are in args.rs.
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use vx_cli::stream;

use crate::args::*;

#[derive(Parser)]
#[command(
    name = "vx",
    version,
    about = "Video and audio into what search and agents need: keyframes, scenes, transcripts, \
             objects, faces, on-screen text, embeddings and a search index, in-process with \
             FFmpeg's libraries"
)]
#[command(propagate_version = true)]
pub(crate) struct Cli {
    /// Decode the Nth video stream of each input (0-based among its video streams, like
    /// ffmpeg's -map 0:v:N) instead of FFmpeg's best one.
    #[arg(long, global = true, value_name = "N", help_heading = "Media options")]
    pub(crate) video_stream: Option<usize>,
    /// Decode the Nth audio stream (0-based among its audio streams, like -map 0:a:N).
    #[arg(long, global = true, value_name = "N", help_heading = "Media options")]
    pub(crate) audio_stream: Option<usize>,
    /// Only from SECONDS on (the file is seeked, not decoded from its start); times in the
    /// outputs stay those of the file.
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        help_heading = "Media options"
    )]
    pub(crate) start: Option<f64>,
    /// Only up to SECONDS (exclusive).
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        conflicts_with = "duration",
        help_heading = "Media options"
    )]
    pub(crate) end: Option<f64>,
    /// Only this many SECONDS from --start (or from the beginning).
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        help_heading = "Media options"
    )]
    pub(crate) duration: Option<f64>,
    /// Show FFmpeg's own warnings on stderr.
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub(crate) verbose: bool,
    /// No progress or summary on stderr (errors and warnings are still printed).
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub(crate) quiet: bool,
    /// Thread budget: decoding, image encoding and the models share it (0 = one per core; at
    /// most 256).
    #[arg(
        long,
        global = true,
        value_name = "N",
        default_value_t = 0,
        value_parser = crate::args::threads,
        help_heading = "Global options"
    )]
    pub(crate) threads: usize,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
        #[arg(long, value_name = "N", value_parser = at_least_one)]
        max: Option<usize>,
        /// Skip keyframes closer than SECONDS to the last kept one.
        #[arg(long, value_name = "SECONDS", value_parser = seconds)]
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
        #[arg(long, value_name = "SECONDS", conflicts_with_all = ["at", "per_scene"],
              value_parser = positive_seconds)]
        every: Option<f64>,
        /// The frames at these times instead of the keyframes, e.g. `--at 1.5,30,62`.
        #[arg(
            long,
            value_name = "T1,T2,...",
            value_delimiter = ',',
            conflicts_with = "per_scene"
        )]
        at: Option<Vec<f64>>,
        /// One frame per scene: its middle frame (in scenes longer than a bounded sample, 34
        /// frames at 720p, the nearest in the sample: docs/KEYFRAMES.md), scenes from `vx
        /// scenes`' content detector in the same pass; as `vx run "scenes;keyframes"`.
        #[arg(long)]
        per_scene: bool,
        /// Also write DIR/sheet.jpg: the frames as a grid of thumbnails with their times (at
        /// most 60, evenly spread).
        #[arg(long)]
        sheet: bool,
        /// Image format.
        #[arg(long, value_enum, default_value_t = Format::Jpg)]
        format: Format,
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
        /// Input videos; with several, -o names a directory that gets one NAME.json (or
        /// NAME.csv) per input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
        /// Input files; with several, -o names a directory that gets one NAME.json (.srt,
        /// .vtt, .txt) per input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Which subtitle stream (0-based among them); default: the first text one.
        #[arg(long, value_name = "N")]
        stream: Option<usize>,
        /// List the subtitle streams instead: JSON Lines on stdout, or in the one file -o
        /// names (several inputs too: each line then has its `file`).
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
        /// catalogue names such as tiny.en find ggml-tiny.en.bin); default: tiny.en there.
        #[arg(short, long)]
        model: Option<String>,
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
        /// The first decoding's temperature, 0 to 1 (0: always the most likely words; above
        /// 0: sampled, with a fixed seed).
        #[arg(long, value_name = "T", default_value_t = 0.0, value_parser = temperature)]
        temperature: f32,
        /// No temperature fallback. By default a batch whose text looks wrong (repetitive, or
        /// unlikely) is decoded again 0.2 hotter, up to 1.0, as whisper.cpp, OpenAI's whisper
        /// and faster-whisper do.
        #[arg(long)]
        no_fallback: bool,
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
        /// Print each batch of speech as it goes to whisper on standard error: its stretches
        /// of audio in seconds of the file (the VAD's windows, joined into one whisper call).
        #[arg(long)]
        debug: bool,
    },
    /// Find where people speak (Silero VAD on 16 kHz mono audio decoded in-process): JSON
    /// with the speech spans in seconds.
    Vad {
        /// Input files (audio or video); with several, -o names a directory that gets one
        /// NAME.json per input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Silero VAD ONNX model, or a name in the model directory; default: silero_vad.onnx
        /// there.
        #[arg(short, long)]
        model: Option<String>,
        /// Speech probability threshold (speech ends 0.15 below it).
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
        /// Write the JSON here instead of stdout (atomically).
        #[arg(short, long, value_name = "OUT.json")]
        out: Option<PathBuf>,
    },
    /// Sound embeddings (aisfx, 512-d) for every 2.32 s window (hop 1.16 s) of a file's audio.
    EmbedAudio {
        /// Input files (audio or video); with several, -o names a directory that gets one
        /// NAME.json per input (and NAME.npy with --npy).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The aisfx ONNX model, or a name in the model directory; default: sfx_embedding.onnx
        /// there.
        #[arg(short, long)]
        model: Option<String>,
        /// Write the JSON here instead of stdout (atomically).
        #[arg(short, long, value_name = "OUT.json")]
        out: Option<PathBuf>,
        /// Also write the vectors as a [windows, 512] float32 .npy file; without a name, beside
        /// the JSON (-o's name with .npy; with several inputs, NAME.npy beside each NAME.json).
        #[arg(long, value_name = "OUT.npy")]
        npy: Option<Option<PathBuf>>,
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
        /// The ONNX model, or a name in the model directory [default: all-MiniLM-L6-v2-int8.onnx
        /// in the model directory].
        #[arg(short, long)]
        model: Option<String>,
        /// The tokenizer.json; default: tokenizer.json or NAME-tokenizer.json beside the model.
        #[arg(long, value_name = "PATH")]
        tokenizer: Option<PathBuf>,
        /// Write the JSON here instead of stdout (atomically).
        #[arg(short, long, value_name = "OUT.json")]
        out: Option<PathBuf>,
        /// Also write the vectors as a [pieces, dim] float32 .npy file.
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
    /// kept, after scenes at one frame per scene (its middle) ("scenes;keyframes;[detect,ocr]":
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
    /// Print the manual page (roff): `vx man > ~/.local/share/man/man1/vx.1`; `vx man
    /// transcribe` prints vx-transcribe(1); `vx man --dir ~/.local/share/man/man1` writes vx.1 and
    /// a page per command.
    Man {
        /// The command whose page to print (default: vx(1), the global options and commands).
        command: Option<String>,
        /// Write every page (vx.1, vx-keyframes.1, ...) into DIR instead of printing one.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        dir: Option<std::path::PathBuf>,
    },
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
