//! `ocr`: the text shown in still images and video frames (PP-OCRv4 through
//! [`vx_infer::ocr`]) — on key frames, one frame every S seconds, or the frames an earlier
//! stage kept (keyframes). Each picture goes to the model at its own size, upright, straight
//! from the decoder; lines come back in reading order with their four corners in the
//! picture's pixels.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use vx_infer::ocr::{Ocr, TextLine};
use vx_media::MediaError;

use crate::frame::Frame;
use crate::op::{Emit, End, Flow, Input, Needs, Operation, Output, Select};
use crate::{Error, Result};

/// The loaded models, shared by every file (and operation instance) that uses them.
#[derive(Clone)]
pub struct SharedOcr {
    pub models: OcrModels,
    pub ocr: Arc<Mutex<Ocr>>,
}

/// The model files, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct OcrModels {
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub det: PathBuf,
    #[serde(serialize_with = "vx_image::secs::lossy_path_opt")]
    pub cls: Option<PathBuf>,
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub rec: PathBuf,
}

impl SharedOcr {
    pub fn new(ocr: Ocr) -> SharedOcr {
        let (det, cls, rec) = ocr.models();
        SharedOcr {
            models: OcrModels {
                det: det.into(),
                cls: cls.map(Into::into),
                rec: rec.into(),
            },
            ocr: Arc::new(Mutex::new(ocr)),
        }
    }
}

/// Settings of an ocr operation.
#[derive(Debug, Clone, Default)]
pub struct OcrOptions {
    /// Videos: one frame every S seconds instead of every keyframe.
    pub every: Option<f64>,
    /// Also write each picture with its lines drawn, as JPEG, into this directory.
    pub annotate: Option<PathBuf>,
}

/// The lines of one picture.
#[derive(Debug, Clone, Serialize)]
pub struct OcrResult {
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
    pub width: usize,
    pub height: usize,
    /// Lines in reading order.
    pub lines: Vec<TextLine>,
}

/// `ocr.json`.
#[derive(Debug, Clone, Serialize)]
pub struct OcrReport {
    pub model: OcrModels,
    /// Lines read with a lower score are dropped.
    pub text_score: f32,
    pub results: Vec<OcrResult>,
    /// False when an input was damaged or truncated, or failed (see warnings).
    pub complete: bool,
    pub warnings: Vec<String>,
}

pub struct OcrOp {
    shared: SharedOcr,
    opts: OcrOptions,
    source: PathBuf,
    still: bool,
    results: Vec<OcrResult>,
    files: Vec<PathBuf>,
    seen: usize,
}

impl OcrOp {
    pub fn new(shared: SharedOcr, opts: OcrOptions) -> OcrOp {
        OcrOp {
            shared,
            opts,
            source: PathBuf::new(),
            still: false,
            results: Vec::new(),
            files: Vec::new(),
            seen: 0,
        }
    }

    fn annotate(
        &mut self,
        frame: &Frame,
        img: &vx_media::still::Rgb,
        lines: &[TextLine],
    ) -> Result<Option<PathBuf>> {
        let Some(dir) = self.opts.annotate.clone() else {
            return Ok(None);
        };
        use vx_image::draw::{annotate, Mark};
        let marks: Vec<Mark> = lines
            .iter()
            .map(|l| {
                let xs = l.quad.map(|p| p[0]);
                let ys = l.quad.map(|p| p[1]);
                let x0 = xs.iter().copied().fold(f32::MAX, f32::min);
                let y0 = ys.iter().copied().fold(f32::MAX, f32::min);
                let x1 = xs.iter().copied().fold(f32::MIN, f32::max);
                let y1 = ys.iter().copied().fold(f32::MIN, f32::max);
                Mark {
                    x: x0,
                    y: y0,
                    w: x1 - x0,
                    h: y1 - y0,
                    caption: l.text.clone(),
                    color: [255, 64, 0],
                    points: l.quad.to_vec(),
                }
            })
            .collect();
        let mut img = img.clone();
        annotate(&mut img.data, img.width, img.height, &marks);
        let time = (!self.still).then_some(frame.time).flatten();
        let p = super::detect::write_picture(&dir, &self.source, time, &img)?;
        self.files.push(p.clone());
        Ok(Some(p))
    }
}

impl Operation for OcrOp {
    fn name(&self) -> &'static str {
        "ocr"
    }

    fn needs(&mut self, input: &Input) -> Needs {
        self.source = input.path.clone();
        self.still = input.still;
        let select = if input.still {
            Select::All
        } else {
            match self.opts.every {
                Some(s) => Select::Every(s),
                None => Select::Key,
            }
        };
        Needs {
            video: Some(select),
            audio: None,
        }
    }

    fn video(&mut self, frame: &Frame, _: &mut dyn Emit) -> Result<Flow> {
        self.seen += 1;
        let rgb = frame.rgb(None).map_err(|reason| {
            Error::Media(MediaError::Convert {
                path: self.source.clone(),
                from: frame.pixel_format(),
                reason,
            })
        })?;
        let reading = {
            let mut ocr = self
                .shared
                .ocr
                .lock()
                .map_err(|_| Error::failed(&self.shared.models.det, "OCR models poisoned"))?;
            ocr.read(&rgb.data, rgb.width, rgb.height)?
        };
        let annotated = self.annotate(frame, &rgb, &reading.lines)?;
        self.results.push(OcrResult {
            source: self.source.clone(),
            time: if self.still { None } else { frame.time },
            keyframe: frame.tag.as_deref().map(str::to_string),
            annotated,
            width: rgb.width,
            height: rgb.height,
            lines: reading.lines,
        });
        Ok(if self.still {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        if self.seen == 0 {
            return Err(MediaError::NoFrames {
                path: self.source.clone(),
                detail: end.no_frame_detail.clone(),
            }
            .into());
        }
        let warnings = if self.still {
            Vec::new()
        } else {
            end.video_warnings.clone()
        };
        let text_score = self
            .shared
            .ocr
            .lock()
            .map(|o| o.opts.text_score)
            .unwrap_or(0.5);
        let report = OcrReport {
            model: self.shared.models.clone(),
            text_score,
            results: std::mem::take(&mut self.results),
            complete: warnings.is_empty(),
            warnings: warnings.clone(),
        };
        Ok(Output {
            report: Box::new(report),
            files: std::mem::take(&mut self.files),
            warnings,
        })
    }
}
