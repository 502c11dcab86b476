//! `vx ocr` and the `ocr` operation of `vx run` (issue #13): the shared images read as
//! RapidOCR reads them (the library test compares every box; here the command's JSON, several
//! inputs, EXIF, 4K, videos on the timeline, keyframes + ocr in one pass, missing models).
mod common;
use common::*;
use std::path::{Path, PathBuf};

fn det() -> String {
    s(&need("models/ch_PP-OCRv4_det_infer.onnx")).to_string()
}

/// `vx run CLIP --ops OPS -o OUT` with the OCR detector (and the SSD when detect is in OPS);
/// the input's results directory.
fn run_ops(clip: &Path, ops: &str, out: &Path) -> PathBuf {
    let ssd = format!("detect={}", s(&need("models/ssd_mobilenet_v2_coco.onnx")));
    let ocr_model = format!("ocr={}", det());
    let mut args = vec![
        "-q",
        "run",
        s(clip),
        "--ops",
        ops,
        "-o",
        s(out),
        "--model",
        &ocr_model,
    ];
    if ops.contains("detect") {
        args.extend(["--model", ssd.as_str()]);
    }
    let o = run_vx(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    first_dir(out)
}

fn ocr(args: &[&str]) -> serde_json::Value {
    let d = det();
    let mut a = vec!["-q", "ocr", "-m", d.as_str()];
    a.extend_from_slice(args);
    let o = run_vx(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn texts(result: &serde_json::Value) -> Vec<String> {
    result["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect()
}

const SLIDE: [&str; 3] = [
    "Quarterly Review",
    "Revenue grew 12% in Q3",
    "Next meeting: 14 March",
];

#[test]
fn images_give_their_lines_in_reading_order() {
    let v = ocr(&[
        s(&need("media/ocr_slide.png")),
        s(&need("media/ocr_plain.png")),
        s(&need("media/chelsea.png")),
    ]);
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(texts(&r[0]), SLIDE);
    assert_eq!(texts(&r[1]), ["vx keyframes", "2026"]);
    // A photo of a cat: no text.
    assert_eq!(texts(&r[2]), Vec::<String>::new());
    assert_eq!(
        (r[0]["width"].as_u64(), r[0]["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert!(r[0]["source"].as_str().unwrap().ends_with("ocr_slide.png"));
    assert!(r[0].get("time").is_none(), "a still has no time");
    let b = &r[0]["lines"][0]["box"];
    // Top-left, top-right, bottom-right, bottom-left of "Quarterly Review" (RapidOCR: 84,52
    // 703,48 704,109 84,114).
    for (i, (x, y)) in [(84.0, 52.0), (703.0, 48.0), (704.0, 109.0), (84.0, 114.0)]
        .iter()
        .enumerate()
    {
        assert!((b[i][0].as_f64().unwrap() - x).abs() <= 2.0, "{b}");
        assert!((b[i][1].as_f64().unwrap() - y).abs() <= 2.0, "{b}");
    }
    assert_eq!(v["complete"], true);
    assert!(v["model"]["rec"]
        .as_str()
        .unwrap()
        .ends_with("ch_PP-OCRv4_rec_infer.onnx"));
}

#[test]
fn exif_rotated_photo_and_4k_frame_read_the_same() {
    let d = TempDir::new("ocr-exif");
    // The slide stored sideways with Orientation = 6, as a phone would.
    let stored = d.path("stored.jpg");
    ffmpeg(&[
        "-i",
        s(&need("media/ocr_slide.png")),
        "-vf",
        "transpose=2",
        "-q:v",
        "2",
        s(&stored),
    ]);
    let phone = d.path("phone.jpg");
    with_exif_orientation(&stored, 6, &phone);
    // The same slide as a 3840x2160 picture (the long side is brought to 2000 first).
    let big = d.path("big.png");
    ffmpeg(&[
        "-i",
        s(&need("media/ocr_slide.png")),
        "-vf",
        "scale=3840:2160",
        s(&big),
    ]);
    let v = ocr(&[s(&phone), s(&big)]);
    let r = v["results"].as_array().unwrap();
    assert_eq!(texts(&r[0]), SLIDE);
    assert_eq!(
        (r[0]["width"].as_u64(), r[0]["height"].as_u64()),
        (Some(1280), Some(720))
    );
    // Brought to 1984x1120 for the detector, the words of the larger lines stand apart:
    // RapidOCR 1.4.4 reads this picture (made by the same ffmpeg command) the same way, with
    // "Quarterly" at (241.9, 146.6) and "Review" at (1335.5, 156.2) in the 4K pixels.
    assert_eq!(
        texts(&r[1]),
        [
            "Quarterly",
            "Review",
            "Revenue",
            "grew 12% in Q3",
            "Next meeting: 14 March"
        ]
    );
    for (i, (x, y)) in [(241.9, 146.6), (1335.5, 156.2)].iter().enumerate() {
        let b = &r[1]["lines"][i]["box"][0];
        assert!((b[0].as_f64().unwrap() - x).abs() < 6.0, "{b}");
        assert!((b[1].as_f64().unwrap() - y).abs() < 6.0, "{b}");
    }
}

/// Two slides of 2 s each as an H.264 video with a keyframe every second.
fn slides(d: &TempDir) -> std::path::PathBuf {
    let p = d.path("slides.mp4");
    ffmpeg(&[
        "-loop",
        "1",
        "-framerate",
        "25",
        "-t",
        "2",
        "-i",
        s(&need("media/ocr_slide.png")),
        "-loop",
        "1",
        "-framerate",
        "25",
        "-t",
        "2",
        "-i",
        s(&need("media/ocr_dog_overlay.png")),
        "-filter_complex",
        "[0:v]scale=1280:720,setsar=1[a];[1:v]scale=1280:720,setsar=1[b];[a][b]concat=n=2:v=1[out]",
        "-map",
        "[out]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "18",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        s(&p),
    ]);
    p
}

fn lines_at(v: &serde_json::Value) -> Vec<(f64, Vec<String>)> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["time"].as_f64().unwrap(), texts(r)))
        .collect()
}

#[test]
fn video_frames_on_the_timeline_and_inside_vx_run() {
    let d = TempDir::new("ocr-video");
    let clip = slides(&d);
    let got = lines_at(&ocr(&[s(&clip), "--every", "1"]));
    let times: Vec<f64> = got.iter().map(|g| g.0).collect();
    assert_eq!(times, [0.0, 1.0, 2.0, 3.0]);
    for (t, lines) in &got {
        // RapidOCR 1.4.4 reads these decoded frames (`ffmpeg -ss T -i slides.mp4 -frames:v 1`)
        // the same way, including the "C" it sees in the dog's fur.
        let want: &[&str] = if *t < 2.0 {
            &SLIDE
        } else {
            &["C", "GOOD DOG 42"]
        };
        assert_eq!(lines, want, "at {t}");
    }
    // keyframes, then ocr and detect on the frames it kept: one pass, ocr.json beside
    // keyframes.json, each result naming its keyframe image.
    let out = d.path("out");
    let dir = run_ops(&clip, "keyframes;[ocr,detect]", &out);
    let result = read_json(&dir.join("result.json"));
    assert_eq!(result["ops"]["ocr"]["status"], "ok", "{result}");
    assert_eq!(result["pass"]["opens"], 1, "one pass over the file");
    let v = read_json(&dir.join("ocr.json"));
    let keyframes = read_json(&dir.join("keyframes.json"));
    let kf = keyframes["keyframes"].as_array().unwrap();
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), kf.len());
    assert_eq!(r.len(), 4, "one keyframe a second");
    for (res, k) in r.iter().zip(kf) {
        let image = res["keyframe"].as_str().unwrap();
        assert_eq!(image, k["path"].as_str().unwrap());
        assert!(dir.join(image).is_file(), "{image}");
        let t = res["time"].as_f64().unwrap();
        assert!((t - k["time"].as_f64().unwrap()).abs() < 1e-6);
        let want: &[&str] = if t < 2.0 {
            &SLIDE
        } else {
            &["C", "GOOD DOG 42"]
        };
        assert_eq!(texts(res), want, "at {t}");
    }
}

/// `"scenes;[ocr,detect]"`: the middle frame of each scene goes to OCR and detection (one
/// decode); the slide and the captioned photo are two scenes cut at 2 s (frames 0-49 and
/// 50-99 at 25 fps: middles 24 and 74, 0.96 s and 2.96 s).
#[test]
fn scenes_hand_their_middle_frames_to_ocr() {
    let d = TempDir::new("ocr-scenes");
    let clip = slides(&d);
    let out = d.path("out");
    let dir = run_ops(&clip, "scenes;[ocr,detect]", &out);
    let scenes = read_json(&dir.join("scenes.json"));
    let starts: Vec<f64> = scenes["scenes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_f64().unwrap())
        .collect();
    assert_eq!(starts, [0.0, 2.0], "{scenes}");
    let got = lines_at(&read_json(&dir.join("ocr.json")));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, 0.96);
    assert_eq!(got[0].1, SLIDE);
    assert_eq!(got[1].0, 2.96);
    assert!(got[1].1.iter().any(|l| l == "GOOD DOG 42"), "{got:?}");
    let detections = read_json(&dir.join("detect.json"));
    let times: Vec<f64> = detections["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["time"].as_f64().unwrap())
        .collect();
    assert_eq!(times, [0.96, 2.96]);
    let result = read_json(&dir.join("result.json"));
    assert_eq!(result["pass"]["opens"], 1);
    // "scenes;keyframes;[ocr]": one image per scene, and OCR on those images' frames.
    let out = d.path("out2");
    let dir = run_ops(&clip, "scenes;keyframes;ocr", &out);
    let kf = read_json(&dir.join("keyframes.json"));
    let kf = kf["keyframes"].as_array().unwrap();
    let times: Vec<f64> = kf.iter().map(|k| k["time"].as_f64().unwrap()).collect();
    assert_eq!(times, [0.96, 2.96]);
    // The same frames as `vx keyframes --per-scene` (the same two operations).
    let ps = d.path("ps");
    let o = run_vx(&["-q", "keyframes", s(&clip), "--per-scene", "-o", s(&ps)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let alone = read_json(&ps.join("keyframes.json"));
    let alone: Vec<f64> = alone["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["time"].as_f64().unwrap())
        .collect();
    assert_eq!(alone, times);
    let ocr = read_json(&dir.join("ocr.json"));
    for (r, k) in ocr["results"].as_array().unwrap().iter().zip(kf) {
        assert_eq!(r["keyframe"], k["path"]);
        assert!(dir.join(k["path"].as_str().unwrap()).is_file());
    }
    assert_eq!(texts(&ocr["results"][0]), SLIDE);
}

#[test]
fn missing_or_wrong_models_are_one_line_errors() {
    let d = TempDir::new("ocr-models");
    // The detector alone: no recogniser beside it.
    let alone = d.path("det.onnx");
    std::fs::copy(need("models/ch_PP-OCRv4_det_infer.onnx"), &alone).unwrap();
    let img = need("media/ocr_plain.png");
    let o = run_vx(&["ocr", s(&img), "-m", s(&alone)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("recogniser") && err.lines().count() == 1,
        "{err}"
    );
    assert!(o.stdout.is_empty());
    // With --rec-model it runs, without the classifier (a warning says so).
    let o = run_vx(&[
        "ocr",
        s(&img),
        "-m",
        s(&alone),
        "--rec-model",
        s(&need("models/ch_PP-OCRv4_rec_infer.onnx")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no direction classifier"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(texts(&v["results"][0]), ["vx keyframes", "2026"]);
    assert!(v["model"]["cls"].is_null());
    // An audio file: no picture to read, exit status 3 (not damage), no JSON.
    let o = run_vx(&["ocr", s(&need("media/jfk.wav")), "-m", &det()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    // A model of another kind as the detector: refused by its signature.
    let o = run_vx(&["ocr", s(&img), "-m", s(&need("models/silero_vad.onnx"))]);
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        err.contains("signature") && err.lines().count() == 1,
        "{err}"
    );
}
