//! On-screen text: PaddleOCR's PP-OCRv4 pipeline as RapidOCR 1.4.4 runs it with its default
//! settings (PROVENANCE.md §8) — DB text detection, the 0/180° direction classifier, the CTC
//! recogniser with the character table stored in the recogniser's own metadata. [`Ocr::read`]
//! takes an RGB picture and returns its lines in reading order, each with its text, score and
//! four corners in the picture's pixels.
//!
//! Every step follows RapidOCR's (sizes, rounding, batching), so the texts are the same; the
//! resampling and contour steps are vx's own, so boxes can differ from RapidOCR's by a pixel.
pub mod geom;
pub mod warp;

use std::path::{Path, PathBuf};

use ort::session::Session;
use serde::Serialize;

use crate::runtime::{session, SessionOptions};
use crate::{InferError, Result};
use geom::Pt;
use warp::Img;

/// The three models' file names as RapidOCR ships them (looked for beside each other).
pub const DET_MODEL: &str = "ch_PP-OCRv4_det_infer.onnx";
pub const CLS_MODEL: &str = "ch_ppocr_mobile_v2.0_cls_infer.onnx";
pub const REC_MODEL: &str = "ch_PP-OCRv4_rec_infer.onnx";
/// The recogniser's character table written out, for a recogniser without it in metadata.
pub const REC_KEYS: &str = "ch_PP-OCRv4_rec_keys.txt";

/// Settings; the defaults are RapidOCR's config.yaml.
#[derive(Debug, Clone, Copy)]
pub struct OcrOptions {
    /// Lines whose recognition score is under this are dropped (`text_score`).
    pub text_score: f32,
    /// Text probability threshold of the detector's map (`thresh`).
    pub thresh: f32,
    /// Boxes whose mean probability is under this are dropped (`box_thresh`).
    pub box_thresh: f32,
    /// How far boxes are grown (`unclip_ratio`).
    pub unclip_ratio: f64,
    /// Run the direction classifier (when its model is there).
    pub classify: bool,
}

impl Default for OcrOptions {
    fn default() -> Self {
        OcrOptions {
            text_score: 0.5,
            thresh: 0.3,
            box_thresh: 0.5,
            unclip_ratio: 1.6,
            classify: true,
        }
    }
}

/// One line of text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextLine {
    pub text: String,
    pub score: f32,
    /// Corners in pixels of the picture, in its orientation: the one nearest its top-left
    /// first, then clockwise.
    #[serde(rename = "box")]
    pub quad: [[f32; 2]; 4],
}

/// Every box the detector found, with what the classifier and recogniser made of it (also
/// those later dropped for their score), for tests and `--debug`.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub line: TextLine,
    /// The classifier turned the crop by 180°.
    pub turned: bool,
    /// The classifier's score for its label.
    pub direction_score: f32,
    pub kept: bool,
}

/// What [`Ocr::read`] found in one picture.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// Lines kept, in reading order.
    pub lines: Vec<TextLine>,
    pub candidates: Vec<Candidate>,
    /// The detector's input size (width, height).
    pub det_input: (usize, usize),
}

const MAX_SIDE: usize = 2000;
const MIN_SIDE: usize = 30;
const LIMIT_SIDE: usize = 736;
const MIN_HEIGHT: usize = 30;
const MAX_RATIO: f64 = 8.0;
const MAX_CANDIDATES: usize = 1000;
const BATCH: usize = 6;
const CLS_W: usize = 192;
const REC_W: usize = 320;
const LINE_H: usize = 48;
/// The most pixels the OCR steps may make of a picture (after the side rules and the black
/// bands; the detector's input too). A normal picture stays far under it (a 4K frame: 2.2 MP;
/// ocr_plain.png's detector input: 2.2 MP), but the rules enlarge a thin picture without
/// limit: 2000x1 would become 60000x15000.
pub const MAX_OCR_PIXELS: usize = 4096 * 4096;
/// At most this many tensor columns in one recogniser call (six crops 100 times as wide as
/// high): an extreme line then goes in a batch of its own instead of inflating five others.
const REC_COLUMNS: usize = BATCH * LINE_H * 100;

/// Text boxes (corners in reading order) and the detector's input size.
type Boxes = (Vec<[Pt; 4]>, (usize, usize));

