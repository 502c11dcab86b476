//! A plan with its models, ready to run over any number of inputs: what `vx run` and the
//! Python package's `Pipeline` share.
//!
//! [`Runner::new`] checks the plan and finds every model file (a missing one is an error
//! before any work) and computes each operation's cache key ([`crate::bulk::op_key`]); the
//! models themselves are loaded once, by the first input that needs them, and shared by every
//! input after it (a re-run over a finished corpus loads none). [`Runner::tasks`] is the
//! factory [`crate::bulk::run`] takes.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::json;

use crate::budget::{Budget, Shares};
use crate::engine::Task;
use crate::op::Operation;
use crate::ops;
use crate::plan::{plan, Plan, Step};
use crate::settings::Settings;
use crate::{Error, Result};

/// How a [`Runner`] runs (the options of `vx run`).
#[derive(Clone)]
pub struct RunnerOptions {
    /// The one thread budget (0: one per CPU).
    pub threads: usize,
    /// Inputs processed at once (they share the models).
    pub jobs: usize,
    /// Score threshold of detect and faces.
    pub threshold: f32,
    /// Write the detectors' input pictures into `<dir>/debug`.
    pub debug: bool,
    /// `--start`/`--end`, `--video-stream`/`--audio-stream`: part of the cache keys.
    pub range: Option<(f64, Option<f64>)>,
    pub streams: (Option<usize>, Option<usize>),
    /// Where warnings found while loading models go (a threshold below a model's own
    /// cut-off, no OCR direction classifier).
    pub warn: Arc<dyn Fn(String) + Send + Sync>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            threads: 0,
            jobs: 1,
            threshold: 0.5,
            debug: false,
            range: None,
            streams: (None, None),
            warn: Arc::new(|_| {}),
        }
    }
}

type Lazy<T> = OnceLock<std::result::Result<T, String>>;

/// The OCR models: detector, recogniser, classifier (if any).
type OcrModels = (PathBuf, PathBuf, Option<PathBuf>);

/// A checked plan, its model files and, once loaded, its models.
pub struct Runner {
    plan: Plan,
    /// Each step's options (`detect(threshold=0.3)`), checked.
    settings: Vec<Settings>,
    op_keys: Vec<String>,
    opts: RunnerOptions,
    shares: Shares,
    detector_models: HashMap<&'static str, PathBuf>,
    detectors: HashMap<&'static str, Lazy<(ops::detect::SharedDetector, f32)>>,
    whisper_model: Option<PathBuf>,
    whisper: Lazy<ops::transcribe::SharedWhisper>,
    vad_model: Option<PathBuf>,
    ocr_models: Option<OcrModels>,
    ocr: Lazy<ops::ocr::SharedOcr>,
    embed_model: Option<PathBuf>,
}

/// A score threshold is between 0 and 1.
pub fn check_score_threshold(t: f32) -> Result<()> {
    if !(0.0..=1.0).contains(&t) {
        return Err(Error::Usage(format!(
            "--threshold {t}: a score threshold is between 0 and 1"
        )));
    }
    Ok(())
}

