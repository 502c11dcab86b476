//! Sound embeddings with the aisfx model (`sfx_embedding.onnx`, 512-d per 2.32 s block).
//! The log-mel front end is aisfx's default (essentia) path, re-implemented here as
//! PROVENANCE.md section 7 describes: 44.1 kHz mono; 2048-sample frames every 1024 samples,
//! centred (zero padding at both ends); symmetric Hann; power spectrum; 96 HTK mel bands
//! (0..22050 Hz, triangles in the mel domain, unit-sum); log10(1e4 x + 1); / 9.4578; blocks of
//! 100 frames every 50.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::session::Session;
use ort::value::TensorRef;
use rustfft::num_complex::Complex32;
use serde::Serialize;

use crate::runtime::{session, SessionOptions};
use crate::{InferError, Result};

pub const SAMPLE_RATE: u32 = 44_100;
pub const FRAME: usize = 2048;
pub const HOP: usize = 1024;
pub const BANDS: usize = 96;
pub const BLOCK: usize = 100;
pub const BLOCK_HOP: usize = 50;
/// aisfx's 'original' normalisation constant.
pub const NORM: f32 = 9.457_799;

/// Log-mel front end (reusable across files: window, filter bank and FFT plan are built once).
pub struct LogMel {
    window: Vec<f32>,
    /// Per band: first bin and weights.
    bands: Vec<(usize, Vec<f32>)>,
    fft: Arc<dyn rustfft::Fft<f32>>,
}

fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    pub fn new() -> Self {
        let window = (0..FRAME)
            .map(|n| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / (FRAME - 1) as f64).cos())
                    as f32
            })
            .collect();
        let bins = FRAME / 2 + 1;
        let max_mel = hz_to_mel(SAMPLE_RATE as f64 / 2.0);
        let edges: Vec<f64> = (0..BANDS + 2)
            .map(|i| max_mel * i as f64 / (BANDS + 1) as f64)
            .collect();
        let bin_mel: Vec<f64> = (0..bins)
            .map(|k| hz_to_mel(k as f64 * SAMPLE_RATE as f64 / FRAME as f64))
            .collect();
        let mut bands = Vec::with_capacity(BANDS);
        for j in 0..BANDS {
            let (lo, mid, hi) = (edges[j], edges[j + 1], edges[j + 2]);
            let mut first = None;
            let mut w = Vec::new();
            for (k, &m) in bin_mel.iter().enumerate() {
                let v = if m > lo && m <= mid {
                    (m - lo) / (mid - lo)
                } else if m > mid && m < hi {
                    (hi - m) / (hi - mid)
                } else {
                    0.0
                };
                if v > 0.0 {
                    first.get_or_insert(k);
                    w.push(v);
                } else if first.is_some() {
                    break;
                }
            }
            let sum: f64 = w.iter().sum();
            let w: Vec<f32> = w
                .iter()
                .map(|v| if sum > 0.0 { (v / sum) as f32 } else { 0.0 })
                .collect();
            bands.push((first.unwrap_or(0), w));
        }
        let fft = rustfft::FftPlanner::new().plan_fft_forward(FRAME);
        LogMel { window, bands, fft }
    }

    /// Number of frames for `n` samples: ceil((n + HOP) / HOP).
    pub fn frames(n: usize) -> usize {
        (n + HOP).div_ceil(HOP)
    }

    /// log10(1e4 * mel + 1) for every frame of 44.1 kHz mono `samples`: [frames][96].
    pub fn compute(&self, samples: &[f32]) -> Vec<[f32; BANDS]> {
        let mut scratch = Scratch::default();
        (0..Self::frames(samples.len()))
            .map(|f| self.frame(samples, 0, f, &mut scratch))
            .collect()
    }

    /// Frame `f` (centred on sample f * HOP; samples outside `samples` are zero), where
    /// `samples[0]` is sample `base` of the stream.
    fn frame(&self, samples: &[f32], base: usize, f: usize, sc: &mut Scratch) -> [f32; BANDS] {
        if sc.buf.len() != FRAME {
            sc.buf = vec![Complex32::new(0.0, 0.0); FRAME];
            sc.power = vec![0f32; FRAME / 2 + 1];
        }
        let start = (f * HOP) as i64 - (FRAME / 2) as i64 - base as i64;
        for (i, c) in sc.buf.iter_mut().enumerate() {
            let s = start + i as i64;
            let x = if s >= 0 && (s as usize) < samples.len() {
                samples[s as usize]
            } else {
                0.0
            };
            *c = Complex32::new(x * self.window[i], 0.0);
        }
        self.fft.process(&mut sc.buf);
        for (p, c) in sc.power.iter_mut().zip(&sc.buf) {
            *p = c.norm_sqr();
        }
        let mut row = [0f32; BANDS];
        for (r, (first, w)) in row.iter_mut().zip(&self.bands) {
            let e: f32 = w.iter().zip(&sc.power[*first..]).map(|(a, b)| a * b).sum();
            *r = (1e4 * e + 1.0).log10();
        }
        row
    }
}

