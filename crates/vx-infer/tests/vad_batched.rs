//! Silero scored many chunks per model call (`SileroVad::probabilities`, the encoder batched
//! and the LSTM in Rust) gives the probabilities of one whole-model call per chunk, whatever
//! the blocks the audio arrives in.
mod common;
use common::need;
use vx_infer::runtime::SessionOptions;
use vx_infer::vad::{SileroVad, CHUNK};

/// 16-bit PCM samples of a WAV file as -1..1 (the shared media are 16 kHz mono).
fn wav(rel: &str) -> Vec<f32> {
    let b = std::fs::read(need(rel)).unwrap();
    let at = b.windows(4).position(|w| w == b"data").unwrap() + 8;
    b[at..]
        .chunks_exact(2)
        .map(|s| i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0)
        .collect()
}

#[test]
fn batched_probabilities_equal_one_call_per_chunk() {
    let model = need("models/silero_vad.onnx");
    let opts = SessionOptions { threads: 1 };
    let mut batched = SileroVad::open(&model, opts).unwrap();
    assert!(batched.is_batched(), "silero-vad 6's graph is batched");
    let mut single = SileroVad::open(&model, opts).unwrap().per_chunk().unwrap();
    assert!(!single.is_batched());

    // Speech, then speech again after the state has run on (two clips back to back), ending
    // in a partial chunk.
    let mut audio = wav("media/jfk.wav");
    audio.extend(wav("media/sense_and_sensibility_01_austen_64kb-0880.wav"));
    audio.truncate(audio.len() / CHUNK * CHUNK - 100);

    let want: Vec<f32> = audio
        .chunks(CHUNK)
        .map(|c| single.probability(c).unwrap())
        .collect();
    // Blocks of 1, 7, 64 and 200 chunks, then the rest (with the partial chunk).
    let mut got = Vec::new();
    let mut at = 0;
    for n in [1, 7, 64, 200] {
        got.extend(batched.probabilities(&audio[at..at + n * CHUNK]).unwrap());
        at += n * CHUNK;
    }
    got.extend(batched.probabilities(&audio[at..]).unwrap());
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("{} chunks, max difference {worst}", got.len());
    assert!(worst < 1e-4, "max difference {worst}");
    // The test means something: speech and silence are both there.
    assert!(want.iter().any(|&p| p > 0.9) && want.iter().any(|&p| p < 0.1));
    assert!(batched.probabilities(&[]).unwrap().is_empty());
    // One chunk at a time through the batched form: the same again.
    batched.reset();
    single.reset();
    for c in audio[..CHUNK * 20].chunks(CHUNK) {
        let (a, b) = (
            batched.probability(c).unwrap(),
            single.probability(c).unwrap(),
        );
        assert!((a - b).abs() < 1e-4, "{a} {b}");
    }

    // reset() starts afresh in both forms.
    batched.reset();
    single.reset();
    let a = batched.probabilities(&audio[..CHUNK * 40]).unwrap();
    let b: Vec<f32> = audio[..CHUNK * 40]
        .chunks(CHUNK)
        .map(|c| single.probability(c).unwrap())
        .collect();
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-4));
}
