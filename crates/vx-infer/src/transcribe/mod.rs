//! Speech to text with whisper.cpp (built from source by `whisper-rs-sys`; GGML_NATIVE is left
//! on, so the binary uses this CPU's instruction set: build on the machine that runs it;
//! GGML_LLAMAFILE is turned on in `.cargo/config.toml`, ggml's tiled matrix kernels, 1.7x
//! faster here), driven through vx's own thin layer over its C API (`ffi.rs`), with the log-mel
//! spectrogram computed here (`mel.rs`). Input: 16 kHz mono f32. The caller decides which
//! stretches of audio to transcribe (VAD windows); timestamps come back in seconds of the
//! original file.
use std::path::{Path, PathBuf};

use std::sync::Arc;

use serde::Serialize;

use crate::{InferError, Result};

mod batch;
mod ffi;
mod mel;
mod windows;
pub use batch::{file_time, word_times, Batcher, Piece, BATCH_MAX, JUNCTION};
pub use windows::{settled_windows, windows, Settled, WindowOptions, WindowStream};

/// One transcribed segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub start: f64,
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub end: f64,
    pub text: String,
    /// Its words with their times, when asked for ([`Options::words`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words: Option<Vec<Word>>,
}

/// One word of a segment: whisper.cpp's token timestamps (`token_timestamps`), the tokens of
/// a word (a token that starts with a space starts a new word; punctuation stays with the
/// word before it) joined, and the mean probability of its tokens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Word {
    pub word: String,
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub start: f64,
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub end: f64,
    pub probability: f32,
}

/// Words from tokens (bytes, t0 and t1 in 10 ms units, probability), times in seconds of the
/// audio whisper was given. Tokens are bytes of UTF-8, not always whole characters (a CJK
/// character or an emoji can span two): a word's bytes are joined, then decoded once.
pub fn words_of(tokens: impl IntoIterator<Item = (Vec<u8>, i64, i64, f32)>) -> Vec<Word> {
    // Bytes, start, end, summed probability, tokens.
    let mut out: Vec<(Vec<u8>, f64, f64, f32, usize)> = Vec::new();
    for (bytes, t0, t1, p) in tokens {
        if bytes.is_empty() {
            continue;
        }
        let (a, b) = (t0 as f64 / 100.0, t1.max(t0) as f64 / 100.0);
        let starts_word = bytes[0] == b' ' || out.is_empty();
        let glued = bytes.iter().all(u8::is_ascii_punctuation) && !out.is_empty();
        match out.last_mut() {
            Some(w) if !starts_word || glued => {
                w.0.extend_from_slice(&bytes);
                w.2 = w.2.max(b);
                w.3 += p;
                w.4 += 1;
            }
            _ => out.push((bytes, a, b, p, 1)),
        }
    }
    out.into_iter()
        .map(|(bytes, start, end, p, n)| Word {
            word: String::from_utf8_lossy(&bytes).trim().to_string(),
            start,
            end,
            probability: p / n as f32,
        })
        .filter(|w| !w.word.is_empty())
        .collect()
}

/// What a whisper model file says of itself, checked (`crate::ggml`) but not loaded: enough to
/// check options while whisper.cpp reads the weights (a few hundred ms) elsewhere.
#[derive(Debug, Clone)]
pub struct ModelFile {
    path: PathBuf,
    summary: crate::ggml::Summary,
}

impl ModelFile {
    /// Check `path` as [`Whisper::open`] does before loading it.
    pub fn check(path: &Path) -> Result<ModelFile> {
        crate::runtime::check_model_file(path)?;
        let summary = crate::ggml::validate(path)?;
        Ok(ModelFile {
            path: path.into(),
            summary,
        })
    }

    /// Whether the model knows more than English (English-only `.en` models do not):
    /// whisper.cpp's rule, a vocabulary of 51865 tokens or more.
    pub fn is_multilingual(&self) -> bool {
        self.summary.hparams.n_vocab >= 51_865
    }

