//! Every frame of a video as a JPEG, for streaming: MJPEG packets are passed through as they
//! are; other codecs are decoded and encoded with the keyframe path's YUV -> JPEG encoder.
use std::ops::ControlFlow;
use std::path::Path;

use ffmpeg_next as ff;

use crate::convert::Converter;
use crate::error::{MediaError, Result};
use crate::jpeg::Encoder;
use crate::probe::{codec_label, display_rotation, open_input, PacketRead};

/// How a frame handed to the callback was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The container's MJPEG packet, untouched.
    Passthrough,
    /// Decoded and encoded by vx.
    Encoded,
}

/// Call `f` with each frame of the first video stream of `path` as JPEG bytes, in decode order.
/// `accept` decides whether an MJPEG packet can be sent as it is; when it returns false the
/// packet is decoded and re-encoded (e.g. optimised Huffman tables, which RFC 2435 cannot carry).
pub fn for_each_jpeg(
    path: &Path,
    quality: u8,
    max_side: Option<u32>,
    mut accept: impl FnMut(&[u8]) -> bool,
    mut f: impl FnMut(&[u8], Origin) -> ControlFlow<()>,
) -> Result<usize> {
    let mut ictx = open_input(path)?;
    // Cover art is not a video to stream (crate::probe::best_video).
    let stream = crate::probe::best_video(&ictx)
        .and_then(|i| ictx.stream(i))
        .ok_or_else(|| MediaError::NoVideoStream { path: path.into() })?;
    let index = stream.index();
    let rotation = display_rotation(&stream);
    let params = stream.parameters();
    let is_mjpeg = params.id() == ff::codec::Id::MJPEG && rotation == 0 && max_side.is_none();
    let codec = ff::decoder::find(params.id()).ok_or_else(|| MediaError::UnsupportedCodec {
        path: path.into(),
        codec: codec_label(&params),
    })?;
    let mut decoder = ff::codec::Context::from_parameters(params)
        .and_then(|c| c.decoder().open_as(codec))
        .and_then(|o| o.video())
        .map_err(|e| MediaError::Decode {
            path: path.into(),
            reason: e.to_string(),
        })?;
    // Audio and other streams are dropped by the demuxer, never handed out.
    crate::probe::keep_only_stream(&mut ictx, index);
    let mut enc = Encoder::new(quality).map_err(|reason| MediaError::Encode {
        path: path.into(),
        reason,
    })?;
    let mut conv = Converter::new();
    let mut frame = ff::util::frame::Video::empty();
    let mut packet = ff::Packet::empty();
    let mut count = 0usize;
    let mut encode = |frame: &ff::util::frame::Video| -> Result<Vec<u8>> {
        let img =
            conv.convert(frame, rotation, max_side)
                .map_err(|reason| MediaError::Convert {
                    path: path.into(),
                    from: format!("{:?}", frame.format()),
                    reason,
                })?;
        enc.jpeg(&img).map_err(|reason| MediaError::Encode {
            path: path.into(),
            reason,
        })
    };
    loop {
        match crate::probe::read_packet(&mut ictx, &mut packet) {
            Ok(PacketRead::Packet) => {}
            Ok(PacketRead::Eof) => break,
            Ok(PacketRead::Again | PacketRead::Invalid) => continue,
            Err(e) => {
                return Err(MediaError::Decode {
                    path: path.into(),
                    reason: format!("read error: {e}"),
                })
            }
        }
        if packet.stream() != index {
            continue;
        }
        if is_mjpeg {
            if let Some(data) = packet.data() {
                if accept(data) {
                    count += 1;
                    if f(data, Origin::Passthrough).is_break() {
                        return Ok(count);
                    }
                    continue;
                }
            }
        }
        if decoder.send_packet(&packet).is_err() {
            continue;
        }
        while decoder.receive_frame(&mut frame).is_ok() {
            count += 1;
            if f(&encode(&frame)?, Origin::Encoded).is_break() {
                return Ok(count);
            }
        }
    }
    let _ = decoder.send_eof();
    while decoder.receive_frame(&mut frame).is_ok() {
        count += 1;
        if f(&encode(&frame)?, Origin::Encoded).is_break() {
            break;
        }
    }
    Ok(count)
}

/// Records JPEG frames into a Matroska file without re-encoding (written under a temporary
/// name, renamed by [`MjpegRecorder::finish`]).
pub struct MjpegRecorder {
    octx: ff::format::context::Output,
    path: std::path::PathBuf,
    out: crate::fsutil::NamedOut,
    time_base: ff::Rational,
    first_ts: Option<u32>,
    last_pts: Option<i64>,
    frames: usize,
    /// The last frame, written when the next one says how long it lasts (or at the end,
    /// lasting as long as the one before it).
    held: Option<(ff::Packet, i64)>,
    /// The duration of the last frame written.
    last_duration: i64,
    /// How long a recording's only frame lasts (no next frame to say it), in time-base units.
    nominal: i64,
}

