//! TransNetV2 on the shipped window (PROVENANCE.md §10): 100 frames of 48x27 RGB whose
//! PyTorch outputs are recorded; no decoding involved.
mod common;
use common::need;
use vx_infer::transnet::TransNet;

/// A uint8 .npy file's data (C order), checking its shape.
fn npy_u8(path: &std::path::Path, shape: &str) -> Vec<u8> {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'|u1'") && header.contains(shape),
        "{header}"
    );
    b[10 + hlen..].to_vec()
}

#[test]
fn the_shipped_window_gives_the_reference_probabilities() {
    let dir = need("models/transnetv2_reference");
    let frames = npy_u8(
        &dir.join("synthetic_window1_frames.npy"),
        "(1, 100, 27, 48, 3)",
    );
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("shot_boundaries.json")).unwrap()).unwrap();
    let w = &reference["videos"]["synthetic"]["window1"];
    let mut net = TransNet::open(
        &need("models/transnetv2.onnx"),
        vx_infer::runtime::SessionOptions { threads: 2 },
    )
    .unwrap();
    let (single, many) = net.window(&frames).unwrap();
    for (got, key) in [
        (&single, "single_frame_prob_torch"),
        (&many, "many_hot_prob_torch"),
    ] {
        let want: Vec<f64> = w[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), want.len());
        for (i, (g, r)) in got.iter().zip(&want).enumerate() {
            assert!((*g as f64 - r).abs() < 1e-5, "{key}[{i}]: {g} vs {r}");
        }
    }
    // The hard cut between clip frames 74 and 75 is window index 49, and only it.
    let above: Vec<usize> = (0..100).filter(|&i| single[i] > 0.5).collect();
    assert_eq!(above, [49]);
}
