//! Still images (JPEG, PNG, WebP, BMP...) decoded in-process with FFmpeg into packed RGB24.
use std::path::Path;

use crate::error::{MediaError, Result};
use crate::source::{DecodeMode, Decoded, Source, SourceOptions};

/// A decoded picture, packed RGB24, rows of `width * 3` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

/// Decode the first picture of `path` to RGB24 (upright, at its own size).
pub fn decode_rgb(path: &Path) -> Result<Rgb> {
    let mut src = Source::open(
        path,
        &SourceOptions {
            video: Some(DecodeMode::All),
            ..Default::default()
        },
    )?;
    if src.video_info().is_none() {
        return Err(MediaError::NoVideoStream { path: path.into() });
    }
    for d in src.by_ref() {
        if let Decoded::Video(frame) = d {
            return frame.to_rgb(None).map_err(|reason| MediaError::Convert {
                path: path.into(),
                from: frame.pixel_format(),
                reason,
            });
        }
    }
    Err(MediaError::NoFrames {
        path: path.into(),
        detail: src
            .no_frame_detail()
            .or(Some("no picture could be decoded".into())),
    })
}
