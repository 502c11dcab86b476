//! Still images (JPEG, PNG, WebP, BMP...) decoded in-process with FFmpeg into packed RGB24,
//! for the detectors.
use std::path::Path;

use crate::convert::Converter;
use crate::decode::{DecodeMode, VideoDecoder};
use crate::error::{MediaError, Result};

/// A decoded picture, packed RGB24, rows of `width * 3` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

/// Whether the file opened by FFmpeg is a still image rather than a video.
pub fn is_image(path: &Path) -> Result<bool> {
    Ok(VideoDecoder::open(path, DecodeMode::All, 1)?.is_still())
}

/// Decode the first picture of `path` to RGB24 (upright, at its own size).
pub fn decode_rgb(path: &Path) -> Result<Rgb> {
    first_rgb(&mut VideoDecoder::open(path, DecodeMode::All, 0)?)
}

/// The next picture of an opened decoder as RGB24 (upright, at its own size): for a still
/// image, the image.
pub fn first_rgb(dec: &mut VideoDecoder) -> Result<Rgb> {
    let rotation = dec.info.rotation;
    let path = dec.path().to_path_buf();
    let mut conv = Converter::new();
    match dec.next_frame() {
        Some(frame) => conv
            .to_rgb(frame, rotation, None)
            .map_err(|reason| MediaError::Convert {
                path,
                from: format!("{:?}", frame.format()).to_lowercase(),
                reason,
            }),
        None => Err(MediaError::NoFrames {
            path,
            detail: dec
                .no_frame_detail()
                .or(Some("no picture could be decoded".into())),
        }),
    }
}
