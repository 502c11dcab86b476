//! One demuxer per file, routing packets to a video decoder and an audio decoder (with one
//! resampler per requested audio format). Decoders never open files: everything any
//! operation needs comes out of one pass over the file.
//!
//! **The timeline.** Every time handed out is seconds from the start of the file's
//! presentation: the container's start time (`AVFormatContext.start_time`, what players show
//! as 0:00) is subtracted. An MPEG-TS whose timestamps start at 1.43 s has its first audio
//! sample at 0.0 and its first picture at ~0.05; an MP4 whose audio track starts 0.5 s after
//! its video (an empty edit) has its first audio sample at 0.5. Raw stream timestamps are
//! kept beside (`VideoFrame::pts`). See docs/OUTPUTS.md.
//!
//! **Video.** Key-frame mode: `skip_frame = AVDISCARD_NONKEY`, so the decoder discards
//! non-key packets itself; it is drained and flushed before each key packet when it reorders
//! frames (open-GOP H.264 would otherwise come out reversed and lose its last key frame);
//! decoders that ignore skip_frame (VP8/VP9/AV1 in FFmpeg 5.1) get only key packets once
//! they have shown it. Frames are yielded only when flagged key. All-frames mode yields every
//! frame with its key flag. See docs/KEYFRAMES.md.
//!
//! **Audio.** Decoded frames go through one libswresample context per requested
//! [`AudioSpec`] and come out as interleaved f32 blocks, capped at the container's duration of
//! the stream (decoders keep the encoder's padding that an edit list cuts off).
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use ffmpeg_next as ff;
use serde::Serialize;

use crate::audio::{AudioFormat, Resampler, SampleFormat};
use crate::convert::Converter;
use crate::error::{MediaError, Result};
use crate::image::Yuv;
use crate::probe::{
    codec_label, codec_name, display_rotation, open_input, rational_f64, rational_str, read_packet,
    ts_seconds, PacketRead,
};
use crate::still::Rgb;

/// Which frames the video decoder yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeMode {
    /// Only frames the decoder flags as key; non-key frames are not decoded.
    KeyFrames,
    /// Every frame.
    All,
}

/// Audio as an operation wants it: interleaved f32 at `rate` Hz with `channels` channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct AudioSpec {
    pub rate: u32,
    pub channels: u16,
}

/// What to decode from a file.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// Decode the best video stream in this mode (None: video packets are not even read).
    pub video: Option<DecodeMode>,
    /// Decode the best audio stream once, resampled to each of these (empty: no audio).
    pub audio: Vec<AudioSpec>,
    /// Decoder threads (0 = libavcodec's choice).
    pub threads: usize,
}

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

