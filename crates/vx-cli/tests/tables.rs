//! `vx run --format parquet` (issue #16): one Parquet table per kind, read back with arrow-rs
//! and compared row for row with the JSON outputs of the same run; the schema against a golden
//! file; tables of an earlier run never left out of date; an unreadable output fails the write
//! without replacing the tables.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::Array;
use arrow_schema::DataType;
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Value};

/// A table read back: its schema as text ("name: type" per line) and its rows as JSON objects.
fn read_table(p: &Path) -> (String, Vec<Value>) {
    let f = std::fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let schema: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect();
    let mut rows = Vec::new();
    for batch in b.build().unwrap() {
        let batch = batch.unwrap();
        for i in 0..batch.num_rows() {
            let mut row = serde_json::Map::new();
            for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                let v = if col.is_null(i) {
                    Value::Null
                } else {
                    match field.data_type() {
                        DataType::Utf8 => json!(col.as_string::<i32>().value(i)),
                        DataType::Float64 => json!(col.as_primitive::<Float64Type>().value(i)),
                        DataType::Int64 => json!(col.as_primitive::<Int64Type>().value(i)),
                        DataType::Boolean => json!(col.as_boolean().value(i)),
                        t => panic!("unexpected type {t}"),
                    }
                };
                row.insert(field.name().clone(), v);
            }
            rows.push(Value::Object(row));
        }
    }
    (schema.join("\n"), rows)
}

const TABLES: [&str; 6] = [
    "files",
    "keyframes",
    "detections",
    "segments",
    "text",
    "scenes",
];

fn models() -> PathBuf {
    need("models/silero_vad.onnx")
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run(args: &[&str]) -> std::process::Output {
    vx().arg("run")
        .args(args)
        .env("VX_MODEL_DIR", models())
        .output()
        .unwrap()
}

/// A folder with a clip of two shots (red, then blue) carrying a speech track, two stills (a
/// detection image, a slide of text) and a file that is not media.
fn corpus(d: &TempDir) -> PathBuf {
    let dir = d.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=320x240:r=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=320x240:r=25:d=2",
        "-i",
        s(&need("media/jfk.wav")),
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1:a=0[v]",
        "-map",
        "[v]",
        "-map",
        "2:a",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-shortest",
        s(&dir.join("shots.mp4")),
    ]);
    std::fs::copy(need("media/bus.jpg"), dir.join("bus.jpg")).unwrap();
    std::fs::copy(need("media/ocr_slide.png"), dir.join("slide.png")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not media\n").unwrap();
    dir
}

fn by_id(rows: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in rows {
        m.entry(r["id"].as_str().unwrap_or("").to_string())
            .or_default()
            .push(r.clone());
    }
    m
}

