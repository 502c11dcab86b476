use std::path::{Path, PathBuf};

/// Everything that can go wrong in vx-media. Every variant names the file it concerns, so the
/// CLI can print one line that says which input failed and why.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{}: cannot open: {reason}", path.display())]
    Open { path: PathBuf, reason: String },

    #[error("{}: not a media file FFmpeg recognises ({reason})", path.display())]
    NotMedia { path: PathBuf, reason: String },

    #[error("{}: no video stream", path.display())]
    NoVideoStream { path: PathBuf },

    #[error("{}: no audio stream", path.display())]
    NoAudioStream { path: PathBuf },

    #[error("{}: no {kind} stream", path.display())]
    NoStream { path: PathBuf, kind: &'static str },

    #[error("{}: unsupported codec '{codec}' (no decoder in this FFmpeg build)", path.display())]
    UnsupportedCodec { path: PathBuf, codec: String },

    #[error("{}: decoder error: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },

    #[error("{}: no frame could be decoded{}", path.display(), detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    NoFrames {
        path: PathBuf,
        detail: Option<String>,
    },

    #[error("{}: cannot convert pixel format {from}: {reason}", path.display())]
    Convert {
        path: PathBuf,
        from: String,
        reason: String,
    },

    #[error("{}: image encoding failed: {reason}", path.display())]
    Encode { path: PathBuf, reason: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: picture of {width}x{height} is larger than vx decodes (8192x8192 = 64 Mi pixels at most)", path.display())]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
    },

    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// `--video-stream N` / `--audio-stream N` / `--stream N` beyond what this file has: the
    /// file's error (another file may have it), not a bad option.
    #[error("{}: no {kind} stream #{n} (the file has {count})", path.display())]
    NoSuchStream {
        path: PathBuf,
        kind: &'static str,
        n: usize,
        count: usize,
    },
}

impl MediaError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        MediaError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = MediaError> = std::result::Result<T, E>;
