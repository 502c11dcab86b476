//! `vx` for Python (issue #16): the engine inside a CPython extension module.
//!
//! The native module is `vx._vx`; the Python package `vx` (python/vx/__init__.py) re-exports
//! it. Every function releases the GIL while it decodes, so threads of one process (a Ray
//! actor's, a thread pool's) decode in parallel. Errors are Python exceptions of the
//! [`VxError`] family carrying vx's one-line message (the file and the cause).
//!
//! What is here: `probe`, `keyframes` (frames as NumPy arrays on demand), `audio` (NumPy
//! float32), and `Pipeline`/`run`: the operations engine of `vx run` with its models
//! (vx_pipeline::runner), loaded once per Pipeline. The Arrow tables and the Ray recipe are
//! Python (python/vx/tables.py, ray.py). Models are found as the CLI finds them
//! (vx_pipeline::models).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use numpy::{IntoPyArray, PyArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use vx_media::image::Yuv;
use vx_media::source::{DecodeMode, Decoded, Source, SourceOptions};
use vx_media::MediaError;

create_exception!(
    vx,
    VxError,
    PyException,
    "An error of vx. The message names the file and the cause, on one line."
);
create_exception!(
    vx,
    InputError,
    VxError,
    "The input cannot be read: missing, not media, damaged, an unsupported codec."
);
create_exception!(
    vx,
    NoStreamError,
    VxError,
    "The input has no stream of the kind asked for (no video stream, no audio stream)."
);

/// Run `work` on its own thread while this one, without the GIL, waits for it and looks at
/// Python's signals every 100 ms: Ctrl-C sets `cancel` (which `work` watches), waits for it to
/// stop, and raises KeyboardInterrupt. (Waiting in `py.detach` alone, the signal was only seen
/// when the whole call was over, and its result thrown away.)
fn interruptible<T: Send>(
    py: Python<'_>,
    cancel: &Arc<AtomicBool>,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = s.spawn(move || {
            let _ = tx.send(work());
        });
        let mut rx = rx;
        loop {
            // The receiver goes into the wait and comes back (it is Send, not Sync).
            let (got, back) = py.detach(move || {
                let got = rx.recv_timeout(std::time::Duration::from_millis(100));
                (got, rx)
            });
            rx = back;
            match got {
                Ok(r) => return Ok(r),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    // Joined here (a panic the scope joined itself would panic again).
                    let why = match handle.join() {
                        Err(p) => p
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_default(),
                        Ok(()) => String::new(),
                    };
                    return Err(VxError::new_err(format!("internal error: {why}")));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = py.check_signals() {
                        cancel.store(true, Ordering::Relaxed);
                        // The thread stops at its next frame or packet; the scope joins it.
                        py.detach(move || {
                            let _ = rx.recv();
                        });
                        let _ = handle.join();
                        return Err(e);
                    }
                }
            }
        }
    })
}

fn media_error(e: MediaError) -> PyErr {
    match e {
        MediaError::NoVideoStream { .. }
        | MediaError::NoAudioStream { .. }
        | MediaError::NoStream { .. } => NoStreamError::new_err(e.to_string()),
        MediaError::InvalidOption(m) => PyValueError::new_err(m),
        e => InputError::new_err(e.to_string()),
    }
}

fn pipeline_error(e: vx_pipeline::Error) -> PyErr {
    match e {
        vx_pipeline::Error::Media(m) => media_error(m),
        vx_pipeline::Error::Usage(m) => PyValueError::new_err(m),
        e => VxError::new_err(e.to_string()),
    }
}

/// Container and stream metadata, as `vx probe` prints it (the same keys and values).
#[pyfunction]
fn probe<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let text = py.detach(|| probe_json(&path)).map_err(pipeline_error)?;
    py.import("json")?.call_method1("loads", (text,))
}

