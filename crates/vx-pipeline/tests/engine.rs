//! The engine without the binary: operations written here (not the product's) are pushed the
//! frames and audio of files made with the ffmpeg CLI. One pass, bounded queues, a failing
//! operation that does not stop the others, and a picture converted once for two operations.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use vx_media::source::AudioSpec;
use vx_pipeline::engine::{run_file, EngineOptions, Status, Task};
use vx_pipeline::frame::Frame;
use vx_pipeline::op::{Emit, End, Flow, Input, Needs, Operation, Output, Select};
use vx_pipeline::{Error, Result};

fn clip(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vx-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    if !p.exists() {
        let ok = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-nostdin",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25:d=4",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=16000:d=4",
                "-c:v",
                "libx264",
                "-g",
                "25",
                "-c:a",
                "aac",
            ])
            .arg(&p)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    p
}

// (Each test makes its own clip: tests run in parallel.)

/// Counts what it is given; optionally slow, failing after some frames, or converting.
struct Probe {
    name: &'static str,
    needs: Needs,
    frames: Arc<AtomicUsize>,
    samples: Arc<AtomicUsize>,
    fail_after: Option<usize>,
    sleep_ms: u64,
    rgb: Option<(u32, u32)>,
    conversions_seen: Arc<AtomicUsize>,
}

impl Probe {
    fn new(name: &'static str, needs: Needs) -> Probe {
        Probe {
            name,
            needs,
            frames: Arc::default(),
            samples: Arc::default(),
            fail_after: None,
            sleep_ms: 0,
            rgb: None,
            conversions_seen: Arc::default(),
        }
    }
}

impl Operation for Probe {
    fn name(&self) -> &'static str {
        self.name
    }
    fn needs(&mut self, _: &Input) -> Needs {
        self.needs
    }
    fn video(&mut self, frame: &Frame, _: &mut dyn Emit) -> Result<Flow> {
        let n = self.frames.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(size) = self.rgb {
            let pic = frame.rgb(Some(size)).map_err(Error::Usage)?;
            assert_eq!((pic.width, pic.height), (size.0 as usize, size.1 as usize));
            self.conversions_seen
                .fetch_max(frame.conversions(), Ordering::SeqCst);
        }
        std::thread::sleep(std::time::Duration::from_millis(self.sleep_ms));
        if self.fail_after.is_some_and(|f| n >= f) {
            return Err(Error::Usage("deliberate failure".into()));
        }
        Ok(Flow::Continue)
    }
    fn audio(&mut self, samples: &[f32], _: f64) -> Result<Flow> {
        self.samples.fetch_add(samples.len(), Ordering::SeqCst);
        Ok(Flow::Continue)
    }
    fn finish(self: Box<Self>, end: &End) -> Result<Output> {
        Ok(Output::new(serde_json::json!({
            "samples": end.audio_samples,
            "handed_on": end.handed_on,
            "producer_failed": end.producer_failed,
            "nothing_to_do": end.nothing_to_do(true),
        })))
    }
}

/// An operation after a producer learns whether the producer handed on nothing (nothing to
/// do: an empty result) or failed (its own failure, not "nothing to do": a failed keyframes
/// made the detect after it an empty "ok").
#[test]
fn a_failed_producer_is_not_an_empty_one() {
    let f = clip("producer.mp4");
    let all = || Needs {
        video: Some(Select::All),
        audio: None,
        subtitles: false,
    };
    for fails in [false, true] {
        let mut producer = Probe::new("producer", all());
        if fails {
            producer.fail_after = Some(1);
        }
        let tasks = vec![
            Task {
                op: Box::new(producer),
                input: None,
            },
            Task {
                op: Box::new(Probe::new("after", all())),
                input: Some(0),
            },
        ];
        let mut run = run_file(&f, tasks, &mut EngineOptions::default()).unwrap();
        let after = run.ops[1].output.take().unwrap().report.to_json();
        assert_eq!(after["handed_on"], 0, "{after}");
        assert_eq!(after["producer_failed"], fails, "{after}");
        if fails {
            assert!(after["nothing_to_do"].is_null(), "{after}");
        } else {
            assert!(after["nothing_to_do"]
                .as_str()
                .unwrap()
                .contains("handed on no frame"));
        }
    }
}

fn ffprobe_count(file: &Path, what: &str) -> usize {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-select_streams",
            what,
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    s.trim().parse().unwrap()
}

#[test]
fn one_pass_feeds_every_operation_and_a_failure_stays_local() {
    let f = clip("a.mp4");
    let all = Probe::new(
        "all",
        Needs {
            video: Some(Select::All),
            audio: None,
            subtitles: false,
        },
    );
    let key = Probe::new(
        "key",
        Needs {
            video: Some(Select::Key),
            audio: None,
            subtitles: false,
        },
    );
    let mut bad = Probe::new(
        "bad",
        Needs {
            video: Some(Select::All),
            audio: None,
            subtitles: false,
        },
    );
    bad.fail_after = Some(3);
    let audio = Probe::new("audio", Needs::mono(16_000));
    let (n_all, n_key, n_bad, n_audio) = (
        all.frames.clone(),
        key.frames.clone(),
        bad.frames.clone(),
        audio.samples.clone(),
    );
    let tasks = vec![
        Task {
            op: Box::new(all),
            input: None,
        },
        Task {
            op: Box::new(key),
            input: None,
        },
        Task {
            op: Box::new(bad),
            input: None,
        },
        Task {
            op: Box::new(audio),
            input: None,
        },
    ];
    let run = run_file(&f, tasks, &mut EngineOptions::default()).unwrap();
    assert_eq!(run.stats.opens, 1);
    assert_eq!(n_all.load(Ordering::SeqCst), 100);
    assert_eq!(n_key.load(Ordering::SeqCst), 4);
    assert_eq!(
        n_bad.load(Ordering::SeqCst),
        3,
        "nothing is sent after an error"
    );
    assert_eq!(
        n_audio.load(Ordering::SeqCst),
        64_000,
        "4 s at 16 kHz, exactly"
    );
    let status: Vec<_> = run.ops.iter().map(|o| o.status.clone()).collect();
    assert_eq!(status[0], Status::Ok);
    assert!(
        matches!(&status[2], Status::Error(e) if e.contains("deliberate")),
        "{status:?}"
    );
    assert_eq!(status[3], Status::Ok);
    // Every packet of both streams read once.
    let packets = ffprobe_count(&f, "v:0") + ffprobe_count(&f, "a:0");
    assert_eq!(run.stats.packets, packets);
}

