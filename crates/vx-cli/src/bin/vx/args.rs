//! The argument types of the commands (clap derive), shared by main.rs's command list and
//! the command modules.
use std::path::PathBuf;

use clap::ValueEnum;

/// `--every`: seconds more than 0 and at most 10^9, as `vx run`'s `every=` takes them.
pub(crate) fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1e9 => Ok(v),
        _ => Err("a number of seconds more than 0 and at most 1000000000".into()),
    }
}

/// `--min-interval`: seconds from 0 to 10^9 (`min-interval=` of `vx run`).
pub(crate) fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1e9).contains(&v) => Ok(v),
        _ => Err("a number of seconds from 0 to 1000000000".into()),
    }
}

/// `--threads`: 0 (one per core) to [`vx_pipeline::budget::MAX_THREADS`]; more would only
/// fail to start threads (a panic before this check: `--threads 100000`).
pub(crate) fn threads(s: &str) -> Result<usize, String> {
    let max = vx_pipeline::budget::MAX_THREADS;
    match s.parse::<usize>() {
        Ok(v) if v <= max => Ok(v),
        _ => Err(format!("a whole number from 0 (one per core) to {max}")),
    }
}

/// `--temperature`: 0, or 0.01 to 1 (`temperature=` of `vx run`; whisper.cpp divides the
/// logits by it).
pub(crate) fn temperature(s: &str) -> Result<f32, String> {
    let min = vx_pipeline::settings::MIN_TEMPERATURE as f32;
    match s.parse::<f32>() {
        Ok(0.0) => Ok(0.0), // -0 too
        Ok(v) if v.is_finite() && (min..=1.0).contains(&v) => Ok(v),
        _ => Err("0, or a number from 0.01 to 1".into()),
    }
}

