//! The TF Object Detection API SSD adapter: the network in ONNX Runtime, TensorFlow's
//! multiclass NMS in Rust (re-exported by [`crate::detect`]).
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use crate::detect::{agnostic_nms, read_model, BBox, Detection, Labels, Selection};
use crate::runtime::{session, session_from_memory, SessionOptions};
use crate::{InferError, Result};

/// TensorFlow Object Detection API SSD exported to ONNX: uint8 NHWC RGB input of any size,
/// outputs `detection_boxes` (ymin, xmin, ymax, xmax normalised), `detection_scores`,
/// `detection_classes` (ids as floats) and `num_detections`. Resizing and normalisation happen
/// inside the graph.
///
/// TensorFlow's post-processing (per-class NMS over 90 classes, exported as an ONNX `Loop`
/// of 5 520 nodes) is cut off when the model is opened ([`SsdGraph::Network`]): creating the
/// session then takes 0.2 s instead of 6.5 s and each picture about a third of the time, and
/// vx runs the same post-processing in Rust ([`tf_multiclass_nms`]). The tests check the
/// result against the full graph run by Python onnxruntime. `VX_SSD_GRAPH=full` keeps the
/// graph whole (the reference behaviour).
pub struct SsdDetector {
    path: PathBuf,
    session: Session,
    input: String,
    pub(crate) labels: Labels,
    graph: SsdGraph,
    /// Score and IoU thresholds of the graph's own NMS (for [`SsdGraph::Network`]).
    nms: (f32, f32),
    /// Classes kept and, after TensorFlow's per-class NMS, overlaps suppressed across them.
    pub(crate) selection: Selection,
}

/// Which part of a TF OD API SSD graph runs in ONNX Runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsdGraph {
    /// The whole exported graph, TensorFlow's NMS included.
    Full,
    /// The network up to the decoded boxes and class scores; NMS in Rust.
    Network,
}

/// The TF OD API post-processor's inputs: decoded boxes `[N, anchors, 1, 4]` (ymin, xmin,
/// ymax, xmax normalised) and sigmoid class scores without background `[N, anchors, classes]`.
pub const SSD_RAW_BOXES: &str = "Postprocessor/ExpandDims_1:0";
pub const SSD_RAW_SCORES: &str = "Postprocessor/Slice:0";

/// TF OD API SSD post-processing (pipeline.config `batch_non_max_suppression`): the score and
/// IoU thresholds are read from the graph's constants when it has them (the shared model: score
/// > 0.3, IoU 0.6); these are the fallbacks. The caps are the model zoo's 100 and 100.
pub const SSD_MIN_SCORE: f32 = 1e-8;
pub const SSD_IOU: f32 = 0.6;
pub const SSD_MAX_PER_CLASS: usize = 100;

pub const SSD_MAX_TOTAL: usize = 100;

/// NMS settings for a session running the whole graph (its own NMS applies; unused).
pub const WHOLE_GRAPH_NMS: (f32, f32) = (SSD_MIN_SCORE, SSD_IOU);

/// (score threshold, IoU threshold) of the graph's `MultiClassNonMaxSuppression`.
pub fn ssd_nms_settings(model: &[u8]) -> (f32, f32) {
    let nms = |n: &str| n.contains("BatchMultiClassNonMaxSuppression");
    let consts = crate::onnx_graph::scalar_floats(model, |n| {
        nms(n)
            && (n.contains("FilterGreaterThan") && n.ends_with("Greater/y:0")
                || n.ends_with("iou_threshold:0"))
    })
    .unwrap_or_default();
    let pick = |suffix: &str, default: f32| {
        let v: Vec<f32> = consts
            .iter()
            .filter(|(n, _)| n.ends_with(suffix))
            .map(|(_, v)| *v)
            .collect();
        // One value for all classes in the exports seen; if they differ, the loosest.
        v.into_iter().reduce(f32::min).unwrap_or(default)
    };
    (
        pick("Greater/y:0", SSD_MIN_SCORE),
        pick("iou_threshold:0", SSD_IOU),
    )
}

/// Settings of [`tf_multiclass_nms`].
#[derive(Debug, Clone, Copy)]
pub struct TfNms {
    /// The graph's own score threshold (strict: score > graph_min).
    pub graph_min: f32,
    /// The caller's threshold (score >= min_score).
    pub min_score: f32,
    /// Suppress a box whose IoU with a better one of its class is above this.
    pub iou: f32,
    pub per_class: usize,
    pub total: usize,
}

