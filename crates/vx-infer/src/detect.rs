//! Object detection adapters. Each adapter owns its pre- and post-processing and returns
//! boxes in pixels of the picture it was given.
use std::path::Path;

use serde::Serialize;

use crate::runtime::{session, SessionOptions};
use crate::{InferError, Result};

pub use crate::ssd::*;

/// A box in pixels: top-left corner, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// One detection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub label: String,
    pub class_id: u32,
    pub score: f32,
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Face landmarks (eyes, nose, mouth corners) in pixels, for face models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landmarks: Option<Vec<[f32; 2]>>,
}

impl BBox {
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    pub fn iou(&self, o: &BBox) -> f32 {
        let x0 = self.x.max(o.x);
        let y0 = self.y.max(o.y);
        let x1 = (self.x + self.w).min(o.x + o.w);
        let y1 = (self.y + self.h).min(o.y + o.h);
        let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// Greedy non-maximum suppression: indexes of the boxes kept, best score first.
pub fn nms(boxes: &[(BBox, f32)], iou: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| boxes[b].1.total_cmp(&boxes[a].1));
    let mut keep: Vec<usize> = Vec::new();
    for i in order {
        if keep.iter().all(|&k| boxes[k].0.iou(&boxes[i].0) <= iou) {
            keep.push(i);
        }
    }
    keep
}

/// Class-agnostic suppression of detections that already went through the model's per-class
/// NMS: best score first, a detection overlapping a kept one of any class by more than `iou`
/// is dropped (`--agnostic-nms`; one object reported once when the model hesitates between
/// two classes). Order of the result: best score first.
pub fn agnostic_nms(found: Vec<Detection>, iou: f32) -> Vec<Detection> {
    let boxes: Vec<(BBox, f32)> = found.iter().map(|d| (d.bbox, d.score)).collect();
    let mut keep = nms(&boxes, iou);
    keep.sort_unstable();
    let mut kept: Vec<Detection> = found
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.binary_search(i).is_ok())
        .map(|(_, d)| d)
        .collect();
    kept.sort_by(|a, b| b.score.total_cmp(&a.score));
    kept
}

/// Which detections a detector reports beyond its score threshold: only some classes
/// (`--classes`), and overlaps suppressed across classes (`--agnostic-nms`). The class filter
/// comes first, as in Ultralytics (a box of a class not asked for never suppresses one that
/// is).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub agnostic: bool,
    /// Class names (case-insensitive); None: every class.
    pub classes: Option<Vec<String>>,
}

impl Selection {
    pub fn allows(&self, label: &str) -> bool {
        self.classes
            .as_ref()
            .is_none_or(|c| c.iter().any(|n| class_matches(n, label)))
    }
}

/// Whether a class name as asked for (`--classes`, `detect(classes=...)`) names `label`:
/// case-insensitive, and `_` in the name also matching a space (`traffic_light` is the COCO
/// label "traffic light", which a spec cannot spell with its space).
pub fn class_matches(asked: &str, label: &str) -> bool {
    asked.eq_ignore_ascii_case(label) || asked.replace('_', " ").eq_ignore_ascii_case(label)
}