fn probe_json(path: &Path) -> vx_pipeline::Result<String> {
    use vx_pipeline::engine::{run_file, EngineOptions, Status, Task};
    let task = Task {
        op: Box::new(vx_pipeline::ops::probe::Probe::default()),
        input: None,
    };
    let mut run = run_file(path, vec![task], &mut EngineOptions::default())?;
    let op = run
        .ops
        .pop()
        .ok_or_else(|| vx_pipeline::Error::Message("probe: no result".into()))?;
    match (op.status, op.error, op.output) {
        (Status::Ok, _, Some(o)) => {
            let v = o
                .take::<serde_json::Value>()
                .ok_or_else(|| vx_pipeline::Error::Message("probe: unexpected report".into()))?;
            Ok(v.to_string())
        }
        (_, Some(e), _) => Err(e),
        (s, _, _) => Err(vx_pipeline::Error::Message(format!(
            "{}: probe: {s:?}",
            path.display()
        ))),
    }
}

/// A decoded picture: upright, full-range YUV kept as decoded, converted to RGB only when
/// [`Frame::array`] is called.
#[pyclass(frozen, module = "vx")]
struct Frame {
    /// Seconds on the file's timeline (container start subtracted); None when unknown.
    #[pyo3(get)]
    time: Option<f64>,
    /// Position among the frames returned (0, 1, ...).
    #[pyo3(get)]
    index: usize,
    /// Whether the decoder flagged the frame as a keyframe.
    #[pyo3(get)]
    key: bool,
    yuv: Yuv,
}

#[pymethods]
impl Frame {
    #[getter]
    fn width(&self) -> usize {
        self.yuv.width
    }

    #[getter]
    fn height(&self) -> usize {
        self.yuv.height
    }

    /// The picture as a NumPy `uint8` array of shape (height, width, 3), RGB: the same pixels
    /// as `vx keyframes --format png` writes. One conversion, no further copy.
    fn array<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rgb = py.detach(|| self.yuv.to_rgb());
        let flat = rgb.into_pyarray(py);
        Ok(flat
            .reshape([self.yuv.height, self.yuv.width, 3])?
            .into_any())
    }

    fn __repr__(&self) -> String {
        let time = self
            .time
            .map_or_else(|| "None".to_string(), |t| format!("{t:.3}"));
        format!(
            "Frame(time={time}, index={}, key={}, {}x{})",
            self.index,
            if self.key { "True" } else { "False" },
            self.yuv.width,
            self.yuv.height
        )
    }
}

