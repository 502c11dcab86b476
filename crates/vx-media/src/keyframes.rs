//! `vx keyframes`: decode only key frames and write them as images plus `keyframes.json`.
//!
//! **What a keyframe is.** A frame that the decoder outputs when told
//! `skip_frame = AVDISCARD_NONKEY` — exactly the set `ffmpeg -skip_frame nokey -i IN` and
//! `ffprobe -skip_frame nokey -show_frames` produce with the same libavcodec. The decoder
//! discards every other packet itself, so non-key frames are never decoded. For H.264 this
//! means IDR pictures plus I pictures carrying a recovery-point SEI (what x264 writes at open-GOP
//! boundaries); HEVC: IRAP pictures (IDR, CRA, BLA); VP9/AV1: key frames; MPEG-2: I pictures;
//! intra-only codecs (MJPEG, ProRes): every frame. See docs/KEYFRAMES.md.
//!
//! **Threads.** This thread demuxes, decodes (libavcodec may add slice threads),
//! converts each kept frame to an upright full-range YUV picture (one pass over the pixels),
//! hashes its luma and applies `--min-interval` / `--dedup` / `--max` in order. Encoding and
//! writing run on a pool of workers fed through a rendezvous channel, so at most
//! `workers + 1` pictures are in memory at any time, whatever the length of the video.
use std::path::{Path, PathBuf};
use std::thread;

use crossbeam_channel::{bounded, unbounded};
use ff::codec::packet::Mut as _;
use ffmpeg_next as ff;
use serde::Serialize;

use crate::convert::Converter;
use crate::error::{MediaError, Result};
use crate::fsutil::write_atomic;
use crate::image::Yuv;
use crate::jpeg::{Encoder, ImageFormat};
use crate::phash;
use crate::probe::{
    codec_label, codec_name, display_rotation, open_input, rational_f64, rational_str, ts_seconds,
};

/// Options of [`extract`].
#[derive(Debug, Clone)]
pub struct KeyframeOptions {
    /// JPEG quality 1..=100.
    pub quality: u8,
    /// Stop after this many keyframes are written.
    pub max: Option<usize>,
    /// Skip keyframes closer than this many seconds to the last kept one.
    pub min_interval: Option<f64>,
    /// Drop a keyframe whose pHash is within this Hamming distance of the last kept one.
    pub dedup: Option<u32>,
    /// Downscale so that the longest side is at most this many pixels.
    pub max_side: Option<u32>,
    pub format: ImageFormat,
    /// Decoder threads and encoder workers; 0 = one per CPU.
    pub threads: usize,
}

impl Default for KeyframeOptions {
    fn default() -> Self {
        KeyframeOptions {
            quality: 90,
            max: None,
            min_interval: None,
            dedup: None,
            max_side: None,
            format: ImageFormat::Jpeg,
            threads: 0,
        }
    }
}

/// The video stream keyframes were taken from.
#[derive(Debug, Clone, Serialize)]
pub struct VideoInfo {
    pub stream_index: usize,
    pub codec: String,
    /// Coded picture size, before rotation.
    pub width: u32,
    pub height: u32,
    pub pix_fmt: String,
    /// Degrees clockwise applied so that images are upright.
    pub rotation: i32,
    pub time_base: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
}

/// One written keyframe.
#[derive(Debug, Clone, Serialize)]
pub struct Keyframe {
    /// Position of this frame among all key frames the decoder produced (0-based), counting
    /// those dropped by `--min-interval` and `--dedup`; stable whatever the options.
    pub index: usize,
    /// Best-effort presentation timestamp in the stream's time base.
    pub pts: Option<i64>,
    /// `pts x time_base`, in seconds (not shifted by the stream's start time).
    pub time: Option<f64>,
    /// Size of the written image (after rotation and `--max-side`).
    pub width: usize,
    pub height: usize,
    /// Image path relative to the output directory.
    pub path: String,
    /// 64-bit perceptual hash of the image's luma, 16 hex digits.
    pub phash: String,
}

