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
/// Samples the streaming callers hand [`SileroVad::probabilities`] at a time: 64 chunks, about
/// 2 s (one batched call; short enough to keep whisper fed while decoding goes on).
pub const BLOCK: usize = CHUNK * 64;
const CONTEXT: usize = 64;

static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Silero runs (chunks scored) in this process so far: lets tests see that a plan with both
/// `vad` and `transcribe` scores the audio once.
pub fn probability_calls() -> u64 {
    CALLS.load(std::sync::atomic::Ordering::Relaxed)
}

pub struct SileroVad {
    path: PathBuf,
    opts: SessionOptions,
    /// The whole model, one call per chunk: only when it cannot be batched.
    session: Option<Session>,
    state: Vec<f32>,
    window: Vec<f32>,
    /// The same network run many chunks at a time, when the model has the structure of
    /// silero-vad 6 (see [`Batched`]); `None`: one model call per chunk.
    batched: Option<Batched>,
}

/// Silero's network split where it can be batched. Per 32 ms chunk it is an encoder (an STFT
/// as a convolution and four convolutions: nothing carried from chunk to chunk, so all chunks
/// of a block go through ONNX Runtime in one call) followed by an LSTM cell whose state runs
/// from chunk to chunk, a ReLU, a 1x1 convolution and a sigmoid (a few thousand
/// multiply-adds per chunk, here in Rust). One model call per chunk cost more in ONNX
/// Runtime's per-call overhead than in arithmetic: on the 3.6-minute bench file 0.96 CPU-s
/// one chunk at a time (faster-whisper batches its own export of Silero the same way).
///
/// The encoder is the model's own 16 kHz branch cut at the encoder's output
/// ([`crate::onnx_graph::inline_branch`], [`crate::onnx_graph::extract`]); the LSTM's and
/// decoder's weights are read from the same branch. The probabilities equal the per-chunk
/// model's to float rounding (a test checks 1e-4 on speech).
struct Batched {
    encoder: Session,
    /// LSTM cell, PyTorch layout: gates i, f, g, o; [512, 128] each, biases summed.
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    bias: Vec<f32>,
    /// The 1x1 convolution after the ReLU: 128 weights and a bias.
    out_w: Vec<f32>,
    out_b: f32,
}

const HIDDEN: usize = 128;

/// The most chunks (of 32 ms) scored in one call of the batched encoder.
const MAX_BLOCK: usize = 256;

/// Where the pieces are in silero-vad 6's graph (the 16 kHz branch of its top-level `If`).
const ENCODER_OUT: &str = "/encoder/3/activation/Relu_output_0";

impl Batched {
    /// The batched form of the model at `path`, or `None` when its graph is not laid out as
    /// silero-vad 6's (then every chunk is one call of the whole model).
    fn open(path: &Path, opts: SessionOptions) -> Option<Batched> {
        use crate::onnx_graph::{constants, extract, inline_branch, node_outputs};
        // Silero is 2 MiB: a file far larger is some other model, not parsed here.
        if std::fs::metadata(path).ok()?.len() > 8 << 20 {
            return None;
        }
        let bytes = std::fs::read(path).ok()?;
        let branch = inline_branch(&bytes, "then_branch").ok()??;
        const WEIGHTS: [&str; 6] = [
            "decoder.rnn.weight_ih",
            "decoder.rnn.weight_hh",
            "decoder.rnn.bias_ih",
            "decoder.rnn.bias_hh",
            "decoder.decoder.2.weight",
            "decoder.decoder.2.bias",
        ];
        let mut found = constants(&branch, |n| WEIGHTS.iter().any(|w| n.ends_with(w))).ok()?;
        let mut weights = |suffix: &str, len: usize| {
            let i = found.iter().position(|(n, _, _)| n.ends_with(suffix))?;
            let (_, _, v) = found.swap_remove(i);
            (v.len() == len).then_some(v)
        };
        let w_ih = weights("decoder.rnn.weight_ih", 4 * HIDDEN * HIDDEN)?;
        let w_hh = weights("decoder.rnn.weight_hh", 4 * HIDDEN * HIDDEN)?;
        let b_ih = weights("decoder.rnn.bias_ih", 4 * HIDDEN)?;
        let b_hh = weights("decoder.rnn.bias_hh", 4 * HIDDEN)?;
        let out_w = weights("decoder.decoder.2.weight", HIDDEN)?;
        let out_b = weights("decoder.decoder.2.bias", 1)?[0];
        let names = node_outputs(&branch).ok()?;
        let encoder_out = names.iter().find(|n| n.ends_with(ENCODER_OUT))?;
        let encoder = extract(&branch, &[encoder_out]).ok()??;
        let encoder = crate::runtime::session_from_memory(path, &encoder, opts).ok()?;
        let bias = b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect();
        Some(Batched {
            encoder,
            w_ih,
            w_hh,
            bias,
            out_w,
            out_b,
        })
    }

