//! `vad`: where people speak (Silero VAD on 16 kHz mono), as spans on the file's timeline.
use std::path::{Path, PathBuf};

use serde::Serialize;
use vx_infer::vad::{spans, SileroVad, Span, SpanOptions, CHUNK, SAMPLE_RATE};

use crate::op::{End, Flow, Input, Needs, Operation, Output};
use crate::{Error, Result};

/// `vad.json`.
#[derive(Debug, Clone, Serialize)]
pub struct VadReport {
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub source: PathBuf,
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub model: PathBuf,
    #[serde(serialize_with = "vx_image::secs::short_f32")]
    pub threshold: f32,
    /// Seconds of audio analysed.
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub duration: f64,
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub speech_seconds: f64,
    pub speech: Vec<Span>,
    /// False when the input was damaged or truncated, or its header was wrong (see warnings).
    pub complete: bool,
    pub warnings: Vec<String>,
}

pub struct Vad {
    model: PathBuf,
    vad: SileroVad,
    threshold: f32,
    source: PathBuf,
    pending: Vec<f32>,
    probs: Vec<f32>,
    offset: Option<f64>,
}

impl Vad {
    /// `threads`: ONNX Runtime intra-op threads for the model.
    pub fn new(model: &Path, threshold: f32, threads: usize) -> Result<Vad> {
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(Error::Usage("--threshold must be between 0 and 1".into()));
        }
        let vad = SileroVad::open(model, vx_infer::runtime::SessionOptions { threads })?;
        Ok(Vad {
            model: model.to_path_buf(),
            vad,
            threshold,
            source: PathBuf::new(),
            pending: Vec::with_capacity(CHUNK * 2),
            probs: Vec::new(),
            offset: None,
        })
    }
}

impl Operation for Vad {
    fn name(&self) -> &'static str {
        "vad"
    }

    fn needs(&mut self, input: &Input) -> Needs {
        self.source = input.path.clone();
        self.vad.reset();
        Needs::mono(SAMPLE_RATE)
    }

    fn audio(&mut self, samples: &[f32], time: f64) -> Result<Flow> {
        self.offset.get_or_insert(time);
        self.pending.extend_from_slice(samples);
        let full = self.pending.len() / CHUNK * CHUNK;
        for c in self.pending[..full].chunks(CHUNK) {
            self.probs.push(self.vad.probability(c)?);
        }
        self.pending.drain(..full);
        Ok(Flow::Continue)
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        end.audio_ok(&self.source)?;
        if !self.pending.is_empty() {
            let p = self.vad.probability(&self.pending)?;
            self.probs.push(p);
        }
        let duration = end.audio_samples as f64 / SAMPLE_RATE as f64;
        let offset = self.offset.unwrap_or(0.0);
        let speech: Vec<Span> = spans(
            &self.probs,
            duration,
            SpanOptions {
                threshold: self.threshold,
                ..Default::default()
            },
        )
        .into_iter()
        .map(|s| Span {
            start: s.start + offset,
            end: s.end + offset,
        })
        .collect();
        let warnings = end.audio_warnings.clone();
        let mut out = Output::new(VadReport {
            source: self.source.clone(),
            model: self.model.clone(),
            threshold: self.threshold,
            duration,
            speech_seconds: speech.iter().map(|s| s.end - s.start).sum(),
            speech,
            complete: warnings.is_empty(),
            warnings: warnings.clone(),
        });
        out.warnings = warnings;
        Ok(out)
    }
}
