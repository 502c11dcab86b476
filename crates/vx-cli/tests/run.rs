//! `vx run`: several operations in one pass over each file, result.json, the --ops language,
//! and the one timeline shared by every operation and every command.
mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn models() -> PathBuf {
    need("models/silero_vad.onnx")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `vx run` with the shared models as the model directory.
fn vx_run(args: &[&str]) -> std::process::Output {
    let o = vx()
        .arg("run")
        .args(args)
        .env("VX_MODEL_DIR", models())
        .output()
        .unwrap();
    o
}

/// The one output folder of `input` inside `out`.
fn result_dir(out: &Path, input: &str) -> PathBuf {
    let name = Path::new(input)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&format!("{name}-"))
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn packet_count(file: &Path, stream: &str) -> u64 {
    let v = ffprobe_json(&[
        "-count_packets",
        "-select_streams",
        stream,
        "-show_entries",
        "stream=nb_read_packets",
        file.to_str().unwrap(),
    ]);
    v["streams"][0]["nb_read_packets"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Key frame times on the timeline, from ffprobe: pts_time minus the container's start.
fn ffprobe_key_times(file: &Path) -> Vec<f64> {
    let v = ffprobe_json(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=key_frame,best_effort_timestamp_time:format=start_time",
        file.to_str().unwrap(),
    ]);
    let start: f64 = v["format"]["start_time"].as_str().unwrap().parse().unwrap();
    v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["key_frame"].as_i64() == Some(1))
        .map(|f| {
            f["best_effort_timestamp_time"]
                .as_str()
                .unwrap()
                .parse::<f64>()
                .unwrap()
                - start
        })
        .collect()
}

#[test]
fn every_operation_in_one_demux_pass() {
    let _g = whisper_lock();
    let d = TempDir::new("run-one-pass");
    let mp4 = speech_in_mp4(&d, "media/jfk.wav", "speech");
    let out = d.path("out");
    let o = vx_run(&[
        mp4.to_str().unwrap(),
        "--ops",
        "probe;keyframes;[detect,faces];transcribe;embed-audio",
        "-o",
        out.to_str().unwrap(),
        "--threads",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = result_dir(&out, "speech.mp4");
    let r = read_json(&dir.join("result.json"));
    assert_eq!(r["status"], "ok", "{r}");
    for op in [
        "probe",
        "keyframes",
        "detect",
        "faces",
        "transcribe",
        "embed-audio",
    ] {
        assert_eq!(r["ops"][op]["status"], "ok", "{op}: {r}");
    }
    // One open, and every packet of both streams read exactly once.
    assert_eq!(r["pass"]["opens"], 1);
    let packets = packet_count(&mp4, "v:0") + packet_count(&mp4, "a:0");
    assert_eq!(r["pass"]["packets"].as_u64().unwrap(), packets, "{r}");
    // Keyframes: ffprobe's set; detect and faces saw exactly those frames (same images).
    let kf = read_json(&dir.join("keyframes.json"));
    let times: Vec<f64> = kf["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["time"].as_f64().unwrap())
        .collect();
    let expected = ffprobe_key_times(&mp4);
    assert_eq!(times.len(), expected.len());
    for (a, b) in times.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-6, "{times:?} vs {expected:?}");
    }
    for op in ["detect", "faces"] {
        let det = read_json(&dir.join(format!("{op}.json")));
        let seen: Vec<&str> = det["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["keyframe"].as_str().unwrap())
            .collect();
        let written: Vec<&str> = kf["keyframes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["path"].as_str().unwrap())
            .collect();
        assert_eq!(seen, written, "{op}");
    }
    let t = read_json(&dir.join("transcribe.json"));
    let text = t["text"].as_str().unwrap().to_lowercase();
    assert!(
        text.contains("ask not what your country can do for you"),
        "{text}"
    );
    assert!(
        read_json(&dir.join("embed-audio.json"))["windows"]
            .as_array()
            .unwrap()
            .len()
            >= 8
    );
    // Outputs in result.json are the files that exist.
    for op in ["keyframes", "transcribe"] {
        for f in r["ops"][op]["outputs"].as_array().unwrap() {
            assert!(dir.join(f.as_str().unwrap()).is_file(), "{f}");
        }
    }
}

/// whisper runs one at a time in this file (ggml's threads spin).
fn whisper_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `vx keyframes FILE -o DIR`: the keyframes' times.
fn keyframe_times(file: &Path, dir: &Path) -> Vec<f64> {
    let o = vx()
        .args([
            "keyframes",
            file.to_str().unwrap(),
            "-o",
            dir.to_str().unwrap(),
            "-q",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let kf = read_json(&dir.join("keyframes.json"));
    kf["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["time"].as_f64().unwrap())
        .collect()
}

/// First speech time (VAD) minus first frame time, in one file, with the single commands.
fn speech_after_first_frame(file: &Path, d: &TempDir, tag: &str) -> (f64, f64) {
    let first_frame = keyframe_times(file, &d.path(&format!("kf-{tag}")))[0];
    let o = vx()
        .args([
            "vad",
            file.to_str().unwrap(),
            "--model",
            need("models/silero_vad.onnx").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    (first_frame, v["speech"][0]["start"].as_f64().unwrap())
}

#[test]
fn one_timeline_for_an_mpeg_ts_that_starts_at_1_4_s() {
    let d = TempDir::new("run-ts");
    let mp4 = speech_in_mp4(&d, "media/jfk.wav", "speech");
    let ts = d.path("speech.ts");
    ffmpeg(&[
        "-i",
        mp4.to_str().unwrap(),
        "-c",
        "copy",
        ts.to_str().unwrap(),
    ]);
    // Keyframe times are ffprobe's minus the container start (1.4 s here), not raw.
    let times = keyframe_times(&ts, &d.path("kf"));
    let expected = ffprobe_key_times(&ts);
    assert!(!times.is_empty() && times[0] < 0.2, "{times:?}");
    for (a, b) in times.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-6, "{times:?} vs {expected:?}");
    }
    // Words and frames of the same moment agree: speech starts as long after the first frame
    // in the TS as in the MP4 it was copied from.
    let (f_mp4, s_mp4) = speech_after_first_frame(&mp4, &d, "mp4");
    let (f_ts, s_ts) = speech_after_first_frame(&ts, &d, "ts");
    assert!(
        ((s_ts - f_ts) - (s_mp4 - f_mp4)).abs() < 0.1,
        "mp4 {f_mp4} {s_mp4}, ts {f_ts} {s_ts}"
    );
    // vx run gives the same times as the single commands.
    let out = d.path("out");
    let o = vx_run(&[
        ts.to_str().unwrap(),
        "--ops",
        "keyframes;vad;embed-audio",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = result_dir(&out, "speech.ts");
    let k2 = read_json(&dir.join("keyframes.json"));
    assert_eq!(k2["keyframes"][0]["time"].as_f64().unwrap(), f_ts);
    let v2 = read_json(&dir.join("vad.json"));
    assert!((v2["speech"][0]["start"].as_f64().unwrap() - s_ts).abs() < 1e-9);
    let e2 = read_json(&dir.join("embed-audio.json"));
    assert!(e2["windows"][0]["start"].as_f64().unwrap().abs() < 0.1);
}

#[test]
fn audio_that_starts_after_the_video_keeps_its_offset() {
    let d = TempDir::new("run-itsoffset");
    let late = d.path("late.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25:d=11",
        "-itsoffset",
        "0.5",
        "-i",
        need("media/jfk.wav").to_str().unwrap(),
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        late.to_str().unwrap(),
    ]);
    let mp4 = speech_in_mp4(&d, "media/jfk.wav", "speech");
    let (f0, s0) = speech_after_first_frame(&mp4, &d, "a");
    let (f1, s1) = speech_after_first_frame(&late, &d, "b");
    assert!(f0.abs() < 1e-6 && f1.abs() < 1e-6, "{f0} {f1}");
    assert!(((s1 - s0) - 0.5).abs() < 0.1, "speech at {s0} and {s1}");
}

#[test]
fn an_edit_list_is_honoured() {
    let d = TempDir::new("run-edit");
    let src = d.path("src.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25:d=6",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-bf",
        "2",
        src.to_str().unwrap(),
    ]);
    // A copy cut at 1.3 s: MP4 keeps the frames from the previous keyframe and an edit list.
    let cut = d.path("cut.mp4");
    ffmpeg(&[
        "-ss",
        "1.3",
        "-i",
        src.to_str().unwrap(),
        "-c",
        "copy",
        cut.to_str().unwrap(),
    ]);
    let times = keyframe_times(&cut, &d.path("kf"));
    let expected = ffprobe_key_times(&cut);
    assert_eq!(times.len(), expected.len(), "{times:?} vs {expected:?}");
    for (a, b) in times.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-6, "{times:?} vs {expected:?}");
    }
}

#[test]
fn spec_errors_point_at_the_position_and_exit_2() {
    let d = TempDir::new("run-spec");
    let out = d.path("out");
    for (spec, what) in [
        (
            "keyframes;[detect,facez]",
            "unknown operation 'facez' (known: probe, keyframes",
        ),
        ("keyframes;[detect,faces", "unbalanced '['"),
        ("keyframes;;vad", "expected an operation name"),
        ("vad;vad", "appears twice"),
    ] {
        let o = vx_run(&["x.mp4", "--ops", spec, "-o", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{spec}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(what) && e.contains("at position"), "{spec}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    let o = vx_run(&[
        "x.mp4",
        "--ops",
        "vad",
        "-o",
        out.to_str().unwrap(),
        "--model",
        "detect=x.onnx",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn skipped_partial_and_failed_inputs_each_get_their_record() {
    let d = TempDir::new("run-status");
    // Audio only: keyframes is skipped (not an error), vad runs.
    let m4a = d.path("tone.m4a");
    ffmpeg(&["-f", "lavfi", "-i", "sine=d=2", m4a.to_str().unwrap()]);
    // Video whose codec no decoder knows, with good audio: keyframes fails, vad runs.
    let avi = d.path("a.avi");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25:d=1",
        "-f",
        "lavfi",
        "-i",
        "sine=d=1",
        "-c:v",
        "mjpeg",
        "-c:a",
        "pcm_s16le",
        avi.to_str().unwrap(),
    ]);
    let mut bytes = std::fs::read(&avi).unwrap();
    for i in 0..bytes.len().saturating_sub(4) {
        if &bytes[i..i + 4] == b"MJPG" {
            bytes[i..i + 4].copy_from_slice(b"VXZZ");
        }
    }
    let unk = d.path("unknown.avi");
    std::fs::write(&unk, &bytes).unwrap();
    let junk = d.path("junk.mp4");
    std::fs::write(&junk, b"not a media file at all, just text").unwrap();
    // Two inputs with the same name in different folders get different directories.
    std::fs::create_dir_all(d.path("b")).unwrap();
    let m4a2 = d.path("b/tone.m4a");
    std::fs::copy(&m4a, &m4a2).unwrap();
    let out = d.path("out");
    let o = vx_run(&[
        m4a.to_str().unwrap(),
        unk.to_str().unwrap(),
        junk.to_str().unwrap(),
        m4a2.to_str().unwrap(),
        "--ops",
        "keyframes;vad",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let dirs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(dirs.len(), 4);
    // And one line per input in results.jsonl.
    let log = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 4, "{log}");
    let tone = read_json(&result_dir(&out, "unknown.avi").join("result.json"));
    assert_eq!(tone["status"], "partial", "{tone}");
    assert_eq!(tone["ops"]["keyframes"]["status"], "error");
    assert!(
        tone["ops"]["keyframes"]["reason"]
            .as_str()
            .unwrap()
            .contains("unsupported codec"),
        "{tone}"
    );
    assert_eq!(tone["ops"]["vad"]["status"], "ok");
    let junk_r = read_json(&result_dir(&out, "junk.mp4").join("result.json"));
    assert_eq!(junk_r["status"], "error");
    assert!(
        junk_r["reason"]
            .as_str()
            .unwrap()
            .contains("not a media file"),
        "{junk_r}"
    );
    for entry in std::fs::read_dir(&out).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("tone.m4a-")
        {
            let r = read_json(&p.join("result.json"));
            assert_eq!(r["status"], "ok", "{r}");
            assert_eq!(r["ops"]["keyframes"]["status"], "skipped");
            assert_eq!(r["ops"]["keyframes"]["reason"], "no video stream");
            assert!(!p.join("keyframes.json").exists());
            assert!(p.join("vad.json").is_file());
        }
    }
}

#[test]
fn debug_writes_a_trace_and_the_model_inputs() {
    let d = TempDir::new("run-debug");
    let clip = d.path("c.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:d=4",
        "-c:v",
        "libx264",
        "-g",
        "25",
        clip.to_str().unwrap(),
    ]);
    let out = d.path("out");
    let o = vx_run(&[
        clip.to_str().unwrap(),
        "--ops",
        "keyframes;detect",
        "-o",
        out.to_str().unwrap(),
        "--debug",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = result_dir(&out, "c.mp4");
    let trace = read_json(&dir.join("trace.json"));
    let events = trace["traceEvents"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "X" && e["name"] == "detect video"),
        "{trace}"
    );
    assert!(events.iter().any(|e| e["ph"] == "C"));
    let r = read_json(&dir.join("result.json"));
    assert!(
        r["debug"]["ops"]["detect"]["busy_ms"].as_f64().unwrap() > 0.0,
        "{r}"
    );
    // The SSD's input pictures, at its 600x600 input size: one per keyframe.
    let pics: Vec<_> = std::fs::read_dir(dir.join("debug")).unwrap().collect();
    assert_eq!(pics.len(), 4);
}

/// Regression: the pictures handed to the models from a BT.709 video were converted with the
/// BT.601 matrix (swscale's default). Compared with the ffmpeg CLI's scaling of the same frame
/// (it follows the tag), at the SSD's 600x600 input.
#[test]
fn model_inputs_follow_the_colour_matrix() {
    let d = TempDir::new("run-709");
    let clip = d.path("c.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25:d=1",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-colorspace",
        "bt709",
        clip.to_str().unwrap(),
    ]);
    let out = d.path("out");
    let o = vx_run(&[
        clip.to_str().unwrap(),
        "--ops",
        "keyframes;detect",
        "-o",
        out.to_str().unwrap(),
        "--debug",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = result_dir(&out, "c.mp4").join("debug");
    let pic = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let ours = decode_rgb(&pic);
    let theirs = ffmpeg_stdout(&[
        "-i",
        clip.to_str().unwrap(),
        "-frames:v",
        "1",
        "-vf",
        "scale=600:600:flags=bicubic+accurate_rnd+full_chroma_int",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]);
    let p = psnr(&ours, &theirs);
    assert!(p >= 30.0, "{}: PSNR {p:.1} dB", pic.display());
}

/// `subtitles` is an operation of `vx run` (issue #12 item 12): its cues come out of the same
/// demux pass as the keyframes (every packet of both streams read once), on the file's
/// timeline (a container starting at 3 s: the cues keep the times the SRT gave), are indexed
/// as speech (found by `vx search`), and a file without subtitles has the operation skipped.
#[test]
fn subtitles_in_the_one_pass_and_the_index() {
    let d = TempDir::new("run-subtitles");
    let srt = d.path("s.srt");
    std::fs::write(
        &srt,
        "1\n00:00:00,500 --> 00:00:01,500\nThe zebra crossing is closed\n\n2\n00:00:02,000 --> 00:00:03,250\nPlease use the <b>bridge</b>\n\n",
    )
    .unwrap();
    let mkv = d.path("subbed.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
        "-i",
        s(&srt),
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-g",
        "10",
        "-c:s",
        "srt",
        "-output_ts_offset",
        "3",
        s(&mkv),
    ]);
    let plain = d.path("plain.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
        "-t",
        "1",
        "-c:v",
        "libx264",
        s(&plain),
    ]);
    let out = d.path("out");
    let o = vx_run(&[
        "-q",
        s(&mkv),
        s(&plain),
        "--ops",
        "keyframes;subtitles",
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = result_dir(&out, "subbed.mkv");
    let r = read_json(&dir.join("result.json"));
    assert_eq!(r["ops"]["subtitles"]["status"], "ok", "{r}");
    let packets = packet_count(&mkv, "v:0") + packet_count(&mkv, "s:0");
    assert_eq!(r["pass"]["opens"], 1);
    assert_eq!(r["pass"]["packets"].as_u64().unwrap(), packets, "{r}");
    let subs = read_json(&dir.join("subtitles.json"));
    assert_eq!(subs["codec"], "subrip");
    let cues: Vec<(f64, f64, &str)> = subs["cues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["start"].as_f64().unwrap(),
                c["end"].as_f64().unwrap(),
                c["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cues,
        [
            (0.5, 1.5, "The zebra crossing is closed"),
            (2.0, 3.25, "Please use the bridge")
        ]
    );
    // Keyframes on the same timeline: the first frame at 0, one a second.
    let kf: Vec<f64> = read_json(&dir.join("keyframes.json"))["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["time"].as_f64().unwrap())
        .collect();
    assert_eq!(kf.len(), 4, "{kf:?}");
    assert!(kf[0].abs() < 1e-6, "{kf:?}");
    // No subtitle stream: skipped, the file is still ok.
    let r = read_json(&result_dir(&out, "plain.mp4").join("result.json"));
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["ops"]["subtitles"]["status"], "skipped", "{r}");
    assert_eq!(r["ops"]["subtitles"]["reason"], "no subtitle stream", "{r}");
    // Indexed as speech, with its time.
    let o = vx()
        .args(["search", s(&out), "zebra crossing", "--json", "-k", "1"])
        .env("VX_MODEL_DIR", models())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let hit: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(hit["kind"], "speech", "{hit}");
    assert_eq!(hit["source"], s(&mkv), "{hit}");
    assert_eq!(hit["start"].as_f64(), Some(0.5), "{hit}");
}

/// Options of an operation in `--ops` (`keyframes(every=1,max=2)`,
/// `detect(threshold=0.9,classes=bus)`, `transcribe(words)`): applied, part of the cache key
/// (a run with other options recomputes), and a bad one is a usage error at its position.
#[test]
fn operation_options_in_the_spec() {
    let _g = whisper_lock();
    let d = TempDir::new("run-options");
    // 3 s with a single keyframe: every=1 gives a picture a second, max=2 stops at two.
    let clip = d.path("one-key.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-g",
        "100",
        s(&clip),
    ]);
    let bus = d.path("bus.jpg");
    std::fs::copy(need("media/bus.jpg"), &bus).unwrap();
    let jfk = d.path("jfk.wav");
    std::fs::copy(need("media/jfk.wav"), &jfk).unwrap();
    let out = d.path("out");
    let run = |spec: &str, input: &Path| {
        vx_run(&["-q", s(input), "--ops", spec, "-o", s(&out), "--no-index"])
    };
    let o = run("keyframes(every=1, max=2)", &clip);
    assert!(o.status.success(), "{}", stderr(&o));
    let kf = read_json(&result_dir(&out, "one-key.mp4").join("keyframes.json"));
    let times: Vec<f64> = kf["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["time"].as_f64().unwrap())
        .collect();
    assert_eq!(times, [0.0, 1.0], "{kf}");
    // Other options: not the cached result, a new one; and what takes keyframes' frames
    // (detect) is recomputed with them, though its own options did not change.
    let o = run("keyframes(every=1);detect", &clip);
    assert!(o.status.success(), "{}", stderr(&o));
    let det = |o: &std::path::Path| read_json(&result_dir(o, "one-key.mp4").join("detect.json"));
    assert_eq!(det(&out)["results"].as_array().unwrap().len(), 3);
    let o = run("keyframes(every=1, max=1);detect", &clip);
    assert!(o.status.success(), "{}", stderr(&o));
    let kf = read_json(&result_dir(&out, "one-key.mp4").join("keyframes.json"));
    assert_eq!(kf["keyframes"].as_array().unwrap().len(), 1, "{kf}");
    assert_eq!(det(&out)["results"].as_array().unwrap().len(), 1);
    // The same options written another way are the same result: nothing is recomputed (the
    // files are the same files).
    use std::os::unix::fs::MetadataExt;
    let ino = |f: &str| {
        std::fs::metadata(result_dir(&out, "one-key.mp4").join(f))
            .unwrap()
            .ino()
    };
    let before = (ino("keyframes.json"), ino("detect.json"));
    let o = run("keyframes(max=1,every=1.0);detect", &clip);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!((ino("keyframes.json"), ino("detect.json")), before);

    // detect: the default keeps the people and the bus; these options only the bus, once.
    let o = run("detect", &bus);
    assert!(o.status.success(), "{}", stderr(&o));
    let all = read_json(&result_dir(&out, "bus.jpg").join("detect.json"));
    let labels = |v: &Value| -> Vec<String> {
        v["results"][0]["detections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["label"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(labels(&all).iter().any(|l| l == "person"), "{all}");
    let o = run("detect(threshold=0.6,classes=bus,agnostic-nms)", &bus);
    assert!(o.status.success(), "{}", stderr(&o));
    let only = read_json(&result_dir(&out, "bus.jpg").join("detect.json"));
    assert_eq!(labels(&only), ["bus"], "{only}");
    assert_eq!(only["threshold"].as_f64(), Some(0.6));
    assert_eq!(only["agnostic_nms"], true);

    // transcribe(words): word times in the segments.
    let o = run("transcribe(words,language=en)", &jfk);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = read_json(&result_dir(&out, "jfk.wav").join("transcribe.json"));
    let words = t["segments"][0]["words"].as_array().unwrap();
    assert!(words.len() >= 3, "{t}");

    // The decoding options reach whisper (tests/transcribe_decoding.rs checks what they do):
    // a new result (no words), sampled at 1.0 ("ask, not, what"), not the greedy text.
    let greedy = t["text"].as_str().unwrap().to_string();
    let o = run("transcribe(temperature=1,no-fallback,language=en)", &jfk);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = read_json(&result_dir(&out, "jfk.wav").join("transcribe.json"));
    assert!(t["segments"][0].get("words").is_none(), "{t}");
    let sampled = t["text"].as_str().unwrap();
    assert!(sampled.contains("country") && sampled != greedy, "{t}");

    // Bad options: usage errors (exit 2) naming the option and its position; nothing runs.
    for (spec, needle) in [
        (
            "detect(threshold=2)",
            "detect(threshold=2) at position 7: must be between 0 and 1",
        ),
        ("keyframes(evry=1)", "unknown option 'evry' of keyframes"),
        ("faces(classes=person)", "unknown option 'classes' of faces"),
        ("transcribe(words=yes)", "is a flag"),
        ("detect(classes=unicorn)", "'unicorn' is not a class"),
        ("transcribe(language=fr)", "English-only"),
        ("vad(threshold=1)", "more than 0 and less than 1"),
        (
            "transcribe(temperature=2)",
            "transcribe(temperature=2) at position 11: must be between 0 and 1",
        ),
        ("transcribe(no-fallback=maybe)", "is a flag"),
        ("transcribe(temperature=0.001)", "0, or from 0.01 to 1"),
        (
            "transcribe(temperature=0.5,beam-size=3)",
            "beam search decodes at temperature 0",
        ),
        ("scenes;keyframes(every=1)", "every= does not apply"),
        ("ocr(text-score=0.3)", "'ocr' takes no options"),
    ] {
        let input = if spec.starts_with("transcribe") {
            &jfk
        } else {
            &bus
        };
        let o = run(spec, input);
        assert_eq!(o.status.code(), Some(2), "{spec}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{spec}: {}", stderr(&o));
    }
}