impl MjpegRecorder {
    /// Open `path` for `width` x `height` MJPEG with a 90 kHz timestamp clock.
    pub fn create(path: &Path, width: u32, height: u32) -> Result<Self> {
        let out = crate::fsutil::NamedOut::create(path).map_err(|e| MediaError::io(path, e))?;
        let err = |e: ff::Error| MediaError::Open {
            path: path.into(),
            reason: e.to_string(),
        };
        let mut octx = ff::format::output_as(out.path(), "matroska").map_err(err)?;
        {
            let mut st = octx
                .add_stream(ff::encoder::find(ff::codec::Id::MJPEG))
                .map_err(err)?;
            st.set_time_base(ff::Rational::new(1, 90_000));
            // SAFETY: plain field writes on the new stream's codec parameters.
            unsafe {
                let par = (*st.as_mut_ptr()).codecpar;
                (*par).codec_type = ff::ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
                (*par).codec_id = ff::ffi::AVCodecID::AV_CODEC_ID_MJPEG;
                (*par).width = width as i32;
                (*par).height = height as i32;
            }
        }
        octx.write_header().map_err(err)?;
        let time_base = octx
            .stream(0)
            .map(|s| s.time_base())
            .unwrap_or(ff::Rational::new(1, 1000));
        Ok(MjpegRecorder {
            octx,
            path: path.into(),
            out,
            time_base,
            first_ts: None,
            last_pts: None,
            frames: 0,
            held: None,
            last_duration: 1,
            nominal: 1,
        })
    }

    /// How long one frame lasts when nothing else says (a recording of a single frame: its
    /// source's frame duration, e.g. 1 / frame rate).
    pub fn with_frame_duration(mut self, secs: f64) -> Self {
        let tb = self.time_base;
        let ticks = secs * tb.denominator() as f64 / tb.numerator().max(1) as f64;
        if ticks.is_finite() && ticks >= 1.0 {
            self.nominal = ticks.round().min(i64::MAX as f64 / 2.0) as i64;
        }
        self
    }

    /// Append one JPEG with its RTP timestamp (90 kHz).
    pub fn write(&mut self, jpeg: &[u8], rtp_timestamp: u32) -> Result<()> {
        let first = *self.first_ts.get_or_insert(rtp_timestamp);
        let rel = rtp_timestamp.wrapping_sub(first) as i32 as i64;
        let mut pts = ts_rescale(rel, self.time_base);
        if let Some(last) = self.last_pts {
            pts = pts.max(last + 1);
        }
        self.put(jpeg, pts)
    }

    /// Append one JPEG at `secs` seconds (frames must come in time order; a time that does
    /// not advance is moved one tick on, as for [`MjpegRecorder::write`]).
    pub fn write_at(&mut self, jpeg: &[u8], secs: f64) -> Result<()> {
        let tb = self.time_base;
        let ticks = secs.max(0.0) * tb.denominator() as f64 / tb.numerator().max(1) as f64;
        let mut pts = if ticks.is_finite() {
            ticks.round().min(i64::MAX as f64 / 2.0) as i64
        } else {
            0
        };
        if let Some(last) = self.last_pts {
            pts = pts.max(last + 1);
        }
        self.put(jpeg, pts)
    }

    fn put(&mut self, jpeg: &[u8], pts: i64) -> Result<()> {
        self.last_pts = Some(pts);
        let mut pkt = ff::Packet::copy(jpeg);
        pkt.set_stream(0);
        pkt.set_pts(Some(pts));
        pkt.set_dts(Some(pts));
        pkt.set_flags(ff::codec::packet::Flags::KEY);
        if let Some((prev, at)) = self.held.take() {
            self.emit(prev, pts - at)?;
        }
        self.held = Some((pkt, pts));
        self.frames += 1;
        Ok(())
    }

    /// Write a held frame with its duration (time-base units, at least 1).
    fn emit(&mut self, mut pkt: ff::Packet, duration: i64) -> Result<()> {
        let duration = duration.max(1);
        self.last_duration = duration;
        pkt.set_duration(duration);
        pkt.write_interleaved(&mut self.octx)
            .map_err(|e| MediaError::Encode {
                path: self.path.clone(),
                reason: e.to_string(),
            })
    }

    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Write the trailer and move the file to its final name.
    pub fn finish(mut self) -> Result<()> {
        if let Some((pkt, _)) = self.held.take() {
            // The last frame lasts as long as the one before it; an only frame, its nominal
            // duration (it was one tick: a 1 ms video).
            let d = if self.frames == 1 {
                self.nominal
            } else {
                self.last_duration
            };
            self.emit(pkt, d)?;
        }
        self.octx.write_trailer().map_err(|e| MediaError::Encode {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let MjpegRecorder {
            octx, path, out, ..
        } = self;
        drop(octx);
        out.commit().map_err(|e| MediaError::io(&path, e))
    }
}

fn ts_rescale(ts_90k: i64, tb: ff::Rational) -> i64 {
    // ts / 90000 s -> units of tb
    let num = tb.denominator() as i128;
    let den = 90_000i128 * tb.numerator().max(1) as i128;
    ((ts_90k as i128 * num + den / 2) / den) as i64
}
