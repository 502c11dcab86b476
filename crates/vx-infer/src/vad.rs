//! Silero VAD (silero-vad 6.x ONNX): speech probability per 32 ms of 16 kHz audio, and the
//! speech spans derived from it. Protocol from the package's `OnnxWrapper` (PROVENANCE.md
//! section 6): each call gets the last 64 samples of the previous chunk followed by 512 new
//! samples, plus the recurrent state [2, 1, 128] fed back from `stateN`.
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;

use crate::runtime::{session, SessionOptions};
use crate::{InferError, Result};

pub const SAMPLE_RATE: u32 = 16_000;
/// New samples per model call at 16 kHz.
pub const CHUNK: usize = 512;
const CONTEXT: usize = 64;

static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Silero runs (chunks scored) in this process so far: lets tests see that a plan with both
/// `vad` and `transcribe` scores the audio once.
pub fn probability_calls() -> u64 {
    CALLS.load(std::sync::atomic::Ordering::Relaxed)
}

pub struct SileroVad {
    path: PathBuf,
    session: Session,
    state: Vec<f32>,
    window: Vec<f32>,
}

impl SileroVad {
    /// Open the model. `opts.threads == 0` means one thread here: the model is tiny and runs
    /// once per 32 ms of audio, so a second thread only adds hand-over cost (measured on the
    /// 3.6-minute bench file: 1.43 CPU-s with ONNX Runtime's default of one per core).
    pub fn open(path: &Path, mut opts: SessionOptions) -> Result<Self> {
        if opts.threads == 0 {
            opts.threads = 1;
        }
        let session = session(path, opts)?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for want in ["input", "state", "sr"] {
            if !names.contains(&want) {
                return Err(InferError::Signature {
                    path: path.into(),
                    reason: format!(
                        "Silero VAD needs inputs input/state/sr (has: {})",
                        names.join(", ")
                    ),
                });
            }
        }
        Ok(SileroVad {
            path: path.into(),
            session,
            state: vec![0.0; 2 * 128],
            window: vec![0.0; CONTEXT + CHUNK],
        })
    }

    /// Forget the recurrent state and context (a new, unrelated stream).
    pub fn reset(&mut self) {
        self.state.iter_mut().for_each(|v| *v = 0.0);
        self.window.iter_mut().for_each(|v| *v = 0.0);
    }

    /// Speech probability of the next 512 samples (16 kHz, -1..1; shorter chunks are padded).
    pub fn probability(&mut self, chunk: &[f32]) -> Result<f32> {
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let run = |reason: String| InferError::Run {
            path: self.path.clone(),
            reason,
        };
        // Keep the last 64 samples of the previous window as context.
        self.window.copy_within(CHUNK.., 0);
        let n = chunk.len().min(CHUNK);
        self.window[CONTEXT..CONTEXT + n].copy_from_slice(&chunk[..n]);
        self.window[CONTEXT + n..].iter_mut().for_each(|v| *v = 0.0);
        let input = TensorRef::from_array_view(([1usize, CONTEXT + CHUNK], &self.window[..]))
            .map_err(|e| run(e.to_string()))?;
        let state = TensorRef::from_array_view(([2usize, 1, 128], &self.state[..]))
            .map_err(|e| run(e.to_string()))?;
        let sr = [SAMPLE_RATE as i64];
        let sr = TensorRef::from_array_view(((), &sr[..])).map_err(|e| run(e.to_string()))?;
        let out = self
            .session
            .run(ort::inputs!["input" => input, "state" => state, "sr" => sr])
            .map_err(|e| run(e.to_string()))?;
        let p = out["output"]
            .try_extract_tensor::<f32>()
            .map_err(|e| run(e.to_string()))?
            .1
            .first()
            .copied()
            .unwrap_or(0.0);
        let (_, s) = out["stateN"]
            .try_extract_tensor::<f32>()
            .map_err(|e| run(e.to_string()))?;
        if s.len() == self.state.len() {
            self.state.copy_from_slice(s);
        }
        Ok(p)
    }
}

/// Speech spans of 16 kHz mono samples held in memory.
pub fn speech_spans(vad: &mut SileroVad, samples: &[f32], o: SpanOptions) -> Result<Vec<Span>> {
    vad.reset();
    let probs = samples
        .chunks(CHUNK)
        .map(|c| vad.probability(c))
        .collect::<Result<Vec<f32>>>()?;
    Ok(spans(&probs, samples.len() as f64 / SAMPLE_RATE as f64, o))
}

/// A stretch of speech, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Span {
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub start: f64,
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub end: f64,
}

/// Settings for turning probabilities into spans (silero-vad's `get_speech_timestamps`
/// defaults).
#[derive(Debug, Clone, Copy)]
pub struct SpanOptions {
    pub threshold: f32,
    pub min_speech: f64,
    pub min_silence: f64,
    pub pad: f64,
}