    /// Whether this batched form scores a probe signal as `whole` (the whole model, one call
    /// per chunk) does: names and sizes are all `open` checks, so a model exported with a
    /// fixed batch of one, several frames per chunk or its gates in another order is caught
    /// here and scored one chunk per call instead.
    fn agrees_with(&mut self, whole: &mut Session) -> bool {
        // A chirp with a little noise, in three chunks (the last partial).
        let probe: Vec<f32> = (0..2 * CHUNK + 300)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                0.3 * (2.0 * std::f32::consts::PI * (200.0 + 8000.0 * t) * t).sin()
                    + 0.01 * ((i * 7919 % 101) as f32 / 50.0 - 1.0)
            })
            .collect();
        let mut window = vec![0f32; CONTEXT + CHUNK];
        let mut rows = Vec::new();
        for c in probe.chunks(CHUNK) {
            slide(&mut window, c);
            rows.extend_from_slice(&window);
        }
        let n = rows.len() / (CONTEXT + CHUNK);
        let mut state = vec![0f32; 2 * HIDDEN];
        let Ok(got) = self.run(&rows, n, &mut state) else {
            return false;
        };
        let mut state = vec![0f32; 2 * HIDDEN];
        rows.chunks(CONTEXT + CHUNK)
            .zip(got)
            .all(|(row, g)| whole_call(whole, row, &mut state).is_ok_and(|p| (p - g).abs() < 1e-4))
    }

    /// Probabilities of `n` chunks laid out as `n` rows of context + chunk in `input`, the
    /// recurrent `state` ([h; c]) carried on.
    fn run(
        &mut self,
        input: &[f32],
        n: usize,
        state: &mut [f32],
    ) -> std::result::Result<Vec<f32>, String> {
        let x =
            TensorRef::from_array_view(([n, CONTEXT + CHUNK], input)).map_err(|e| e.to_string())?;
        let dummy = [0f32; 2 * HIDDEN];
        let st = TensorRef::from_array_view(([2usize, 1, HIDDEN], &dummy[..]))
            .map_err(|e| e.to_string())?;
        let sr = [SAMPLE_RATE as i64];
        let sr = TensorRef::from_array_view(((), &sr[..])).map_err(|e| e.to_string())?;
        let out = self
            .encoder
            .run(ort::inputs!["input" => x, "state" => st, "sr" => sr])
            .map_err(|e| e.to_string())?;
        let (shape, feats) = out[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| e.to_string())?;
        // [n, 128, 1]: one encoder frame per chunk.
        if feats.len() != n * HIDDEN || shape[..] != [n as i64, HIDDEN as i64, 1] {
            return Err(format!("unexpected encoder output shape {shape:?}"));
        }
        let (h, c) = state.split_at_mut(HIDDEN);
        let mut gates = vec![0f32; 4 * HIDDEN];
        let mut probs = Vec::with_capacity(n);
        for x in feats.chunks_exact(HIDDEN) {
            for (r, g) in gates.iter_mut().enumerate() {
                let wi = &self.w_ih[r * HIDDEN..(r + 1) * HIDDEN];
                let wh = &self.w_hh[r * HIDDEN..(r + 1) * HIDDEN];
                *g = self.bias[r] + dot(wi, x) + dot(wh, h);
            }
            for k in 0..HIDDEN {
                let i = sigmoid(gates[k]);
                let f = sigmoid(gates[HIDDEN + k]);
                let g = gates[2 * HIDDEN + k].tanh();
                let o = sigmoid(gates[3 * HIDDEN + k]);
                c[k] = f * c[k] + i * g;
                h[k] = o * c[k].tanh();
            }
            let z: f32 = self.out_b
                + self
                    .out_w
                    .iter()
                    .zip(h.iter())
                    .map(|(w, v)| w * v.max(0.0))
                    .sum::<f32>();
            probs.push(sigmoid(z));
        }
        Ok(probs)
    }
}

/// The model's next input: the last 64 samples of the previous `window` as context, then
/// `chunk` (at most 512 samples), padded with silence.
fn slide(window: &mut [f32], chunk: &[f32]) {
    let chunk = &chunk[..chunk.len().min(CHUNK)];
    window.copy_within(CHUNK.., 0);
    window[CONTEXT..CONTEXT + chunk.len()].copy_from_slice(chunk);
    window[CONTEXT + chunk.len()..]
        .iter_mut()
        .for_each(|v| *v = 0.0);
}

