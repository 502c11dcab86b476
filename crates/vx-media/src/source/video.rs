//! The video side of a [`super::Source`]: a packet-fed decoder (key frames or all frames) and
//! the decoded pictures it hands out.
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;

use ffmpeg_next as ff;
use serde::Serialize;

use super::{cannot_open, codec_context, DecodeMode};
use crate::convert::Converter;
use crate::error::{MediaError, Result};
use crate::image::Yuv;
use crate::probe::{codec_name, display_rotation, rational_f64, rational_str, ts_seconds};
use crate::still::Rgb;

/// The video stream being decoded.
#[derive(Debug, Clone, Serialize)]
pub struct VideoInfo {
    pub stream_index: usize,
    pub codec: String,
    /// Coded picture size, before rotation.
    pub width: u32,
    pub height: u32,
    pub pix_fmt: String,
    /// Degrees clockwise applied so that pictures are upright.
    pub rotation: i32,
    pub time_base: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "vx_image::secs::ms_opt")]
    pub duration: Option<f64>,
}

impl VideoInfo {
    /// Picture size after rotation.
    pub fn upright_size(&self) -> (usize, usize) {
        let (w, h) = (self.width as usize, self.height as usize);
        if self.rotation.rem_euclid(180) == 90 {
            (h, w)
        } else {
            (w, h)
        }
    }
}

/// What the demuxer and the video decoder went through.
#[derive(Debug, Clone, Default)]
pub struct DecodeCounters {
    pub packets_read: usize,
    pub decode_errors: usize,
    pub read_errors: usize,
    pub corrupt_packets: usize,
    /// End time (stream seconds) of the latest video packet read.
    pub last_end: Option<f64>,
    pub read_error: Option<String>,
}

/// A decoded picture. Owns a reference to the decoder's buffer (released when dropped); can
/// be shared between threads, each converting it to what it needs.
pub struct VideoFrame {
    frame: ff::util::frame::Video,
    rotation: i32,
    /// Seconds on the file's timeline (container start subtracted).
    pub time: Option<f64>,
    /// Best-effort presentation timestamp in the stream's time base (raw).
    pub pts: Option<i64>,
    /// Whether the decoder flags this frame as a keyframe.
    pub key: bool,
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFrame")
            .field("time", &self.time)
            .field("key", &self.key)
            .field("width", &self.frame.width())
            .field("height", &self.frame.height())
            .finish()
    }
}

thread_local! {
    // One converter per thread: each keeps its swscale contexts for the sizes it is asked for.
    static CONVERTER: RefCell<Converter> = RefCell::new(Converter::new());
}

impl VideoFrame {
    /// A picture made from packed RGB24 pixels (`width * height * 3` bytes, rows top to
    /// bottom), not decoded from a file: what library tests push into operations, and what a
    /// caller with its own pictures (a camera, a renderer) hands to the engine's operations.
    pub fn from_rgb(
        width: u32,
        height: u32,
        rgb: &[u8],
        time: Option<f64>,
        key: bool,
    ) -> std::result::Result<VideoFrame, String> {
        let (w, h) = (width as usize, height as usize);
        if w == 0 || h == 0 || w as u64 * h as u64 > crate::MAX_PIXELS {
            return Err(format!("{width}x{height} is not a picture size vx takes"));
        }
        if rgb.len() != w * h * 3 {
            return Err(format!(
                "{} bytes for a {width}x{height} RGB24 picture ({} expected)",
                rgb.len(),
                w * h * 3
            ));
        }
        let mut frame = ff::util::frame::Video::new(ff::format::Pixel::RGB24, width, height);
        let stride = frame.stride(0);
        let plane = frame.data_mut(0);
        for (y, row) in rgb.chunks_exact(w * 3).enumerate() {
            plane[y * stride..y * stride + w * 3].copy_from_slice(row);
        }
        Ok(VideoFrame {
            frame,
            rotation: 0,
            time,
            pts: None,
            key,
        })
    }