#[test]
fn a_slow_operation_slows_decoding_instead_of_queueing() {
    let f = clip("slow.mp4");
    let mut slow = Probe::new(
        "slow",
        Needs {
            video: Some(Select::All),
            audio: None,
            subtitles: false,
        },
    );
    slow.sleep_ms = 5;
    let mut opts = EngineOptions {
        queue: 2,
        debug: true,
        ..Default::default()
    };
    let run = run_file(
        &f,
        vec![Task {
            op: Box::new(slow),
            input: None,
        }],
        &mut opts,
    )
    .unwrap();
    let d = run.debug.unwrap();
    let max = d.queue_samples.iter().map(|(_, q)| q[0]).max().unwrap();
    assert!(max <= 2, "queue grew to {max}");
    // The decoder waited for the operation: most of 100 x 5 ms.
    assert!(run.stats.blocked_ms > 250.0, "{:?}", run.stats);
}

#[test]
fn two_operations_share_one_conversion() {
    let f = clip("share.mp4");
    let mut a = Probe::new(
        "a",
        Needs {
            video: Some(Select::Key),
            audio: None,
            subtitles: false,
        },
    );
    let mut b = Probe::new(
        "b",
        Needs {
            video: Some(Select::Key),
            audio: None,
            subtitles: false,
        },
    );
    a.rgb = Some((64, 48));
    b.rgb = Some((64, 48));
    let (ca, cb) = (a.conversions_seen.clone(), b.conversions_seen.clone());
    let run = run_file(
        &f,
        vec![
            Task {
                op: Box::new(a),
                input: None,
            },
            Task {
                op: Box::new(b),
                input: None,
            },
        ],
        &mut EngineOptions::default(),
    )
    .unwrap();
    assert!(run.ops.iter().all(|o| o.status == Status::Ok));
    assert_eq!(ca.load(Ordering::SeqCst), 1);
    assert_eq!(cb.load(Ordering::SeqCst), 1);
}

#[test]
fn missing_streams_skip_their_operations() {
    let dir = std::env::temp_dir().join(format!("vx-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("tone.wav");
    assert!(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-nostdin", "-f", "lavfi", "-i", "sine=d=1"])
        .arg(&wav)
        .status()
        .unwrap()
        .success());
    let v = Probe::new(
        "v",
        Needs {
            video: Some(Select::Key),
            audio: None,
            subtitles: false,
        },
    );
    let a = Probe::new(
        "a",
        Needs {
            video: None,
            audio: Some(AudioSpec {
                rate: 8000,
                channels: 2,
            }),
            subtitles: false,
        },
    );
    let run = run_file(
        &wav,
        vec![
            Task {
                op: Box::new(v),
                input: None,
            },
            Task {
                op: Box::new(a),
                input: None,
            },
        ],
        &mut EngineOptions::default(),
    )
    .unwrap();
    assert_eq!(run.ops[0].status, Status::Skipped("no video stream".into()));
    assert_eq!(run.ops[1].status, Status::Ok);
    let o = run.ops.into_iter().nth(1).unwrap().output.unwrap();
    assert_eq!(o.report.to_json()["samples"], 8000);
}

#[test]
fn every_step_takes_one_frame_per_interval() {
    // Regression: the sample taken at 0.6 (0.2 * 3 in floating point) left 0.6000000000000001
    // as the next one, so the frame after it was taken too: 47 frames for 6 s of 25 fps at
    // --every 0.2, 75 instead of 60 at 0.1. Times as a decoder gives them (pts / 12800).
    use vx_pipeline::engine::every_takes;
    for (step, want) in [
        (0.2, 30usize),
        (0.1, 60),
        (0.5, 12),
        (1.0 / 3.0, 18),
        (2.0, 3),
    ] {
        let mut next = None;
        let taken: Vec<f64> = (0..150)
            .map(|i| (i * 512) as f64 / 12800.0)
            .filter(|t| every_takes(&mut next, step, Some(*t)))
            .collect();
        assert_eq!(taken.len(), want, "step {step}: {taken:?}");
        // One per interval: each taken frame is the first at or after its multiple.
        for (k, t) in taken.iter().enumerate() {
            let due = k as f64 * step;
            assert!(
                *t + 1e-6 >= due && *t < due + 0.04 + 1e-6,
                "step {step}: {taken:?}"
            );
        }
    }
    // A clip starting at 1.43 s: the multiples count from its first frame.
    let mut next = None;
    let taken: Vec<f64> = (0..50)
        .map(|i| 1.43 + i as f64 * 0.04)
        .filter(|t| every_takes(&mut next, 0.5, Some(*t)))
        .collect();
    assert_eq!(taken.len(), 4, "{taken:?}");
}
