//! The vx operations engine.
//!
//! ```text
//! file ─ demux (once) ─┬─ video packets ─ decoder ─ Frame ─┬─ queue ─ keyframes ─┬─ queue ─ detect
//!                      │                                   │                     └─ queue ─ faces
//!                      │                                   └─ queue ─ detect (no producer before it)
//!                      └─ audio packets ─ decoder ─ resampler per format ─┬─ queue ─ transcribe
//!                                                                        └─ queue ─ embed-audio
//! ```
//!
//! * [`plan`]: the `--ops` language (`"keyframes;[detect,faces];transcribe"`), parsed with
//!   positions in its errors.
//! * [`op`]: the one contract every operation implements ([`op::Operation`]): what it
//!   consumes ([`op::Needs`]), pushed [`frame::Frame`]s and audio blocks, a typed report and
//!   the files it wrote at the end.
//! * [`engine`]: one [`vx_media::source::Source`] per file, a bounded queue and a thread per
//!   operation (a slow operation slows decoding down instead of growing a buffer), errors
//!   recorded per operation while the others finish, timings and a trace for `--debug`.
//! * [`budget`]: one thread budget divided among decoding, JPEG encoding and models.
//! * [`ops`]: the operations (probe, keyframes, detect, faces, audio, vad, transcribe,
//!   embed-audio) and the registry that builds them from names.
//! * [`result`]: the per-file result record (`result.json`) and stable input ids.
//!
//! Every time in every report is seconds on one timeline: 0.0 is the start of the file's
//! presentation (the container's start time subtracted), see `vx_media::source`.

pub mod budget;
pub mod bulk;
pub mod engine;
pub mod frame;
pub mod models;
pub mod op;
pub mod ops;
pub mod plan;
pub mod result;
pub mod runner;
pub mod settings;
pub mod tables;
pub mod trace;

use std::path::PathBuf;

/// Errors of the engine and its operations; each names the file (or the spec) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Media(#[from] vx_media::MediaError),
    #[error(transparent)]
    Infer(#[from] vx_infer::InferError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An invalid `--ops` spec or option, with what is wrong.
    #[error("{0}")]
    Usage(String),
    #[error("{}: {reason}", path.display())]
    Failed { path: PathBuf, reason: String },
    /// A failure whose message says everything (it names the file already).
    #[error("{0}")]
    Message(String),
    /// The run was interrupted (`EngineOptions::cancel`): every operation was aborted.
    #[error("{}: interrupted", path.display())]
    Cancelled { path: PathBuf },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub fn failed(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Failed {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Round a time in seconds to the millisecond (every time in every report).
pub use vx_image::secs::round_ms as ms;
