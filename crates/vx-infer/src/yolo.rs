//! YOLO detectors exported to ONNX (Ultralytics v5, v8, 11): one float32 NCHW input of a fixed
//! square-ish size (e.g. 1x3x640x640), RGB scaled to 0..1, letterboxed with grey 114; one
//! output, either `[1, 4 + classes, anchors]` (v8/11: cx, cy, w, h, class scores) or
//! `[1, anchors, 5 + classes]` (v5: cx, cy, w, h, objectness, class scores). Decoding and
//! class-wise NMS happen here, in Rust.
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::ValueType;

use crate::detect::{nms, BBox, Detection, Labels};
use crate::runtime::run_f32;
use crate::{InferError, Result};

/// Output layout of a YOLO export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[1, 4 + nc, n]`, no objectness (v8, 11).
    ChannelsFirst,
    /// `[1, n, 5 + nc]`, with objectness (v5).
    AnchorsFirst,
}

pub struct Yolo {
    path: PathBuf,
    session: Session,
    input: String,
    width: usize,
    height: usize,
    labels: Labels,
    /// IoU above which a box of the same class is suppressed.
    pub iou: f32,
    /// Classes kept (before NMS) and NMS across classes.
    pub selection: crate::detect::Selection,
}

/// Letterbox geometry: scale, then padding on the left/top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    pub pad_x: f32,
    pub pad_y: f32,
}

/// Fit `w` x `h` into `tw` x `th` keeping the aspect ratio, centred.
pub fn letterbox_geometry(w: usize, h: usize, tw: usize, th: usize) -> Letterbox {
    let scale = (tw as f32 / w as f32).min(th as f32 / h as f32);
    let (nw, nh) = ((w as f32 * scale).round(), (h as f32 * scale).round());
    Letterbox {
        scale,
        pad_x: ((tw as f32 - nw) / 2.0).floor(),
        pad_y: ((th as f32 - nh) / 2.0).floor(),
    }
}

/// Letterbox packed RGB24 into a `tw` x `th` float NCHW blob in 0..1 (bilinear, grey 114 pad).
pub fn letterbox(rgb: &[u8], w: usize, h: usize, tw: usize, th: usize) -> (Vec<f32>, Letterbox) {
    let g = letterbox_geometry(w, h, tw, th);
    let (nw, nh) = (
        ((w as f32 * g.scale).round() as usize).max(1),
        ((h as f32 * g.scale).round() as usize).max(1),
    );
    let resized = crate::centerface::resize_to_planar(rgb, w, h, nw, nh);
    let mut out = vec![114.0 / 255.0; 3 * tw * th];
    let (px, py) = (g.pad_x as usize, g.pad_y as usize);
    for c in 0..3 {
        for y in 0..nh.min(th - py) {
            for x in 0..nw.min(tw - px) {
                out[c * tw * th + (y + py) * tw + x + px] =
                    resized[c * nw * nh + y * nw + x] / 255.0;
            }
        }
    }
    (out, g)
}

