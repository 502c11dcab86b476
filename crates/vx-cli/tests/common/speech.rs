//! Helpers of the transcription tests: `vx transcribe` with the shared tiny.en model, one
//! whisper run at a time, and word error counting.
use super::*;

/// whisper.cpp's worker threads spin at barriers; two whisper runs at once on this 2-core
/// machine each lose most of their time slices to the other's spinning (the suite took 97 s
/// instead of 8). The tests here run whisper one at a time.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn transcribe(input: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let _one_at_a_time = serial();
    let mut args = vec![
        "transcribe".to_string(),
        input.display().to_string(),
        "--model".into(),
        need("models/whisper-tiny.en.ggml.bin")
            .display()
            .to_string(),
        "--vad-model".into(),
        need("models/silero_vad.onnx").display().to_string(),
        "--language".into(),
        "en".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    vx().args(&args).output().unwrap()
}

pub fn json(input: &std::path::Path) -> serde_json::Value {
    let o = transcribe(input, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Lower case, no punctuation, hyphens split, "mr" spelled out.
pub fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .replace('-', " ")
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .split_whitespace()
        .map(|w| {
            if w == "mr" {
                "mister".to_string()
            } else {
                w.to_string()
            }
        })
        .collect()
}

/// Word-level edit distance.
pub fn edits(a: &[String], b: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (x != y) as usize)
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
