//! `vx models list/fetch` and model names: listing with sizes and SHA-256 (checked against
//! `sha256sum`), catalogue names resolved in the model directory, and downloads that fail
//! (no network here: a local HTTP server stands in as `$VX_MODEL_MIRROR`) leaving nothing
//! behind.
mod common;
use common::*;

fn sha256sum(path: &std::path::Path) -> String {
    let o = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap()[..64].to_string()
}

#[test]
fn list_shows_sizes_and_checksums() {
    let dir = need("models/silero_vad.onnx")
        .parent()
        .unwrap()
        .to_path_buf();
    let o = vx()
        .args(["models", "list", "--json"])
        .env("VX_MODEL_DIR", &dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = v["files"].as_array().unwrap();
    let whisper = files
        .iter()
        .find(|f| f["file"] == "whisper-tiny.en.ggml.bin")
        .expect("whisper model listed");
    let path = dir.join("whisper-tiny.en.ggml.bin");
    assert_eq!(whisper["sha256"], sha256sum(&path));
    assert_eq!(
        whisper["bytes"].as_u64().unwrap(),
        std::fs::metadata(&path).unwrap().len()
    );
    assert!(files.iter().any(|f| f["file"] == "silero_vad.onnx"));
    // Nothing from the catalogue is in the shared directory: all six are fetchable.
    assert_eq!(v["fetchable"].as_array().unwrap().len(), 6);

    // The table form says the same.
    let o = vx()
        .args(["models", "list"])
        .env("VX_MODEL_DIR", &dir)
        .output()
        .unwrap();
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(table.contains(&sha256sum(&path)), "{table}");
    assert!(table.contains("tiny.en"), "{table}");
}

#[test]
fn catalogue_names_resolve_in_the_model_directory() {
    let d = TempDir::new("models-names");
    let dir = d.path("models");
    std::fs::create_dir_all(&dir).unwrap();
    // The shared tiny.en model under its upstream file name (it is a conversion of the same
    // weights, not the upstream file: `list` must say its checksum is not the official one).
    std::os::unix::fs::symlink(
        need("models/whisper-tiny.en.ggml.bin"),
        dir.join("ggml-tiny.en.bin"),
    )
    .unwrap();
    let o = vx()
        .args([
            "transcribe",
            need("media/jfk.wav").to_str().unwrap(),
            "--model",
            "tiny.en",
            "--no-vad",
            "--format",
            "txt",
        ])
        .env("VX_MODEL_DIR", &dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("ask not what your country"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = vx()
        .args(["models", "list", "--json"])
        .env("VX_MODEL_DIR", &dir)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["files"][0]["known_as"], "tiny.en");
    assert_eq!(v["files"][0]["verified"], false);
    assert_eq!(v["fetchable"].as_array().unwrap().len(), 6); // 5 whisper + silero_vad

    // A name that is nowhere: one line that says where vx looked and how to get it.
    let o = vx()
        .args(["transcribe", "x.wav", "--model", "base.en"])
        .env("VX_MODEL_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("vx models fetch base.en") && e.contains(dir.to_str().unwrap()),
        "{e}"
    );
}

/// Serve `body` to every request on a local port; returns the base URL.
fn serve(body: &'static [u8]) -> String {
    format!("{}/mirror", serve_bytes(body))
}

#[test]
fn failed_downloads_leave_nothing() {
    let d = TempDir::new("models-fetch");
    let dir = d.path("models");
    let fetch = |mirror: &str, name: &str| {
        vx().args(["models", "fetch", name])
            .env("VX_MODEL_DIR", &dir)
            .env("VX_MODEL_MIRROR", mirror)
            .output()
            .unwrap()
    };
    // Unknown name: a usage error (exit 2), as an unknown operation is.
    let o = fetch("http://127.0.0.1:9", "tiny.xx");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("known: tiny, tiny.en"),
        "{}",
        stderr(&o)
    );
    // A server that sends the wrong bytes: checksum mismatch, no file, no partial file.
    let mirror = serve(b"not the model you are looking for");
    let o = fetch(&mirror, "tiny.en");
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("checksum mismatch") && e.contains("ggml-tiny.en.bin"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // Nobody listening.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let o = fetch(&url, "tiny.en");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("download failed"), "{}", stderr(&o));
    assert!(!dir.join("ggml-tiny.en.bin").exists());
}

/// `vx models list` gives a symlinked model's real size, and says how to get the defaults no
/// official source serves; `vx models fetch --all` fetches every fetchable default, one
/// failure not stopping the others (issue #10 item 25).
#[test]
fn fetch_all_and_linked_models() {
    let d = TempDir::new("models-all");
    let dir = d.path("models");
    std::fs::create_dir_all(&dir).unwrap();
    let silero = need("models/silero_vad.onnx");
    std::os::unix::fs::symlink(&silero, dir.join("linked.onnx")).unwrap();
    let o = vx()
        .args(["models", "list", "--json"])
        .env("VX_MODEL_DIR", &dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let real = std::fs::metadata(&silero).unwrap().len();
    assert_eq!(v["files"][0]["bytes"], real, "{v}");
    let manual: Vec<&str> = v["not_fetchable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        manual,
        [
            "ssd_mobilenet_v2_coco.onnx",
            "centerface.onnx",
            "ch_PP-OCRv4_det_infer.onnx",
            "ch_PP-OCRv4_rec_infer.onnx",
            "ch_ppocr_mobile_v2.0_cls_infer.onnx",
            "all-MiniLM-L6-v2-int8.onnx",
            "all-MiniLM-L6-v2-tokenizer.json",
            "sfx_embedding.onnx",
            "transnetv2.onnx"
        ]
    );
    std::fs::remove_file(dir.join("linked.onnx")).unwrap();
    // A mirror that serves the Silero file for every name: silero_vad verifies, tiny.en does
    // not (checksum mismatch, nothing kept), and the run says so and exits 1.
    let bytes: &'static [u8] = Box::leak(std::fs::read(&silero).unwrap().into_boxed_slice());
    let mirror = serve(bytes);
    let o = vx()
        .args(["models", "fetch", "--all"])
        .env("VX_MODEL_DIR", &dir)
        .env("VX_MODEL_MIRROR", &mirror)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("tiny.en") && e.contains("checksum mismatch"),
        "{e}"
    );
    assert!(
        e.contains("centerface.onnx (faces) has no official download"),
        "{e}"
    );
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["silero_vad.onnx"]);
    assert_eq!(sha256sum(&dir.join("silero_vad.onnx")), sha256sum(&silero));
    assert!(String::from_utf8_lossy(&o.stdout).contains("silero_vad.onnx"));
}
