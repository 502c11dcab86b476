//! `vx vad` with the shared Silero VAD model on the shared speech clips (PROVENANCE.md §6).
mod common;
use common::*;

fn vad(input: &std::path::Path) -> Vec<(f64, f64)> {
    let model = need("models/silero_vad.onnx");
    let o = run_vx(&[
        "vad",
        input.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["speech"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap()))
        .collect()
}

#[test]
fn speech_spans_match_the_reference_runs() {
    // Reference: runs of p > 0.5 from the package's own wrapper (PROVENANCE.md section 6).
    let want = [
        (0.35, 2.24),
        (3.30, 3.81),
        (3.97, 4.38),
        (5.41, 7.62),
        (8.19, 10.53),
    ];
    let got = vad(&need("media/jfk.wav"));
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        // 30 ms of padding each side, 32 ms chunks.
        assert!(
            (g.0 - w.0).abs() < 0.08 && (g.1 - w.1).abs() < 0.12,
            "{got:?}"
        );
    }
    let got = vad(&need("media/sense_and_sensibility_01_austen_64kb-0880.wav"));
    assert!(
        !got.is_empty() && got[0].0 < 0.3 && got.last().unwrap().1 > 2.8,
        "{got:?}"
    );
}

#[test]
fn same_spans_from_a_video_container_and_none_for_silence_or_tones() {
    let d = TempDir::new("vad");
    // jfk.wav muxed into an MP4 with a video track, as AAC.
    let mp4 = speech_in_mp4(&d, "media/jfk.wav", "jfk");
    let a = vad(&need("media/jfk.wav"));
    let b = vad(&mp4);
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (x.0 - y.0).abs() < 0.1 && (x.1 - y.1).abs() < 0.1,
            "{a:?} vs {b:?}"
        );
    }
    for (name, src) in [
        ("silence.wav", "anullsrc=r=16000:cl=mono"),
        ("tone.wav", "sine=frequency=440:sample_rate=16000"),
        ("noise.wav", "anoisesrc=r=16000:a=0.1:c=white"),
    ] {
        let f = d.path(name);
        ffmpeg(&["-f", "lavfi", "-i", src, "-t", "3", f.to_str().unwrap()]);
        assert!(vad(&f).is_empty(), "{name}: {:?}", vad(&f));
    }
    // A model that is not a VAD.
    let o = run_vx(&[
        "vad",
        mp4.to_str().unwrap(),
        "--model",
        need("models/centerface.onnx").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unsupported model signature"),
        "{}",
        stderr(&o)
    );
}
