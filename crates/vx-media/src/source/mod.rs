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
//!
//! **Subtitles.** The cues of one text subtitle stream, decoded as their packets come by
//! ([`crate::subtitles::SubtitleDecoder`]), times on the same timeline.
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use ffmpeg_next as ff;

use crate::error::{MediaError, Result};
use crate::probe::{codec_label, open_input, read_packet, set_discard, ts_seconds, PacketRead};

mod audio;
mod video;

use audio::{open_audio, AudioPart};
pub use audio::{AudioBlock, AudioInfo, AudioSpec};
use video::{open_video, VideoPart};
pub use video::{DecodeCounters, VideoFrame, VideoInfo};

/// Which frames the video decoder yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeMode {
    /// Only frames the decoder flags as key; non-key frames are not decoded.
    KeyFrames,
    /// Every frame.
    All,
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

/// One item out of the source.
#[derive(Debug)]
pub enum Decoded {
    Video(VideoFrame),
    Audio(AudioBlock),
    Subtitle(crate::subtitles::Cue),
    /// Many packets were read and nothing came out yet (sparse subtitles alone): the caller
    /// may look at the clock, its cancel flag or its progress, then ask again.
    Idle,
}

/// Packets read in one [`Source::next`] call with nothing to hand out before it returns
/// [`Decoded::Idle`].
const IDLE_PACKETS: usize = 512;

/// Unreadable packets after which the file is taken as ended (as many as a damaged file
/// can plausibly have: more means the demuxer is only failing).
const MAX_INVALID_READS: usize = 1000;

/// The subtitle stream being decoded.
struct SubtitlePart {
    dec: crate::subtitles::SubtitleDecoder,
    stopped: bool,
    cues: VecDeque<crate::subtitles::Cue>,
}

