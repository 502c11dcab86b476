//! Speech to text with whisper.cpp (through `whisper-rs`, which builds whisper.cpp from
//! source; GGML_NATIVE is left on, so the binary uses this CPU's instruction set: build on the
//! machine that runs it; GGML_LLAMAFILE is turned on in `.cargo/config.toml`, ggml's tiled
//! matrix kernels, 1.7x faster here). Input: 16 kHz mono f32. The caller decides which
//! stretches of audio to transcribe (VAD windows); timestamps come back in seconds of the
//! original file.
use std::path::{Path, PathBuf};

use serde::Serialize;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use crate::vad::{close_spans, pad_and_merge, raw_spans, Span, SpanOptions, CHUNK};
use crate::{InferError, Result};

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

pub struct Whisper {
    path: PathBuf,
    ctx: WhisperContext,
    /// One whisper.cpp state (KV caches, compute buffers) per batch decoded at once: creating
    /// one costs 4-15 ms, so they are kept.
    states: Vec<whisper_rs::WhisperState>,
}

impl Whisper {
    /// Load a whisper.cpp (ggml) model.
    pub fn open(path: &Path) -> Result<Self> {
        crate::runtime::check_model_file(path)?;
        // whisper.cpp trusts the file: check every declared size first (crate::ggml).
        crate::ggml::validate(path)?;
        whisper_rs::install_logging_hooks(); // whisper.cpp's own chatter off
        let s = path.to_str().ok_or_else(|| InferError::Model {
            path: path.into(),
            reason: "path is not UTF-8".into(),
        })?;
        let ctx = WhisperContext::new_with_params(s, WhisperContextParameters::default()).map_err(
            |e| InferError::Model {
                path: path.into(),
                reason: format!("whisper.cpp cannot load it ({e:?}); truncated?"),
            },
        )?;
        Ok(Whisper {
            path: path.into(),
            ctx,
            states: Vec::new(),
        })
    }