impl Runner {
    /// The plan `spec` (`--ops`), with `model_for(op)` giving the model file of each model
    /// operation (given by the user or found by its default names).
    pub fn new(
        spec: &str,
        model_for: &dyn Fn(&str) -> Result<PathBuf>,
        opts: RunnerOptions,
    ) -> Result<Runner> {
        let plan = plan(spec, ops::KNOWN).map_err(|e| Error::Usage(e.to_string()))?;
        check_score_threshold(opts.threshold)?;
        let settings = plan
            .steps
            .iter()
            .map(|s| Settings::of(spec, s))
            .collect::<Result<Vec<_>>>()?;
        let has = |op: &str| plan.steps.iter().any(|s| s.name == op);
        // One budget (see crate::budget for why it is split this way).
        let models = plan.steps.iter().filter(|s| ops::is_model(&s.name)).count();
        let shares = Budget::new(opts.threads).split(models, has("keyframes"));
        if shares.shared_pool {
            // Before the first session: every model of the plan draws on one pool.
            vx_infer::runtime::share_threads(shares.onnx);
        }
        let mut detector_models = HashMap::new();
        for op in ["detect", "faces"] {
            if has(op) {
                detector_models.insert(op, model_for(op)?);
            }
        }
        // Class names asked for (`detect(classes=...)`) checked against the labels now, before
        // any input (the model itself loads with the first input that needs it).
        for (i, step) in plan.steps.iter().enumerate() {
            let (Some(wanted), Some(model)) = (
                settings[i].classes.as_ref(),
                detector_models.get(step.name.as_str()),
            ) else {
                continue;
            };
            // The names the detector will report (the labels beside the model; a model
            // without them reports "class N" and is not checked).
            let known = default_labels(model, None)?.names();
            vx_infer::detect::check_classes(wanted, &known, model)
                .map_err(|e| Error::Usage(format!("{}(classes=...): {e}", step.name)))?;
        }
        let detectors = detector_models.keys().map(|k| (*k, Lazy::new())).collect();
        let whisper_model = if has("transcribe") {
            Some(model_for("transcribe")?)
        } else {
            None
        };
        let vad_model = if has("vad") || has("transcribe") {
            Some(model_for("vad")?)
        } else {
            None
        };
        let ocr_models = if has("ocr") {
            let det = model_for("ocr")?;
            let rec = det.with_file_name(vx_infer::ocr::REC_MODEL);
            let cls = det.with_file_name(vx_infer::ocr::CLS_MODEL);
            if !rec.is_file() {
                return Err(Error::Message(format!(
                    "ocr: no text recogniser beside the detector {} (looked for {})",
                    det.display(),
                    rec.display()
                )));
            }
            if !cls.is_file() {
                (opts.warn)(format!(
                    "no direction classifier ({} not found): upside-down text will be misread",
                    cls.display()
                ));
            }
            Some((det, rec, cls.is_file().then_some(cls)))
        } else {
            None
        };
        let embed_model = if has("embed-audio") {
            Some(model_for("embed-audio")?)
        } else {
            None
        };
        let mut r = Runner {
            plan,
            settings,
            op_keys: Vec::new(),
            opts,
            shares,
            detector_models,
            detectors,
            whisper_model,
            whisper: Lazy::new(),
            vad_model,
            ocr_models,
            ocr: Lazy::new(),
            embed_model,
        };
        r.op_keys = r.keys()?;
        Ok(r)
    }

    /// The plan's steps.
    pub fn steps(&self) -> &[Step] {
        &self.plan.steps
    }

    /// Each step's cache key: its parameters and its models' digests.
    pub fn op_keys(&self) -> &[String] {
        &self.op_keys
    }

    /// Video decoder threads per input.
    pub fn decoder_threads(&self) -> usize {
        self.per_job(self.shares.decoder)
    }

    fn per_job(&self, n: usize) -> usize {
        (n / self.opts.jobs.max(1)).max(1)
    }

    fn keys(&self) -> Result<Vec<String>> {
        let digest = |p: &Path| -> Result<String> {
            crate::bulk::file_digest(p).map_err(|e| Error::io(p, e))
        };
        let mut keys: Vec<String> = Vec::new();
        for (i, step) in self.plan.steps.iter().enumerate() {
            let name = step.name.as_str();
            let set = &self.settings[i];
            let (params, models): (serde_json::Value, Vec<PathBuf>) = match name {
                "detect" | "faces" => (
                    // The threshold that applies: the operation's own, else --threshold.
                    json!({"threshold": set.threshold.unwrap_or(self.opts.threshold as f64)}),
                    vec![self.detector_models[name].clone()],
                ),
                "vad" => (
                    json!({"threshold": set.threshold.unwrap_or(0.5)}),
                    self.vad_model.iter().cloned().collect(),
                ),
                "transcribe" => (
                    json!({"language": null, "full_context": false}),
                    self.whisper_model
                        .iter()
                        .chain(self.vad_model.iter())
                        .cloned()
                        .collect(),
                ),
                "embed-audio" => (json!({}), self.embed_model.iter().cloned().collect()),
                "ocr" => (
                    json!({"text_score": 0.5}),
                    self.ocr_models
                        .iter()
                        .flat_map(|(d, r, c)| [Some(d.clone()), Some(r.clone()), c.clone()])
                        .flatten()
                        .collect(),
                ),
                _ => (json!({}), Vec::new()),
            };
            let digests = models
                .iter()
                .map(|m| digest(m))
                .collect::<Result<Vec<_>>>()?
                .join(",");
            let params = json!({
                "vx": env!("CARGO_PKG_VERSION"),
                "params": params,
                // Its options as typed (0.3 and .3, a+b and b+a, a bare flag and =true are
                // one result), and the key of the step whose frames it takes: a consumer of
                // frames that changed is stale too (keyframes(every=2) after every=5).
                "options": format!("{set:?}"),
                "input": step.input.and_then(|j| keys.get(j).cloned()),
                "range": self.opts.range,
                "streams": self.opts.streams,
            });
            keys.push(crate::bulk::op_key(name, &params, Some(&digests)));
        }
        Ok(keys)
    }

