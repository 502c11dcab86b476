//! `keyframes`: the frames the decoder flags as key, written as JPEG/PNG, and handed on to
//! later stages (detect, faces) as the same frames.
//!
//! **What a keyframe is.** A frame the decoder outputs when told
//! `skip_frame = AVDISCARD_NONKEY` — the set `ffmpeg -skip_frame nokey` and a full decode's key
//! flags give (docs/KEYFRAMES.md). When another operation of the plan needs every frame, the
//! decoder decodes all of them and this operation takes the ones flagged key: the same set.
//!
//! On its own thread it converts each key frame to an upright full-range YUV picture (one
//! pass), hashes its luma and applies `--min-interval` / `--dedup` / `--max` in order; a pool
//! of encoder workers fed through a rendezvous channel writes the images, so at most
//! `workers + 1` pictures wait, whatever the length of the video.
use std::path::{Path, PathBuf};
use std::thread;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use serde::Serialize;
use vx_image::fsutil::write_atomic;
use vx_image::image::Yuv;
use vx_image::jpeg::{Encoder, ImageFormat};
use vx_image::phash;
use vx_media::source::VideoInfo;
use vx_media::MediaError;

use crate::frame::Frame;
use crate::op::{Emit, End, Flow, Input, Needs, Operation, Output, Select};
use crate::{Error, Result};

/// Options of the keyframes operation.
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
    /// One frame every this many seconds instead of the key frames (every frame decoded).
    pub every: Option<f64>,
    /// The first frame at or after each of these times instead of the key frames (every frame
    /// decoded until the last one is taken).
    pub at: Option<&'static [f64]>,
    /// Also write `sheet.jpg`: the kept frames as a grid of thumbnails with their times.
    pub sheet: bool,
    pub format: ImageFormat,
    /// Encoder workers (at least 1).
    pub workers: usize,
}

impl Default for KeyframeOptions {
    fn default() -> Self {
        KeyframeOptions {
            quality: 90,
            max: None,
            min_interval: None,
            dedup: None,
            max_side: None,
            every: None,
            at: None,
            sheet: false,
            format: ImageFormat::Jpeg,
            workers: 1,
        }
    }
}

/// One written keyframe.
#[derive(Debug, Clone, Serialize)]
pub struct Keyframe {
    /// Position of this frame among all key frames the decoder produced (0-based), counting
    /// those dropped by `--min-interval` and `--dedup`; stable whatever the options.
    pub index: usize,
    /// Best-effort presentation timestamp in the stream's time base (raw).
    pub pts: Option<i64>,
    /// Seconds on the file's timeline (0 = start of the presentation).
    #[serde(serialize_with = "vx_image::secs::ms_opt")]
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
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub source: PathBuf,
    /// False when the input was damaged or truncated and only part of it could be read.
    pub complete: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub video: VideoInfo,
    pub stats: KeyframeStats,
    pub keyframes: Vec<Keyframe>,
    /// The contact sheet (`--sheet`), relative to the output directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
}

/// Width of a contact sheet's thumbnails, columns, and the most thumbnails it holds.
const SHEET_THUMB: u32 = 240;
const SHEET_COLUMNS: usize = 6;
const SHEET_MAX: usize = 60;

/// Name of the image written for the keyframe with this index.
pub fn image_name(index: usize, format: ImageFormat) -> String {
    format!("kf-{index:06}.{}", format.extension())
}