#[test]
fn parquet_tables_equal_the_json_outputs() {
    let d = TempDir::new("tables");
    let input = corpus(&d);
    let out = d.path("out");
    let ops = "scenes;keyframes;[detect,faces,ocr];transcribe";
    let o = run(&[
        s(&input),
        "--ops",
        ops,
        "-o",
        s(&out),
        "--format",
        "parquet",
        "-j",
        "2",
    ]);
    // notes.txt is an error: exit 1, the others finish.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("Parquet tables in"), "{}", stderr(&o));
    let t: BTreeMap<&str, (String, Vec<Value>)> = TABLES
        .iter()
        .map(|n| (*n, read_table(&out.join(format!("{n}.parquet")))))
        .collect();

    // The schema, against the golden file (docs/OUTPUTS.md documents it).
    let schema: String = TABLES
        .iter()
        .map(|n| format!("[{n}]\n{}\n", t[n].0))
        .collect();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tables.schema.txt");
    if std::env::var_os("VX_BLESS").is_some() {
        std::fs::write(&golden, &schema).unwrap();
    }
    assert_eq!(schema, std::fs::read_to_string(&golden).unwrap());

    // files: one row per line of results.jsonl, in order, with the record it summarises.
    let lines: Vec<Value> = std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let files = &t["files"].1;
    assert_eq!(files.len(), 4);
    assert_eq!(files.len(), lines.len());
    for (row, line) in files.iter().zip(&lines) {
        assert_eq!(row["path"], line["source"]);
        assert_eq!(row["id"], line["id"]);
        assert_eq!(row["status"], line["status"]);
        assert_eq!(
            row["reason"],
            line.get("reason").cloned().unwrap_or(Value::Null)
        );
        assert_eq!(row["complete"], line["complete"]);
        assert_eq!(
            row["duration"],
            line.get("duration").cloned().unwrap_or(Value::Null)
        );
        let rec: Value = serde_json::from_str(row["record"].as_str().unwrap()).unwrap();
        if line["status"] == "error" {
            assert!(row["path"].as_str().unwrap().ends_with("notes.txt"));
            assert!(
                row["reason"].as_str().unwrap().contains("not a media file"),
                "{row}"
            );
        } else {
            let id = line["id"].as_str().unwrap();
            assert_eq!(rec, read_json(&out.join(id).join("result.json")));
            let ops: Value = serde_json::from_str(row["ops"].as_str().unwrap()).unwrap();
            for (op, o) in rec["ops"].as_object().unwrap() {
                assert_eq!(ops[op]["status"], o["status"], "{op}");
                assert_eq!(ops[op]["outputs"], o["outputs"], "{op}");
            }
        }
    }
    let id_of = |name: &str| -> String {
        lines
            .iter()
            .find(|l| l["source"].as_str().unwrap().ends_with(name))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (clip, bus, slide) = (id_of("shots.mp4"), id_of("bus.jpg"), id_of("slide.png"));

    // keyframes: the entries of each keyframes.json.
    let kf = by_id(&t["keyframes"].1);
    for id in [&clip, &bus, &slide] {
        let j = read_json(&out.join(id).join("keyframes.json"));
        let want = j["keyframes"].as_array().unwrap();
        let got = &kf[id];
        assert_eq!(got.len(), want.len(), "{id}");
        for (g, w) in got.iter().zip(want) {
            for k in ["time", "index", "path", "width", "height", "phash"] {
                assert_eq!(g[k], w[k], "{id} {k}");
            }
        }
    }
    // One keyframe per scene: red and blue.
    assert_eq!(kf[&clip].len(), 2);

    // detections: every box of detect.json and faces.json, with its op.
    let det = by_id(&t["detections"].1);
    let mut want = Vec::new();
    for op in ["detect", "faces"] {
        for r in read_json(&out.join(&bus).join(format!("{op}.json")))["results"]
            .as_array()
            .unwrap()
        {
            for x in r["detections"].as_array().unwrap() {
                want.push((op, x.clone()));
            }
        }
    }
    assert!(want.iter().any(|(_, x)| x["label"] == "person"));
    assert_eq!(det[&bus].len(), want.len());
    for (g, (op, w)) in det[&bus].iter().zip(&want) {
        assert_eq!(g["op"], *op);
        assert_eq!(g["label"], w["label"]);
        assert_eq!(g["score"], w["score"]);
        for k in ["x", "y", "w", "h"] {
            assert_eq!(g[k], w["box"][k], "{k}");
        }
    }

    // segments: the transcript of the clip's speech (its first 4 s).
    let seg = by_id(&t["segments"].1);
    let text: String = seg[&clip]
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert!(text.to_lowercase().contains("fellow americans"), "{text}");
    let tj = read_json(&out.join(&clip).join("transcribe.json"));
    assert_eq!(seg[&clip].len(), tj["segments"].as_array().unwrap().len());

    // text: the OCR lines of the slide.
    let ocr = by_id(&t["text"].1);
    let lines_json: Vec<Value> = read_json(&out.join(&slide).join("ocr.json"))["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["lines"].as_array().unwrap().clone())
        .collect();
    assert!(!lines_json.is_empty());
    let got: Vec<&Value> = ocr[&slide].iter().map(|r| &r["text"]).collect();
    let want: Vec<&Value> = lines_json.iter().map(|l| &l["text"]).collect();
    assert_eq!(got, want);

    // scenes: the two shots.
    let sc = by_id(&t["scenes"].1);
    let sj = read_json(&out.join(&clip).join("scenes.json"));
    let frames: Vec<(Value, Value)> = sc[&clip]
        .iter()
        .map(|r| (r["start_frame"].clone(), r["end_frame"].clone()))
        .collect();
    let want: Vec<(Value, Value)> = sj["scenes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["start_frame"].clone(), r["end_frame"].clone()))
        .collect();
    assert_eq!(frames, want);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[1].0, 50);

    // Again, everything current: nothing decoded, the same tables.
    let o = run(&[
        s(&input),
        "--ops",
        ops,
        "-o",
        s(&out),
        "--format",
        "parquet",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    for n in TABLES {
        assert_eq!(
            read_table(&out.join(format!("{n}.parquet"))).1,
            t[n].1,
            "{n}"
        );
    }

    // An output that cannot be read: the run says the tables were not written, naming it,
    // and none is left (the earlier ones are removed as the run starts: none would match).
    let ocr = out.join(&slide).join("ocr.json");
    let good = std::fs::read(&ocr).unwrap();
    std::fs::write(&ocr, "{\"results\": [").unwrap();
    let o = run(&[
        s(&input),
        "--ops",
        ops,
        "-o",
        s(&out),
        "--format",
        "parquet",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("Parquet tables not written") && err.contains("ocr.json"),
        "{err}"
    );
    assert!(
        err.contains("input(s) in"),
        "the summary comes first: {err}"
    );
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet") || (n.starts_with('.') && !n.starts_with(".vx-")))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Repaired: written again. Then a run without --format parquet removes them (they would
    // no longer match results.jsonl), and says so.
    std::fs::write(&ocr, good).unwrap();
    let o = run(&[
        s(&input),
        "--ops",
        ops,
        "-o",
        s(&out),
        "--format",
        "parquet",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(read_table(&out.join("text.parquet")).1, t["text"].1);
    let o = run(&[s(&input), "--ops", ops, "-o", s(&out), "--force"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("removed"), "{}", stderr(&o));
    for n in TABLES {
        assert!(!out.join(format!("{n}.parquet")).exists(), "{n}");
    }
}
