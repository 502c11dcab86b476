//! `vx keyframes` against the real FFmpeg: keyframe sets and timestamps equal ffprobe's, and
//! every image matches the ffmpeg CLI's decode of the same frame.
mod common;
use common::*;
use std::path::Path;

const SRC: &str = "testsrc2=size=320x240:rate=25";

/// Run `vx keyframes` on `clip` and check it against ffprobe and the ffmpeg CLI.
/// Returns the parsed keyframes.json.
fn check(dir: &TempDir, clip: &Path, min_psnr: f64) -> serde_json::Value {
    let out = dir.path("kf");
    let o = run_vx(&[
        "keyframes",
        "-q",
        clip.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "vx failed: {}", stderr(&o));
    let json = read_json(&out.join("keyframes.json"));
    assert_eq!(json["complete"], true, "{json}");
    let kfs = json["keyframes"].as_array().unwrap();

    // Same frames, same timestamps as the decoder's key flags in a full decode.
    let got: Vec<i64> = kfs.iter().map(|k| k["pts"].as_i64().unwrap()).collect();
    let want = ffprobe_key_pts(clip);
    assert!(!want.is_empty());
    assert_eq!(got, want, "keyframe pts differ from ffprobe's key frames");
    // Times are on the file's timeline: pts x time base minus the container's start time.
    let (n, d) = ffprobe_time_base(clip);
    let start = ffprobe_start_time(clip);
    for k in kfs {
        let t = k["pts"].as_i64().unwrap() as f64 * n as f64 / d as f64 - start;
        assert!((k["time"].as_f64().unwrap() - t).abs() < 1e-9);
        assert_eq!(k["phash"].as_str().unwrap().len(), 16);
    }

    // Pixels: each image against the ffmpeg CLI's decode of the same key frame.
    let reference = reference_key_frames(clip);
    let (w, h) = (
        kfs[0]["width"].as_u64().unwrap() as usize,
        kfs[0]["height"].as_u64().unwrap() as usize,
    );
    let frame_len = w * h * 3;
    assert_eq!(
        reference.len(),
        frame_len * kfs.len(),
        "reference has a different frame count or size"
    );
    for (i, k) in kfs.iter().enumerate() {
        let img = out.join(k["path"].as_str().unwrap());
        let rgb = decode_rgb(&img);
        let p = psnr(&rgb, &reference[i * frame_len..(i + 1) * frame_len]);
        assert!(
            p >= min_psnr,
            "{}: PSNR {p:.1} dB < {min_psnr}",
            img.display()
        );
    }
    json
}

fn gen(dir: &TempDir, name: &str, args: &[&str]) -> std::path::PathBuf {
    let p = dir.path(name);
    let mut a: Vec<&str> = args.to_vec();
    a.push(p.to_str().unwrap());
    ffmpeg(&a);
    p
}

#[test]
fn h264_closed_gop_matches_skip_frame_nokey() {
    let d = TempDir::new("h264");
    let clip = gen(
        &d,
        "a.mp4",
        &[
            "-f", "lavfi", "-i", SRC, "-t", "4", "-c:v", "libx264", "-g", "25", "-pix_fmt",
            "yuv420p",
        ],
    );
    let j = check(&d, &clip, 30.0);
    let got: Vec<i64> = j["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["pts"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ffprobe_nokey_pts(&clip));
    assert_eq!(got.len(), 4);
    assert_eq!(j["video"]["codec"], "h264");
}

#[test]
fn h264_open_gop() {
    // Open GOP: key frames after the first are I pictures with a recovery point, not IDR.
    let d = TempDir::new("h264open");
    let clip = gen(
        &d,
        "a.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-x264-params",
            "open-gop=1:keyint=25",
            "-bf",
            "3",
        ],
    );
    let j = check(&d, &clip, 30.0);
    assert_eq!(j["keyframes"].as_array().unwrap().len(), 4);
}

#[test]
fn hevc() {
    let d = TempDir::new("hevc");
    let clip = gen(
        &d,
        "a.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-t",
            "3",
            "-c:v",
            "libx265",
            "-x265-params",
            "keyint=25:log-level=error",
        ],
    );
    check(&d, &clip, 30.0);
}

