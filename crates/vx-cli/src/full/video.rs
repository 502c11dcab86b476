//! `vx scenes` and `vx subtitles`, and the scene pass of `vx keyframes --per-scene`.
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use vx_pipeline::ops;

use super::commands::*;
use crate::{SceneDetector, TextFormat};

/// `vx subtitles`.
pub fn subtitles(
    file: &Path,
    stream: Option<usize>,
    list: bool,
    format: TextFormat,
    out: Option<&Path>,
) -> Result<ExitCode> {
    use vx_infer::transcribe::{to_srt, to_vtt, Segment};
    use vx_media::subtitles;
    let no_stream = |e: vx_media::MediaError| -> anyhow::Error {
        match e {
            vx_media::MediaError::NoStream { .. } => NoStreamError(e.to_string()).into(),
            e => e.into(),
        }
    };
    if list {
        for t in subtitles::tracks(file)? {
            vx_cli::outln!("{}", serde_json::to_string(&t)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let out = open_out(&[file], out)?;
    let (track, mut cues) = subtitles::extract(file, stream).map_err(no_stream)?;
    // --start/--end: the cues shown in the range.
    if let Some((from, to)) = range() {
        cues.retain(|c| c.end > from && to.is_none_or(|t| c.start < t));
    }
    let segments: Vec<Segment> = cues
        .iter()
        .map(|c| Segment {
            start: c.start,
            end: c.end,
            text: c.text.clone(),
        })
        .collect();
    let body = match format {
        TextFormat::Json => {
            let mut v = serde_json::json!({
                "source": file.to_string_lossy(),
                "stream_index": track.stream_index,
                "codec": track.codec,
                "cues": cues,
                "complete": true,
                "warnings": [],
            });
            // Left out when unknown, never null.
            if let Some(l) = &track.language {
                v["language"] = serde_json::json!(l);
            }
            json_text(&v, true)?
        }
        TextFormat::Srt => to_srt(&segments).into_bytes(),
        TextFormat::Vtt => to_vtt(&segments).into_bytes(),
        TextFormat::Txt => {
            let mut t: String = segments
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            t.push('\n');
            t.into_bytes()
        }
    };
    emit(out, &body)?;
    Ok(ExitCode::SUCCESS)
}

/// `vx scenes`.
#[allow(clippy::too_many_arguments)]
pub fn scenes(
    file: &Path,
    detector: SceneDetector,
    threshold: Option<f64>,
    min_scene_len: usize,
    model: &str,
    csv: bool,
    out: Option<&Path>,
    quiet: bool,
) -> Result<ExitCode> {
    use ops::scenes::{SceneOptions, Scenes, ScenesReport};
    let mut opts = match detector {
        SceneDetector::Content => SceneOptions::content(),
        SceneDetector::Adaptive => SceneOptions::adaptive(),
        SceneDetector::Transnet => SceneOptions::transnet(&resolve_model(model)?),
    };
    if let Some(t) = threshold {
        opts.threshold = t;
    }
    opts.min_scene_len = min_scene_len;
    let out = open_out(&[file], out)?;
    let op = Scenes::new(opts).map_err(lift)?;
    let o = single(file, Box::new(op), engine("scenes", 0, quiet), quiet)?;
    warn_all(file, &o.warnings);
    let r: ScenesReport = typed(o)?;
    let body = if csv {
        // PySceneDetect's `list-scenes` layout (without its timecode line).
        let mut t = String::from("Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame,End Timecode,End Time (seconds),Length (frames),Length (timecode),Length (seconds)\n");
        let tc = |s: f64| {
            let ms = (s * 1000.0).round() as u64;
            format!(
                "{:02}:{:02}:{:02}.{:03}",
                ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000
            )
        };
        for sc in &r.scenes {
            let len = sc.end - sc.start;
            t.push_str(&format!(
                "{},{},{},{:.3},{},{},{:.3},{},{},{:.3}\n",
                sc.index + 1,
                sc.start_frame + 1,
                tc(sc.start),
                sc.start,
                sc.end_frame + 1,
                tc(sc.end),
                sc.end,
                sc.end_frame + 1 - sc.start_frame,
                tc(len),
                len
            ));
        }
        t.into_bytes()
    } else {
        json_text(&r, true)?
    };
    emit(out, &body)?;
    Ok(ExitCode::SUCCESS)
}

/// `vx keyframes --per-scene`: the middle time of every scene of `file` (content detector).
pub fn scene_middles(file: &Path, quiet: bool) -> Result<Vec<f64>> {
    let op = ops::scenes::Scenes::new(ops::scenes::SceneOptions::content()).map_err(lift)?;
    let o = single(file, Box::new(op), engine("scenes", 0, quiet), true)?;
    let r: ops::scenes::ScenesReport = typed(o)?;
    Ok(r.scenes.iter().map(|s| (s.start + s.end) / 2.0).collect())
}
