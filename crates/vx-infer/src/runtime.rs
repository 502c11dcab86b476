//! Loading ONNX Runtime and creating sessions: every session of vx is made here, with the
//! same thread and optimisation settings.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use crate::{InferError, Result};

/// The shared library's file name inside the setup directory.
pub const LIBRARY: &str = "libonnxruntime.so";

/// The directory `vx setup` and scripts/setup put the library in: `$VX_HOME/onnxruntime`
/// (`$VX_HOME` default: `${XDG_DATA_HOME:-~/.local/share}/vx`).
pub fn setup_dir() -> Option<PathBuf> {
    std::env::var_os("VX_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
                .map(|d| d.join("vx"))
        })
        .map(|h| h.join("onnxruntime"))
}

/// Where vx looks for `libonnxruntime.so`, in order: `$ORT_DYLIB_PATH`; [`setup_dir`] (where
/// `vx setup` and scripts/setup put it); `../lib/` and the directory of the running binary.
pub fn candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        v.push(PathBuf::from(p));
        return v;
    }
    if let Some(d) = setup_dir() {
        v.push(d.join(LIBRARY));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        v.push(dir.join("../lib").join(LIBRARY));
        v.push(dir.join(LIBRARY));
    }
    v
}

/// The first candidate that exists.
pub fn library_path() -> Result<PathBuf> {
    let c = candidates();
    c.iter()
        .find(|p| p.exists())
        .cloned()
        .ok_or_else(|| InferError::NoRuntime {
            looked: c
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

static ENV: OnceLock<std::result::Result<ort::environment::Environment, String>> = OnceLock::new();
static SHARED_THREADS: OnceLock<usize> = OnceLock::new();

/// Make every session of this process share one pool of `threads` intra-op threads (ONNX
/// Runtime's global thread pool, threads that sleep instead of spinning when idle) instead of
/// each having its own. For several models running side by side in one process: whichever
/// runs gets all the threads, and they never add up to more than `threads`. Must be called
/// before the first session is made; returns false if ONNX Runtime was already set up.
pub fn share_threads(threads: usize) -> bool {
    ENV.get().is_none() && SHARED_THREADS.set(threads.max(1)).is_ok()
}

/// Load ONNX Runtime once per process; the environment lives as long as the process.
pub fn init() -> Result<&'static ort::environment::Environment> {
    let path = library_path()?;
    let r = ENV.get_or_init(|| {
        let mut env = ort::init_from(&path)
            .map_err(|e| e.to_string())?
            .with_name("vx")
            // No telemetry from a command-line tool.
            .with_telemetry(false);
        if let Some(&n) = SHARED_THREADS.get() {
            let pool = ort::environment::GlobalThreadPoolOptions::default()
                .with_intra_threads(n)
                .and_then(|p| p.with_inter_threads(1))
                .and_then(|p| p.with_spin_control(false))
                .map_err(|e| e.to_string())?;
            env = env.with_global_thread_pool(pool);
        }
        env.build().map_err(|e| e.to_string())
    });
    r.as_ref().map_err(|reason| InferError::Runtime {
        path,
        reason: reason.clone(),
    })
}

/// Where ONNX Runtime was loaded from and its build string (`git-branch=rel-1.32.0, ...`),
/// for `vx doctor`.
pub fn describe() -> Result<(PathBuf, String)> {
    init()?;
    Ok((library_path()?, ort::info().to_string()))
}

/// whisper.cpp's build: the CPU features it was compiled for (AVX2, F16C...).
pub fn whisper_system_info() -> String {
    whisper_rs::print_system_info().trim().to_string()
}

/// Settings shared by every session.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionOptions {
    /// Intra-op threads; 0 = ONNX Runtime's default (one per core).
    pub threads: usize,
}

/// A model path that exists and is a regular file (one clear error otherwise).
pub fn check_model_file(path: &Path) -> Result<()> {
    let err = |reason: String| InferError::Model {
        path: path.into(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if !meta.is_file() {
        return Err(err("not a file".into()));
    }
    Ok(())
}

/// Create a session for the model at `path`.
pub fn session(path: &Path, opts: SessionOptions) -> Result<Session> {
    check_model_file(path)?;
    session_with(path, opts, |b| b.commit_from_file(path))
}

/// Check a packed RGB24 picture against its stated size (errors name the model `path`).
pub fn check_rgb(path: &Path, rgb: &[u8], width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 || rgb.len() != width * height * 3 {
        return Err(InferError::Run {
            path: path.into(),
            reason: "picture size mismatch".into(),
        });
    }
    Ok(())
}

/// Create a session from model bytes (for example a model vx has cut down); `path` is where
/// they came from, for error messages.
pub fn session_from_memory(path: &Path, model: &[u8], opts: SessionOptions) -> Result<Session> {
    session_with(path, opts, |b| b.commit_from_memory(model))
}

/// The one place sessions are configured: optimisation level, threads, and no memory
/// patterns.
///
/// ONNX Runtime's memory patterns plan one block per input shape and keep it beside the CPU
/// arena. Without them (2026-12-01, 2-core build machine, 1080p 20 s clip, 3 rounds each):
/// `vx faces` 2.08-2.22 s and 485 MiB instead of 2.31-2.92 s and 780 MiB; `vx detect` (SSD)
/// and `vx embed-audio` unchanged in time, embed-audio 160 instead of 195 MiB; `vx run
/// "keyframes;[detect,faces];transcribe"` 877 instead of 1177 MiB in the same time. The OCR
/// networks, whose input size changes from call to call, had them off already. (The CPU
/// arena stays: without it, as RapidOCR runs, the 40-image OCR benchmark took 1.8x as long,
/// in page faults, for 12 % less memory; `vx run` above spent +1.5 s of system time.)
fn session_with(
    path: &Path,
    opts: SessionOptions,
    commit: impl FnOnce(&mut ort::session::builder::SessionBuilder) -> ort::Result<Session>,
) -> Result<Session> {
    let env = init()?;
    let err = |e: ort::Error| InferError::Model {
        path: path.into(),
        reason: e.to_string().replace('\n', " "),
    };
    let mut b = Session::builder(env)
        .map_err(err)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| err(e.into()))?;
    if opts.threads > 0 {
        b = b
            .with_intra_threads(opts.threads)
            .map_err(|e| err(e.into()))?;
    }
    b = b.with_memory_pattern(false).map_err(|e| err(e.into()))?;
    commit(&mut b).map_err(err)
}

/// Run a one-input model on one float picture (`shape`, e.g. NCHW `[1, 3, h, w]`); every output
/// as (shape, data), in the model's output order. Errors name the model file.
pub fn run_f32(
    session: &mut Session,
    path: &Path,
    input: &str,
    shape: [usize; 4],
    data: &[f32],
) -> Result<Vec<(Vec<i64>, Vec<f32>)>> {
    let run = |reason: String| InferError::Run {
        path: path.into(),
        reason,
    };
    let tensor =
        ort::value::TensorRef::from_array_view((shape, data)).map_err(|e| run(e.to_string()))?;
    let outputs = session
        .run(ort::inputs![input => tensor])
        .map_err(|e| run(e.to_string()))?;
    outputs
        .iter()
        .map(|(_, v)| {
            let (shape, data) = v
                .try_extract_tensor::<f32>()
                .map_err(|e| run(e.to_string()))?;
            Ok((shape.iter().copied().collect(), data.to_vec()))
        })
        .collect()
}
