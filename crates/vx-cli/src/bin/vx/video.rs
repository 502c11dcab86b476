//! `vx scenes`, `vx subtitles` and `vx ocr`.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use vx_pipeline::ops;

use super::commands::*;
use crate::{SceneDetector, TextFormat};

/// `vx subtitles --list`: each input's subtitle streams, one JSON line each (with several
/// inputs, each line names its file). An input that cannot be read is reported and the others
/// go on.
pub fn subtitle_tracks(files: &[PathBuf], out: Option<&Path>) -> Result<ExitCode> {
    let inputs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = open_out(&inputs, out)?;
    let mut text = String::new();
    let mut failed = false;
    for file in files {
        match vx_media::subtitles::tracks(file) {
            Ok(tracks) => {
                for t in tracks {
                    let mut v = serde_json::to_value(&t)?;
                    if let (true, Some(m)) = (crate::inputs::several(files), v.as_object_mut()) {
                        m.insert("file".into(), file.to_string_lossy().into());
                    }
                    text.push_str(&serde_json::to_string(&v)?);
                    text.push('\n');
                }
            }
            Err(e) => {
                vx_cli::say!("vx: error: {}", vx_cli::one_line(&e.into()));
                failed = true;
            }
        }
    }
    emit(out, text.as_bytes())?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `vx subtitles`.
pub fn subtitles(
    file: &Path,
    stream: Option<usize>,
    format: TextFormat,
    out: Option<&Path>,
) -> Result<ExitCode> {
    use vx_infer::transcribe::{to_srt, to_vtt, Segment};
    let out = open_out(&[file], out)?;
    // The `subtitles` operation alone (--start/--end: the cues shown in the range).
    let mut opts = engine("subtitles", 0, true);
    opts.subtitle_stream = stream;
    let o = single(
        file,
        Box::<ops::subtitles::Subtitles>::default(),
        opts,
        true,
    )?;
    warn_all(file, &o.warnings);
    let report: ops::subtitles::SubtitlesReport = typed(o)?;
    let cues = &report.cues;
    let segments: Vec<Segment> = cues
        .iter()
        .map(|c| Segment {
            start: c.start,
            end: c.end,
            text: c.text.clone(),
            words: None,
        })
        .collect();
    let body = match format {
        TextFormat::Json => json_text(&report, true)?,
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

/// The options of `vx scenes` besides its input and output.
pub struct SceneArgs<'a> {
    pub detector: SceneDetector,
    pub threshold: Option<f64>,
    pub min_scene_len: usize,
    pub model: &'a str,
    pub csv: bool,
    pub threads: usize,
}

/// `vx scenes`.
pub fn scenes(file: &Path, a: &SceneArgs, out: Option<&Path>, quiet: bool) -> Result<ExitCode> {
    use ops::scenes::{SceneOptions, Scenes, ScenesReport};
    if let Some(t) = a.threshold {
        // Before the model is looked for.
        let d = match a.detector {
            SceneDetector::Content => ops::scenes::Detector::Content,
            SceneDetector::Adaptive => ops::scenes::Detector::Adaptive,
            SceneDetector::Transnet => ops::scenes::Detector::Transnet,
        };
        ops::scenes::check_threshold(d, t).map_err(lift)?;
    }
    let mut opts = match a.detector {
        SceneDetector::Content => SceneOptions::content(),
        SceneDetector::Adaptive => SceneOptions::adaptive(),
        SceneDetector::Transnet => SceneOptions::transnet(&resolve_model(a.model)?),
    };
    if let Some(t) = a.threshold {
        opts.threshold = t;
    }
    opts.min_scene_len = a.min_scene_len;
    opts.threads = a.threads;
    let out = open_out(&[file], out)?;
    let op = Scenes::new(opts).map_err(lift)?;
    let o = single(file, Box::new(op), engine("scenes", 0, quiet), quiet)?;
    warn_all(file, &o.warnings);
    let r: ScenesReport = typed(o)?;
    let body = if a.csv {
        // PySceneDetect's `list-scenes` layout (without its timecode line).
        let mut t = String::from("Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame,End Timecode,End Time (seconds),Length (frames),Length (timecode),Length (seconds)\n");
        let tc = |s: f64| vx_infer::transcribe::stamp(s, '.');
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

/// Load the OCR models: the detector `det`, the recogniser (`rec`, else the usual name
/// beside the detector) and the direction classifier (`cls`, else the usual name beside the
/// detector when it is there; none with `no_cls`). `copies` pictures are read at once, each
/// with `threads` inference threads.
#[allow(clippy::too_many_arguments)]
pub(crate) fn open_ocr(
    det: &Path,
    rec: Option<&str>,
    cls: Option<&str>,
    no_cls: bool,
    text_score: f32,
    threads: usize,
    copies: usize,
) -> Result<ops::ocr::SharedOcr> {
    use vx_infer::ocr::{CLS_MODEL, REC_MODEL};
    if !(0.0..=1.0).contains(&text_score) {
        return Err(usage(format!(
            "--text-score {text_score}: a score threshold is between 0 and 1"
        )));
    }
    let beside = |name: &str| det.with_file_name(name);
    let rec = match rec {
        Some(r) => resolve_model(r)?,
        None => {
            let p = beside(REC_MODEL);
            if !p.is_file() {
                anyhow::bail!(
                    "{}: no text recogniser beside the detector (looked for {}); give --rec-model",
                    det.display(),
                    p.display()
                );
            }
            p
        }
    };
    let cls = match (cls, no_cls) {
        (_, true) => None,
        (Some(c), false) => Some(resolve_model(c)?),
        (None, false) => {
            let p = beside(CLS_MODEL);
            if p.is_file() {
                Some(p)
            } else {
                vx_cli::say!(
                    "vx: warning: no direction classifier ({} not found): upside-down text will be misread",
                    p.display()
                );
                None
            }
        }
    };
    vx_pipeline::runner::open_ocr(det, &rec, cls.as_deref(), text_score, threads, copies)
        .map_err(lift)
}

/// `vx ocr`.
pub fn ocr(a: &crate::OcrArgs, quiet: bool) -> Result<ExitCode> {
    let det = resolve_model(&a.model)?;
    let inputs: Vec<&Path> = a.inputs.iter().map(|p| p.as_path()).collect();
    let out = open_out(&inputs, a.out.as_deref())?;
    // One picture: all threads on it. Several pictures (inputs or video frames): one copy of
    // the models per core, each on one picture with one thread (1.6x the throughput on two
    // cores: BENCHMARKS.md).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let budget = if a.threads == 0 { cores } else { a.threads };
    let one_picture = a.inputs.len() == 1 && looks_like_picture(&a.inputs[0]);
    let (copies, threads) = if one_picture || budget == 1 {
        (1, budget)
    } else {
        (budget, 1)
    };
    // The three sessions of a copy draw on one pool of `threads` threads that sleep when idle
    // (ONNX Runtime's global pool), rather than three pools of spinning threads: one picture
    // takes 0.33 s instead of 0.41 s (bench/ocr).
    vx_infer::runtime::share_threads(threads);
    let shared = open_ocr(
        &det,
        a.rec_model.as_deref(),
        a.cls_model.as_deref(),
        a.no_cls,
        a.text_score,
        threads,
        copies,
    )?;
    let opts = ops::ocr::OcrOptions {
        every: a.every,
        annotate: a.annotate.clone(),
    };
    // Inputs are read `copies` at a time; results keep the inputs' order.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes: Vec<std::sync::Mutex<Option<Result<vx_pipeline::op::Output>>>> = a
        .inputs
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..copies.min(a.inputs.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(input) = a.inputs.get(i) else {
                    break;
                };
                let op = ops::ocr::OcrOp::new(shared.clone(), opts.clone());
                let r = single(input, Box::new(op), engine("ocr", 0, quiet), quiet);
                if let Ok(mut slot) = outcomes[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    let outcomes = a.inputs.iter().zip(outcomes).map(|(input, outcome)| {
        let outcome = outcome
            .into_inner()
            .ok()
            .flatten()
            .unwrap_or_else(|| Err(anyhow::anyhow!("{}: not read", input.display())));
        (input.as_path(), outcome)
    });
    let (gathered, status) = gather(outcomes, |r: ops::ocr::OcrReport| (r.results, r.warnings))?;
    // Nothing succeeded: no JSON that looks like an (empty) result.
    if let Some((results, warnings)) = gathered {
        let report = ops::ocr::OcrReport {
            model: shared.models.clone(),
            text_score: a.text_score,
            results,
            complete: warnings.is_empty(),
            warnings,
        };
        emit(out, &json_text(&report, true)?)?;
    }
    Ok(status)
}

/// A still image by its name (only a choice of threads depends on it).
fn looks_like_picture(p: &Path) -> bool {
    let ext = p
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    matches!(
        ext.as_str(),
        "jpg" | "jpeg" | "png" | "webp" | "bmp" | "tif" | "tiff" | "gif"
    )
}

/// `vx embed-text`.
#[allow(clippy::too_many_arguments)]
pub fn embed_text(
    texts: &[String],
    file: Option<&Path>,
    model: Option<&str>,
    tokenizer: Option<&Path>,
    out: Option<&Path>,
    npy: Option<&Path>,
    threads: usize,
    quiet: bool,
) -> Result<ExitCode> {
    use anyhow::Context;
    use std::io::BufRead;
    // One text per non-empty line.
    fn read_lines(all: &mut Vec<String>, r: &mut dyn BufRead, name: &str) -> Result<()> {
        for line in r.lines() {
            let line = line.with_context(|| name.to_string())?;
            let line = line.trim_end_matches('\r');
            if !line.trim().is_empty() {
                all.push(line.to_string());
            }
        }
        Ok(())
    }
    let mut all: Vec<String> = Vec::new();
    for t in texts {
        if t == "-" {
            read_lines(&mut all, &mut std::io::stdin().lock(), "standard input")?;
        } else {
            all.push(t.clone());
        }
    }
    if let Some(f) = file {
        let fh = std::fs::File::open(f).with_context(|| f.display().to_string())?;
        read_lines(
            &mut all,
            &mut std::io::BufReader::new(fh),
            &f.display().to_string(),
        )?;
    }
    if all.is_empty() {
        return Err(usage("no text to embed"));
    }
    // The default only from the model directory (a file of its name in the working
    // directory is not it).
    let model = match model {
        Some(m) => resolve_model(m)?,
        None => model_dir_file(super::search::TEXT_MODEL)?,
    };
    let tokenizer = match tokenizer {
        Some(t) => t.to_path_buf(),
        None => vx_infer::text::tokenizer_beside(&model).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no tokenizer.json or NAME-tokenizer.json beside the model; give --tokenizer",
                model.display()
            )
        })?,
    };
    two_outputs(out, npy)?;
    let out = open_out(&[], out)?;
    let started = std::time::Instant::now();
    let mut e = vx_infer::text::TextEmbedder::open(
        &model,
        &tokenizer,
        vx_infer::runtime::SessionOptions { threads },
    )?;
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let pieces = e.embed(&refs)?;
    let dim = pieces.first().map_or(0, |p| p.embedding.len());
    let report = serde_json::json!({
        "model": model.to_string_lossy(),
        "tokenizer": tokenizer.to_string_lossy(),
        "dimensions": dim,
        "max_tokens": vx_infer::text::MAX_TOKENS,
        "embeddings": pieces.iter().map(|p| serde_json::json!({
            "index": p.index,
            "text": all[p.index].get(p.start..p.end).unwrap_or_default(),
            "start": p.start,
            "end": p.end,
            "tokens": p.tokens,
            "embedding": p.embedding,
        })).collect::<Vec<_>>(),
        "complete": true,
        "warnings": [],
    });
    if let Some(n) = npy {
        let bytes = ops::embed_audio::npy_f32(
            pieces.len(),
            dim,
            pieces.iter().flat_map(|p| p.embedding.iter().copied()),
        );
        vx_image::fsutil::write_atomic(n, &bytes).with_context(|| n.display().to_string())?;
    }
    emit(out, &json_text(&report, true)?)?;
    if !quiet {
        vx_cli::say!(
            "vx: embed-text: {} text(s), {} piece(s) in {:.2} s",
            all.len(),
            pieces.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}
