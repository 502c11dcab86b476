//! Golden-file tests of the output schemas: the shape (field names and value types) of
//! `keyframes.json`, `vx probe`, `vx detect` / `vx faces`, `vx vad`, `vx transcribe`,
//! `vx embed-audio` and `vx models list --json` output must match tests/golden/*.shape.json. On a mismatch
//! the actual shape is written next to the golden file as *.actual.json; if the change is
//! intended, copy it over the golden file and document it in docs/OUTPUTS.md.
mod common;
use common::*;
use serde_json::{Map, Value};
use std::path::Path;

/// Replace every value by its type name; arrays keep the shape of their first element.
fn shape(v: &Value) -> Value {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) if n.is_f64() => "float".into(),
        Value::Number(_) => "int".into(),
        Value::String(_) => "string".into(),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), shape(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

fn check_golden(name: &str, actual: &Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let golden = dir.join(format!("{name}.shape.json"));
    let got = shape(actual);
    let want: Value =
        serde_json::from_slice(&std::fs::read(&golden).unwrap_or_default()).unwrap_or(Value::Null);
    if got != want {
        let out = dir.join(format!("{name}.actual.json"));
        std::fs::write(&out, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        panic!(
            "{name}: output schema changed; actual shape written to {}",
            out.display()
        );
    }
}

#[test]
fn keyframes_json_schema() {
    let d = TempDir::new("golden-kf");
    let clip = d.path("a.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-t",
        "1",
        "-c:v",
        "libx264",
        "-g",
        "10",
        clip.to_str().unwrap(),
    ]);
    let out = d.path("o");
    let o = run_vx(&[
        "keyframes",
        "-q",
        clip.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    check_golden("keyframes", &read_json(&out.join("keyframes.json")));
}

#[test]
fn probe_json_schema() {
    let d = TempDir::new("golden-probe");
    let f = d.path("av.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=d=1",
        "-t",
        "1",
        "-c:v",
        "libx264",
        "-c:a",
        "libopus",
        "-metadata:s:a:0",
        "language=eng",
        f.to_str().unwrap(),
    ]);
    let o = run_vx(&["probe", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    check_golden("probe", &serde_json::from_slice(&o.stdout).unwrap());
}

/// `vx ARGS...` that must succeed; its stdout as JSON.
fn json_of(args: &[&str]) -> Value {
    let o = run_vx(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn p(rel: &str) -> String {
    need(rel).display().to_string()
}

#[test]
fn detect_and_faces_json_schema() {
    let ssd = p("models/ssd_mobilenet_v2_coco.onnx");
    check_golden(
        "detect",
        &json_of(&["detect", &p("media/dog.jpg"), "--model", &ssd]),
    );
    let faces = p("models/centerface.onnx");
    check_golden(
        "faces",
        &json_of(&["faces", &p("media/zidane.jpg"), "--model", &faces]),
    );
}

#[test]
fn audio_model_outputs_json_schema() {
    let jfk = p("media/jfk.wav");
    let vad = p("models/silero_vad.onnx");
    check_golden("vad", &json_of(&["vad", &jfk, "--model", &vad]));
    check_golden(
        "embed-audio",
        &json_of(&[
            "embed-audio",
            &jfk,
            "--model",
            &p("models/sfx_embedding.onnx"),
        ]),
    );
    check_golden(
        "transcribe",
        &json_of(&[
            "transcribe",
            &jfk,
            "--model",
            &p("models/whisper-tiny.en.ggml.bin"),
            "--vad-model",
            &vad,
        ]),
    );
}

#[test]
fn models_list_json_schema() {
    let d = TempDir::new("golden-models");
    // One catalogue file (a link to the shared tiny.en) so that known_as/verified appear.
    std::os::unix::fs::symlink(
        need("models/whisper-tiny.en.ggml.bin"),
        d.path("ggml-tiny.en.bin"),
    )
    .unwrap();
    let o = vx()
        .args(["models", "list", "--json"])
        .env("VX_MODEL_DIR", d.path(""))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    check_golden("models-list", &serde_json::from_slice(&o.stdout).unwrap());
}