/// `--max`: a count of at least 1 (`max=` of `vx run`).
pub(crate) fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<u32>() {
        Ok(v) if v >= 1 => Ok(v as usize),
        _ => Err("a whole number from 1 to 4294967295".into()),
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FamilyArg {
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
pub(crate) struct DetectArgs {
    /// Images (JPEG, PNG, WebP, ...) and/or videos, decoded in-process.
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// Model file, or a name looked up in the model directory (with or without .onnx; see
    /// `vx models list`); default: ssd_mobilenet_v2_coco.onnx (detect) or centerface.onnx
    /// (faces) there.
    #[arg(short, long)]
    pub(crate) model: Option<String>,
    /// Class names ("<id> <name>" or one name per line); default: coco_labels_90.txt beside
    /// the model when there is one.
    #[arg(long)]
    pub(crate) labels: Option<PathBuf>,
    /// Keep detections with at least this score.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) threshold: f32,
    /// Videos: one frame every SECONDS instead of every keyframe.
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub(crate) every: Option<f64>,
    /// Keep only these classes, e.g. `--classes person,car` (names from the labels).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub(crate) classes: Option<Vec<String>>,
    /// Suppress overlapping boxes across classes, not only within one (Ultralytics'
    /// agnostic NMS): an object the model hesitates over is reported once, as its best class.
    #[arg(long)]
    pub(crate) agnostic_nms: bool,
    /// Also write each picture with its boxes and labels drawn, as JPEG, into DIR.
    #[arg(long, value_name = "DIR")]
    pub(crate) annotate: Option<PathBuf>,
    /// Also write each picture with the detected boxes hidden (a mosaic; `vx faces --blur`
    /// for anonymised pictures), as JPEG, into DIR. A name ending in .mkv (one video input):
    /// detect on every frame and write the whole video with the boxes hidden (MJPEG in
    /// Matroska, the frames' own times, no audio).
    #[arg(long, value_name = "DIR|OUT.mkv")]
    pub(crate) blur: Option<PathBuf>,
    /// Model family, instead of choosing it from the model's inputs and outputs.
    #[arg(long, value_enum)]
    pub(crate) family: Option<FamilyArg>,
    /// Videos: frames per model call, where the model allows several (SSD); 1 = one at a
    /// time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) batch: u32,
    /// Write the JSON here instead of stdout (atomically).
    #[arg(short, long, value_name = "OUT.json")]
    pub(crate) out: Option<PathBuf>,
    /// The global --threads.
    #[arg(skip)]
    pub(crate) threads: usize,
}

#[derive(clap::Args)]
pub(crate) struct OcrArgs {
    /// Images (JPEG, PNG, WebP, ...) and/or videos, decoded in-process.
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// The text detector (DB), a file or a name in the model directory; the classifier and
    /// recogniser are looked for beside it by their usual names.
    #[arg(short, long, default_value = vx_infer::ocr::DET_MODEL)]
    pub(crate) model: String,
    /// The recogniser (CTC; its character table in its metadata, or
    /// ch_PP-OCRv4_rec_keys.txt beside it); default: ch_PP-OCRv4_rec_infer.onnx beside the
    /// detector.
    #[arg(long, value_name = "MODEL")]
    pub(crate) rec_model: Option<String>,
    /// The 0/180° direction classifier; default: ch_ppocr_mobile_v2.0_cls_infer.onnx beside
    /// the detector, skipped when it is not there.
    #[arg(long, value_name = "MODEL", conflicts_with = "no_cls")]
    pub(crate) cls_model: Option<String>,
    /// Do not run the direction classifier (upside-down text is then misread).
    #[arg(long)]
    pub(crate) no_cls: bool,
    /// Drop lines read with a lower score.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) text_score: f32,
    /// Videos: one frame every SECONDS instead of every keyframe.
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub(crate) every: Option<f64>,
    /// Also write each picture with its lines drawn, as JPEG, into DIR.
    #[arg(long, value_name = "DIR")]
    pub(crate) annotate: Option<PathBuf>,
    /// Write the JSON here instead of stdout (atomically).
    #[arg(short, long, value_name = "OUT.json")]
    pub(crate) out: Option<PathBuf>,
    /// The global --threads.
    #[arg(skip)]
    pub(crate) threads: usize,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum KindArg {
    Speech,
    Text,
    Object,
    Face,
}

impl From<KindArg> for vx_index::Kind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Speech => vx_index::Kind::Speech,
            KindArg::Text => vx_index::Kind::Text,
            KindArg::Object => vx_index::Kind::Object,
            KindArg::Face => vx_index::Kind::Face,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum SceneDetector {
    Content,
    Adaptive,
    Transnet,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TextFormat {
    Json,
    Srt,
    Vtt,
    Txt,
}

impl TextFormat {
    /// The file name extension of the format.
    pub(crate) fn ext(self) -> &'static str {
        match self {
            TextFormat::Json => "json",
            TextFormat::Srt => "srt",
            TextFormat::Vtt => "vtt",
            TextFormat::Txt => "txt",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum AudioFmt {
    S16,
    F32,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    #[value(alias = "jpeg")]
    Jpg,
    Png,
}

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// Media files, folders (searched recursively; hidden entries skipped; media recognised
    /// by opening them) and @LIST files (one path per line).
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// The operations, e.g. "keyframes;[detect,faces];transcribe"; options in parentheses,
    /// e.g. "keyframes(every=5);detect(threshold=0.3,classes=person+car);transcribe(words)"
    /// (docs/OUTPUTS.md lists them).
    #[arg(long, value_name = "SPEC")]
    pub(crate) ops: String,
    /// Output directory: one folder per input inside it.
    #[arg(short, long, value_name = "OUTDIR")]
    pub(crate) out: PathBuf,
    /// Model of an operation: OP=PATH or OP=NAME in the model directory (repeatable); by
    /// default each operation looks for its usual model there (`vx models list`).
    #[arg(short = 'm', long = "model", value_name = "OP=MODEL")]
    pub(crate) models: Vec<String>,
    /// The global --threads.
    #[arg(skip)]
    pub(crate) threads: usize,
    /// Per-stage timings, queue depths, the frames handed to models (OUTDIR/<id>/debug/) and
    /// a Chrome trace-event file (OUTDIR/<id>/trace.json, opens in Perfetto).
    #[arg(long)]
    pub(crate) debug: bool,
    /// Score threshold of detect and faces.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) threshold: f32,
    /// Items waiting per operation (bounded queues).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) queue: u32,
    /// Inputs processed at once, sharing the thread budget and the loaded models.
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) jobs: u32,
    /// Recompute inputs whose results are complete and current (by default they are skipped
    /// without decoding).
    #[arg(long)]
    pub(crate) force: bool,
    /// Only the inputs of shard K of N (0 <= K < N), decided by each input's id: run the same
    /// command with K = 0..N-1 on N machines (docs/SCALE.md).
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<String>,
    /// Where each input is indexed as it finishes (default OUTDIR/index.db): the searchable
    /// SQLite index of `vx search`, `vx serve` and `vx mcp` (docs/INDEX.md).
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    #[allow(clippy::option_option)]
    pub(crate) index: Option<Option<PathBuf>>,
    /// No index: the results directory only (`vx index OUTDIR` can build it later; use this
    /// for shards writing one directory on shared storage, where SQLite's locks are unsafe).
    #[arg(long, conflicts_with = "index")]
    pub(crate) no_index: bool,
    /// json: the per-input folders and results.jsonl (always written: resume reads them);
    /// parquet: also one Parquet table per kind, OUTDIR/<table>.parquet (files, keyframes,
    /// detections, segments, text, scenes), rebuilt at the end of the run (docs/OUTPUTS.md).
    #[arg(long, value_enum, default_value = "json")]
    pub(crate) format: RunFormat,
}

/// What `vx run` writes besides the per-input folders.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RunFormat {
    Json,
    Parquet,
}