/// The three sessions and the character table.
pub struct Ocr {
    det: Session,
    cls: Option<Session>,
    rec: Session,
    det_path: PathBuf,
    cls_path: Option<PathBuf>,
    rec_path: PathBuf,
    /// Class k (1..) of the recogniser is `keys[k - 1]`; 0 is the CTC blank.
    keys: Vec<String>,
    pub opts: OcrOptions,
}

/// Python's `round` (and NumPy's): halves go to the even neighbour.
fn round_even(v: f64) -> f64 {
    v.round_ties_even()
}

fn one_input(path: &Path, s: &Session, name: &str) -> Result<()> {
    if s.inputs().len() != 1 || s.outputs().len() != 1 {
        return Err(InferError::Signature {
            path: path.into(),
            reason: format!("expected one input and one output ({name})"),
        });
    }
    Ok(())
}

impl Ocr {
    /// Load the detector, the optional direction classifier and the recogniser. The
    /// character table comes from the recogniser's metadata (`character`), or from
    /// `ch_PP-OCRv4_rec_keys.txt` beside it.
    pub fn open(
        det: &Path,
        cls: Option<&Path>,
        rec: &Path,
        opts: SessionOptions,
        ocr: OcrOptions,
    ) -> Result<Ocr> {
        // The three sessions are made side by side (graph optimisation is most of the load).
        let (det_s, cls_s, rec_s) = std::thread::scope(|scope| {
            let d = scope.spawn(|| session(det, opts));
            let c = scope.spawn(|| cls.map(|p| session(p, opts)).transpose());
            let r = session(rec, opts);
            let panicked = || InferError::Model {
                path: det.into(),
                reason: "loading panicked".into(),
            };
            let d = d.join().unwrap_or_else(|_| Err(panicked()));
            let c = c.join().unwrap_or_else(|_| Err(panicked()));
            (d, c, r)
        });
        let (det_s, cls_s, rec_s) = (det_s?, cls_s?, rec_s?);
        one_input(det, &det_s, "the DB text detector")?;
        if let (Some(p), Some(s)) = (cls, &cls_s) {
            one_input(p, s, "the text direction classifier")?;
        }
        one_input(rec, &rec_s, "the CTC text recogniser")?;
        // Its output is [pictures, time steps, characters] (the detector's is a 4-D map: given
        // as --rec-model it passed, then failed on every picture with ONNX Runtime's errors).
        if !matches!(rec_s.outputs()[0].dtype(), ort::value::ValueType::Tensor { shape, .. } if shape.len() == 3)
        {
            return Err(InferError::Signature {
                path: rec.into(),
                reason:
                    "not a CTC text recogniser (its output should be [pictures, steps, characters])"
                        .into(),
            });
        }
        let table = rec_s.metadata().ok().and_then(|m| m.custom("character"));
        let table = match table {
            Some(t) => t,
            None => {
                let keys = rec.with_file_name(REC_KEYS);
                std::fs::read_to_string(&keys).map_err(|e| InferError::Signature {
                    path: rec.into(),
                    reason: format!(
                        "no character table in its metadata, and {}: {e}",
                        keys.display()
                    ),
                })?
            }
        };
        let keys: Vec<String> = table.lines().map(str::to_string).collect();
        if keys.is_empty() {
            return Err(InferError::Signature {
                path: rec.into(),
                reason: "empty character table".into(),
            });
        }
        Ok(Ocr {
            det: det_s,
            cls: cls_s,
            rec: rec_s,
            det_path: det.into(),
            cls_path: cls.map(Path::to_path_buf),
            rec_path: rec.into(),
            keys,
            opts: ocr,
        })
    }

    /// The error for a picture of `width` x `height` (the input's size, whichever step found
    /// it too thin).
    fn too_thin(&self, width: usize, height: usize) -> InferError {
        InferError::TooThin {
            width,
            height,
            limit: MAX_OCR_PIXELS,
        }
    }

    /// The model files, for reports: detector, classifier, recogniser.
    pub fn models(&self) -> (&Path, Option<&Path>, &Path) {
        (&self.det_path, self.cls_path.as_deref(), &self.rec_path)
    }