    /// Check a `--language` value for this model: a language whisper knows (its code, e.g.
    /// "fr", or its English name, e.g. "french"; "auto" detects), and for an English-only
    /// model, English. Returns the code whisper will use.
    pub fn check_language(&self, language: &str) -> std::result::Result<String, String> {
        let code = if language == "auto" {
            "auto".to_string()
        } else {
            let id = ffi::lang_id(&language.to_ascii_lowercase())
                .ok_or_else(|| format!("--language {language}: not a language whisper knows (e.g. en, fr, de, ja, or auto)"))?;
            ffi::lang_str(id)
                .ok_or_else(|| format!("--language {language}: not a language whisper knows"))?
                .to_string()
        };
        if !self.is_multilingual() && code != "en" {
            return Err(format!(
                "--language {language}: {} is an English-only model; use a multilingual one (e.g. base, small)",
                self.path.display()
            ));
        }
        Ok(code)
    }
}

pub struct Whisper {
    path: PathBuf,
    ctx: Arc<ffi::Context>,
    /// The model's encoder context (positions; 1500 in every released whisper model).
    n_audio_ctx: i32,
    /// One whisper.cpp state (KV caches, compute buffers) per batch decoded at once: creating
    /// one costs 4-15 ms, so they are kept.
    states: Vec<Option<ffi::State>>,
    /// vx's spectrogram for this model's filter bank (None: whisper.cpp computes it).
    mel: Option<mel::LogMel>,
    own_mel: bool,
}

impl Whisper {
    /// Load a whisper.cpp (ggml) model.
    pub fn open(path: &Path) -> Result<Self> {
        Whisper::load(ModelFile::check(path)?)
    }

    /// Load a model file already checked ([`ModelFile::check`]: whisper.cpp trusts the file,
    /// so every declared size is checked first, `crate::ggml`).
    pub fn load(file: ModelFile) -> Result<Self> {
        let (path, summary) = (file.path.as_path(), file.summary);
        let s = path.to_str().ok_or_else(|| InferError::Model {
            path: path.into(),
            reason: "path is not UTF-8".into(),
        })?;
        let ctx = ffi::Context::open(s).ok_or_else(|| InferError::Model {
            path: path.into(),
            reason: "whisper.cpp cannot load it; truncated?".into(),
        })?;
        let mel = mel::LogMel::new(&summary.mel_filters)
            .filter(|m| m.n_mel() as i32 == ctx.n_mels() && summary.hparams.n_mels == ctx.n_mels());
        Ok(Whisper {
            path: path.into(),
            ctx,
            n_audio_ctx: summary.hparams.n_audio_ctx,
            states: Vec::new(),
            mel,
            own_mel: true,
        })
    }

    /// Whether the model knows more than English (English-only `.en` models do not).
    pub fn is_multilingual(&self) -> bool {
        self.ctx.is_multilingual()
    }

    /// Whether vx computes the log-mel spectrogram ([`mel`]; the default when the model's
    /// filter bank is for whisper's 400-point FFT) or whisper.cpp does (`false`: for tests and
    /// A/B measurements). Word times always let whisper.cpp do it (it needs the samples).
    pub fn set_own_mel(&mut self, on: bool) {
        self.own_mel = on;
    }

    /// Whether [`Whisper::set_own_mel`] is on and possible for this model.
    pub fn own_mel(&self) -> bool {
        self.own_mel && self.mel.is_some()
    }

