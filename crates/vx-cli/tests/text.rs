//! `vx embed-text` (issue #14 item 1): the reference sentences give the reference vectors
//! (the library test checks all eleven to 1e-4), texts from arguments, stdin and a file, the
//! .npy beside the JSON, and the errors.
mod common;
use common::*;
use std::io::Write;

fn model() -> String {
    s(&need("models/all-MiniLM-L6-v2-int8.onnx")).to_string()
}

#[test]
fn texts_from_arguments_stdin_and_file() {
    let d = TempDir::new("embed-text");
    let list = d.path("texts.txt");
    std::fs::write(&list, "The stock market fell sharply today.\n\n").unwrap();
    let npy = d.path("v.npy");
    let m = model();
    let mut child = vx()
        .args([
            "-q",
            "embed-text",
            "A man is playing a guitar.",
            "-",
            "--file",
            s(&list),
            "-m",
            &m,
        ])
        .args(["--npy", s(&npy)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Someone is playing an instrument.\r\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let e = v["embeddings"].as_array().unwrap();
    let texts: Vec<&str> = e.iter().map(|x| x["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        [
            "A man is playing a guitar.",
            "Someone is playing an instrument.",
            "The stock market fell sharply today."
        ]
    );
    assert_eq!(v["dimensions"], 384);
    let vecs: Vec<Vec<f64>> = e
        .iter()
        .map(|x| {
            x["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_f64().unwrap())
                .collect()
        })
        .collect();
    let cos = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    // The reference's int8 similarities: 0.6746 (guitar / instrument), -0.0497 (guitar / stock).
    assert!((cos(&vecs[0], &vecs[1]) - 0.6746).abs() < 1e-3);
    assert!((cos(&vecs[0], &vecs[2]) + 0.0497).abs() < 1e-3);
    // The .npy: [3, 384] float32 with the same numbers.
    let b = std::fs::read(&npy).unwrap();
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(
        header.contains("(3, 384)") && header.contains("<f4"),
        "{header}"
    );
    let first = f32::from_le_bytes(b[10 + hlen..14 + hlen].try_into().unwrap());
    assert!((first as f64 - vecs[0][0]).abs() < 1e-6);
}

#[test]
fn errors_are_one_line() {
    let d = TempDir::new("embed-text-err");
    // A model without its tokenizer beside it.
    let alone = d.path("m.onnx");
    std::fs::copy(need("models/all-MiniLM-L6-v2-int8.onnx"), &alone).unwrap();
    let o = run_vx(&["embed-text", "hello", "-m", s(&alone)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("tokenizer") && err.lines().count() == 1,
        "{err}"
    );
    // Another kind of model: refused by its signature.
    let o = run_vx(&[
        "embed-text",
        "hello",
        "-m",
        s(&need("models/silero_vad.onnx")),
        "--tokenizer",
        s(&need("models/all-MiniLM-L6-v2-tokenizer.json")),
    ]);
    let err = stderr(&o);
    assert!(
        err.contains("signature") && err.lines().count() == 1,
        "{err}"
    );
    // Nothing to embed.
    let o = run_vx(&["embed-text", "--file", "/dev/null", "-m", &model()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}
