//! The model directory and the catalogue of models vx can download: where a model named by
//! the user (`--model tiny.en`, `models={"detect": ...}`) is found. Shared by the CLI (which
//! adds `vx models list/fetch`, vx-cli's models.rs) and the Python package.
//!
//! The directory is `$VX_MODEL_DIR`, else `$XDG_CACHE_HOME/vx/models`, else
//! `~/.cache/vx/models`.
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{Error, Result};

/// A model vx can download.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Known {
    /// What users type: `vx models fetch tiny.en`, `--model tiny.en`.
    pub name: &'static str,
    /// File name in the model directory (the upstream name).
    pub file: &'static str,
    pub sha256: &'static str,
    /// Size in bytes, about (for the progress line before the server says).
    pub approx_bytes: u64,
    pub about: &'static str,
    /// Where the official file is served (`None`: [`WHISPER_BASE_URL`]/file).
    #[serde(skip)]
    pub url: Option<&'static str>,
    /// Fetched by `vx models fetch --all` (what the default of a command needs).
    #[serde(skip)]
    pub default: bool,
}

/// Where the official whisper.cpp ggml files live.
pub const WHISPER_BASE_URL: &str = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main";

/// The official whisper.cpp conversions of OpenAI's Whisper (MIT licence). SHA-256 of the
/// files as served by the URL above.
pub const CATALOGUE: &[Known] = &[
    Known {
        name: "tiny",
        file: "ggml-tiny.bin",
        sha256: "be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21",
        approx_bytes: 77_700_000,
        about: "whisper tiny, multilingual (39 M parameters)",
        url: None,
        default: false,
    },
    Known {
        name: "tiny.en",
        file: "ggml-tiny.en.bin",
        sha256: "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f",
        approx_bytes: 77_700_000,
        about: "whisper tiny, English only",
        url: None,
        default: true,
    },
    Known {
        name: "base",
        file: "ggml-base.bin",
        sha256: "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe",
        approx_bytes: 148_000_000,
        about: "whisper base, multilingual (74 M parameters)",
        url: None,
        default: false,
    },
    Known {
        name: "base.en",
        file: "ggml-base.en.bin",
        sha256: "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002",
        approx_bytes: 148_000_000,
        about: "whisper base, English only",
        url: None,
        default: false,
    },
    Known {
        name: "small",
        file: "ggml-small.bin",
        sha256: "1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b",
        approx_bytes: 488_000_000,
        about: "whisper small, multilingual (244 M parameters)",
        url: None,
        default: false,
    },
    Known {
        name: "small.en",
        file: "ggml-small.en.bin",
        sha256: "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d",
        approx_bytes: 488_000_000,
        about: "whisper small, English only",
        url: None,
        default: false,
    },
    Known {
        name: "silero_vad",
        file: "silero_vad.onnx",
        sha256: "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
        approx_bytes: 2_327_524,
        about: "Silero VAD 6.2.3 (MIT): speech detection for vad and transcribe",
        url: Some(
            "https://github.com/snakers4/silero-vad/raw/v6.2.3/src/silero_vad/data/silero_vad.onnx",
        ),
        default: true,
    },
];

/// The model directory (it may not exist yet).
pub fn model_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VX_MODEL_DIR").filter(|d| !d.is_empty()) {
        return d.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("vx").join("models")
}

pub fn known(name: &str) -> Option<&'static Known> {
    CATALOGUE.iter().find(|k| k.name == name || k.file == name)
}

/// The default model of operation `op`: the first of its usual names
/// ([`crate::ops::default_models`]) that is a file in the model directory — only there: a
/// file of that name in the current directory is not it (a `silero_vad.onnx` lying in the
/// working directory was taken before `$VX_MODEL_DIR`'s).
pub fn default_model(op: &str) -> Option<PathBuf> {
    crate::ops::default_models(op)
        .iter()
        .find_map(|n| in_model_dir(n))
}

/// `model` in the model directory: `NAME`, `NAME.onnx`, `NAME.bin`, or a catalogue name's
/// file (`tiny.en`: ggml-tiny.en.bin).
pub fn in_model_dir(model: &str) -> Option<PathBuf> {
    let dir = model_dir();
    let mut names = vec![
        model.to_string(),
        format!("{model}.onnx"),
        format!("{model}.bin"),
    ];
    if let Some(k) = known(model) {
        names.push(k.file.to_string());
    }
    names.iter().map(|n| dir.join(n)).find(|c| c.is_file())
}

/// `--model` as given: an existing path, else a file in the model directory (`NAME`,
/// `NAME.onnx`, `NAME.bin`, or a catalogue name such as `tiny.en`).
pub fn resolve(model: &str) -> Result<PathBuf> {
    let p = PathBuf::from(model);
    if p.exists() {
        return Ok(p);
    }
    if let Some(c) = in_model_dir(model) {
        return Ok(c);
    }
    let dir = model_dir();
    let hint = match known(model) {
        Some(k) => format!(" (`vx models fetch {}` downloads it)", k.name),
        None => String::new(),
    };
    Err(Error::Message(format!(
        "{model}: no such model file, nor in the model directory {}{hint}",
        dir.display()
    )))
}