/// The keyframes of a video (the frames its decoder flags as key, as `vx keyframes` writes
/// them), or with `every=S` one frame every S seconds (every frame is decoded). A still image
/// gives one frame. `max_side` shrinks pictures whose longer side is larger (aspect kept).
#[pyfunction]
#[pyo3(signature = (path, *, max_side=None, every=None))]
fn keyframes(
    py: Python<'_>,
    path: PathBuf,
    max_side: Option<i64>,
    every: Option<f64>,
) -> PyResult<Vec<Frame>> {
    if every.is_some_and(|e| !(e.is_finite() && e > 0.0)) {
        return Err(PyValueError::new_err("every: a number of seconds > 0"));
    }
    // Taken as i64 and checked here: a negative number is a ValueError like 0 (as u32, pyo3
    // raised OverflowError, which is not one).
    let max_side = match max_side {
        None => None,
        Some(m) => Some(
            u32::try_from(m)
                .ok()
                .filter(|m| (1..=65535).contains(m))
                .ok_or_else(|| {
                    PyValueError::new_err("max_side: a number of pixels from 1 to 65535")
                })?,
        ),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    interruptible(py, &cancel, || {
        decode_frames(&path, max_side, every, &cancel)
    })?
    .map_err(media_error)
}

fn decode_frames(
    path: &Path,
    max_side: Option<u32>,
    every: Option<f64>,
    cancel: &AtomicBool,
) -> Result<Vec<Frame>, MediaError> {
    let mode = match every {
        Some(_) => DecodeMode::All,
        None => DecodeMode::KeyFrames,
    };
    let open = |threads| {
        Source::open(
            path,
            &SourceOptions {
                video: Some(mode),
                threads,
                ..Default::default()
            },
        )
    };
    // Key frames are decoded `lanes` at a time: one source per lane in its own thread, each
    // decoding every lanes-th group of pictures (Source::key_lane) with one decoder thread,
    // converting its pictures there too; the frames are then put back in time order. Where
    // that order could differ from one decoder's (a frame without a time, times that do not
    // rise, two frames at one time) or a lane's decoder reported an error (a lane does not see
    // the other lanes' packets: a parameter set sent once would be missing), the file is
    // decoded again by one decoder.
    let lanes = match every {
        None => std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        Some(_) => 1,
    };
    let mut src = open(if lanes > 1 { 1 } else { 0 })?;
    let mut frames = None;
    if lanes > 1 && !src.is_still() {
        src.key_lane(0, lanes);
        let (first, others) = std::thread::scope(|s| {
            let others: Vec<_> = (1..lanes)
                .map(|k| {
                    s.spawn(move || {
                        let mut src = open(1)?;
                        src.key_lane(k, lanes);
                        let f = lane_frames(path, &mut src, max_side, None, cancel)?;
                        Ok::<_, MediaError>((f, lane_clean(&src)))
                    })
                })
                .collect();
            let first = lane_frames(path, &mut src, max_side, None, cancel).map(|f| {
                let clean = lane_clean(&src);
                (f, clean)
            });
            let others: Vec<_> = others
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(MediaError::Decode {
                            path: path.into(),
                            reason: "a decoding thread panicked".into(),
                        })
                    })
                })
                .collect();
            (first, others)
        });
        let mut clean = true;
        let mut all = Vec::new();
        for lane in std::iter::once(first).chain(others) {
            let (f, ok) = lane?;
            clean &= ok && f.windows(2).all(|w| rising(&w[0], &w[1]));
            all.extend(f);
        }
        all.sort_by(|a, b| {
            a.time
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.time.unwrap_or(f64::INFINITY))
        });
        if clean && all.windows(2).all(|w| rising(&w[0], &w[1])) {
            frames = Some(all);
        } else {
            src = open(0)?;
        }
    }
    let mut frames = match frames {
        Some(f) => f,
        None => lane_frames(path, &mut src, max_side, every, cancel)?,
    };
    if frames.is_empty() {
        return Err(MediaError::NoFrames {
            path: path.into(),
            detail: src.no_frame_detail(),
        });
    }
    for (i, f) in frames.iter_mut().enumerate() {
        f.index = i;
    }
    Ok(frames)
}

/// Whether a lane's source decoded without an error.
fn lane_clean(src: &Source) -> bool {
    src.video_counters().is_none_or(|c| c.decode_errors == 0)
}

/// Whether `b` comes strictly after `a` on the timeline (both timed).
fn rising(a: &Frame, b: &Frame) -> bool {
    matches!((a.time, b.time), (Some(x), Some(y)) if y > x)
}

/// The frames one source yields (its lane's key frames, or a still's one picture, or one
/// every `every` seconds), converted.
fn lane_frames(
    path: &Path,
    src: &mut Source,
    max_side: Option<u32>,
    every: Option<f64>,
    cancel: &AtomicBool,
) -> Result<Vec<Frame>, MediaError> {
    let still = src.is_still();
    let mut next = None;
    let mut frames = Vec::new();
    for d in src.by_ref() {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let Decoded::Video(f) = d else { continue };
        let take = match every {
            _ if still => true,
            Some(step) => vx_pipeline::engine::every_takes(&mut next, step, f.time),
            None => f.key,
        };
        if !take {
            continue;
        }
        let yuv = f.to_yuv(max_side).map_err(|reason| MediaError::Convert {
            path: path.into(),
            from: f.pixel_format(),
            reason,
        })?;
        frames.push(Frame {
            time: f.time,
            index: frames.len(),
            key: f.key,
            yuv,
        });
    }
    Ok(frames)
}

