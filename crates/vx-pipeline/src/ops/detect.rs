//! `detect` and `faces`: an ONNX detector (TF OD API SSD, CenterFace, YOLO) on still images
//! and on video frames — key frames, one frame every S seconds, or the frames an earlier
//! stage kept (keyframes). Pictures come straight from the decoder: one libswscale pass to
//! the model's input size (no JPEG, no file), the same pixels whichever way the frames came.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use vx_infer::detect::{Detection, Detector};
use vx_media::still::Rgb;
use vx_media::MediaError;

use crate::frame::Frame;
use crate::op::{Emit, End, Flow, Input, Needs, Operation, Output};
use crate::{Error, Result};

/// A loaded detector, shared by every file (and operation instance) that uses it.
#[derive(Clone)]
pub struct SharedDetector {
    pub model: PathBuf,
    pub detector: Arc<Mutex<Detector>>,
    family: vx_infer::detect::Family,
}

impl SharedDetector {
    /// The threshold that really applies when `requested` is asked for: the model's own
    /// cut-off when that is higher (the SSD's graph keeps nothing below 0.3).
    pub fn applied_threshold(&self, requested: f32) -> f32 {
        let min = self.detector.lock().ok().and_then(|d| d.min_score());
        match min {
            Some(m) if m > requested => m,
            _ => requested,
        }
    }

    pub fn new(model: &Path, detector: Detector) -> SharedDetector {
        SharedDetector {
            model: model.to_path_buf(),
            family: detector.family(),
            detector: Arc::new(Mutex::new(detector)),
        }
    }
}

/// Settings of a detect / faces operation.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    /// Keep detections with at least this score.
    pub threshold: f32,
    /// Videos: one frame every S seconds instead of every keyframe.
    pub every: Option<f64>,
    /// Also write each picture with its boxes drawn, as JPEG, into this directory.
    pub annotate: Option<PathBuf>,
    /// Also write each picture with the detected boxes hidden (a mosaic), into this directory.
    pub blur: Option<PathBuf>,
    /// Videos: detect on every frame and write the video with the boxes hidden to this
    /// Matroska file (MJPEG at quality 90, the frames' own times; no audio).
    pub blur_video: Option<PathBuf>,
    /// Video frames per model call where the model allows several (SSD).
    pub batch: usize,
    /// `--debug`: save the exact pictures handed to the model here.
    pub debug_dir: Option<PathBuf>,
    /// Keep only detections of these class names (`--classes person,car`).
    pub classes: Option<Vec<String>>,
    /// Suppress overlapping boxes across classes (`--agnostic-nms`; see
    /// [`vx_infer::detect::Selection`]).
    pub agnostic_nms: bool,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            threshold: 0.5,
            every: None,
            annotate: None,
            blur: None,
            blur_video: None,
            batch: 4,
            debug_dir: None,
            classes: None,
            agnostic_nms: false,
        }
    }
}

/// Detections in one picture.
#[derive(Debug, Clone, Serialize)]
pub struct DetectResult {
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub source: PathBuf,
    /// Seconds on the file's timeline, for videos.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "vx_image::secs::ms_opt")]
    pub time: Option<f64>,
    /// The keyframe image this result is about (when keyframes ran before), relative to its
    /// directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframe: Option<String>,
    /// The annotated picture, with --annotate.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "vx_image::secs::lossy_path_opt")]
    pub annotated: Option<PathBuf>,
    /// The picture with the boxes hidden, with --blur.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "vx_image::secs::lossy_path_opt")]
    pub blurred: Option<PathBuf>,
    pub width: usize,
    pub height: usize,
    pub detections: Vec<Detection>,
}

/// `detections.json` / `faces.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DetectReport {
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub model: PathBuf,
    #[serde(serialize_with = "vx_image::secs::short_f32")]
    pub threshold: f32,
    /// Present (true) with `--agnostic-nms`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub agnostic_nms: bool,
    pub results: Vec<DetectResult>,
    /// False when an input was damaged or truncated, or failed (see warnings).
    pub complete: bool,
    pub warnings: Vec<String>,
}

struct Pending {
    frame: Frame,
    picture: Arc<Rgb>,
}

