//! `vx transcribe`: whisper.cpp on the speech Silero finds, one or several formats out.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use vx_pipeline::budget::Budget;
use vx_pipeline::ops;

use crate::commands::*;
use crate::TextFormat;

/// The options of `vx transcribe` besides its input, model and output.
pub struct TranscribeFlags {
    pub language: Option<String>,
    pub threads: usize,
    pub no_vad: bool,
    pub full_context: bool,
    pub vad_model: Option<String>,
    pub prompt: Option<String>,
    pub beam_size: usize,
    pub temperature: f32,
    pub fallback: bool,
    pub words: bool,
    pub translate: bool,
    pub stream_output: bool,
    pub debug: bool,
}

/// The Silero model transcribe uses: given, in the model directory, or beside the whisper one.
pub(crate) fn vad_for(model: &Path, vad_model: Option<&str>) -> Result<PathBuf> {
    match vad_model {
        Some(m) => resolve_model(m),
        None => {
            let beside = model.parent().map(|d| d.join("silero_vad.onnx"));
            vx_pipeline::models::in_model_dir("silero_vad.onnx")
                .or(beside.filter(|p| p.exists()))
                .ok_or_else(|| anyhow::anyhow!("no Silero VAD model found (give --vad-model PATH, or --no-vad to transcribe silence too)"))
        }
    }
}

pub fn transcribe(
    file: &Path,
    model: &Path,
    formats: &[TextFormat],
    out: Option<&Path>,
    f: TranscribeFlags,
    quiet: bool,
) -> Result<ExitCode> {
    use vx_infer::transcribe::{to_srt, to_vtt, Segment};
    let mut formats = formats.to_vec();
    formats.dedup();
    // One output per format: OUT itself for one, OUT with each extension for several. With
    // --stream-output standard output carries the segments: the formats go to -o only.
    // whisper.cpp decodes every temperature above 0 by sampling, never with beams.
    if f.temperature > 0.0 && f.beam_size > 1 {
        return Err(usage(
            "--beam-size with --temperature above 0: beam search decodes at temperature 0 only (whisper.cpp samples above 0)",
        ));
    }
    let outs = if f.stream_output && out.is_none_or(|o| o.as_os_str() == "-") {
        if out.is_some() {
            return Err(usage(
                "--stream-output writes the segments to standard output: -o - is taken",
            ));
        }
        Vec::new()
    } else if formats.len() > 1 {
        let base = out.filter(|o| o.as_os_str() != "-").ok_or_else(|| {
            usage("several formats need -o OUT (one file each: OUT.json, OUT.srt...)")
        })?;
        formats
            .iter()
            .map(|fmt| open_out(&[file], Some(&base.with_extension(fmt.ext()))))
            .collect::<Result<Vec<_>>>()?
    } else {
        vec![open_out(&[file], out)?]
    };
    let vad_model = if f.no_vad {
        None
    } else {
        Some(vad_for(model, f.vad_model.as_deref())?)
    };
    let stream_failed: std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>> =
        Default::default();
    let shared = ops::transcribe::SharedWhisper::open(model).map_err(lift)?;
    let op = ops::transcribe::Transcribe::new(
        shared,
        ops::transcribe::TranscribeOptions {
            language: f.language,
            threads: Budget::new(f.threads).split(1, false).whisper,
            full_context: f.full_context,
            vad_model,
            prompt: f.prompt,
            beam_size: f.beam_size,
            temperature: f.temperature,
            fallback: f.fallback,
            words: f.words,
            translate: f.translate,
            on_batch: f.debug.then(|| {
                let name = file.display().to_string();
                let n = std::sync::Mutex::new(0usize);
                ops::transcribe::OnBatch(std::sync::Arc::new(move |spans: &[(f64, f64)]| {
                    let i = n.lock().map(|mut n| {
                        *n += 1;
                        *n
                    });
                    let secs: f64 = spans.iter().map(|(a, b)| b - a).sum();
                    let list: Vec<String> = spans
                        .iter()
                        .map(|(a, b)| format!("{a:.3}-{b:.3}"))
                        .collect();
                    clear_progress(quiet);
                    vx_cli::say!(
                        "vx: transcribe: {name}: batch {}: {} s ({secs:.2} s of audio)",
                        i.unwrap_or(0),
                        list.join(" + ")
                    );
                }))
            }),
            on_segment: f.stream_output.then(|| {
                let failed = stream_failed.clone();
                ops::transcribe::OnSegment(std::sync::Arc::new(move |s: &Segment| {
                    use std::io::Write as _;
                    let mut out = std::io::stdout().lock();
                    let r = writeln!(out, "{}", vx_infer::transcribe::to_line(s))
                        .and_then(|()| out.flush());
                    // The first failure is the run's (segments lost on a full disk exited 0).
                    if let (Err(e), Ok(mut slot)) = (r, failed.lock()) {
                        slot.get_or_insert(e);
                    }
                }))
            }),
        },
    )
    .map_err(lift)?;
    let o = single(file, Box::new(op), engine("transcribe", 0, quiet), quiet)?;
    if let Some(e) = stream_failed.lock().ok().and_then(|mut s| s.take()) {
        return Err(anyhow::Error::new(e).context("standard output"));
    }
    warn_all(file, &o.warnings);
    let t: ops::transcribe::Transcript = typed(o)?;
    // With --words, subtitles carry one cue per word.
    let cues: Vec<Segment> = if f.words {
        t.segments
            .iter()
            .flat_map(|s| s.words.iter().flatten())
            .map(|w| Segment {
                start: w.start,
                end: w.end,
                text: w.word.clone(),
                words: None,
            })
            .collect()
    } else {
        t.segments.clone()
    };
    for (fmt, out) in formats.iter().zip(outs) {
        let body = match fmt {
            TextFormat::Json => json_text(&t, true)?,
            TextFormat::Srt => to_srt(&cues).into_bytes(),
            TextFormat::Vtt => to_vtt(&cues).into_bytes(),
            TextFormat::Txt => format!("{}\n", t.text).into_bytes(),
        };
        emit(out, &body)?;
    }
    Ok(ExitCode::SUCCESS)
}