/// The audio of a file, resampled in-process: a NumPy float32 array, shape (samples,) for one
/// channel or (samples, channels), the same samples as `vx audio --sample-format f32` writes.
#[pyfunction]
#[pyo3(signature = (path, rate=16000, channels=1))]
fn audio<'py>(
    py: Python<'py>,
    path: PathBuf,
    rate: i64,
    channels: i64,
) -> PyResult<Bound<'py, PyAny>> {
    // The CLI's --rate range.
    if !(1_000..=768_000).contains(&rate) {
        return Err(PyValueError::new_err("rate: 1000 to 768000 Hz"));
    }
    if !(1..=8).contains(&channels) {
        return Err(PyValueError::new_err("channels: 1 to 8"));
    }
    let (rate, channels) = (rate as u32, channels as u16);
    let cancel = Arc::new(AtomicBool::new(false));
    let (samples, warnings) = interruptible(py, &cancel, || {
        vx_media::audio::decode_f32_until(&path, rate, channels, &cancel)
    })?
    .map_err(media_error)?;
    // A truncated or damaged file's audio comes back with a RuntimeWarning per problem (it
    // came back silently).
    for w in warnings {
        let msg = std::ffi::CString::new(format!("{}: {w}", path.display()))
            .unwrap_or_else(|_| c"audio warning".to_owned());
        PyErr::warn(
            py,
            py.get_type::<pyo3::exceptions::PyRuntimeWarning>().as_any(),
            &msg,
            1,
        )?;
    }
    let n = samples.len() / channels as usize;
    let flat = samples.into_pyarray(py);
    if channels == 1 {
        Ok(flat.into_any())
    } else {
        Ok(flat.reshape([n, channels as usize])?.into_any())
    }
}

/// The default plan of `vx.run` and `vx.Pipeline`.
const DEFAULT_OPS: &str = "keyframes;[detect,faces];transcribe";

/// A model given by path, by file name in the model directory or by catalogue name (as the
/// CLI's `--model`); else the operation's default models there.
fn model_for(op: &str, given: &HashMap<String, String>) -> vx_pipeline::Result<PathBuf> {
    use vx_pipeline::models::{model_dir, resolve};
    if let Some(m) = given.get(op) {
        return resolve(m).map_err(|_| {
            vx_pipeline::Error::Message(format!(
                "{op}: model {m} not found (nor in the model directory {})",
                model_dir().display()
            ))
        });
    }
    let names = vx_pipeline::ops::default_models(op);
    vx_pipeline::models::default_model(op).ok_or_else(|| {
        vx_pipeline::Error::Message(format!(
            "{op}: no model given (models={{\"{op}\": PATH}}) and none of {} in the model directory {}",
            names.join(", "),
            model_dir().display()
        ))
    })
}

/// What rebuilds a [`Pipeline`]: its constructor's arguments.
type PipelineArgs = (String, HashMap<String, String>, usize, f32);

/// Operations over files in one pass each, with their models loaded once and reused: what a
/// Ray actor or a worker process holds. `ops` is `vx run --ops` (e.g.
/// "keyframes;[detect,faces];transcribe"); `models` maps an operation to a model path or name
/// (else its default model in $VX_MODEL_DIR). Safe to call from several threads (calls run
/// one at a time); pickled by its parameters, so it can be shipped to workers.
#[pyclass(frozen, module = "vx")]
struct Pipeline {
    ops: String,
    models: HashMap<String, String>,
    threads: usize,
    threshold: f32,
    runner: vx_pipeline::runner::Runner,
    /// One run at a time (each uses the whole thread budget).
    busy: Mutex<()>,
}