pub struct Detect {
    name: &'static str,
    shared: SharedDetector,
    opts: DetectOptions,
    source: PathBuf,
    still: bool,
    pending: Vec<Pending>,
    results: Vec<DetectResult>,
    files: Vec<PathBuf>,
    seen: usize,
    /// The blurred video being written (`blur_video`), opened at the first frame, with its
    /// picture size and the time of the last frame written.
    recorder: Option<Recorder>,
    /// The video's frame rate (from the probe), for frames without a time.
    frame_rate: f64,
}

struct Recorder {
    out: vx_media::frames::MjpegRecorder,
    jpeg: vx_image::jpeg::Encoder,
    size: (usize, usize),
    last: Option<f64>,
}

impl Detect {
    /// `name`: "detect" or "faces".
    pub fn new(name: &'static str, shared: SharedDetector, opts: DetectOptions) -> Detect {
        Detect {
            name,
            shared,
            opts,
            source: PathBuf::new(),
            still: false,
            pending: Vec::new(),
            results: Vec::new(),
            files: Vec::new(),
            seen: 0,
            recorder: None,
            frame_rate: 25.0,
        }
    }

    /// What the detector reports: the classes asked for, filtered before the agnostic NMS.
    fn selection(&self) -> vx_infer::detect::Selection {
        vx_infer::detect::Selection {
            agnostic: self.opts.agnostic_nms,
            classes: self.opts.classes.clone(),
        }
    }

    fn convert_err(&self, frame: &Frame, reason: String) -> Error {
        Error::Media(MediaError::Convert {
            path: self.source.clone(),
            from: frame.pixel_format(),
            reason,
        })
    }

    /// Run the model on the waiting frames (one call where the model allows it).
    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let source = pending[0].frame.size();
        let (pw, ph) = (pending[0].picture.width, pending[0].picture.height);
        let pictures: Vec<&[u8]> = pending.iter().map(|p| &p.picture.data[..]).collect();
        let found = {
            let mut det = self
                .shared
                .detector
                .lock()
                .map_err(|_| Error::failed(&self.shared.model, "detector poisoned"))?;
            det.select(&self.selection());
            det.detect_frames(&pictures, pw, ph, source, self.opts.threshold)?
        };
        for (p, detections) in pending.into_iter().zip(found) {
            let annotated = self.annotate(&p.frame, &detections)?;
            let blurred = self.blur(&p.frame, &detections)?;
            self.record(&p.frame, &detections)?;
            self.results.push(DetectResult {
                source: self.source.clone(),
                time: p.frame.time,
                keyframe: p.frame.tag.as_deref().map(str::to_string),
                annotated,
                blurred,
                width: source.0,
                height: source.1,
                detections,
            });
        }
        Ok(())
    }

    /// The frame at its own size with every detected box hidden by a mosaic.
    fn mosaic(&self, frame: &Frame, detections: &[Detection]) -> Result<Rgb> {
        let full = frame.rgb(None).map_err(|r| self.convert_err(frame, r))?;
        let mut img = (*full).clone();
        for d in detections {
            let b = &d.bbox;
            vx_image::draw::mosaic(&mut img.data, img.width, img.height, b.x, b.y, b.w, b.h);
        }
        Ok(img)
    }

    /// Append the frame, boxes hidden, to the blurred video (`blur_video`).
    fn record(&mut self, frame: &Frame, detections: &[Detection]) -> Result<()> {
        let Some(path) = self.opts.blur_video.clone() else {
            return Ok(());
        };
        let img = self.mosaic(frame, detections)?;
        if self.recorder.is_none() {
            self.recorder = Some(Recorder {
                out: vx_media::frames::MjpegRecorder::create(
                    &path,
                    img.width as u32,
                    img.height as u32,
                )?
                .with_frame_duration(1.0 / self.frame_rate),
                jpeg: vx_image::jpeg::Encoder::new(90).map_err(|e| Error::failed(&path, e))?,
                size: (img.width, img.height),
                last: None,
            });
        }
        let step = 1.0 / self.frame_rate;
        let source = self.source.clone();
        if let Some(r) = self.recorder.as_mut() {
            // One picture size per video stream: a file whose size changes midway is refused
            // rather than written as a stream that says one size and holds others.
            if (img.width, img.height) != r.size {
                return Err(Error::failed(
                    &source,
                    format!(
                        "the picture size changes from {}x{} to {}x{} at {:.3} s: a blurred video keeps one size",
                        r.size.0,
                        r.size.1,
                        img.width,
                        img.height,
                        frame.time.unwrap_or(0.0)
                    ),
                ));
            }
            let jpeg = r
                .jpeg
                .jpeg_rgb(&img.data, img.width, img.height)
                .map_err(|e| Error::failed(&path, e))?;
            // A frame without a time comes one frame after the last.
            let t = frame
                .time
                .unwrap_or_else(|| r.last.map_or(0.0, |l| l + step));
            r.last = Some(t);
            r.out.write_at(&jpeg, t)?;
        }
        Ok(())
    }

    fn blur(&mut self, frame: &Frame, detections: &[Detection]) -> Result<Option<PathBuf>> {
        let Some(dir) = self.opts.blur.clone() else {
            return Ok(None);
        };
        let img = self.mosaic(frame, detections)?;
        let time = (!self.still).then_some(frame.time).flatten();
        let p = write_picture(&dir, &self.source, time, &img, &self.files)?;
        self.files.push(p.clone());
        Ok(Some(p))
    }

    fn annotate(&mut self, frame: &Frame, detections: &[Detection]) -> Result<Option<PathBuf>> {
        let Some(dir) = self.opts.annotate.clone() else {
            return Ok(None);
        };
        let full = frame.rgb(None).map_err(|r| self.convert_err(frame, r))?;
        let time = (!self.still).then_some(frame.time).flatten();
        let p = annotate(
            &dir,
            &self.source,
            time,
            (*full).clone(),
            detections,
            &self.files,
        )?;
        self.files.push(p.clone());
        Ok(Some(p))
    }

    fn save_debug(&self, frame: &Frame, rgb: &Rgb) -> Result<()> {
        let Some(dir) = &self.opts.debug_dir else {
            return Ok(());
        };
        crate::op::ensure_dir(dir)?;
        let name = format!(
            "{}-{:06}-{}ms.jpg",
            self.name,
            self.seen,
            frame.time.map_or(0, |t| (t * 1000.0).round() as i64)
        );
        let path = dir.join(name);
        let jpeg = vx_image::jpeg::Encoder::new(95)
            .and_then(|mut e| e.jpeg_rgb(&rgb.data, rgb.width, rgb.height))
            .map_err(|e| Error::failed(&path, e))?;
        vx_image::fsutil::write_atomic(&path, &jpeg).map_err(|e| Error::io(&path, e))
    }
}

