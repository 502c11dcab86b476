//! The video decoding loop shared by every operation that needs pictures (keyframes,
//! detection on video): demux the best video stream, decode either key frames only or every
//! frame, and keep the evidence needed to tell whether the whole file could be read.
//!
//! Key-frame mode: `skip_frame = AVDISCARD_NONKEY`, so the decoder discards non-key packets
//! itself; the decoder is drained and flushed before each key packet when it reorders frames
//! (open-GOP H.264 would otherwise come out reversed and lose its last key frame); decoders
//! that ignore skip_frame (VP8/VP9/AV1 in FFmpeg 5.1) get only key packets once they have
//! shown it. Frames are yielded only when flagged key. See docs/KEYFRAMES.md.
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use ffmpeg_next as ff;

use crate::error::{MediaError, Result};
use crate::probe::{
    codec_label, codec_name, display_rotation, open_input, rational_f64, rational_str, ts_seconds,
    PacketRead,
};

/// A frame's best-effort timestamp and its time in seconds (`pts x time_base`).
pub fn frame_time(frame: &ff::util::frame::Video, tb: ff::Rational) -> (Option<i64>, Option<f64>) {
    let pts = frame.timestamp().or(frame.pts());
    (pts, pts.and_then(|p| ts_seconds(p, tb)))
}

/// Which frames a [`VideoDecoder`] yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeMode {
    /// Only frames the decoder flags as key; non-key frames are not decoded.
    KeyFrames,
    /// Every frame.
    All,
}

/// The video stream being decoded.
#[derive(Debug, Clone, serde::Serialize)]
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
    pub duration: Option<f64>,
}

/// What the demuxer and decoder went through.
#[derive(Debug, Clone, Default)]
pub struct DecodeCounters {
    pub packets_read: usize,
    pub decode_errors: usize,
    pub read_errors: usize,
    pub corrupt_packets: usize,
    /// End time (s) of the latest video packet read.
    pub last_end: Option<f64>,
    pub read_error: Option<String>,
}

pub struct VideoDecoder {
    path: PathBuf,
    mode: DecodeMode,
    ictx: ff::format::context::Input,
    decoder: ff::decoder::Video,
    stream_index: usize,
    tb: ff::Rational,
    pub info: VideoInfo,
    /// Stream start time in seconds (0 when unknown).
    pub start: f64,
    /// Video packets the container's index lists, when it has one (MP4/MOV).
    pub expected_packets: Option<i64>,
    packet: ff::Packet,
    ready: VecDeque<ff::util::frame::Video>,
    current: ff::util::frame::Video,
    eof: bool,
    saw_key_packet: bool,
    decoder_ignores_skip: bool,
    sent_since_flush: bool,
    held_key_packet: bool,
    pub counters: DecodeCounters,
}