/// FFT buffers reused from frame to frame.
#[derive(Default)]
struct Scratch {
    buf: Vec<Complex32>,
    power: Vec<f32>,
}

/// Block starts (in frames) for `t` frames, as aisfx counts them.
pub fn block_starts(t: usize) -> Vec<usize> {
    if t <= BLOCK {
        return vec![0];
    }
    // num_blocks = ceil(rest / hop + 1), minus 1 when rest is not a multiple of hop.
    let rest = t - BLOCK;
    let mut n = (rest as f64 / BLOCK_HOP as f64 + 1.0).ceil() as usize;
    if !rest.is_multiple_of(BLOCK_HOP) {
        n -= 1;
    }
    (0..n.max(1)).map(|b| b * BLOCK_HOP).collect()
}

/// One embedding window.
#[derive(Debug, Clone, Serialize)]
pub struct Embedding {
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub start: f64,
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub end: f64,
    pub vector: Vec<f32>,
}

pub struct SfxEmbedder {
    path: PathBuf,
    session: Session,
    logmel: LogMel,
}

impl SfxEmbedder {
    pub fn open(path: &Path, opts: SessionOptions) -> Result<Self> {
        let session = session(path, opts)?;
        let ok = session.inputs().len() == 1
            && session.inputs()[0].name() == "logmel"
            && session.outputs().iter().any(|o| o.name() == "embedding");
        if !ok {
            return Err(InferError::Signature {
                path: path.into(),
                reason: "expected input 'logmel' [batch, frames, 96] and output 'embedding'".into(),
            });
        }
        Ok(SfxEmbedder {
            path: path.into(),
            session,
            logmel: LogMel::new(),
        })
    }

    /// Embeddings of 44.1 kHz mono audio, one per block of 100 frames (2.32 s), every 50.
    pub fn embed(&mut self, samples: &[f32]) -> Result<Vec<Embedding>> {
        let mut out = Vec::new();
        let mut stream = self.stream();
        stream.push(samples, &mut |e| out.push(e))?;
        stream.finish(&mut |e| out.push(e))?;
        Ok(out)
    }

    /// Embed audio that arrives in pieces: memory stays bounded whatever the length (blocks
    /// go to the model [`SfxStream::BATCH`] at a time as soon as their frames are known).
    pub fn stream(&mut self) -> SfxStream<'_> {
        SfxStream {
            emb: self,
            samples: Vec::new(),
            sample_base: 0,
            total: 0,
            mel: Vec::new(),
            mel_base: 0,
            next_block: 0,
            queued: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// Embeddings from a whole file's log-mel ([`LogMel::compute`]) in one model call: the
    /// direct reading of aisfx, kept as the reference the streaming path is tested against.
    pub fn embed_logmel(&mut self, mel: &[[f32; BANDS]]) -> Result<Vec<Embedding>> {
        let starts = block_starts(mel.len());
        let mut input = vec![0f32; starts.len() * BLOCK * BANDS];
        for (b, &s) in starts.iter().enumerate() {
            for f in 0..BLOCK {
                if let Some(row) = mel.get(s + f) {
                    for (k, v) in row.iter().enumerate() {
                        input[(b * BLOCK + f) * BANDS + k] = (v / NORM).max(0.0);
                    }
                }
            }
        }
        self.run_blocks(&input, &starts)
    }

    /// Run the model on blocks of normalised log-mel rows (each BLOCK x BANDS).
    fn run_blocks(&mut self, input: &[f32], starts: &[usize]) -> Result<Vec<Embedding>> {
        let run = |e: ort::Error| InferError::Run {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let t = TensorRef::from_array_view(([starts.len(), BLOCK, BANDS], input)).map_err(run)?;
        let out = self.session.run(ort::inputs!["logmel" => t]).map_err(run)?;
        let (_, data) = out["embedding"].try_extract_tensor::<f32>().map_err(run)?;
        let dim = data.len() / starts.len().max(1);
        let hop = HOP as f64 / SAMPLE_RATE as f64;
        Ok(starts
            .iter()
            .enumerate()
            .map(|(b, &s)| Embedding {
                start: s as f64 * hop,
                end: (s + BLOCK) as f64 * hop,
                vector: data[b * dim..(b + 1) * dim].to_vec(),
            })
            .collect())
    }

    pub fn logmel(&self) -> &LogMel {
        &self.logmel
    }
}

/// Streaming embedder (see [`SfxEmbedder::stream`]): frames are computed once the samples
/// they cover have arrived, and a block once its 100 frames are known (a block that fits in
/// the frames so far is in aisfx's final block list whatever the total length).
pub struct SfxStream<'a> {
    emb: &'a mut SfxEmbedder,
    /// Samples from `sample_base` on (what frames still to compute may need).
    samples: Vec<f32>,
    sample_base: usize,
    total: usize,
    /// Log-mel rows from frame `mel_base` on (what blocks still to run may need).
    mel: Vec<[f32; BANDS]>,
    mel_base: usize,
    /// Start frame of the next block to queue, in units of BLOCK_HOP.
    next_block: usize,
    queued: Vec<usize>,
    scratch: Scratch,
}

impl SfxStream<'_> {
    /// Blocks per model call. Activations grow with it (about 10 MiB per block): on a
    /// 25-minute file, 32 peaked at 474 MiB and 8 at 210 MiB, equally fast.
    pub const BATCH: usize = 8;