/// The one demuxer of a file and its decoders.
pub struct Source {
    path: PathBuf,
    ictx: ff::format::context::Input,
    packet: ff::Packet,
    video: Option<VideoPart>,
    audio: Option<AudioPart>,
    subtitles: Option<SubtitlePart>,
    out: VecDeque<AudioBlock>,
    eof: bool,
    /// Unreadable packets so far.
    invalid_reads: usize,
    /// Container start time in seconds (0 when unknown): the timeline's origin.
    pub start: f64,
    /// Container duration in seconds.
    pub duration: Option<f64>,
    /// Packets handed out by the demuxer (all streams read).
    pub packets_read: usize,
    /// Whether the file has a video / audio stream at all.
    pub has_video: bool,
    pub has_audio: bool,
    /// Whether it has a subtitle stream (text or bitmap).
    pub has_subtitles: bool,
    is_still: bool,
    /// A WAV file shorter than its header says (libavformat quietly takes the file's length).
    wav_truncated: Option<String>,
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
        // Cover art (an attached picture) is not the file's video: an audio file with one
        // has no video to take keyframes, scenes or detections from.
        let has_video = crate::probe::best_video(&ictx).is_some();
        let has_audio = ictx.streams().best(ff::media::Type::Audio).is_some();
        let has_subtitles = ictx
            .streams()
            .any(|s| s.parameters().medium() == ff::media::Type::Subtitle);
        let wav_truncated = (format_name == "wav")
            .then(|| wav_truncation(path))
            .flatten();
        // Nothing is read until a decoder is enabled.
        for i in 0..ictx.nb_streams() as usize {
            set_discard(&mut ictx, i, true);
        }
        Ok(Source {
            path: path.to_path_buf(),
            ictx,
            packet: ff::Packet::empty(),
            video: None,
            audio: None,
            subtitles: None,
            out: VecDeque::new(),
            eof: false,
            invalid_reads: 0,
            start,
            duration,
            packets_read: 0,
            has_video,
            has_audio,
            has_subtitles,
            is_still,
            wav_truncated,
        })
    }

    /// Container and stream metadata (what `vx probe` prints), from this open file.
    pub fn probe_info(&self) -> crate::probe::ProbeInfo {
        crate::probe::probe_ctx(&self.path, &self.ictx)
    }

    /// The absolute index of the `nth` stream of `kind` (0-based, like ffmpeg's `-map 0:a:N`),
    /// or FFmpeg's best one of that kind when `nth` is None.
    fn pick(&self, kind: ff::media::Type, nth: Option<usize>) -> Result<usize> {
        let none = || match kind {
            ff::media::Type::Video => MediaError::NoVideoStream {
                path: self.path.clone(),
            },
            _ => MediaError::NoAudioStream {
                path: self.path.clone(),
            },
        };
        match nth {
            // Not cover art (`--video-stream N` names one on purpose).
            None if kind == ff::media::Type::Video => {
                crate::probe::best_video(&self.ictx).ok_or_else(none)
            }
            None => self
                .ictx
                .streams()
                .best(kind)
                .map(|s| s.index())
                .ok_or_else(none),
            Some(n) => {
                let of_kind: Vec<usize> = self
                    .ictx
                    .streams()
                    .filter(|s| s.parameters().medium() == kind)
                    .map(|s| s.index())
                    .collect();
                of_kind
                    .get(n)
                    .copied()
                    .ok_or_else(|| MediaError::NoSuchStream {
                        path: self.path.clone(),
                        kind: if kind == ff::media::Type::Video {
                            "video"
                        } else {
                            "audio"
                        },
                        n,
                        count: of_kind.len(),
                    })
            }
        }
    }

    /// How many streams of each kind (video, audio) the file has, and the position among
    /// its kind of the one decoded (for "the file has 2 audio streams; #1 was used").
    pub fn stream_counts(&self) -> ((usize, Option<usize>), (usize, Option<usize>)) {
        let count = |kind: ff::media::Type, used: Option<usize>| {
            let of_kind: Vec<usize> = self
                .ictx
                .streams()
                .filter(|s| s.parameters().medium() == kind)
                .map(|s| s.index())
                .collect();
            let pos = used.and_then(|u| of_kind.iter().position(|&i| i == u));
            (of_kind.len(), pos)
        };
        (
            count(ff::media::Type::Video, self.video.as_ref().map(|v| v.index)),
            count(ff::media::Type::Audio, self.audio.as_ref().map(|a| a.index)),
        )
    }

    /// Start reading at `t` seconds on the timeline instead of the beginning: the demuxer
    /// seeks to the key frame at or before `t` (call after enabling the decoders, before the
    /// first item). Frames before `t` still come out (from that key frame); audio samples keep
    /// their place on the timeline. The caller drops what lies before `t`.
    /// Whether the input can seek (a file, most http servers; not a pipe).
    pub fn seekable(&self) -> bool {
        // SAFETY: reading the I/O context's flags of an open format context.
        unsafe {
            let pb = (*self.ictx.as_ptr()).pb;
            !pb.is_null() && ((*pb).seekable & ff::ffi::AVIO_SEEKABLE_NORMAL) != 0
        }
    }

    pub fn seek(&mut self, t: f64) -> Result<()> {
        // Containers without an index (MPEG-TS / PS) are seeked by bytes and timestamps found
        // on the way: landing past the key frame before `t` would lose the frames up to the
        // next one, so these are seeked 10 s earlier (decoded and dropped).
        // Within the first 10 s they are not seeked at all: a seek to their start lands after
        // the first key frame (FFmpeg's mpegts seek; the CLI's -ss 0.5 loses it too).
        let name = self.ictx.format().name().to_string();
        let target = t;
        let t = if name.contains("mpegts") || name == "mpeg" || name.contains("mpegps") {
            if t <= 10.0 {
                return Ok(());
            }
            t - 10.0
        } else {
            t
        };
        let ts = ((t + self.start) * ff::ffi::AV_TIME_BASE as f64) as i64;
        self.ictx
            .seek(ts, ..ts + 1)
            .map_err(|e| MediaError::Decode {
                path: self.path.clone(),
                reason: format!("cannot seek to {t:.3} s: {e}"),
            })?;
        if let Some(a) = self.audio.as_mut() {
            a.rebase = true;
        }
        if let Some(v) = self.video.as_mut() {
            v.await_key_until = Some(target);
        }
        Ok(())
    }

    /// Decode the best video stream in `mode` (`threads` = 0: libavcodec's choice).
    pub fn enable_video(&mut self, mode: DecodeMode, threads: usize) -> Result<()> {
        self.enable_video_stream(mode, threads, None)
    }

    /// Decode the `nth` video stream (None: the best) in `mode`.
    pub fn enable_video_stream(
        &mut self,
        mode: DecodeMode,
        threads: usize,
        nth: Option<usize>,
    ) -> Result<()> {
        let best = self.pick(ff::media::Type::Video, nth)?;
        let v = open_video(&self.path, &self.ictx, best, mode, threads, self.start)?;
        set_discard(&mut self.ictx, best, false);
        self.video = Some(v);
        Ok(())
    }

    /// Key-frame mode shared by `n` sources of one file, this one being lane `k` (0 <= k < n):
    /// it reads every packet but decodes only the groups of pictures k, k+n, k+2n... (counted
    /// by key packets, in file order; packets before the first key packet belong to lane 0).
    /// `n` sources in `n` threads so decode a file's key frames `n` at a time; their frames
    /// merged by time are the frames of one source. No effect in all-frames mode or without
    /// video.
    pub fn key_lane(&mut self, k: usize, n: usize) {
        if let Some(v) = self.video.as_mut() {
            if n > 1 && k < n {
                v.lane = (k, n);
                v.in_lane = k == 0;
            }
        }
    }

    /// Decode the best audio stream once, resampled to each of `specs`.
    pub fn enable_audio(&mut self, specs: &[AudioSpec]) -> Result<()> {
        self.enable_audio_stream(specs, None)
    }

    /// Decode the `nth` audio stream (None: the best), resampled to each of `specs`.
    pub fn enable_audio_stream(&mut self, specs: &[AudioSpec], nth: Option<usize>) -> Result<()> {
        let best = self.pick(ff::media::Type::Audio, nth)?;
        let a = open_audio(&self.path, &self.ictx, best, specs, self.start)?;
        set_discard(&mut self.ictx, best, false);
        self.audio = Some(a);
        Ok(())
    }

    /// Decode the `nth` subtitle stream (None: the first text one); its cues come out as
    /// [`Decoded::Subtitle`]. A bitmap stream is refused.
    pub fn enable_subtitles(
        &mut self,
        nth: Option<usize>,
    ) -> Result<crate::subtitles::SubtitleTrack> {
        let all = crate::subtitles::tracks_of(&self.ictx);
        let track = crate::subtitles::choose_track(&self.path, &all, nth)?;
        let dec =
            crate::subtitles::SubtitleDecoder::open(&self.path, &self.ictx, track, self.start)?;
        set_discard(&mut self.ictx, dec.index(), false);
        let track = dec.track.clone();
        self.subtitles = Some(SubtitlePart {
            dec,
            stopped: false,
            cues: VecDeque::new(),
        });
        Ok(track)
    }

    /// Stop decoding subtitles.
    pub fn stop_subtitles(&mut self) {
        if let Some(s) = self.subtitles.as_mut() {
            s.stopped = true;
            s.cues.clear();
            set_discard(&mut self.ictx, s.dec.index(), true);
        }
    }

    fn subtitles_active(&self) -> bool {
        self.subtitles.as_ref().is_some_and(|s| !s.stopped)
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

    /// Warnings about the audio of `spec` (damage, a wrong declared duration, truncation).
    pub fn audio_warnings(&self, spec: usize) -> Vec<String> {
        match self.audio.as_ref() {
            Some(a) => {
                let rate = a.outs.get(spec).map_or(1, |o| o.spec.rate);
                let mut w = a.warnings(spec, rate);
                w.extend(self.wav_truncated.clone());
                w
            }
            None => Vec::new(),
        }
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
            set_discard(&mut self.ictx, v.index, true);
        }
    }

    /// Stop decoding audio.
    pub fn stop_audio(&mut self) {
        if let Some(a) = self.audio.as_mut() {
            a.stopped = true;
            set_discard(&mut self.ictx, a.index, true);
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
                }
                // Whatever is being decoded (audio or subtitles alone too): a demuxer that
                // only fails is at its end.
                self.invalid_reads += 1;
                if self.invalid_reads > MAX_INVALID_READS {
                    self.finish();
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
            a.push(&self.packet, &self.path, &mut self.out);
        } else if let Some(s) = self
            .subtitles
            .as_mut()
            .filter(|s| s.dec.index() == stream && !s.stopped)
        {
            s.cues.extend(s.dec.push(&self.packet));
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
            a.drain(&self.path, &mut self.out);
        }
    }

    /// Reasons to believe the video was not read whole (empty when it was). `stopped_early`:
    /// the caller stopped before the end on purpose, so index/duration checks do not apply.
    pub fn video_warnings(&self, stopped_early: bool) -> Vec<String> {
        self.video
            .as_ref()
            .map_or_else(Vec::new, |v| v.warnings(stopped_early))
    }

    /// Why no picture came out (for the "no frame could be decoded" error).
    pub fn no_frame_detail(&self) -> Option<String> {
        self.video.as_ref()?.no_frame_detail()
    }

    /// The part `start..end` of the file has video frames but no keyframe (see
    /// `VideoDecoder::no_keyframe_in_range`).
    pub fn no_keyframe_in_range(&self, start: f64, end: Option<f64>) -> Option<String> {
        self.video.as_ref()?.no_keyframe_in_range(start, end)
    }

    /// Why no picture came out of the part `start..end` of the file.
    pub fn no_frame_in_range(&self, start: f64, end: Option<f64>) -> Option<String> {
        Some(self.video.as_ref()?.no_frame_in_range(start, end))
    }

    /// The "no audio could be decoded" error, when no sample came out for `spec`.
    pub fn no_audio_error(&self, spec: usize) -> Option<MediaError> {
        let a = self.audio.as_ref()?;
        // Packets that all decoded but gave no sample at the rate asked (10 samples at 44.1
        // kHz) or none inside --start/--end: empty audio, not damage (it said "0 of 1 audio
        // packets failed to decode", exit 1).
        if self.audio_samples(spec) > 0
            || (a.failure.is_none() && a.packets_read > 0 && a.decode_errors == 0)
        {
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
        let mut steps = 0usize;
        loop {
            if let Some(b) = self.out.pop_front() {
                return Some(Decoded::Audio(b));
            }
            if let Some(c) = self.subtitles.as_mut().and_then(|s| s.cues.pop_front()) {
                return Some(Decoded::Subtitle(c));
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
            if self.eof || !(self.video_active() || self.audio_active() || self.subtitles_active())
            {
                return None;
            }
            if steps == IDLE_PACKETS {
                return Some(Decoded::Idle);
            }
            steps += 1;
            self.step();
        }
    }
}

/// The decoder and its codec context for `stream`, with the packet time base set (not opened).
fn codec_context(
    path: &Path,
    stream: &ff::format::stream::Stream,
) -> Result<(ff::Codec, ff::codec::Context)> {
    let params = stream.parameters();
    let codec = ff::decoder::find(params.id()).ok_or_else(|| MediaError::UnsupportedCodec {
        path: path.into(),
        codec: codec_label(&params),
    })?;
    let mut cctx = ff::codec::Context::from_parameters(params).map_err(|e| MediaError::Decode {
        path: path.into(),
        reason: e.to_string(),
    })?;
    // SAFETY: plain field write on a codec context that is not opened yet.
    unsafe { (*cctx.as_mut_ptr()).pkt_timebase = stream.time_base().into() };
    Ok((codec, cctx))
}

fn cannot_open(path: &Path, e: ff::Error) -> MediaError {
    MediaError::Decode {
        path: path.into(),
        reason: format!("cannot open decoder: {e}"),
    }
}

/// For a WAV file: whether its `data` chunk claims more bytes than the file holds (a copy cut
/// short). libavformat takes the file's length as the stream's without a word, so the header
/// is read here: the first 64 KiB are searched for the `fmt ` and `data` chunks.
fn wav_truncation(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut head = vec![0u8; 64 * 1024];
    let n = f.read(&mut head).ok()?;
    let head = &head[..n];
    if head.len() < 12 || &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return None;
    }
    let u32_at = |i: usize| -> Option<u32> {
        head.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut at = 12usize;
    let mut byte_rate = None;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32_at(at + 4)? as u64;
        if id == b"fmt " {
            byte_rate = u32_at(at + 16).filter(|r| *r > 0);
        }
        if id == b"data" {
            // 0 and 0xFFFFFFFF mean "unknown / until the end" (streamed WAV).
            if size == 0 || size == u32::MAX as u64 {
                return None;
            }
            let have = len.saturating_sub(at as u64 + 8);
            if have >= size {
                return None;
            }
            let secs = |b: u64| byte_rate.map(|r| b as f64 / r as f64);
            return Some(match (secs(size), secs(have)) {
                (Some(want), Some(got)) => format!(
                    "the WAV header says {want:.3} s of audio but the file holds {got:.3} s: file looks truncated"
                ),
                _ => format!(
                    "the WAV header says {size} bytes of audio but the file holds {have}: file looks truncated"
                ),
            });
        }
        at = at.checked_add(8 + size as usize + (size as usize & 1))?;
    }
    None
}