/// Class names asked for checked against a model's `known` names (nothing to check when it
/// has none: it then reports "class N"): the first unknown one, said with a few known ones.
pub fn check_classes(
    wanted: &[String],
    known: &[String],
    model: &Path,
) -> std::result::Result<(), String> {
    let unknown = wanted
        .iter()
        .find(|w| !known.is_empty() && !known.iter().any(|k| class_matches(w, k)));
    match unknown {
        None => Ok(()),
        Some(w) => Err(format!(
            "'{w}' is not a class of {} (e.g. {})",
            model.display(),
            known.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Class names by id, from a file of `"<id> <name>"` lines (or one name per line, ids from 0).
#[derive(Debug, Clone, Default)]
pub struct Labels(Vec<(u32, String)>);

impl Labels {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| InferError::Labels {
            path: path.into(),
            reason: e.to_string(),
        })?;
        Ok(Self::parse(&text))
    }

    pub fn parse(text: &str) -> Self {
        let mut v = Vec::new();
        for (i, line) in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            match line.split_once(char::is_whitespace) {
                Some((id, name)) if id.parse::<u32>().is_ok() => {
                    v.push((id.parse().unwrap_or(0), name.trim().to_string()))
                }
                _ => v.push((i as u32, line.to_string())),
            }
        }
        Labels(v)
    }

    /// Name of the `index`-th real class, skipping "N/A" placeholders: YOLO models number the
    /// 80 COCO classes 0..79, while coco_labels_90.txt uses the 1..90 ids with gaps.
    pub fn name_contiguous(&self, index: u32) -> String {
        if self.0.is_empty() {
            return format!("class {index}");
        }
        self.0
            .iter()
            .filter(|(_, n)| n != "N/A")
            .nth(index as usize)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| format!("class {index}"))
    }

    /// Every class name (placeholders "N/A" left out).
    pub fn names(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(_, n)| n.clone())
            .filter(|n| n != "N/A")
            .collect()
    }

    pub fn name(&self, id: u32) -> String {
        self.0
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| format!("class {id}"))
    }
}

/// The most pixels a picture handed to a model may have (1920 x 1088 fits): larger ones are
/// scaled down first (see [`Detector::picture_size`]). Activations grow with the input (a
/// CenterFace call costs about 370 bytes per pixel: 11.9 GB for an 8000x8000 PNG before this
/// limit), so this is what bounds a model's memory whatever the input.
pub const MAX_MODEL_PIXELS: u64 = 2048 * 1024;

/// The largest input a model may declare (width x height): 4096 x 4096.
pub const MAX_MODEL_INPUT_PIXELS: u64 = 4096 * 4096;

/// Keep only detections whose score, box and landmarks are finite numbers: a damaged model
/// can output NaN or infinity, which must never reach a JSON that promises numbers.
pub fn finite_only(found: Vec<Detection>) -> Vec<Detection> {
    found
        .into_iter()
        .filter(|d| {
            let b = &d.bbox;
            d.score.is_finite()
                && [b.x, b.y, b.w, b.h].iter().all(|v| v.is_finite())
                && d.landmarks
                    .as_ref()
                    .is_none_or(|l| l.iter().flatten().all(|v| v.is_finite()))
        })
        .collect()
}

/// See [`Detector::picture_size`].
pub fn picture_size(family: Family, size: (usize, usize), still: bool) -> Option<(u32, u32)> {
    let large = size.0 as u64 * size.1 as u64 > MAX_MODEL_PIXELS;
    match family {
        Family::Ssd if !still || large => Some(SsdDetector::NATIVE_SIZE),
        _ if large => Some(fit_pixels(size, MAX_MODEL_PIXELS)),
        _ => None,
    }
}

/// The largest size with `size`'s aspect ratio and at most `max` pixels (even sides).
pub fn fit_pixels(size: (usize, usize), max: u64) -> (u32, u32) {
    let (w, h) = (size.0.max(1) as f64, size.1.max(1) as f64);
    let k = (max as f64 / (w * h)).sqrt().min(1.0);
    let even = |v: f64| (((v * k) as u32) & !1).max(2);
    (even(w), even(h))
}