    /// More samples; `sink` gets each embedding as soon as it is computed.
    pub fn push(&mut self, samples: &[f32], sink: &mut impl FnMut(Embedding)) -> Result<()> {
        self.samples.extend_from_slice(samples);
        self.total += samples.len();
        // Frame f needs samples up to f * HOP + FRAME / 2.
        loop {
            let f = self.mel_base + self.mel.len();
            if f * HOP + FRAME / 2 > self.total {
                break;
            }
            self.add_frame(f);
        }
        let frames = self.mel_base + self.mel.len();
        self.queue_blocks(|s| s + BLOCK <= frames);
        self.run(false, sink)
    }

    /// End of the audio: the last frames (zero-padded), the last blocks.
    pub fn finish(mut self, sink: &mut impl FnMut(Embedding)) -> Result<()> {
        let frames = LogMel::frames(self.total);
        while self.mel_base + self.mel.len() < frames {
            let f = self.mel_base + self.mel.len();
            self.add_frame(f);
        }
        let starts = block_starts(frames);
        self.queue_blocks(|s| starts.contains(&s));
        self.run(true, sink)
    }

    fn add_frame(&mut self, f: usize) {
        let row = self
            .emb
            .logmel
            .frame(&self.samples, self.sample_base, f, &mut self.scratch);
        self.mel.push(row);
        // The next frame starts FRAME / 2 before its centre: earlier samples are done with.
        let keep = ((f + 1) * HOP).saturating_sub(FRAME / 2);
        if keep > self.sample_base {
            let n = (keep - self.sample_base).min(self.samples.len());
            self.samples.drain(..n);
            self.sample_base += n;
        }
    }

    fn queue_blocks(&mut self, ready: impl Fn(usize) -> bool) {
        while ready(self.next_block * BLOCK_HOP) {
            self.queued.push(self.next_block * BLOCK_HOP);
            self.next_block += 1;
        }
    }

    fn run(&mut self, all: bool, sink: &mut impl FnMut(Embedding)) -> Result<()> {
        while self.queued.len() >= Self::BATCH || (all && !self.queued.is_empty()) {
            let n = self.queued.len().min(Self::BATCH);
            let starts: Vec<usize> = self.queued.drain(..n).collect();
            let mut input = vec![0f32; n * BLOCK * BANDS];
            for (b, &s) in starts.iter().enumerate() {
                for f in 0..BLOCK {
                    let Some(row) = (s + f)
                        .checked_sub(self.mel_base)
                        .and_then(|i| self.mel.get(i))
                    else {
                        continue; // past the end: zero rows, as aisfx pads
                    };
                    for (k, v) in row.iter().enumerate() {
                        input[(b * BLOCK + f) * BANDS + k] = (v / NORM).max(0.0);
                    }
                }
            }
            for e in self.emb.run_blocks(&input, &starts)? {
                sink(e);
            }
            // Rows before the next block's start are done with.
            let first = self
                .queued
                .first()
                .copied()
                .unwrap_or(self.next_block * BLOCK_HOP);
            if first > self.mel_base {
                let n = (first - self.mel_base).min(self.mel.len());
                self.mel.drain(..n);
                self.mel_base += n;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_and_block_counts_follow_aisfx() {
        assert_eq!(LogMel::frames(485_100), 475); // 11.0 s
        assert_eq!(block_starts(475).len(), 8);
        assert_eq!(block_starts(50), vec![0]);
        assert_eq!(block_starts(200), vec![0, 50, 100]); // rest 100: 100/50 + 1
        assert_eq!(block_starts(175), vec![0, 50]); // rest 75: ceil(2.5) - 1
    }

    #[test]
    fn filter_bank_is_unit_sum() {
        let m = LogMel::new();
        assert_eq!(m.bands.len(), BANDS);
        for (_, w) in &m.bands {
            let s: f32 = w.iter().sum();
            assert!((s - 1.0).abs() < 1e-4, "{s}");
        }
    }
}
