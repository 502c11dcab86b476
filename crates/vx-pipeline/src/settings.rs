//! The options of one operation in `--ops` (`detect(threshold=0.3,classes=person+car)`),
//! checked and typed once, before any input runs: a bad value is a usage error that names the
//! operation, the option and its position in the spec.
use vx_image::jpeg::ImageFormat;

use crate::plan::{OpOption, Step};
use crate::{Error, Result};

/// What a step's options set (None / false: the operation's default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    // keyframes
    pub every: Option<f64>,
    pub max: Option<usize>,
    pub min_interval: Option<f64>,
    pub dedup: Option<u32>,
    pub max_side: Option<u32>,
    pub quality: Option<u8>,
    pub format: Option<ImageFormat>,
    // detect, faces, vad, scenes
    pub threshold: Option<f64>,
    pub classes: Option<Vec<String>>,
    pub agnostic_nms: bool,
    pub min_scene_len: Option<usize>,
    // audio
    pub rate: Option<u32>,
    pub channels: Option<u16>,
    // transcribe
    pub language: Option<String>,
    pub words: bool,
    pub beam_size: Option<usize>,
    pub full_context: bool,
    pub temperature: Option<f64>,
    pub no_fallback: bool,
}

impl Settings {
    /// Check and type the options of `step` (their keys were checked by the planner).
    pub fn of(spec: &str, step: &Step) -> Result<Settings> {
        let mut s = Settings::default();
        for o in &step.options {
            let bad = |why: &str| {
                Error::Usage(format!(
                    "--ops \"{spec}\": {}({}{}) at position {}: {why}",
                    step.name,
                    o.key,
                    o.value
                        .as_deref()
                        .map(|v| format!("={v}"))
                        .unwrap_or_default(),
                    o.pos
                ))
            };
            let num = |lo: f64, hi: f64| -> Result<f64> {
                let v: f64 = value(o)
                    .ok_or_else(|| bad("needs a value"))?
                    .parse()
                    .map_err(|_| bad("not a number"))?;
                if !(v.is_finite() && v >= lo && v <= hi) {
                    return Err(bad(&format!("must be between {lo} and {hi}")));
                }
                Ok(v)
            };
            let int = |lo: u64, hi: u64| -> Result<u64> {
                let v: u64 = value(o)
                    .ok_or_else(|| bad("needs a value"))?
                    .parse()
                    .map_err(|_| bad("not a whole number"))?;
                if v < lo || v > hi {
                    return Err(bad(&format!("must be between {lo} and {hi}")));
                }
                Ok(v)
            };
            let flag = || -> Result<bool> {
                match value(o) {
                    None | Some("true") => Ok(true),
                    Some("false") => Ok(false),
                    Some(_) => Err(bad("is a flag: give it alone, or =true / =false")),
                }
            };
            let positive = |x: f64| {
                if x > 0.0 {
                    Ok(x)
                } else {
                    Err(bad("must be more than 0"))
                }
            };
            match (step.name.as_str(), o.key.as_str()) {
                ("keyframes", "every") => {
                    if step.input.is_some() {
                        return Err(bad(
                            "after a stage that hands on frames (scenes), keyframes takes those frames: every= does not apply",
                        ));
                    }
                    s.every = Some(positive(num(0.0, 1e9)?)?)
                }
                ("keyframes", "max") => s.max = Some(int(1, u32::MAX as u64)? as usize),
                ("keyframes", "min-interval") => s.min_interval = Some(num(0.0, 1e9)?),
                ("keyframes", "dedup") => s.dedup = Some(int(0, 64)? as u32),
                ("keyframes", "max-side") => s.max_side = Some(int(1, 65535)? as u32),
                ("keyframes", "quality") => s.quality = Some(int(1, 100)? as u8),
                ("keyframes", "format") => {
                    s.format = Some(match value(o) {
                        Some("jpg" | "jpeg") => ImageFormat::Jpeg,
                        Some("png") => ImageFormat::Png,
                        _ => return Err(bad("is jpg or png")),
                    })
                }
                ("detect" | "faces", "threshold") => s.threshold = Some(num(0.0, 1.0)?),
                // Silero's threshold splits speech from silence: strictly between 0 and 1.
                ("vad", "threshold") => {
                    let t = num(0.0, 1.0)?;
                    if t <= 0.0 || t >= 1.0 {
                        return Err(bad("must be more than 0 and less than 1"));
                    }
                    s.threshold = Some(t)
                }
                ("scenes", "threshold") => s.threshold = Some(positive(num(0.0, 255.0)?)?),
                ("scenes", "min-scene-len") => s.min_scene_len = Some(int(0, 1 << 20)? as usize),
                ("detect", "classes") => {
                    // As written ('_' also matches a space: traffic_light is "traffic light"),
                    // in one order (the order does not change what is kept).
                    let mut names: Vec<String> = value(o)
                        .ok_or_else(|| bad("needs class names joined by '+'"))?
                        .split('+')
                        .map(str::to_string)
                        .collect();
                    if names.iter().any(|n| n.trim().is_empty()) {
                        return Err(bad("an empty class name"));
                    }
                    names.sort();
                    names.dedup();
                    s.classes = Some(names);
                }
                ("detect", "agnostic-nms") => s.agnostic_nms = flag()?,
                ("audio", "rate") => s.rate = Some(int(1000, 768_000)? as u32),
                ("audio", "channels") => s.channels = Some(int(1, 8)? as u16),
                ("transcribe", "language") => {
                    let l = value(o).ok_or_else(|| bad("needs a language code"))?;
                    // Checked against the model when the operation is made (a code, an
                    // English name, or auto).
                    if !(2..=16).contains(&l.len()) || !l.chars().all(|c| c.is_ascii_alphabetic()) {
                        return Err(bad("a language such as en, fr or auto"));
                    }
                    s.language = Some(l.to_ascii_lowercase());
                }
                ("transcribe", "words") => s.words = flag()?,
                ("transcribe", "beam-size") => s.beam_size = Some(int(1, 8)? as usize),
                ("transcribe", "full-context") => s.full_context = flag()?,
                ("transcribe", "temperature") => {
                    let t = num(0.0, 1.0)? + 0.0; // -0 is 0
                    if t > 0.0 && t < MIN_TEMPERATURE {
                        return Err(bad("0, or from 0.01 to 1"));
                    }
                    s.temperature = Some(t)
                }
                ("transcribe", "no-fallback") => s.no_fallback = flag()?,
                _ => return Err(bad("not an option of this operation")),
            }
        }
        // whisper.cpp decodes every temperature above 0 by sampling (greedy.best_of
        // decoders), never with beams: the two together would silently drop the beams.
        if s.temperature.is_some_and(|t| t > 0.0) && s.beam_size.is_some_and(|b| b > 1) {
            return Err(Error::Usage(format!(
                "--ops \"{spec}\": {}: beam search decodes at temperature 0 only (whisper.cpp samples above 0): give beam-size or temperature, not both",
                step.name
            )));
        }
        Ok(s)
    }
}

/// The lowest temperature above 0 (whisper.cpp divides the logits by it: 1e-38 made
/// infinities and garbage tokens).
pub const MIN_TEMPERATURE: f64 = 0.01;

fn value(o: &OpOption) -> Option<&str> {
    o.value.as_deref()
}
