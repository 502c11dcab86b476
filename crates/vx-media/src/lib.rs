//! In-process media handling for vx, on FFmpeg's libraries (libavformat/libavcodec/libswscale).
//!
//! * [`probe`]: container and stream metadata, like `ffprobe -show_format -show_streams`.
//! * [`source`]: one demuxer per file feeding a video decoder (key frames or all frames) and
//!   an audio decoder with one resampler per requested format; vx-owned frames out
//!   ([`source::VideoFrame`], [`source::AudioBlock`]) on one timeline.
//! * [`convert`]: decoded pictures to full-range YUV or RGB (LUT copy or libswscale).
//! * [`audio`]: audio to WAV / f32 in memory (on [`source`]).
//! * [`frames`]: every frame as JPEG for streaming, MJPEG into Matroska.
//!
//! Errors are typed ([`MediaError`]) and always name the file they concern.

pub mod audio;
pub mod convert;
pub mod error;
pub mod frames;
pub mod probe;
pub mod source;
pub mod still;
pub mod subtitles;

pub use error::MediaError;
/// Picture types and encoders shared with FFmpeg-free code (see the vx-image crate).
pub use vx_image::{fsutil, image, jpeg, phash};

/// The largest picture vx decodes, in pixels (64 megapixels: 8192 x 8192, or 8K video four
/// times over). Larger pictures are refused with [`MediaError::TooLarge`] before any decoder
/// allocates for them. Pictures handed to a model are smaller still: see
/// `vx_infer::detect::MAX_MODEL_PIXELS`.
pub const MAX_PIXELS: u64 = 8192 * 8192;

use std::sync::Once;

static INIT: Once = Once::new();

/// How much FFmpeg's own logging vx lets through to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfmpegLog {
    /// Nothing: vx reports problems itself, one line per failure (the default).
    Quiet,
    /// FFmpeg warnings and errors (useful with `--verbose`).
    Warnings,
    /// Everything FFmpeg says at info level.
    Info,
}

/// The linked FFmpeg libraries and their versions ("libavcodec", "59.37.100"), for `vx doctor`.
pub fn versions() -> Vec<(&'static str, String)> {
    let v = |n: u32| format!("{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff);
    // SAFETY: plain version queries of the linked libraries.
    unsafe {
        vec![
            ("libavcodec", v(ffmpeg_next::ffi::avcodec_version())),
            ("libavformat", v(ffmpeg_next::ffi::avformat_version())),
            ("libavutil", v(ffmpeg_next::ffi::avutil_version())),
            ("libswscale", v(ffmpeg_next::ffi::swscale_version())),
            ("libswresample", v(ffmpeg_next::ffi::swresample_version())),
        ]
    }
}

/// Whether this FFmpeg build decodes the codec of this name ("h264", "opus", "av1": by any
/// decoder, e.g. libdav1d for AV1), or has a decoder of this name.
pub fn has_decoder(name: &str) -> bool {
    if ffmpeg_next::decoder::find_by_name(name).is_some() {
        return true;
    }
    let Ok(c) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: lookups in FFmpeg's static codec tables; the descriptor is not kept.
    unsafe {
        let d = ffmpeg_next::ffi::avcodec_descriptor_get_by_name(c.as_ptr());
        !d.is_null() && !ffmpeg_next::ffi::avcodec_find_decoder((*d).id).is_null()
    }
}

/// How FFmpeg is linked, from what the linked libavcodec says of its own configure line:
/// "static, LGPL version 2.1 or later" (scripts/build-ffmpeg) or "shared, ...", with the
/// licence FFmpeg reports.
pub fn linkage() -> String {
    // SAFETY: both return static C strings.
    let (config, licence) = unsafe {
        (
            std::ffi::CStr::from_ptr(ffmpeg_next::ffi::avcodec_configuration()),
            std::ffi::CStr::from_ptr(ffmpeg_next::ffi::avcodec_license()),
        )
    };
    let kind = if config.to_string_lossy().contains("--disable-shared") {
        "static"
    } else {
        "shared"
    };
    format!("{kind}, {}", licence.to_string_lossy())
}

/// Initialise the FFmpeg libraries once per process and set their log level.
pub fn init(log: FfmpegLog) {
    INIT.call_once(|| {
        // ffmpeg::init only registers devices/formats on old FFmpeg; it cannot fail on 5.x.
        let _ = ffmpeg_next::init();
    });
    use ffmpeg_next::util::log::{set_level, Level};
    set_level(match log {
        FfmpegLog::Quiet => Level::Quiet,
        FfmpegLog::Warnings => Level::Warning,
        FfmpegLog::Info => Level::Info,
    });
}
