//! Object detection adapters. Each adapter owns its pre- and post-processing and returns
//! boxes in pixels of the picture it was given.
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;

use crate::runtime::{session, SessionOptions};
use crate::{InferError, Result};

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

    pub fn name(&self, id: u32) -> String {
        self.0
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| format!("class {id}"))
    }
}

/// TensorFlow Object Detection API SSD exported to ONNX: uint8 NHWC RGB input of any size,
/// outputs `detection_boxes` (ymin, xmin, ymax, xmax normalised), `detection_scores`,
/// `detection_classes` (ids as floats) and `num_detections`. Resizing, normalisation and NMS
/// happen inside the graph.
pub struct SsdDetector {
    path: PathBuf,
    session: Session,
    input: String,
    labels: Labels,
}

impl SsdDetector {
    pub fn open(path: &Path, labels: Labels, opts: SessionOptions) -> Result<Self> {
        Self::from_session(path, session(path, opts)?, labels)
    }

    pub fn from_session(path: &Path, session: Session, labels: Labels) -> Result<Self> {
        let sig = |reason: &str| InferError::Signature {
            path: path.into(),
            reason: reason.into(),
        };
        let input = session
            .inputs()
            .first()
            .ok_or_else(|| sig("no input"))?
            .name()
            .to_string();
        let outs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        for want in [
            "detection_boxes",
            "detection_scores",
            "detection_classes",
            "num_detections",
        ] {
            if !outs.iter().any(|o| o.starts_with(want)) {
                return Err(sig(&format!(
                    "no output named {want}* (outputs: {})",
                    outs.join(", ")
                )));
            }
        }
        Ok(SsdDetector {
            path: path.into(),
            session,
            input,
            labels,
        })
    }

    /// Whether a model's signature looks like this family.
    pub fn matches(outputs: &[&str]) -> bool {
        outputs.iter().any(|o| o.starts_with("detection_boxes"))
    }

    /// The size video frames are stretched to in the decoder's scaler. The graph resizes
    /// every input to 300x300 (bilinear, stretching); handing it 600x600 instead of a full
    /// frame saves most of that work, while keeping its bilinear step: scaling straight to
    /// 300x300 with libswscale shifted scores (a "cat" appeared in dog.jpg). Boxes are
    /// normalised, so they map back to any picture size.
    pub const NATIVE_SIZE: (u32, u32) = (600, 600);

    /// Detect in a packed RGB24 picture; keeps detections with score >= `threshold`.
    pub fn detect(
        &mut self,
        rgb: &[u8],
        width: usize,
        height: usize,
        threshold: f32,
    ) -> Result<Vec<Detection>> {
        self.detect_scaled(rgb, width, height, (width, height), threshold)
    }

    /// Like [`detect`](Self::detect), for a picture scaled from one of `source` size: boxes
    /// are given in `source` pixels.
    pub fn detect_scaled(
        &mut self,
        rgb: &[u8],
        width: usize,
        height: usize,
        source: (usize, usize),
        threshold: f32,
    ) -> Result<Vec<Detection>> {
        let run_err = |e: ort::Error| InferError::Run {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        if rgb.len() != width * height * 3 || width == 0 || height == 0 {
            return Err(InferError::Run {
                path: self.path.clone(),
                reason: "picture size mismatch".into(),
            });
        }
        let tensor =
            TensorRef::from_array_view(([1usize, height, width, 3], rgb)).map_err(run_err)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|e| InferError::Run {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        let get = |prefix: &str| -> Result<Vec<f32>> {
            let (_, v) = outputs
                .iter()
                .find(|(n, _)| n.starts_with(prefix))
                .ok_or_else(|| InferError::Run {
                    path: self.path.clone(),
                    reason: format!("no {prefix} output"),
                })?;
            let (_, data) = v.try_extract_tensor::<f32>().map_err(|e| InferError::Run {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
            Ok(data.to_vec())
        };
        let boxes = get("detection_boxes")?;
        let scores = get("detection_scores")?;
        let classes = get("detection_classes")?;
        let n = get("num_detections")?
            .first()
            .copied()
            .unwrap_or(0.0)
            .max(0.0) as usize;
        let n = n.min(scores.len()).min(classes.len()).min(boxes.len() / 4);
        let (w, h) = (source.0 as f32, source.1 as f32);
        let mut out = Vec::new();
        for i in 0..n {
            if scores[i] < threshold {
                continue;
            }
            let b = &boxes[4 * i..4 * i + 4];
            let (y0, x0, y1, x1) = (
                b[0].clamp(0.0, 1.0),
                b[1].clamp(0.0, 1.0),
                b[2].clamp(0.0, 1.0),
                b[3].clamp(0.0, 1.0),
            );
            let class_id = classes[i].round().max(0.0) as u32;
            out.push(Detection {
                label: self.labels.name(class_id),
                class_id,
                score: scores[i],
                bbox: BBox {
                    x: x0 * w,
                    y: y0 * h,
                    w: (x1 - x0) * w,
                    h: (y1 - y0) * h,
                },
                landmarks: None,
            });
        }
        Ok(out)
    }
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
            Family::Ssd => Detector::Ssd(SsdDetector::from_session(path, s, labels)?),
            Family::CenterFace => {
                Detector::CenterFace(crate::centerface::CenterFace::from_session(path, s)?)
            }
            Family::Yolo => Detector::Yolo(crate::yolo::Yolo::from_session(path, s, labels)?),
        })
    }

    /// The picture size this detector wants from a video scaler (stretched), if any.
    pub fn native_size(&self) -> Option<(u32, u32)> {
        match self {
            Detector::Ssd(_) => Some(SsdDetector::NATIVE_SIZE),
            _ => None,
        }
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
            Detector::Ssd(d) => d.detect_scaled(rgb, width, height, source, threshold),
            // Only the SSD has a native size; the others get source-sized pictures.
            _ => self.detect(rgb, width, height, threshold),
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
        match self {
            Detector::Ssd(d) => d.detect(rgb, width, height, threshold),
            Detector::CenterFace(d) => d.detect(rgb, width, height, threshold),
            Detector::Yolo(d) => d.detect(rgb, width, height, threshold),
        }
    }
}