impl Operation for Detect {
    fn name(&self) -> &'static str {
        self.name
    }

    fn needs(&mut self, input: &Input) -> Needs {
        self.source = input.path.clone();
        self.still = input.still;
        if self.opts.blur_video.is_some() && !input.still {
            self.frame_rate = input
                .probe
                .as_ref()
                .and_then(|p| p["streams"].as_array())
                .and_then(|s| {
                    s.iter()
                        .find(|s| s["type"] == "video")
                        .and_then(|v| v["frame_rate"].as_f64())
                })
                .filter(|r| r.is_finite() && *r >= 1.0 && *r <= 1000.0)
                .unwrap_or(25.0);
            // A blurred video hides the boxes in every frame.
            return Needs {
                video: Some(crate::op::Select::All),
                audio: None,
                subtitles: false,
            };
        }
        super::picture_needs(input, self.opts.every)
    }

    fn video(&mut self, frame: &Frame, _: &mut dyn Emit) -> Result<Flow> {
        self.seen += 1;
        let size = frame.size();
        let target = vx_infer::detect::picture_size(self.shared.family, size, self.still);
        if self.still && self.opts.blur_video.is_some() {
            return Err(Error::failed(
                &self.source,
                "a blurred video (--blur OUT.mkv) needs a video input, not a picture",
            ));
        }
        if self.still {
            // A picture: its own size (the model scales it itself) unless it is too large.
            let rgb = frame.rgb(target).map_err(|r| self.convert_err(frame, r))?;
            self.save_debug(frame, &rgb)?;
            let detections = {
                let mut det = self
                    .shared
                    .detector
                    .lock()
                    .map_err(|_| Error::failed(&self.shared.model, "detector poisoned"))?;
                det.select(&self.selection());
                det.detect_scaled(&rgb.data, rgb.width, rgb.height, size, self.opts.threshold)?
            };
            let annotated = self.annotate(frame, &detections)?;
            let blurred = self.blur(frame, &detections)?;
            self.results.push(DetectResult {
                source: self.source.clone(),
                time: None,
                // The keyframe image of the picture when keyframes ran before (as for videos
                // and as ocr does: the index draws the boxes on it).
                keyframe: frame.tag.as_deref().map(str::to_string),
                annotated,
                blurred,
                width: size.0,
                height: size.1,
                detections,
            });
            return Ok(Flow::Stop);
        }
        let picture = frame.rgb(target).map_err(|r| self.convert_err(frame, r))?;
        self.save_debug(frame, &picture)?;
        // One model call takes pictures of one size: a video whose size changes midway (a
        // joined stream) has the frames before the change run first.
        if self.pending.first().is_some_and(|p| {
            (p.picture.width, p.picture.height) != (picture.width, picture.height)
                || p.frame.size() != frame.size()
        }) {
            self.flush()?;
        }
        self.pending.push(Pending {
            frame: frame.clone(),
            picture,
        });
        if self.pending.len() >= self.opts.batch.max(1) {
            self.flush()?;
        }
        Ok(Flow::Continue)
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        self.flush()?;
        if let Some(r) = self.recorder.take() {
            r.out.finish()?;
            if let Some(p) = &self.opts.blur_video {
                self.files.push(p.clone());
            }
        }
        // Nothing handed on (no keyframe in the range, nothing from the stage before): an
        // empty result that says why; otherwise no frame at all is a failure.
        let keyed = !self.still && self.opts.every.is_none() && self.opts.blur_video.is_none();
        let idle = end.idle(self.seen, keyed, &self.source)?;
        let mut warnings = if self.still {
            Vec::new()
        } else {
            end.video_warnings.clone()
        };
        let complete = warnings.is_empty();
        warnings.extend(idle);
        let report = DetectReport {
            model: self.shared.model.clone(),
            threshold: self.opts.threshold,
            agnostic_nms: self.opts.agnostic_nms,
            results: std::mem::take(&mut self.results),
            complete,
            warnings: warnings.clone(),
        };
        Ok(Output {
            report: Box::new(report),
            files: std::mem::take(&mut self.files),
            warnings,
        })
    }
}