    /// Transcribe batches of 16 kHz mono audio, one whisper call each. A batch is several
    /// stretches of the file's audio joined end to end (as faster-whisper joins the speech
    /// its VAD keeps): whisper hears each stretch with its neighbours, and times come back on
    /// the file's timeline (each segment end mapped through the stretch it falls in).
    ///
    /// Up to `workers` batches run at once, each on its own thread with its own whisper.cpp
    /// state and `opts.threads / workers` threads: on 2 cores two single-threaded decoders
    /// take 1.2x less time and 28 % less CPU than one decoder on two threads (whisper's
    /// decoder works token by token on small matrices; its threads mostly wait for each
    /// other). `language`: `None` means English for English-only models, else detection on
    /// the first batch, alone (the code comes back in [`Transcription::language`]), then kept.
    pub fn transcribe_batches(
        &mut self,
        batches: &[Vec<Piece<'_>>],
        language: Option<&str>,
        opts: &Options,
        workers: usize,
    ) -> Result<Vec<Transcription>> {
        let workers = workers.clamp(1, batches.len().max(1));
        let path = self.path.clone();
        let multilingual = self.is_multilingual();
        let mut decoders = self.decoders(workers);
        let mut out: Vec<Option<Result<Transcription>>> = batches.iter().map(|_| None).collect();
        let mut language = language.map(str::to_string);
        let mut first = 0;
        if workers == 1 || (language.is_none() && multilingual) {
            // In order on one state: all of them, or the first (to learn the language).
            let n = if workers == 1 { batches.len() } else { 1 };
            for (i, b) in batches.iter().enumerate().take(n) {
                let t = decoders[0].transcribe(b, language.as_deref(), opts)?;
                language = Some(t.language.clone());
                out[i] = Some(Ok(t));
            }
            first = n;
        }
        if first < batches.len() {
            let per = Options {
                threads: (opts.threads / workers).max(1),
                ..opts.clone()
            };
            let (language, per) = (language.as_deref(), &per);
            std::thread::scope(|sc| {
                let handles: Vec<_> = decoders
                    .iter_mut()
                    .enumerate()
                    .map(|(w, dec)| {
                        sc.spawn(move || {
                            (first..batches.len())
                                .filter(|i| (i - first) % workers == w)
                                .map(|i| (i, dec.transcribe(&batches[i], language, per)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for h in handles {
                    match h.join() {
                        Ok(done) => {
                            for (i, r) in done {
                                out[i] = Some(r);
                            }
                        }
                        Err(_) => {
                            return Err(InferError::Run {
                                path: path.clone(),
                                reason: "a whisper thread panicked".into(),
                            })
                        }
                    }
                }
                Ok(())
            })?;
        }
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(InferError::Run {
                        path: path.clone(),
                        reason: "a batch was not transcribed".into(),
                    })
                })
            })
            .collect()
    }

    /// `n` decoders (at least 1) that can run at the same time on different threads, each
    /// with its own whisper.cpp state, sharing the model: for callers that feed batches as
    /// they come ([`Decoder::transcribe`]) rather than in groups.
    pub fn decoders(&mut self, n: usize) -> Vec<Decoder<'_>> {
        let n = n.max(1);
        // Made when a decoder first decodes: a decoder that gets no batch costs nothing.
        while self.states.len() < n {
            self.states.push(None);
        }
        let Whisper {
            path,
            ctx,
            n_audio_ctx,
            states,
            mel,
            own_mel,
        } = self;
        let model = ModelInfo {
            path,
            eot: ctx.token_eot(),
            multilingual: ctx.is_multilingual(),
            n_audio_ctx: *n_audio_ctx,
            mel: mel.as_ref().filter(|_| *own_mel),
        };
        states
            .iter_mut()
            .take(n)
            .map(|state| Decoder { model, ctx, state })
            .collect()
    }
}

/// One decoder of a [`Whisper`] model ([`Whisper::decoders`]): a whisper.cpp state of its
/// own; decoders of one model run at the same time on different threads.
pub struct Decoder<'w> {
    model: ModelInfo<'w>,
    ctx: &'w Arc<ffi::Context>,
    state: &'w mut Option<ffi::State>,
}

impl Decoder<'_> {
    /// One whisper call on a batch (stretches of the file's audio joined end to end, see
    /// [`Whisper::transcribe_batches`]); times on the file's timeline. `language`: `None`
    /// means English for English-only models, else detection.
    pub fn transcribe(
        &mut self,
        batch: &[Piece<'_>],
        language: Option<&str>,
        opts: &Options,
    ) -> Result<Transcription> {
        let state = match self.state {
            Some(state) => state,
            None => self
                .state
                .insert(self.ctx.new_state().ok_or_else(|| InferError::Run {
                    path: self.model.path.to_path_buf(),
                    reason: "whisper.cpp cannot make a decoding state (out of memory?)".into(),
                })?),
        };
        let (t, sampled) = decode(&self.model, state, batch, language, opts)?;
        // A state whose random generator was used is not used again: whisper.cpp seeds it
        // only when the state is made, so the next sampled decoding on it would depend on
        // which batches this decoder took before (a race between decoders, and between
        // files in `vx run`). Fresh states make every batch's sampling start from the same
        // seed; batches decoded at temperature 0 without fallback keep theirs (4-15 ms each).
        if sampled || opts.temperature > 0.0 {
            *self.state = None;
        }
        Ok(t)
    }
}

/// What decoding needs of the model besides a state.
#[derive(Clone, Copy)]
struct ModelInfo<'a> {
    path: &'a Path,
    eot: i32,
    multilingual: bool,
    n_audio_ctx: i32,
    /// vx's spectrogram, when it computes it (not for word times: whisper.cpp's word timing
    /// reads the samples' energy, so it gets the samples).
    mel: Option<&'a mel::LogMel>,
}