    /// Read the text of a packed RGB24 picture.
    pub fn read(&mut self, rgb: &[u8], width: usize, height: usize) -> Result<Reading> {
        crate::runtime::check_rgb(&self.det_path, rgb, width, height)?;
        let raw = Img {
            width,
            height,
            data: rgb.to_vec(),
        };
        // Step 2: long side at most 2000, short side at least 30 (sides multiples of 32).
        let (mut img, mut rx, mut ry) = (raw, 1.0f64, 1.0f64);
        for (limit, shrink) in [(MAX_SIDE, true), (MIN_SIDE, false)] {
            let (w, h) = (img.width, img.height);
            let side = if shrink { w.max(h) } else { w.min(h) };
            let needed = if shrink { side > limit } else { side < limit };
            if !needed {
                continue;
            }
            let r = limit as f64 / side as f64;
            let nw = (round_even((w as f64 * r).trunc() / 32.0) * 32.0) as usize;
            let nh = (round_even((h as f64 * r).trunc() / 32.0) * 32.0) as usize;
            if nw == 0 || nh == 0 {
                return Ok(Reading::default());
            }
            if nw.saturating_mul(nh) > MAX_OCR_PIXELS {
                return Err(self.too_thin(width, height));
            }
            img = warp::resize(&img, nw, nh);
            rx *= w as f64 / nw as f64;
            ry *= h as f64 / nh as f64;
        }
        // Step 3: a black band above and below a very low or very wide picture.
        let mut top = 0usize;
        if img.height <= MIN_HEIGHT || img.width as f64 / img.height as f64 > MAX_RATIO {
            let new_h = ((img.width as f64 / MAX_RATIO) as usize).max(MIN_HEIGHT) * 2;
            top = new_h.abs_diff(img.height) / 2;
            let padded_h = img.height.saturating_add(2 * top);
            if img.width.saturating_mul(padded_h) > MAX_OCR_PIXELS {
                return Err(self.too_thin(width, height));
            }
            let mut padded = Img::new(img.width, img.height + 2 * top);
            padded.data[top * img.width * 3..(top + img.height) * img.width * 3]
                .copy_from_slice(&img.data);
            img = padded;
        }
        let (quads, det_input) = self.detect(&img).map_err(|e| match e {
            InferError::TooThin { .. } => self.too_thin(width, height),
            e => e,
        })?;
        let mut crops: Vec<Img> = quads
            .iter()
            .map(|q| {
                let d = geom::dist;
                let cw = d(q[0], q[1]).max(d(q[2], q[3])) as usize;
                let ch = d(q[0], q[3]).max(d(q[1], q[2])) as usize;
                let c = warp::warp_quad(&img, q, cw.max(1), ch.max(1));
                if c.height as f64 / c.width as f64 >= 1.5 {
                    warp::rot90(&c)
                } else {
                    c
                }
            })
            .collect();
        let directions = self.classify(&mut crops)?;
        let texts = self.recognize(&crops)?;
        let mut reading = Reading {
            det_input,
            ..Reading::default()
        };
        for ((q, (text, score)), (turned, dscore)) in quads.iter().zip(texts).zip(directions) {
            // Never -0.0 in the JSON (a box on the picture's top edge gave [0.0, -0.0]).
            let plus = |v: f64| if v == 0.0 { 0.0 } else { v as f32 };
            let corner = |p: &Pt| {
                let x = (p.x * rx).clamp(0.0, width as f64);
                let y = ((p.y - top as f64) * ry).clamp(0.0, height as f64);
                [plus(x), plus(y)]
            };
            let line = TextLine {
                text,
                score,
                quad: [corner(&q[0]), corner(&q[1]), corner(&q[2]), corner(&q[3])],
            };
            let kept = line.score >= self.opts.text_score;
            if kept {
                reading.lines.push(line.clone());
            }
            reading.candidates.push(Candidate {
                line,
                turned,
                direction_score: dscore,
                kept,
            });
        }
        Ok(reading)
    }

