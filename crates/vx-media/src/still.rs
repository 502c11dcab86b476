//! Packed RGB24 pictures: what the detectors take. Still images are decoded like any video,
//! by [`crate::source::Source`] (FFmpeg's image2 / *_pipe demuxers).

/// A decoded picture, packed RGB24, rows of `width * 3` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}