/// One whisper call on `state`: the pieces joined, the segments (and words) mapped back to the
/// file's timeline; and whether whisper.cpp fell back to sampling ([`ffi::State::full`]).
fn decode(
    model: &ModelInfo<'_>,
    state: &mut ffi::State,
    pieces: &[Piece<'_>],
    language: Option<&str>,
    opts: &Options,
) -> Result<(Transcription, bool)> {
    {
        let joined: std::borrow::Cow<'_, [f32]> = match pieces {
            [one] => one.samples.into(),
            _ => pieces
                .iter()
                .flat_map(|p| p.samples.iter().copied())
                .collect::<Vec<f32>>()
                .into(),
        };
        let samples: &[f32] = &joined;
        let table: Vec<(f64, f64)> = pieces
            .iter()
            .map(|p| (p.start, p.samples.len() as f64 / SAMPLE_RATE))
            .collect();
        let run = |reason: String| InferError::Run {
            path: model.path.to_path_buf(),
            reason,
        };
        let language = match language {
            None if !model.multilingual => Some("en"),
            l => l,
        };
        if samples.len() < MIN_SAMPLES {
            // whisper.cpp transcribes nothing under 100 ms ("input is too short"), and under
            // 201 samples its spectrogram's reflective padding reads past the input.
            return Ok((
                Transcription {
                    segments: Vec::new(),
                    language: language.unwrap_or("auto").to_string(),
                },
                false,
            ));
        }
        let prompt = opts.prompt.as_deref().filter(|t| !t.is_empty());
        let params = ffi::Params::new(&ffi::Settings {
            beam_size: opts.beam_size.min(MAX_BEAM),
            temperature: opts.temperature,
            fallback: opts.fallback,
            threads: opts.threads.max(1),
            language: language.unwrap_or("auto"),
            // Given to every batch (whisper.cpp clears its text context per call).
            prompt,
            token_timestamps: opts.words,
            translate: opts.translate,
            audio_ctx: if opts.full_context {
                0
            } else {
                audio_ctx(samples.len() as f64 / SAMPLE_RATE, model.n_audio_ctx)
            },
        })
        .map_err(run)?;
        let spectrogram = model
            .mel
            .filter(|_| !opts.words)
            .map(|m| m.compute(samples));
        let input = match &spectrogram {
            Some(m) => ffi::Input::Mel {
                data: &m.data,
                n_mel: m.n_mel,
                n_len: m.n_len,
                frames: m.frames,
            },
            None => ffi::Input::Samples(samples),
        };
        let sampled = state.full(&params, input).map_err(run)?;
        let language = match language {
            Some(l) => l.to_string(),
            None => ffi::lang_str(state.lang_id()).unwrap_or("auto").to_string(),
        };
        let mut segments = Vec::new();
        let eot = model.eot;
        for i in 0..state.n_segments() {
            let (t0, t1, text) = state.segment(i);
            let text = String::from_utf8_lossy(text).trim().to_string();
            // Whatever annotation still slips through ("[Music]", "(silence)") is not speech.
            let tag = (text.starts_with('[') && text.ends_with(']'))
                || (text.starts_with('(') && text.ends_with(')'));
            if text.is_empty() || tag {
                continue;
            }
            // whisper's time stamps (10 ms units) can run past the audio it was given (it
            // thinks in 30 s contexts): kept inside the stretch they fall in.
            let ms = |t: f64| (t * 1000.0).round() / 1000.0;
            let start = file_time(&table, t0 as f64 / 100.0, false);
            let end = file_time(&table, t1 as f64 / 100.0, true);
            let words = opts.words.then(|| {
                let tokens = state
                    .tokens(i)
                    .into_iter()
                    // Special tokens (end of text, timestamps, language...) are no words.
                    // Bytes: a character may be split across tokens.
                    .filter(|t| t.id < eot)
                    .map(|t| (t.bytes.to_vec(), t.t0, t.t1, t.p));
                words_of(tokens)
                    .into_iter()
                    .map(|w| {
                        let (a, b) = word_times(&table, w.start, w.end, start, end);
                        Word {
                            start: ms(a),
                            end: ms(b),
                            ..w
                        }
                    })
                    .collect()
            });
            segments.push(Segment {
                start: ms(start),
                end: ms(end.max(start)),
                text,
                words,
            });
        }
        Ok((Transcription { segments, language }, sampled))
    }
}

