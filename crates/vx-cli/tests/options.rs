//! `vx keyframes` options: --max, --min-interval, --dedup, --max-side, --format, --quality.
mod common;
use common::*;
use std::path::{Path, PathBuf};

fn clip(d: &TempDir, src: &str, secs: &str, gop: &str) -> PathBuf {
    let p = d.path("a.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        src,
        "-t",
        secs,
        "-c:v",
        "libx264",
        "-g",
        gop,
        "-pix_fmt",
        "yuv420p",
        p.to_str().unwrap(),
    ]);
    p
}

fn keyframes(clip: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "keyframes",
        "-q",
        clip.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run_vx(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    read_json(&out.join("keyframes.json"))
}

fn times(j: &serde_json::Value) -> Vec<f64> {
    j["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["time"].as_f64().unwrap())
        .collect()
}

#[test]
fn max_and_min_interval() {
    let d = TempDir::new("opt-interval");
    let c = clip(&d, "testsrc2=size=160x120:rate=25", "6", "10"); // a keyframe every 0.4 s
    let all = keyframes(&c, &d.path("all"), &[]);
    assert_eq!(times(&all).len(), 15);

    let j = keyframes(&c, &d.path("max"), &["--max", "3"]);
    assert_eq!(times(&j), vec![0.0, 0.4, 0.8]);
    let files = std::fs::read_dir(d.path("max")).unwrap().count();
    assert_eq!(files, 4, "3 images + keyframes.json");

    let j = keyframes(&c, &d.path("int"), &["--min-interval", "1.0"]);
    let t = times(&j);
    assert_eq!(t, vec![0.0, 1.2, 2.4, 3.6, 4.8]);
    assert_eq!(j["stats"]["skipped_interval"], 10);
    // Indexes count every decoded key frame, so they stay those of the full run.
    let idx: Vec<u64> = j["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![0, 3, 6, 9, 12]);
    assert_eq!(j["keyframes"][1]["path"], "kf-000003.jpg");
}

#[test]
fn dedup_drops_static_frames_only() {
    let d = TempDir::new("opt-dedup");
    // 3 s of one still picture, then 3 s of a moving pattern.
    let still = d.path("still.mp4");
    let moving = d.path("moving.mp4");
    let both = d.path("both.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-vf",
        "trim=end_frame=1,loop=loop=74:size=1",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        still.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=size=320x240:rate=25",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        moving.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-i",
        still.to_str().unwrap(),
        "-i",
        moving.to_str().unwrap(),
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        both.to_str().unwrap(),
    ]);
    let plain = keyframes(&both, &d.path("plain"), &[]);
    assert_eq!(times(&plain).len(), 6);
    // The still part gives identical hashes.
    let h: Vec<&str> = plain["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["phash"].as_str().unwrap())
        .collect();
    assert_eq!(h[0], h[1]);
    assert_eq!(h[1], h[2]);
    assert_ne!(h[2], h[3]);

    let j = keyframes(&both, &d.path("dedup"), &["--dedup"]);
    let t = times(&j);
    assert_eq!(t[0], 0.0);
    assert!(t.iter().all(|&x| x == 0.0 || x >= 3.0), "{t:?}");
    assert_eq!(j["stats"]["skipped_duplicate"], 2);
    // Nothing is written for dropped frames.
    assert!(!d.path("dedup").join("kf-000001.jpg").exists());
    // A distance of 64 keeps only the first frame.
    let j = keyframes(&both, &d.path("dedup64"), &["--dedup=64"]);
    assert_eq!(times(&j).len(), 1);
}

#[test]
fn max_side_format_and_quality() {
    let d = TempDir::new("opt-img");
    let c = clip(&d, "testsrc2=size=640x360:rate=25", "2", "25");
    let j = keyframes(&c, &d.path("small"), &["--max-side", "200"]);
    assert_eq!(
        (
            j["keyframes"][0]["width"].as_u64(),
            j["keyframes"][0]["height"].as_u64()
        ),
        (Some(200), Some(113))
    );
    let rgb = decode_rgb(&d.path("small").join("kf-000000.jpg"));
    assert_eq!(rgb.len(), 200 * 113 * 3);
    // The downscaled image still looks like the ffmpeg CLI's downscale of the same frame.
    let reference = ffmpeg_stdout(&[
        "-i",
        c.to_str().unwrap(),
        "-frames:v",
        "1",
        "-vf",
        "scale=200:113:flags=area",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]);
    assert!(psnr(&rgb, &reference) > 25.0);

    let j = keyframes(&c, &d.path("png"), &["--format", "png"]);
    let p = d
        .path("png")
        .join(j["keyframes"][0]["path"].as_str().unwrap());
    assert!(p.to_str().unwrap().ends_with(".png"));
    assert_eq!(&std::fs::read(&p).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let reference = ffmpeg_stdout(&[
        "-i",
        c.to_str().unwrap(),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]);
    let got = decode_rgb(&p);
    assert!(
        psnr(&got, &reference) >= 30.0,
        "png PSNR {}",
        psnr(&got, &reference)
    );

    keyframes(&c, &d.path("q20"), &["--quality", "20"]);
    keyframes(&c, &d.path("q95"), &["--quality", "95"]);
    let size = |dir: &str| {
        std::fs::metadata(d.path(dir).join("kf-000000.jpg"))
            .unwrap()
            .len()
    };
    assert!(
        size("q20") * 2 < size("q95"),
        "{} vs {}",
        size("q20"),
        size("q95")
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["keyframes"],
        vec!["keyframes", "x.mp4"],
        vec!["keyframes", "x.mp4", "-o", "out", "--quality", "0"],
        vec!["keyframes", "x.mp4", "-o", "out", "--dedup=65"],
        vec!["keyframes", "x.mp4", "-o", "out", "--min-interval", "-1"],
        vec!["frobnicate"],
    ] {
        let o = run_vx(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    let o = run_vx(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("keyframes") && help.contains("probe"));
}

/// Options are validated and the reports give the values that applied (issue #10 item 20).
#[test]
fn options_are_validated_and_reports_give_what_applied() {
    let whisper = need("models/whisper-tiny.en.ggml.bin");
    let ssd = need("models/ssd_mobilenet_v2_coco.onnx");
    let jfk = need("media/jfk.wav");
    let dog = need("media/dog.jpg");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // A language whisper does not know, and a non-English language for an English-only model.
    for (lang, needle) in [("klingon", "not a language"), ("fr", "English-only")] {
        let o = run_vx(&[
            "transcribe",
            &s(&jfk),
            "-m",
            &s(&whisper),
            "--language",
            lang,
        ]);
        assert_eq!(o.status.code(), Some(2), "{lang}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{lang}: {}", stderr(&o));
        // One line: whisper.cpp's own log of the unknown code stays silent.
        assert_eq!(stderr(&o).lines().count(), 1, "{lang}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
    // A language name is taken, and the code used is what the transcript reports.
    let o = run_vx(&[
        "-q",
        "transcribe",
        &s(&jfk),
        "-m",
        &s(&whisper),
        "--language",
        "English",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["language"], "en");
    // Thresholds outside 0..1 are refused by detect as they are by vad.
    let o = run_vx(&["detect", &s(&dog), "-m", &s(&ssd), "--threshold", "1.5"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Below the SSD graph's own cut-off (0.3): that applies, the report and a warning say so.
    let o = run_vx(&["detect", &s(&dog), "-m", &s(&ssd), "--threshold", "0.05"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("cut-off"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = v["threshold"].as_f64().unwrap();
    assert!((t - 0.3).abs() < 1e-6, "{t}");
    for d in v["results"][0]["detections"].as_array().unwrap() {
        assert!(d["score"].as_f64().unwrap() > 0.3, "{d}");
    }
}
