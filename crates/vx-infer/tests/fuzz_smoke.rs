//! Stable-toolchain fuzzing of the ONNX protobuf reader (vx_infer::onnx_graph, the
//! `onnx_graph` cargo-fuzz target): a real model from ../shared/assets, truncated, with bytes
//! flipped or junk inserted, deterministic seeds. A panic fails the test; the unmutated model
//! must still parse.
mod common;
use common::need;
use vx_infer::onnx_graph::{constants, extract, inline_branch, node_outputs, scalar_floats};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_models_never_panic() {
    let path = need("models/silero_vad.onnx");
    let model = std::fs::read(&path).unwrap();
    // The real model parses; asking for a tensor it lacks is "not this model", not an error.
    assert_eq!(extract(&model, &["no such tensor"]), Ok(None));
    scalar_floats(&model, |_| true).unwrap();
    // Its 16 kHz branch inlined: the LSTM's weights are readable (what SileroVad batches).
    let branch = inline_branch(&model, "then_branch").unwrap().unwrap();
    assert!(node_outputs(&branch)
        .unwrap()
        .iter()
        .any(|n| n.ends_with("/encoder/3/activation/Relu_output_0")));
    let found = constants(&branch, |n| n.ends_with("decoder.rnn.weight_ih")).unwrap();
    let [(_, dims, values)] = &found[..] else {
        panic!("one weight_ih, got {}", found.len());
    };
    assert_eq!((dims.clone(), values.len()), (vec![512, 128], 512 * 128));
    assert_eq!(inline_branch(&model, "no_branch"), Ok(None));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut errors = 0;
    for round in 0..300 {
        let mut m = model.clone();
        match round % 3 {
            0 => m.truncate(rng.below(model.len())),
            1 => {
                for _ in 0..1 + rng.below(16) {
                    // Mostly near the start, where the structure (tags, lengths) is dense.
                    let at = if rng.below(2) == 0 {
                        rng.below(4096.min(m.len()))
                    } else {
                        rng.below(m.len())
                    };
                    m[at] = rng.next() as u8;
                }
            }
            _ => {
                let at = rng.below(m.len());
                let len = rng.below(64);
                let junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                m.splice(at..at, junk);
            }
        }
        let names: Vec<String> = scalar_floats(&m, |_| true)
            .map(|v| v.into_iter().map(|(n, _)| n).collect())
            .unwrap_or_default();
        let wanted: Vec<&str> = names.iter().map(String::as_str).take(2).collect();
        if extract(&m, &wanted).is_err() {
            errors += 1;
        }
        if let Ok(Some(b)) = inline_branch(&m, "then_branch") {
            let _ = node_outputs(&b);
            let _ = constants(&b, |_| true);
        }
    }
    // Truncation alone breaks most of them: the reader did see malformed input.
    assert!(errors > 50, "only {errors} malformed inputs detected");
}
