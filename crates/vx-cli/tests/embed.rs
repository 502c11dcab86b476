//! Audio embeddings (aisfx) against the reference outputs of aisfx's own pipeline on jfk.wav
//! (../shared/assets/models/sfx_reference, PROVENANCE.md section 7).
mod common;
use common::*;

/// A little-endian float32 .npy file: (shape, values).
fn load_npy(p: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(p).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'<f4'") && header.contains("'fortran_order': False"),
        "{header}"
    );
    let shape_s = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_s
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    let data = b[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (shape, data)
}

#[test]
fn logmel_front_end_matches_the_reference() {
    let samples = vx_media::audio::decode_f32(&need("media/jfk.wav"), 44_100, 1).unwrap();
    let mel = vx_infer::sfx::LogMel::new().compute(&samples);
    let (shape, want) = load_npy(&need("models/sfx_reference/jfk_logmel.npy"));
    assert_eq!(shape, vec![475, 96]);
    assert_eq!(mel.len(), 475);
    // jfk.wav is 16 kHz: resampled to 44.1 kHz by libswresample here and by essentia there,
    // so bands above 8 kHz hold only resampler residue and differ (PROVENANCE.md). Below,
    // the two front ends must agree closely.
    let hz = |band: usize| {
        let max = 2595.0 * (1.0f64 + 22050.0 / 700.0).log10();
        let m = max * (band + 1) as f64 / 97.0;
        700.0 * (10f64.powf(m / 2595.0) - 1.0)
    };
    let speech_bands: Vec<usize> = (0..96).filter(|&b| hz(b) < 7000.0).collect();
    let (mut sum, mut n, mut worst) = (0.0f64, 0usize, 0.0f32);
    for (f, row) in mel.iter().enumerate() {
        for &b in &speech_bands {
            let d = (row[b] - want[f * 96 + b]).abs();
            sum += d as f64;
            n += 1;
            worst = worst.max(d);
        }
    }
    let mean = sum / n as f64;
    eprintln!(
        "log-mel below 7 kHz: mean |diff| {mean:.4}, worst {worst:.3} ({} bands)",
        speech_bands.len()
    );
    assert!(mean < 0.02, "mean |diff| {mean}");
    assert!(worst < 0.5, "worst {worst}");
}

#[test]
fn embeddings_match_the_reference() {
    let d = TempDir::new("embed");
    let npy = d.path("jfk.npy");
    let o = run_vx(&[
        "embed-audio",
        need("media/jfk.wav").to_str().unwrap(),
        "--model",
        need("models/sfx_embedding.onnx").to_str().unwrap(),
        "--npy",
        npy.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let w = v["windows"].as_array().unwrap();
    assert_eq!(w.len(), 8);
    assert_eq!(v["dim"], 512);
    // Times in JSON are rounded to the millisecond (docs/OUTPUTS.md).
    assert!((w[1]["start"].as_f64().unwrap() - 50.0 * 1024.0 / 44100.0).abs() <= 0.0005);
    let (shape, got) = load_npy(&npy);
    assert_eq!(shape, vec![8, 512]);
    let (rshape, want) = load_npy(&need("models/sfx_reference/jfk_embedding.npy"));
    assert_eq!(rshape, vec![8, 512]);
    for b in 0..8 {
        let (x, y) = (&got[b * 512..(b + 1) * 512], &want[b * 512..(b + 1) * 512]);
        let dot: f32 = x.iter().zip(y).map(|(a, b)| a * b).sum();
        let nx: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        let ny: f32 = y.iter().map(|a| a * a).sum::<f32>().sqrt();
        let cos = dot / nx / ny;
        assert!(cos >= 0.99, "window {b}: cosine {cos}");
        // JSON and .npy carry the same vectors.
        assert_eq!(w[b]["vector"][0].as_f64().unwrap() as f32, x[0]);
    }
}

#[test]
fn memory_does_not_grow_with_the_file() {
    // 90 s of audio are 76 windows: sent to the model in one call (as vx did) they add
    // ~370 MiB to the peak; streamed, 8 windows per call, ~40 MiB (constant: the same on 25
    // minutes).
    let d = TempDir::new("embed-mem");
    let long = d.path("long.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100:duration=90",
        "-c:a",
        "aac",
        long.to_str().unwrap(),
    ]);
    let model = need("models/sfx_embedding.onnx");
    let run = |input: &std::path::Path| {
        peak_rss_kib(&[
            "embed-audio",
            input.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "-o",
            d.path("out.json").to_str().unwrap(),
        ])
    };
    let short = run(&need("media/jfk.wav"));
    let long_rss = run(&long);
    let v = read_json(&d.path("out.json"));
    // 90 s: 3876 frames of 1024 samples, windows of 100 every 50 -> 76 (77 when AAC's
    // padding makes the file a little longer).
    let n = v["windows"].as_array().unwrap().len();
    assert!((76..=77).contains(&n), "{n} windows");
    assert!(
        long_rss < short + 100 * 1024,
        "peak RSS {long_rss} KiB for 90 s vs {short} KiB for 11 s"
    );
}