    fn detector(&self, op: &str) -> Result<(ops::detect::SharedDetector, f32)> {
        let cell = self
            .detectors
            .get(op)
            .ok_or_else(|| Error::Message(format!("{op}: no model")))?;
        cell.get_or_init(|| {
            let family = (op == "faces").then_some(vx_infer::detect::Family::CenterFace);
            let model = &self.detector_models[op];
            let shared = open_detector(model, family, None, self.shares.onnx)
                .map_err(|e| e.to_string())?;
            // The operation's own threshold (`detect(threshold=0.3)`), else --threshold.
            let wanted = self
                .step_settings(op)
                .and_then(|s| s.threshold)
                .map_or(self.opts.threshold, |t| t as f32);
            let applied = shared.applied_threshold(wanted);
            if applied != wanted {
                (self.opts.warn)(format!(
                    "{op}: threshold {wanted} is below the model's own cut-off ({applied}) in {}: {applied} applies",
                    model.display()
                ));
            }
            Ok((shared, applied))
        })
        .clone()
        .map_err(Error::Message)
    }

    /// The settings of the step named `op` (each operation appears once in a plan).
    fn step_settings(&self, op: &str) -> Option<&Settings> {
        self.plan
            .steps
            .iter()
            .position(|s| s.name == op)
            .and_then(|i| self.settings.get(i))
    }

    fn whisper(&self) -> Result<ops::transcribe::SharedWhisper> {
        self.whisper
            .get_or_init(|| match &self.whisper_model {
                Some(m) => ops::transcribe::SharedWhisper::open(m).map_err(|e| e.to_string()),
                None => Err("no whisper model".into()),
            })
            .clone()
            .map_err(Error::Message)
    }

    fn ocr(&self) -> Result<ops::ocr::SharedOcr> {
        self.ocr
            .get_or_init(|| match &self.ocr_models {
                Some((det, rec, cls)) => open_ocr(
                    det,
                    rec,
                    cls.as_deref(),
                    0.5,
                    self.shares.onnx,
                    self.opts.jobs.max(1),
                )
                .map_err(|e| e.to_string()),
                None => Err("no OCR models".into()),
            })
            .clone()
            .map_err(Error::Message)
    }