/// Decode a YOLO output (already flattened, `shape` = its dims) into boxes in the model's
/// input pixels; keeps candidates with score >= `threshold`, then class-wise NMS (one NMS over
/// all classes when `agnostic`, as Ultralytics' `agnostic_nms=True`); candidates of classes
/// `allowed` refuses are dropped before NMS (Ultralytics' `classes=`).
pub fn decode(
    data: &[f32],
    shape: &[usize],
    threshold: f32,
    iou: f32,
    agnostic: bool,
    allowed: &dyn Fn(u32) -> bool,
) -> Option<Vec<(BBox, u32, f32)>> {
    let (rows, cols) = match shape {
        [1, a, b] => (*a, *b),
        [a, b] => (*a, *b),
        _ => return None,
    };
    if data.len() < rows * cols {
        return None;
    }
    // v8/11 have few rows (4 + classes) and many anchor columns (8400 at 640x640); v5 the
    // other way round (25200 anchor rows): the smaller dimension holds the attributes.
    let layout = if rows < cols {
        Layout::ChannelsFirst
    } else {
        Layout::AnchorsFirst
    };
    let (n, width) = match layout {
        Layout::ChannelsFirst => (cols, rows),
        Layout::AnchorsFirst => (rows, cols),
    };
    let at = |anchor: usize, k: usize| match layout {
        Layout::ChannelsFirst => data[k * cols + anchor],
        Layout::AnchorsFirst => data[anchor * cols + k],
    };
    let first_class = if layout == Layout::AnchorsFirst { 5 } else { 4 };
    if width <= first_class {
        return None;
    }
    let mut cands: Vec<(BBox, u32, f32)> = Vec::new();
    for a in 0..n {
        let obj = if layout == Layout::AnchorsFirst {
            at(a, 4)
        } else {
            1.0
        };
        let (mut best, mut best_k) = (f32::MIN, 0);
        for k in first_class..width {
            let s = at(a, k);
            if s > best {
                best = s;
                best_k = k - first_class;
            }
        }
        let score = best * obj;
        if score < threshold || !allowed(best_k as u32) {
            continue;
        }
        let (cx, cy, w, h) = (at(a, 0), at(a, 1), at(a, 2), at(a, 3));
        cands.push((
            BBox {
                x: cx - w / 2.0,
                y: cy - h / 2.0,
                w,
                h,
            },
            best_k as u32,
            score,
        ));
    }
    // Class-wise NMS (all candidates as one group when agnostic).
    let group = |c: &(BBox, u32, f32)| if agnostic { 0 } else { c.1 };
    let mut keep = Vec::new();
    let mut groups: Vec<u32> = cands.iter().map(group).collect();
    groups.sort_unstable();
    groups.dedup();
    for g in groups {
        let idx: Vec<usize> = (0..cands.len())
            .filter(|&i| group(&cands[i]) == g)
            .collect();
        let boxes: Vec<(BBox, f32)> = idx.iter().map(|&i| (cands[i].0, cands[i].2)).collect();
        keep.extend(nms(&boxes, iou).into_iter().map(|k| cands[idx[k]]));
    }
    keep.sort_by(|a, b| b.2.total_cmp(&a.2));
    Some(keep)
}

impl Yolo {
    /// Whether a session looks like a YOLO export: one 4-D float input, one 3-D output.
    pub fn matches(session: &Session) -> bool {
        let float4 =
            |t: &ValueType| matches!(t, ValueType::Tensor { shape, .. } if shape.len() == 4);
        let three =
            |t: &ValueType| matches!(t, ValueType::Tensor { shape, .. } if shape.len() == 3);
        session.inputs().len() == 1
            && session.outputs().len() == 1
            && float4(session.inputs()[0].dtype())
            && three(session.outputs()[0].dtype())
    }

