//! Still images (JPEG, PNG, WebP, BMP...) decoded in-process with FFmpeg into packed RGB24,
//! for the detectors.
use std::path::Path;

use ffmpeg_next as ff;

use crate::error::{MediaError, Result};
use crate::probe::{codec_label, open_input};

/// A decoded picture, packed RGB24, rows of `width * 3` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

/// Whether the file opened by FFmpeg is a still image rather than a video.
pub fn is_image(path: &Path) -> Result<bool> {
    let ictx = open_input(path)?;
    let name = ictx.format().name().to_string();
    Ok(name == "image2" || name.ends_with("_pipe"))
}

/// Decode the first picture of `path` to RGB24.
pub fn decode_rgb(path: &Path) -> Result<Rgb> {
    let mut ictx = open_input(path)?;
    let stream = ictx
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| MediaError::NoVideoStream { path: path.into() })?;
    let index = stream.index();
    let params = stream.parameters();
    let codec = ff::decoder::find(params.id()).ok_or_else(|| MediaError::UnsupportedCodec {
        path: path.into(),
        codec: codec_label(&params),
    })?;
    let mut dec = ff::codec::Context::from_parameters(params)
        .and_then(|c| c.decoder().open_as(codec))
        .and_then(|o| o.video())
        .map_err(|e| MediaError::Decode {
            path: path.into(),
            reason: e.to_string(),
        })?;
    let mut frame = ff::util::frame::Video::empty();
    let mut got = false;
    for (s, p) in ictx.packets() {
        if s.index() != index {
            continue;
        }
        if dec.send_packet(&p).is_ok() && dec.receive_frame(&mut frame).is_ok() {
            got = true;
            break;
        }
    }
    if !got {
        let _ = dec.send_eof();
        got = dec.receive_frame(&mut frame).is_ok();
    }
    if !got || frame.width() == 0 || frame.height() == 0 {
        return Err(MediaError::NoFrames {
            path: path.into(),
            detail: Some("no picture could be decoded".into()),
        });
    }
    let (w, h) = (frame.width(), frame.height());
    let mut sws = ff::software::scaling::Context::get(
        frame.format(),
        w,
        h,
        ff::format::Pixel::RGB24,
        w,
        h,
        ff::software::scaling::Flags::BICUBIC
            | ff::software::scaling::Flags::ACCURATE_RND
            | ff::software::scaling::Flags::FULL_CHR_H_INT,
    )
    .map_err(|e| MediaError::Convert {
        path: path.into(),
        from: format!("{:?}", frame.format()),
        reason: e.to_string(),
    })?;
    let mut rgb = ff::util::frame::Video::empty();
    sws.run(&frame, &mut rgb).map_err(|e| MediaError::Convert {
        path: path.into(),
        from: format!("{:?}", frame.format()),
        reason: e.to_string(),
    })?;
    let (w, h) = (w as usize, h as usize);
    let stride = rgb.stride(0);
    let src = rgb.data(0);
    let mut data = Vec::with_capacity(w * h * 3);
    for r in 0..h {
        data.extend_from_slice(&src[r * stride..r * stride + w * 3]);
    }
    Ok(Rgb {
        width: w,
        height: h,
        data,
    })
}
