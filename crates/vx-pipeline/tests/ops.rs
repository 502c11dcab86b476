//! The product's operations driven directly, without the binary or a file to demux: synthetic
//! pictures (`VideoFrame::from_rgb`) and audio samples are pushed into each operation through
//! its contract (needs → video/audio → finish), and the reports are checked on content.
mod common;
use common::need;
use std::path::{Path, PathBuf};
use std::process::Command;

use vx_media::source::VideoFrame;
use vx_pipeline::frame::Frame;
use vx_pipeline::op::{Emit, End, Flow, Input, Operation, Output};
use vx_pipeline::ops;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vx-ops-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn input(still: bool, video: bool, audio: bool, duration: Option<f64>) -> Input {
    Input {
        path: PathBuf::from("synthetic"),
        still,
        has_video: video,
        has_audio: audio,
        duration,
        start: 0.0,
        probe: None,
    }
}

/// Collects what an operation hands on to later stages.
#[derive(Default)]
struct Collect(Vec<Frame>);
impl Emit for Collect {
    fn emit(&mut self, frame: Frame) {
        self.0.push(frame);
    }
}

/// A picture decoded by the ffmpeg CLI to packed RGB24.
fn rgb_of(image: &Path) -> (u32, u32, Vec<u8>) {
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(image)
        .output()
        .unwrap();
    let dims = String::from_utf8(probe.stdout).unwrap();
    let mut it = dims.trim().split(',').map(|v| v.parse::<u32>().unwrap());
    let (w, h) = (it.next().unwrap(), it.next().unwrap());
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(image)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_eq!(o.stdout.len(), (w * h * 3) as usize);
    (w, h, o.stdout)
}

/// jfk.wav (16 kHz mono s16) as f32 samples (from byte 44 on: the audio test compares the
/// bytes written with the file's from there).
fn jfk() -> Vec<f32> {
    let b = std::fs::read(need("media/jfk.wav")).unwrap();
    b[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0)
        .collect()
}

/// A 16 kHz mono s16 WAV of the shared media as f32 samples.
fn wav(rel: &str) -> Vec<f32> {
    let b = std::fs::read(need(rel)).unwrap();
    let at = b.windows(4).position(|w| w == b"data").unwrap() + 8;
    b[at..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0)
        .collect()
}

/// Transcription with the shared Silero VAD, greedy, language from the model.
fn transcribe_options(
    threads: usize,
    on_segment: Option<ops::transcribe::OnSegment>,
) -> ops::transcribe::TranscribeOptions {
    ops::transcribe::TranscribeOptions {
        on_segment,
        on_batch: None,
        language: None,
        threads,
        full_context: false,
        vad_model: Some(need("models/silero_vad.onnx")),
        prompt: None,
        beam_size: 1,
        words: false,
        translate: false,
        temperature: 0.0,
        fallback: true,
    }
}

/// Tests that run whisper take turns (ggml's threads spin: two runs on 2 cores crawl).
fn whisper_turn() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Push `samples` in 1 s blocks starting at `offset`, then finish.
fn push_audio(mut op: Box<dyn Operation>, samples: &[f32], offset: f64) -> Output {
    let _ = op.needs(&input(
        false,
        false,
        true,
        Some(samples.len() as f64 / 16000.0),
    ));
    for (i, block) in samples.chunks(16000).enumerate() {
        let t = offset + i as f64;
        assert_eq!(op.audio(block, t).unwrap(), Flow::Continue);
    }
    let end = End {
        audio_samples: samples.len() as u64,
        ..Default::default()
    };
    op.finish(&end).unwrap()
}

/// A 64x48 picture: `color` on the left (vertical split) or top (horizontal split) half,
/// white elsewhere.
fn split(color: [u8; 3], vertical: bool, time: f64) -> Frame {
    let mut f = vec![0u8; 64 * 48 * 3];
    for (p, px) in f.chunks_exact_mut(3).enumerate() {
        let (x, y) = (p % 64, p / 64);
        let inside = if vertical { x < 32 } else { y < 24 };
        px.copy_from_slice(&if inside { color } else { [255, 255, 255] });
    }
    Frame::new(VideoFrame::from_rgb(64, 48, &f, Some(time), true).unwrap())
}

