//! ONNX Runtime for vx: the one place sessions are created ([`runtime`]) and model adapters
//! that own their pre- and post-processing ([`detect`]).
//!
//! ONNX Runtime is loaded at run time (`ort` with `load-dynamic`) from the library that
//! `scripts/setup` takes from the PyPI `onnxruntime` wheel; see [`runtime::library_path`].

pub mod centerface;
pub mod detect;
pub mod ggml;
pub mod ggml_quant;
pub mod ocr;
pub mod onnx_graph;
pub mod runtime;
pub mod sfx;
pub mod ssd;
pub mod text;
pub mod transcribe;
pub mod transnet;
pub mod vad;
pub mod yolo;

use std::path::PathBuf;

/// Errors of vx-infer; each names the model or input it concerns.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("ONNX Runtime library not found (looked in: {looked}); run `vx setup` (or set ORT_DYLIB_PATH)")]
    NoRuntime { looked: String },
    #[error("cannot load ONNX Runtime from {}: {reason}", path.display())]
    Runtime { path: PathBuf, reason: String },
    #[error("{}: not a model vx can load: {reason}", path.display())]
    Model { path: PathBuf, reason: String },
    #[error("{}: unsupported model signature: {reason}", path.display())]
    Signature { path: PathBuf, reason: String },
    #[error("{}: inference failed: {reason}", path.display())]
    Run { path: PathBuf, reason: String },
    /// OCR: a picture so long and thin that its detector input would pass the size limit.
    #[error("a {width}x{height} picture is too thin for OCR (its detector input would be over {limit} pixels)")]
    TooThin {
        width: usize,
        height: usize,
        limit: usize,
    },
    #[error("{}: {reason}", path.display())]
    Labels { path: PathBuf, reason: String },
    /// An output file that cannot be the one asked for (the input itself, a directory): the
    /// caller's mistake.
    #[error("{}: {reason}", path.display())]
    OutputRefused { path: PathBuf, reason: String },
    /// An output that could not be written.
    #[error("{}: cannot write: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}

pub type Result<T, E = InferError> = std::result::Result<T, E>;
