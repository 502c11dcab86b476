//! Object detection adapters. Each adapter owns its pre- and post-processing and returns
//! boxes in pixels of the picture it was given.
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;

use crate::runtime::{session, session_from_memory, SessionOptions};
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
    labels: Labels,
    graph: SsdGraph,
    /// Score and IoU thresholds of the graph's own NMS (for [`SsdGraph::Network`]).
    nms: (f32, f32),
    /// Classes kept and, after TensorFlow's per-class NMS, overlaps suppressed across them.
    selection: Selection,
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

/// A model file's bytes (one clear error if it cannot be read).
fn read_model(path: &Path) -> Result<Vec<u8>> {
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
