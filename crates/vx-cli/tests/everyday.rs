//! Everyday use (issue #12): vx installed anywhere runs; `-` and URLs as inputs;
//! flags people type; usage errors that look like every other message.
mod common;
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn a_copied_vx_runs_alone() {
    // One binary (issue #17): a copy in an empty directory, with nothing of vx on PATH and
    // run from another directory, decodes a file.
    let d = TempDir::new("every-install");
    let bin = d.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_vx"), bin.join("vx")).unwrap();
    let wav = need("media/jfk.wav");
    let o = Command::new(bin.join("vx"))
        .args(["-q", "audio", s(&wav), "-o", "out.wav"])
        .current_dir(d.path(""))
        .env("PATH", "/usr/bin:/bin")
        .env("XDG_CACHE_HOME", std::env::temp_dir().join("vx-test-cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let n = std::fs::metadata(d.path("out.wav")).unwrap().len();
    assert!(n > 300_000, "{n} bytes");
}

#[test]
fn standard_input_and_urls_are_inputs() {
    let d = TempDir::new("every-inputs");
    let wav = need("media/jfk.wav");
    // `-`: standard input.
    let mut child = vx()
        .args(["-q", "audio", "-", "-o", s(&d.path("stdin.wav"))])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&wav).unwrap())
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        std::fs::metadata(d.path("stdin.wav")).unwrap().len(),
        352_044
    );
    // http://: a server started here on the loopback.
    let body: &'static [u8] = Box::leak(std::fs::read(&wav).unwrap().into_boxed_slice());
    let url = format!("{}/jfk.wav", serve_bytes(body));
    let o = run_vx(&["probe", &url]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["duration"], 11.0);
    let o = run_vx(&["-q", "audio", &url, "-o", s(&d.path("http.wav"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::metadata(d.path("http.wav")).unwrap().len(),
        352_044
    );
    // vx run takes them too (never cached: nothing tells whether they changed).
    let o = run_vx(&["-q", "run", &url, "--ops", "audio", "-o", s(&d.path("res"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = std::fs::read_to_string(d.path("res/results.jsonl")).unwrap();
    assert!(log.contains("\"status\":\"ok\""), "{log}");
}

#[test]
fn flags_people_type_and_usage_errors() {
    let d = TempDir::new("every-flags");
    let clip = d.path("c.mp4");
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
        "10",
        s(&clip),
    ]);
    // `--dedup 5` (not only `--dedup=5`) and `--format jpeg`.
    let out = d.path("kf");
    let o = run_vx(&[
        "-q",
        "keyframes",
        s(&clip),
        "-o",
        s(&out),
        "--dedup",
        "5",
        "--format",
        "jpeg",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("kf-000000.jpg").is_file());
    // Usage errors start like every other message, exit 2.
    let o = run_vx(&["keyframes", s(&clip), "--bogus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("vx: error: "), "{}", stderr(&o));
    // No stream of the kind a command needs: exit 3, not 1 (damage).
    let o = run_vx(&["vad", s(&clip), "-m", s(&need("models/silero_vad.onnx"))]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("no audio stream"), "{}", stderr(&o));
}

/// `vx keyframes --every S`: a picture every S seconds even where the encoder put one
/// keyframe (issue #12 item 11).
#[test]
fn keyframes_every_seconds() {
    let d = TempDir::new("every-seconds");
    let clip = d.path("one-gop.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
        "-t",
        "3.05",
        "-c:v",
        "libx264",
        "-g",
        "1000",
        s(&clip),
    ]);
    let out = d.path("kf");
    let o = run_vx(&["-q", "keyframes", s(&clip), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read_json(&out.join("keyframes.json"))["keyframes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let o = run_vx(&["-q", "keyframes", s(&clip), "-o", s(&out), "--every", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = read_json(&out.join("keyframes.json"));
    let times: Vec<f64> = j["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["time"].as_f64().unwrap())
        .collect();
    assert_eq!(times, [0.0, 1.0, 2.0, 3.0], "{j}");
    let o = run_vx(&["keyframes", s(&clip), "-o", s(&out), "--every", "0"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Shell completions and the manual page come from the same definitions as the parser
/// (issue #12 item 3).
#[test]
fn completions_and_man_page() {
    let o = run_vx(&["completions", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = String::from_utf8(o.stdout).unwrap();
    assert!(
        script.contains("keyframes") && script.contains("--dedup"),
        "{script}"
    );
    // Valid bash.
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    bash.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(bash.wait().unwrap().success());
    for shell in ["zsh", "fish"] {
        let o = run_vx(&["completions", shell]);
        assert!(o.status.success() && o.stdout.len() > 1000, "{shell}");
    }
    let o = run_vx(&["man"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = String::from_utf8(o.stdout).unwrap();
    assert!(
        page.contains(".TH vx 1") && page.contains("keyframes"),
        "{page}"
    );
    // A command's own page, with its options; an unknown command is a usage error.
    let o = run_vx(&["man", "transcribe"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = String::from_utf8(o.stdout).unwrap();
    assert!(
        page.contains(".TH vx-transcribe 1") && page.contains("beam\\-size"),
        "{page}"
    );
    let o = run_vx(&["man", "nosuch"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Every page into a folder, nested commands included.
    let d = TempDir::new("every-man");
    let o = run_vx(&["-q", "man", "--dir", d.path("man1").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for page in ["vx.1", "vx-transcribe.1", "vx-run.1", "vx-stream-send.1"] {
        let text = std::fs::read_to_string(d.path("man1").join(page)).unwrap();
        assert!(
            text.starts_with(".ie") && text.contains(".SH NAME"),
            "{page}"
        );
    }
}

/// `vx doctor`: what the installation has, and exit 1 when a command's needs are missing
/// (issue #12 item 2).
#[test]
fn doctor_reports_the_installation() {
    let d = TempDir::new("every-doctor");
    let models = need("models/silero_vad.onnx")
        .parent()
        .unwrap()
        .to_path_buf();
    let o = vx()
        .args(["doctor", "--json"])
        .env("VX_MODEL_DIR", &models)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // FFmpeg 7.1 linked statically (issue #17); Debian 12's 5.1 with --features system-ffmpeg.
    let (major, linkage) = if cfg!(feature = "system-ffmpeg") {
        ("59.", "shared")
    } else {
        ("61.", "static, LGPL")
    };
    assert!(
        v["ffmpeg"]["libavcodec"]
            .as_str()
            .unwrap()
            .starts_with(major),
        "{v}"
    );
    assert!(
        v["ffmpeg_linkage"].as_str().unwrap().starts_with(linkage),
        "{v}"
    );
    assert_eq!(v["decoders_missing"], serde_json::json!([]), "{v}");
    assert!(v["decoders"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d == "h264"));
    assert!(v["onnxruntime"]["path"].is_string(), "{v}");
    assert!(v["whisper_cpp"].as_str().unwrap().contains("AVX"), "{v}");
    for op in ["detect", "faces", "vad", "transcribe", "embed-audio"] {
        assert!(v["default_models"][op].is_string(), "{op}: {v}");
    }
    // An empty model directory: the problems are named, exit 1.
    let o = vx()
        .args(["doctor"])
        .env("VX_MODEL_DIR", d.path("empty"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("problem: transcribe: no default model"),
        "{text}"
    );
    // `--version`: the same versions, one line each; `-V`: vx's alone.
    let o = run_vx(&["--version"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("vx 0."), "{text}");
    assert!(lines[1].starts_with("FFmpeg: libavcodec "), "{text}");
    // ONNX Runtime: its library (scripts/setup installs it), or why it is missing.
    assert!(lines[2].starts_with("ONNX Runtime: "), "{text}");
    assert!(
        lines[3].starts_with("whisper.cpp: ") && lines[3].len() > 20,
        "{text}"
    );
    let o = run_vx(&["-V"]);
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 1);
}

/// A file whose first audio track is not the speech: a note says which stream was used, and
/// `--audio-stream N` picks another (issue #12 item 10).
#[test]
fn audio_stream_selection() {
    let d = TempDir::new("every-streams");
    let two = d.path("two.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=300:r=16000:d=11",
        "-i",
        s(&need("media/jfk.wav")),
        "-map",
        "0:a",
        "-map",
        "1:a",
        "-c:a",
        "aac",
        s(&two),
    ]);
    let whisper = need("models/whisper-tiny.en.ggml.bin");
    let run = |extra: &[&str]| {
        let mut a = vec!["transcribe", s(&two), "-m", s(&whisper), "--format", "txt"];
        a.extend_from_slice(extra);
        run_vx(&a)
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 audio streams; #0 was used"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--audio-stream", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("note"), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap().to_lowercase();
    assert!(text.contains("ask not what your country"), "{text}");
    let o = run(&["--audio-stream", "5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no audio stream #5 (the file has 2)"),
        "{}",
        stderr(&o)
    );
}

/// `--start`/`--end`/`--duration` on every command that reads media: seeking, times on the
/// file's timeline (issue #12 item 9).
#[test]
fn time_ranges() {
    let d = TempDir::new("every-range");
    let clip = d.path("sp.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
        "-i",
        s(&need("media/jfk.wav")),
        "-t",
        "11",
        "-c:v",
        "libx264",
        "-g",
        "10",
        "-c:a",
        "aac",
        "-shortest",
        s(&clip),
    ]);
    let out = d.path("kf");
    let o = run_vx(&[
        "-q",
        "keyframes",
        s(&clip),
        "-o",
        s(&out),
        "--start",
        "3.5",
        "--end",
        "7",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = read_json(&out.join("keyframes.json"));
    let times: Vec<f64> = j["keyframes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["time"].as_f64().unwrap())
        .collect();
    assert_eq!(times, [4.0, 5.0, 6.0], "{j}");
    assert_eq!(j["complete"], true, "{j}");
    // Audio: exactly the range's samples.
    let wav = d.path("r.wav");
    let o = run_vx(&[
        "-q",
        "audio",
        s(&clip),
        "-o",
        s(&wav),
        "--start",
        "1",
        "--duration",
        "1.5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(&wav).unwrap().len(), 44 + 24_000 * 2);
    // The words from 5 s on, at their times in the file.
    let o = run_vx(&[
        "transcribe",
        s(&clip),
        "-m",
        s(&need("models/whisper-tiny.en.ggml.bin")),
        "--start",
        "5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = v["text"].as_str().unwrap().to_lowercase();
    assert!(text.contains("what you can do for your country"), "{text}");
    assert!(!text.contains("fellow americans"), "{text}");
    assert!(v["segments"][0]["start"].as_f64().unwrap() >= 5.0, "{v}");
    let o = run_vx(&[
        "keyframes",
        s(&clip),
        "-o",
        s(&out),
        "--start",
        "5",
        "--end",
        "4",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// Long commands end with a closing line (issue #12 item 6); `-q` keeps it quiet.
#[test]
fn closing_summary_lines() {
    let wav = need("media/jfk.wav");
    let vad = need("models/silero_vad.onnx");
    let o = run_vx(&["vad", s(&wav), "-m", s(&vad), "-o", "/dev/null"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("vx: vad: ") && err.contains("11.0 s of media"),
        "{err}"
    );
    let o = run_vx(&["-q", "vad", s(&wav), "-m", s(&vad), "-o", "/dev/null"]);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

/// `vx probe` prints JSON Lines for one file as for several (`--pretty` indents), and names
/// its input `source` like every other JSON (issue #12 item 5).
#[test]
fn probe_json_lines_and_source() {
    let wav = need("media/jfk.wav");
    let o = run_vx(&["probe", s(&wav)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["source"], s(&wav));
    let o = run_vx(&["probe", "--pretty", s(&wav)]);
    assert!(String::from_utf8(o.stdout).unwrap().lines().count() > 10);
}

/// `vx subtitles`: mov_text, ASS and SubRip tracks as cues on the file's timeline, SRT out
/// equal to what went in (tags dropped); no subtitle stream is exit 3 (issue #12 item 12).
#[test]
fn embedded_subtitles() {
    let d = TempDir::new("every-subs");
    let srt = d.path("s.srt");
    std::fs::write(
        &srt,
        "1\n00:00:01,000 --> 00:00:02,500\nHello <i>world</i>\n\n2\n00:00:03,000 --> 00:00:04,000\nSecond line\nand more\n\n",
    )
    .unwrap();
    let want = "1\n00:00:01,000 --> 00:00:02,500\nHello world\n\n2\n00:00:03,000 --> 00:00:04,000\nSecond line\nand more\n\n";
    for (name, codec, extra) in [
        ("mov.mp4", "mov_text", &[][..]),
        ("ass.mkv", "ass", &[][..]),
        // A container that starts at 5 s: cues stay on the file's timeline (5 s subtracted).
        ("srt.mkv", "srt", &["-output_ts_offset", "5"][..]),
    ] {
        let f = d.path(name);
        let mut args = vec![
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
            codec,
        ];
        args.extend_from_slice(extra);
        args.push(s(&f));
        ffmpeg(&args);
        let o = run_vx(&["subtitles", s(&f), "--format", "srt"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(String::from_utf8(o.stdout).unwrap(), want, "{name}");
    }
    let o = run_vx(&["subtitles", s(&d.path("mov.mp4"))]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["codec"], "mov_text");
    assert_eq!(v["cues"][1]["text"], "Second line\nand more");
    let wav = need("media/jfk.wav");
    let o = run_vx(&["subtitles", s(&wav)]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("no subtitle stream"), "{}", stderr(&o));
}

/// Several inputs for the single-input commands: `-o DIR` gets one output per input; a failing
/// input does not stop the others (issue #12 item 4).
#[test]
fn several_inputs_with_an_output_directory() {
    let d = TempDir::new("every-many");
    let a = d.path("a.wav");
    let b = d.path("b.flac");
    std::fs::copy(need("media/jfk.wav"), &a).unwrap();
    ffmpeg(&["-i", s(&a), "-t", "2", s(&b)]);
    let silent = d.path("silent.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=96x64:rate=10",
        "-t",
        "1",
        "-c:v",
        "libx264",
        s(&silent),
    ]);
    let out = d.path("wavs");
    let o = run_vx(&["-q", "audio", s(&a), s(&b), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(out.join("a.wav")).unwrap().len(), 352_044);
    assert_eq!(
        std::fs::metadata(out.join("b.wav")).unwrap().len(),
        44 + 2 * 32_000
    );
    // A video without audio among them: its error line, the others written, exit 3.
    let vad = need("models/silero_vad.onnx");
    let o = run_vx(&[
        "-q",
        "vad",
        s(&a),
        s(&silent),
        "-m",
        s(&vad),
        "-o",
        s(&d.path("v")),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("silent.mp4: no audio stream"),
        "{}",
        stderr(&o)
    );
    assert!(
        read_json(&d.path("v/a.json"))["speech"]
            .as_array()
            .unwrap()
            .len()
            > 1
    );
    // Several inputs without -o: a usage error.
    let o = run_vx(&["vad", s(&a), s(&b), "-m", s(&vad)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // `vx keyframes` on several videos: one directory per input (a name that repeats gets the
    // path hash), each with the keyframes of its own file; a file without video is reported
    // and the others are written (exit 3).
    std::fs::create_dir_all(d.path("x")).unwrap();
    let clip = |p: &std::path::Path, g: &str| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=96x64:rate=10",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-g",
            g,
            s(p),
        ])
    };
    let (v1, v2) = (d.path("v1.mp4"), d.path("x/v1.mp4"));
    clip(&v1, "10");
    clip(&v2, "5");
    let kf = d.path("kf");
    let o = run_vx(&["-q", "keyframes", s(&v1), s(&v2), s(&a), "-o", s(&kf)]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a.wav: no video stream"),
        "{}",
        stderr(&o)
    );
    let mut dirs: Vec<String> = std::fs::read_dir(&kf)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let counts: Vec<usize> = dirs
        .iter()
        .map(|n| {
            let j = read_json(&kf.join(n).join("keyframes.json"));
            let k = j["keyframes"].as_array().unwrap();
            for f in k {
                assert!(kf.join(n).join(f["path"].as_str().unwrap()).is_file());
            }
            assert!(j["source"].as_str().unwrap().ends_with("v1.mp4"));
            k.len()
        })
        .collect();
    let mut sorted = counts.clone();
    sorted.sort();
    assert_eq!(sorted, [3, 6], "{dirs:?} {counts:?}");
    assert!(dirs.iter().all(|n| n.starts_with("v1-")), "{dirs:?}");

    // Folders where files are accepted: the files inside, recursively (vx run's expansion);
    // outputs named after each file even when the folder holds one.
    let folder = d.path("folder");
    std::fs::create_dir_all(folder.join("deeper")).unwrap();
    std::fs::copy(&a, folder.join("one.wav")).unwrap();
    std::fs::copy(&b, folder.join("deeper/two.flac")).unwrap();
    std::fs::write(folder.join(".hidden.wav"), b"not audio").unwrap();
    let o = run_vx(&["-q", "audio", s(&folder), "-o", s(&d.path("fw"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut got: Vec<String> = std::fs::read_dir(d.path("fw"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    assert_eq!(got, ["one.wav", "two.wav"]);
    std::fs::remove_file(folder.join("deeper/two.flac")).unwrap();
    let o = run_vx(&[
        "-q",
        "vad",
        s(&folder),
        "-m",
        s(&vad),
        "-o",
        s(&d.path("fv")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.path("fv/one.json").is_file());
    let o = run_vx(&["probe", s(&folder)]);
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 1);
    // A folder written into by the command is not read back as input on a second run, and
    // a file reached twice (`folder folder/deeper`) is taken once.
    std::fs::copy(&v1, folder.join("deeper/clip.mp4")).unwrap();
    let kf_in = folder.join("kf");
    for _ in 0..2 {
        let o = run_vx(&[
            "-q",
            "keyframes",
            s(&folder),
            s(&folder.join("deeper")),
            "-o",
            s(&kf_in),
        ]);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o)); // one.wav has no video
        let mut made: Vec<String> = std::fs::read_dir(&kf_in)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        made.sort();
        assert_eq!(made, ["clip"], "{}", stderr(&o));
        assert_eq!(
            stderr(&o).matches("no video stream").count(),
            1,
            "{}",
            stderr(&o)
        );
    }
    let o = run_vx(&["-q", "audio", s(&folder), "-o", "-"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("give -o DIR"), "{}", stderr(&o));
    std::fs::create_dir_all(d.path("empty")).unwrap();
    let o = run_vx(&["probe", s(&d.path("empty"))]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no file in this folder"),
        "{}",
        stderr(&o)
    );
}

/// `vx stream` is parsed on its own (the small parser of main.rs); what it does not accept
/// falls to the full one: help, and media options that do not apply (a usage error, exit 2,
/// rather than being ignored).
#[test]
fn stream_options_and_the_small_parser() {
    let o = run_vx(&[
        "-q",
        "stream",
        "send",
        "--source",
        "testsrc",
        "--to",
        "127.0.0.1:9",
        "--frames",
        "2",
        "--fps",
        "100",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_vx(&["stream", "send", "--help"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("--source"));
    let o = run_vx(&[
        "stream",
        "send",
        "--source",
        "testsrc",
        "--to",
        "127.0.0.1:9",
        "--frames",
        "2",
        "--start",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("vx: error:") && err.contains("--start") && err.lines().count() == 1,
        "{err}"
    );
}

/// `vx setup` (issue #12 item 1): the official onnxruntime wheel (kept by scripts/setup in
/// $VX_HOME/cache, served here from a loopback mirror) is checked against its SHA-256 and its
/// library extracted byte for byte as Python's zipfile extracts it; a detector then runs on it.
/// A damaged download leaves nothing; a second run fetches nothing.
#[test]
fn setup_installs_onnx_runtime_checked() {
    let home = std::env::var_os("VX_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_DATA_HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| {
                    std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share")
                })
                .join("vx")
        });
    let wheel = home.join(format!(
        "cache/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_{}.whl",
        std::env::consts::ARCH
    ));
    assert!(wheel.is_file(), "{}: run scripts/setup", wheel.display());
    let bytes = std::fs::read(&wheel).unwrap();
    let d = TempDir::new("every-setup");
    let setup = |vx_home: &std::path::Path, mirror: &str| {
        vx().args(["setup"])
            .env("VX_HOME", vx_home)
            .env("VX_ORT_MIRROR", mirror)
            .env_remove("ORT_DYLIB_PATH")
            .output()
            .unwrap()
    };
    // Damaged in transit: checksum mismatch, no library, no link.
    let mut bad = bytes.clone();
    bad[1000] ^= 1;
    let o = setup(
        &d.path("bad"),
        &serve_bytes(Box::leak(bad.into_boxed_slice())),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("checksum mismatch"), "{}", stderr(&o));
    let left: Vec<_> = std::fs::read_dir(d.path("bad/onnxruntime"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // The real wheel.
    let mirror = serve_bytes(Box::leak(bytes.into_boxed_slice()));
    let o = setup(&d.path("good"), &mirror);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("1.32.0 installed"), "{}", stderr(&o));
    let lib = d.path("good/onnxruntime/libonnxruntime.so.1.32.0");
    assert_eq!(
        std::fs::read(&lib).unwrap(),
        std::fs::read(home.join("onnxruntime/libonnxruntime.so.1.32.0")).unwrap(),
        "not the library scripts/setup extracted"
    );
    assert_eq!(
        std::fs::read_link(d.path("good/onnxruntime/libonnxruntime.so")).unwrap(),
        std::path::Path::new("libonnxruntime.so.1.32.0")
    );
    let o = vx()
        .args(["detect", s(&need("media/bus.jpg")), "-m"])
        .arg(need("models/ssd_mobilenet_v2_coco.onnx"))
        .env("VX_HOME", d.path("good"))
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"bus\""));
    let o = setup(&d.path("good"), "http://127.0.0.1:9");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("already installed"), "{}", stderr(&o));
}
