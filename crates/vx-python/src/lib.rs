//! `vx` for Python (issue #16): the engine inside a CPython extension module.
//!
//! The native module is `vx._vx`; the Python package `vx` (python/vx/__init__.py) re-exports
//! it. Every function releases the GIL while it decodes, so threads of one process (a Ray
//! actor's, a thread pool's) decode in parallel. Errors are Python exceptions of the
//! [`VxError`] family carrying vx's one-line message (the file and the cause).
//!
//! What is here: `probe`, `keyframes` (frames as NumPy arrays on demand), `audio` (NumPy
//! float32). Not yet: `run`/`Pipeline` (the operations engine with models), Parquet output and
//! the Ray recipe; see the README.
use std::path::{Path, PathBuf};

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
    #[pyo3(get)]
    width: usize,
    #[pyo3(get)]
    height: usize,
    yuv: Yuv,
}

#[pymethods]
impl Frame {
    /// The picture as a NumPy `uint8` array of shape (height, width, 3), RGB: the same pixels
    /// as `vx keyframes --format png` writes. One conversion, no further copy.
    fn array<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rgb = py.detach(|| self.yuv.to_rgb());
        let flat = rgb.into_pyarray(py);
        Ok(flat.reshape([self.height, self.width, 3])?.into_any())
    }

    fn __repr__(&self) -> String {
        let time = self
            .time
            .map_or_else(|| "None".to_string(), |t| format!("{t:.3}"));
        format!(
            "Frame(time={time}, index={}, key={}, {}x{})",
            self.index,
            if self.key { "True" } else { "False" },
            self.width,
            self.height
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
    max_side: Option<u32>,
    every: Option<f64>,
) -> PyResult<Vec<Frame>> {
    if every.is_some_and(|e| !(e.is_finite() && e > 0.0)) {
        return Err(PyValueError::new_err("every: a number of seconds > 0"));
    }
    if max_side == Some(0) {
        return Err(PyValueError::new_err("max_side: a number of pixels > 0"));
    }
    py.detach(|| decode_frames(&path, max_side, every))
        .map_err(media_error)
}

fn decode_frames(
    path: &Path,
    max_side: Option<u32>,
    every: Option<f64>,
) -> Result<Vec<Frame>, MediaError> {
    let mode = match every {
        Some(_) => DecodeMode::All,
        None => DecodeMode::KeyFrames,
    };
    let mut src = Source::open(
        path,
        &SourceOptions {
            video: Some(mode),
            ..Default::default()
        },
    )?;
    let still = src.is_still();
    let mut next = None;
    let mut frames = Vec::new();
    for d in src.by_ref() {
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
            width: yuv.width,
            height: yuv.height,
            yuv,
        });
    }
    if frames.is_empty() {
        return Err(MediaError::NoFrames {
            path: path.into(),
            detail: src.no_frame_detail(),
        });
    }
    Ok(frames)
}

/// The audio of a file, resampled in-process: a NumPy float32 array, shape (samples,) for one
/// channel or (samples, channels), the same samples as `vx audio --format f32` writes.
#[pyfunction]
#[pyo3(signature = (path, rate=16000, channels=1))]
fn audio<'py>(
    py: Python<'py>,
    path: PathBuf,
    rate: u32,
    channels: u16,
) -> PyResult<Bound<'py, PyAny>> {
    if !(1_000..=384_000).contains(&rate) {
        return Err(PyValueError::new_err("rate: 1000 to 384000 Hz"));
    }
    if !(1..=8).contains(&channels) {
        return Err(PyValueError::new_err("channels: 1 to 8"));
    }
    let samples = py
        .detach(|| vx_media::audio::decode_f32(&path, rate, channels))
        .map_err(media_error)?;
    let n = samples.len() / channels as usize;
    let flat = samples.into_pyarray(py);
    if channels == 1 {
        Ok(flat.into_any())
    } else {
        Ok(flat.reshape([n, channels as usize])?.into_any())
    }
}

#[pymodule]
fn _vx(m: &Bound<'_, PyModule>) -> PyResult<()> {
    vx_media::init(vx_media::FfmpegLog::Quiet);
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("VxError", m.py().get_type::<VxError>())?;
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("NoStreamError", m.py().get_type::<NoStreamError>())?;
    m.add_class::<Frame>()?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    m.add_function(wrap_pyfunction!(keyframes, m)?)?;
    m.add_function(wrap_pyfunction!(audio, m)?)?;
    Ok(())
}