impl VideoDecoder {
    /// Open the best video stream of `path`. `threads` = 0: libavcodec's choice.
    pub fn open(path: &Path, mode: DecodeMode, threads: usize) -> Result<Self> {
        let mut ictx = open_input(path)?;
        let stream = ictx
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| MediaError::NoVideoStream { path: path.into() })?;
        let stream_index = stream.index();
        let tb = stream.time_base();
        let rotation = display_rotation(&stream);
        let params = stream.parameters();
        let codec_id = params.id();
        let expected_packets = Some(stream.frames()).filter(|&n| n > 0);
        let av_tb = ff::Rational::new(1, ff::ffi::AV_TIME_BASE);
        let duration =
            ts_seconds(stream.duration(), tb).or_else(|| ts_seconds(ictx.duration(), av_tb));
        let start = ts_seconds(stream.start_time(), tb).unwrap_or(0.0);
        let frame_rate =
            rational_f64(stream.avg_frame_rate()).or_else(|| rational_f64(stream.rate()));
        let codec = ff::decoder::find(codec_id).ok_or_else(|| MediaError::UnsupportedCodec {
            path: path.into(),
            codec: codec_label(&params),
        })?;
        let mut cctx =
            ff::codec::Context::from_parameters(params).map_err(|e| MediaError::Decode {
                path: path.into(),
                reason: e.to_string(),
            })?;
        // SAFETY: plain field writes on a codec context that is not opened yet.
        unsafe {
            let p = cctx.as_mut_ptr();
            (*p).thread_count = threads as i32;
            (*p).thread_type = match mode {
                // Every key frame is decoded right after a flush, so frame threads would never
                // overlap and would only cost memory (measured: +10 ms, +5 MiB at 1080p).
                DecodeMode::KeyFrames => ff::ffi::FF_THREAD_SLICE,
                DecodeMode::All => ff::ffi::FF_THREAD_FRAME | ff::ffi::FF_THREAD_SLICE,
            };
            (*p).pkt_timebase = tb.into();
        }
        let mut dec = cctx.decoder();
        if mode == DecodeMode::KeyFrames {
            dec.skip_frame(ff::codec::discard::Discard::NonKey);
        }
        let decoder =
            dec.open_as(codec)
                .and_then(|o| o.video())
                .map_err(|e| MediaError::Decode {
                    path: path.into(),
                    reason: format!("cannot open decoder: {e}"),
                })?;
        crate::probe::keep_only_stream(&mut ictx, stream_index);
        let info = VideoInfo {
            stream_index,
            codec: codec_name(codec_id),
            width: decoder.width(),
            height: decoder.height(),
            pix_fmt: format!("{:?}", decoder.format()).to_lowercase(),
            rotation,
            time_base: rational_str(tb),
            frame_rate,
            duration,
        };
        Ok(VideoDecoder {
            path: path.into(),
            mode,
            ictx,
            decoder,
            stream_index,
            tb,
            info,
            start,
            expected_packets,
            packet: ff::Packet::empty(),
            ready: VecDeque::new(),
            current: ff::util::frame::Video::empty(),
            eof: false,
            saw_key_packet: false,
            decoder_ignores_skip: false,
            sent_since_flush: false,
            held_key_packet: false,
            counters: DecodeCounters::default(),
        })
    }

    /// Whether the container is a still image (FFmpeg's `image2` or `*_pipe` demuxers: JPEG,
    /// PNG, WebP, BMP...) rather than a video.
    pub fn is_still(&self) -> bool {
        let format = self.ictx.format();
        let name = format.name();
        name == "image2" || name.ends_with("_pipe")
    }

    pub fn time_base(&self) -> ff::Rational {
        self.tb
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Move every frame the decoder has ready into the queue.
    fn receive(&mut self) {
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

    fn drain(&mut self) {
        let _ = self.decoder.send_eof();
        self.receive();
    }

    /// The next frame, or None at the end of the stream.
    pub fn next_frame(&mut self) -> Option<&ff::util::frame::Video> {
        // Give the previous frame's buffer back to the decoder's pool before decoding more.
        self.current = ff::util::frame::Video::empty();
        while self.ready.is_empty() && !self.eof {
            self.step();
        }
        self.current = self.ready.pop_front()?;
        Some(&self.current)
    }

    /// Read and decode one packet (or finish the stream).
    fn step(&mut self) {
        if self.held_key_packet {
            // The frames drained before this key packet have been handed out and released:
            // now flush and decode it (flushing earlier would keep their buffers alive while
            // the decoder allocates new ones: +3 MiB at 1080p).
            self.held_key_packet = false;
            self.decoder.flush();
            self.send();
            return;
        }
        match crate::probe::read_packet(&mut self.ictx, &mut self.packet) {
            Ok(PacketRead::Packet) => {}
            Ok(PacketRead::Again) => return,
            Ok(PacketRead::Invalid) => {
                self.counters.read_errors += 1;
                if self.counters.read_errors > 1000 {
                    self.finish();
                }
                return;
            }
            Ok(PacketRead::Eof) => return self.finish(),
            Err(e) => {
                self.counters.read_error = Some(format!(
                    "read error after {} packets: {e}",
                    self.counters.packets_read
                ));
                self.counters.read_errors += 1;
                return self.finish();
            }
        }
        if self.packet.stream() != self.stream_index {
            return;
        }
        let c = &mut self.counters;
        c.packets_read += 1;
        if self.packet.is_corrupt() {
            c.corrupt_packets += 1;
        }
        if let Some(t) = self
            .packet
            .pts()
            .or(self.packet.dts())
            .and_then(|p| ts_seconds(p, self.tb))
        {
            let end = t + ts_seconds(self.packet.duration(), self.tb).unwrap_or(0.0);
            c.last_end = Some(c.last_end.map_or(end, |l: f64| l.max(end)));
        }
        let key = self.packet.is_key();
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
        self.send();
    }

    /// Decode the packet in `self.packet` and collect what comes out.
    fn send(&mut self) {
        match self.decoder.send_packet(&self.packet) {
            Ok(()) => {}
            Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
            Err(_) => self.counters.decode_errors += 1,
        }
        self.receive();
    }

    fn finish(&mut self) {
        if !self.eof {
            self.eof = true;
            self.drain();
        }
    }

    /// Reasons to believe the file was not read whole (empty when it was). `stopped_early`:
    /// the caller stopped before the end on purpose, so index/duration checks do not apply.
    pub fn warnings(&self, stopped_early: bool) -> Vec<String> {
        let c = &self.counters;
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
            if let Some(n) = self.expected_packets {
                if (c.packets_read as i64) < n {
                    w.push(format!(
                        "file is truncated: {} of {n} video packets in the index could be read",
                        c.packets_read
                    ));
                }
            }
            if let (Some(d), Some(end)) = (self.info.duration, c.last_end) {
                let expected_end = self.start + d;
                if end + (0.5f64).max(d * 0.05) < expected_end && self.expected_packets.is_none() {
                    w.push(format!(
                        "video ends at {end:.3} s but the container says {expected_end:.3} s: file looks truncated"
                    ));
                }
            }
        }
        w
    }

    /// Why no frame came out (for the "no frame could be decoded" error).
    pub fn no_frame_detail(&self) -> Option<String> {
        let c = &self.counters;
        if c.packets_read == 0 {
            Some("no video packets could be read".to_string())
        } else if let Some(n) = self.expected_packets.filter(|&n| n > c.packets_read as i64) {
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
