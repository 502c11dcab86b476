//! `vx run --format parquet`: the tables of a run's output directory as Parquet files,
//! `OUTDIR/<table>.parquet` (arrow-rs, Snappy), built from `OUTDIR/results.jsonl` and each
//! input's JSON outputs after the run. Read a line at a time and written a few hundred inputs
//! (at most 64 MiB of text) at a time, row groups of at most 64 MiB: memory is bounded whatever
//! the number of inputs. Each file goes through the one output writer (complete or absent, never
//! half-written).
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::Compression;
use ::parquet::file::properties::WriterProperties;
use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde_json::Value;
use vx_image::fsutil::OutFile;

use super::{files_row, has_outputs, kind_rows, path_of, Row, Table, Type, TABLES};
use crate::{Error, Result};

/// Inputs whose rows are gathered before they are written as one batch, and the most text a
/// batch gathers (far below the 2 GiB its string offsets can address).
const INPUTS_PER_BATCH: usize = 256;
const BATCH_BYTES: usize = 64 << 20;
/// The most encoded bytes of a row group held in memory before it is written out.
const ROW_GROUP_BYTES: usize = 64 << 20;

/// The Arrow schema of a table (every column nullable).
pub fn schema(t: &Table) -> SchemaRef {
    Arc::new(Schema::new(
        t.columns
            .iter()
            .map(|(name, ty)| {
                let dt = match ty {
                    Type::Str => DataType::Utf8,
                    Type::F64 => DataType::Float64,
                    Type::I64 => DataType::Int64,
                    Type::Bool => DataType::Boolean,
                };
                Field::new(*name, dt, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// Rows as a record batch of the table's schema.
pub fn batch(t: &Table, rows: &[Row]) -> Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(t.columns.len());
    for (i, (_, ty)) in t.columns.iter().enumerate() {
        let cell = |r: &Row| r.get(i).cloned().unwrap_or(Value::Null);
        cols.push(match ty {
            Type::Str => {
                let mut b = StringBuilder::new();
                for r in rows {
                    match cell(r) {
                        Value::String(s) => b.append_value(s),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Type::F64 => {
                let mut b = Float64Builder::new();
                for r in rows {
                    b.append_option(cell(r).as_f64());
                }
                Arc::new(b.finish())
            }
            Type::I64 => {
                let mut b = Int64Builder::new();
                for r in rows {
                    b.append_option(cell(r).as_i64());
                }
                Arc::new(b.finish())
            }
            Type::Bool => {
                let mut b = BooleanBuilder::new();
                for r in rows {
                    b.append_option(cell(r).as_bool());
                }
                Arc::new(b.finish())
            }
        });
    }
    RecordBatch::try_new(schema(t), cols).map_err(|e| Error::Message(format!("{}: {e}", t.name)))
}

struct Writer {
    dest: PathBuf,
    parquet: ArrowWriter<OutFile>,
    rows: usize,
}

impl Writer {
    fn create(out: &Path, t: &Table) -> Result<Writer> {
        let dest = path_of(out, t);
        let file = OutFile::create(&dest).map_err(|e| Error::io(&dest, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .build();
        let parquet = ArrowWriter::try_new(file, schema(t), Some(props))
            .map_err(|e| Error::failed(&dest, e.to_string()))?;
        Ok(Writer {
            dest,
            parquet,
            rows: 0,
        })
    }

    fn write(&mut self, t: &Table, rows: &[Row]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let b = batch(t, rows)?;
        self.parquet
            .write(&b)
            .map_err(|e| Error::failed(&self.dest, e.to_string()))?;
        self.rows += rows.len();
        Ok(())
    }

    /// The last row group and the footer written: the file complete, not yet named.
    fn finish(self) -> Result<(PathBuf, OutFile, usize)> {
        let file = self
            .parquet
            .into_inner()
            .map_err(|e| Error::failed(&self.dest, e.to_string()))?;
        Ok((self.dest, file, self.rows))
    }
}

/// The string bytes of a row (what a batch's 32-bit string offsets must hold).
fn text_bytes(r: &Row) -> usize {
    r.iter().map(|v| v.as_str().map_or(8, str::len)).sum()
}

/// Whether `id` (from `results.jsonl`) names a directory inside the run's: one plain path
/// component, as vx writes them. Anything else (an edited log) is not followed.
fn plain_id(id: &str) -> bool {
    let mut c = Path::new(id).components();
    matches!(
        (c.next(), c.next()),
        (Some(std::path::Component::Normal(n)), None) if n == std::ffi::OsStr::new(id)
    )
}

/// Every table of the run in `out` as `out/<table>.parquet`: one `files` row per line of
/// `out/results.jsonl` (from its `result.json`; from the line itself when there is none), and
/// the rows of each finished input's outputs. Returns (table, rows) in [`TABLES`] order. An
/// output of an input that cannot be read fails the whole write, naming it; no table is
/// written then. The tables are completed first and named last, one after the other.
pub fn write_outdir(out: &Path) -> Result<Vec<(&'static str, usize)>> {
    let log = out.join("results.jsonl");
    let reader =
        std::io::BufReader::new(std::fs::File::open(&log).map_err(|e| Error::io(&log, e))?);
    let mut writers = TABLES
        .iter()
        .map(|t| Writer::create(out, t))
        .collect::<Result<Vec<_>>>()?;
    let mut pending: Vec<Vec<Row>> = vec![Vec::new(); TABLES.len()];
    let (mut inputs, mut bytes) = (0, 0);
    for line in std::io::BufRead::lines(reader) {
        let line = line.map_err(|e| Error::io(&log, e))?;
        // A torn last line (a killed run) is not an input: the next run cuts it off.
        let Ok(line) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let id = line["id"].as_str().filter(|id| plain_id(id));
        let source = line["source"].as_str().unwrap_or_default();
        let record = match id {
            Some(id) => {
                let p = out.join(id).join("result.json");
                match std::fs::read(&p) {
                    Ok(b) => Some(
                        serde_json::from_slice::<Value>(&b)
                            .map_err(|e| Error::failed(&p, e.to_string()))?,
                    ),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                        ) =>
                    {
                        None
                    }
                    Err(e) => return Err(Error::io(&p, e)),
                }
            }
            None => None,
        };
        let row = files_row(source, record.as_ref().unwrap_or(&line));
        bytes += text_bytes(&row);
        pending[0].push(row);
        if let (Some(id), true) = (id, record.is_some() && has_outputs(&line["status"])) {
            for (i, rows) in kind_rows(out, id)?.into_iter().enumerate() {
                bytes += rows.iter().map(text_bytes).sum::<usize>();
                pending[i + 1].extend(rows);
            }
        }
        inputs += 1;
        if inputs % INPUTS_PER_BATCH == 0 || bytes > BATCH_BYTES {
            for ((w, t), rows) in writers.iter_mut().zip(TABLES).zip(&mut pending) {
                w.write(t, rows)?;
                rows.clear();
            }
            bytes = 0;
        }
    }
    for ((w, t), rows) in writers.iter_mut().zip(TABLES).zip(&pending) {
        w.write(t, rows)?;
    }
    let finished = writers
        .into_iter()
        .map(Writer::finish)
        .collect::<Result<Vec<_>>>()?;
    let mut counts = Vec::new();
    for ((dest, file, rows), t) in finished.into_iter().zip(TABLES) {
        file.commit().map_err(|e| Error::io(&dest, e))?;
        counts.push((t.name, rows));
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    use arrow_array::Array;
    use serde_json::json;

    fn column_strings(p: &Path, col: &str) -> Vec<Option<String>> {
        let f = std::fs::File::open(p).unwrap();
        let mut v = Vec::new();
        for b in ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
        {
            let b = b.unwrap();
            let c = b.column_by_name(col).unwrap().as_string::<i32>();
            v.extend((0..c.len()).map(|i| (!c.is_null(i)).then(|| c.value(i).to_string())));
        }
        v
    }

    /// Several batches (600 inputs), and the lines an edited or damaged log may hold: an id
    /// that is not a plain name, no id, a torn last line, an input whose directory is gone.
    #[test]
    fn many_inputs_and_odd_lines() {
        let out = std::env::temp_dir().join(format!("vx-parquet-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let mut log = String::new();
        for i in 0..600 {
            let id = format!("clip{i}.mp4-0000{i:04}");
            let dir = out.join(&id);
            std::fs::create_dir_all(&dir).unwrap();
            let rec = json!({"id": id, "source": format!("in/clip{i}.mp4"), "status": "ok",
                "complete": true, "probe": {"duration": i as f64},
                "ops": {"keyframes": {"status": "ok", "outputs": ["keyframes.json"]}}});
            std::fs::write(dir.join("result.json"), rec.to_string()).unwrap();
            let kf = json!({"keyframes": [{"time": 0.0, "index": 0, "path": "kf-000000.jpg",
                "width": 64, "height": 48, "phash": "00"}, {"time": 2.0, "index": 1,
                "path": "kf-000001.jpg", "width": 64, "height": 48, "phash": "ff"}]});
            std::fs::write(dir.join("keyframes.json"), kf.to_string()).unwrap();
            log.push_str(&format!(
                "{}\n",
                json!({"id": id, "source": format!("in/clip{i}.mp4"), "status": "ok",
                       "complete": true, "duration": i as f64})
            ));
        }
        // Outside the directory: never read.
        let outside = out.with_extension("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(
            outside.join("result.json"),
            r#"{"status":"ok","id":"stolen"}"#,
        )
        .unwrap();
        log.push_str(&format!(
            "{}\n",
            json!({"id": format!("../{}", outside.file_name().unwrap().to_string_lossy()),
                   "source": "x", "status": "ok", "complete": true})
        ));
        log.push_str(
            "{\"source\": \"bad.mp4\", \"status\": \"error\", \"reason\": \"cannot open\"}\n",
        );
        // Published once, its directory gone since: the line's own fields.
        log.push_str(&format!(
            "{}\n",
            json!({"id": "gone.mp4-12345678", "source": "in/gone.mp4", "status": "ok",
                   "complete": true, "duration": 7.5})
        ));
        log.push_str("{\"id\": \"torn");
        std::fs::write(out.join("results.jsonl"), log).unwrap();

        let counts = write_outdir(&out).unwrap();
        assert_eq!(counts[0], ("files", 603));
        assert_eq!(counts[1], ("keyframes", 1200));
        let ids = column_strings(&out.join("files.parquet"), "id");
        assert_eq!(ids.len(), 603);
        assert!(!ids.iter().flatten().any(|i| i == "stolen"));
        let reasons = column_strings(&out.join("files.parquet"), "reason");
        assert_eq!(reasons[601].as_deref(), Some("cannot open"));
        let f = std::fs::File::open(out.join("files.parquet")).unwrap();
        let mut durations = Vec::new();
        for b in ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
        {
            let b = b.unwrap();
            let c = b
                .column_by_name("duration")
                .unwrap()
                .as_primitive::<Float64Type>();
            durations.extend((0..c.len()).map(|i| (!c.is_null(i)).then(|| c.value(i))));
        }
        assert_eq!(durations[599], Some(599.0));
        assert_eq!(durations[602], Some(7.5));
        let kf = column_strings(&out.join("keyframes.parquet"), "id");
        assert_eq!(kf[1199].as_deref(), Some("clip599.mp4-00000599"));
        std::fs::remove_dir_all(&out).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }
}
