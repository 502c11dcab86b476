//! `ocr`: the text shown in still images and video frames (PP-OCRv4 through
//! [`vx_infer::ocr`]) — on key frames, one frame every S seconds, or the frames an earlier
//! stage kept (keyframes). Each picture goes to the model at its own size, upright, straight
//! from the decoder; lines come back in reading order with their four corners in the
//! picture's pixels.
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

use serde::Serialize;
use vx_infer::ocr::{Ocr, TextLine};
use vx_media::still::Rgb;
use vx_media::MediaError;

use crate::frame::Frame;
use crate::op::{Emit, End, Flow, Input, Needs, Operation, Output};
use crate::{Error, Result};

/// Loaded OCR models, shared by every file (and operation instance) that uses them: a pool
/// of up to `max` copies, so that several pictures are read at once (on two cores, two
/// pictures with one thread each go 1.6x as fast as one picture at a time with two threads:
/// BENCHMARKS.md). Copies after the first are loaded when a second picture is waiting.
#[derive(Clone)]
pub struct SharedOcr {
    pub models: OcrModels,
    pub text_score: f32,
    pool: Arc<Pool>,
}

type Make = Box<dyn Fn() -> vx_infer::Result<Ocr> + Send + Sync>;

struct Pool {
    make: Make,
    /// Copies not in use, and how many exist.
    free: Mutex<(Vec<Ocr>, usize)>,
    returned: Condvar,
    max: usize,
}

/// A copy taken from the pool; it goes back when dropped.
pub struct Lease {
    pool: Arc<Pool>,
    ocr: Option<Ocr>,
}