/// Draw `detections` on `img` and write it as DIR/<input stem>-<path hash>[-<ms>ms].jpg
/// (atomically): two inputs of the same name in different folders get different images;
/// `taken`: the files this run wrote already (see [`write_picture`]).
pub fn annotate(
    dir: &Path,
    input: &Path,
    time: Option<f64>,
    mut img: Rgb,
    detections: &[Detection],
    taken: &[PathBuf],
) -> Result<PathBuf> {
    use vx_image::draw::{annotate, color_for, Mark};
    let marks: Vec<Mark> = detections
        .iter()
        .map(|d| Mark {
            x: d.bbox.x,
            y: d.bbox.y,
            w: d.bbox.w,
            h: d.bbox.h,
            caption: format!("{} {:.2}", d.label, d.score),
            color: color_for(d.class_id),
            points: d.landmarks.clone().unwrap_or_default(),
        })
        .collect();
    annotate(&mut img.data, img.width, img.height, &marks);
    write_picture(dir, input, time, &img, taken)
}

/// Write `img` as DIR/<input stem>-<path hash>[-<ms>ms].jpg (atomically). A name in `taken`
/// (the files the operation wrote already: two frames less than 1 ms apart, or with the same
/// time in a damaged file) gets `-2`, `-3`... before `.jpg`, so no picture replaces another.
pub(crate) fn write_picture(
    dir: &Path,
    input: &Path,
    time: Option<f64>,
    img: &Rgb,
    taken: &[PathBuf],
) -> Result<PathBuf> {
    crate::op::ensure_dir(dir)?;
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let hash = crate::result::path_hash(input);
    let base = match time {
        Some(t) => format!("{stem}-{hash:08x}-{:08}ms", (t * 1000.0).round() as i64),
        None => format!("{stem}-{hash:08x}"),
    };
    let mut path = dir.join(format!("{base}.jpg"));
    let mut n = 1;
    while taken.contains(&path) {
        n += 1;
        path = dir.join(format!("{base}-{n}.jpg"));
    }
    let jpeg = vx_image::jpeg::Encoder::new(90)
        .and_then(|mut e| e.jpeg_rgb(&img.data, img.width, img.height))
        .map_err(|e| Error::failed(&path, e))?;
    vx_image::fsutil::write_atomic(&path, &jpeg).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}
