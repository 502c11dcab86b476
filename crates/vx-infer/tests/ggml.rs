//! Hostile whisper.cpp model files (issue #10 item 11): crafted from the real tiny.en model
//! (truncations, a huge vocabulary, a huge word, an unknown type, negative layers, zero heads,
//! a huge mel table...). Each must give one clear error from `Whisper::open` — before
//! whisper.cpp sees it: these used to abort (GGML_ASSERT), die of SIGFPE, segfault after
//! allocating 7 GB, or load and transcribe nothing.
mod common;
use common::need;
use vx_infer::ggml::{validate, validate_bytes};
use vx_infer::transcribe::Whisper;

/// Offsets in the tiny.en file: magic, then 11 i32 hyper-parameters.
const N_VOCAB: usize = 4;
const N_AUDIO_HEAD: usize = 16;
const N_AUDIO_LAYER: usize = 20;
const N_TEXT_HEAD: usize = 32;
const N_MELS: usize = 40;
const FTYPE: usize = 44;
const MEL_COUNT: usize = 48;
/// First vocabulary word's length: after the mel filters (80 x 201 f32) and the word count.
const FIRST_WORD: usize = 48 + 8 + 80 * 201 * 4 + 4;

fn put(m: &mut [u8], at: usize, v: i32) {
    m[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn the_real_model_is_valid() {
    let s = validate(&need("models/whisper-tiny.en.ggml.bin")).unwrap();
    assert_eq!(s.tensors, 167);
    assert_eq!(s.hparams.n_vocab, 51864);
    assert_eq!(s.hparams.n_text_layer, 4);
}

#[test]
fn crafted_models_give_one_clear_error_and_never_reach_whisper_cpp() {
    let path = need("models/whisper-tiny.en.ggml.bin");
    let model = std::fs::read(&path).unwrap();
    let edit = |at: usize, v: i32| {
        let mut m = model.clone();
        put(&mut m, at, v);
        m
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("first 1 KB", model[..1024].to_vec(), "truncated"),
        ("first 4 KB", model[..4096].to_vec(), "truncated"),
        ("70 KB", model[..70_000].to_vec(), "truncated"),
        ("300 KB", model[..300_000].to_vec(), "truncated"),
        ("550 KB", model[..550_000].to_vec(), "truncated"),
        (
            "after the vocabulary",
            model[..586_218].to_vec(),
            "tensors missing",
        ),
        (
            "one byte short",
            model[..model.len() - 1].to_vec(),
            "truncated",
        ),
        ("huge n_vocab", edit(N_VOCAB, i32::MAX), "n_vocab"),
        ("huge word", edit(FIRST_WORD, 1 << 30), "vocabulary entry 0"),
        ("ftype 99", edit(FTYPE, 99), "ftype 99"),
        ("negative layers", edit(N_AUDIO_LAYER, -4), "n_audio_layer"),
        ("zero heads", edit(N_TEXT_HEAD, 0), "n_text_head"),
        ("heads not dividing", edit(N_AUDIO_HEAD, 5), "multiple"),
        (
            "huge mel table",
            edit(MEL_COUNT, 1 << 20),
            "mel filter count",
        ),
        ("more mels than filters", edit(N_MELS, 128), "conv1"),
        (
            "more layers than tensors",
            edit(N_AUDIO_LAYER, 5),
            "missing",
        ),
        ("not ggml", b"GGUF and then some bytes".to_vec(), "magic"),
        ("empty", Vec::new(), "truncated"),
    ];
    let dir = std::env::temp_dir().join(format!("vx-ggml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes, needle) in cases {
        let e = validate_bytes(&bytes)
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(e.contains(needle), "{name}: {e}");
        let p = dir.join("crafted.bin");
        std::fs::write(&p, &bytes).unwrap();
        let e = Whisper::open(&p)
            .err()
            .unwrap_or_else(|| panic!("{name}: loaded"));
        let msg = e.to_string();
        assert!(
            msg.contains("crafted.bin") && !msg.contains('\n'),
            "{name}: {msg}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mutated_headers_never_panic() {
    let model = std::fs::read(need("models/whisper-tiny.en.ggml.bin")).unwrap();
    // The header, mel filters, vocabulary and the first tensor records: where the sizes are.
    let head = &model[..700_000];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..2000 {
        let mut m = head.to_vec();
        if round % 2 == 0 {
            // An i32 field near the start set to an extreme or random value.
            let at = (next() % 64) as usize & !3;
            let v = [0, -1, 1, i32::MAX, i32::MIN, next() as i32][(next() % 6) as usize];
            put(&mut m, at, v);
        } else {
            for _ in 0..1 + next() % 8 {
                let at = (next() % m.len() as u64) as usize;
                m[at] = next() as u8;
            }
        }
        m.truncate((next() % m.len() as u64) as usize + 1);
        assert!(
            validate_bytes(&m).is_err(),
            "round {round}: a truncated file passed"
        );
    }
}

/// Regression: skipping the vocabulary's entries seeked, and every seek dropped the read
/// buffer: validating the 75 MB tiny.en model read 3.3 GB (0.1-0.2 s before every transcription).
#[test]
fn validation_reads_the_model_about_once() {
    use std::io::{Read, Seek, SeekFrom};
    struct Counting<R>(R, std::rc::Rc<std::cell::Cell<u64>>);
    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.set(self.1.get() + n as u64);
            Ok(n)
        }
    }
    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.0.seek(pos)
        }
    }
    let path = need("models/whisper-tiny.en.ggml.bin");
    let f = std::fs::File::open(&path).unwrap();
    let len = f.metadata().unwrap().len();
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let s = vx_infer::ggml::validate_from(vx_infer::ggml::buffered(Counting(f, read.clone())), len)
        .unwrap();
    assert!(s.tensors > 100);
    eprintln!("read {} of {len} bytes", read.get());
    assert!(
        read.get() <= len,
        "read {} bytes of a {len}-byte file",
        read.get()
    );
}