/// TensorFlow's `multiclass_non_max_suppression` as the TF OD API SSD runs it, for one
/// picture: per class, scores above `graph_min` and at least `min_score`, boxes clipped to [0, 1] and
/// dropped if nothing is left of them, greedy NMS (suppress when IoU > `iou`) keeping at most
/// `per_class`; then all classes by descending score, at most `total`. `boxes` holds
/// `anchors` x (ymin, xmin, ymax, xmax), `scores` anchors x classes. Returns
/// (class index, score, clipped box) tuples.
pub fn tf_multiclass_nms(
    boxes: &[f32],
    scores: &[f32],
    classes: usize,
    o: &TfNms,
) -> Vec<(usize, f32, [f32; 4])> {
    let TfNms {
        graph_min,
        min_score,
        iou,
        per_class,
        total,
    } = *o;
    let anchors = (boxes.len() / 4).min(scores.len() / classes.max(1));
    let area = |b: &[f32; 4]| (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
    let overlap = |a: &[f32; 4], b: &[f32; 4]| {
        let (aa, ab) = (area(a), area(b));
        if aa <= 0.0 || ab <= 0.0 {
            return 0.0;
        }
        let ih = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
        let iw = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
        let inter = ih * iw;
        inter / (aa + ab - inter)
    };
    let mut out = Vec::new();
    let mut cand: Vec<(usize, f32, [f32; 4])> = Vec::new();
    for c in 0..classes {
        cand.clear();
        for i in 0..anchors {
            let sc = scores[i * classes + c];
            if !(sc > graph_min && sc >= min_score) {
                continue;
            }
            let b = &boxes[4 * i..4 * i + 4];
            // TF orders the corners before clipping (min/max), then clips to the window.
            let clip = |v: f32| v.clamp(0.0, 1.0);
            let bb = [
                clip(b[0].min(b[2])),
                clip(b[1].min(b[3])),
                clip(b[0].max(b[2])),
                clip(b[1].max(b[3])),
            ];
            if area(&bb) > 0.0 {
                cand.push((i, sc, bb));
            }
        }
        // Descending score; equal scores in anchor order.
        cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut kept: Vec<[f32; 4]> = Vec::new();
        for &(_, sc, bb) in cand.iter() {
            if kept.len() >= per_class {
                break;
            }
            if kept.iter().all(|k| overlap(k, &bb) <= iou) {
                kept.push(bb);
                out.push((c, sc, bb));
            }
        }
    }
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(total);
    out
}

impl SsdDetector {
    /// Open a TF OD API SSD model, cut down to its network when it has the expected
    /// structure (see the type's documentation).
    pub fn open(path: &Path, labels: Labels, opts: SessionOptions) -> Result<Self> {
        match Self::network_session(path, read_model(path)?, opts) {
            Some((s, nms)) => Self::from_session(path, s, labels, nms),
            // ONNX Runtime reads the file itself: no second copy of the model in memory.
            None => Self::from_session(path, session(path, opts)?, labels, WHOLE_GRAPH_NMS),
        }
    }

    /// The network part of `model`, if it is a TF OD API SSD graph with the post-processor's
    /// usual tensor names (and `VX_SSD_GRAPH` is not `full`): a session and the graph's NMS
    /// settings. `None`: use the whole model (the caller opens it from its file). The bytes
    /// are dropped before the session is created (peak memory).
    pub fn network_session(
        path: &Path,
        model: Vec<u8>,
        opts: SessionOptions,
    ) -> Option<(Session, (f32, f32))> {
        if std::env::var("VX_SSD_GRAPH").is_ok_and(|v| v == "full") {
            return None;
        }
        // Not this structure, or not protobuf we can read: the whole model (ONNX Runtime will
        // say more if it is not a model at all).
        let cut = crate::onnx_graph::extract(&model, &[SSD_RAW_BOXES, SSD_RAW_SCORES]).ok()??;
        let nms = ssd_nms_settings(&model);
        drop(model);
        // If ONNX Runtime refuses the cut graph (say, weights in external files that only the
        // original path can find), the whole model is the way.
        session_from_memory(path, &cut, opts).ok().map(|s| (s, nms))
    }

    /// `nms`: the graph's (score, IoU) thresholds, from [`ssd_nms_settings`] (used only when
    /// the session is the network part; [`WHOLE_GRAPH_NMS`] otherwise).
    pub fn from_session(
        path: &Path,
        session: Session,
        labels: Labels,
        nms: (f32, f32),
    ) -> Result<Self> {
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
        let graph = if outs.contains(&SSD_RAW_BOXES) && outs.contains(&SSD_RAW_SCORES) {
            SsdGraph::Network
        } else {
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
            SsdGraph::Full
        };
        Ok(SsdDetector {
            path: path.into(),
            session,
            input,
            labels,
            graph,
            nms,
            selection: Selection::default(),
        })
    }

    /// Whether a model's signature looks like this family.
    pub fn matches(outputs: &[&str]) -> bool {
        outputs.iter().any(|o| o.starts_with("detection_boxes"))
    }

    /// The model's own score cut-off (strict), which applies whatever lower threshold is
    /// asked for: the graph's `Greater` constant (0.3 in the TF OD API exports) when vx runs
    /// the network and the NMS; ~0 when the whole graph runs (its cut-off is inside it).
    pub fn graph_min_score(&self) -> f32 {
        self.nms.0
    }

    /// Which part of the graph runs in ONNX Runtime.
    pub fn graph(&self) -> SsdGraph {
        self.graph
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
        let mut v = self.detect_batch(&[rgb], width, height, &[source], threshold)?;
        Ok(v.pop().unwrap_or_default())
    }

    /// Several pictures of the same size in one session call (`pictures[i]` scaled from a
    /// picture of `sources[i]` size; boxes in those pixels).
    pub fn detect_batch(
        &mut self,
        pictures: &[&[u8]],
        width: usize,
        height: usize,
        sources: &[(usize, usize)],
        threshold: f32,
    ) -> Result<Vec<Vec<Detection>>> {
        let run_err = |reason: String| InferError::Run {
            path: self.path.clone(),
            reason,
        };
        let n = pictures.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        for p in pictures {
            crate::runtime::check_rgb(&self.path, p, width, height)?;
        }
        if sources.len() != n {
            return Err(run_err("one source size per picture".into()));
        }
        // One contiguous NHWC tensor (a copy only when there are several pictures).
        let joined;
        let data: &[u8] = if n == 1 {
            pictures[0]
        } else {
            joined = pictures.concat();
            &joined
        };
        let tensor = TensorRef::from_array_view(([n, height, width, 3], data))
            .map_err(|e| run_err(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|e| run_err(e.to_string()))?;
        let get = |prefix: &str| -> Result<Vec<f32>> {
            let (_, v) = outputs
                .iter()
                .find(|(name, _)| name.starts_with(prefix))
                .ok_or_else(|| run_err(format!("no {prefix} output")))?;
            let (_, data) = v
                .try_extract_tensor::<f32>()
                .map_err(|e| run_err(e.to_string()))?;
            Ok(data.to_vec())
        };
        // Per picture: (class id, score, ymin, xmin, ymax, xmax normalised).
        let mut found: Vec<Vec<(u32, f32, [f32; 4])>> = Vec::with_capacity(n);
        match self.graph {
            SsdGraph::Network => {
                let boxes = get(SSD_RAW_BOXES)?;
                let scores = get(SSD_RAW_SCORES)?;
                let anchors = boxes.len() / 4 / n;
                let classes = (scores.len() / n).checked_div(anchors).unwrap_or(0);
                if anchors == 0 || classes == 0 || boxes.len() != n * anchors * 4 {
                    return Err(run_err("unexpected output shapes".into()));
                }
                for i in 0..n {
                    let b = &boxes[i * anchors * 4..(i + 1) * anchors * 4];
                    let s = &scores[i * anchors * classes..(i + 1) * anchors * classes];
                    let settings = TfNms {
                        graph_min: self.nms.0,
                        min_score: threshold,
                        iou: self.nms.1,
                        per_class: SSD_MAX_PER_CLASS,
                        total: SSD_MAX_TOTAL,
                    };
                    let nms = tf_multiclass_nms(b, s, classes, &settings);
                    found.push(
                        nms.into_iter()
                            .map(|(c, sc, bb)| (c as u32 + 1, sc, bb))
                            .collect(),
                    );
                }
            }
            SsdGraph::Full => {
                let boxes = get("detection_boxes")?;
                let scores = get("detection_scores")?;
                let classes = get("detection_classes")?;
                let nums = get("num_detections")?;
                let per = scores.len() / n;
                if per == 0 || classes.len() != n * per || boxes.len() != n * per * 4 {
                    return Err(run_err("unexpected output shapes".into()));
                }
                for i in 0..n {
                    let k = (nums.get(i).copied().unwrap_or(0.0).max(0.0) as usize).min(per);
                    found.push(
                        (i * per..i * per + k)
                            .filter(|&j| scores[j] >= threshold)
                            .map(|j| {
                                let b = &boxes[4 * j..4 * j + 4];
                                let c = classes[j].round().max(0.0) as u32;
                                (c, scores[j], [b[0], b[1], b[2], b[3]])
                            })
                            .collect(),
                    );
                }
            }
        }
        let iou = self.nms.1;
        Ok(found
            .into_iter()
            .zip(sources)
            .map(|(f, &(sw, sh))| {
                let (w, h) = (sw as f32, sh as f32);
                let found: Vec<Detection> = f
                    .into_iter()
                    .map(|(class_id, score, b)| {
                        let (y0, x0, y1, x1) = (
                            b[0].clamp(0.0, 1.0),
                            b[1].clamp(0.0, 1.0),
                            b[2].clamp(0.0, 1.0),
                            b[3].clamp(0.0, 1.0),
                        );
                        Detection {
                            label: self.labels.name(class_id),
                            class_id,
                            score,
                            bbox: BBox {
                                x: x0 * w,
                                y: y0 * h,
                                w: (x1 - x0) * w,
                                h: (y1 - y0) * h,
                            },
                            landmarks: None,
                        }
                    })
                    .filter(|d: &Detection| self.selection.allows(&d.label))
                    .collect();
                if self.selection.agnostic {
                    agnostic_nms(found, iou)
                } else {
                    found
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tfnms(graph_min: f32, min_score: f32, iou: f32, per_class: usize, total: usize) -> TfNms {
        TfNms {
            graph_min,
            min_score,
            iou,
            per_class,
            total,
        }
    }

    #[test]
    fn tf_nms_per_class_clipped_and_capped() {
        // Four anchors, two classes. Boxes: (ymin, xmin, ymax, xmax).
        let boxes = [
            0.0, 0.0, 0.5, 0.5, // a
            0.02, 0.02, 0.52, 0.52, // b: IoU with a ~0.85
            -0.5, -0.5, 0.0, 0.3, // c: nothing left after clipping (zero height)
            0.6, 0.6, 1.4, 0.9, // d: clipped to ymax 1.0
        ];
        let scores = [
            0.9, 0.1, // a
            0.8, 0.7, // b
            0.95, 0.0, // c
            0.6, 0.0, // d
        ];
        let r = tf_multiclass_nms(&boxes, &scores, 2, &tfnms(1e-8, 0.05, 0.6, 100, 100));
        // Class 0: a kept, b suppressed by a, c dropped (no area), d kept and clipped.
        // Class 1: b kept (a different class does not suppress), a kept? a overlaps b by 0.85
        // and scores lower in class 1: suppressed.
        let got: Vec<(usize, f32)> = r.iter().map(|x| (x.0, x.1)).collect();
        assert_eq!(got, vec![(0, 0.9), (1, 0.7), (0, 0.6)]);
        assert_eq!(r[2].2, [0.6, 0.6, 1.0, 0.9]);
        // Reversed corners are ordered first (TF does the same).
        let flipped = [0.5, 0.5, 0.0, 0.0];
        let r = tf_multiclass_nms(&flipped, &[0.9], 1, &tfnms(1e-8, 0.5, 0.6, 100, 100));
        assert_eq!(r[0].2, [0.0, 0.0, 0.5, 0.5]);
        // Caps: per class, then in all; the threshold.
        let many: Vec<f32> = (0..10)
            .flat_map(|i| {
                let y = i as f32 * 0.1;
                [y, 0.0, y + 0.05, 0.05]
            })
            .collect();
        let sc: Vec<f32> = (0..10).map(|i| 0.5 + i as f32 * 0.01).collect();
        assert_eq!(
            tf_multiclass_nms(&many, &sc, 1, &tfnms(1e-8, 0.0, 0.6, 3, 100)).len(),
            3
        );
        assert_eq!(
            tf_multiclass_nms(&many, &sc, 1, &tfnms(1e-8, 0.0, 0.6, 100, 4)).len(),
            4
        );
        assert_eq!(
            tf_multiclass_nms(&many, &sc, 1, &tfnms(1e-8, 0.555, 0.6, 100, 100)).len(),
            4
        );
        // The graph's own threshold is strict (score > 0.55), the caller's inclusive.
        assert_eq!(
            tf_multiclass_nms(&many, &sc, 1, &tfnms(0.55, 0.0, 0.6, 100, 100)).len(),
            4
        );
    }
}