#[test]
fn keyframes_writes_dedups_and_hands_frames_on() {
    let dir = tmp("kf");
    let mut op = Box::new(
        ops::keyframes::Keyframes::new(
            ops::keyframes::KeyframeOptions {
                dedup: Some(4),
                ..Default::default()
            },
            &dir,
        )
        .unwrap(),
    );
    let _ = op.needs(&input(false, true, false, Some(3.0)));
    let mut out = Collect::default();
    // The second picture repeats the first (dropped by --dedup); the third differs.
    for f in [
        split([200, 30, 30], true, 0.0),
        split([200, 30, 30], true, 1.0),
        split([30, 30, 200], false, 2.0),
    ] {
        assert_eq!(op.video(&f, &mut out).unwrap(), Flow::Continue);
    }
    let tags: Vec<&str> = out.0.iter().filter_map(|f| f.tag.as_deref()).collect();
    assert_eq!(tags, ["kf-000000.jpg", "kf-000002.jpg"]);
    let end = End {
        video: Some(vx_media::source::VideoInfo {
            stream_index: 0,
            codec: "rawvideo".into(),
            width: 64,
            height: 48,
            pix_fmt: "rgb24".into(),
            rotation: 0,
            time_base: "1/1".into(),
            frame_rate: None,
            duration: Some(3.0),
        }),
        ..Default::default()
    };
    let out = op.finish(&end).unwrap();
    let r: ops::keyframes::KeyframesReport = out.take().unwrap();
    assert_eq!(r.stats.skipped_duplicate, 1);
    let times: Vec<Option<f64>> = r.keyframes.iter().map(|k| k.time).collect();
    assert_eq!(times, [Some(0.0), Some(2.0)]);
    // The first image is the red-and-white picture (JPEG: close, not exact).
    let (w, h, px) = rgb_of(&dir.join("kf-000000.jpg"));
    assert_eq!((w, h), (64, 48));
    let at = |x: usize, y: usize| &px[(y * 64 + x) * 3..(y * 64 + x) * 3 + 3];
    assert!(at(10, 20)
        .iter()
        .zip([200, 30, 30])
        .all(|(a, b)| (*a as i32 - b).abs() < 12));
    assert!(at(50, 20).iter().all(|a| *a > 240));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `scenes` hands one frame per scene to later stages: its middle frame (at this size the
/// sample holds 256 frames: exact), the last scene's once the file has ended (`flush`). Both
/// content detectors, one cut learned as it happens, the other (`adaptive`) two frames late.
/// (The sample's bound on long scenes: the unit tests of `ops::scenes`.)
#[test]
fn scenes_hand_on_the_frame_nearest_each_middle() {
    // Red 20 frames, dark grey 100, blue 17: cuts at 20 and 120.
    let colour = |i: usize| match i {
        0..=19 => [220u8, 40, 40],
        20..=119 => [40, 40, 40],
        _ => [40, 40, 220],
    };
    for opts in [
        ops::scenes::SceneOptions::content(),
        ops::scenes::SceneOptions::adaptive(),
    ] {
        let detector = opts.detector;
        let mut op = Box::new(ops::scenes::Scenes::new(opts).unwrap());
        let _ = op.needs(&input(false, true, false, Some(137.0 / 25.0)));
        let mut out = Collect::default();
        for i in 0..137 {
            let px: Vec<u8> = colour(i).repeat(64 * 48);
            let f = VideoFrame::from_rgb(64, 48, &px, Some(i as f64 / 25.0), true).unwrap();
            let f = Frame::new(f);
            assert_eq!(op.video(&f, &mut out).unwrap(), Flow::Continue);
        }
        op.flush(&End::default(), &mut out).unwrap();
        let frames: Vec<usize> = out
            .0
            .iter()
            .map(|f| (f.time.unwrap() * 25.0).round() as usize)
            .collect();
        let r: ops::scenes::ScenesReport = op.finish(&End::default()).unwrap().take().unwrap();
        let spans: Vec<(usize, usize)> = r
            .scenes
            .iter()
            .map(|s| (s.start_frame, s.end_frame))
            .collect();
        assert_eq!(spans, [(0, 19), (20, 119), (120, 136)], "{detector:?}");
        assert_eq!(frames, [9, 69, 128], "{detector:?}");
    }
}

/// The shared CenterFace model, single-threaded.
fn centerface() -> ops::detect::SharedDetector {
    let model = need("models/centerface.onnx");
    let det = vx_infer::detect::Detector::open(
        &model,
        Some(vx_infer::detect::Family::CenterFace),
        vx_infer::detect::Labels::default(),
        vx_infer::runtime::SessionOptions { threads: 1 },
    )
    .unwrap();
    ops::detect::SharedDetector::new(&model, det)
}

#[test]
fn faces_on_a_pushed_picture_and_on_video_frames() {
    let shared = centerface();
    let (w, h, px) = rgb_of(&need("media/zidane.jpg"));
    for still in [true, false] {
        let mut op: Box<dyn Operation> = Box::new(ops::detect::Detect::new(
            "faces",
            shared.clone(),
            ops::detect::DetectOptions::default(),
        ));
        let _ = op.needs(&input(still, true, false, None));
        let frame = Frame::new(VideoFrame::from_rgb(w, h, &px, Some(2.5), true).unwrap());
        op.video(&frame, &mut Collect::default()).unwrap();
        let out = op.finish(&End::default()).unwrap();
        let r: ops::detect::DetectReport = out.take().unwrap();
        let res = &r.results[0];
        assert_eq!((res.width, res.height), (1280, 720));
        assert_eq!(res.time, if still { None } else { Some(2.5) });
        // zidane.jpg: two faces, the larger one right of centre (PROVENANCE.md §5).
        let faces: Vec<_> = res.detections.iter().filter(|d| d.score > 0.7).collect();
        assert_eq!(faces.len(), 2, "{faces:?}");
        assert!(faces.iter().any(|d| d.bbox.x > 850.0 && d.bbox.x < 960.0));
        assert!(faces
            .iter()
            .all(|d| d.landmarks.as_ref().is_some_and(|l| l.len() == 5)));
    }
}

#[test]
fn audio_operations_on_pushed_samples() {
    let samples = jfk();
    // vad: the spans of jfk.wav, moved by the offset the first block came with.
    let vad = ops::vad::Vad::new(&need("models/silero_vad.onnx"), 0.5, 1).unwrap();
    let out = push_audio(Box::new(vad), &samples, 10.0);
    let r: ops::vad::VadReport = out.take().unwrap();
    assert!((r.duration - 11.0).abs() < 0.01);
    assert!((r.speech[0].start - 10.32).abs() < 0.05, "{:?}", r.speech);
    assert!(r.speech_seconds > 7.0 && r.speech_seconds < 10.0);
    assert!(r.complete && r.warnings.is_empty());

    // audio: the WAV holds exactly the pushed samples.
    let dir = tmp("audio");
    let wav = dir.join("a.wav");
    let op = ops::audio::Audio::new(vx_media::audio::AudioFormat::default(), &wav).unwrap();
    let out = push_audio(Box::new(op), &samples, 0.0);
    let r: ops::audio::AudioReport = out.take().unwrap();
    assert_eq!(r.samples, samples.len() as u64);
    let bytes = std::fs::read(&wav).unwrap();
    assert_eq!(bytes.len(), 44 + samples.len() * 2);
    assert_eq!(
        &bytes[44..],
        &std::fs::read(need("media/jfk.wav")).unwrap()[44..]
    );
    let _ = std::fs::remove_dir_all(&dir);

    // transcribe: the words, on the pushed timeline.
    let _turn = whisper_turn();
    let whisper =
        ops::transcribe::SharedWhisper::open(&need("models/whisper-tiny.en.ggml.bin")).unwrap();
    let op = ops::transcribe::Transcribe::new(whisper, transcribe_options(2, None)).unwrap();
    let out = push_audio(Box::new(op), &samples, 5.0);
    let t: ops::transcribe::Transcript = out.take().unwrap();
    let text = t.text.to_lowercase();
    assert!(
        text.contains("ask not what your country can do for you"),
        "{text}"
    );
    assert!(
        t.segments[0].start >= 5.0 && t.segments[0].start < 6.0,
        "{:?}",
        t.segments
    );
}

/// Several batches decoded by two workers at once come back complete and in time order (the
/// --stream-output callback too), with the transcript one worker gives.
#[test]
fn transcribe_batches_from_two_workers_in_order() {
    let _turn = whisper_turn();
    // Six clips with 3 s of silence between them: several VAD windows, several batches.
    let mut samples = Vec::new();
    for clip in [
        "media/jfk.wav",
        "media/sense_and_sensibility_01_austen_64kb-0870.wav",
        "media/sense_and_sensibility_01_austen_64kb-0880.wav",
        "media/sense_and_sensibility_01_austen_64kb-0890.wav",
        "media/sense_and_sensibility_01_austen_64kb-0920.wav",
        "media/sense_and_sensibility_01_austen_64kb-0930.wav",
    ] {
        samples.extend(wav(clip));
        samples.extend(std::iter::repeat_n(0.0f32, 48_000));
    }
    let whisper =
        ops::transcribe::SharedWhisper::open(&need("models/whisper-tiny.en.ggml.bin")).unwrap();
    let run = |threads: usize| {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(f64, String)>::new()));
        let log = seen.clone();
        let op = ops::transcribe::Transcribe::new(
            whisper.clone(),
            transcribe_options(
                threads,
                Some(ops::transcribe::OnSegment(std::sync::Arc::new(
                    move |s: &vx_infer::transcribe::Segment| {
                        log.lock().unwrap().push((s.start, s.text.clone()))
                    },
                ))),
            ),
        )
        .unwrap();
        let t: ops::transcribe::Transcript =
            push_audio(Box::new(op), &samples, 0.0).take().unwrap();
        let streamed = seen.lock().unwrap().clone();
        (t, streamed)
    };
    let (two, streamed) = run(2);
    let (one, _) = run(1);
    // Complete: words of the first clip and of the last.
    let text = two.text.to_lowercase();
    assert!(text.contains("what your country can do for you"), "{text}");
    assert!(
        two.segments.last().unwrap().start > 40.0,
        "{:?}",
        two.segments
    );
    // In time order, and streamed in the same order.
    assert!(
        two.segments.windows(2).all(|w| w[0].start <= w[1].start),
        "{:?}",
        two.segments
    );
    let reported: Vec<(f64, String)> = two
        .segments
        .iter()
        .map(|s| (s.start, s.text.clone()))
        .collect();
    assert_eq!(streamed, reported);
    // The same batches decoded by one worker: the same transcript.
    assert_eq!(one.text, two.text);
}