    /// Clockwise degrees that make the picture upright (the stream's display matrix, or a
    /// still image's EXIF orientation).
    pub fn rotation(&self) -> i32 {
        self.rotation
    }

    /// Upright picture size.
    pub fn upright_size(&self) -> (usize, usize) {
        let (w, h) = (self.frame.width() as usize, self.frame.height() as usize);
        if self.rotation.rem_euclid(180) == 90 {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// The decoder's pixel format, e.g. "yuv420p".
    pub fn pixel_format(&self) -> String {
        format!("{:?}", self.frame.format()).to_lowercase()
    }

    /// Upright, full-range 8-bit YUV whose longest side is at most `max_side` (one pass: a
    /// LUT copy for 8-bit planar YUV, libswscale otherwise).
    pub fn to_yuv(&self, max_side: Option<u32>) -> std::result::Result<Yuv, String> {
        CONVERTER.with(|c| c.borrow_mut().convert(&self.frame, self.rotation, max_side))
    }

    /// Upright packed RGB24 stretched to `target` (width, height after rotation), or at its
    /// own size: one libswscale pass for colour conversion and resizing.
    pub fn to_rgb(&self, target: Option<(u32, u32)>) -> std::result::Result<Rgb, String> {
        CONVERTER.with(|c| {
            c.borrow_mut()
                .convert_rgb(&self.frame, self.rotation, target)
        })
    }
}

pub(super) struct VideoPart {
    pub(super) index: usize,
    pub(super) tb: ff::Rational,
    pub(super) mode: DecodeMode,
    pub(super) decoder: ff::decoder::Video,
    pub(super) ready: VecDeque<ff::util::frame::Video>,
    pub(super) saw_key_packet: bool,
    /// After a seek: packets before the first key packet are not decoded (they refer to
    /// pictures before the landing point and could only fail), until this time on the file's
    /// timeline (the time sought; a stream without key flags is not starved).
    pub(super) await_key_until: Option<f64>,
    pub(super) decoder_ignores_skip: bool,
    pub(super) sent_since_flush: bool,
    pub(super) held_key_packet: bool,
    /// Key-frame lanes ([`super::Source::key_lane`]): this decoder takes the groups of
    /// pictures k, k+n, k+2n... (lane.0 = k, lane.1 = n); key packets seen; whether the
    /// current group is this lane's.
    pub(super) lane: (usize, usize),
    pub(super) keys_seen: usize,
    pub(super) in_lane: bool,
    pub(super) stopped: bool,
    pub(super) stream_start: f64,
    /// The container's start: the origin of the file's timeline (output times are seconds
    /// from it).
    pub(super) container_start: f64,
    /// Matroska written by FFmpeg: the duration its muxer writes is the end time, start
    /// included (a file cut with -copyts from 4 s to 10 s says 10 s), so a file that starts
    /// late ends there.
    pub(super) duration_is_end: bool,
    pub(super) expected_packets: Option<i64>,
    pub(super) info: VideoInfo,
    pub(super) counters: DecodeCounters,
}

pub(super) fn open_video(
    path: &Path,
    ictx: &ff::format::context::Input,
    index: usize,
    mode: DecodeMode,
    threads: usize,
    container_start: f64,
) -> Result<VideoPart> {
    let stream = ictx
        .stream(index)
        .ok_or_else(|| MediaError::NoVideoStream { path: path.into() })?;
    let tb = stream.time_base();
    let rotation = display_rotation(&stream);
    let params = stream.parameters();
    let codec_id = params.id();
    let expected_packets = Some(expected_packets(&stream)).filter(|&n| n > 0);
    let av_tb = ff::Rational::new(1, ff::ffi::AV_TIME_BASE);
    // Matroska has no stream duration but a DURATION tag per track (written as the audio's,
    // see audio.rs); the container's duration is the longest track's, so a video shorter than
    // its audio or subtitles looked truncated against it.
    let duration = ts_seconds(stream.duration(), tb)
        .or_else(|| super::audio::duration_tag(&stream).filter(|d| *d > 0.0))
        .or_else(|| ts_seconds(ictx.duration(), av_tb));
    let stream_start = ts_seconds(stream.start_time(), tb).unwrap_or(container_start);
    let frame_rate = rational_f64(stream.avg_frame_rate()).or_else(|| rational_f64(stream.rate()));
    // The one picture budget: a header that declares more pixels than vx decodes is refused
    // before a decoder allocates for it (a 747 KB PNG of 16000x16000 used to cost 11 GB).
    let (w, h) = (params_size(&params).0, params_size(&params).1);
    if w as u64 * h as u64 > crate::MAX_PIXELS {
        return Err(MediaError::TooLarge {
            path: path.into(),
            width: w,
            height: h,
        });
    }
    let (codec, mut cctx) = codec_context(path, &stream)?;
    // SAFETY: plain field writes on a codec context that is not opened yet.
    unsafe {
        let p = cctx.as_mut_ptr();
        // Streams whose header understates their size are held to the same budget by the
        // decoder itself (libavcodec refuses frames above max_pixels).
        (*p).max_pixels = crate::MAX_PIXELS as i64;
        (*p).thread_count = threads as i32;
        (*p).thread_type = match mode {
            // Every key frame is decoded right after a flush, so frame threads would never
            // overlap and would only cost memory (measured: +10 ms, +5 MiB at 1080p).
            DecodeMode::KeyFrames => ff::ffi::FF_THREAD_SLICE,
            DecodeMode::All => ff::ffi::FF_THREAD_FRAME | ff::ffi::FF_THREAD_SLICE,
        };
    }
    let mut dec = cctx.decoder();
    if mode == DecodeMode::KeyFrames {
        dec.skip_frame(ff::codec::discard::Discard::NonKey);
    }
    let decoder = dec
        .open_as(codec)
        .and_then(|o| o.video())
        .map_err(|e| cannot_open(path, e))?;
    let info = VideoInfo {
        stream_index: index,
        codec: codec_name(codec_id),
        width: decoder.width(),
        height: decoder.height(),
        pix_fmt: format!("{:?}", decoder.format()).to_lowercase(),
        rotation,
        time_base: rational_str(tb),
        frame_rate,
        duration,
    };
    Ok(VideoPart {
        index,
        tb,
        mode,
        decoder,
        ready: VecDeque::new(),
        saw_key_packet: false,
        await_key_until: None,
        decoder_ignores_skip: false,
        sent_since_flush: false,
        held_key_packet: false,
        lane: (0, 1),
        keys_seen: 0,
        in_lane: true,
        stopped: false,
        stream_start,
        container_start,
        duration_is_end: crate::probe::lengths_are_end_times(ictx),
        expected_packets,
        info,
        counters: DecodeCounters::default(),
    })
}

impl VideoPart {
    pub(super) fn wrap(&self, frame: ff::util::frame::Video, container_start: f64) -> VideoFrame {
        let pts = frame.timestamp().or(frame.pts());
        let time = pts
            .and_then(|p| ts_seconds(p, self.tb))
            .map(|t| t - container_start);
        // A still image's EXIF orientation comes as a display matrix on the frame (libavcodec's
        // JPEG decoder exports it); the stream's own matrix (video) wins where there is one.
        let rotation = match self.info.rotation {
            0 => frame
                .side_data(ff::util::frame::side_data::Type::DisplayMatrix)
                .and_then(|sd| crate::probe::matrix_rotation(sd.data()))
                .unwrap_or(0),
            r => r,
        };
        VideoFrame {
            key: frame.is_key(),
            frame,
            rotation,
            time,
            pts,
        }
    }

    /// Move every frame the decoder has ready into the queue.
    pub(super) fn receive(&mut self) {
        loop {
            let mut f = ff::util::frame::Video::empty();
            if self.decoder.receive_frame(&mut f).is_err() {
                return;
            }
            if self.mode == DecodeMode::KeyFrames && !f.is_key() {
                self.decoder_ignores_skip = true;
                continue;
            }
            self.ready.push_back(f);
        }
    }

    pub(super) fn drain(&mut self) {
        let _ = self.decoder.send_eof();
        self.receive();
    }

    /// A video packet from the demuxer (left in the source's buffer when it is held).
    pub(super) fn push(&mut self, packet: &ff::Packet) {
        let c = &mut self.counters;
        c.packets_read += 1;
        if packet.is_corrupt() {
            c.corrupt_packets += 1;
        }
        let time = packet
            .pts()
            .or(packet.dts())
            .and_then(|p| ts_seconds(p, self.tb));
        if let Some(t) = time {
            let end = t + ts_seconds(packet.duration(), self.tb).unwrap_or(0.0);
            c.last_end = Some(c.last_end.map_or(end, |l: f64| l.max(end)));
        }
        let key = packet.is_key();
        if let Some(until) = self.await_key_until {
            let past = time.is_some_and(|t| t - self.container_start >= until);
            if !key && !past {
                return;
            }
            self.await_key_until = None;
        }
        if self.mode == DecodeMode::KeyFrames && self.lane.1 > 1 {
            // Another lane's group of pictures: counted above, never decoded here.
            if key {
                self.in_lane = self.keys_seen % self.lane.1 == self.lane.0;
                self.keys_seen += 1;
            }
            if !self.in_lane {
                return;
            }
        }
        if self.mode == DecodeMode::KeyFrames {
            if key {
                self.saw_key_packet = true;
            } else if self.decoder_ignores_skip && self.saw_key_packet {
                // The decoder ignores skip_frame: only key packets reach it.
                return;
            }
            // SAFETY: reading a plain field of the open decoder context.
            let reorders = unsafe { (*self.decoder.as_ptr()).has_b_frames } > 0;
            let flush = key && self.sent_since_flush && reorders;
            self.sent_since_flush = true;
            if flush {
                self.drain();
                if !self.ready.is_empty() {
                    self.held_key_packet = true;
                    return;
                }
                self.decoder.flush();
            }
        }
        self.send(packet);
    }

    pub(super) fn send(&mut self, packet: &ff::Packet) {
        match self.decoder.send_packet(packet) {
            Ok(()) => {}
            Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
            Err(_) => self.counters.decode_errors += 1,
        }
        self.receive();
    }

    /// Reasons to believe the video was not read whole (empty when it was). `stopped_early`:
    /// the caller stopped before the end on purpose, so index/duration checks do not apply.
    pub(super) fn warnings(&self, stopped_early: bool) -> Vec<String> {
        let v = self;
        let c = &v.counters;
        let mut w = Vec::new();
        if let Some(e) = &c.read_error {
            w.push(e.clone());
        } else if c.read_errors > 0 {
            w.push(format!("{} unreadable packet(s) skipped", c.read_errors));
        }
        if c.corrupt_packets > 0 {
            w.push(format!(
                "{} packet(s) flagged corrupt by the demuxer",
                c.corrupt_packets
            ));
        }
        if c.decode_errors > 0 {
            w.push(format!("{} packet(s) failed to decode", c.decode_errors));
        }
        if !stopped_early {
            if let Some(n) = v.expected_packets {
                if (c.packets_read as i64) < n {
                    w.push(format!(
                        "file is truncated: {} of {n} video packets in the index could be read",
                        c.packets_read
                    ));
                }
            }
            if let (Some((d, expected_end)), Some(end)) = (v.expected_end(), c.last_end) {
                if end + (0.5f64).max(d * 0.05) < expected_end && v.expected_packets.is_none() {
                    // Said on the file's timeline, as every time in the outputs.
                    let (e, x) = (end - v.container_start, expected_end - v.container_start);
                    w.push(format!(
                        "video ends at {e:.3} s but the container says {x:.3} s: file looks truncated"
                    ));
                }
            }
        }
        w
    }

    /// Why no picture came out of a part of the file (`--start`/`--end`): the range, where the
    /// packets read end on the file's timeline (the file may end before the range, or be cut
    /// short: the packet count of the index says nothing after a seek) and decoding failures.
    pub(super) fn no_frame_in_range(&self, start: f64, end: Option<f64>) -> String {
        let c = &self.counters;
        let mut d = match end {
            Some(e) => format!("no frame between {start:.3} s and {e:.3} s"),
            None => format!("no frame from {start:.3} s on"),
        };
        match c.last_end {
            Some(l) => d.push_str(&format!(
                "; the last video packet read ends at {:.3} s",
                l - self.container_start
            )),
            None => d.push_str("; no video packet could be read there (is the file cut short?)"),
        }
        if c.decode_errors > 0 {
            d.push_str(&format!(
                "; {} of {} packets failed to decode",
                c.decode_errors, c.packets_read
            ));
        }
        d
    }

    /// The part `start..end` has video but no keyframe: the packets read go past `start` and
    /// every one decoded. Operations that take key frames have nothing to do there, which is
    /// not a failure.
    pub(super) fn no_keyframe_in_range(&self, start: f64, end: Option<f64>) -> Option<String> {
        let c = &self.counters;
        let last = c.last_end?;
        let reached = last - self.container_start;
        // Any damage, or reading that stopped short of the range's end (or, without an end,
        // of the declared end: a file cut short), is not "no keyframe": the caller keeps its
        // "no frame could be decoded" with the details.
        let damaged = c.decode_errors > 0
            || c.read_errors > 0
            || c.corrupt_packets > 0
            || c.read_error.is_some();
        let short = match end {
            Some(e) => reached + 1e-3 < e,
            None => self
                .expected_end()
                .is_some_and(|(d, x)| last + (0.5f64).max(d * 0.05) < x),
        };
        if damaged || short || reached <= start + 1e-6 {
            return None;
        }
        let part = match end {
            Some(e) => format!("between {start:.3} s and {e:.3} s"),
            None => format!("from {start:.3} s on"),
        };
        Some(format!(
            "no keyframe {part} (the video has frames there: --every SECONDS takes them)"
        ))
    }

    /// The declared duration and the end time it gives on the stream's clock (a Matroska
    /// muxed by FFmpeg stores end times as lengths).
    fn expected_end(&self) -> Option<(f64, f64)> {
        let d = self.info.duration?;
        Some((
            d,
            if self.duration_is_end && d > self.stream_start {
                d
            } else {
                self.stream_start + d
            },
        ))
    }

    /// Why no picture came out (for the "no frame could be decoded" error).
    pub(super) fn no_frame_detail(&self) -> Option<String> {
        let v = self;
        let c = &v.counters;
        if c.packets_read == 0 {
            Some("no video packets could be read".to_string())
        } else if let Some(n) = v.expected_packets.filter(|&n| n > c.packets_read as i64) {
            Some(format!(
                "file is truncated: {} of {n} video packets could be read",
                c.packets_read
            ))
        } else if c.decode_errors > 0 {
            Some(format!(
                "{} of {} packets failed to decode",
                c.decode_errors, c.packets_read
            ))
        } else {
            None
        }
    }
}

/// Width and height declared by a stream's codec parameters (0 when unknown).
fn params_size(params: &ff::codec::Parameters) -> (u32, u32) {
    // SAFETY: reading two plain fields of valid codec parameters.
    unsafe {
        let p = params.as_ptr();
        ((*p).width.max(0) as u32, (*p).height.max(0) as u32)
    }
}

/// How many packets the container says the stream has: its frame count, unless the
/// demuxer's index lists fewer packets. An AVI header counts the empty chunks its muxer writes
/// for dropped or repeated frames, which the demuxer neither indexes nor returns; they are not
/// missing packets (an AVI of 25 frames with audio said "26" and looked truncated).
fn expected_packets(stream: &ff::format::stream::Stream) -> i64 {
    let frames = stream.frames();
    // SAFETY: the stream of an open input; only the entry count is read.
    let indexed = unsafe {
        ff::ffi::avformat_index_get_entries_count(stream.as_ptr() as *mut ff::ffi::AVStream)
    } as i64;
    if indexed > 0 {
        frames.min(indexed)
    } else {
        frames
    }
}