#[pymethods]
impl Pipeline {
    #[new]
    #[pyo3(
        signature = (ops=DEFAULT_OPS, models=None, threads=0, threshold=0.5),
        text_signature = "(ops='keyframes;[detect,faces];transcribe', models=None, threads=0, threshold=0.5)"
    )]
    fn new(
        py: Python<'_>,
        ops: &str,
        models: Option<HashMap<String, String>>,
        threads: i64,
        threshold: f32,
    ) -> PyResult<Self> {
        // A negative count is a ValueError (as usize, pyo3 raised OverflowError).
        let threads = usize::try_from(threads)
            .ok()
            .filter(|t| *t <= vx_pipeline::budget::MAX_THREADS)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "threads: 0 (one per core) to {}",
                    vx_pipeline::budget::MAX_THREADS
                ))
            })?;
        let models = models.unwrap_or_default();
        let plan = vx_pipeline::plan::plan(ops, vx_pipeline::ops::KNOWN)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        if let Some(op) = models
            .keys()
            .find(|k| !plan.steps.iter().any(|s| &s.name == *k))
        {
            return Err(PyValueError::new_err(format!(
                "models: '{op}' is not an operation of {ops:?}"
            )));
        }
        let runner = py
            .detach(|| {
                vx_pipeline::runner::Runner::new(
                    ops,
                    &|op: &str| model_for(op, &models),
                    vx_pipeline::runner::RunnerOptions {
                        threads,
                        jobs: 1,
                        threshold,
                        warn: Arc::new(|w| eprintln!("vx: warning: {w}")),
                        ..Default::default()
                    },
                )
            })
            .map_err(pipeline_error)?;
        Ok(Pipeline {
            ops: ops.to_string(),
            models,
            threads,
            threshold,
            runner,
            busy: Mutex::new(()),
        })
    }

    /// Run the operations over `path`, writing into `output` (a directory; default: a new
    /// temporary one) as `vx run PATH -o OUTPUT` does, and return the input's record: the
    /// `result.json` of `vx run` (status "ok" or "partial"; a file that cannot be read at all
    /// raises VxError). A finished input is not decoded again (`vx run`'s resume).
    #[pyo3(signature = (path, output=None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        output: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let made = output.is_none();
        let out = match output {
            Some(o) => o,
            None => py
                .import("tempfile")?
                .call_method1("mkdtemp", ("", "vx-"))?
                .extract::<PathBuf>()?,
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let done = interruptible(py, &cancel, || {
            // Waiting for another thread's run is interruptible too.
            let _one = loop {
                match self.busy.try_lock() {
                    Ok(g) => break g,
                    Err(std::sync::TryLockError::Poisoned(p)) => break p.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => {
                        if cancel.load(Ordering::Relaxed) {
                            return Err(VxError::new_err("interrupted"));
                        }
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                }
            };
            run_one(&self.runner, &path, &out, &cancel)
        })
        .and_then(|r| r);
        let (text, dir) = match done {
            Ok(d) => d,
            Err(e) => {
                // A temporary directory made for this call holds nothing worth keeping.
                if made {
                    let _ = std::fs::remove_dir_all(&out);
                }
                return Err(e);
            }
        };
        // Where the files the record lists are (a temporary directory is the caller's).
        let rec = py.import("json")?.call_method1("loads", (text,))?;
        rec.set_item("dir", dir.to_string_lossy())?;
        Ok(rec)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, PipelineArgs)> {
        let me = slf.get();
        Ok((
            slf.get_type().into_any(),
            (me.ops.clone(), me.models.clone(), me.threads, me.threshold),
        ))
    }

    fn __repr__(&self) -> String {
        format!("Pipeline(ops={:?})", self.ops)
    }
}

fn run_one(
    runner: &vx_pipeline::runner::Runner,
    path: &Path,
    out: &Path,
    cancel: &Arc<AtomicBool>,
) -> PyResult<(String, PathBuf)> {
    use vx_pipeline::bulk::{run, BulkOptions, Event};
    let opts = BulkOptions {
        out: out.to_path_buf(),
        jobs: 1,
        force: false,
        shard: None,
        debug: false,
        queue: 4,
        decoder_threads: runner.decoder_threads(),
        cancel: cancel.clone(),
        video_stream: None,
        audio_stream: None,
        range: None,
        tables: false,
    };
    let line: Mutex<Option<serde_json::Value>> = Mutex::new(None);
    let on_event = |e: Event| {
        if let Event::Done { line: l, .. } = e {
            *line.lock().unwrap_or_else(|e| e.into_inner()) = Some(l.clone());
        }
    };
    run(
        runner.steps(),
        runner.op_keys(),
        &[path.to_path_buf()],
        &opts,
        &|dir, steps| runner.tasks(dir, steps),
        &on_event,
    )
    .map_err(pipeline_error)?;
    let line = line
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .ok_or_else(|| VxError::new_err(format!("{}: not run", path.display())))?;
    let reason = || {
        line["reason"]
            .as_str()
            .unwrap_or("cannot be processed")
            .to_string()
    };
    // One line naming the file (the reason may name it already).
    let message = || {
        let (p, r) = (path.display().to_string(), reason());
        if r.contains(&p) {
            r
        } else {
            format!("{p}: {r}")
        }
    };
    match line["status"].as_str() {
        Some("error") => Err(InputError::new_err(message())),
        Some("skipped") => Err(NoStreamError::new_err(message())),
        _ => {
            let id = line["id"].as_str().unwrap_or_default();
            let dir = out.join(id);
            let p = dir.join("result.json");
            let text = std::fs::read_to_string(&p)
                .map_err(|e| VxError::new_err(format!("{}: {e}", p.display())))?;
            Ok((text, std::path::absolute(&dir).unwrap_or(dir)))
        }
    }
}