    pub fn from_session(path: &Path, session: Session, labels: Labels) -> Result<Self> {
        let sig = |reason: String| InferError::Signature {
            path: path.into(),
            reason,
        };
        if !Self::matches(&session) {
            return Err(sig(
                "expected one NCHW float input and one [1, x, y] output".into(),
            ));
        }
        let input = &session.inputs()[0];
        let (w, h) = match input.dtype() {
            ValueType::Tensor { shape, .. } if shape.len() == 4 && shape[2] > 0 && shape[3] > 0 => {
                (shape[3] as u64, shape[2] as u64)
            }
            // Dynamic size: the usual export size.
            _ => (640, 640),
        };
        // The declared input size is allocated for every call: hold it to the budget (YOLO
        // exports are 320 to 1536 pixels a side; 2^31-1 used to panic, 65536^2 to abort).
        if w * h > crate::detect::MAX_MODEL_INPUT_PIXELS {
            return Err(sig(format!(
                "input of {w}x{h} is larger than vx feeds a model ({} pixels at most)",
                crate::detect::MAX_MODEL_INPUT_PIXELS
            )));
        }
        let (w, h) = (w as usize, h as usize);
        let name = input.name().to_string();
        Ok(Yolo {
            path: path.into(),
            session,
            input: name,
            width: w,
            height: h,
            labels,
            iou: 0.45,
            selection: Default::default(),
        })
    }

    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    pub fn detect(
        &mut self,
        rgb: &[u8],
        width: usize,
        height: usize,
        threshold: f32,
    ) -> Result<Vec<Detection>> {
        let run = |reason: String| InferError::Run {
            path: self.path.clone(),
            reason,
        };
        crate::runtime::check_rgb(&self.path, rgb, width, height)?;
        let (blob, g) = letterbox(rgb, width, height, self.width, self.height);
        let outputs = run_f32(
            &mut self.session,
            &self.path,
            &self.input,
            [1, 3, self.height, self.width],
            &blob,
        )?;
        let (shape, data) = outputs
            .into_iter()
            .next()
            .ok_or_else(|| run("no output".into()))?;
        let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        let allowed = |c: u32| self.selection.allows(&self.labels.name_contiguous(c));
        let found = decode(
            &data,
            &dims,
            threshold,
            self.iou,
            self.selection.agnostic,
            &allowed,
        )
        .ok_or_else(|| run(format!("unexpected output shape {dims:?}")))?;
        let (wf, hf) = (width as f32, height as f32);
        Ok(found
            .into_iter()
            .map(|(b, class_id, score)| {
                let x0 = ((b.x - g.pad_x) / g.scale).clamp(0.0, wf);
                let y0 = ((b.y - g.pad_y) / g.scale).clamp(0.0, hf);
                let x1 = ((b.x + b.w - g.pad_x) / g.scale).clamp(0.0, wf);
                let y1 = ((b.y + b.h - g.pad_y) / g.scale).clamp(0.0, hf);
                Detection {
                    label: self.labels.name_contiguous(class_id),
                    class_id,
                    score,
                    bbox: BBox {
                        x: x0,
                        y: y0,
                        w: x1 - x0,
                        h: y1 - y0,
                    },
                    landmarks: None,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_geometry_centres() {
        let g = letterbox_geometry(1280, 720, 640, 640);
        assert_eq!((g.scale, g.pad_x, g.pad_y), (0.5, 0.0, 140.0));
        let g = letterbox_geometry(720, 1280, 640, 640);
        assert_eq!((g.scale, g.pad_x, g.pad_y), (0.5, 140.0, 0.0));
    }

    #[test]
    fn decode_v8_layout_with_classwise_nms() {
        // 3 classes, 8 anchors (4 used): [1, 7, 8] (channels first; real models have 8400).
        let anchors = [
            // cx, cy, w, h, c0, c1, c2
            [100.0, 100.0, 50.0, 50.0, 0.9, 0.1, 0.0],
            [102.0, 101.0, 50.0, 50.0, 0.8, 0.0, 0.0], // overlaps anchor 0, same class: suppressed
            [101.0, 100.0, 50.0, 50.0, 0.0, 0.7, 0.0], // same place, other class: kept
            [300.0, 300.0, 20.0, 20.0, 0.0, 0.0, 0.2], // below threshold
        ];
        let mut data = vec![0f32; 7 * 8];
        for (a, row) in anchors.iter().enumerate() {
            for (k, v) in row.iter().enumerate() {
                data[k * 8 + a] = *v;
            }
        }
        let out = decode(&data, &[1, 7, 8], 0.25, 0.45, false, &|_| true).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].1, out[1].1), (0, 1));
        assert!((out[0].0.x - 75.0).abs() < 1e-4 && (out[0].2 - 0.9).abs() < 1e-6);
        assert!(decode(&data, &[1, 7], 0.25, 0.45, false, &|_| true).is_none());
        // Class-agnostic: the other class at the same place is suppressed too.
        let out = decode(&data, &[1, 7, 8], 0.25, 0.45, true, &|_| true).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].1, out[0].2), (0, 0.9));
        // Classes are filtered before NMS: asking for class 1 keeps its box, which class 0's
        // better box would otherwise suppress.
        let out = decode(&data, &[1, 7, 8], 0.25, 0.45, true, &|c| c == 1).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].1, out[0].2), (1, 0.7));
    }

    #[test]
    fn decode_v5_layout_multiplies_objectness() {
        // [1, 8, 7]: 8 anchors (2 used), 2 classes.
        let mut data = vec![0f32; 8 * 7];
        data[..14].copy_from_slice(&[
            50.0, 60.0, 10.0, 20.0, 0.5, 0.9, 0.1, // score 0.45 for class 0
            10.0, 10.0, 4.0, 4.0, 0.1, 0.9, 0.9, // 0.09: dropped
        ]);
        let out = decode(&data, &[1, 8, 7], 0.25, 0.45, false, &|_| true).unwrap();
        assert_eq!(out.len(), 1);
        assert!((out[0].2 - 0.45).abs() < 1e-6);
        assert_eq!(
            out[0].0,
            BBox {
                x: 45.0,
                y: 50.0,
                w: 10.0,
                h: 20.0
            }
        );
    }
}
