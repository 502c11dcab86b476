//! Regressions from the adversarial pass over audio, transcription and models (2026-12-02):
//! each test reproduces a finding with the input that showed it.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn models() -> PathBuf {
    need("models/silero_vad.onnx")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The first 3 s of jfk.wav.
fn jfk3(d: &TempDir) -> PathBuf {
    let p = d.path("jfk3.wav");
    ffmpeg(&["-i", s(&need("media/jfk.wav")), "-t", "3", s(&p)]);
    p
}

/// `--threads` above the cores: whisper.cpp keeps to the cores (its threads spin: 8 threads
/// on 2 cores took 69 s for 0.3 s of work).
#[test]
fn more_threads_than_cores_do_not_stall_whisper() {
    let d = TempDir::new("ah-threads");
    let wav = jfk3(&d);
    let model = need("models/whisper-tiny.en.ggml.bin");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let t = Instant::now();
    let o = run_vx(&[
        "-q",
        "transcribe",
        s(&wav),
        "-m",
        s(&model),
        "--no-vad",
        "--threads",
        &(cores * 4).to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("fellow"));
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

/// Default models come from the model directory only: junk of the same name in the working
/// directory was taken first (and failed).
#[test]
fn default_models_are_not_taken_from_the_working_directory() {
    let d = TempDir::new("ah-cwd");
    let wav = jfk3(&d);
    let cwd = d.path("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    for n in ["silero_vad.onnx", "all-MiniLM-L6-v2-int8.onnx"] {
        std::fs::write(cwd.join(n), "junk").unwrap();
    }
    let o = vx()
        .current_dir(&cwd)
        .env("VX_MODEL_DIR", models())
        .args(["-q", "vad", s(&wav)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = vx()
        .current_dir(&cwd)
        .env("VX_MODEL_DIR", models())
        .args(["-q", "embed-text", "hello"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `--stream-output` onto a full standard output fails (segments were lost, exit 0).
#[test]
fn streamed_segments_that_cannot_be_written_fail_the_run() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = vx()
        .args([
            "-q",
            "transcribe",
            s(&need("media/jfk.wav")),
            "-m",
            s(&need("models/whisper-tiny.en.ggml.bin")),
            "--vad-model",
            s(&need("models/silero_vad.onnx")),
            "--stream-output",
        ])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("standard output"), "{}", stderr(&o));
}

/// 16-bit PCM WAV of `samples` at `rate` (a 1000-valued tone).
fn tiny_wav(p: &Path, rate: u32, samples: usize) {
    let data: Vec<u8> = std::iter::repeat_n(1000i16.to_le_bytes(), samples)
        .flatten()
        .collect();
    let mut h = Vec::new();
    h.extend(b"RIFF");
    h.extend((36 + data.len() as u32).to_le_bytes());
    h.extend(b"WAVEfmt ");
    h.extend(16u32.to_le_bytes());
    h.extend(1u16.to_le_bytes());
    h.extend(1u16.to_le_bytes());
    h.extend(rate.to_le_bytes());
    h.extend((rate * 2).to_le_bytes());
    h.extend(2u16.to_le_bytes());
    h.extend(16u16.to_le_bytes());
    h.extend(b"data");
    h.extend((data.len() as u32).to_le_bytes());
    h.extend(data);
    std::fs::write(p, h).unwrap();
}

/// Audio too short for one sample at the rate asked is empty audio, not damage ("0 of 1
/// audio packets failed to decode", exit 1); a range without audio gives embed-audio no
/// window (one made-up window at 0.0).
#[test]
fn audio_shorter_than_a_sample_is_empty_not_damaged() {
    let d = TempDir::new("ah-short");
    let w = d.path("h10.wav");
    tiny_wav(&w, 44_100, 10);
    let vad = need("models/silero_vad.onnx");
    let o = run_vx(&["-q", "vad", s(&w), "-m", s(&vad)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["speech"].as_array().unwrap().len(), 0, "{v}");
    let out = d.path("x.wav");
    let o = run_vx(&["-q", "audio", s(&w), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::metadata(&out).unwrap().len() >= 44);
    // embed-audio over a range before the audio starts (a video whose audio begins at 2 s).
    let late = d.path("late.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=64x48:r=10:d=5",
        "-itsoffset",
        "2",
        "-i",
        s(&jfk3(&d)),
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        s(&late),
    ]);
    let sfx = need("models/sfx_embedding.onnx");
    let o = run_vx(&[
        "-q",
        "embed-audio",
        s(&late),
        "-m",
        s(&sfx),
        "--start",
        "0.5",
        "--end",
        "1.5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let windows = v["windows"].as_array().map_or(0, Vec::len);
    assert_eq!(windows, 0, "{v}");
}

/// A failed embed-audio run (its JSON cannot be written) leaves no .npy behind.
#[test]
fn a_failed_embed_audio_leaves_no_npy() {
    let d = TempDir::new("ah-npy");
    let wav = jfk3(&d);
    let npy = d.path("e.npy");
    let o = run_vx(&[
        "-q",
        "embed-audio",
        s(&wav),
        "-m",
        s(&need("models/sfx_embedding.onnx")),
        "-o",
        "/dev/full",
        "--npy",
        s(&npy),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!npy.exists());
}

/// `vx doctor` checks that the default models load (it said "every command is ready" over a
/// truncated whisper file and junk under Silero's name).
#[test]
fn doctor_finds_models_that_do_not_load() {
    let d = TempDir::new("ah-doctor");
    let dir = d.path("models");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(models()).unwrap() {
        let p = e.unwrap().path();
        std::os::unix::fs::symlink(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::remove_file(dir.join("silero_vad.onnx")).unwrap();
    std::fs::write(dir.join("silero_vad.onnx"), "junk").unwrap();
    let o = vx()
        .env("VX_MODEL_DIR", &dir)
        .args(["doctor"])
        .output()
        .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("silero_vad.onnx"), "{all}");
}