/// Counts of what happened to decoded key frames.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeyframeStats {
    pub decoded: usize,
    pub written: usize,
    pub skipped_interval: usize,
    pub skipped_duplicate: usize,
    pub packets_read: usize,
    pub decode_errors: usize,
}

/// Everything `keyframes.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct KeyframesReport {
    pub source: PathBuf,
    /// False when the input was damaged or truncated and only part of it could be read.
    pub complete: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub video: VideoInfo,
    pub stats: KeyframeStats,
    pub keyframes: Vec<Keyframe>,
}

/// Progress of a run, reported after each decoded key frame.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub seconds: f64,
    pub duration: Option<f64>,
    pub written: usize,
}

struct Job {
    index: usize,
    img: Yuv,
    path: PathBuf,
}

fn threads_or_auto(n: usize) -> usize {
    if n > 0 {
        n
    } else {
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    }
}

/// Name of the image written for the keyframe with this index.
pub fn image_name(index: usize, format: ImageFormat) -> String {
    format!("kf-{index:06}.{}", format.extension())
}

/// Decode the key frames of `input`, write them into `out_dir` and return the report.
/// `keyframes.json` is not written here (see [`write_report`]): callers decide.
pub fn extract(
    input: &Path,
    out_dir: &Path,
    opts: &KeyframeOptions,
    mut progress: impl FnMut(Progress),
) -> Result<KeyframesReport> {
    if opts.quality == 0 || opts.quality > 100 {
        return Err(MediaError::InvalidOption(format!(
            "quality {} is not in 1..=100",
            opts.quality
        )));
    }
    let mut ictx = open_input(input)?;
    let stream = ictx
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| MediaError::NoVideoStream { path: input.into() })?;
    let stream_index = stream.index();
    let tb = stream.time_base();
    let rotation = display_rotation(&stream);
    let params = stream.parameters();
    let codec_id = params.id();
    let expected_packets = Some(stream.frames()).filter(|&n| n > 0);
    let av_tb = ff::Rational::new(1, ff::ffi::AV_TIME_BASE);
    let duration = ts_seconds(stream.duration(), tb).or_else(|| ts_seconds(ictx.duration(), av_tb));
    let start = ts_seconds(stream.start_time(), tb).unwrap_or(0.0);
    let frame_rate = rational_f64(stream.avg_frame_rate()).or_else(|| rational_f64(stream.rate()));

    let codec = ff::decoder::find(codec_id).ok_or_else(|| MediaError::UnsupportedCodec {
        path: input.into(),
        codec: codec_label(&params),
    })?;
    let mut cctx = ff::codec::Context::from_parameters(params).map_err(|e| MediaError::Decode {
        path: input.into(),
        reason: e.to_string(),
    })?;
    let workers = threads_or_auto(opts.threads);
    // SAFETY: plain field writes on a codec context that is not opened yet.
    unsafe {
        let p = cctx.as_mut_ptr();
        (*p).thread_count = if opts.threads == 0 {
            0
        } else {
            opts.threads as i32
        };
        // Slice threads only: every key frame is decoded right after a flush (see below), so
        // frame threads would never overlap and would only cost memory (measured: +10 ms,
        // +5 MiB on the 1080p benchmark clip).
        (*p).thread_type = ff::ffi::FF_THREAD_SLICE;
        (*p).pkt_timebase = tb.into();
    }
    let mut dec = cctx.decoder();
    dec.skip_frame(ff::codec::discard::Discard::NonKey);
    let mut decoder =
        dec.open_as(codec)
            .and_then(|o| o.video())
            .map_err(|e| MediaError::Decode {
                path: input.into(),
                reason: format!("cannot open decoder: {e}"),
            })?;

    // Let the demuxer drop packets of every other stream.
    // SAFETY: stream pointers of an open format context; `discard` is a plain field.
    unsafe {
        let fmt = ictx.as_mut_ptr();
        for i in 0..(*fmt).nb_streams as usize {
            let st = *(*fmt).streams.add(i);
            if i != stream_index {
                (*st).discard = ff::ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }

    let video = VideoInfo {
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

    std::fs::create_dir_all(out_dir).map_err(|e| MediaError::io(out_dir, e))?;

    // Encoder pool, fed through a rendezvous channel: decoding the next key frame overlaps the
    // encoding of the previous ones, and no picture waits in a queue.
    let (job_tx, job_rx) = bounded::<Job>(0);
    let (res_tx, res_rx) = unbounded::<std::result::Result<usize, MediaError>>();
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let job_rx = job_rx.clone();
        let res_tx = res_tx.clone();
        let format = opts.format;
        let quality = opts.quality;
        let src = input.to_path_buf();
        handles.push(thread::spawn(move || {
            let mut enc = match Encoder::new(quality) {
                Ok(e) => e,
                Err(reason) => {
                    let _ = res_tx.send(Err(MediaError::Encode { path: src, reason }));
                    return;
                }
            };
            for job in job_rx {
                let r = enc
                    .encode(&job.img, format)
                    .map_err(|reason| MediaError::Encode {
                        path: src.clone(),
                        reason,
                    })
                    .and_then(|bytes| {
                        write_atomic(&job.path, &bytes).map_err(|e| MediaError::io(&job.path, e))
                    })
                    .map(|_| job.index);
                let _ = res_tx.send(r);
            }
        }));
    }
    drop(job_rx);
    drop(res_tx);

    let mut st = State {
        input,
        out_dir,
        opts,
        tb,
        rotation,
        duration,
        start,
        converter: Converter::new(),
        keyframes: Vec::new(),
        stats: KeyframeStats::default(),
        last_kept: None,
        warnings: Vec::new(),
        job_tx,
        fatal: None,
    };

    let mut frame = ff::util::frame::Video::empty();
    let mut packet = ff::codec::packet::Packet::empty();
    let mut read_errors = 0usize;
    let mut corrupt_packets = 0usize;
    let mut last_end: Option<f64> = None;
    let mut stopped_early = false;
    let mut saw_key_packet = false;
    let mut decoder_ignores_skip = false;
    let mut sent_since_flush = false;
    'demux: loop {
        // av_read_frame() overwrites the packet without releasing what it held: unref first,
        // or every packet of the file stays allocated until the end.
        // SAFETY: `packet` is a valid AVPacket owned by this function.
        unsafe { ff::ffi::av_packet_unref(packet.as_mut_ptr()) };
        match packet.read(&mut ictx) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => continue,
            Err(ff::Error::InvalidData) => {
                read_errors += 1;
                if read_errors > 1000 {
                    break;
                }
                continue;
            }
            Err(e) => {
                st.warnings.push(format!(
                    "read error after {} packets: {e}",
                    st.stats.packets_read
                ));
                read_errors += 1;
                break;
            }
        }
        if packet.stream() != stream_index {
            continue;
        }
        st.stats.packets_read += 1;
        if packet.is_corrupt() {
            corrupt_packets += 1;
        }
        if let Some(t) = packet
            .pts()
            .or(packet.dts())
            .and_then(|p| ts_seconds(p, tb))
        {
            let end = t + ts_seconds(packet.duration(), tb).unwrap_or(0.0);
            last_end = Some(last_end.map_or(end, |l: f64| l.max(end)));
        }
        if packet.is_key() {
            saw_key_packet = true;
        } else if decoder_ignores_skip && saw_key_packet {
            // A decoder that ignores skip_frame (VP8/VP9/AV1 in FFmpeg 5.1) would decode every
            // frame: only key packets reach it, as the demuxer marks them.
            continue;
        }
        // When the decoder reorders frames, each key packet starts from a drained, flushed
        // decoder: frames come out in order, at once, and none is lost. Without this, H.264 open-GOP streams (I pictures with a
        // recovery point, not IDR) come out of `skip_frame=nokey` decoding reordered and the
        // last one never comes out, because the picture order counts of the skipped frames
        // are missing (this is what `ffmpeg -skip_frame nokey` does; see docs/KEYFRAMES.md).
        // SAFETY: reading a plain field of the open decoder context.
        let reorders = unsafe { (*decoder.as_ptr()).has_b_frames } > 0;
        if packet.is_key() && sent_since_flush && reorders {
            if !drain(
                &mut decoder,
                &mut frame,
                &mut st,
                &mut progress,
                &mut decoder_ignores_skip,
            ) {
                stopped_early = true;
                break;
            }
            decoder.flush();
        }
        sent_since_flush = true;
        match decoder.send_packet(&packet) {
            Ok(()) => {}
            Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
            Err(_) => st.stats.decode_errors += 1,
        }
        if !receive_all(
            &mut decoder,
            &mut frame,
            &mut st,
            &mut progress,
            &mut decoder_ignores_skip,
        ) {
            stopped_early = true;
            break 'demux;
        }
    }
    if !stopped_early
        && !drain(
            &mut decoder,
            &mut frame,
            &mut st,
            &mut progress,
            &mut decoder_ignores_skip,
        )
    {
        stopped_early = true;
    }

    // Finish the pool and collect results.
    let State {
        keyframes,
        mut stats,
        mut warnings,
        job_tx,
        fatal,
        ..
    } = st;
    drop(job_tx);
    let mut errors: Vec<MediaError> = fatal.into_iter().collect();
    let mut done = std::collections::HashSet::new();
    for r in res_rx {
        match r {
            Ok(i) => {
                done.insert(i);
            }
            Err(e) => errors.push(e),
        }
    }
    for h in handles {
        let _ = h.join();
    }
    if let Some(e) = errors.into_iter().next() {
        // Remove what this run wrote: a failed run presents nothing as complete.
        for k in &keyframes {
            let _ = std::fs::remove_file(out_dir.join(&k.path));
        }
        return Err(e);
    }
    let keyframes: Vec<Keyframe> = keyframes
        .into_iter()
        .filter(|k| done.contains(&k.index))
        .collect();
    stats.written = keyframes.len();

    if stats.decoded == 0 {
        let detail = if stats.packets_read == 0 {
            Some("no video packets could be read".to_string())
        } else if let Some(n) = expected_packets.filter(|&n| n > stats.packets_read as i64) {
            Some(format!(
                "file is truncated: {} of {n} video packets could be read",
                stats.packets_read
            ))
        } else if stats.decode_errors > 0 {
            Some(format!(
                "{} of {} packets failed to decode",
                stats.decode_errors, stats.packets_read
            ))
        } else {
            None
        };
        return Err(MediaError::NoFrames {
            path: input.into(),
            detail,
        });
    }

    // Was the whole file read?
    if read_errors > 0 && warnings.is_empty() {
        warnings.push(format!("{read_errors} unreadable packet(s) skipped"));
    }
    if corrupt_packets > 0 {
        warnings.push(format!(
            "{corrupt_packets} packet(s) flagged corrupt by the demuxer"
        ));
    }
    if stats.decode_errors > 0 {
        warnings.push(format!(
            "{} packet(s) failed to decode",
            stats.decode_errors
        ));
    }
    if !stopped_early {
        if let Some(n) = expected_packets {
            if (stats.packets_read as i64) < n {
                warnings.push(format!(
                    "file is truncated: {} of {n} video packets in the index could be read",
                    stats.packets_read
                ));
            }
        }
        if let (Some(d), Some(end)) = (duration, last_end) {
            let expected_end = start + d;
            if end + (0.5f64).max(d * 0.05) < expected_end && expected_packets.is_none() {
                warnings.push(format!(
                    "video ends at {end:.3} s but the container says {expected_end:.3} s: file looks truncated"
                ));
            }
        }
    }
    Ok(KeyframesReport {
        source: input.to_path_buf(),
        complete: warnings.is_empty(),
        warnings,
        video,
        stats,
        keyframes,
    })
}

