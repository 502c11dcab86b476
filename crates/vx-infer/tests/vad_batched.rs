//! Silero scored many chunks per model call (`SileroVad::probabilities`, the encoder batched
//! and the LSTM in Rust) gives the probabilities of one whole-model call per chunk, whatever
//! the blocks the audio arrives in.
mod common;
use common::{need, wav};
use vx_infer::runtime::SessionOptions;
use vx_infer::vad::{SileroVad, CHUNK};

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
    // Blocks of 1, 7, 64 and 300 chunks, then the rest (with the partial chunk).
    let mut got = Vec::new();
    let mut at = 0;
    // 300 > the 256 chunks the batched encoder takes per call.
    for n in [1, 7, 64, 300] {
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
    // An empty chunk is a chunk of silence on both paths.
    let (a, b) = (
        batched.probability(&[]).unwrap(),
        single.probability(&[]).unwrap(),
    );
    assert!((a - b).abs() < 1e-4, "{a} {b}");
    let (a, b) = (
        batched.probability(&audio[..CHUNK]).unwrap(),
        single.probability(&audio[..CHUNK]).unwrap(),
    );
    assert!((a - b).abs() < 1e-4, "{a} {b}");

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

fn swap(model: &mut [u8], a: &[u8], b: &[u8]) {
    assert_eq!(a.len(), b.len());
    let mut i = 0;
    while i + a.len() <= model.len() {
        if &model[i..i + a.len()] == a {
            model[i..i + a.len()].copy_from_slice(b);
            i += a.len();
        } else if &model[i..i + b.len()] == b {
            model[i..i + b.len()].copy_from_slice(a);
            i += b.len();
        } else {
            i += 1;
        }
    }
}

/// A model whose graph looks batchable but is not what the batched form assumes (here: the
/// LSTM's input and recurrent weights under each other's names, which the whole model does not
/// mind) fails the probe at open and is scored one whole-model call per chunk: the same
/// probabilities, never wrong ones.
#[test]
fn a_model_that_fails_the_probe_is_scored_per_chunk() {
    let model = need("models/silero_vad.onnx");
    let mut bytes = std::fs::read(&model).unwrap();
    swap(&mut bytes, b"rnn.weight_ih", b"rnn.weight_hh");
    let dir = std::env::temp_dir().join(format!("vx-vad-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let odd = dir.join("silero_swapped.onnx");
    std::fs::write(&odd, &bytes).unwrap();
    let opts = SessionOptions { threads: 1 };
    let mut swapped = SileroVad::open(&odd, opts).unwrap();
    assert!(
        !swapped.is_batched(),
        "the probe must catch swapped weights"
    );
    let mut original = SileroVad::open(&model, opts).unwrap();
    assert!(original.is_batched());
    let audio = wav("media/jfk.wav");
    let a = swapped.probabilities(&audio).unwrap();
    let b = original.probabilities(&audio).unwrap();
    assert_eq!(a.len(), b.len());
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-4));
    std::fs::remove_dir_all(&dir).ok();
}
