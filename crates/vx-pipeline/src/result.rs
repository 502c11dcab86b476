//! `result.json`: one record per input of a `vx run` — the source, its probe metadata, and
//! for each operation its status, outputs and time — and the stable id of an input.
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::{FileRun, Status};

/// The id of an input: its file name and 8 hex digits of a hash of its absolute path, so that
/// two `a.mp4` in different folders get different ids and the same file always gets the same.
pub fn input_id(path: &Path) -> String {
    format!("{}-{:08x}", id_name(path), path_hash(path))
}

/// The file name part of an id: safe characters, at most 200 bytes (a 250-byte name made an
/// id the file system refused, and the run stopped there).
fn id_name(path: &Path) -> String {
    let mut name = String::new();
    let chars = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    for c in chars.chars().map(|c| {
        if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
            c
        } else {
            '_'
        }
    }) {
        if name.len() + c.len_utf8() > 200 {
            break;
        }
        name.push(c);
    }
    name
}

/// The ids of distinct `paths`: [`input_id`], except where two of them collide (its hash of
/// the path has 32 bits: among 100 000 files of one name, e.g. `<uuid>/video.mp4`, a pair
/// likely does, and one input's results replaced the other's). Those get the path's 64-bit
/// hash instead. The same for every shard: each lists all the inputs.
pub fn input_ids(paths: &[PathBuf]) -> Vec<String> {
    let ids: Vec<String> = paths.iter().map(|p| input_id(p)).collect();
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    for id in &ids {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    paths
        .iter()
        .zip(&ids)
        .map(|(p, id)| match seen.get(id.as_str()) {
            Some(n) if *n > 1 => format!("{}-{:016x}", id_name(p), path_hash64(p)),
            _ => id.clone(),
        })
        .collect()
}

pub use vx_image::fsutil::{path_hash, path_hash64};

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

    /// Two paths whose 32-bit ids collide (found among 200 000 `/vxid/N/v.wav`) both get the
    /// 64-bit id; the others keep theirs. A 300-byte name makes an id a file system takes.
    #[test]
    fn colliding_and_long_ids() {
        let mut by_hash = std::collections::HashMap::new();
        let (a, b) = (0..200_000)
            .find_map(|i| {
                let p = PathBuf::from(format!("/vxid/{i}/v.wav"));
                by_hash.insert(path_hash(&p), p.clone()).map(|q| (q, p))
            })
            .expect("a collision among 200 000 paths");
        assert_eq!(input_id(&a), input_id(&b));
        let c = PathBuf::from("/vxid/other/v.wav");
        let ids = input_ids(&[a.clone(), b.clone(), c.clone()]);
        assert_ne!(ids[0], ids[1]);
        assert_eq!(ids[0].len(), "v.wav-".len() + 16, "{ids:?}");
        assert_eq!(ids[2], input_id(&c));
        let long = PathBuf::from(format!("/d/{}.wav", "y".repeat(300)));
        assert!(input_id(&long).len() <= 200 + 9);
    }

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