/// Hand every frame the decoder has ready to `st` (non-key frames only set `saw_nonkey`).
/// Returns false when extraction should stop.
fn receive_all(
    decoder: &mut ff::decoder::Video,
    frame: &mut ff::util::frame::Video,
    st: &mut State<'_>,
    progress: &mut impl FnMut(Progress),
    saw_nonkey: &mut bool,
) -> bool {
    while decoder.receive_frame(frame).is_ok() {
        if !frame.is_key() {
            *saw_nonkey = true;
            continue;
        }
        if !st.take(frame, progress) {
            return false;
        }
    }
    true
}

/// Send end-of-stream and hand every remaining key frame to `st`. Returns false when
/// extraction should stop.
fn drain(
    decoder: &mut ff::decoder::Video,
    frame: &mut ff::util::frame::Video,
    st: &mut State<'_>,
    progress: &mut impl FnMut(Progress),
    saw_nonkey: &mut bool,
) -> bool {
    let _ = decoder.send_eof();
    receive_all(decoder, frame, st, progress, saw_nonkey)
}

struct State<'a> {
    input: &'a Path,
    out_dir: &'a Path,
    opts: &'a KeyframeOptions,
    tb: ff::Rational,
    rotation: i32,
    duration: Option<f64>,
    start: f64,
    converter: Converter,
    keyframes: Vec<Keyframe>,
    stats: KeyframeStats,
    last_kept: Option<(Option<f64>, u64)>,
    warnings: Vec<String>,
    job_tx: crossbeam_channel::Sender<Job>,
    fatal: Option<MediaError>,
}

