//! `OUTDIR/results.jsonl`: one line per input, appended and synced as each finishes, repaired
//! and compacted (see the module documentation of [`super`]).
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use vx_image::fsutil::OutFile;

/// `OUTDIR/results.jsonl`: one JSON object per line, appended and synced.
pub struct ResultsLog {
    path: PathBuf,
    file: std::fs::File,
    /// The latest line of each id, as compact JSON text (a few hundred bytes per input:
    /// ~0.5 GB for a million inputs; the lines themselves are the state a resume needs).
    lines: BTreeMap<String, Box<str>>,
}

impl ResultsLog {
    /// Open (or create) the log in `out`. A torn last line (a crash while appending) is cut
    /// off, and lines that do not parse are dropped; the returned notes say what was
    /// repaired.
    pub fn open(out: &Path) -> std::io::Result<(ResultsLog, Vec<String>)> {
        let path = out.join("results.jsonl");
        let mut notes = Vec::new();
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        let complete = match text.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => 0,
        };
        if complete < text.len() {
            notes.push(format!(
                "{}: cut off a torn last line ({} bytes) left by an interrupted run",
                path.display(),
                text.len() - complete
            ));
            file.set_len(complete as u64)?;
            file.sync_data()?;
        }
        let mut lines = BTreeMap::new();
        for (n, line) in text[..complete].split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Value>(line) {
                Ok(v) => {
                    if let Some(id) = v["id"].as_str() {
                        lines.insert(id.to_string(), v.to_string().into_boxed_str());
                    }
                }
                Err(_) => notes.push(format!(
                    "{}: line {} is not JSON: dropped",
                    path.display(),
                    n + 1
                )),
            }
        }
        Ok((ResultsLog { path, file, lines }, notes))
    }

    /// The latest line of `id`.
    pub fn get(&self, id: &str) -> Option<Value> {
        self.lines
            .get(id)
            .and_then(|l| serde_json::from_str(l).ok())
    }

    /// Append one line (one `write`, then `fdatasync`).
    pub fn append(&mut self, v: &Value) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(v).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        if let Some(id) = v["id"].as_str() {
            self.lines
                .insert(id.to_string(), v.to_string().into_boxed_str());
        }
        Ok(())
    }

    /// Rewrite the log with one line per id (the latest), atomically.
    pub fn compact(&mut self) -> std::io::Result<()> {
        let mut f = OutFile::create(&self.path)?;
        for l in self.lines.values() {
            f.write_all(l.as_bytes())?;
            f.write_all(b"\n")?;
        }
        f.commit()?;
        self.file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// The line of `results.jsonl` for a `result.json` record.
pub fn line_of(record: &Value) -> Value {
    let mut ops = serde_json::Map::new();
    if let Some(m) = record["ops"].as_object() {
        for (name, op) in m {
            let mut o = json!({
                "status": op["status"],
                "outputs": op["outputs"],
                "ms": op["ms"],
            });
            if op["cached"] == true {
                o["cached"] = json!(true);
            }
            ops.insert(name.clone(), o);
        }
    }
    let mut line = json!({
        "id": record["id"],
        "source": record["source"],
        "status": record["status"],
        "complete": record["complete"],
        "ops": ops,
        "bytes": record["bytes"],
        "duration": record["probe"]["duration"],
    });
    if let Some(r) = crate::tables::reason_of(record) {
        line["reason"] = json!(r);
    }
    if !record["warnings"].as_array().is_none_or(|w| w.is_empty()) {
        line["warnings"] = record["warnings"].clone();
    }
    // A field that does not apply is left out, never null (docs/OUTPUTS.md).
    if let Some(m) = line.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    line
}