    /// The operations of the plan steps `steps` (indexes into [`Runner::steps`]) for one
    /// input, writing into `dir`; task inputs refer to positions in `steps`.
    pub fn tasks(&self, dir: &Path, steps: &[usize]) -> Result<Vec<Task>> {
        let mut tasks = Vec::new();
        // vad and transcribe in one run: Silero scores the audio once, in transcribe, which
        // hands the probabilities to vad (same model, same chunks: the same spans).
        let runs = |op: &str| steps.iter().any(|&i| self.plan.steps[i].name == op);
        let share = (runs("vad") && runs("transcribe") && self.vad_model.is_some())
            .then(crossbeam_channel::unbounded::<ops::vad::Probs>);
        for &i in steps {
            let step = &self.plan.steps[i];
            let set = &self.settings[i];
            let op: Box<dyn Operation> = match step.name.as_str() {
                "probe" => Box::new(ops::probe::Probe::default()),
                "keyframes" => {
                    let d = ops::keyframes::KeyframeOptions::default();
                    Box::new(ops::keyframes::Keyframes::new(
                        ops::keyframes::KeyframeOptions {
                            workers: self.per_job(self.shares.encoders),
                            every: set.every,
                            max: set.max,
                            min_interval: set.min_interval,
                            dedup: set.dedup,
                            max_side: set.max_side,
                            quality: set.quality.unwrap_or(d.quality),
                            format: set.format.unwrap_or(d.format),
                            ..d
                        },
                        dir,
                    )?)
                }
                name @ ("detect" | "faces") => {
                    let (shared, threshold) = self.detector(name)?;
                    Box::new(ops::detect::Detect::new(
                        if name == "detect" { "detect" } else { "faces" },
                        shared,
                        ops::detect::DetectOptions {
                            threshold,
                            debug_dir: self.opts.debug.then(|| dir.join("debug")),
                            classes: set.classes.clone(),
                            agnostic_nms: set.agnostic_nms,
                            ..Default::default()
                        },
                    ))
                }
                "ocr" => Box::new(ops::ocr::OcrOp::new(self.ocr()?, Default::default())),
                "scenes" => {
                    let d = ops::scenes::SceneOptions::content();
                    Box::new(ops::scenes::Scenes::new(ops::scenes::SceneOptions {
                        threshold: set.threshold.unwrap_or(d.threshold),
                        min_scene_len: set.min_scene_len.unwrap_or(d.min_scene_len),
                        ..d
                    })?)
                }
                "audio" => {
                    let d = vx_media::audio::AudioFormat::default();
                    Box::new(ops::audio::Audio::new(
                        vx_media::audio::AudioFormat {
                            rate: set.rate.unwrap_or(d.rate),
                            channels: set.channels.unwrap_or(d.channels),
                            ..d
                        },
                        &dir.join("audio.wav"),
                    )?)
                }
                "vad" => {
                    let model = self.vad_model.as_deref().unwrap_or(Path::new(""));
                    let threshold = set.threshold.unwrap_or(0.5) as f32;
                    Box::new(match &share {
                        Some((_, rx)) => ops::vad::Vad::tapping(model, threshold, rx.clone())?,
                        None => ops::vad::Vad::new(model, threshold, 1)?,
                    })
                }
                "transcribe" => {
                    let mut t = ops::transcribe::Transcribe::new(
                        self.whisper()?,
                        ops::transcribe::TranscribeOptions {
                            on_segment: None,
                            on_batch: None,
                            language: set.language.clone(),
                            threads: self.shares.whisper,
                            full_context: set.full_context,
                            vad_model: self.vad_model.clone(),
                            prompt: None,
                            beam_size: set.beam_size.unwrap_or(1),
                            words: set.words,
                            translate: false,
                            temperature: set.temperature.unwrap_or(0.0) as f32,
                            fallback: !set.no_fallback,
                        },
                    )?;
                    if let Some((tx, _)) = &share {
                        t.share_probabilities(tx.clone());
                    }
                    Box::new(t)
                }
                "embed-audio" => Box::new(ops::embed_audio::EmbedAudio::new(
                    self.embed_model.as_deref().unwrap_or(Path::new("")),
                    self.shares.onnx,
                    None,
                )?),
                "subtitles" => Box::new(ops::subtitles::Subtitles::default()),
                other => return Err(Error::Usage(format!("unknown operation {other}"))),
            };
            // Inputs refer to positions among the steps that run.
            let input = step.input.and_then(|p| steps.iter().position(|&j| j == p));
            tasks.push(Task { op, input });
        }
        Ok(tasks)
    }
}

/// Class names: the given file, else coco_labels_90.txt beside the model, else none.
pub fn default_labels(model: &Path, labels: Option<&Path>) -> Result<vx_infer::detect::Labels> {
    use vx_infer::detect::Labels;
    Ok(match labels {
        Some(p) => Labels::load(p)?,
        None => match model
            .parent()
            .map(|d| d.join("coco_labels_90.txt"))
            .filter(|p| p.exists())
        {
            Some(p) => Labels::load(&p)?,
            None => Labels::default(),
        },
    })
}

/// A detection model (its adapter chosen from its signature, or `family`), shareable.
pub fn open_detector(
    model: &Path,
    family: Option<vx_infer::detect::Family>,
    labels: Option<&Path>,
    threads: usize,
) -> Result<ops::detect::SharedDetector> {
    let labels = default_labels(model, labels)?;
    let det = vx_infer::detect::Detector::open(
        model,
        family,
        labels,
        vx_infer::runtime::SessionOptions { threads },
    )?;
    Ok(ops::detect::SharedDetector::new(model, det))
}

/// The OCR models: detector `det`, recogniser `rec`, direction classifier `cls` (none: text
/// upside down is misread). `copies` pictures are read at once, each with `threads` threads.
pub fn open_ocr(
    det: &Path,
    rec: &Path,
    cls: Option<&Path>,
    text_score: f32,
    threads: usize,
    copies: usize,
) -> Result<ops::ocr::SharedOcr> {
    use vx_infer::ocr::{Ocr, OcrOptions};
    if !(0.0..=1.0).contains(&text_score) {
        return Err(Error::Usage(format!(
            "--text-score {text_score}: a score threshold is between 0 and 1"
        )));
    }
    let settings = OcrOptions {
        text_score,
        classify: cls.is_some(),
        ..OcrOptions::default()
    };
    let session = vx_infer::runtime::SessionOptions { threads };
    let first = Ocr::open(det, cls, rec, session, settings)?;
    let (det, rec, cls) = (
        det.to_path_buf(),
        rec.to_path_buf(),
        cls.map(Path::to_path_buf),
    );
    Ok(ops::ocr::SharedOcr::new(first, copies, move || {
        Ocr::open(&det, cls.as_deref(), &rec, session, settings)
    }))
}
