//! vx's log-mel spectrogram (transcribe/mel.rs, handed to whisper.cpp) gives the transcript
//! whisper.cpp's own spectrogram gives: same segments, same words, times within 10 ms.
mod common;
use common::{need, wav};
use vx_infer::transcribe::{Options, Piece, Whisper};

#[test]
fn own_spectrogram_gives_whisper_cpps_transcript() {
    let mut w = Whisper::open(&need("models/whisper-tiny.en.ggml.bin")).unwrap();
    assert!(
        w.own_mel(),
        "whisper's 80 x 201 filter bank is read from the model file"
    );
    let opts = Options {
        threads: 2,
        full_context: false,
        prompt: None,
        beam_size: 0,
        words: false,
        translate: false,
        temperature: 0.0,
        fallback: true,
    };
    let clips = [
        wav("media/jfk.wav"),
        wav("media/sense_and_sensibility_01_austen_64kb-0880.wav"),
        // 3 s of the clip: a window much shorter than the encoder's minimum context.
        wav("media/sense_and_sensibility_01_austen_64kb-0920.wav")[..48_000].to_vec(),
    ];
    // Each clip alone, and two joined in one call (a window holding two stretches).
    let mut batches: Vec<Vec<Piece<'_>>> = clips
        .iter()
        .map(|c| {
            vec![Piece {
                start: 0.0,
                samples: c,
            }]
        })
        .collect();
    batches.push(vec![
        Piece {
            start: 0.0,
            samples: &clips[0],
        },
        Piece {
            start: 100.0,
            samples: &clips[1],
        },
    ]);
    let ours = w.transcribe_batches(&batches, None, &opts, 1).unwrap();
    w.set_own_mel(false);
    assert!(!w.own_mel());
    let theirs = w.transcribe_batches(&batches, None, &opts, 1).unwrap();
    for (a, b) in ours.iter().zip(&theirs) {
        let text = |t: &vx_infer::transcribe::Transcription| {
            t.segments
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        eprintln!("vx mel:      {}\nwhisper mel: {}", text(a), text(b));
        assert_eq!(text(a), text(b));
        assert_eq!(a.segments.len(), b.segments.len());
        for (x, y) in a.segments.iter().zip(&b.segments) {
            assert!((x.start - y.start).abs() <= 0.011, "{x:?} vs {y:?}");
            assert!((x.end - y.end).abs() <= 0.011, "{x:?} vs {y:?}");
        }
    }
    // The test means something: real words came out.
    let jfk = &ours[0].segments;
    assert!(jfk
        .iter()
        .any(|s| s.text.contains("ask not what your country can do for you")));
    assert!(!ours[2].segments.is_empty());
}