/// How whisper runs on each window.
#[derive(Debug, Clone)]
pub struct Options {
    /// whisper.cpp threads (at least 1).
    pub threads: usize,
    /// Encode a full 30 s context for every window, as whisper was trained (slower: the
    /// encoder's cost is the same for 1 s of speech as for 30 s). Off by default: the encoder
    /// then sees the window plus a margin, at least [`MIN_CONTEXT`] seconds.
    pub full_context: bool,
    /// Text given to the decoder before each batch (names, spelling, style).
    pub prompt: Option<String>,
    /// Beam search with this many beams (at most [`MAX_BEAM`]); 0 or 1: greedy.
    pub beam_size: usize,
    /// The first decoding's temperature, 0 to 1 (0: the most likely tokens; above 0: tokens
    /// sampled, with a fixed seed, so runs repeat).
    pub temperature: f32,
    /// Temperature fallback: decode a batch again 0.2 hotter (up to 1.0) when its text looks
    /// wrong (repetitive, or unlikely), as whisper.cpp, OpenAI's whisper and faster-whisper do
    /// by default.
    pub fallback: bool,
    /// Word times ([`Segment::words`]).
    pub words: bool,
    /// Translate into English (multilingual models only).
    pub translate: bool,
}

/// The widest beam whisper.cpp decodes with (its decoders per state).
pub const MAX_BEAM: usize = 8;

/// What one window gave.
#[derive(Debug, Clone)]
pub struct Transcription {
    pub segments: Vec<Segment>,
    /// The language used: the one asked for, "en" for English-only models, or the detected one.
    pub language: String,
}

const SAMPLE_RATE: f64 = 16_000.0;

/// The shortest audio handed to whisper.cpp: 100 ms.
const MIN_SAMPLES: usize = 1_600;

/// Shortest encoder context in seconds when not using the full 30 s. Measured on the bench
/// file (bench/transcribe): with only the window plus a margin, 3-second windows fell into
/// repetition loops and 1-second windows of tones came back as invented sentences; 10 s kept
/// the transcript identical in content to the full-context one.
pub const MIN_CONTEXT: f64 = 10.0;

/// whisper.cpp's `audio_ctx` (encoder positions, 50 per second) for a window of `seconds`:
/// the window plus 1 s of margin, at least [`MIN_CONTEXT`], rounded up to a multiple of
/// [`CTX_ALIGN`] positions, never more than the model's own context `max` (1500 = 30 s).
pub fn audio_ctx(seconds: f64, max: i32) -> i32 {
    let max = max.max(1);
    let s = (seconds + 1.0).max(MIN_CONTEXT);
    // Float-to-int casts saturate (NaN -> 0): clamp before rounding up.
    let n = ((s * 50.0).ceil() as i32).clamp(1, max);
    ((n + CTX_ALIGN - 1) / CTX_ALIGN * CTX_ALIGN).min(max)
}

/// The encoder context is a multiple of this many positions. In the encoder's attention the
/// context length is the inner dimension of a matrix product (softmax(QK) x V), and ggml's
/// tiled kernels (tinyBLAS, `GGML_LLAMAFILE`) take only inner dimensions that are multiples of
/// 16 (AVX-512; 8 with AVX2): for any other length ggml falls back to one dot product per
/// output, which was 25 % of all the time on bench/transcribe (c). Rounding 650 up to 656
/// positions (0.12 s more context) made (c) 14 % faster (A/B, same binary, 3 rounds each:
/// 15.2-17.5 s -> 13.4-15.0 s, 25-27 -> 21-23 CPU-s).
pub const CTX_ALIGN: i32 = 16;

