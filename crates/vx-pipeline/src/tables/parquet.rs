//! `vx run --format parquet`: the tables of a run's output directory as Parquet files,
//! `OUTDIR/<table>.parquet` (arrow-rs, Snappy), built from `OUTDIR/results.jsonl` and each
//! input's JSON outputs after the run. Written a few hundred inputs at a time (memory bounded
//! whatever the number of inputs), each file through the one output writer (complete or absent,
//! never half-written).
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

/// Inputs whose rows are gathered before they are written as one batch.
const INPUTS_PER_BATCH: usize = 256;

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
    file: Option<OutFile>,
    parquet: Option<ArrowWriter<OutFile>>,
    rows: usize,
}

impl Writer {
    fn create(out: &Path, t: &Table) -> Result<Writer> {
        let dest = path_of(out, t);
        let file = OutFile::create(&dest).map_err(|e| Error::io(&dest, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let parquet = ArrowWriter::try_new(file, schema(t), Some(props))
            .map_err(|e| Error::failed(&dest, e.to_string()))?;
        Ok(Writer {
            dest,
            file: None,
            parquet: Some(parquet),
            rows: 0,
        })
    }

    fn write(&mut self, t: &Table, rows: &[Row]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let b = batch(t, rows)?;
        if let Some(w) = self.parquet.as_mut() {
            w.write(&b)
                .map_err(|e| Error::failed(&self.dest, e.to_string()))?;
        }
        self.rows += rows.len();
        Ok(())
    }

    /// The footer written, the file synced and given its name.
    fn commit(mut self) -> Result<usize> {
        if let Some(w) = self.parquet.take() {
            // into_inner writes the last row group and the footer.
            self.file = Some(
                w.into_inner()
                    .map_err(|e| Error::failed(&self.dest, e.to_string()))?,
            );
        }
        if let Some(f) = self.file.take() {
            f.commit().map_err(|e| Error::io(&self.dest, e))?;
        }
        Ok(self.rows)
    }
}

/// Every table of the run in `out` as `out/<table>.parquet`: one `files` row per line of
/// `out/results.jsonl` (its `result.json` when there is one), and the rows of each finished
/// input's outputs. Returns (table, rows) in [`TABLES`] order. An output of an input that
/// cannot be read fails the whole write (no table is replaced then).
pub fn write_outdir(out: &Path) -> Result<Vec<(&'static str, usize)>> {
    let log = out.join("results.jsonl");
    let text = std::fs::read_to_string(&log).map_err(|e| Error::io(&log, e))?;
    let mut writers = TABLES
        .iter()
        .map(|t| Writer::create(out, t))
        .collect::<Result<Vec<_>>>()?;
    let mut pending: Vec<Vec<Row>> = vec![Vec::new(); TABLES.len()];
    let mut inputs = 0;
    // A torn last line (a killed run) is not an input: the next run cuts it off.
    for line in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let id = line["id"].as_str().unwrap_or_default();
        let source = line["source"].as_str().unwrap_or_default();
        let record = if id.is_empty() {
            None
        } else {
            std::fs::read(out.join(id).join("result.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        };
        pending[0].push(files_row(source, record.as_ref().unwrap_or(&line)));
        if !id.is_empty() && has_outputs(&line["status"]) {
            for (i, rows) in kind_rows(out, id)?.into_iter().enumerate() {
                pending[i + 1].extend(rows);
            }
        }
        inputs += 1;
        if inputs % INPUTS_PER_BATCH == 0 {
            for ((w, t), rows) in writers.iter_mut().zip(TABLES).zip(&mut pending) {
                w.write(t, rows)?;
                rows.clear();
            }
        }
    }
    for ((w, t), rows) in writers.iter_mut().zip(TABLES).zip(&pending) {
        w.write(t, rows)?;
    }
    let mut counts = Vec::new();
    for (w, t) in writers.into_iter().zip(TABLES) {
        counts.push((t.name, w.commit()?));
    }
    Ok(counts)
}