#[test]
fn vp9_odd_size() {
    let d = TempDir::new("vp9");
    let clip = gen(
        &d,
        "a.webm",
        &[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-vf",
            "scale=321:241",
            "-t",
            "3",
            "-c:v",
            "libvpx-vp9",
            "-g",
            "25",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
        ],
    );
    let j = check(&d, &clip, 30.0);
    assert_eq!(j["keyframes"].as_array().unwrap().len(), 3);
    assert_eq!(j["keyframes"][0]["width"], 321);
}

#[test]
fn av1() {
    let d = TempDir::new("av1");
    let clip = gen(
        &d,
        "a.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=25",
            "-t",
            "2",
            "-c:v",
            "libaom-av1",
            "-g",
            "20",
            "-cpu-used",
            "8",
            "-row-mt",
            "1",
        ],
    );
    let j = check(&d, &clip, 30.0);
    assert_eq!(j["keyframes"].as_array().unwrap().len(), 3);
}

#[test]
fn mpeg2_transport_stream() {
    let d = TempDir::new("ts");
    let clip = gen(
        &d,
        "a.ts",
        &[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-t",
            "3",
            "-c:v",
            "mpeg2video",
            "-g",
            "12",
            "-b:v",
            "2M",
        ],
    );
    let j = check(&d, &clip, 30.0);
    // TS timestamps start at 1.4 s; times are on the file's timeline, which starts at 0
    // (they used to be raw pts x time base: docs/OUTPUTS.md, "One timeline").
    assert!(j["keyframes"][0]["pts"].as_i64().unwrap() > 90_000);
    assert!(j["keyframes"][0]["time"].as_f64().unwrap() < 0.2);
}

#[test]
fn prores_422_10bit() {
    let d = TempDir::new("prores");
    let clip = gen(
        &d,
        "a.mov",
        &[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-t",
            "0.5",
            "-c:v",
            "prores_ks",
            "-profile:v",
            "2",
            "-pix_fmt",
            "yuv422p10le",
        ],
    );
    let j = check(&d, &clip, 30.0);
    assert_eq!(j["keyframes"].as_array().unwrap().len(), 13); // intra-only: every frame
    assert_eq!(j["video"]["pix_fmt"], "yuv422p10le");
}

#[test]
fn mjpeg_full_range_422() {
    let d = TempDir::new("mjpeg");
    let clip = gen(
        &d,
        "a.avi",
        &[
            "-f", "lavfi", "-i", SRC, "-t", "0.4", "-c:v", "mjpeg", "-pix_fmt", "yuvj422p",
        ],
    );
    let j = check(&d, &clip, 30.0);
    assert_eq!(j["keyframes"].as_array().unwrap().len(), 10);
}

#[test]
fn h264_444_odd_size() {
    let d = TempDir::new("h264-444");
    let clip = gen(
        &d,
        "a.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-vf",
            "scale=319:239",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-pix_fmt",
            "yuv444p",
        ],
    );
    let j = check(&d, &clip, 30.0);
    assert_eq!(
        (
            j["keyframes"][0]["width"].as_u64(),
            j["keyframes"][0]["height"].as_u64()
        ),
        (Some(319), Some(239))
    );
}

fn rotated(angle: &str, expect: i64) {
    let d = TempDir::new(&format!("rot{angle}"));
    let plain = gen(
        &d,
        "plain.mp4",
        &[
            "-f", "lavfi", "-i", SRC, "-t", "2", "-c:v", "libx264", "-g", "25",
        ],
    );
    let clip = d.path("rot.mp4");
    ffmpeg(&[
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        &format!("rotate={angle}"),
        clip.to_str().unwrap(),
    ]);
    let j = check(&d, &clip, 30.0);
    assert_eq!(j["video"]["rotation"], expect);
    let k = &j["keyframes"][0];
    if expect % 180 == 90 {
        assert_eq!(
            (k["width"].as_u64(), k["height"].as_u64()),
            (Some(240), Some(320))
        );
    } else {
        assert_eq!(
            (k["width"].as_u64(), k["height"].as_u64()),
            (Some(320), Some(240))
        );
    }
}

#[test]
fn rotated_90() {
    rotated("90", 270);
}

#[test]
fn rotated_270() {
    rotated("270", 90);
}

#[test]
fn rotated_180() {
    rotated("180", 180);
}