/// `HH:MM:SS` + `sep` + milliseconds (SRT: ',', WebVTT and whisper.cpp: '.').
pub fn stamp(t: f64, sep: char) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// One segment as whisper.cpp's CLI prints it while it works:
/// `[00:00:00.000 --> 00:00:11.000]  text`.
pub fn to_line(seg: &Segment) -> String {
    format!(
        "[{} --> {}]  {}",
        stamp(seg.start, '.'),
        stamp(seg.end, '.'),
        seg.text
    )
}

pub fn to_srt(segments: &[Segment]) -> String {
    let mut s = String::new();
    for (i, seg) in segments.iter().enumerate() {
        s.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            stamp(seg.start, ','),
            stamp(seg.end, ','),
            seg.text
        ));
    }
    s
}

pub fn to_vtt(segments: &[Segment]) -> String {
    let mut s = String::from("WEBVTT\n\n");
    for seg in segments {
        s.push_str(&format!(
            "{} --> {}\n{}\n\n",
            stamp(seg.start, '.'),
            stamp(seg.end, '.'),
            seg.text
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_joined_from_tokens_and_kept_in_their_segment() {
        let t = |s: &str, a: i64, b: i64, p: f32| (s.as_bytes().to_vec(), a, b, p);
        let w = words_of([
            t(" He", 10, 30, 0.9),
            t(" ill", 30, 50, 0.5),
            t("-", 50, 52, 0.7),
            t("dis", 52, 70, 0.8),
            t("posed", 70, 90, 0.6),
            t(".", 90, 91, 1.0),
            t("", 91, 92, 1.0),
        ]);
        let got: Vec<(&str, f64, f64)> = w
            .iter()
            .map(|w| (w.word.as_str(), w.start, w.end))
            .collect();
        assert_eq!(got, [("He", 0.1, 0.3), ("ill-disposed.", 0.3, 0.91)]);
        assert!((w[1].probability - (0.5 + 0.7 + 0.8 + 0.6 + 1.0) / 5.0).abs() < 1e-6);
        // A character split across two tokens comes back whole.
        let pig = "豚".as_bytes();
        let w = words_of([
            (b" ".iter().chain(&pig[..2]).copied().collect(), 0, 10, 0.5),
            (pig[2..].to_vec(), 10, 20, 0.5),
        ]);
        assert_eq!(w[0].word, "豚");
        assert_eq!((w[0].start, w[0].end), (0.0, 0.2));
        // A word at a junction whose segment ends before it: kept inside the segment (a
        // panic in f64::clamp before).
        let table = [(0.0, 7.3), (9.9, 3.3)];
        let (a, b) = word_times(&table, 7.3, 7.6, 5.5, 7.11);
        assert!(
            a <= b && (5.5..=7.11).contains(&a) && (5.5..=7.11).contains(&b),
            "{a} {b}"
        );
        let (a, b) = word_times(&table, 1.0, 2.0, 3.0, 2.5);
        assert!(a <= b, "{a} {b}");
    }

    #[test]
    fn encoder_context() {
        assert_eq!(audio_ctx(0.5, 1500), 512); // at least 10 s (500), in multiples of 16
        assert_eq!(audio_ctx(12.0, 1500), 656); // window + 1 s (650), in multiples of 16
        assert_eq!(audio_ctx(14.36, 1500), 768); // 768 already is one
        assert_eq!(audio_ctx(29.5, 1500), 1500); // never more than whisper's 30 s
        assert_eq!(audio_ctx(f64::INFINITY, 1500), 1500); // no overflow
        assert_eq!(audio_ctx(f64::NAN, 1500), 512);
        assert_eq!(audio_ctx(0.5, 505), 505); // nor more than the model's own context
    }

    #[test]
    fn srt_and_vtt_stamps() {
        let segs = [Segment {
            start: 3661.5,
            end: 3662.004,
            text: "hi".into(),
            words: None,
        }];
        assert_eq!(to_srt(&segs), "1\n01:01:01,500 --> 01:01:02,004\nhi\n\n");
        assert!(to_vtt(&segs).starts_with("WEBVTT\n\n01:01:01.500 --> 01:01:02.004\nhi\n"));
    }
}