impl State<'_> {
    /// Handle one decoded key frame. Returns false when extraction should stop.
    fn take(
        &mut self,
        frame: &ff::util::frame::Video,
        progress: &mut impl FnMut(Progress),
    ) -> bool {
        let index = self.stats.decoded;
        self.stats.decoded += 1;
        let pts = frame.timestamp().or(frame.pts());
        let time = pts.and_then(|p| ts_seconds(p, self.tb));
        if let (Some(min), Some((Some(last), _)), Some(t)) =
            (self.opts.min_interval, self.last_kept, time)
        {
            if t - last < min {
                self.stats.skipped_interval += 1;
                return true;
            }
        }
        let img = match self
            .converter
            .convert(frame, self.rotation, self.opts.max_side)
        {
            Ok(img) => img,
            Err(reason) => {
                self.fatal = Some(MediaError::Convert {
                    path: self.input.into(),
                    from: format!("{:?}", frame.format()).to_lowercase(),
                    reason,
                });
                return false;
            }
        };
        let hash = phash::phash(&img.y, img.width, img.height, img.width);
        if let (Some(dist), Some((_, last_hash))) = (self.opts.dedup, self.last_kept) {
            if phash::distance(hash, last_hash) <= dist {
                self.stats.skipped_duplicate += 1;
                return true;
            }
        }
        self.last_kept = Some((time, hash));
        let name = image_name(index, self.opts.format);
        self.keyframes.push(Keyframe {
            index,
            pts,
            time,
            width: img.width,
            height: img.height,
            path: name.clone(),
            phash: phash::to_hex(hash),
        });
        let job = Job {
            index,
            img,
            path: self.out_dir.join(name),
        };
        if self.job_tx.send(job).is_err() {
            // Every worker is gone: the error they reported is collected by the caller.
            return false;
        }
        progress(Progress {
            seconds: time.map(|t| t - self.start).unwrap_or(0.0),
            duration: self.duration,
            written: self.keyframes.len(),
        });
        !matches!(self.opts.max, Some(m) if self.keyframes.len() >= m)
    }
}

/// Write the report as `DIR/keyframes.json`, atomically.
pub fn write_report(report: &KeyframesReport, out_dir: &Path) -> Result<PathBuf> {
    let path = out_dir.join("keyframes.json");
    let mut bytes = serde_json::to_vec_pretty(report).map_err(|e| MediaError::Encode {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    write_atomic(&path, &bytes).map_err(|e| MediaError::io(&path, e))?;
    Ok(path)
}