#[test]
fn variable_frame_rate() {
    let d = TempDir::new("vfr");
    let clip = gen(
        &d,
        "a.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-t",
            "4",
            "-vf",
            "setpts='if(lt(N,50),N/(25*TB),2/TB+(N-50)/(7*TB))'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-g",
            "20",
        ],
    );
    let j = check(&d, &clip, 30.0);
    // Key frames every 20 frames: 0.8 s apart at 25 fps; frame 60 is at 2 + 10/7 s (the
    // encoder's 1/25 time base rounds it to 3.40).
    let t: Vec<f64> = j["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["time"].as_f64().unwrap())
        .collect();
    assert!((t[1] - 0.8).abs() < 0.002, "{t:?}");
    assert_eq!(t.len(), 4, "{t:?}");
    assert!(t[3] - t[2] > 1.7, "{t:?}");
}

#[test]
fn single_frame() {
    let d = TempDir::new("one");
    let clip = gen(
        &d,
        "a.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-frames:v",
            "1",
            "-c:v",
            "libx264",
        ],
    );
    let j = check(&d, &clip, 30.0);
    assert_eq!(j["keyframes"].as_array().unwrap().len(), 1);
}

#[test]
fn uhd_4k() {
    let d = TempDir::new("4k");
    let clip = gen(
        &d,
        "a.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=3840x2160:rate=25",
            "-t",
            "0.2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "3",
        ],
    );
    let j = check(&d, &clip, 30.0);
    assert_eq!(j["keyframes"][0]["width"], 3840);
    assert_eq!(j["keyframes"].as_array().unwrap().len(), 2);
}

#[test]
fn memory_does_not_grow_with_input_size() {
    // Regression: packets were never released (av_read_frame into a reused AVPacket), so
    // memory grew with the file. 60 MB of raw video must not show up in the peak RSS.
    let d = TempDir::new("mem");
    let clip = gen(
        &d,
        "raw.avi",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-frames:v",
            "520",
            "-c:v",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    assert!(std::fs::metadata(&clip).unwrap().len() > 55_000_000);
    let base = peak_rss_kib(&["probe", clip.to_str().unwrap()]);
    let out = d.path("o");
    let run = peak_rss_kib(&[
        "keyframes",
        "-q",
        clip.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--min-interval",
        "1000",
    ]);
    let j = read_json(&out.join("keyframes.json"));
    assert_eq!(j["stats"]["decoded"], 520);
    assert_eq!(j["stats"]["written"], 1);
    assert!(
        run < base + 25_000,
        "peak RSS {run} KiB vs {base} KiB for probe"
    );
}

/// Regression: frames tagged BT.709 (most HD video) were written with the BT.601 equations,
/// saturated colours off by up to 40 levels (24.5 dB against the ffmpeg CLI on this clip).
/// Like the CLI, vx follows the tag: JPEG and PNG come out in BT.601, as their readers expect.
#[test]
fn bt709_video_keeps_its_colours() {
    let d = TempDir::new("bt709");
    for (name, tags) in [
        (
            "h264-709.mp4",
            &["-c:v", "libx264", "-colorspace", "bt709"][..],
        ),
        (
            "dnxhr.mov",
            &[
                "-c:v",
                "dnxhd",
                "-profile:v",
                "dnxhr_lb",
                "-pix_fmt",
                "yuv422p",
            ][..],
        ),
        (
            "h264-2020.mkv",
            &["-c:v", "libx264", "-colorspace", "bt2020nc"][..],
        ),
    ] {
        let mut a = vec!["-f", "lavfi", "-i", SRC, "-t", "1", "-g", "10"];
        a.extend(tags);
        let clip = gen(&d, name, &a);
        let out = d.path(&format!("{name}.kf"));
        let o = run_vx(&[
            "keyframes",
            "-q",
            s(&clip),
            "-o",
            s(&out),
            "--format",
            "png",
        ]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let reference = reference_key_frames(&clip);
        let rgb = decode_rgb(&out.join("kf-000000.png"));
        let p = psnr(&rgb, &reference[..rgb.len()]);
        assert!(p >= 40.0, "{name}: PSNR {p:.1} dB against the ffmpeg CLI");
        // JPEG too (its YCbCr is BT.601 by definition).
        let out = d.path(&format!("{name}.jpg.kf"));
        let o = run_vx(&["keyframes", "-q", s(&clip), "-o", s(&out)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let rgb = decode_rgb(&out.join("kf-000000.jpg"));
        let p = psnr(&rgb, &reference[..rgb.len()]);
        assert!(
            p >= 30.0,
            "{name} (JPEG): PSNR {p:.1} dB against the ffmpeg CLI"
        );
    }
}