/// The audio stream being decoded.
#[derive(Debug, Clone, Serialize)]
pub struct AudioInfo {
    pub stream_index: usize,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
    /// Where the stream's first sample lies on the timeline (seconds).
    pub offset: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
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

/// A block of decoded, resampled audio.
#[derive(Debug, Clone)]
pub struct AudioBlock {
    /// Index into [`SourceOptions::audio`] of the format these samples are in.
    pub spec: usize,
    /// Position of the first sample frame in this format's stream (0 = the stream's start).
    pub first_sample: u64,
    /// Interleaved f32 samples.
    pub samples: Vec<f32>,
}

/// One item out of the source.
#[derive(Debug)]
pub enum Decoded {
    Video(VideoFrame),
    Audio(AudioBlock),
}

struct VideoPart {
    index: usize,
    tb: ff::Rational,
    mode: DecodeMode,
    decoder: ff::decoder::Video,
    ready: VecDeque<ff::util::frame::Video>,
    saw_key_packet: bool,
    decoder_ignores_skip: bool,
    sent_since_flush: bool,
    held_key_packet: bool,
    stopped: bool,
    stream_start: f64,
    expected_packets: Option<i64>,
    info: VideoInfo,
    counters: DecodeCounters,
}

struct AudioOut {
    spec: AudioSpec,
    rs: Option<Resampler>,
    buf: Vec<u8>,
    /// Sample frames handed out.
    written: u64,
    /// At most this many sample frames (the container's duration of the stream).
    limit: Option<u64>,
}

struct AudioPart {
    index: usize,
    decoder: ff::decoder::Audio,
    outs: Vec<AudioOut>,
    stopped: bool,
    info: AudioInfo,
    packets_read: usize,
    decode_errors: usize,
    failure: Option<String>,
}

/// The one demuxer of a file and its decoders.
pub struct Source {
    path: PathBuf,
    ictx: ff::format::context::Input,
    packet: ff::Packet,
    video: Option<VideoPart>,
    audio: Option<AudioPart>,
    out: VecDeque<AudioBlock>,
    eof: bool,
    /// Container start time in seconds (0 when unknown): the timeline's origin.
    pub start: f64,
    /// Container duration in seconds.
    pub duration: Option<f64>,
    /// Packets handed out by the demuxer (all streams read).
    pub packets_read: usize,
    /// Whether the file has a video / audio stream at all.
    pub has_video: bool,
    pub has_audio: bool,
    is_still: bool,
}

// SAFETY: the format context and decoders are only used by the thread that owns the Source;
// FFmpeg contexts may move between threads as long as they are not used concurrently.
unsafe impl Send for Source {}

impl Source {
    /// Open `path` once and set up the decoders `opts` asks for. A missing stream is not an
    /// error here (`has_video` / `has_audio` say so): callers decide what that means.
    pub fn open(path: &Path, opts: &SourceOptions) -> Result<Source> {
        let mut src = Source::open_file(path)?;
        if let Some(mode) = opts.video {
            src.enable_video(mode, opts.threads)?;
        }
        if !opts.audio.is_empty() {
            src.enable_audio(&opts.audio)?;
        }
        Ok(src)
    }

    /// Open the container (no decoder yet, no packet read): what it holds is known
    /// ([`Source::probe_info`], `has_video`, `has_audio`), decoders are enabled next.
    pub fn open_file(path: &Path) -> Result<Source> {
        let mut ictx = open_input(path)?;
        // SAFETY: plain fields of an open format context.
        let (start_ts, dur_ts) = unsafe { ((*ictx.as_ptr()).start_time, ictx.duration()) };
        let av_tb = ff::Rational::new(1, ff::ffi::AV_TIME_BASE);
        let start = ts_seconds(start_ts, av_tb)
            .filter(|s| s.is_finite())
            .unwrap_or(0.0);
        let duration = ts_seconds(dur_ts, av_tb).filter(|d| *d >= 0.0);
        let format_name = ictx.format().name().to_string();
        let is_still = format_name == "image2" || format_name.ends_with("_pipe");
        let has_video = ictx.streams().best(ff::media::Type::Video).is_some();
        let has_audio = ictx.streams().best(ff::media::Type::Audio).is_some();
        // Nothing is read until a decoder is enabled.
        keep_streams(&mut ictx, &[]);
        Ok(Source {
            path: path.to_path_buf(),
            ictx,
            packet: ff::Packet::empty(),
            video: None,
            audio: None,
            out: VecDeque::new(),
            eof: false,
            start,
            duration,
            packets_read: 0,
            has_video,
            has_audio,
            is_still,
        })
    }

    /// Container and stream metadata (what `vx probe` prints), from this open file.
    pub fn probe_info(&self) -> crate::probe::ProbeInfo {
        crate::probe::probe_ctx(&self.path, &self.ictx)
    }

    /// Decode the best video stream in `mode` (`threads` = 0: libavcodec's choice).
    pub fn enable_video(&mut self, mode: DecodeMode, threads: usize) -> Result<()> {
        let best = self
            .ictx
            .streams()
            .best(ff::media::Type::Video)
            .map(|s| s.index())
            .ok_or_else(|| MediaError::NoVideoStream {
                path: self.path.clone(),
            })?;
        let v = open_video(&self.path, &self.ictx, best, mode, threads, self.start)?;
        undiscard(&mut self.ictx, best);
        self.video = Some(v);
        Ok(())
    }

