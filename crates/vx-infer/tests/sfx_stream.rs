//! The streaming sound embedder (frames and blocks computed as audio arrives, blocks sent to
//! the model a few at a time) gives what the whole-file reading gives: same windows, same
//! vectors. Real ONNX Runtime and the shared aisfx model; 50 s of synthetic 44.1 kHz audio,
//! pushed in pieces of uneven sizes (more blocks than one model call takes).
mod common;
use common::need;
use vx_infer::sfx::{LogMel, SfxEmbedder, SfxStream};

#[test]
fn streaming_equals_whole_file() {
    let model = need("models/sfx_embedding.onnx");
    let mut emb = SfxEmbedder::open(&model, Default::default()).unwrap();
    // Gliding tones, a pulse train and pseudo-random noise.
    let mut seed = 0x1234_5678u32;
    let samples: Vec<f32> = (0..44_100 * 50 + 777)
        .map(|i| {
            let t = i as f32 / 44_100.0;
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            0.3 * (2.0 * std::f32::consts::PI * (200.0 + 30.0 * t) * t).sin()
                + if (i / 4410) % 7 == 0 { 0.4 } else { 0.0 }
                + 0.05 * noise
        })
        .collect();
    let whole = {
        let mel = LogMel::new().compute(&samples);
        emb.embed_logmel(&mel).unwrap()
    };
    assert!(whole.len() > SfxStream::BATCH, "{} blocks", whole.len());
    let mut streamed = Vec::new();
    let mut s = emb.stream();
    let mut at = 0;
    let mut k = 0;
    while at < samples.len() {
        let n = [1, 1023, 4096, 333, 100_000, 7][k % 6].min(samples.len() - at);
        s.push(&samples[at..at + n], &mut |e| streamed.push(e))
            .unwrap();
        at += n;
        k += 1;
    }
    s.finish(&mut |e| streamed.push(e)).unwrap();
    assert_eq!(streamed.len(), whole.len());
    for (a, b) in streamed.iter().zip(&whole) {
        assert_eq!((a.start, a.end), (b.start, b.end));
        let dot: f32 = a.vector.iter().zip(&b.vector).map(|(x, y)| x * y).sum();
        let na: f32 = a.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        let nb: f32 = b.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            dot / (na * nb) > 0.99999,
            "window at {}: cosine {}",
            a.start,
            dot / (na * nb)
        );
    }
}
