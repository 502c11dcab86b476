//! Speech to text with whisper.cpp (through `whisper-rs`, which builds whisper.cpp from
//! source; GGML_NATIVE is left on, so the binary uses this CPU's instruction set: build on the
//! machine that runs it). Input: 16 kHz mono f32. The caller decides which stretches of audio
//! to transcribe (VAD windows); timestamps come back in seconds of the original file.
use std::path::{Path, PathBuf};

use serde::Serialize;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use crate::vad::Span;
use crate::{InferError, Result};

/// One transcribed segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

pub struct Whisper {
    path: PathBuf,
    ctx: WhisperContext,
}

impl Whisper {
    /// Load a whisper.cpp (ggml) model.
    pub fn open(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| InferError::Model {
            path: path.into(),
            reason: e.to_string(),
        })?;
        if !meta.is_file() {
            return Err(InferError::Model {
                path: path.into(),
                reason: "not a file".into(),
            });
        }
        // ggml files start with the magic 0x67676d6c ("lmgg" little-endian).
        let mut magic = [0u8; 4];
        use std::io::Read;
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .map_err(|e| InferError::Model {
                path: path.into(),
                reason: format!("cannot read: {e}"),
            })?;
        if u32::from_le_bytes(magic) != 0x6767_6d6c {
            return Err(InferError::Model {
                path: path.into(),
                reason: "not a whisper.cpp ggml model".into(),
            });
        }
        whisper_rs::install_logging_hooks(); // whisper.cpp's own chatter off
        let s = path.to_str().ok_or_else(|| InferError::Model {
            path: path.into(),
            reason: "path is not UTF-8".into(),
        })?;
        let ctx = WhisperContext::new_with_params(s, WhisperContextParameters::default()).map_err(
            |e| InferError::Model {
                path: path.into(),
                reason: format!("whisper.cpp cannot load it ({e:?}); truncated?"),
            },
        )?;
        Ok(Whisper {
            path: path.into(),
            ctx,
        })
    }

    /// Transcribe `samples` (16 kHz mono) that start at `offset` seconds in the file.
    pub fn transcribe(
        &self,
        samples: &[f32],
        offset: f64,
        language: Option<&str>,
        threads: usize,
    ) -> Result<Vec<Segment>> {
        let run = |reason: String| InferError::Run {
            path: self.path.clone(),
            reason,
        };
        let mut state = self.ctx.create_state().map_err(|e| run(format!("{e:?}")))?;
        let mut p = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        p.set_language(language);
        p.set_n_threads(threads.max(1) as i32);
        p.set_print_special(false);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_timestamps(false);
        p.set_no_context(true);
        p.set_suppress_blank(true);
        // No "[Music]" / "(applause)" annotations: vx transcribes speech.
        p.set_suppress_nst(true);
        state.full(p, samples).map_err(|e| run(format!("{e:?}")))?;
        let mut out = Vec::new();
        for seg in state.as_iter() {
            let text = seg
                .to_str_lossy()
                .map_err(|e| run(format!("{e:?}")))?
                .trim()
                .to_string();
            // Whatever annotation still slips through ("[Music]", "(silence)") is not speech.
            let tag = (text.starts_with('[') && text.ends_with(']'))
                || (text.starts_with('(') && text.ends_with(')'));
            if text.is_empty() || tag {
                continue;
            }
            let ms = |t: f64| (t * 1000.0).round() / 1000.0;
            out.push(Segment {
                start: ms(offset + seg.start_timestamp() as f64 / 100.0),
                end: ms(offset + seg.end_timestamp() as f64 / 100.0),
                text,
            });
        }
        Ok(out)
    }
}

/// Group speech spans into windows of at most `max` seconds (whisper's context is 30 s),
/// padded by `pad` seconds (clamped to [0, duration]); a span longer than `max` is cut.
pub fn windows(spans: &[Span], duration: f64, max: f64, pad: f64) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for s in spans {
        let mut start = s.start;
        while start < s.end {
            let end = s.end.min(start + max);
            match out.last_mut() {
                Some(w) if end - w.start <= max => w.end = end,
                _ => out.push(Span { start, end }),
            }
            start = end;
        }
    }
    out.into_iter()
        .map(|w| Span {
            start: (w.start - pad).max(0.0),
            end: (w.end + pad).min(duration),
        })
        .collect()
}

/// SRT / WebVTT time stamp.
fn stamp(t: f64, sep: char) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

pub fn to_srt(segments: &[Segment]) -> String {
    let mut s = String::new();
    for (i, seg) in segments.iter().enumerate() {
        s.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            stamp(seg.start, ','),
            stamp(seg.end, ','),
            seg.text
        ));
    }
    s
}

pub fn to_vtt(segments: &[Segment]) -> String {
    let mut s = String::from("WEBVTT\n\n");
    for seg in segments {
        s.push_str(&format!(
            "{} --> {}\n{}\n\n",
            stamp(seg.start, '.'),
            stamp(seg.end, '.'),
            seg.text
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_group_and_cut() {
        let sp = |a: f64, b: f64| Span { start: a, end: b };
        let w = windows(
            &[
                sp(1.0, 5.0),
                sp(10.0, 20.0),
                sp(25.0, 40.0),
                sp(50.0, 120.0),
            ],
            130.0,
            30.0,
            0.0,
        );
        // Spans are kept whole when they fit in a window of their own: 25..40 does not join.
        assert_eq!(w[0], sp(1.0, 20.0));
        assert_eq!(w[1], sp(25.0, 40.0));
        assert_eq!(w[2], sp(50.0, 80.0));
        assert_eq!(w[3], sp(80.0, 110.0));
        assert_eq!(w[4], sp(110.0, 120.0));
        assert!(windows(&[], 10.0, 30.0, 0.2).is_empty());
        let w = windows(&[sp(0.1, 2.0)], 2.05, 30.0, 0.2);
        assert_eq!(w[0], sp(0.0, 2.05));
    }

    #[test]
    fn srt_and_vtt_stamps() {
        let segs = [Segment {
            start: 3661.5,
            end: 3662.004,
            text: "hi".into(),
        }];
        assert_eq!(to_srt(&segs), "1\n01:01:01,500 --> 01:01:02,004\nhi\n\n");
        assert!(to_vtt(&segs).starts_with("WEBVTT\n\n01:01:01.500 --> 01:01:02.004\nhi\n"));
    }
}