    /// Decode the best audio stream once, resampled to each of `specs`.
    pub fn enable_audio(&mut self, specs: &[AudioSpec]) -> Result<()> {
        let best = self
            .ictx
            .streams()
            .best(ff::media::Type::Audio)
            .map(|s| s.index())
            .ok_or_else(|| MediaError::NoAudioStream {
                path: self.path.clone(),
            })?;
        let a = open_audio(&self.path, &self.ictx, best, specs, self.start)?;
        undiscard(&mut self.ictx, best);
        self.audio = Some(a);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the container is a still image (FFmpeg's `image2` or `*_pipe` demuxers: JPEG,
    /// PNG, WebP, BMP...) rather than a video.
    pub fn is_still(&self) -> bool {
        self.is_still
    }

    /// The video stream being decoded, if any.
    pub fn video_info(&self) -> Option<&VideoInfo> {
        self.video.as_ref().map(|v| &v.info)
    }

    /// The audio stream being decoded, if any.
    pub fn audio_info(&self) -> Option<&AudioInfo> {
        self.audio.as_ref().map(|a| &a.info)
    }

    pub fn video_counters(&self) -> Option<&DecodeCounters> {
        self.video.as_ref().map(|v| &v.counters)
    }

    /// Audio packets read and failed to decode.
    pub fn audio_counters(&self) -> Option<(usize, usize)> {
        self.audio
            .as_ref()
            .map(|a| (a.packets_read, a.decode_errors))
    }

    /// Sample frames handed out for audio format `spec`.
    pub fn audio_samples(&self, spec: usize) -> u64 {
        self.audio
            .as_ref()
            .and_then(|a| a.outs.get(spec))
            .map_or(0, |o| o.written)
    }

    /// A fatal audio error (a resampler that could not be made), if one happened.
    pub fn audio_failure(&self) -> Option<&str> {
        self.audio.as_ref().and_then(|a| a.failure.as_deref())
    }

    /// Stop decoding video: its packets are dropped by the demuxer from now on.
    pub fn stop_video(&mut self) {
        if let Some(v) = self.video.as_mut() {
            v.stopped = true;
            v.ready.clear();
            v.held_key_packet = false;
            discard(&mut self.ictx, v.index);
        }
    }

    /// Stop decoding audio.
    pub fn stop_audio(&mut self) {
        if let Some(a) = self.audio.as_mut() {
            a.stopped = true;
            discard(&mut self.ictx, a.index);
        }
        self.out.clear();
    }

    fn video_active(&self) -> bool {
        self.video.as_ref().is_some_and(|v| !v.stopped)
    }

    fn audio_active(&self) -> bool {
        self.audio.as_ref().is_some_and(|a| !a.stopped)
    }

    /// Read one packet and route it (or finish the streams).
    fn step(&mut self) {
        match read_packet(&mut self.ictx, &mut self.packet) {
            Ok(PacketRead::Packet) => {}
            Ok(PacketRead::Again) => return,
            Ok(PacketRead::Invalid) => {
                if let Some(v) = self.video.as_mut() {
                    v.counters.read_errors += 1;
                    if v.counters.read_errors > 1000 {
                        self.finish();
                    }
                }
                return;
            }
            Ok(PacketRead::Eof) => return self.finish(),
            Err(e) => {
                if let Some(v) = self.video.as_mut() {
                    v.counters.read_error = Some(format!(
                        "read error after {} packets: {e}",
                        v.counters.packets_read
                    ));
                    v.counters.read_errors += 1;
                }
                if let Some(a) = self.audio.as_mut() {
                    a.failure.get_or_insert(format!("read error: {e}"));
                }
                return self.finish();
            }
        }
        self.packets_read += 1;
        let stream = self.packet.stream();
        if let Some(v) = self
            .video
            .as_mut()
            .filter(|v| v.index == stream && !v.stopped)
        {
            v.push(&self.packet);
        } else if let Some(a) = self
            .audio
            .as_mut()
            .filter(|a| a.index == stream && !a.stopped)
        {
            a.packets_read += 1;
            if a.decoder.send_packet(&self.packet).is_err() {
                a.decode_errors += 1;
                return;
            }
            a.receive(&self.path, &mut self.out);
        }
    }

    fn finish(&mut self) {
        if self.eof {
            return;
        }
        self.eof = true;
        if let Some(v) = self.video.as_mut().filter(|v| !v.stopped) {
            v.drain();
        }
        if let Some(a) = self.audio.as_mut().filter(|a| !a.stopped) {
            let _ = a.decoder.send_eof();
            a.receive(&self.path, &mut self.out);
            a.flush(&mut self.out);
        }
    }

    /// Reasons to believe the video was not read whole (empty when it was). `stopped_early`:
    /// the caller stopped before the end on purpose, so index/duration checks do not apply.
    pub fn video_warnings(&self, stopped_early: bool) -> Vec<String> {
        let Some(v) = self.video.as_ref() else {
            return Vec::new();
        };
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
            if let (Some(d), Some(end)) = (v.info.duration, c.last_end) {
                let expected_end = v.stream_start + d;
                if end + (0.5f64).max(d * 0.05) < expected_end && v.expected_packets.is_none() {
                    w.push(format!(
                        "video ends at {end:.3} s but the container says {expected_end:.3} s: file looks truncated"
                    ));
                }
            }
        }
        w
    }

    /// Why no picture came out (for the "no frame could be decoded" error).
    pub fn no_frame_detail(&self) -> Option<String> {
        let v = self.video.as_ref()?;
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

    /// The "no audio could be decoded" error, when no sample came out for `spec`.
    pub fn no_audio_error(&self, spec: usize) -> Option<MediaError> {
        let a = self.audio.as_ref()?;
        if self.audio_samples(spec) > 0 {
            return None;
        }
        Some(match &a.failure {
            Some(reason) => MediaError::Decode {
                path: self.path.clone(),
                reason: reason.clone(),
            },
            None => MediaError::NoFrames {
                path: self.path.clone(),
                detail: Some(if a.packets_read == 0 {
                    "no audio packets could be read".into()
                } else {
                    format!(
                        "{} of {} audio packets failed to decode",
                        a.decode_errors, a.packets_read
                    )
                }),
            },
        })
    }
}

/// Decoded pictures and audio blocks in file order.
impl Iterator for Source {
    type Item = Decoded;

    /// The next decoded picture or audio block, in file order; None at the end (or when
    /// nothing is being decoded any more).
    fn next(&mut self) -> Option<Decoded> {
        loop {
            if let Some(b) = self.out.pop_front() {
                return Some(Decoded::Audio(b));
            }
            let start = self.start;
            if let Some(v) = self.video.as_mut().filter(|v| !v.stopped) {
                if let Some(f) = v.ready.pop_front() {
                    return Some(Decoded::Video(v.wrap(f, start)));
                }
                if v.held_key_packet {
                    // The frames drained before this key packet have been handed out: now
                    // flush and decode it (flushing earlier would keep their buffers alive
                    // while the decoder allocates new ones: +3 MiB at 1080p).
                    v.held_key_packet = false;
                    v.decoder.flush();
                    v.send(&self.packet);
                    continue;
                }
            }
            if self.eof || !(self.video_active() || self.audio_active()) {
                return None;
            }
            self.step();
        }
    }
}

fn undiscard(ictx: &mut ff::format::context::Input, index: usize) {
    // SAFETY: as in `discard`.
    unsafe {
        let fmt = ictx.as_mut_ptr();
        if index < (*fmt).nb_streams as usize {
            (**(*fmt).streams.add(index)).discard = ff::ffi::AVDiscard::AVDISCARD_DEFAULT;
        }
    }
}

fn discard(ictx: &mut ff::format::context::Input, index: usize) {
    // SAFETY: stream pointers of an open format context; `discard` is a plain field.
    unsafe {
        let fmt = ictx.as_mut_ptr();
        if index < (*fmt).nb_streams as usize {
            (**(*fmt).streams.add(index)).discard = ff::ffi::AVDiscard::AVDISCARD_ALL;
        }
    }
}

/// Let the demuxer drop the packets of every stream not in `keep`.
fn keep_streams(ictx: &mut ff::format::context::Input, keep: &[Option<usize>]) {
    let n = ictx.nb_streams() as usize;
    for i in 0..n {
        if !keep.contains(&Some(i)) {
            discard(ictx, i);
        }
    }
}

fn open_video(
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
    let expected_packets = Some(stream.frames()).filter(|&n| n > 0);
    let av_tb = ff::Rational::new(1, ff::ffi::AV_TIME_BASE);
    let duration = ts_seconds(stream.duration(), tb).or_else(|| ts_seconds(ictx.duration(), av_tb));
    let stream_start = ts_seconds(stream.start_time(), tb).unwrap_or(container_start);
    let frame_rate = rational_f64(stream.avg_frame_rate()).or_else(|| rational_f64(stream.rate()));
    let codec = ff::decoder::find(codec_id).ok_or_else(|| MediaError::UnsupportedCodec {
        path: path.into(),
        codec: codec_label(&params),
    })?;
    let mut cctx = ff::codec::Context::from_parameters(params).map_err(|e| MediaError::Decode {
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
    let decoder = dec
        .open_as(codec)
        .and_then(|o| o.video())
        .map_err(|e| MediaError::Decode {
            path: path.into(),
            reason: format!("cannot open decoder: {e}"),
        })?;
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
        decoder_ignores_skip: false,
        sent_since_flush: false,
        held_key_packet: false,
        stopped: false,
        stream_start,
        expected_packets,
        info,
        counters: DecodeCounters::default(),
    })
}

impl VideoPart {
    fn wrap(&self, frame: ff::util::frame::Video, container_start: f64) -> VideoFrame {
        let pts = frame.timestamp().or(frame.pts());
        let time = pts
            .and_then(|p| ts_seconds(p, self.tb))
            .map(|t| t - container_start);
        VideoFrame {
            key: frame.is_key(),
            frame,
            rotation: self.info.rotation,
            time,
            pts,
        }
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

    /// A video packet from the demuxer (left in the source's buffer when it is held).
    fn push(&mut self, packet: &ff::Packet) {
        let c = &mut self.counters;
        c.packets_read += 1;
        if packet.is_corrupt() {
            c.corrupt_packets += 1;
        }
        if let Some(t) = packet
            .pts()
            .or(packet.dts())
            .and_then(|p| ts_seconds(p, self.tb))
        {
            let end = t + ts_seconds(packet.duration(), self.tb).unwrap_or(0.0);
            c.last_end = Some(c.last_end.map_or(end, |l: f64| l.max(end)));
        }
        let key = packet.is_key();
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

    fn send(&mut self, packet: &ff::Packet) {
        match self.decoder.send_packet(packet) {
            Ok(()) => {}
            Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
            Err(_) => self.counters.decode_errors += 1,
        }
        self.receive();
    }
}

fn open_audio(
    path: &Path,
    ictx: &ff::format::context::Input,
    index: usize,
    specs: &[AudioSpec],
    container_start: f64,
) -> Result<AudioPart> {
    for s in specs {
        if s.rate == 0 || s.channels == 0 {
            return Err(MediaError::InvalidOption(
                "rate and channels must be > 0".into(),
            ));
        }
    }
    let stream = ictx
        .stream(index)
        .ok_or_else(|| MediaError::NoAudioStream { path: path.into() })?;
    let tb = stream.time_base();
    // The container's duration of the stream, when it has one: decoders leave the encoder's
    // padding at the end (AAC: up to a frame), which the container's edit list cuts off.
    let duration = ts_seconds(stream.duration(), tb).filter(|d| *d > 0.0);
    // Streams that start a little before the container (AAC priming) are taken as starting
    // at 0; a stream that starts later (an empty edit, -itsoffset) starts there.
    let offset = ts_seconds(stream.start_time(), tb)
        .map(|s| s - container_start)
        .filter(|o| o.is_finite() && *o > 0.0)
        .unwrap_or(0.0);
    let params = stream.parameters();
    let codec = ff::decoder::find(params.id()).ok_or_else(|| MediaError::UnsupportedCodec {
        path: path.into(),
        codec: codec_label(&params),
    })?;
    let codec_id = params.id();
    let mut cctx = ff::codec::Context::from_parameters(params).map_err(|e| MediaError::Decode {
        path: path.into(),
        reason: e.to_string(),
    })?;
    // SAFETY: plain field write before opening.
    unsafe { (*cctx.as_mut_ptr()).pkt_timebase = tb.into() };
    let decoder = cctx
        .decoder()
        .open_as(codec)
        .and_then(|o| o.audio())
        .map_err(|e| MediaError::Decode {
            path: path.into(),
            reason: format!("cannot open decoder: {e}"),
        })?;
    let info = AudioInfo {
        stream_index: index,
        codec: codec_name(codec_id),
        sample_rate: decoder.rate(),
        channels: decoder.channels() as u32,
        offset,
        duration,
    };
    let outs = specs
        .iter()
        .map(|&spec| AudioOut {
            spec,
            rs: None,
            buf: Vec::new(),
            written: 0,
            limit: duration.map(|d| (d * spec.rate as f64).round() as u64),
        })
        .collect();
    Ok(AudioPart {
        index,
        decoder,
        outs,
        stopped: false,
        info,
        packets_read: 0,
        decode_errors: 0,
        failure: None,
    })
}

impl AudioOut {
    fn format(&self) -> AudioFormat {
        AudioFormat {
            rate: self.spec.rate,
            channels: self.spec.channels,
            format: SampleFormat::F32,
        }
    }

    /// Hand on what the resampler produced into `buf`, up to the limit.
    fn emit(&mut self, spec: usize, out: &mut VecDeque<AudioBlock>) {
        let ch = self.spec.channels as usize;
        let n = (self.buf.len() / 4 / ch) as u64;
        let keep = match self.limit {
            Some(l) => n.min(l.saturating_sub(self.written)),
            None => n,
        };
        if keep == 0 {
            return;
        }
        let samples: Vec<f32> =
            crate::audio::f32_samples(&self.buf[..keep as usize * ch * 4]).collect();
        out.push_back(AudioBlock {
            spec,
            first_sample: self.written,
            samples,
        });
        self.written += keep;
    }
}

impl AudioPart {
    fn receive(&mut self, path: &Path, out: &mut VecDeque<AudioBlock>) {
        let mut frame = ff::util::frame::Audio::empty();
        while self.decoder.receive_frame(&mut frame).is_ok() {
            if self.failure.is_some() {
                continue;
            }
            for i in 0..self.outs.len() {
                if let Err(reason) = self.resample(i, &frame, out) {
                    self.failure = Some(format!("{}: {reason}", path.display()));
                }
            }
        }
    }

    fn resample(
        &mut self,
        i: usize,
        frame: &ff::util::frame::Audio,
        out: &mut VecDeque<AudioBlock>,
    ) -> std::result::Result<(), String> {
        let o = &mut self.outs[i];
        let fmt = o.format();
        // SAFETY: the frame is a valid decoded audio frame; data pointers cover nb_samples.
        unsafe {
            let f = frame.as_ptr();
            let key = Resampler::key_of(f);
            if o.rs.as_ref().map(|r| r.key) != Some(key) {
                // A format change mid-stream: flush what the old context holds, start anew.
                if let Some(old) = o.rs.as_mut() {
                    if old.run(std::ptr::null(), 0, fmt, &mut o.buf) > 0 {
                        o.emit(i, out);
                    }
                }
                o.rs = Some(Resampler::new(f, fmt)?);
            }
            let r = o.rs.as_mut().ok_or("no resampler")?;
            let n = r.run(
                (*f).extended_data as *const *const u8,
                (*f).nb_samples,
                fmt,
                &mut o.buf,
            );
            if n > 0 {
                o.emit(i, out);
            }
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut VecDeque<AudioBlock>) {
        for i in 0..self.outs.len() {
            let o = &mut self.outs[i];
            let fmt = o.format();
            if let Some(r) = o.rs.as_mut() {
                // SAFETY: flushing a valid context.
                if unsafe { r.run(std::ptr::null(), 0, fmt, &mut o.buf) } > 0 {
                    o.emit(i, out);
                }
            }
        }
    }
}