/// Run the operations `ops` over `path` (see `Pipeline`; models are loaded for this call
/// only: reuse a `Pipeline` for many files).
#[pyfunction]
#[pyo3(
    signature = (path, ops=DEFAULT_OPS, models=None, output=None, threads=0),
    text_signature = "(path, ops='keyframes;[detect,faces];transcribe', models=None, output=None, threads=0)"
)]
fn run<'py>(
    py: Python<'py>,
    path: PathBuf,
    ops: &str,
    models: Option<HashMap<String, String>>,
    output: Option<PathBuf>,
    threads: i64,
) -> PyResult<Bound<'py, PyAny>> {
    Pipeline::new(py, ops, models, threads, 0.5)?.run(py, path, output)
}

/// The tables of vx's results (vx_pipeline::tables, as `vx run --format parquet` writes
/// them): `[(name, [(column, type), ...]), ...]`, types "string", "float64", "int64", "bool".
#[pyfunction]
fn tables() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vx_pipeline::tables::TABLES
        .iter()
        .map(|t| {
            (
                t.name,
                t.columns.iter().map(|(c, ty)| (*c, ty.name())).collect(),
            )
        })
        .collect()
}

fn rows_json(
    t: &vx_pipeline::tables::Table,
    rows: &[vx_pipeline::tables::Row],
) -> serde_json::Value {
    rows.iter()
        .map(|r| {
            t.columns
                .iter()
                .zip(r)
                .map(|((c, _), v)| (c.to_string(), v.clone()))
                .collect::<serde_json::Map<_, _>>()
        })
        .collect()
}

/// The `files` row (a dict) of an input from its record (`result.json`, as JSON text).
#[pyfunction]
fn files_row<'py>(py: Python<'py>, path: &str, record: &str) -> PyResult<Bound<'py, PyAny>> {
    let rec: serde_json::Value =
        serde_json::from_str(record).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let row = vx_pipeline::tables::files_row(path, &rec);
    let rows = rows_json(&vx_pipeline::tables::TABLES[0], &[row]);
    py.import("json")?
        .call_method1("loads", (rows[0].to_string(),))
}

/// The rows of every table after `files` for one finished input: `{table: [row dict, ...]}`,
/// read from `output/<id>/`.
#[pyfunction]
fn kind_rows<'py>(py: Python<'py>, output: PathBuf, id: &str) -> PyResult<Bound<'py, PyAny>> {
    use vx_pipeline::tables::{kind_rows, TABLES};
    let t = py
        .detach(|| kind_rows(&output, id))
        .map_err(pipeline_error)?;
    let m: serde_json::Map<String, serde_json::Value> = TABLES[1..]
        .iter()
        .zip(&t)
        .map(|(table, rows)| (table.name.to_string(), rows_json(table, rows)))
        .collect();
    py.import("json")?
        .call_method1("loads", (serde_json::Value::Object(m).to_string(),))
}

#[pymodule]
fn _vx(m: &Bound<'_, PyModule>) -> PyResult<()> {
    vx_media::init(vx_media::FfmpegLog::Quiet);
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("VxError", m.py().get_type::<VxError>())?;
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("NoStreamError", m.py().get_type::<NoStreamError>())?;
    m.add_class::<Frame>()?;
    m.add_class::<Pipeline>()?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    m.add_function(wrap_pyfunction!(keyframes, m)?)?;
    m.add_function(wrap_pyfunction!(audio, m)?)?;
    m.add_function(wrap_pyfunction!(tables, m)?)?;
    m.add_function(wrap_pyfunction!(files_row, m)?)?;
    m.add_function(wrap_pyfunction!(kind_rows, m)?)?;
    Ok(())
}
