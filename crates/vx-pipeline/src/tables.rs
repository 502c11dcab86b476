//! vx's results as tables: one table of inputs (`files`) and one per kind of result, keyed by
//! the input's `id`, built from the JSON files of a run's output directory. The one definition
//! of their columns and rows: `vx run --format parquet` writes them ([`parquet`], feature
//! `parquet`), and the Python package builds its Arrow tables and the Ray recipe's Parquet from
//! the same rows (`vx.arrow`, `python -m vx.ray`). The columns are documented in
//! docs/OUTPUTS.md ("Tables").
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::{Error, Result};

/// A column's type (Arrow/Parquet: utf8, float64, int64, bool; every column nullable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Str,
    F64,
    I64,
    Bool,
}

impl Type {
    /// The name used by the Python package to build the pyarrow schema.
    pub fn name(self) -> &'static str {
        match self {
            Type::Str => "string",
            Type::F64 => "float64",
            Type::I64 => "int64",
            Type::Bool => "bool",
        }
    }
}

/// A table: its name (the Parquet file's stem) and its columns in order.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Type)],
}

use Type::*;

/// Every table, `files` first; [`kind_rows`] returns the others in this order.
pub const TABLES: &[Table] = &[
    Table {
        name: "files",
        columns: &[
            ("path", Str),
            ("id", Str),
            ("status", Str),
            ("reason", Str),
            ("complete", Bool),
            ("duration", F64),
            ("ops", Str),
            ("record", Str),
        ],
    },
    Table {
        name: "keyframes",
        columns: &[
            ("id", Str),
            ("time", F64),
            ("index", I64),
            ("path", Str),
            ("width", I64),
            ("height", I64),
            ("phash", Str),
        ],
    },
    Table {
        name: "detections",
        columns: &[
            ("id", Str),
            ("op", Str),
            ("time", F64),
            ("keyframe", Str),
            ("label", Str),
            ("score", F64),
            ("x", F64),
            ("y", F64),
            ("w", F64),
            ("h", F64),
        ],
    },
    Table {
        name: "segments",
        columns: &[("id", Str), ("start", F64), ("end", F64), ("text", Str)],
    },
    Table {
        name: "text",
        columns: &[
            ("id", Str),
            ("time", F64),
            ("keyframe", Str),
            ("text", Str),
            ("score", F64),
        ],
    },
    Table {
        name: "scenes",
        columns: &[
            ("id", Str),
            ("index", I64),
            ("start", F64),
            ("end", F64),
            ("start_frame", I64),
            ("end_frame", I64),
        ],
    },
];

/// A row: one value per column of its table, in order (`null` where there is none; a value
/// of another type than the column's is written as null).
pub type Row = Vec<Value>;

/// Why a record is not `ok`: its own reason (the file could not be read), else the first
/// operation that failed or was skipped, as `op: reason`. None for an `ok` record.
pub fn reason_of(record: &Value) -> Option<String> {
    if record["status"] == "ok" {
        return None;
    }
    record["reason"].as_str().map(str::to_string).or_else(|| {
        record["ops"].as_object().and_then(|m| {
            m.iter().find_map(|(name, op)| {
                if op["status"] != "ok" {
                    op["reason"].as_str().map(|r| format!("{name}: {r}"))
                } else {
                    None
                }
            })
        })
    })
}

/// The `files` row of an input from its record (`result.json`; its `results.jsonl` line, or
/// `{"status": "error", "reason": ...}`, when the file could not be read): `ops` is `{op: {status, outputs}}` and `record` the whole
/// record, both as JSON text (keys sorted).
pub fn files_row(path: &str, record: &Value) -> Row {
    let mut ops = serde_json::Map::new();
    if let Some(m) = record["ops"].as_object() {
        for (name, op) in m {
            let outputs = match &op["outputs"] {
                Value::Array(a) => Value::Array(a.clone()),
                _ => json!([]),
            };
            ops.insert(
                name.clone(),
                json!({"status": op["status"], "outputs": outputs}),
            );
        }
    }
    vec![
        json!(path),
        record["id"].clone(),
        record["status"].clone(),
        reason_of(record).map_or(Value::Null, Value::String),
        json!(record["complete"] == true),
        // result.json has the probe; a results.jsonl line its duration.
        match &record["probe"]["duration"] {
            Value::Null => record["duration"].clone(),
            d => d.clone(),
        },
        json!(Value::Object(ops).to_string()),
        json!(record.to_string()),
    ]
}

