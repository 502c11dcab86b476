//! The operations, and what the planner knows of each. Adding one: a module here with a
//! type implementing [`crate::op::Operation`], an entry in [`KNOWN`] and, if it runs a model,
//! in [`DEFAULT_MODELS`]; the command line builds it from its name.
pub mod audio;
pub mod detect;
pub mod embed_audio;
pub mod keyframes;
pub mod ocr;
pub mod probe;
pub mod scenes;
pub mod subtitles;
pub mod transcribe;
pub mod vad;

use crate::op::{Input, Needs, Select};
use crate::plan::{Kind, OpInfo};

/// What a picture operation (detect, faces, ocr) takes from the decoder: the picture of a
/// still image; of a video, one frame every `every` seconds, or its key frames.
pub fn picture_needs(input: &Input, every: Option<f64>) -> Needs {
    let select = if input.still {
        Select::All
    } else {
        match every {
            Some(s) => Select::Every(s),
            None => Select::Key,
        }
    };
    Needs {
        video: Some(select),
        audio: None,
        subtitles: false,
    }
}

/// Every operation `--ops` accepts.
pub const KNOWN: &[OpInfo] = &[
    OpInfo {
        name: "probe",
        requires: None,
        accepts: None,
        produces: None,
        options: &[],
    },
    OpInfo {
        name: "keyframes",
        requires: None,
        // After scenes: one image per scene instead of the encoder's key frames.
        accepts: Some(Kind::Frames),
        produces: Some(Kind::Frames),
        options: &[
            "every",
            "max",
            "min-interval",
            "dedup",
            "max-side",
            "quality",
            "format",
        ],
    },
    OpInfo {
        name: "detect",
        requires: None,
        accepts: Some(Kind::Frames),
        produces: None,
        options: &["threshold", "classes", "agnostic-nms"],
    },
    OpInfo {
        name: "faces",
        requires: None,
        accepts: Some(Kind::Frames),
        produces: None,
        options: &["threshold"],
    },
    OpInfo {
        name: "ocr",
        requires: None,
        accepts: Some(Kind::Frames),
        produces: None,
        options: &[],
    },
    OpInfo {
        name: "scenes",
        requires: None,
        accepts: None,
        produces: Some(Kind::Frames),
        options: &["threshold", "min-scene-len"],
    },
    OpInfo {
        name: "audio",
        requires: None,
        accepts: None,
        produces: None,
        options: &["rate", "channels"],
    },
    OpInfo {
        name: "vad",
        requires: None,
        accepts: None,
        produces: None,
        options: &["threshold"],
    },
    OpInfo {
        name: "transcribe",
        requires: None,
        accepts: None,
        produces: Some(Kind::Text),
        options: &[
            "language",
            "words",
            "beam-size",
            "full-context",
            "temperature",
            "no-fallback",
        ],
    },
    OpInfo {
        name: "embed-audio",
        requires: None,
        accepts: None,
        produces: None,
        options: &[],
    },
    OpInfo {
        name: "subtitles",
        requires: None,
        accepts: None,
        produces: None,
        options: &[],
    },
];

/// The model each operation loads when none is given: names looked up in the model
/// directory, first found wins.
pub const DEFAULT_MODELS: &[(&str, &[&str])] = &[
    ("detect", &["ssd_mobilenet_v2_coco.onnx"]),
    ("faces", &["centerface.onnx"]),
    // The detector; the direction classifier and the recogniser are found beside it
    // (vx_infer::ocr::{CLS_MODEL, REC_MODEL}).
    ("ocr", &["ch_PP-OCRv4_det_infer.onnx"]),
    ("vad", &["silero_vad.onnx"]),
    (
        "transcribe",
        &[
            "tiny.en",
            "whisper-tiny.en.ggml.bin",
            "base.en",
            "tiny",
            "base",
        ],
    ),
    ("embed-audio", &["sfx_embedding.onnx"]),
];

/// Default model names for `op` (empty when it runs no model).
pub fn default_models(op: &str) -> &'static [&'static str] {
    DEFAULT_MODELS
        .iter()
        .find(|(n, _)| *n == op)
        .map_or(&[], |(_, m)| m)
}

/// Whether `op` runs a heavy model (a share of the thread budget: [`crate::budget`]). The
/// Silero VAD is light: one thread.
pub fn is_model(op: &str) -> bool {
    matches!(
        op,
        "detect" | "faces" | "ocr" | "transcribe" | "embed-audio"
    )
}
