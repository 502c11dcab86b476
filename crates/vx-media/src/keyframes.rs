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
use ffmpeg_next as ff;
use serde::Serialize;

use crate::convert::Converter;
use crate::decode::{DecodeMode, VideoDecoder};
use crate::error::{MediaError, Result};
use crate::fsutil::write_atomic;
use crate::image::Yuv;
use crate::jpeg::{Encoder, ImageFormat};
use crate::phash;
use crate::probe::ts_seconds;

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
pub use crate::decode::VideoInfo;

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
    progress: impl FnMut(Progress),
) -> Result<KeyframesReport> {
    extract_with(input, out_dir, opts, progress, |_, _| {})
}

/// [`extract`], handing each kept keyframe's upright full-range picture to `inspect` on the
/// decoding thread, before it is encoded: other analyses (detection) run on the same decoded
/// frames, without decoding the file twice.
pub fn extract_with(
    input: &Path,
    out_dir: &Path,
    opts: &KeyframeOptions,
    mut progress: impl FnMut(Progress),
    mut inspect: impl FnMut(&Keyframe, &Yuv),
) -> Result<KeyframesReport> {
    if opts.quality == 0 || opts.quality > 100 {
        return Err(MediaError::InvalidOption(format!(
            "quality {} is not in 1..=100",
            opts.quality
        )));
    }
    let mut dec = VideoDecoder::open(input, DecodeMode::KeyFrames, opts.threads)?;
    let workers = threads_or_auto(opts.threads);
    let video = dec.info.clone();
    let tb = dec.time_base();
    let (rotation, duration, start) = (video.rotation, video.duration, dec.start);

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
        job_tx,
        fatal: None,
    };
    let mut stopped_early = false;
    while let Some(frame) = dec.next_frame() {
        if !st.take(frame, &mut progress, &mut inspect) {
            stopped_early = true;
            break;
        }
    }

    // Finish the pool and collect results.
    let State {
        keyframes,
        mut stats,
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
    stats.packets_read = dec.counters.packets_read;
    stats.decode_errors = dec.counters.decode_errors;
    if stats.decoded == 0 {
        return Err(MediaError::NoFrames {
            path: input.into(),
            detail: dec.no_frame_detail(),
        });
    }
    let warnings = dec.warnings(stopped_early);
    Ok(KeyframesReport {
        source: input.to_path_buf(),
        complete: warnings.is_empty(),
        warnings,
        video,
        stats,
        keyframes,
    })
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
    job_tx: crossbeam_channel::Sender<Job>,
    fatal: Option<MediaError>,
}

impl State<'_> {
    /// Handle one decoded key frame. Returns false when extraction should stop.
    fn take(
        &mut self,
        frame: &ff::util::frame::Video,
        progress: &mut impl FnMut(Progress),
        inspect: &mut impl FnMut(&Keyframe, &Yuv),
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
        if let Some(k) = self.keyframes.last() {
            inspect(k, &img);
        }
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