impl Lease {
    /// Read one packed RGB24 picture.
    pub fn read(&mut self, rgb: &[u8], width: usize, height: usize) -> Result<Vec<TextLine>> {
        match self.ocr.as_mut() {
            Some(o) => Ok(o.read(rgb, width, height)?.lines),
            None => Err(Error::Message("no OCR models".into())),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(o) = self.ocr.take() {
            if let Ok(mut f) = self.pool.free.lock() {
                f.0.push(o);
            }
            self.pool.returned.notify_one();
        }
    }
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
    /// `first`: a loaded copy; `make` loads another, up to `max` in all.
    pub fn new(
        first: Ocr,
        max: usize,
        make: impl Fn() -> vx_infer::Result<Ocr> + Send + Sync + 'static,
    ) -> SharedOcr {
        let (det, cls, rec) = first.models();
        SharedOcr {
            models: OcrModels {
                det: det.into(),
                cls: cls.map(Into::into),
                rec: rec.into(),
            },
            text_score: first.opts.text_score,
            pool: Arc::new(Pool {
                make: Box::new(make),
                free: Mutex::new((vec![first], 1)),
                returned: Condvar::new(),
                max: max.max(1),
            }),
        }
    }

    /// How many pictures can be read at once.
    pub fn parallel(&self) -> usize {
        self.pool.max
    }

    /// A free copy of the models (waits for one; loads another while fewer than `max` exist).
    pub fn lease(&self) -> Result<Lease> {
        let pool = &self.pool;
        let poisoned = || Error::failed(&self.models.det, "OCR models poisoned");
        let mut free = pool.free.lock().map_err(|_| poisoned())?;
        loop {
            if let Some(o) = free.0.pop() {
                return Ok(Lease {
                    pool: pool.clone(),
                    ocr: Some(o),
                });
            }
            if free.1 < pool.max {
                free.1 += 1;
                drop(free);
                match (pool.make)() {
                    Ok(o) => {
                        return Ok(Lease {
                            pool: pool.clone(),
                            ocr: Some(o),
                        })
                    }
                    Err(e) => {
                        let mut f = pool.free.lock().map_err(|_| poisoned())?;
                        f.1 -= 1;
                        // Another copy could not be loaded (memory...): wait for one of the
                        // copies that exist instead of failing, and let no waiter sleep on.
                        pool.returned.notify_all();
                        if f.1 == 0 {
                            return Err(e.into());
                        }
                        free = f;
                        continue;
                    }
                }
            }
            free = pool.returned.wait(free).map_err(|_| poisoned())?;
        }
    }

    /// Read one packed RGB24 picture with a free copy of the models.
    pub fn read(&self, rgb: &[u8], width: usize, height: usize) -> Result<Vec<TextLine>> {
        self.lease()?.read(rgb, width, height)
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

/// A video frame being read on a thread of its own.
struct InFlight {
    frame: Frame,
    rgb: Arc<Rgb>,
    job: std::thread::JoinHandle<Result<Vec<TextLine>>>,
}

pub struct OcrOp {
    shared: SharedOcr,
    opts: OcrOptions,
    source: PathBuf,
    still: bool,
    results: Vec<OcrResult>,
    files: Vec<PathBuf>,
    seen: usize,
    /// Pictures that could not be read (too thin): the message, how many, the first and last
    /// time; said once in the report however many frames.
    thin: Option<(String, usize, Option<f64>, Option<f64>)>,
    /// Frames being read, oldest first (results are taken in this order).
    in_flight: std::collections::VecDeque<InFlight>,
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
            thin: None,
            in_flight: Default::default(),
        }
    }

    /// Record the lines of `frame`.
    fn done(&mut self, frame: &Frame, rgb: &Rgb, lines: Vec<TextLine>) -> Result<()> {
        let annotated = self.annotate(frame, rgb, &lines)?;
        self.results.push(OcrResult {
            source: self.source.clone(),
            time: if self.still { None } else { frame.time },
            keyframe: frame.tag.as_deref().map(str::to_string),
            annotated,
            width: rgb.width,
            height: rgb.height,
            lines,
        });
        Ok(())
    }

    /// Wait for the oldest frame being read.
    fn collect_one(&mut self) -> Result<()> {
        let Some(f) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let read = f
            .job
            .join()
            .map_err(|_| Error::failed(&self.source, "OCR thread panicked"))?;
        let lines = self.readable(read, f.frame.time)?;
        self.done(&f.frame, &f.rgb, lines)
    }

    /// A picture too thin to read (a 16x2000 strip) has no text to give: no lines and a
    /// warning naming the input (and the frame's time), not the end of the operation.
    fn readable(
        &mut self,
        read: Result<Vec<TextLine>>,
        time: Option<f64>,
    ) -> Result<Vec<TextLine>> {
        match read {
            Err(Error::Infer(e @ vx_infer::InferError::TooThin { .. })) => {
                let t = self.thin.get_or_insert((e.to_string(), 0, time, time));
                t.1 += 1;
                t.3 = time;
                Ok(Vec::new())
            }
            r => r,
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
        let p = super::detect::write_picture(&dir, &self.source, time, &img, &self.files)?;
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
        super::picture_needs(input, self.opts.every)
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
        if self.still {
            let read = self.shared.read(&rgb.data, rgb.width, rgb.height);
            let lines = self.readable(read, None)?;
            self.done(frame, &rgb, lines)?;
            return Ok(Flow::Stop);
        }
        // Video frames: up to one per copy of the models at once, while decoding goes on.
        while self.in_flight.len() >= self.shared.parallel() {
            self.collect_one()?;
        }
        // A copy of the models first: decoding waits here while every copy is busy, so that
        // no more frames are held than copies can read, whatever number of inputs share them.
        let mut lease = self.shared.lease()?;
        let picture = rgb.clone();
        let job = std::thread::Builder::new()
            .name("vx-ocr".into())
            .spawn(move || lease.read(&picture.data, picture.width, picture.height))
            .map_err(|e| Error::io(&self.source, e))?;
        self.in_flight.push_back(InFlight {
            frame: frame.clone(),
            rgb,
            job,
        });
        Ok(Flow::Continue)
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        while !self.in_flight.is_empty() {
            if let Err(e) = self.collect_one() {
                // No reading goes on after the file is done.
                for f in self.in_flight.drain(..) {
                    let _ = f.job.join();
                }
                return Err(e);
            }
        }
        // As detect: nothing handed on is an empty result that says why.
        let keyed = !self.still && self.opts.every.is_none();
        let idle = end.idle(self.seen, keyed, &self.source)?;
        let mut warnings = if self.still {
            Vec::new()
        } else {
            end.video_warnings.clone()
        };
        let complete = warnings.is_empty();
        warnings.extend(idle);
        if let Some((e, n, first, last)) = self.thin.take() {
            let at = match (n, first, last) {
                (1, Some(t), _) => format!(" at {t:.3} s"),
                (_, Some(a), Some(b)) => format!(" ({n} frames, {a:.3} to {b:.3} s)"),
                _ => String::new(),
            };
            warnings.push(format!("{}{at}: {e}: no text read", self.source.display()));
        }
        let report = OcrReport {
            model: self.shared.models.clone(),
            text_score: self.shared.text_score,
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

    fn abort(mut self: Box<Self>) {
        // No reading goes on after the run.
        for f in self.in_flight.drain(..) {
            let _ = f.job.join();
        }
    }
}
