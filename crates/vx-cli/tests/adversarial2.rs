//! Regressions from the second adversarial pass (bulk runs, time ranges, stream selection,
//! subtitles): each used to hang, serve a stale result, lose frames or samples, or mislabel.
mod common;
use common::*;
use std::path::PathBuf;
use std::process::Stdio;

fn speech_clip(d: &TempDir) -> PathBuf {
    let p = d.path("a.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-i",
        s(&need("media/jfk.wav")),
        "-t",
        "11",
        "-c:v",
        "libx264",
        "-g",
        "50",
        "-c:a",
        "aac",
        "-shortest",
        s(&p),
    ]);
    p
}

#[test]
fn fifos_and_devices_in_an_input_folder_are_skipped() {
    let d = TempDir::new("adv2-fifo");
    let dir = d.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(need("media/jfk.wav"), dir.join("a.wav")).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(dir.join("zz.fifo"))
        .status()
        .unwrap()
        .success());
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
    let mut child = vx()
        .args([
            "run",
            s(&dir),
            "--ops",
            "probe",
            "-o",
            s(&d.path("o")),
            "-j",
            "2",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed().as_secs() > 30 {
            let _ = child.kill();
            panic!("vx run hangs on a FIFO or a device");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("zz.fifo") && err.contains("not a regular file"),
        "{err}"
    );
    assert!(err.contains("zero"), "{err}");
    // The summary says why the exit status is 1 (it used to count "0 error(s)" and stop).
    assert!(
        err.contains("0 error(s); 2 path(s) not read (warnings above)"),
        "{err}"
    );
    let log = std::fs::read_to_string(d.path("o/results.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1, "{log}");
    // Nothing in a results line is null.
    assert!(!log.contains("null"), "{log}");
}

#[test]
fn stream_choices_are_part_of_the_cache_key() {
    let d = TempDir::new("adv2-streams");
    let three = d.path("three.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-i",
        s(&need("media/jfk.wav")),
        "-map",
        "0:a",
        "-map",
        "1:a",
        "-t",
        "11",
        "-c:a",
        "aac",
        s(&three),
    ]);
    let out = d.path("o");
    let vad = format!("vad={}", s(&need("models/silero_vad.onnx")));
    let run = |n: &str| {
        run_vx(&[
            "--audio-stream",
            n,
            "run",
            s(&three),
            "--ops",
            "vad",
            "-m",
            &vad,
            "-o",
            s(&out),
        ])
    };
    let o = run("1");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run("0");
    assert!(!stderr(&o).contains("already done"), "{}", stderr(&o));
    let dir = first_dir(&out);
    assert_eq!(read_json(&dir.join("vad.json"))["speech_seconds"], 0.0);
}

#[test]
fn time_ranges_on_ts_stdin_and_exact_lengths() {
    let d = TempDir::new("adv2-range");
    let mp4 = speech_clip(&d);
    let ts = d.path("a.ts");
    ffmpeg(&["-i", s(&mp4), "-c", "copy", s(&ts)]);
    // MPEG-TS (no index): the frames right after --start are not lost.
    let o = run_vx(&["-q", "--start", "3", "scenes", s(&ts)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let first = v["scenes"][0]["start"].as_f64().unwrap();
    assert!((3.0..3.1).contains(&first), "{v}");
    // Frames at 0.064 + k x 0.04 s (the TS keeps the MP4's first-frame offset): k = 74..274.
    assert_eq!(v["frames"], 201, "{v}");
    // A seek is not damage.
    let o = run_vx(&["-q", "--start", "3", "scenes", s(&mp4)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["complete"], true, "{v}");
    // Standard input cannot seek: read from its start, the range still applies.
    let wav = need("media/jfk.wav");
    let mut child = vx()
        .args([
            "-q",
            "--start",
            "3.3",
            "--end",
            "5.8",
            "audio",
            "-",
            "-o",
            s(&d.path("in.wav")),
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    // vx stops reading at --end: the rest of the write may meet a closed pipe.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&wav).unwrap());
    assert!(child.wait().unwrap().success());
    assert_eq!(
        std::fs::metadata(d.path("in.wav")).unwrap().len(),
        44 + 40_000 * 2
    );
    // Exactly the range's samples (the end is exclusive).
    for (args, samples) in [
        (&["--duration", "2.5"][..], 40_000u64),
        (&["--start", "0.5", "--end", "7.25"][..], 108_000),
        (&["--start", "1"][..], 160_000),
    ] {
        let out = d.path("r.wav");
        let mut a = vec!["-q"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["audio", s(&wav), "-o", s(&out)]);
        let o = run_vx(&a);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(
            std::fs::metadata(&out).unwrap().len(),
            44 + samples * 2,
            "{args:?}"
        );
    }
    // A start past the end: one clear error, whatever the command.
    for cmd in [
        &["vad", "-m", s(&need("models/silero_vad.onnx"))][..],
        &["scenes"][..],
    ] {
        let mut a = vec!["--start", "20"];
        a.extend_from_slice(cmd);
        a.push(s(&mp4));
        let o = run_vx(&a);
        assert_eq!(o.status.code(), Some(1), "{cmd:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("past the end of the file"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn subtitles_honour_the_range_and_output_directory_messages() {
    let d = TempDir::new("adv2-subs");
    let srt = d.path("s.srt");
    std::fs::write(
        &srt,
        "1\n00:00:01,000 --> 00:00:02,500\nOne\n\n2\n00:00:03,000 --> 00:00:04,000\nTwo\n\n",
    )
    .unwrap();
    let mkv = d.path("s.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
        "-i",
        s(&srt),
        "-t",
        "5",
        "-c:v",
        "libx264",
        "-c:s",
        "srt",
        s(&mkv),
    ]);
    let o = run_vx(&["--start", "2.6", "subtitles", s(&mkv)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["cues"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["cues"][0]["text"], "Two");
    assert!(!text.contains("null"), "{text}");
    // A cue still shown at --start (1.0-2.5 s, --start 2.0) was stored before the key frame a
    // seek lands on (one every 10 frames... here the encoder's, 2.5 s apart at most): kept,
    // by `vx subtitles` and beside keyframes in `vx run`; --end stops at the first cue past it.
    let gop = d.path("gop.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
        "-i",
        s(&srt),
        "-t",
        "5",
        "-c:v",
        "libx264",
        "-g",
        "10",
        "-c:s",
        "srt",
        s(&gop),
    ]);
    let o = run_vx(&[
        "--start",
        "2.0",
        "--end",
        "2.8",
        "subtitles",
        s(&gop),
        "--format",
        "txt",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8(o.stdout).unwrap(), "One\n");
    let res = d.path("res");
    let o = run_vx(&[
        "-q",
        "--start",
        "2.0",
        "run",
        s(&gop),
        "--ops",
        "keyframes;subtitles",
        "-o",
        s(&res),
        "--no-index",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = std::fs::read_dir(&res)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let subs = read_json(&dir.join("subtitles.json"));
    let texts: Vec<&str> = subs["cues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["One", "Two"], "{subs}");
    let kf = read_json(&dir.join("keyframes.json"));
    assert!(
        kf["keyframes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["time"].as_f64().unwrap() >= 2.0 - 1e-6),
        "{kf}"
    );
    // An output "directory" that is a file: said so, the path once.
    let file = d.path("afile");
    std::fs::write(&file, b"x").unwrap();
    let o = run_vx(&["run", s(&mkv), "--ops", "probe", "-o", s(&file)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not a directory") && err.matches("afile").count() == 1,
        "{err}"
    );
    // A run that fails before any input (no ONNX Runtime) leaves no directory it created.
    let fresh = d.path("fresh");
    let o = vx()
        .args([
            "run",
            s(&need("media/jfk.wav")),
            "--ops",
            "vad",
            "-o",
            s(&fresh),
        ])
        .args(["-m", &format!("vad={}", s(&need("models/silero_vad.onnx")))])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!fresh.exists(), "{}", stderr(&o));
}