impl Default for SpanOptions {
    fn default() -> Self {
        SpanOptions {
            threshold: 0.5,
            min_speech: 0.25,
            min_silence: 0.1,
            pad: 0.03,
        }
    }
}

/// Speech spans from per-chunk probabilities (chunk k covers [k, k+1) x 32 ms), with
/// hysteresis (speech ends below threshold - 0.15), minimum durations and padding;
/// `duration` clamps the last span.
pub fn spans(probs: &[f32], duration: f64, o: SpanOptions) -> Vec<Span> {
    let (closed, open) = raw_spans(probs, o);
    pad_and_merge(close_spans(closed, open, duration, o), duration, o.pad)
}

/// The end of the stream at `duration` seconds: the open span (if any) is closed there, or
/// where its silence began, and kept if it is long enough. Spans are unpadded.
pub fn close_spans(
    mut closed: Vec<Span>,
    open: Option<OpenSpan>,
    duration: f64,
    o: SpanOptions,
) -> Vec<Span> {
    if let Some(open) = open {
        let end = open.silence_from.unwrap_or(duration).min(duration);
        if end - open.start >= o.min_speech {
            closed.push(Span {
                start: open.start,
                end,
            });
        }
    }
    closed
}

/// A span still going on when the probabilities ran out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenSpan {
    pub start: f64,
    /// Where the current run of silence began (shorter than `min_silence` so far).
    pub silence_from: Option<f64>,
}

/// The state machine behind [`spans`]: the closed spans (unpadded, at least `min_speech`
/// long) and the span still open at the end, if any. Later probabilities never change the
/// closed ones.
pub fn raw_spans(probs: &[f32], o: SpanOptions) -> (Vec<Span>, Option<OpenSpan>) {
    let step = CHUNK as f64 / SAMPLE_RATE as f64;
    let neg = (o.threshold - 0.15).max(0.01);
    let mut out: Vec<Span> = Vec::new();
    let mut start: Option<f64> = None;
    let mut silence_from: Option<f64> = None;
    for (k, &p) in probs.iter().enumerate() {
        let t = k as f64 * step;
        if p >= o.threshold {
            silence_from = None;
            if start.is_none() {
                start = Some(t);
            }
        } else if p < neg {
            if let Some(s) = start {
                let from = *silence_from.get_or_insert(t);
                if t + step - from >= o.min_silence {
                    if from - s >= o.min_speech {
                        out.push(Span {
                            start: s,
                            end: from,
                        });
                    }
                    start = None;
                    silence_from = None;
                }
            }
        }
    }
    let open = start.map(|start| OpenSpan {
        start,
        silence_from,
    });
    (out, open)
}

/// Pad spans by `pad` seconds (clamped to [0, duration]) and merge what then touches.
pub fn pad_and_merge(spans: Vec<Span>, duration: f64, pad: f64) -> Vec<Span> {
    let mut merged: Vec<Span> = Vec::new();
    for sp in spans {
        let sp = Span {
            start: (sp.start - pad).max(0.0),
            end: (sp.end + pad).min(duration),
        };
        match merged.last_mut() {
            Some(last) if sp.start <= last.end => last.end = last.end.max(sp.end),
            _ => merged.push(sp),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_with_hysteresis_and_minimums() {
        let step = CHUNK as f64 / SAMPLE_RATE as f64;
        // 10 chunks speech, 2 chunks dip (64 ms < 100 ms: bridged), 10 speech, 10 silence.
        let mut p = vec![0.9f32; 10];
        p.extend([0.1, 0.1]);
        p.extend(vec![0.9; 10]);
        p.extend(vec![0.0; 10]);
        let s = spans(&p, p.len() as f64 * step, SpanOptions::default());
        assert_eq!(s.len(), 1);
        assert!((s[0].start - 0.0).abs() < 1e-9);
        assert!((s[0].end - (22.0 * step + 0.03)).abs() < 1e-9);
        // A blip shorter than 250 ms is not speech; silence stays silence.
        let p = [0.0, 0.9, 0.9, 0.0, 0.0, 0.0, 0.0];
        assert!(spans(&p, 1.0, SpanOptions::default()).is_empty());
        assert!(spans(&[0.0; 100], 3.2, SpanOptions::default()).is_empty());
        // Between thresholds (0.35..0.5) speech continues.
        let mut p = vec![0.9f32; 10];
        p.extend(vec![0.4; 20]);
        let s = spans(&p, p.len() as f64 * step, SpanOptions::default());
        assert_eq!(s.len(), 1);
        assert!((s[0].end - p.len() as f64 * step).abs() < 1e-9);
    }
}