    /// Steps 4 and 5: the text boxes in `img`'s pixels, in reading order, and the detector's
    /// input size.
    fn detect(&mut self, img: &Img) -> Result<Boxes> {
        let (w, h) = (img.width, img.height);
        let short = w.min(h);
        let ratio = if short < LIMIT_SIDE {
            LIMIT_SIDE as f64 / short as f64
        } else {
            1.0
        };
        let dw = (round_even((w as f64 * ratio).trunc() / 32.0) * 32.0) as usize;
        let dh = (round_even((h as f64 * ratio).trunc() / 32.0) * 32.0) as usize;
        if dw == 0 || dh == 0 {
            return Ok((Vec::new(), (dw, dh)));
        }
        if dw.saturating_mul(dh) > MAX_OCR_PIXELS {
            return Err(self.too_thin(w, h));
        }
        let input = warp::resize(img, dw, dh);
        let mut tensor = vec![0f32; 3 * dw * dh];
        warp::to_tensor(&input, &mut tensor, dw, dh);
        drop(input);
        let path = self.det_path.clone();
        let out = crate::runtime::run_f32(&mut self.det, &path, "x", [1, 3, dh, dw], &tensor)?;
        let prob = match out.first() {
            Some((_, p)) if p.len() == dw * dh => p,
            _ => {
                return Err(InferError::Run {
                    path,
                    reason: format!("the detector's output is not one {dw}x{dh} map"),
                })
            }
        };
        let bits: Vec<u8> = prob
            .iter()
            .map(|&p| u8::from(p > self.opts.thresh))
            .collect();
        let bits = geom::dilate(&bits, dw, dh);
        let mut boxes = Vec::new();
        for blob in geom::blobs(&bits, dw, dh, MAX_CANDIDATES) {
            let (q, side) = geom::mini_box(&blob);
            if side < 3.0 {
                continue;
            }
            if geom::box_score(prob, dw, dh, &q) < self.opts.box_thresh as f64 {
                continue;
            }
            let (q, side) = geom::mini_box(&geom::unclip(&q, self.opts.unclip_ratio));
            if side < 5.0 {
                continue;
            }
            let scale = |p: Pt| Pt {
                x: round_even(p.x / dw as f64 * w as f64).clamp(0.0, w as f64),
                y: round_even(p.y / dh as f64 * h as f64).clamp(0.0, h as f64),
            };
            let q = geom::order_clockwise(&q.map(scale));
            let q = q.map(|p| Pt {
                x: p.x.clamp(0.0, (w - 1) as f64).trunc(),
                y: p.y.clamp(0.0, (h - 1) as f64).trunc(),
            });
            let d = geom::dist;
            if d(q[0], q[1]).trunc() <= 3.0 || d(q[0], q[3]).trunc() <= 3.0 {
                continue;
            }
            boxes.push(q);
        }
        geom::reading_order(&mut boxes, |q| q[0]);
        Ok((boxes, (dw, dh)))
    }

    /// Step 7: turn crops the classifier reads as upside down. Returns (turned, score) per
    /// crop.
    fn classify(&mut self, crops: &mut [Img]) -> Result<Vec<(bool, f32)>> {
        let mut out = vec![(false, 0.0f32); crops.len()];
        if !self.opts.classify {
            return Ok(out);
        }
        let (Some(session), Some(path)) = (self.cls.as_mut(), self.cls_path.clone()) else {
            return Ok(out);
        };
        let order = by_ratio(crops);
        for batch in order.chunks(BATCH) {
            let plane = 3 * LINE_H * CLS_W;
            let mut tensor = vec![0f32; batch.len() * plane];
            for (k, &i) in batch.iter().enumerate() {
                let c = &crops[i];
                let rw = fit_width(c, CLS_W);
                let r = warp::resize(c, rw, LINE_H);
                warp::to_tensor(&r, &mut tensor[k * plane..(k + 1) * plane], CLS_W, LINE_H);
            }
            let res = crate::runtime::run_f32(
                session,
                &path,
                "x",
                [batch.len(), 3, LINE_H, CLS_W],
                &tensor,
            )?;
            let probs = match res.first() {
                Some((_, p)) if p.len() == batch.len() * 2 => p,
                _ => {
                    return Err(InferError::Run {
                        path,
                        reason: "the direction classifier's output is not [N, 2]".into(),
                    })
                }
            };
            for (k, &i) in batch.iter().enumerate() {
                let (p0, p180) = (probs[2 * k], probs[2 * k + 1]);
                let (upside_down, score) = if p180 > p0 { (true, p180) } else { (false, p0) };
                let turn = upside_down && score > 0.9;
                if turn {
                    crops[i] = warp::rot180(&crops[i]);
                }
                out[i] = (turn, score);
            }
        }
        Ok(out)
    }

