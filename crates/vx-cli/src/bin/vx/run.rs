//! `vx run`: the plan over many inputs (vx_pipeline::bulk), models loaded on first use.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use vx_pipeline::budget::Budget;
use vx_pipeline::engine::Task;
use vx_pipeline::op::Operation;
use vx_pipeline::ops;

use super::commands::*;
use crate::RunArgs;

/// `vx run`: the plan over each input, OUTDIR/<id>/ with one JSON per operation and
/// result.json.
pub fn run(a: &RunArgs, quiet: bool) -> Result<ExitCode> {
    use vx_pipeline::plan::plan;
    let plan = plan(&a.ops, ops::KNOWN).map_err(|e| usage(e.to_string()))?;
    // --model OP=MODEL
    let mut given: Vec<(String, String)> = Vec::new();
    for m in &a.models {
        let (op, path) = m
            .split_once('=')
            .ok_or_else(|| usage(format!("--model {m}: expected OP=MODEL")))?;
        if !plan.steps.iter().any(|s| s.name == op) {
            return Err(usage(format!(
                "--model {m}: '{op}' is not an operation of --ops"
            )));
        }
        given.push((op.to_string(), path.to_string()));
    }
    let model_for = |op: &str| -> Result<PathBuf> {
        if let Some((_, m)) = given.iter().find(|(o, _)| o == op) {
            return resolve_model(m);
        }
        let names = ops::default_models(op);
        names
            .iter()
            .find_map(|n| resolve_model(n).ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{op}: no model given (--model {op}=PATH) and none of {} in the model directory {}",
                    names.join(", "),
                    vx_cli::models::model_dir().display()
                )
            })
    };
    let has = |op: &str| plan.steps.iter().any(|s| s.name == op);
    // One budget (see vx_pipeline::budget for why it is split this way).
    let budget = Budget::new(a.threads);
    let models = plan.steps.iter().filter(|s| ops::is_model(&s.name)).count();
    let shares = budget.split(models, has("keyframes"));
    if shares.shared_pool {
        // Before the first session: every model of the plan draws on one pool.
        vx_infer::runtime::share_threads(shares.onnx);
    }
    // The models' files now (a missing one is a usage problem found before any work); the
    // models themselves are loaded once, by the first input that needs them: a re-run over a
    // finished corpus loads none.
    type Lazy<T> = std::sync::OnceLock<std::result::Result<T, String>>;
    let mut detector_models = std::collections::HashMap::new();
    for op in ["detect", "faces"] {
        if has(op) {
            detector_models.insert(op, model_for(op)?);
        }
    }
    let detectors: std::collections::HashMap<&str, Lazy<(ops::detect::SharedDetector, f32)>> =
        detector_models.keys().map(|k| (*k, Lazy::new())).collect();
    let detector = |op: &str| -> vx_pipeline::Result<(ops::detect::SharedDetector, f32)> {
        let cell = detectors
            .get(op)
            .ok_or_else(|| vx_pipeline::Error::Message(format!("{op}: no model")))?;
        cell.get_or_init(|| {
            let family = (op == "faces").then_some(vx_infer::detect::Family::CenterFace);
            let shared = open_detector(&detector_models[op], family, None, shares.onnx)
                .map_err(|e| vx_cli::one_line(&e))?;
            let threshold =
                detect_threshold(&shared, a.threshold).map_err(|e| vx_cli::one_line(&e))?;
            Ok((shared, threshold))
        })
        .clone()
        .map_err(vx_pipeline::Error::Message)
    };
    // Checked now: the detectors (which check it too) load only when an input needs them.
    check_score_threshold(a.threshold)?;
    let whisper_model = match has("transcribe") {
        true => Some(model_for("transcribe")?),
        false => None,
    };
    let whisper_cell: Lazy<ops::transcribe::SharedWhisper> = Lazy::new();
    let whisper = || -> vx_pipeline::Result<ops::transcribe::SharedWhisper> {
        whisper_cell
            .get_or_init(|| match &whisper_model {
                Some(m) => ops::transcribe::SharedWhisper::open(m).map_err(|e| e.to_string()),
                None => Err("no whisper model".into()),
            })
            .clone()
            .map_err(vx_pipeline::Error::Message)
    };
    let vad_model = match has("vad") || has("transcribe") {
        true => Some(model_for("vad")?),
        false => None,
    };
    // OCR: the detector, and the recogniser and classifier beside it.
    let ocr_models = match has("ocr") {
        true => {
            let det = model_for("ocr")?;
            let rec = det.with_file_name(vx_infer::ocr::REC_MODEL);
            let cls = det.with_file_name(vx_infer::ocr::CLS_MODEL);
            if !rec.is_file() {
                anyhow::bail!(
                    "ocr: no text recogniser beside the detector {} (looked for {})",
                    det.display(),
                    rec.display()
                );
            }
            Some((det, rec, cls.is_file().then_some(cls)))
        }
        false => None,
    };
    let ocr_cell: Lazy<ops::ocr::SharedOcr> = Lazy::new();
    let ocr = || -> vx_pipeline::Result<ops::ocr::SharedOcr> {
        ocr_cell
            .get_or_init(|| match &ocr_models {
                Some((det, _, _)) => super::video::open_ocr(
                    det,
                    None,
                    None,
                    false,
                    0.5,
                    shares.onnx,
                    a.jobs.max(1) as usize,
                )
                .map_err(|e| vx_cli::one_line(&e)),
                None => Err("no OCR models".into()),
            })
            .clone()
            .map_err(vx_pipeline::Error::Message)
    };
    let embed_model = match has("embed-audio") {
        true => Some(model_for("embed-audio")?),
        false => None,
    };
    // Each operation's cache key: its parameters and its models' digests (bulk::op_key).
    let version = env!("CARGO_PKG_VERSION");
    let digest = |p: &Path| -> Result<String> {
        vx_pipeline::bulk::file_digest(p).with_context(|| p.display().to_string())
    };
    let mut op_keys = Vec::new();
    for step in &plan.steps {
        let name = step.name.as_str();
        let (params, models): (serde_json::Value, Vec<PathBuf>) = match name {
            "detect" | "faces" => (
                serde_json::json!({"threshold": a.threshold}),
                vec![detector_models[name].clone()],
            ),
            "vad" => (
                serde_json::json!({"threshold": 0.5}),
                vad_model.iter().cloned().collect(),
            ),
            "transcribe" => (
                serde_json::json!({"language": null, "full_context": false}),
                whisper_model
                    .iter()
                    .cloned()
                    .chain(vad_model.iter().cloned())
                    .collect(),
            ),
            "embed-audio" => (serde_json::json!({}), embed_model.iter().cloned().collect()),
            "ocr" => (
                serde_json::json!({"text_score": 0.5}),
                ocr_models
                    .iter()
                    .flat_map(|(d, r, c)| [Some(d.clone()), Some(r.clone()), c.clone()])
                    .flatten()
                    .collect(),
            ),
            _ => (serde_json::json!({}), Vec::new()),
        };
        let digests = models
            .iter()
            .map(|m| digest(m))
            .collect::<Result<Vec<_>>>()?
            .join(",");
        let params = serde_json::json!({
            "vx": version, "params": params, "range": range(), "streams": streams(),
        });
        op_keys.push(vx_pipeline::bulk::op_key(name, &params, Some(&digests)));
    }
    let jobs = a.jobs.max(1) as usize;
    let per_job = |n: usize| (n / jobs).max(1);
    let factory = |dir: &Path, steps: &[usize]| -> vx_pipeline::Result<Vec<Task>> {
        let mut tasks = Vec::new();
        for &i in steps {
            let step = &plan.steps[i];
            let op: Box<dyn Operation> = match step.name.as_str() {
                "probe" => Box::new(ops::probe::Probe::default()),
                "keyframes" => Box::new(ops::keyframes::Keyframes::new(
                    ops::keyframes::KeyframeOptions {
                        workers: per_job(shares.encoders),
                        ..Default::default()
                    },
                    dir,
                )?),
                name @ ("detect" | "faces") => {
                    let (shared, threshold) = detector(name)?;
                    Box::new(ops::detect::Detect::new(
                        if name == "detect" { "detect" } else { "faces" },
                        shared,
                        ops::detect::DetectOptions {
                            threshold,
                            debug_dir: a.debug.then(|| dir.join("debug")),
                            ..Default::default()
                        },
                    ))
                }
                "ocr" => Box::new(ops::ocr::OcrOp::new(ocr()?, Default::default())),
                "scenes" => Box::new(ops::scenes::Scenes::new(
                    ops::scenes::SceneOptions::content(),
                )?),
                "audio" => Box::new(ops::audio::Audio::new(
                    vx_media::audio::AudioFormat::default(),
                    &dir.join("audio.wav"),
                )?),
                "vad" => Box::new(ops::vad::Vad::new(
                    vad_model.as_deref().unwrap_or(Path::new("")),
                    0.5,
                    1,
                )?),
                "transcribe" => Box::new(ops::transcribe::Transcribe::new(
                    whisper()?,
                    ops::transcribe::TranscribeOptions {
                        language: None,
                        threads: shares.whisper,
                        full_context: false,
                        vad_model: vad_model.clone(),
                        prompt: None,
                        beam_size: 1,
                        words: false,
                        translate: false,
                    },
                )?),
                "embed-audio" => Box::new(ops::embed_audio::EmbedAudio::new(
                    embed_model.as_deref().unwrap_or(Path::new("")),
                    shares.onnx,
                    None,
                )?),
                other => {
                    return Err(vx_pipeline::Error::Usage(format!(
                        "unknown operation {other}"
                    )))
                }
            };
            // Inputs refer to positions among the steps that run.
            let input = step.input.and_then(|p| steps.iter().position(|&j| j == p));
            tasks.push(Task { op, input });
        }
        Ok(tasks)
    };
    let found = vx_pipeline::bulk::expand(&a.inputs, &a.out);
    for (p, why) in &found.problems {
        vx_cli::say!("vx: warning: {}: {why}", p.display());
    }
    if found.files.is_empty() {
        return Err(usage("no input files found"));
    }
    let shard = match &a.shard {
        Some(s) => Some(vx_pipeline::bulk::parse_shard(s).map_err(usage)?),
        None => None,
    };
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        // Ctrl-C / SIGTERM: inputs in progress are abandoned (redone next time), the rest kept.
        let _ = ctrlc::set_handler(move || {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    let opts = vx_pipeline::bulk::BulkOptions {
        out: a.out.clone(),
        jobs,
        force: a.force,
        shard,
        debug: a.debug,
        queue: a.queue as usize,
        decoder_threads: per_job(shares.decoder),
        cancel,
        video_stream: streams().0,
        audio_stream: streams().1,
        range: range(),
    };
    let total = match shard {
        Some((k, n)) => found
            .files
            .iter()
            .filter(|f| vx_pipeline::bulk::in_shard(&vx_pipeline::result::input_id(f), k, n))
            .count(),
        None => found.files.len(),
    };
    // The index (unless --no-index): each input goes into it as it finishes (its own
    // transaction).
    let indexer = if a.no_index {
        None
    } else {
        Some(std::sync::Mutex::new(super::search::Indexer::open(
            &a.index
                .clone()
                .flatten()
                .unwrap_or_else(|| a.out.join("index.db")),
            quiet,
        )?))
    };
    let started = std::time::Instant::now();
    let progress = crate::progress::Bulk::new(total, jobs, quiet);
    let on_event = |e: vx_pipeline::bulk::Event| {
        if let (Some(ix), vx_pipeline::bulk::Event::Done { line, .. }) = (&indexer, &e) {
            if let (Some(id), Ok(mut ix)) = (line["id"].as_str(), ix.lock()) {
                ix.add(&a.out.join(id));
            }
        }
        progress.event(e)
    };
    let summary = vx_pipeline::bulk::run(
        &plan.steps,
        &op_keys,
        &found.files,
        &opts,
        &factory,
        &on_event,
    )
    .map_err(lift)?;
    progress.finish(&summary, started.elapsed().as_secs_f64(), &a.out);
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else if summary.partial + summary.errors > 0 || !found.problems.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
