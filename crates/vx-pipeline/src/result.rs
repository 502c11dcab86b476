//! `result.json`: one record per input of a `vx run` — the source, its probe metadata, and
//! for each operation its status, outputs and time — and the stable id of an input.
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::{FileRun, Status};

/// The id of an input: its file name and 8 hex digits of a hash of its absolute path, so that
/// two `a.mp4` in different folders get different ids and the same file always gets the same.
pub fn input_id(path: &Path) -> String {
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into())
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}-{:08x}", path_hash(path))
}

pub use vx_image::fsutil::path_hash;

/// One operation in `result.json`.
#[derive(Debug, Clone, Serialize)]
pub struct OpRecord {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Files it wrote, relative to the input's directory where they are inside it.
    pub outputs: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Wall time from the file's opening to the operation's end, milliseconds.
    pub ms: f64,
    /// Time spent in the operation itself, milliseconds.
    pub busy_ms: f64,
}

/// `result.json`.
#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    pub id: String,
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub source: PathBuf,
    /// "ok" (no operation failed; some may have been skipped), "partial" (some failed, some
    /// did not), "skipped" (none could apply: e.g. only video operations on an audio file),
    /// "error" (every operation that could apply failed).
    pub status: &'static str,
    pub complete: bool,
    pub warnings: Vec<String>,
    pub probe: Option<serde_json::Value>,
    pub ops: serde_json::Map<String, serde_json::Value>,
    /// The one pass over the file.
    pub pass: crate::engine::PassStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug: Option<serde_json::Value>,
}

/// The record of a run; `dir` is the input's output directory, `written` the report files
/// the caller wrote for each operation (in the same order as `run.ops`).
pub fn record(id: &str, run: &FileRun, dir: &Path, written: &[Option<PathBuf>]) -> FileRecord {
    let mut ops = serde_json::Map::new();
    let mut warnings = Vec::new();
    let (mut ok, mut err, mut skip) = (0, 0, 0);
    for (i, op) in run.ops.iter().enumerate() {
        let (status, reason) = match &op.status {
            Status::Ok => {
                ok += 1;
                ("ok", None)
            }
            Status::Skipped(r) => {
                skip += 1;
                ("skipped", Some(r.clone()))
            }
            Status::Error(e) => {
                err += 1;
                ("error", Some(e.clone()))
            }
        };
        let mut outputs: Vec<PathBuf> = written.get(i).cloned().flatten().into_iter().collect();
        let mut op_warnings = Vec::new();
        if let Some(o) = &op.output {
            outputs.extend(o.files.iter().cloned());
            op_warnings = o.warnings.clone();
        }
        let outputs = outputs
            .into_iter()
            .map(|p| p.strip_prefix(dir).map(Path::to_path_buf).unwrap_or(p))
            .collect();
        for w in &op_warnings {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
        let rec = OpRecord {
            status,
            reason,
            outputs,
            warnings: op_warnings,
            ms: crate::ms(op.wall_ms),
            busy_ms: crate::ms(op.busy_ms),
        };
        ops.insert(
            op.name.to_string(),
            serde_json::to_value(rec).unwrap_or_default(),
        );
    }
    let status = match (ok, err, skip) {
        (0, 0, _) => "skipped",
        (_, 0, _) => "ok",
        (0, _, _) => "error",
        _ => "partial",
    };
    FileRecord {
        id: id.to_string(),
        source: run.input.path.clone(),
        status,
        complete: err == 0 && warnings.is_empty(),
        warnings,
        probe: run.input.probe.clone(),
        ops,
        pass: run.stats.clone(),
        debug: run.debug.as_ref().map(|d| d.summary()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_tell_folders_apart() {
        let a = input_id(Path::new("/data/x/a.mp4"));
        let b = input_id(Path::new("/data/y/a.mp4"));
        assert_ne!(a, b);
        assert_eq!(a, input_id(Path::new("/data/x/a.mp4")));
        assert!(
            a.starts_with("a.mp4-") && a.len() == "a.mp4-".len() + 8,
            "{a}"
        );
        assert!(input_id(Path::new("/d/we ird;name.mp4")).starts_with("we_ird_name.mp4-"));
    }
}