/// Regression: annotated pictures were named by the millisecond, so two frames with the same
/// time (a damaged file's repeated timestamps) wrote one file twice and listed it twice.
#[test]
fn annotated_frames_with_the_same_time_get_their_own_files() {
    let shared = centerface();
    let (w, h, px) = rgb_of(&need("media/zidane.jpg"));
    let dir = tmp("annotate-same-time");
    let mut op: Box<dyn Operation> = Box::new(ops::detect::Detect::new(
        "faces",
        shared,
        ops::detect::DetectOptions {
            annotate: Some(dir.join("ann")),
            blur: Some(dir.join("ann")),
            ..Default::default()
        },
    ));
    let _ = op.needs(&input(false, true, false, None));
    for t in [2.5, 2.5, 2.5004] {
        let frame = Frame::new(VideoFrame::from_rgb(w, h, &px, Some(t), true).unwrap());
        op.video(&frame, &mut Collect::default()).unwrap();
    }
    let out = op.finish(&End::default()).unwrap();
    let mut files = out.files.clone();
    // Three frames, an annotated and a blurred picture each, into one folder: six files.
    assert_eq!(files.len(), 6, "{files:?}");
    files.sort();
    files.dedup();
    assert_eq!(files.len(), 6, "{files:?}");
    assert!(files.iter().all(|f| f.exists()), "{files:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
