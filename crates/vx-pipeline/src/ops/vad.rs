//! `vad`: where people speak (Silero VAD on 16 kHz mono), as spans on the file's timeline.
use std::path::{Path, PathBuf};

use serde::Serialize;
use vx_infer::vad::{spans, SileroVad, Span, SpanOptions, BLOCK, CHUNK, SAMPLE_RATE};

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

/// Speech probabilities handed on by the transcribe operation of the same plan, which scores
/// the same audio with the same model in the same chunks: Silero runs once for both.
pub enum Probs {
    Chunks(Vec<f32>),
    /// Every chunk was sent.
    Done,
}

pub struct Vad {
    model: PathBuf,
    /// Silero, or (`tap`) the probabilities transcribe computes.
    vad: Option<SileroVad>,
    tap: Option<crossbeam_channel::Receiver<Probs>>,
    threshold: f32,
    source: PathBuf,
    pending: Vec<f32>,
    probs: Vec<f32>,
    offset: Option<f64>,
}

impl Vad {
    /// `threads`: ONNX Runtime intra-op threads for the model.
    pub fn new(model: &Path, threshold: f32, threads: usize) -> Result<Vad> {
        check_threshold(threshold)?;
        let vad = SileroVad::open(model, vx_infer::runtime::SessionOptions { threads })?;
        Ok(Vad::with(model, threshold, Some(vad), None))
    }

    fn with(
        model: &Path,
        threshold: f32,
        vad: Option<SileroVad>,
        tap: Option<crossbeam_channel::Receiver<Probs>>,
    ) -> Vad {
        Vad {
            model: model.to_path_buf(),
            vad,
            tap,
            threshold,
            source: PathBuf::new(),
            pending: Vec::with_capacity(BLOCK + CHUNK),
            probs: Vec::new(),
            offset: None,
        }
    }
}

impl Vad {
    /// A vad operation that takes the probabilities the plan's transcribe operation computes
    /// with the same `model` (see [`super::transcribe::Transcribe::share_probabilities`]).
    pub fn tapping(
        model: &Path,
        threshold: f32,
        probs: crossbeam_channel::Receiver<Probs>,
    ) -> Result<Vad> {
        check_threshold(threshold)?;
        Ok(Vad::with(model, threshold, None, Some(probs)))
    }
}

fn check_threshold(threshold: f32) -> Result<()> {
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(Error::Usage("--threshold must be between 0 and 1".into()));
    }
    Ok(())
}

impl Operation for Vad {
    fn name(&self) -> &'static str {
        "vad"
    }

    fn needs(&mut self, input: &Input) -> Needs {
        self.source = input.path.clone();
        if let Some(v) = self.vad.as_mut() {
            v.reset();
        }
        Needs::mono(SAMPLE_RATE)
    }

    fn audio(&mut self, samples: &[f32], time: f64) -> Result<Flow> {
        self.offset.get_or_insert(time);
        let Some(vad) = self.vad.as_mut() else {
            // Tapping: the first block's time is all it needs from the audio.
            return Ok(Flow::Stop);
        };
        self.pending.extend_from_slice(samples);
        // Scored a block at a time (one model call: SileroVad::probabilities).
        if self.pending.len() >= BLOCK {
            let full = self.pending.len() / CHUNK * CHUNK;
            self.probs.extend(vad.probabilities(&self.pending[..full])?);
            self.pending.drain(..full);
        }
        Ok(Flow::Continue)
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        end.audio_ok(&self.source)?;
        if let Some(rx) = self.tap.take() {
            loop {
                match rx.recv() {
                    Ok(Probs::Chunks(p)) => self.probs.extend(p),
                    Ok(Probs::Done) => break,
                    Err(_) => {
                        return Err(Error::failed(
                            &self.source,
                            "vad: the transcription it shares Silero with stopped early",
                        ))
                    }
                }
            }
        }
        if let (false, Some(vad)) = (self.pending.is_empty(), self.vad.as_mut()) {
            let p = vad.probabilities(&self.pending)?;
            self.probs.extend(p);
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
