//! A plan with both `vad` and `transcribe` scores the audio with Silero once (transcribe hands
//! its probabilities to vad), and vad's spans are exactly those of vad alone. Alone in its test
//! binary: it counts Silero's runs in the process.
mod common;
use common::need;
use std::path::PathBuf;

use vx_pipeline::engine::{run_file, EngineOptions, Task};
use vx_pipeline::ops;
use vx_pipeline::runner::{Runner, RunnerOptions};

#[test]
fn vad_and_transcribe_score_the_audio_once() {
    let wav = need("media/jfk.wav");
    let vad_model = need("models/silero_vad.onnx");
    let whisper = need("models/whisper-tiny.en.ggml.bin");
    let model_for = |op: &str| -> vx_pipeline::Result<PathBuf> {
        Ok(if op == "vad" {
            vad_model.clone()
        } else {
            whisper.clone()
        })
    };
    let dir = std::env::temp_dir().join(format!("vx-shared-vad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let runner = Runner::new(
        "[vad,transcribe]",
        &model_for,
        RunnerOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap();

    let calls = vx_infer::vad::probability_calls;
    let before = calls();
    let tasks = runner.tasks(&dir, &[0, 1]).unwrap();
    let mut run = run_file(&wav, tasks, &mut EngineOptions::default()).unwrap();
    let together = calls() - before;
    let shared: ops::vad::VadReport = run.ops[0].output.take().unwrap().take().unwrap();
    let t: ops::transcribe::Transcript = run.ops[1].output.take().unwrap().take().unwrap();
    assert!(
        t.text.to_lowercase().contains("ask not what your country"),
        "{}",
        t.text
    );

    let before = calls();
    let alone = ops::vad::Vad::new(&vad_model, 0.5, 1).unwrap();
    let mut run = run_file(
        &wav,
        vec![Task {
            op: Box::new(alone),
            input: None,
        }],
        &mut EngineOptions::default(),
    )
    .unwrap();
    let by_itself = calls() - before;
    let alone: ops::vad::VadReport = run.ops[0].output.take().unwrap().take().unwrap();

    // 11 s at 16 kHz in chunks of 512 samples: 344 runs of Silero, not twice that.
    assert_eq!(by_itself, 344);
    assert_eq!(together, by_itself);
    assert!(!alone.speech.is_empty());
    assert_eq!(shared.speech, alone.speech);
    assert_eq!(shared.duration, alone.duration);
    let _ = std::fs::remove_dir_all(&dir);
}