/// A model file's bytes (one clear error if it cannot be read).
pub(crate) fn read_model(path: &Path) -> Result<Vec<u8>> {
    crate::runtime::check_model_file(path)?;
    std::fs::read(path).map_err(|e| InferError::Model {
        path: path.into(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nms_keeps_best_of_overlapping() {
        let b = |x: f32| BBox {
            x,
            y: 0.0,
            w: 10.0,
            h: 10.0,
        };
        let keep = nms(
            &[(b(0.0), 0.5), (b(1.0), 0.9), (b(30.0), 0.4), (b(8.0), 0.3)],
            0.3,
        );
        assert_eq!(keep, vec![1, 2, 3]); // 0 overlaps 1 (IoU 0.82); 3 overlaps 1 by 0.18
        assert!((b(0.0).iou(&b(0.0)) - 1.0).abs() < 1e-6);
        assert_eq!(b(0.0).iou(&b(20.0)), 0.0);
        // Across classes: the dog on the cat's box goes, the far one stays; best first.
        let det = |label: &str, x: f32, score: f32| Detection {
            label: label.into(),
            class_id: 0,
            score,
            bbox: b(x),
            landmarks: None,
        };
        let kept = agnostic_nms(
            vec![
                det("dog", 1.0, 0.6),
                det("cat", 0.0, 0.8),
                det("car", 40.0, 0.7),
            ],
            0.6,
        );
        let labels: Vec<&str> = kept.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(labels, ["cat", "car"]);
    }

    #[test]
    fn labels_with_and_without_ids() {
        let l = Labels::parse("1 person\n2 bicycle\n12 N/A\n");
        assert_eq!(l.name(1), "person");
        assert_eq!(l.name(12), "N/A");
        assert_eq!(l.name(99), "class 99");
        let l = Labels::parse("cat\ndog\n");
        assert_eq!(l.name(1), "dog");
    }
}

/// Model families vx has adapters for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// TensorFlow Object Detection API SSD (uint8 NHWC in, boxes/scores/classes out).
    Ssd,
    /// CenterFace face detector.
    CenterFace,
    /// Ultralytics YOLO v5 / v8 / 11 exports.
    Yolo,
}

/// A detector of any supported family, chosen from the model's signature or by the caller.
pub enum Detector {
    Ssd(SsdDetector),
    CenterFace(crate::centerface::CenterFace),
    Yolo(crate::yolo::Yolo),
}

impl Detector {
    /// Open `path`; `family` None picks the adapter from the model's inputs and outputs.
    pub fn open(
        path: &Path,
        family: Option<Family>,
        labels: Labels,
        opts: SessionOptions,
    ) -> Result<Self> {
        if matches!(family, None | Some(Family::Ssd)) {
            if let Some((s, nms)) = SsdDetector::network_session(path, read_model(path)?, opts) {
                return Ok(Detector::Ssd(SsdDetector::from_session(
                    path, s, labels, nms,
                )?));
            }
        }
        // Not cut: ONNX Runtime reads the file itself (no second copy of the model in memory).
        let s = session(path, opts)?;
        let family = match family {
            Some(f) => f,
            None => {
                let outs: Vec<&str> = s.outputs().iter().map(|o| o.name()).collect();
                if SsdDetector::matches(&outs) {
                    Family::Ssd
                } else if crate::centerface::CenterFace::matches(&s) {
                    Family::CenterFace
                } else if crate::yolo::Yolo::matches(&s) {
                    Family::Yolo
                } else {
                    let ins: Vec<&str> = s.inputs().iter().map(|o| o.name()).collect();
                    return Err(InferError::Signature {
                        path: path.into(),
                        reason: format!(
                            "inputs [{}], outputs [{}] match no adapter (TF OD API SSD, CenterFace, YOLO)",
                            ins.join(", "),
                            outs.join(", ")
                        ),
                    });
                }
            }
        };
        Ok(match family {
            Family::Ssd => {
                Detector::Ssd(SsdDetector::from_session(path, s, labels, WHOLE_GRAPH_NMS)?)
            }
            Family::CenterFace => {
                Detector::CenterFace(crate::centerface::CenterFace::from_session(path, s)?)
            }
            Family::Yolo => Detector::Yolo(crate::yolo::Yolo::from_session(path, s, labels)?),
        })
    }

    /// Suppress overlapping boxes across classes, not only within a class (Ultralytics'
    /// `agnostic_nms`): YOLO runs one NMS over every candidate instead of one per class; the
    /// SSD, whose per-class NMS is TensorFlow's, gets a second pass across classes at the
    /// graph's IoU threshold. CenterFace has one class: nothing changes.
    /// The classes are filtered first (see [`Selection`]).
    pub fn select(&mut self, selection: &Selection) {
        match self {
            Detector::Ssd(d) => d.selection = selection.clone(),
            Detector::Yolo(d) => d.selection = selection.clone(),
            Detector::CenterFace(_) => {}
        }
    }

    /// The class names this detector can report ("face" for CenterFace).
    pub fn class_names(&self) -> Vec<String> {
        match self {
            Detector::Ssd(d) => d.labels.names(),
            Detector::CenterFace(_) => vec!["face".into()],
            Detector::Yolo(d) => d.labels().names(),
        }
    }

    /// The lowest score this model can report (its own cut-off), where it has one.
    pub fn min_score(&self) -> Option<f32> {
        match self {
            Detector::Ssd(d) => Some(d.graph_min_score()).filter(|m| *m > SSD_MIN_SCORE),
            _ => None,
        }
    }

    /// The size a `size` picture is scaled to before this model sees it (`None`: its own).
    /// Video frames go to the SSD at its native size; stills go at their own size (the model
    /// resizes them itself, as its reference does) unless larger than [`MAX_MODEL_PIXELS`],
    /// like every picture for the other models: then scaled down, keeping the aspect ratio.
    /// Boxes always come back in the picture's own pixels.
    pub fn picture_size(&self, size: (usize, usize), still: bool) -> Option<(u32, u32)> {
        picture_size(self.family(), size, still)
    }

    /// Detect in a picture scaled from a `source`-sized one; boxes in `source` pixels.
    pub fn detect_scaled(
        &mut self,
        rgb: &[u8],
        width: usize,
        height: usize,
        source: (usize, usize),
        threshold: f32,
    ) -> Result<Vec<Detection>> {
        match self {
            Detector::Ssd(d) => d
                .detect_scaled(rgb, width, height, source, threshold)
                .map(finite_only),
            _ => {
                let mut found = self.detect(rgb, width, height, threshold)?;
                if (width, height) != source {
                    let kx = source.0 as f32 / width.max(1) as f32;
                    let ky = source.1 as f32 / height.max(1) as f32;
                    for d in &mut found {
                        d.bbox = BBox {
                            x: d.bbox.x * kx,
                            y: d.bbox.y * ky,
                            w: d.bbox.w * kx,
                            h: d.bbox.h * ky,
                        };
                        if let Some(marks) = d.landmarks.as_mut() {
                            for m in marks.iter_mut() {
                                *m = [m[0] * kx, m[1] * ky];
                            }
                        }
                    }
                }
                Ok(found)
            }
        }
    }

    /// Frames of one video, all `width` x `height` and scaled from `source`-sized pictures:
    /// in one session call where the model allows it (SSD), else one by one.
    pub fn detect_frames(
        &mut self,
        pictures: &[&[u8]],
        width: usize,
        height: usize,
        source: (usize, usize),
        threshold: f32,
    ) -> Result<Vec<Vec<Detection>>> {
        match self {
            Detector::Ssd(d) => {
                let sources = vec![source; pictures.len()];
                let found = d.detect_batch(pictures, width, height, &sources, threshold)?;
                Ok(found.into_iter().map(finite_only).collect())
            }
            _ => pictures
                .iter()
                .map(|p| self.detect_scaled(p, width, height, source, threshold))
                .collect(),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            Detector::Ssd(_) => Family::Ssd,
            Detector::CenterFace(_) => Family::CenterFace,
            Detector::Yolo(_) => Family::Yolo,
        }
    }

    pub fn detect(
        &mut self,
        rgb: &[u8],
        width: usize,
        height: usize,
        threshold: f32,
    ) -> Result<Vec<Detection>> {
        let found = match self {
            Detector::Ssd(d) => d.detect(rgb, width, height, threshold),
            Detector::CenterFace(d) => d.detect(rgb, width, height, threshold),
            Detector::Yolo(d) => d.detect(rgb, width, height, threshold),
        }?;
        Ok(finite_only(found))
    }
}