/// One call of the whole model: `window` (64 samples of context + 512), `state` [h; c]
/// carried on.
fn whole_call(
    session: &mut Session,
    window: &[f32],
    state: &mut [f32],
) -> std::result::Result<f32, String> {
    let e = |e: ort::Error| e.to_string();
    let input = TensorRef::from_array_view(([1usize, CONTEXT + CHUNK], window)).map_err(e)?;
    let st = TensorRef::from_array_view(([2usize, 1, HIDDEN], &*state)).map_err(e)?;
    let sr = [SAMPLE_RATE as i64];
    let sr = TensorRef::from_array_view(((), &sr[..])).map_err(e)?;
    let out = session
        .run(ort::inputs!["input" => input, "state" => st, "sr" => sr])
        .map_err(e)?;
    let p = out["output"]
        .try_extract_tensor::<f32>()
        .map_err(e)?
        .1
        .first()
        .copied()
        .unwrap_or(0.0);
    let (_, s) = out["stateN"].try_extract_tensor::<f32>().map_err(e)?;
    if s.len() == state.len() {
        state.copy_from_slice(s);
    }
    Ok(p)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums: vectorised by the compiler, and the same order every call.
    let mut acc = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl SileroVad {
    /// Open the model. `opts.threads == 0` means one thread here: the model is tiny and runs
    /// once per 32 ms of audio, so a second thread only adds hand-over cost (measured on the
    /// 3.6-minute bench file: 1.43 CPU-s with ONNX Runtime's default of one per core).
    pub fn open(path: &Path, mut opts: SessionOptions) -> Result<Self> {
        if opts.threads == 0 {
            opts.threads = 1;
        }
        crate::runtime::check_model_file(path)?;
        let mut whole = Self::whole(path, opts)?;
        // Batched only when it scores a probe as the whole model does; then the whole model's
        // session is not kept.
        let batched =
            Batched::open(path, opts).and_then(|mut b| b.agrees_with(&mut whole).then_some(b));
        let session = if batched.is_some() { None } else { Some(whole) };
        Ok(SileroVad {
            path: path.into(),
            opts,
            session,
            state: vec![0.0; 2 * HIDDEN],
            window: vec![0.0; CONTEXT + CHUNK],
            batched,
        })
    }

    /// A session of the whole model, its inputs checked.
    fn whole(path: &Path, opts: SessionOptions) -> Result<Session> {
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
        Ok(session)
    }

    /// The same model scored one call of the whole model per chunk (for comparisons).
    pub fn per_chunk(mut self) -> Result<Self> {
        if self.session.is_none() {
            self.session = Some(Self::whole(&self.path, self.opts)?);
        }
        self.batched = None;
        Ok(self)
    }

    /// Whether chunks are scored many at a time ([`Batched`]) rather than one model call each.
    pub fn is_batched(&self) -> bool {
        self.batched.is_some()
    }

    /// Speech probabilities of consecutive 512-sample chunks of `samples` (a last shorter
    /// chunk is padded with silence, as [`Self::probability`] does), the same values as one
    /// [`Self::probability`] call per chunk, in one model call when the model allows it.
    pub fn probabilities(&mut self, samples: &[f32]) -> Result<Vec<f32>> {
        let Some(batched) = self.batched.as_mut() else {
            return samples.chunks(CHUNK).map(|c| self.probability(c)).collect();
        };
        let n = samples.len().div_ceil(CHUNK);
        if n == 0 {
            return Ok(Vec::new());
        }
        CALLS.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        // Rows of 64 samples of context (the previous chunk's last) + 512 new ones.
        let mut input = Vec::with_capacity(n * (CONTEXT + CHUNK));
        for c in samples.chunks(CHUNK) {
            slide(&mut self.window, c);
            input.extend_from_slice(&self.window);
        }
        // At most MAX_BLOCK chunks per call: the encoder's activations grow with the block.
        let mut probs = Vec::with_capacity(n);
        for rows in input.chunks(MAX_BLOCK * (CONTEXT + CHUNK)) {
            let m = rows.len() / (CONTEXT + CHUNK);
            let p = batched
                .run(rows, m, &mut self.state)
                .map_err(|reason| InferError::Run {
                    path: self.path.clone(),
                    reason,
                })?;
            probs.extend(p);
        }
        Ok(probs)
    }

    /// Forget the recurrent state and context (a new, unrelated stream).
    pub fn reset(&mut self) {
        self.state.iter_mut().for_each(|v| *v = 0.0);
        self.window.iter_mut().for_each(|v| *v = 0.0);
    }

    /// Speech probability of the next 512 samples (16 kHz, -1..1; shorter chunks are padded).
    pub fn probability(&mut self, chunk: &[f32]) -> Result<f32> {
        // An empty chunk is a chunk of silence (padded), on both paths.
        let chunk = match &chunk[..chunk.len().min(CHUNK)] {
            [] => &[0.0][..],
            c => c,
        };
        if self.batched.is_some() {
            return Ok(self.probabilities(chunk)?.first().copied().unwrap_or(0.0));
        }
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(session) = self.session.as_mut() else {
            return Err(InferError::Run {
                path: self.path.clone(),
                reason: "no Silero session".into(),
            });
        };
        slide(&mut self.window, chunk);
        whole_call(session, &self.window, &mut self.state).map_err(|reason| InferError::Run {
            path: self.path.clone(),
            reason,
        })
    }
}

/// Speech spans of 16 kHz mono samples held in memory.
pub fn speech_spans(vad: &mut SileroVad, samples: &[f32], o: SpanOptions) -> Result<Vec<Span>> {
    vad.reset();
    let probs = vad.probabilities(samples)?;
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
