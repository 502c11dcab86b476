//! Regressions from the fourth adversarial pass (2026-12-02): each test reproduces a finding
//! with the input that showed it.
mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A short H.264 clip (keyframe every second).
fn clip(p: &Path, secs: &str) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=96x64:rate=10",
        "-t",
        secs,
        "-c:v",
        "libx264",
        "-g",
        "10",
        "-pix_fmt",
        "yuv420p",
        s(p),
    ]);
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Several inputs get one directory each inside `-o DIR`: an input whose stem is `.` or `..`
/// (`..mp4`, `...mp4`) published into DIR itself or its parent, replacing (and deleting the
/// images of) another run's keyframes there.
#[test]
fn inputs_named_dots_stay_inside_the_output_directory() {
    let d = TempDir::new("adv4-dots");
    let src = d.path("src");
    std::fs::create_dir_all(&src).unwrap();
    for name in ["..mp4", "...mp4", "x.mp4"] {
        clip(&src.join(name), "2");
    }
    let par = d.path("par");
    std::fs::create_dir_all(&par).unwrap();
    std::fs::write(par.join("notes.txt"), "user file").unwrap();
    let out = par.join("out");
    let inputs = ["..mp4", "...mp4", "x.mp4"].map(|n| src.join(n));
    let o = run_vx(&[
        "-q",
        "keyframes",
        s(&inputs[0]),
        s(&inputs[1]),
        s(&inputs[2]),
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(&par), ["notes.txt", "out"]);
    let dirs = names(&out);
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    assert!(dirs.contains(&"x".to_string()), "{dirs:?}");
    for dir in dirs.iter().filter(|n| *n != "x") {
        assert!(dir.starts_with("input-") && dir.len() == 14, "{dir}");
        let j = read_json(&out.join(dir).join("keyframes.json"));
        assert_eq!(j["keyframes"].as_array().unwrap().len(), 2, "{dir}");
    }
}

/// `--threads` beyond what can run is a usage error (exit 2), not a panic when threads fail to
/// start (`--threads 100000` aborted with SIGABRT and left a stage directory behind).
#[test]
fn absurd_thread_counts_are_usage_errors() {
    let d = TempDir::new("adv4-threads");
    let v = d.path("v.mp4");
    clip(&v, "1");
    for n in ["100000", "18446744073709551615", "257"] {
        let out = d.path(&format!("kf-{n}"));
        let o = run_vx(&["-q", "keyframes", s(&v), "-o", s(&out), "--threads", n]);
        assert_eq!(o.status.code(), Some(2), "{n}: {}", stderr(&o));
        assert!(stderr(&o).contains("--threads"), "{}", stderr(&o));
        assert!(!out.exists(), "{n}");
    }
    let o = run_vx(&[
        "-q",
        "keyframes",
        s(&v),
        "-o",
        s(&d.path("ok")),
        "--threads",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `vx stream send --fps` below one frame per 1000 s panicked (a frame time beyond what a
/// Duration holds); now a usage error.
#[test]
fn tiny_frame_rates_are_usage_errors() {
    for fps in ["1e-300", "1e-19", "0.0009", "1001"] {
        let o = run_vx(&[
            "stream",
            "send",
            "--to",
            "127.0.0.1:9",
            "--fps",
            fps,
            "--frames",
            "2",
            "--size",
            "32x32",
        ]);
        assert_eq!(o.status.code(), Some(2), "{fps}: {}", stderr(&o));
        assert!(stderr(&o).contains("--fps"), "{}", stderr(&o));
    }
}

/// SIGTERM (or Ctrl-C) while `vx stream send` waits for the next frame's time stops it at
/// once: it slept until the frame was due (20 s at --fps 0.05) and then sent it anyway.
#[test]
fn a_signal_stops_the_sender_while_it_waits() {
    let child = vx()
        .args([
            "stream",
            "send",
            "--to",
            "127.0.0.1:9",
            "--fps",
            "0.05",
            "--frames",
            "3",
            "--size",
            "32x32",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let err = stderr(&o);
    assert!(err.contains("sent 1 frame(s)"), "{err}");
}

/// `vx stream recv --sdp` and `vx stream send`'s JPEG files are read only if they are small
/// regular files: /dev/zero read until memory ran out, a FIFO blocked forever.
#[test]
fn small_inputs_are_read_only_from_regular_files() {
    let d = TempDir::new("adv4-small");
    let fifo = d.path("s.sdp");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    for sdp in [Path::new("/dev/zero"), fifo.as_path()] {
        let t = Instant::now();
        let o = run_vx(&[
            "stream",
            "recv",
            "--listen",
            "127.0.0.1:0",
            "--sdp",
            s(sdp),
            "--duration",
            "1",
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert!(t.elapsed() < Duration::from_secs(5));
    }
    // A folder of JPEGs holding a link to /dev/zero.
    let jpegs = d.path("jpegs");
    std::fs::create_dir_all(&jpegs).unwrap();
    std::os::unix::fs::symlink("/dev/zero", jpegs.join("a.jpg")).unwrap();
    let o = run_vx(&[
        "stream",
        "send",
        "--to",
        "127.0.0.1:9",
        "--source",
        s(&jpegs),
        "--frames",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
}

/// A --start/--end range with frames but no keyframe is an empty result that says so, not
/// "no frame could be decoded" (exit 1, and in `vx run` an error for keyframes and for each
/// operation after it).
#[test]
fn a_range_without_a_keyframe_is_empty_not_an_error() {
    let d = TempDir::new("adv4-nokey");
    let v = d.path("v.mp4");
    clip(&v, "3"); // keyframes at 0, 1 and 2 s
    let out = d.path("kf");
    let o = run_vx(&[
        "-q",
        "keyframes",
        "--start",
        "1.2",
        "--end",
        "1.8",
        s(&v),
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = read_json(&out.join("keyframes.json"));
    assert_eq!(j["keyframes"].as_array().unwrap().len(), 0, "{j}");
    assert_eq!(j["complete"], true, "{j}");
    let w = j["warnings"].to_string();
    assert!(w.contains("no keyframe between 1.200 s and 1.800 s"), "{w}");
    assert!(stderr(&o).contains("no keyframe"), "{}", stderr(&o));
    // The same range with --every: the frames are there.
    let out = d.path("every");
    let o = run_vx(&[
        "-q",
        "keyframes",
        "--start",
        "1.2",
        "--end",
        "1.8",
        "--every",
        "0.2",
        s(&v),
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = read_json(&out.join("keyframes.json"));
    assert_eq!(j["keyframes"].as_array().unwrap().len(), 3, "{j}");
    // detect alone, from 2.5 s on.
    let ssd = need("models/ssd_mobilenet_v2_coco.onnx");
    let o = run_vx(&["-q", "detect", "--start", "2.5", s(&v), "-m", s(&ssd)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["results"].as_array().unwrap().len(), 0, "{j}");
    assert!(j["warnings"]
        .to_string()
        .contains("no keyframe from 2.500 s on"));
    // vx run: keyframes empty, detect after it has nothing to do; both ok.
    let out = d.path("run");
    let det = format!("detect={}", s(&ssd));
    let o = run_vx(&[
        "-q",
        "run",
        s(&v),
        "--ops",
        "keyframes;detect",
        "-m",
        &det,
        "--start",
        "1.2",
        "--end",
        "1.8",
        "-o",
        s(&out),
        "--no-index",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = read_json(&first_dir(&out).join("result.json"));
    for op in ["keyframes", "detect"] {
        assert_eq!(r["ops"][op]["status"], "ok", "{op}: {r}");
    }
}

/// `--at` with `--max`: the times --max cut off are not "missed" (a false warning in
/// keyframes.json said the video's last frame started before them).
#[test]
fn max_is_not_a_missed_time() {
    let d = TempDir::new("adv4-max");
    let v = d.path("v.mp4");
    clip(&v, "3");
    let out = d.path("at");
    let o = run_vx(&[
        "-q",
        "keyframes",
        "--at",
        "0.5,1,2",
        "--max",
        "1",
        s(&v),
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = read_json(&out.join("keyframes.json"));
    assert_eq!(j["keyframes"].as_array().unwrap().len(), 1, "{j}");
    assert_eq!(j["warnings"].as_array().map_or(0, Vec::len), 0, "{j}");
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    // A time after the last frame is still said.
    let out = d.path("late");
    let o = run_vx(&["-q", "keyframes", "--at", "0.5,9", s(&v), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = read_json(&out.join("keyframes.json"));
    assert!(
        j["warnings"].to_string().contains("no frame at or after 9"),
        "{j}"
    );
}

/// A Matroska file whose audio outlasts its video is not "truncated": the video's own length
/// is its DURATION tag (the container's duration is the longest track's). A file cut short
/// is still said to be (tests/bad_input.rs).
#[test]
fn matroska_video_shorter_than_its_audio_is_complete() {
    let d = TempDir::new("adv4-mkv");
    let mp4 = d.path("la.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x48:r=10:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=d=5",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        s(&mp4),
    ]);
    let mkv = d.path("la.mkv");
    ffmpeg(&["-i", s(&mp4), "-c", "copy", s(&mkv)]);
    let out = d.path("kf");
    let o = run_vx(&["-q", "keyframes", s(&mkv), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    let j = read_json(&out.join("keyframes.json"));
    assert_eq!(j["complete"], true, "{j}");
    let o = run_vx(&["scenes", s(&mkv)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("truncated"), "{}", stderr(&o));
}

/// A picture too thin for OCR (16x2000) is read as no text with a warning naming it; it failed
/// the whole operation with an error naming the detector model instead of the input.
#[test]
fn a_picture_too_thin_for_ocr_has_no_text_and_names_itself() {
    let d = TempDir::new("adv4-thin");
    let tall = d.path("tall.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=16x2000",
        "-frames:v",
        "1",
        s(&tall),
    ]);
    let slide = need("media/ocr_slide.png");
    let det = need("models/ch_PP-OCRv4_det_infer.onnx");
    let o = run_vx(&["ocr", s(&tall), s(&slide), "-m", s(&det)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("tall.png") && err.contains("too thin for OCR") && err.contains("16x2000"),
        "{err}"
    );
    assert!(!err.contains("onnx"), "{err}");
    // Named once.
    let warning = err.lines().find(|l| l.contains("too thin")).unwrap();
    assert_eq!(warning.matches("tall.png").count(), 1, "{warning}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{v}");
    let lines = |r: &serde_json::Value| r["lines"].as_array().map_or(0, Vec::len);
    assert_eq!(lines(&results[0]), 0, "{v}");
    assert!(lines(&results[1]) > 0, "{v}");
}

/// A still with an EXIF orientation: keyframes.json says the rotation its image was given (it
/// said 0 while the written image was turned), as `vx probe` does.
#[test]
fn a_still_says_the_rotation_its_exif_asks_for() {
    let d = TempDir::new("adv4-exif");
    let turned = d.path("turned.jpg");
    with_exif_orientation(&need("media/bus.jpg"), 6, &turned);
    let out = d.path("kf");
    let o = run_vx(&["-q", "keyframes", s(&turned), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = read_json(&out.join("keyframes.json"));
    assert_eq!(j["video"]["rotation"], 90, "{j}");
    let k = &j["keyframes"][0];
    // bus.jpg is 810x1080 stored; turned a quarter, the image is 1080x810.
    assert_eq!(
        (k["width"].as_u64(), k["height"].as_u64()),
        (Some(1080), Some(810)),
        "{j}"
    );
}

/// `vx keyframes` says which of several video streams it used, as the other commands do.
#[test]
fn keyframes_notes_the_stream_it_used() {
    let d = TempDir::new("adv4-streams");
    let multi = d.path("multi.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x48:r=10:d=1",
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=32x24:r=10:d=1",
        "-map",
        "0",
        "-map",
        "1",
        "-c:v",
        "libx264",
        s(&multi),
    ]);
    let o = run_vx(&["keyframes", s(&multi), "-o", s(&d.path("kf"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 video streams; #0 was used"),
        "{}",
        stderr(&o)
    );
    let o = run_vx(&["-q", "keyframes", s(&multi), "-o", s(&d.path("kf2"))]);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

/// A full standard output is named in the error (it said only "No space left on device").
#[test]
fn a_full_stdout_is_named() {
    let d = TempDir::new("adv4-full");
    let v = d.path("v.mp4");
    clip(&v, "1");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = vx()
        .args(["-q", "scenes", s(&v)])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("standard output"), "{}", stderr(&o));
}

/// Two messages said as the others: `--annotate` onto a file ("File exists (os error 17)"),
/// and `--start` past a still picture ("no frame could be decoded").
#[test]
fn annotate_onto_a_file_and_start_past_a_still() {
    let d = TempDir::new("adv4-msgs");
    let file = d.path("taken");
    std::fs::write(&file, "x").unwrap();
    let slide = need("media/ocr_slide.png");
    let det = need("models/ch_PP-OCRv4_det_infer.onnx");
    let o = run_vx(&[
        "-q",
        "ocr",
        s(&slide),
        "-m",
        s(&det),
        "--annotate",
        s(&file),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("exists and is not a directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    let o = run_vx(&["-q", "ocr", "--start", "1", s(&slide), "-m", s(&det)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--start 1 is past the end"),
        "{}",
        stderr(&o)
    );
}

/// A file cut short is not "no keyframe in the range": `--start` past the last keyframe that
/// was read, in a Matroska file cut at 75 %, stays an error (review of the no-keyframe rule).
#[test]
fn a_cut_file_is_not_a_range_without_keyframes() {
    let d = TempDir::new("adv4-cut");
    let mkv = d.path("whole.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=10:d=6",
        "-c:v",
        "libx264",
        "-g",
        "30",
        s(&mkv),
    ]);
    let bytes = std::fs::read(&mkv).unwrap();
    let cut = d.path("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 4]).unwrap();
    let out = d.path("kf");
    let o = run_vx(&["-q", "keyframes", "--start", "3.2", s(&cut), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no frame could be decoded"),
        "{}",
        stderr(&o)
    );
    // The whole file, the same range: no keyframe there, an empty result.
    let o = run_vx(&["-q", "keyframes", "--start", "3.2", s(&mkv), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A gap in the audio (a dropout: the packets of 1-2 s missing) is filled with silence, so
/// the speech after it keeps its times; counting samples pulled it 1 s early, under a warning
/// that called the file truncated.
#[test]
fn an_audio_gap_keeps_the_times_after_it() {
    let d = TempDir::new("adv4-gap");
    let jfk = need("media/jfk.wav");
    let gap = d.path("gap.mkv");
    ffmpeg(&[
        "-i",
        s(&jfk),
        "-af",
        "aselect='not(between(t,1,2))'",
        "-c:a",
        "pcm_s16le",
        s(&gap),
    ]);
    let vad = need("models/silero_vad.onnx");
    let spans = |f: &Path| -> (Vec<(f64, f64)>, String) {
        let o = run_vx(&["vad", s(f), "-m", s(&vad)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let spans = v["speech"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap()))
            .collect();
        (spans, stderr(&o))
    };
    let (whole, _) = spans(&jfk);
    let (gapped, err) = spans(&gap);
    assert!(err.contains("gap(s) in the audio"), "{err}");
    assert!(!err.contains("truncated"), "{err}");
    // Every span that starts after the gap is where it is in the whole file.
    let after: Vec<_> = whole.iter().filter(|s| s.0 > 2.2).collect();
    assert!(!after.is_empty());
    for w in after {
        assert!(
            gapped
                .iter()
                .any(|g| (g.0 - w.0).abs() < 0.1 && (g.1 - w.1).abs() < 0.1),
            "{w:?} not in {gapped:?}"
        );
    }
}

/// `vx run` over inputs whose ids would collide (two `v.wav` whose 32-bit path hashes are
/// equal: one input's results replaced the other's), an input with a 250-byte name (its id
/// was refused by the file system and the run stopped there), and a hand-edited result.json
/// listing an empty output path (the re-run stopped): every input gets its own directory and
/// line, and the re-run goes on.
#[test]
fn bulk_ids_that_collide_or_are_too_long() {
    let d = TempDir::new("adv4-ids");
    let root = d.path("in");
    // Two folders whose v.wav collide in 32 bits.
    let mut by_hash = std::collections::HashMap::new();
    let (a, b) = (0..400_000)
        .find_map(|i| {
            let p = root.join(i.to_string()).join("v.wav");
            by_hash
                .insert(vx_pipeline::result::path_hash(&p), p.clone())
                .map(|q| (q, p))
        })
        .expect("a collision");
    let long = root.join(format!("m{}.wav", "y".repeat(246)));
    let plain = root.join("zzz.wav");
    for p in [&a, &b, &long, &plain] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(need("media/jfk.wav"), p).unwrap();
    }
    let out = d.path("out");
    let run = |ops: &str| {
        run_vx(&[
            "-q",
            "run",
            s(&root),
            "--ops",
            ops,
            "-o",
            s(&out),
            "--no-index",
        ])
    };
    let o = run("probe");
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 4, "{lines}");
    let dirs: Vec<String> = names(&out)
        .into_iter()
        .filter(|n| out.join(n).is_dir() && !n.starts_with('.'))
        .collect();
    assert_eq!(dirs.len(), 4, "{dirs:?}");
    assert!(dirs.iter().all(|n| n.len() <= 255));
    // A result.json edited by hand: an empty output path. The changed plan re-runs.
    let plain_dir = dirs.iter().find(|n| n.starts_with("zzz.wav-")).unwrap();
    let rp = out.join(plain_dir).join("result.json");
    let mut r = read_json(&rp);
    r["ops"]["probe"]["outputs"] = serde_json::json!([""]);
    std::fs::write(&rp, serde_json::to_vec(&r).unwrap()).unwrap();
    let o = run("probe;audio");
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 4, "{lines}");
}