    /// Check a `--language` value for this model: a language whisper knows (its code, e.g.
    /// "fr", or its English name, e.g. "french"; "auto" detects), and for an English-only
    /// model, English. Returns the code whisper will use.
    pub fn check_language(&self, language: &str) -> std::result::Result<String, String> {
        let code = if language == "auto" {
            "auto".to_string()
        } else {
            let id = whisper_rs::get_lang_id(&language.to_ascii_lowercase())
                .ok_or_else(|| format!("--language {language}: not a language whisper knows (e.g. en, fr, de, ja, or auto)"))?;
            whisper_rs::get_lang_str(id)
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

    /// Whether the model knows more than English (English-only `.en` models do not).
    pub fn is_multilingual(&self) -> bool {
        self.ctx.is_multilingual()
    }

    /// Transcribe `samples` (16 kHz mono) that start at `offset` seconds in the file.
    /// `language`: `None` means English for English-only models, else auto-detection (one
    /// extra encoder pass; the detected code comes back in [`Transcription::language`]).
    pub fn transcribe(
        &mut self,
        samples: &[f32],
        offset: f64,
        language: Option<&str>,
        opts: &Options,
    ) -> Result<Transcription> {
        self.transcribe_pieces(
            &[Piece {
                start: offset,
                samples,
            }],
            language,
            opts,
        )
    }

    /// Transcribe several stretches of the file's audio in one whisper call, joined end to
    /// end (as faster-whisper joins the speech its VAD keeps): whisper sees each stretch with
    /// its neighbours around it, and whisper.cpp walks through more than 30 s by itself,
    /// moving on from the end of the last whole segment, so no word is cut between its
    /// windows. Times come back on the file's timeline (each segment end mapped through the
    /// stretch it falls in).
    pub fn transcribe_pieces(
        &mut self,
        pieces: &[Piece<'_>],
        language: Option<&str>,
        opts: &Options,
    ) -> Result<Transcription> {
        let mut out = self.transcribe_batches(&[pieces.to_vec()], language, opts, 1)?;
        out.pop().ok_or_else(|| InferError::Run {
            path: self.path.clone(),
            reason: "no transcription".into(),
        })
    }

    /// Transcribe several batches (each as [`Whisper::transcribe_pieces`] does one), up to
    /// `workers` at once, each on its own thread with its own whisper.cpp state and
    /// `opts.threads / workers` threads. On 2 cores two single-threaded decoders get through
    /// a file 1.4x faster than one decoder on two threads (whisper's decoder works token by
    /// token on small matrices; its threads mostly wait for each other). With no language
    /// given, a multilingual model detects it on the first batch, alone, then keeps it.
    pub fn transcribe_batches(
        &mut self,
        batches: &[Vec<Piece<'_>>],
        language: Option<&str>,
        opts: &Options,
        workers: usize,
    ) -> Result<Vec<Transcription>> {
        let workers = workers.clamp(1, batches.len().max(1));
        while self.states.len() < workers {
            let st = self.ctx.create_state().map_err(|e| InferError::Run {
                path: self.path.clone(),
                reason: format!("{e:?}"),
            })?;
            self.states.push(st);
        }
        let model = ModelInfo {
            path: &self.path,
            eot: self.ctx.token_eot(),
            multilingual: self.ctx.is_multilingual(),
        };
        let mut out: Vec<Option<Result<Transcription>>> = batches.iter().map(|_| None).collect();
        let mut language = language.map(str::to_string);
        let mut first = 0;
        if workers == 1 || (language.is_none() && model.multilingual) {
            // In order on one state: all of them, or the first (to learn the language).
            let n = if workers == 1 { batches.len() } else { 1 };
            for (i, b) in batches.iter().enumerate().take(n) {
                let t = decode(&model, &mut self.states[0], b, language.as_deref(), opts)?;
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
            let (model, language, per) = (&model, language.as_deref(), &per);
            std::thread::scope(|sc| {
                let handles: Vec<_> = self.states[..workers]
                    .iter_mut()
                    .enumerate()
                    .map(|(w, state)| {
                        sc.spawn(move || {
                            (first..batches.len())
                                .filter(|i| (i - first) % workers == w)
                                .map(|i| (i, decode(model, state, &batches[i], language, per)))
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
                                path: model.path.to_path_buf(),
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
                        path: self.path.clone(),
                        reason: "a batch was not transcribed".into(),
                    })
                })
            })
            .collect()
    }
}

/// What decoding needs of the model besides a state.
struct ModelInfo<'a> {
    path: &'a Path,
    eot: whisper_rs::WhisperTokenId,
    multilingual: bool,
}

/// One whisper call on `state`: the pieces joined, the segments (and words) mapped back to the
/// file's timeline.
fn decode(
    model: &ModelInfo<'_>,
    state: &mut whisper_rs::WhisperState,
    pieces: &[Piece<'_>],
    language: Option<&str>,
    opts: &Options,
) -> Result<Transcription> {
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
        let strategy = if opts.beam_size > 1 {
            SamplingStrategy::BeamSearch {
                beam_size: opts.beam_size.min(MAX_BEAM) as i32,
                patience: -1.0,
            }
        } else {
            SamplingStrategy::Greedy { best_of: 1 }
        };
        let mut p = FullParams::new(strategy);
        if let Some(prompt) = opts.prompt.as_deref().filter(|t| !t.is_empty()) {
            if prompt.contains('\0') {
                return Err(run("the prompt holds a NUL character".into()));
            }
            // Given to every batch (whisper.cpp clears its text context per call).
            p.set_initial_prompt(prompt);
        }
        p.set_token_timestamps(opts.words);
        p.set_translate(opts.translate);
        p.set_language(Some(language.unwrap_or("auto")));
        p.set_n_threads(opts.threads.max(1) as i32);
        p.set_print_special(false);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_timestamps(false);
        p.set_no_context(true);
        p.set_suppress_blank(true);
        // No "[Music]" / "(applause)" annotations: vx transcribes speech.
        p.set_suppress_nst(true);
        if !opts.full_context {
            p.set_audio_ctx(audio_ctx(samples.len() as f64 / SAMPLE_RATE));
        }
        state.full(p, samples).map_err(|e| run(format!("{e:?}")))?;
        let language = match language {
            Some(l) => l.to_string(),
            None => whisper_rs::get_lang_str(state.full_lang_id_from_state())
                .unwrap_or("auto")
                .to_string(),
        };
        let mut segments = Vec::new();
        let eot = model.eot;
        for seg in state.as_iter() {
            let text = seg
                .to_str_lossy()
                .map_err(|e| run(format!("{e:?}")))?
                .trim()
                .to_string();
            // Whatever annotation still slips through ("[Music]", "(silence)") is not speech.
            let tag = (text.starts_with('[') && text.ends_with(']'))
                || (text.starts_with('(') && text.ends_with(')'));
            if text.is_empty() || tag {
                continue;
            }
            // whisper's time stamps (10 ms units) can run past the audio it was given (it
            // thinks in 30 s contexts): kept inside the stretch they fall in.
            let ms = |t: f64| (t * 1000.0).round() / 1000.0;
            let start = file_time(&table, seg.start_timestamp() as f64 / 100.0, false);
            let end = file_time(&table, seg.end_timestamp() as f64 / 100.0, true);
            let words = opts.words.then(|| {
                let tokens = (0..seg.n_tokens())
                    .filter_map(|i| seg.get_token(i))
                    .filter_map(|t| {
                        let d = t.token_data();
                        // Special tokens (end of text, timestamps, language...) are no words.
                        (t.token_id() < eot).then(|| {
                            // Bytes: a character may be split across tokens.
                            let bytes = t.to_bytes().map(<[u8]>::to_vec).unwrap_or_default();
                            (bytes, d.t0, d.t1, d.p)
                        })
                    });
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
        Ok(Transcription { segments, language })
    }
}

/// A stretch of the file's audio for [`Whisper::transcribe_pieces`]: its samples and where
/// they start in the file (seconds).
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    pub start: f64,
    pub samples: &'a [f32],
}

/// A time `t` in seconds of joined stretches (`table`: each stretch's start in the file and
/// length) on the file's timeline. The [`JUNCTION`] seconds on each side of a junction are
/// the silence that pads the two windows: an end there belongs to the stretch before, a start
/// to the stretch after (whisper puts segment boundaries somewhere in that silence). Past the
/// last stretch: its end.
pub fn file_time(table: &[(f64, f64)], t: f64, is_end: bool) -> f64 {
    let mut at = 0.0;
    for (i, &(start, len)) in table.iter().enumerate() {
        let last = i + 1 == table.len();
        // At most half of a (short) stretch counts as its edge.
        let edge = JUNCTION.min(len / 2.0);
        if is_end && i > 0 && t >= at && t < at + edge {
            let (s, l) = table[i - 1];
            return s + l;
        }
        if !is_end && !last && t >= at + len - edge && t < at + len {
            return table[i + 1].0;
        }
        let inside = if is_end { t <= at + len } else { t < at + len };
        if inside || last {
            return start + (t - at).clamp(0.0, len);
        }
        at += len;
    }
    0.0
}

/// A word's times (`a`..`b` in seconds of the joined stretches) on the file's timeline, kept
/// inside its segment's (`seg_start`..`seg_end`, already mapped): a word next to a junction
/// may map across it when the segment does not.
pub fn word_times(
    table: &[(f64, f64)],
    a: f64,
    b: f64,
    seg_start: f64,
    seg_end: f64,
) -> (f64, f64) {
    let hi = seg_end.max(seg_start);
    let a = file_time(table, a, false).max(seg_start).min(hi);
    let b = file_time(table, b, true).max(a).min(hi);
    (a, b)
}

/// Seconds on each side of a junction of stretches taken as the silence between them (the
/// windows' padding and the VAD's soft edges).
pub const JUNCTION: f64 = 0.35;

/// The most audio (seconds) one whisper call gets. Measured on bench/transcribe (2 cores):
/// 15 s joined too little ((b) 3.2 % word errors), 30 s made whisper's encoder and decoder
/// pay for a longer context on long speech ((c) 13.2 s instead of 10.4 s, and 360 MiB
/// instead of 280); 20 s gave (b) 1.1 % and (c) 10.4 s.
pub const BATCH_MAX: f64 = 20.0;

/// Groups whisper windows (in order) into batches of at most [`BATCH_MAX`] seconds, one
/// whisper call each ([`Whisper::transcribe_pieces`]): windows that touch or overlap (their
/// padding) become one stretch, and separate windows are joined side by side, so that a
/// short utterance is heard with its neighbours instead of alone (measured on
/// bench/transcribe (b), six short clips 30 s apart: word error rate 6.5 % -> 1.1 %, and
/// 25 % less time: fewer encoder passes).
#[derive(Debug, Default)]
pub struct Batcher {
    pending: Vec<Span>,
}

impl Batcher {
    fn len(&self) -> f64 {
        self.pending.iter().map(|s| s.end - s.start).sum()
    }

    /// Where the pending batch starts in the file (its audio must be kept until then).
    pub fn start(&self) -> Option<f64> {
        self.pending.first().map(|s| s.start)
    }

    /// The next window; the finished batch when this window does not fit in it.
    pub fn push(&mut self, mut w: Span) -> Option<Vec<Span>> {
        let len = self.len();
        let Some(last) = self.pending.last_mut() else {
            self.pending.push(w);
            return None;
        };
        if w.start <= last.end {
            if len + (w.end - last.end).max(0.0) <= BATCH_MAX {
                last.end = last.end.max(w.end);
                return None;
            }
            // Continuous speech: the next batch starts where this one ends (the overlap of
            // the padding is not heard twice).
            w.start = last.end;
        } else if len + (w.end - w.start) <= BATCH_MAX {
            self.pending.push(w);
            return None;
        }
        Some(std::mem::replace(&mut self.pending, vec![w]))
    }

    /// The last batch.
    pub fn finish(&mut self) -> Option<Vec<Span>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
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

/// Shortest encoder context in seconds when not using the full 30 s. Measured on the bench
/// file (bench/transcribe): with only the window plus a margin, 3-second windows fell into
/// repetition loops and 1-second windows of tones came back as invented sentences; 10 s kept
/// the transcript identical in content to the full-context one.
pub const MIN_CONTEXT: f64 = 10.0;

/// whisper.cpp's `audio_ctx` (encoder positions, 50 per second, at most 1500 = 30 s) for a
/// window of `seconds`: the window plus 1 s of margin, at least [`MIN_CONTEXT`].
pub fn audio_ctx(seconds: f64) -> i32 {
    let s = (seconds + 1.0).max(MIN_CONTEXT);
    ((s * 50.0).ceil() as i32).min(1500)
}

/// Group speech spans into windows of at most `max` seconds (whisper's context is 30 s): a
/// span joins the window before it when the gap between them is at most `gap` seconds and the
/// window stays within `max`. Windows are padded by `pad` seconds (clamped to [0, duration]);
/// a span longer than `max` is cut.
///
/// A small `gap` keeps silence out of the windows: whisper's cost then follows the amount of
/// speech, not the distance between the first and last word of a window, and it is not asked
/// to transcribe long silences (where it invents text).
pub fn windows(spans: &[Span], duration: f64, max: f64, gap: f64, pad: f64) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for s in spans {
        let mut start = s.start;
        while start < s.end {
            let end = s.end.min(start + max);
            match out.last_mut() {
                Some(w) if end - w.start <= max && start - w.end <= gap => w.end = end,
                _ => out.push(Span { start, end }),
            }
            start = end;
        }
    }
    out.into_iter()
        .map(|w| Span {
            start: (w.start - pad).max(0.0),
            end: (w.end + pad).min(duration),
        })
        .collect()
}

/// How speech spans become whisper windows (see [`windows`]).
#[derive(Debug, Clone, Copy)]
pub struct WindowOptions {
    pub max: f64,
    pub gap: f64,
    pub pad: f64,
}

impl Default for WindowOptions {
    /// At most 30 s (whisper's context), spans closer than 1 s joined, 0.2 s of padding.
    fn default() -> Self {
        WindowOptions {
            max: 30.0,
            gap: 1.0,
            pad: 0.2,
        }
    }
}

/// What [`settled_windows`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// The windows no later audio can change, in order.
    pub windows: Vec<Span>,
    /// No window still to come starts before this time (seconds): audio before it that the
    /// windows above do not cover is not needed any more.
    pub horizon: f64,
    /// A chunk from which the span state machine can start afresh and give the same spans
    /// (no span under way there), with every window settled so far before it: probabilities
    /// before it are not needed any more. `None` while a span cut at `max` is half settled.
    pub restart: Option<usize>,
}

/// The windows that no later audio can change, from the VAD probabilities of chunks
/// `first`.. of a stream that goes on (`probs[0]` is chunk `first`); with
/// `end = Some(duration)` the stream is over and every window is returned. For a growing
/// `probs`, each call's windows start with the previous call's, and the last call's equal
/// `windows(spans(all probs))`: so whisper can start on the first windows while the audio is
/// still being decoded and analysed. [`WindowStream`] drives it and drops what is settled.
///
/// A window settles when the next speech is more than `gap` away, or when it could not join
/// the window anyway (the window would exceed `max`). Speech that has not paused yet (a span
/// still open) settles nothing after its start: its audio is kept until it ends.
///
/// `first` is 0 or the `restart` of an earlier call that saw those chunks: no span is under
/// way there, so starting the span state machine afresh gives the same spans.
pub fn settled_windows(
    probs: &[f32],
    first: usize,
    end: Option<f64>,
    o: SpanOptions,
    w: WindowOptions,
) -> Settled {
    let step = CHUNK as f64 / crate::vad::SAMPLE_RATE as f64;
    let off = first as f64 * step;
    let shift = |s: Span| Span {
        start: s.start + off,
        end: s.end + off,
    };
    let (closed, open) = raw_spans(probs, o);
    if let Some(duration) = end {
        // Close and shift first, then pad: padding clamps at 0 s of the file, not of `probs`.
        let raw = close_spans(closed, open, duration - off, o);
        let sp = pad_and_merge(raw.into_iter().map(shift).collect(), duration, o.pad);
        return Settled {
            windows: windows(&sp, duration, w.max, w.gap, w.pad),
            horizon: duration,
            restart: None,
        };
    }
    let t = off + probs.len() as f64 * step;
    // Closed spans never change; the open one (or any later one) starts at `next_start` or
    // later, and padding only merges spans closer than 2 x pad, which closed ones never are
    // (they are followed by at least min_silence of silence) -- still, only count closed
    // spans whose padded end lies before the next padded start.
    let next_start = open.map_or(t, |s| s.start + off) - o.pad;
    let all = pad_and_merge(closed.into_iter().map(shift).collect(), t, o.pad);
    let n_final = all.iter().take_while(|s| s.end < next_start).count();
    let candidates = windows(&all[..n_final], t, w.max, w.gap, 0.0);
    let settled = candidates
        .iter()
        .take_while(|x| x.end + w.gap < next_start || next_start - x.start >= w.max)
        .count();
    let horizon = candidates
        .get(settled)
        .map_or(next_start, |x| x.start.min(next_start))
        - w.pad;
    // Where the next unsettled speech begins: the span of the first unsettled window (if
    // that window is the span's first piece), else the first span not final yet, else the
    // open span or the end (padded starts: next_start is one too).
    let span_start = match candidates.get(settled) {
        Some(x) => all[..n_final]
            .iter()
            .find(|s| (s.start - x.start).abs() < 1e-9)
            .map(|s| s.start),
        None => Some(all.get(n_final).map_or(next_start, |s| s.start)),
    };
    let restart = span_start.map(|p| {
        let raw = if p <= 0.0 { 0.0 } else { p + o.pad };
        let chunk = (raw / step).round() as usize;
        chunk.clamp(first, first + probs.len())
    });
    Settled {
        windows: candidates[..settled]
            .iter()
            .map(|x| Span {
                start: (x.start - w.pad).max(0.0),
                end: x.end + w.pad,
            })
            .collect(),
        horizon: horizon.max(0.0),
        restart,
    }
}

/// Whisper windows from a stream of VAD probabilities, as they settle. Keeps only the
/// probabilities from the last restart point on, so each step costs what is unsettled, not
/// the whole file so far.
pub struct WindowStream {
    probs: Vec<f32>,
    /// Chunk index of `probs[0]`.
    first: usize,
    /// Windows already returned that start at or after `first`.
    returned: usize,
    o: SpanOptions,
    w: WindowOptions,
}

impl WindowStream {
    pub fn new(o: SpanOptions, w: WindowOptions) -> Self {
        WindowStream {
            probs: Vec::new(),
            first: 0,
            returned: 0,
            o,
            w,
        }
    }

    /// Probabilities of the next chunks: the windows that settled (each returned once) and
    /// the horizon before which no window still to come starts.
    pub fn push(&mut self, probs: &[f32]) -> Settled {
        self.probs.extend_from_slice(probs);
        let mut s = settled_windows(&self.probs, self.first, None, self.o, self.w);
        let all = std::mem::take(&mut s.windows);
        s.windows = all.into_iter().skip(self.returned).collect();
        self.returned += s.windows.len();
        if let Some(k) = s.restart.filter(|&k| k > self.first) {
            // Every window so far lies before the restart chunk.
            self.probs.drain(..k - self.first);
            self.first = k;
            self.returned = 0;
        }
        s
    }

    /// End of the stream (`duration` seconds in all): the remaining windows.
    pub fn finish(self, duration: f64) -> Vec<Span> {
        settled_windows(&self.probs, self.first, Some(duration), self.o, self.w)
            .windows
            .into_iter()
            .skip(self.returned)
            .collect()
    }
}

/// SRT / WebVTT time stamp.
fn stamp(t: f64, sep: char) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
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
    fn windows_group_and_cut() {
        let sp = |a: f64, b: f64| Span { start: a, end: b };
        let w = windows(
            &[
                sp(1.0, 5.0),
                sp(10.0, 20.0),
                sp(25.0, 40.0),
                sp(50.0, 120.0),
            ],
            130.0,
            30.0,
            100.0,
            0.0,
        );
        // Spans are kept whole when they fit in a window of their own: 25..40 does not join.
        assert_eq!(w[0], sp(1.0, 20.0));
        assert_eq!(w[1], sp(25.0, 40.0));
        assert_eq!(w[2], sp(50.0, 80.0));
        assert_eq!(w[3], sp(80.0, 110.0));
        assert_eq!(w[4], sp(110.0, 120.0));
        assert!(windows(&[], 10.0, 30.0, 1.0, 0.2).is_empty());
        let w = windows(&[sp(0.1, 2.0)], 2.05, 30.0, 1.0, 0.2);
        assert_eq!(w[0], sp(0.0, 2.05));
        // A gap longer than `gap` starts a new window even when both would fit in one.
        let w = windows(
            &[sp(0.0, 2.0), sp(2.5, 4.0), sp(9.0, 10.0)],
            20.0,
            30.0,
            1.0,
            0.0,
        );
        assert_eq!(w, vec![sp(0.0, 4.0), sp(9.0, 10.0)]);
    }

    #[test]
    fn settled_windows_are_a_prefix_of_the_final_ones() {
        // Pseudo-random speech/silence patterns: every partial answer must be a prefix of the
        // answer for the whole stream.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let step = CHUNK as f64 / 16000.0;
        let mut long_windows = 0;
        for round in 0..300 {
            let mut probs = Vec::new();
            // Two thirds mixed speech and silence; one third mostly speech with short pauses
            // (windows that reach the 30 s limit).
            let levels: &[f32] = if round % 3 == 2 {
                &[0.9, 0.9, 0.9, 0.0]
            } else {
                &[0.0, 0.2, 0.4, 0.9]
            };
            while probs.len() < 3000 {
                let p = levels[(rnd() % 4) as usize];
                let run = if p < 0.35 && round % 3 == 2 {
                    1 + (rnd() % 20) as usize
                } else {
                    1 + (rnd() % 80) as usize
                };
                probs.extend(std::iter::repeat_n(p, run));
            }
            let dur = probs.len() as f64 * step;
            let o = SpanOptions::default();
            let w = WindowOptions::default();
            let full = settled_windows(&probs, 0, Some(dur), o, w).windows;
            long_windows += full.iter().filter(|x| x.end - x.start > 29.0).count();
            let mut prev = 0;
            for k in (0..probs.len()).step_by(7) {
                let part = settled_windows(&probs[..k], 0, None, o, w);
                let n = part.windows.len();
                assert!(n >= prev, "windows went away at chunk {k}");
                assert_eq!(&full[..n], &part.windows[..], "chunk {k}");
                // Every window still to come starts at or after the horizon.
                for later in &full[n..] {
                    assert!(
                        later.start >= part.horizon - 1e-9,
                        "chunk {k}: {later:?} {part:?}"
                    );
                }
                prev = n;
            }
            // The same through WindowStream, which drops settled probabilities as it goes,
            // fed in uneven steps: the same windows, each once.
            let mut ws = WindowStream::new(o, w);
            let mut got = Vec::new();
            let mut kept_most = 0;
            let mut at = 0;
            while at < probs.len() {
                let n = (1 + (rnd() % 90) as usize).min(probs.len() - at);
                got.extend(ws.push(&probs[at..at + n]).windows);
                at += n;
                kept_most = kept_most.max(ws.probs.len());
            }
            if round % 3 != 2 {
                // With pauses, what is kept stays far below the stream's length.
                assert!(
                    kept_most < probs.len() / 2,
                    "round {round}: kept {kept_most}"
                );
            }
            got.extend(ws.finish(dur));
            // Times agree up to float rounding (spans are shifted by the dropped chunks).
            assert_eq!(got.len(), full.len(), "round {round}: {got:?} vs {full:?}");
            for (a, b) in got.iter().zip(&full) {
                assert!(
                    (a.start - b.start).abs() < 1e-9 && (a.end - b.end).abs() < 1e-9,
                    "round {round}: {a:?} vs {b:?}"
                );
            }
        }
        assert!(
            long_windows > 20,
            "only {long_windows} windows reached the 30 s limit"
        );
    }

    #[test]
    fn batches_join_windows_up_to_whisper_context() {
        let w = |a: f64, b: f64| Span { start: a, end: b };
        let mut b = Batcher::default();
        // Separate windows side by side while they fit in BATCH_MAX (20 s).
        assert_eq!(b.push(w(0.0, 6.0)), None);
        assert_eq!(b.push(w(10.0, 16.0)), None);
        assert_eq!(b.start(), Some(0.0));
        // Touching or overlapping (padding): one stretch.
        assert_eq!(b.push(w(15.8, 20.0)), None);
        assert_eq!(b.pending, vec![w(0.0, 6.0), w(10.0, 20.0)]);
        // 16 s held: 6 more do not fit; the batch is done and the window starts the next.
        assert_eq!(
            b.push(w(30.0, 36.0)),
            Some(vec![w(0.0, 6.0), w(10.0, 20.0)])
        );
        assert_eq!(b.start(), Some(30.0));
        // Continuous speech past 20 s: cut, the overlap heard once.
        assert_eq!(b.push(w(35.8, 50.0)), None);
        assert_eq!(b.push(w(49.8, 55.0)), Some(vec![w(30.0, 50.0)]));
        assert_eq!(b.finish(), Some(vec![w(50.0, 55.0)]));
        assert_eq!(b.finish(), None);
        assert_eq!(b.start(), None);
    }

    #[test]
    fn joined_times_map_back_to_the_file() {
        // Stretches at 10-15 s and 40-50 s of the file, joined: 0-5 s and 5-15 s.
        let table = [(10.0, 5.0), (40.0, 10.0)];
        assert_eq!(file_time(&table, 1.0, false), 11.0);
        assert_eq!(file_time(&table, 7.0, false), 42.0);
        assert_eq!(file_time(&table, 7.0, true), 42.0);
        // At a junction a start belongs to the next stretch, an end to the one before,
        // also a little either side of it (the padding's silence).
        assert_eq!(file_time(&table, 5.0, false), 40.0);
        assert_eq!(file_time(&table, 4.8, false), 40.0);
        assert_eq!(file_time(&table, 5.0, true), 15.0);
        assert_eq!(file_time(&table, 5.2, true), 15.0);
        // A stretch shorter than two junction margins keeps its own middle.
        let short = [(30.4, 0.2), (40.0, 5.0)];
        assert_eq!(file_time(&short, 0.0, false), 30.4);
        assert!((file_time(&short, 0.25, true) - 30.6).abs() < 1e-9);
        // Past the end: the last stretch's end.
        assert_eq!(file_time(&table, 99.0, true), 50.0);
        assert_eq!(file_time(&[(3.0, 2.0)], -1.0, false), 3.0);
        assert_eq!(file_time(&[], 1.0, false), 0.0);
    }

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
        assert_eq!(audio_ctx(0.5), 500); // at least 10 s
        assert_eq!(audio_ctx(12.0), 650); // window + 1 s
        assert_eq!(audio_ctx(29.5), 1500); // never more than whisper's 30 s
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