    /// Steps 8 and 9: the text and score of each crop.
    fn recognize(&mut self, crops: &[Img]) -> Result<Vec<(String, f32)>> {
        let mut out = vec![(String::new(), 0.0f32); crops.len()];
        let order = by_ratio(crops);
        let path = self.rec_path.clone();
        let mut start = 0;
        while start < order.len() {
            // Up to six crops; fewer when they are extremely wide (REC_COLUMNS).
            let mut end = start;
            let mut max_ratio = REC_W as f64 / LINE_H as f64;
            while end < order.len() && end - start < BATCH {
                let c = &crops[order[end]];
                let m = max_ratio.max(c.width as f64 / c.height as f64);
                if end > start && (end - start + 1) * (LINE_H as f64 * m) as usize > REC_COLUMNS {
                    break;
                }
                max_ratio = m;
                end += 1;
            }
            let batch = &order[start..end];
            start = end;
            let width = (LINE_H as f64 * max_ratio) as usize;
            let plane = 3 * LINE_H * width;
            let mut tensor = vec![0f32; batch.len() * plane];
            for (k, &i) in batch.iter().enumerate() {
                let c = &crops[i];
                let r = warp::resize(c, fit_width(c, width), LINE_H);
                warp::to_tensor(&r, &mut tensor[k * plane..(k + 1) * plane], width, LINE_H);
            }
            let res = crate::runtime::run_f32(
                &mut self.rec,
                &path,
                "x",
                [batch.len(), 3, LINE_H, width],
                &tensor,
            )?;
            let classes = self.keys.len() + 2;
            let (shape, probs) = match res.first() {
                Some(r) => r,
                None => {
                    return Err(InferError::Run {
                        path,
                        reason: "no output".into(),
                    })
                }
            };
            let steps = probs.len() / (batch.len() * classes).max(1);
            if shape.len() != 3
                || shape[2] != classes as i64
                || probs.len() != batch.len() * steps * classes
            {
                return Err(InferError::Run {
                    path,
                    reason: format!(
                        "the recogniser's output {shape:?} is not [N, T, {classes}] (its \
                         character table has {} entries)",
                        self.keys.len()
                    ),
                });
            }
            for (k, &i) in batch.iter().enumerate() {
                let rows = &probs[k * steps * classes..(k + 1) * steps * classes];
                out[i] = self.decode(rows, classes);
            }
        }
        Ok(out)
    }

    /// CTC greedy decoding: the best class of each step, repeats and blanks dropped; the
    /// score is the mean probability of the steps kept.
    fn decode(&self, rows: &[f32], classes: usize) -> (String, f32) {
        let mut text = String::new();
        let (mut sum, mut n) = (0f64, 0usize);
        let mut prev = usize::MAX;
        for row in rows.chunks_exact(classes) {
            let (mut best, mut p) = (0usize, f32::MIN);
            for (c, &v) in row.iter().enumerate() {
                if v > p {
                    best = c;
                    p = v;
                }
            }
            if best != 0 && best != prev {
                match self.keys.get(best - 1) {
                    Some(k) => text.push_str(k),
                    None => text.push(' '),
                }
                sum += p as f64;
                n += 1;
            }
            prev = best;
        }
        let score = if n == 0 { 0.0 } else { (sum / n as f64) as f32 };
        (text, score)
    }
}

/// Indexes of `crops` by width/height ratio, narrowest first.
fn by_ratio(crops: &[Img]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..crops.len()).collect();
    let ratio = |i: usize| crops[i].width as f64 / crops[i].height as f64;
    order.sort_by(|&a, &b| ratio(a).total_cmp(&ratio(b)));
    order
}

/// The width a crop is resized to at height 48: its own aspect, at most `max`.
fn fit_width(c: &Img, max: usize) -> usize {
    let w = (LINE_H as f64 * (c.width as f64 / c.height as f64)).ceil() as usize;
    w.clamp(1, max)
}
