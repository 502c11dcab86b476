//! Memory and size bombs (issue #10 items 8, 10, 24): huge still images reach models scaled to
//! the picture budget or are refused; a FLAC header that understates its length; damaged audio
//! says so in every audio JSON (`complete`, `warnings`).
mod common;
use common::*;

#[test]
fn huge_still_images_are_scaled_or_refused() {
    let d = TempDir::new("limits-images");
    let faces = need("models/centerface.onnx");
    let ssd = need("models/ssd_mobilenet_v2_coco.onnx");
    // 8000x8000 (64 MP, within what vx decodes): zidane.jpg stretched over it. CenterFace used
    // to take it whole (11.9 GB); now it sees at most 2 MP and boxes come back in the picture's
    // pixels.
    let big = d.path("big.png");
    ffmpeg(&[
        "-i",
        s(&need("media/zidane.jpg")),
        "-vf",
        "scale=8000:4500",
        "-frames:v",
        "1",
        s(&big),
    ]);
    let kib = peak_rss_kib(&["-q", "faces", s(&big), "--model", s(&faces)]);
    assert!(kib < 1_500_000, "faces on 8000x4500 used {kib} KiB");
    let o = run_vx(&["-q", "faces", s(&big), "--model", s(&faces)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &v["results"][0];
    assert_eq!(
        (r["width"].as_u64(), r["height"].as_u64()),
        (Some(8000), Some(4500))
    );
    // The same faces as on the original 1280x720 picture, scaled by 6.25.
    let o = run_vx(&[
        "-q",
        "faces",
        s(&need("media/zidane.jpg")),
        "--model",
        s(&faces),
    ]);
    let small: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let boxes = |r: &serde_json::Value, k: f64| -> Vec<[f64; 2]> {
        let mut v: Vec<[f64; 2]> = r["detections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["score"].as_f64().unwrap() > 0.7)
            .map(|d| {
                let b = &d["box"];
                [
                    b["x"].as_f64().unwrap() / k + b["w"].as_f64().unwrap() / k / 2.0,
                    b["y"].as_f64().unwrap() / k + b["h"].as_f64().unwrap() / k / 2.0,
                ]
            })
            .collect();
        v.sort_by(|a, b| a[0].total_cmp(&b[0]));
        v
    };
    let (got, want) = (boxes(r, 6.25), boxes(&small["results"][0], 1.0));
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g[0] - w[0]).abs() < 12.0 && (g[1] - w[1]).abs() < 12.0,
            "{got:?} vs {want:?}"
        );
    }
    // Landmarks in the picture's pixels too.
    let lm = &r["detections"][0]["landmarks"][0];
    assert!(lm[0].as_f64().unwrap() > 1280.0, "{lm}");

    // The SSD on the same picture: scaled to its native size, bounded memory.
    let kib = peak_rss_kib(&["-q", "detect", s(&big), "--model", s(&ssd)]);
    assert!(kib < 1_500_000, "detect on 8000x4500 used {kib} KiB");

    // 16000x16000 (256 MP, a 747 KB PNG): more than vx decodes; refused at once, one line.
    let huge = d.path("huge.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=gray:s=16000x16000",
        "-frames:v",
        "1",
        s(&huge),
    ]);
    for (cmd, model) in [("detect", &ssd), ("faces", &faces)] {
        let o = run_vx(&[cmd, s(&huge), "--model", s(model)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("huge.png") && err.contains("16000x16000") && err.lines().count() == 1,
            "{err}"
        );
        assert!(o.stdout.is_empty(), "no JSON on failure");
    }
    let o = run_vx(&["keyframes", s(&huge), "-o", s(&d.path("kf"))]);
    assert!(
        stderr(&o).contains("larger than vx decodes"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_flac_header_that_understates_its_length() {
    let d = TempDir::new("limits-flac");
    let flac = d.path("liar.flac");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:r=16000",
        "-t",
        "6",
        s(&flac),
    ]);
    // STREAMINFO's 36-bit total sample count (bytes 18..26) set to 160 (0.01 s).
    let mut b = std::fs::read(&flac).unwrap();
    assert_eq!(&b[..4], b"fLaC");
    let mut v = u64::from_be_bytes(b[18..26].try_into().unwrap());
    v = (v & !((1u64 << 36) - 1)) | 160;
    b[18..26].copy_from_slice(&v.to_be_bytes());
    std::fs::write(&flac, &b).unwrap();
    let out = d.path("liar.wav");
    let o = run_vx(&["audio", s(&flac), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    // All 6 s (ffmpeg's CLI decodes them too), and a warning.
    let len = std::fs::metadata(&out).unwrap().len();
    assert_eq!(len, 44 + 6 * 16000 * 2);
    assert!(stderr(&o).contains("lasts 6.000 s"), "{}", stderr(&o));
    // AAC's padding is still cut at the container's duration (no warning for it).
    let m4a = d.path("a.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:r=44100",
        "-t",
        "3",
        "-c:a",
        "aac",
        s(&m4a),
    ]);
    let o = run_vx(&["audio", s(&m4a), "-o", s(&d.path("a.wav"))]);
    assert!(o.status.success());
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    let len = std::fs::metadata(d.path("a.wav")).unwrap().len();
    assert_eq!(len, 44 + 3 * 16000 * 2);
}

#[test]
fn damaged_audio_is_reported_in_every_audio_json() {
    let d = TempDir::new("limits-trunc");
    let flac = d.path("t.flac");
    ffmpeg(&["-i", s(&need("media/jfk.wav")), s(&flac)]);
    let b = std::fs::read(&flac).unwrap();
    std::fs::write(&flac, &b[..b.len() / 3]).unwrap();
    let vad = need("models/silero_vad.onnx");
    let o = run_vx(&["vad", s(&flac), "--model", s(&vad)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["complete"], false, "{v}");
    assert!(v["warnings"].to_string().contains("truncated"), "{v}");
    assert!(stderr(&o).contains("warning"), "{}", stderr(&o));
    // The intact file: complete, no warnings.
    let o = run_vx(&["vad", s(&need("media/jfk.wav")), "--model", s(&vad)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["complete"], true);
    assert_eq!(v["warnings"], serde_json::json!([]));
    // In vx run, every audio operation's JSON says it.
    let res = d.path("res");
    let o = run_vx(&[
        "-q",
        "run",
        s(&flac),
        "--ops",
        "[audio,vad]",
        "--model",
        &format!("vad={}", s(&vad)),
        "-o",
        s(&res),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = first_dir(&res);
    for f in ["audio.json", "vad.json"] {
        let v = read_json(&dir.join(f));
        assert_eq!(v["complete"], false, "{f}: {v}");
    }
    let r = read_json(&dir.join("result.json"));
    assert_eq!(
        (&r["status"], &r["complete"]),
        (&"ok".into(), &false.into()),
        "{r}"
    );
}

/// A WAV copy cut short: libavformat takes the file's length without a word; vx reads the
/// header and says the file is truncated (adversarial pass, issue #10 item 24).
#[test]
fn a_truncated_wav_is_not_complete() {
    let d = TempDir::new("limits-wav");
    let wav = d.path("cut.wav");
    let b = std::fs::read(need("media/jfk.wav")).unwrap();
    std::fs::write(&wav, &b[..100_000]).unwrap();
    let o = run_vx(&["vad", s(&wav), "-m", s(&need("models/silero_vad.onnx"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["complete"], false, "{v}");
    assert!(
        v["warnings"]
            .to_string()
            .contains("WAV header says 11.000 s"),
        "{v}"
    );
    // The whole file: complete.
    let o = run_vx(&[
        "vad",
        s(&need("media/jfk.wav")),
        "-m",
        s(&need("models/silero_vad.onnx")),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["complete"], true, "{v}");
}