/// The image files an earlier run listed in `DIR/keyframes.json` (plain names only): removed
/// when a new run into `DIR` is published, so no stale image sits beside the new index.
/// Only a regular file of at most 64 MiB is read (not a FIFO, a device or a link to one), and
/// only names this operation writes (`kf-NNNNNN.jpg|png`) are returned: an index cannot make
/// vx remove anything else.
pub fn previous_files(dir: &Path) -> Vec<String> {
    let index = dir.join("keyframes.json");
    match std::fs::symlink_metadata(&index) {
        Ok(m) if m.is_file() && m.len() <= 64 << 20 => {}
        _ => return Vec::new(),
    }
    let Ok(bytes) = std::fs::read(&index) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    v["keyframes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|k| k["path"].as_str().map(str::to_string))
                .filter(|p| is_image_name(p))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `name` is one this operation writes: `kf-` six digits `.jpg` or `.png`.
pub fn is_image_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("kf-") else {
        return false;
    };
    let (digits, ext) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
    digits.len() >= 6
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(ext, ".jpg" | ".png")
}

/// Thumbnails in a grid (at most SHEET_MAX, evenly picked), each labelled with its time.
fn contact_sheet(
    thumbs: &[(Option<f64>, std::sync::Arc<vx_media::still::Rgb>)],
    quality: u8,
) -> std::result::Result<Vec<u8>, String> {
    let step = thumbs.len().div_ceil(SHEET_MAX).max(1);
    let picked: Vec<_> = thumbs.iter().step_by(step).collect();
    let (tw, th) = (
        picked.iter().map(|(_, t)| t.width).max().unwrap_or(1),
        picked.iter().map(|(_, t)| t.height).max().unwrap_or(1),
    );
    let gap = 4;
    let cols = picked.len().clamp(1, SHEET_COLUMNS);
    let rows = picked.len().div_ceil(cols);
    let (w, h) = (cols * (tw + gap) + gap, rows * (th + gap) + gap);
    let mut canvas = vec![24u8; w * h * 3];
    let mut marks = Vec::new();
    // The caption bar's height as vx_image::draw sizes it: the label sits inside the tile.
    let bar = 10 * (w.min(h) / 400).max(1);
    for (i, (time, t)) in picked.iter().enumerate() {
        let (x0, y0) = (gap + (i % cols) * (tw + gap), gap + (i / cols) * (th + gap));
        for y in 0..t.height {
            let src = &t.data[y * t.width * 3..(y + 1) * t.width * 3];
            let o = ((y0 + y) * w + x0) * 3;
            canvas[o..o + src.len()].copy_from_slice(src);
        }
        if let Some(t) = time {
            let secs = t.max(0.0);
            marks.push(vx_image::draw::Mark {
                x: x0 as f32,
                y: (y0 + bar) as f32,
                w: 0.0,
                h: 0.0,
                caption: format!(
                    "{:02}:{:02}:{:06.3}",
                    (secs / 3600.0) as u64,
                    (secs / 60.0) as u64 % 60,
                    secs % 60.0
                ),
                color: [0, 0, 0],
                points: Vec::new(),
            });
        }
    }
    vx_image::draw::annotate(&mut canvas, w, h, &marks);
    Encoder::new(quality)?.jpeg_rgb(&canvas, w, h)
}

struct Job {
    index: usize,
    img: std::sync::Arc<Yuv>,
    path: PathBuf,
}

struct Pool {
    tx: Sender<Job>,
    results: Receiver<std::result::Result<usize, MediaError>>,
    handles: Vec<thread::JoinHandle<()>>,
}

pub struct Keyframes {
    opts: KeyframeOptions,
    dir: PathBuf,
    source: PathBuf,
    pool: Option<Pool>,
    keyframes: Vec<Keyframe>,
    stats: KeyframeStats,
    last_kept: Option<(Option<f64>, u64)>,
    /// The latest time of a frame handed to this operation (kept or not).
    last_seen: Option<f64>,
    /// `--sheet`: thumbnails kept (time, picture); every `sheet_stride`-th kept frame, the
    /// stride doubling (and every other thumbnail dropped) when there are too many: evenly
    /// spaced over the file whatever its length, in bounded memory.
    thumbs: Vec<(Option<f64>, std::sync::Arc<vx_media::still::Rgb>)>,
    sheet_stride: usize,
}

impl Keyframes {
    /// Write the images into `dir` (created when the first one is written).
    pub fn new(opts: KeyframeOptions, dir: &Path) -> Result<Keyframes> {
        if opts.quality == 0 || opts.quality > 100 {
            return Err(Error::Usage(format!(
                "quality {} is not in 1..=100",
                opts.quality
            )));
        }
        Ok(Keyframes {
            opts,
            dir: dir.to_path_buf(),
            source: PathBuf::new(),
            pool: None,
            keyframes: Vec::new(),
            stats: KeyframeStats::default(),
            last_kept: None,
            last_seen: None,
            thumbs: Vec::new(),
            sheet_stride: 1,
        })
    }

    fn pool(&mut self) -> Result<&Pool> {
        if self.pool.is_none() {
            crate::op::ensure_dir(&self.dir)?;
            // Rendezvous channel: converting the next key frame overlaps the encoding of the
            // previous ones, and no picture waits in a queue.
            let (tx, rx) = bounded::<Job>(0);
            let (res_tx, results) = unbounded();
            let mut handles = Vec::new();
            for _ in 0..self.opts.workers.max(1) {
                let rx = rx.clone();
                let res_tx = res_tx.clone();
                let (format, quality, src) =
                    (self.opts.format, self.opts.quality, self.source.clone());
                handles.push(thread::spawn(move || {
                    let mut enc = match Encoder::new(quality) {
                        Ok(e) => e,
                        Err(reason) => {
                            let _ = res_tx.send(Err(MediaError::Encode { path: src, reason }));
                            return;
                        }
                    };
                    for job in rx {
                        let r = enc
                            .encode(&job.img, format)
                            .map_err(|reason| MediaError::Encode {
                                path: src.clone(),
                                reason,
                            })
                            .and_then(|bytes| {
                                write_atomic(&job.path, &bytes).map_err(|e| MediaError::Io {
                                    path: job.path.clone(),
                                    source: e,
                                })
                            })
                            .map(|_| job.index);
                        let _ = res_tx.send(r);
                    }
                }));
            }
            self.pool = Some(Pool {
                tx,
                results,
                handles,
            });
        }
        self.pool
            .as_ref()
            .ok_or_else(|| Error::failed(&self.dir, "no encoder pool"))
    }

    /// Finish the pool: the indexes written and the first error.
    fn close(&mut self) -> (std::collections::HashSet<usize>, Option<MediaError>) {
        let mut done = std::collections::HashSet::new();
        let mut err = None;
        if let Some(Pool {
            tx,
            results,
            handles,
        }) = self.pool.take()
        {
            drop(tx);
            for r in results {
                match r {
                    Ok(i) => {
                        done.insert(i);
                    }
                    Err(e) => {
                        err.get_or_insert(e);
                    }
                }
            }
            for h in handles {
                let _ = h.join();
            }
        }
        (done, err)
    }

    fn remove_written(&self) {
        for k in &self.keyframes {
            let _ = std::fs::remove_file(self.dir.join(&k.path));
        }
    }

    /// The frame times asked for (`--at`, `--per-scene`) after the last frame handed to this
    /// operation, as "t1,t2" (None when every time got its frame).
    fn missed_times(&self) -> Option<String> {
        let at = self.opts.at?;
        if self.opts.max.is_some_and(|m| self.keyframes.len() >= m) {
            return None;
        }
        let last = self.last_seen.unwrap_or(f64::NEG_INFINITY);
        let missed: Vec<String> = at
            .iter()
            .filter(|&&t| t > last + 1e-6)
            .map(|t| format!("{t}"))
            .collect();
        (!missed.is_empty()).then(|| missed.join(","))
    }
}

impl Operation for Keyframes {
    fn name(&self) -> &'static str {
        "keyframes"
    }

    fn needs(&mut self, input: &Input) -> Needs {
        self.source = input.path.clone();
        Needs {
            video: Some(match (self.opts.at, self.opts.every) {
                (Some(t), _) => Select::At(t),
                (None, Some(s)) => Select::Every(s),
                (None, None) => Select::Key,
            }),
            audio: None,
            subtitles: false,
        }
    }

    fn video(&mut self, frame: &Frame, out: &mut dyn Emit) -> Result<Flow> {
        let index = self.stats.decoded;
        self.stats.decoded += 1;
        let time = frame.time;
        if let Some(t) = time {
            self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
        }
        if let (Some(min), Some((Some(last), _)), Some(t)) =
            (self.opts.min_interval, self.last_kept, time)
        {
            if t - last < min {
                self.stats.skipped_interval += 1;
                return Ok(Flow::Continue);
            }
        }
        let img = frame.yuv(self.opts.max_side).map_err(|reason| {
            Error::Media(MediaError::Convert {
                path: self.source.clone(),
                from: frame.pixel_format(),
                reason,
            })
        })?;
        let hash = phash::phash(&img.y, img.width, img.height, img.width);
        if let (Some(dist), Some((_, last_hash))) = (self.opts.dedup, self.last_kept) {
            if phash::distance(hash, last_hash) <= dist {
                self.stats.skipped_duplicate += 1;
                return Ok(Flow::Continue);
            }
        }
        self.last_kept = Some((time, hash));
        let name = image_name(index, self.opts.format);
        self.keyframes.push(Keyframe {
            index,
            pts: frame.pts,
            time,
            width: img.width,
            height: img.height,
            path: name.clone(),
            phash: phash::to_hex(hash),
        });
        let job = Job {
            index,
            img,
            path: self.dir.join(&name),
        };
        if self.pool()?.tx.send(job).is_err() {
            // Every worker is gone: the error they reported is collected at the end.
            return Ok(Flow::Stop);
        }
        if self.opts.sheet && (self.keyframes.len() - 1).is_multiple_of(self.sheet_stride) {
            let (w, h) = frame.size();
            let th = ((SHEET_THUMB as f64 * h as f64 / w.max(1) as f64).round() as u32 & !1).max(2);
            if let Ok(t) = frame.rgb(Some((SHEET_THUMB, th))) {
                self.thumbs.push((time, t));
            }
            if self.thumbs.len() >= 2 * SHEET_MAX {
                let kept: Vec<_> = self.thumbs.drain(..).step_by(2).collect();
                self.thumbs = kept;
                self.sheet_stride *= 2;
            }
        }
        out.emit(frame.tagged(&name));
        let all_taken = matches!(self.opts.at, Some(t) if self.stats.decoded >= t.len());
        Ok(
            if all_taken || matches!(self.opts.max, Some(m) if self.keyframes.len() >= m) {
                Flow::Stop
            } else {
                Flow::Continue
            },
        )
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        let (done, err) = self.close();
        if let Some(e) = err {
            // Remove what this run wrote: a failed run presents nothing as complete.
            self.remove_written();
            return Err(e.into());
        }
        // Nothing handed on (no keyframe in the range, nothing from the stage before): an
        // empty list that says why; otherwise no frame at all is a failure.
        // Before the kept frames are taken below: --max reached is not a missed time (it
        // warned "no frame at or after" times the --max had cut off).
        let missed = self.missed_times();
        let keyed = self.opts.at.is_none() && self.opts.every.is_none();
        let idle = match self.stats.decoded {
            0 => match end.nothing_to_do(keyed) {
                Some(w) => Some(w),
                None => {
                    let detail = match (self.opts.at, &missed) {
                        (Some(_), Some(m)) => Some(format!("no frame at or after {m} s")),
                        _ => end.no_frame_detail.clone(),
                    };
                    return Err(MediaError::NoFrames {
                        path: self.source.clone(),
                        detail,
                    }
                    .into());
                }
            },
            _ => None,
        };
        let video = end
            .video
            .clone()
            .ok_or_else(|| Error::failed(&self.source, "no video stream information"))?;
        let mut stats = std::mem::take(&mut self.stats);
        let keyframes: Vec<Keyframe> = std::mem::take(&mut self.keyframes)
            .into_iter()
            .filter(|k| done.contains(&k.index))
            .collect();
        stats.written = keyframes.len();
        (stats.packets_read, stats.decode_errors) = end.video_packets;
        let complete = end.video_warnings.is_empty();
        let mut warnings = end.video_warnings.clone();
        warnings.extend(idle);
        // Times after the video's last frame get none ("the first frame at or after" each):
        // said, not dropped silently. Not damage: `complete` is about the input.
        if let Some(missed) = missed {
            warnings.push(format!(
                "no frame at or after {missed} s: the video's last frame starts before"
            ));
        }
        let mut files: Vec<PathBuf> = keyframes.iter().map(|k| self.dir.join(&k.path)).collect();
        let sheet = if self.opts.sheet && !self.thumbs.is_empty() {
            let p = self.dir.join("sheet.jpg");
            let jpeg =
                contact_sheet(&self.thumbs, self.opts.quality).map_err(|e| Error::failed(&p, e))?;
            write_atomic(&p, &jpeg).map_err(|e| Error::io(&p, e))?;
            files.push(p);
            Some("sheet.jpg".to_string())
        } else {
            None
        };
        let report = KeyframesReport {
            source: self.source.clone(),
            complete,
            warnings: warnings.clone(),
            video,
            stats,
            keyframes,
            sheet,
        };
        Ok(Output {
            report: Box::new(report),
            files,
            warnings,
        })
    }

    fn abort(mut self: Box<Self>) {
        let _ = self.close();
        self.remove_written();
    }
}
