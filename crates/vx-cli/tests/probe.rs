//! `vx probe` against ffprobe on generated files.
mod common;
use common::*;

#[test]
fn probe_matches_ffprobe() {
    let d = TempDir::new("probe");
    let f = d.path("av.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30000/1001",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-c:a",
        "libopus",
        "-ac",
        "2",
        "-metadata:s:a:0",
        "language=fra",
        f.to_str().unwrap(),
    ]);
    let o = run_vx(&["probe", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = ffprobe_json(&["-show_format", "-show_streams", f.to_str().unwrap()]);

    assert_eq!(v["container"], r["format"]["format_name"]);
    let dur: f64 = r["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((v["duration"].as_f64().unwrap() - dur).abs() < 1e-3);
    let streams = v["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2);
    let (sv, rv) = (&streams[0], &r["streams"][0]);
    assert_eq!(sv["type"], "video");
    assert_eq!(sv["codec"], rv["codec_name"]);
    assert_eq!(sv["profile"], rv["profile"]);
    assert_eq!(sv["width"], rv["width"]);
    assert_eq!(sv["height"], rv["height"]);
    assert_eq!(sv["pix_fmt"], rv["pix_fmt"]);
    assert_eq!(sv["frame_rate_fraction"], rv["avg_frame_rate"]);
    assert!((sv["frame_rate"].as_f64().unwrap() - 29.97).abs() < 0.01);
    let (sa, ra) = (&streams[1], &r["streams"][1]);
    assert_eq!(sa["type"], "audio");
    assert_eq!(sa["codec"], "opus");
    assert_eq!(
        sa["sample_rate"].as_u64().unwrap().to_string(),
        ra["sample_rate"].as_str().unwrap()
    );
    assert_eq!(sa["channels"], ra["channels"]);
    assert_eq!(sa["language"], "fra");
}

#[test]
fn probe_reports_rotation_and_several_files_as_jsonl() {
    let d = TempDir::new("probe-rot");
    let plain = d.path("a.mp4");
    let rot = d.path("r.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-t",
        "1",
        "-c:v",
        "libx264",
        plain.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        rot.to_str().unwrap(),
    ]);
    let o = run_vx(&["probe", plain.to_str().unwrap(), rot.to_str().unwrap()]);
    assert!(o.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["streams"][0]["rotation"], 0);
    assert_eq!(lines[1]["streams"][0]["rotation"], 270);
    assert_eq!(lines[1]["streams"][0]["nb_frames"], 25);

    // One bad file among good ones: the good ones are still printed, exit 1.
    let bad = d.path("bad.mp4");
    std::fs::write(&bad, b"not a video").unwrap();
    let o = run_vx(&["probe", plain.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    assert!(stderr(&o).contains("bad.mp4"));
}
