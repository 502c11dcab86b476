//! One consistent command line: every command that runs a model finds it in the model
//! directory when `--model` is not given (as `vx run` does), `--threads` is one global
//! option, and every command over files takes several inputs (or folders) with `-o DIR`.
mod common;
use common::*;

fn models() -> String {
    s(&need("models/silero_vad.onnx"))
        .trim_end_matches("/silero_vad.onnx")
        .to_string()
}

fn with_models(args: &[&str], dir: &str) -> std::process::Output {
    vx().args(args).env("VX_MODEL_DIR", dir).output().unwrap()
}

fn json(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn default_models_and_one_threads_option() {
    let dir = models();
    let jfk = need("media/jfk.wav");
    let bus = need("media/bus.jpg");
    // vad: the spans of jfk.wav from silero_vad.onnx in the model directory; --threads after
    // the command or before it.
    let v = json(&with_models(
        &["-q", "vad", s(&jfk), "--threads", "1"],
        &dir,
    ));
    assert!(v["model"].as_str().unwrap().ends_with("silero_vad.onnx"));
    let spans = v["speech"].as_array().unwrap();
    assert!(!spans.is_empty(), "{v}");
    assert!(spans[0]["start"].as_f64().unwrap() < 1.0, "{v}");
    // detect: the SSD finds the bus.
    let v = json(&with_models(
        &["-q", "--threads", "1", "detect", s(&bus)],
        &dir,
    ));
    assert!(v["model"]
        .as_str()
        .unwrap()
        .ends_with("ssd_mobilenet_v2_coco.onnx"));
    let labels: Vec<&str> = v["results"][0]["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"bus"), "{labels:?}");
    // faces: CenterFace on the same picture finds the people's faces.
    let v = json(&with_models(&["-q", "faces", s(&bus)], &dir));
    assert!(v["model"].as_str().unwrap().ends_with("centerface.onnx"));
    assert!(
        !v["results"][0]["detections"].as_array().unwrap().is_empty(),
        "{v}"
    );
    // embed-audio: aisfx windows.
    let v = json(&with_models(&["-q", "embed-audio", s(&jfk)], &dir));
    assert!(v["model"].as_str().unwrap().ends_with("sfx_embedding.onnx"));
    assert!(v["windows"].as_array().unwrap().len() > 5, "{v}");
    // transcribe: tiny.en from the directory (its file name, not the catalogue's).
    let v = json(&with_models(
        &["-q", "transcribe", s(&jfk), "--threads", "2"],
        &dir,
    ));
    assert!(v["text"].as_str().unwrap().contains("country"), "{v}");
    // No model anywhere: one line naming the operation, the names looked for and the
    // directory; exit status 1, nothing on stdout.
    let empty = TempDir::new("consistency-empty-models");
    std::fs::create_dir_all(empty.path("")).unwrap();
    for (cmd, name) in [
        ("vad", "silero_vad.onnx"),
        ("detect", "ssd_mobilenet_v2_coco.onnx"),
        ("embed-audio", "sfx_embedding.onnx"),
        ("transcribe", "whisper-tiny.en.ggml.bin"),
    ] {
        let input = if cmd == "detect" { &bus } else { &jfk };
        let o = with_models(&[cmd, s(input)], s(&empty.path("")));
        assert_eq!(o.status.code(), Some(1), "{cmd}: {}", stderr(&o));
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("no model given") && e.contains(name), "{e}");
        assert!(e.contains(s(&empty.path(""))), "{e}");
        assert!(o.stdout.is_empty());
    }
    // --threads is one option of the whole command line, in every command's help.
    for cmd in ["scenes", "vad", "audio", "ocr", "run"] {
        let o = run_vx(&[cmd, "--help"]);
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(help.contains("--threads <N>"), "{cmd}: {help}");
    }
}

#[test]
fn several_inputs_for_every_file_command() {
    let d = TempDir::new("consistency-several");
    let dir = models();
    let a = need("media/jfk.wav");
    let b = need("media/sense_and_sensibility_01_austen_64kb-0870.wav");
    // embed-audio: one NAME.json and, with a bare --npy, NAME.npy beside it, per input.
    let out = d.path("emb");
    let o = with_models(
        &["-q", "embed-audio", s(&a), s(&b), "-o", s(&out), "--npy"],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for stem in ["jfk", "sense_and_sensibility_01_austen_64kb-0870"] {
        let j = read_json(&out.join(format!("{stem}.json")));
        let n = j["windows"].as_array().unwrap().len() as u64;
        let npy = std::fs::metadata(out.join(format!("{stem}.npy")))
            .unwrap()
            .len();
        // 512 float32 per window after the .npy header (128 bytes for this shape).
        assert_eq!(npy, 128 + n * 512 * 4, "{stem}");
    }
    // `--npy` before the inputs does not swallow one (it overwrote it with vectors).
    let copy = d.path("copy.wav");
    std::fs::copy(&a, &copy).unwrap();
    let o = with_models(
        &["embed-audio", "--npy", s(&copy), s(&b), "-o", s(&out)],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&a).unwrap());
    // A named .npy cannot be several files.
    let o = with_models(
        &["embed-audio", s(&a), s(&b), "-o", s(&out), "--npy", "x.npy"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // scenes: two clips, each with its own cut, one CSV each.
    let mut clips = Vec::new();
    for (name, at) in [("one", "2"), ("two", "3")] {
        let p = d.path(&format!("{name}.mp4"));
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=s=320x240:r=25:d={at}"),
            "-f",
            "lavfi",
            "-i",
            "color=red:s=320x240:r=25:d=2",
            "-filter_complex",
            "[0][1]concat=n=2:v=1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            s(&p),
        ]);
        clips.push(p);
    }
    let out = d.path("scenes");
    let o = run_vx(&[
        "-q",
        "scenes",
        s(&clips[0]),
        s(&clips[1]),
        "-o",
        s(&out),
        "--csv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (name, cut) in [("one", "51,"), ("two", "76,")] {
        let csv = std::fs::read_to_string(out.join(format!("{name}.csv"))).unwrap();
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(
            csv.lines().nth(2).unwrap().starts_with(&format!("2,{cut}")),
            "{csv}"
        );
    }
    // subtitles: --list names each file; the cues of each file into -o DIR.
    let srt = d.path("s.srt");
    std::fs::write(&srt, "1\n00:00:01,000 --> 00:00:02,000\nhello there\n").unwrap();
    let with = d.path("with.mp4");
    ffmpeg(&[
        "-i",
        s(&clips[0]),
        "-i",
        s(&srt),
        "-c",
        "copy",
        "-c:s",
        "mov_text",
        s(&with),
    ]);
    let o = run_vx(&["subtitles", "--list", s(&with), s(&clips[1])]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = o
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["file"], s(&with));
    assert_eq!(lines[0]["codec"], "mov_text");
    let out = d.path("subs");
    let o = run_vx(&[
        "-q",
        "subtitles",
        s(&with),
        s(&clips[1]),
        "-o",
        s(&out),
        "--format",
        "srt",
    ]);
    // The clip without subtitles is exit status 3 (no stream of the kind needed); the other
    // is written.
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let text = std::fs::read_to_string(out.join("with.srt")).unwrap();
    assert!(text.contains("hello there"), "{text}");
    assert!(!out.join("two.srt").exists());
}