/// The rows of every table after `files` (in [`TABLES`] order) for one finished input, from
/// the JSON outputs in `out/<id>/`. A missing output is no rows; an output that cannot be read
/// or parsed is an error naming it.
pub fn kind_rows(out: &Path, id: &str) -> Result<Vec<Vec<Row>>> {
    let dir = out.join(id);
    let load = |name: &str| -> Result<Value> {
        let p = dir.join(name);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::failed(&p, e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
            Err(e) => Err(Error::io(&p, e)),
        }
    };
    let items =
        |v: &Value, key: &str| -> Vec<Value> { v[key].as_array().cloned().unwrap_or_default() };
    let mut t: Vec<Vec<Row>> = vec![Vec::new(); TABLES.len() - 1];
    let [keyframes, detections, segments, text, scenes] = &mut t[..] else {
        unreachable!("TABLES has six tables")
    };
    for k in items(&load("keyframes.json")?, "keyframes") {
        keyframes.push(vec![
            json!(id),
            k["time"].clone(),
            k["index"].clone(),
            k["path"].clone(),
            k["width"].clone(),
            k["height"].clone(),
            k["phash"].clone(),
        ]);
    }
    for op in ["detect", "faces"] {
        for r in items(&load(&format!("{op}.json"))?, "results") {
            for d in items(&r, "detections") {
                let b = &d["box"];
                detections.push(vec![
                    json!(id),
                    json!(op),
                    r["time"].clone(),
                    r["keyframe"].clone(),
                    d["label"].clone(),
                    d["score"].clone(),
                    b["x"].clone(),
                    b["y"].clone(),
                    b["w"].clone(),
                    b["h"].clone(),
                ]);
            }
        }
    }
    for s in items(&load("transcribe.json")?, "segments") {
        segments.push(vec![
            json!(id),
            s["start"].clone(),
            s["end"].clone(),
            s["text"].clone(),
        ]);
    }
    for r in items(&load("ocr.json")?, "results") {
        for line in items(&r, "lines") {
            text.push(vec![
                json!(id),
                r["time"].clone(),
                r["keyframe"].clone(),
                line["text"].clone(),
                line["score"].clone(),
            ]);
        }
    }
    for s in items(&load("scenes.json")?, "scenes") {
        scenes.push(vec![
            json!(id),
            s["index"].clone(),
            s["start"].clone(),
            s["end"].clone(),
            s["start_frame"].clone(),
            s["end_frame"].clone(),
        ]);
    }
    Ok(t)
}

/// Whether an input's line of `results.jsonl` has per-kind outputs to read.
pub fn has_outputs(status: &Value) -> bool {
    status == "ok" || status == "partial"
}

/// The path of a table's Parquet file in `out` (`vx run --format parquet`).
pub fn path_of(out: &Path, t: &Table) -> PathBuf {
    out.join(format!("{}.parquet", t.name))
}

/// Removes the tables of an earlier `--format parquet` run from `out` (a run without them must
/// not leave tables that no longer match `results.jsonl`). Returns the files removed.
pub fn remove_outdir(out: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for t in TABLES {
        let p = path_of(out, t);
        match std::fs::remove_file(&p) {
            Ok(()) => removed.push(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    Ok(removed)
}

/// Whether this build writes Parquet (the `parquet` feature).
pub const CAN_WRITE: bool = cfg!(feature = "parquet");

/// Every table of the run in `out` as `out/<table>.parquet` ([`parquet::write_outdir`]).
#[cfg(feature = "parquet")]
pub fn write_outdir(out: &Path) -> Result<Vec<(&'static str, usize)>> {
    parquet::write_outdir(out)
}

/// Without the `parquet` feature: a usage error (see [`CAN_WRITE`]).
#[cfg(not(feature = "parquet"))]
pub fn write_outdir(_: &Path) -> Result<Vec<(&'static str, usize)>> {
    Err(Error::Usage(
        "Parquet tables: vx was built without the `parquet` feature".into(),
    ))
}

#[cfg(feature = "parquet")]
pub mod parquet;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_one_value_per_column() {
        let rec = json!({"id": "a-1", "status": "partial", "complete": false,
            "probe": {"duration": 2.5},
            "ops": {"keyframes": {"status": "ok", "outputs": ["keyframes.json"]},
                    "transcribe": {"status": "skipped", "reason": "no audio stream"}}});
        let r = files_row("in/a.mp4", &rec);
        assert_eq!(r.len(), TABLES[0].columns.len());
        assert_eq!(r[3], "transcribe: no audio stream");
        assert_eq!(r[5], 2.5);
        assert_eq!(
            r[6],
            r#"{"keyframes":{"outputs":["keyframes.json"],"status":"ok"},"transcribe":{"outputs":[],"status":"skipped"}}"#
        );
        let dir = std::env::temp_dir().join(format!("vx-tables-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a-1")).unwrap();
        std::fs::write(
            dir.join("a-1/detect.json"),
            r#"{"results":[{"time":1.0,"keyframe":"kf-000000.jpg","detections":[
                {"label":"person","score":0.9,"box":{"x":1,"y":2,"w":3,"h":4}}]}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("a-1/scenes.json"),
            r#"{"scenes":[{"index":0,"start":0.0,"end":3.0,"start_frame":0,"end_frame":74}]}"#,
        )
        .unwrap();
        let t = kind_rows(&dir, "a-1").unwrap();
        for (rows, table) in t.iter().zip(&TABLES[1..]) {
            for row in rows {
                assert_eq!(row.len(), table.columns.len(), "{}", table.name);
            }
        }
        assert_eq!(t[1][0][4], "person");
        assert_eq!(t[4][0][5], 74);
        std::fs::write(dir.join("a-1/ocr.json"), "{").unwrap();
        let e = kind_rows(&dir, "a-1").unwrap_err().to_string();
        assert!(e.contains("ocr.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ok_records_have_no_reason() {
        assert_eq!(reason_of(&json!({"status": "ok", "reason": "x"})), None);
        assert_eq!(
            reason_of(&json!({"status": "error", "reason": "cannot open"})).as_deref(),
            Some("cannot open")
        );
    }
}
