//! A thin, safe layer over whisper.cpp's C API (`whisper-rs-sys`, re-exported by whisper-rs'
//! `raw-api`): the few calls vx makes, with the pointers owned by Rust types that free them.
//!
//! vx does not go through whisper-rs' own wrapper for decoding because it needs what that
//! wrapper does not offer: handing whisper.cpp a log-mel spectrogram computed by vx
//! ([`super::mel`]) and then running `whisper_full_with_state` on it (whisper-rs refuses an
//! empty sample slice, and its context and state pointers are private); and its setters leak
//! one C string per call.
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use whisper_rs::whisper_rs_sys as sys;

/// whisper.cpp's and ggml's log lines off (vx reports what matters itself). Once per
/// process, before any other whisper.cpp call (every function here that calls whisper.cpp
/// first calls this), so the callback is never replaced while another thread logs.
pub(crate) fn quiet_logs() {
    unsafe extern "C" fn drop_line(
        _level: sys::ggml_log_level,
        _text: *const c_char,
        _: *mut c_void,
    ) {
    }
    static QUIET: std::sync::Once = std::sync::Once::new();
    // SAFETY: the callback is a plain function that ignores its arguments; both setters only
    // store the pointer, once, before anything else of whisper.cpp runs.
    QUIET.call_once(|| unsafe {
        sys::whisper_log_set(Some(drop_line), std::ptr::null_mut());
        sys::ggml_log_set(Some(drop_line), std::ptr::null_mut());
    });
}

/// Bytes of a C string returned by whisper.cpp (empty for NULL).
///
/// SAFETY: `p` is NULL or points to a NUL-terminated string that lives at least as long as
/// the returned slice's lifetime `'a`.
unsafe fn c_bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        &[]
    } else {
        CStr::from_ptr(p).to_bytes()
    }
}

/// whisper.cpp's id of a language code or English name ("en", "english"), if it knows it.
pub(crate) fn lang_id(language: &str) -> Option<i32> {
    quiet_logs(); // whisper.cpp logs an unknown code as an error
    let c = CString::new(language).ok()?;
    // SAFETY: a valid NUL-terminated string; whisper_lang_id only reads it.
    let id = unsafe { sys::whisper_lang_id(c.as_ptr()) };
    (id >= 0).then_some(id)
}

/// The code of whisper.cpp's language `id` ("en"), if it is one.
pub(crate) fn lang_str(id: i32) -> Option<&'static str> {
    if id < 0 {
        return None;
    }
    quiet_logs();
    // SAFETY: whisper_lang_str returns NULL for an unknown id, else a pointer into a static
    // table.
    let b = unsafe { c_bytes(sys::whisper_lang_str(id)) };
    std::str::from_utf8(b).ok().filter(|s| !s.is_empty())
}

/// A loaded model (weights only; decoding state lives in [`State`]).
pub(crate) struct Context {
    ptr: NonNull<sys::whisper_context>,
}

// SAFETY: after loading, whisper.cpp only reads a context (the model's weights and
// vocabulary); everything a decode writes lives in its own whisper_state.
unsafe impl Send for Context {}
unsafe impl Sync for Context {}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the pointer came from whisper_init_from_file_with_params_no_state and is
        // freed once; every State holds an Arc of this Context, so none outlives it.
        unsafe { sys::whisper_free(self.ptr.as_ptr()) }
    }
}

impl Context {
    /// Load a model file (already validated by `crate::ggml`): CPU, no flash attention, no
    /// DTW alignment heads. None if whisper.cpp refuses it.
    pub(crate) fn open(path: &str) -> Option<Arc<Context>> {
        quiet_logs();
        let c = CString::new(path).ok()?;
        // SAFETY: plain value returned by whisper.cpp; the path is a valid C string that
        // outlives the call.
        let ptr = unsafe {
            let mut p = sys::whisper_context_default_params();
            p.use_gpu = false;
            p.flash_attn = false;
            p.dtw_token_timestamps = false;
            sys::whisper_init_from_file_with_params_no_state(c.as_ptr(), p)
        };
        NonNull::new(ptr).map(|ptr| Arc::new(Context { ptr }))
    }

    pub(crate) fn is_multilingual(&self) -> bool {
        // SAFETY: a live context.
        unsafe { sys::whisper_is_multilingual(self.ptr.as_ptr()) != 0 }
    }

    /// The end-of-text token: ids at or above it are special (timestamps, language, task).
    pub(crate) fn token_eot(&self) -> i32 {
        // SAFETY: a live context.
        unsafe { sys::whisper_token_eot(self.ptr.as_ptr()) }
    }

    /// Mel bands the model expects.
    pub(crate) fn n_mels(&self) -> i32 {
        // SAFETY: a live context.
        unsafe { sys::whisper_model_n_mels(self.ptr.as_ptr()) }
    }

    /// A new decoding state (KV caches, compute buffers). None if whisper.cpp cannot make one.
    pub(crate) fn new_state(self: &Arc<Self>) -> Option<State> {
        // SAFETY: a live context; the state keeps an Arc of it.
        let ptr = unsafe { sys::whisper_init_state(self.ptr.as_ptr()) };
        NonNull::new(ptr).map(|ptr| State {
            ctx: Arc::clone(self),
            ptr,
        })
    }
}

/// How `whisper_full` runs: whisper.cpp's defaults for a sampling strategy, with the C
/// strings it points to owned here (so they live as long as the parameters).
pub(crate) struct Params {
    raw: sys::whisper_full_params,
    _language: CString,
    _prompt: Option<CString>,
}

/// How much the temperature rises at each fallback (whisper.cpp's default).
const TEMPERATURE_STEP: f32 = 0.2;

/// The settings vx changes from whisper.cpp's defaults.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings<'a> {
    /// Beams (greedy when 0 or 1).
    pub beam_size: usize,
    /// The first decoding's temperature (0: the most likely tokens).
    pub temperature: f32,
    /// Decode again at a temperature 0.2 higher (up to 1.0) when a result looks wrong:
    /// repetitive (its tokens' entropy under 2.4) or unlikely (mean log probability under
    /// -1); whisper.cpp's defaults, those of OpenAI's whisper and faster-whisper.
    pub fallback: bool,
    pub threads: usize,
    pub language: &'a str,
    pub prompt: Option<&'a str>,
    pub token_timestamps: bool,
    pub translate: bool,
    /// Encoder positions (0: the model's full context).
    pub audio_ctx: i32,
}

impl Params {
    /// Err with the reason when a string holds a NUL character ("the prompt holds a NUL
    /// character").
    pub(crate) fn new(s: &Settings<'_>) -> Result<Params, String> {
        let beam = s.beam_size > 1;
        let language =
            CString::new(s.language).map_err(|_| "the language holds a NUL".to_string())?;
        let prompt = s
            .prompt
            .map(CString::new)
            .transpose()
            .map_err(|_| "the prompt holds a NUL character".to_string())?;
        // SAFETY: returns a plain struct by value.
        let mut raw = unsafe {
            sys::whisper_full_default_params(if beam {
                sys::whisper_sampling_strategy_WHISPER_SAMPLING_BEAM_SEARCH
            } else {
                sys::whisper_sampling_strategy_WHISPER_SAMPLING_GREEDY
            } as _)
        };
        if beam {
            raw.beam_search.beam_size = s.beam_size.min(i32::MAX as usize) as i32;
            raw.beam_search.patience = -1.0;
        } else {
            raw.greedy.best_of = 1;
        }
        // whisper.cpp divides the logits by the temperature: NaN, or a tiny one, would make
        // garbage (the callers' checks keep it at 0 or 0.01-1; this keeps the C side safe).
        raw.temperature = if s.temperature.is_finite() && s.temperature >= 0.01 {
            s.temperature.min(1.0)
        } else {
            0.0
        };
        raw.temperature_inc = if s.fallback { TEMPERATURE_STEP } else { 0.0 };
        raw.n_threads = s.threads.clamp(1, 1024) as i32;
        raw.translate = s.translate;
        raw.no_context = true;
        raw.token_timestamps = s.token_timestamps;
        raw.print_special = false;
        raw.print_progress = false;
        raw.print_realtime = false;
        raw.print_timestamps = false;
        raw.suppress_blank = true;
        raw.suppress_nst = true;
        raw.audio_ctx = s.audio_ctx.max(0);
        raw.language = language.as_ptr();
        if let Some(p) = &prompt {
            raw.initial_prompt = p.as_ptr();
        }
        Ok(Params {
            raw,
            _language: language,
            _prompt: prompt,
        })
    }
}

/// What one `whisper_full` call is given.
pub(crate) enum Input<'a> {
    /// 16 kHz mono samples: whisper.cpp computes the spectrogram (and, for token
    /// timestamps, the signal energy it needs).
    Samples(&'a [f32]),
    /// A spectrogram laid out as whisper.cpp's own (`n_mel` rows of `n_len` frames, padding
    /// included) and the length of the audio in it in 10 ms frames.
    Mel {
        data: &'a [f32],
        n_mel: usize,
        n_len: usize,
        frames: usize,
    },
}

/// One token of a decoded segment.
pub(crate) struct Token<'s> {
    pub id: i32,
    /// Start and end in 10 ms units of the audio given (token timestamps).
    pub t0: i64,
    pub t1: i64,
    pub p: f32,
    pub bytes: &'s [u8],
}

/// A decoding state of one [`Context`].
pub(crate) struct State {
    ctx: Arc<Context>,
    ptr: NonNull<sys::whisper_state>,
}

// SAFETY: a whisper_state is only touched through &mut self (decoding) or &self (reading
// results) and belongs to no thread; its context is Sync.
unsafe impl Send for State {}

impl Drop for State {
    fn drop(&mut self) {
        // SAFETY: from whisper_init_state, freed once, before its context (held by the Arc).
        unsafe { sys::whisper_free_state(self.ptr.as_ptr()) }
    }
}

/// What [`State::full`] watches of a decoding: whether whisper.cpp started decoding a stretch
/// of audio again (temperature fallback), which samples tokens.
#[derive(Default)]
struct Attempts {
    /// A token was decoded since the encoder last ran.
    tokens: AtomicBool,
    /// A decoding started again after tokens of the same encoder pass.
    again: AtomicBool,
}

/// Before each encoder pass (each seek through the audio).
unsafe extern "C" fn encoder_begins(
    _: *mut sys::whisper_context,
    _: *mut sys::whisper_state,
    user: *mut c_void,
) -> bool {
    // SAFETY: `user` is the `Attempts` of the `full` call running this callback.
    let a = unsafe { &*(user as *const Attempts) };
    a.tokens.store(false, Ordering::Relaxed);
    true
}

/// Before each token is chosen, with the tokens of that decoding so far (none at the start of
/// an attempt); may run on several threads at once (beam search).
unsafe extern "C" fn next_token(
    _: *mut sys::whisper_context,
    _: *mut sys::whisper_state,
    _: *const sys::whisper_token_data,
    n_tokens: c_int,
    _: *mut f32,
    user: *mut c_void,
) {
    // SAFETY: as in `encoder_begins`.
    let a = unsafe { &*(user as *const Attempts) };
    if n_tokens > 0 {
        a.tokens.store(true, Ordering::Relaxed);
    } else if a.tokens.load(Ordering::Relaxed) {
        a.again.store(true, Ordering::Relaxed);
    }
}

impl State {
    /// Run whisper (encoder and decoder, seeking through the audio) on `input`. Err with
    /// whisper.cpp's return code, or a reason for input it would misread. Ok(true) when
    /// whisper.cpp decoded some audio again at a higher temperature (fallback): it then
    /// sampled tokens, with a random generator that lives in the state (seeded when the
    /// state is made and never again), so the state's next sampled decodings would depend
    /// on this one — see [`super::Decoder::transcribe`].
    pub(crate) fn full(&mut self, params: &Params, input: Input<'_>) -> Result<bool, String> {
        let (ctx, st) = (self.ctx.ptr.as_ptr(), self.ptr.as_ptr());
        let mut raw = params.raw;
        let attempts = Attempts::default();
        let user = &attempts as *const Attempts as *mut c_void;
        raw.encoder_begin_callback = Some(encoder_begins);
        raw.encoder_begin_callback_user_data = user;
        raw.logits_filter_callback = Some(next_token);
        raw.logits_filter_callback_user_data = user;
        let rc = match input {
            Input::Samples(samples) => {
                if samples.is_empty() || samples.len() > i32::MAX as usize {
                    return Err(format!("{} samples", samples.len()));
                }
                // SAFETY: live context and state; the samples outlive the call; the params'
                // strings are owned by `params`, borrowed for the call.
                unsafe {
                    sys::whisper_full_with_state(
                        ctx,
                        st,
                        raw,
                        samples.as_ptr(),
                        samples.len() as i32,
                    )
                }
            }
            Input::Mel {
                data,
                n_mel,
                n_len,
                frames,
            } => {
                let ok = n_mel as i32 == self.ctx.n_mels()
                    && n_len.checked_mul(n_mel) == Some(data.len())
                    && frames > 0
                    && frames <= n_len
                    && n_len <= i32::MAX as usize
                    && frames <= (i32::MAX / 10) as usize;
                if !ok {
                    return Err(format!(
                        "a spectrogram of {} values is not {n_mel} x {n_len} with {frames} frames of audio",
                        data.len()
                    ));
                }
                // SAFETY: as above; whisper_set_mel_with_state copies the data.
                let rc = unsafe {
                    sys::whisper_set_mel_with_state(
                        ctx,
                        st,
                        data.as_ptr(),
                        n_len as i32,
                        n_mel as i32,
                    )
                };
                if rc != 0 {
                    return Err(format!("whisper_set_mel returned {rc}"));
                }
                // whisper.cpp takes the spectrogram's whole length (its padding included) for
                // the audio's: the decoding stops where the audio does.
                raw.duration_ms = (frames * 10) as i32;
                // SAFETY: with no samples whisper.cpp keeps the spectrogram just set (and
                // reads no samples: token timestamps are not asked for on this path).
                unsafe { sys::whisper_full_with_state(ctx, st, raw, std::ptr::null(), 0) }
            }
        };
        if rc == 0 {
            Ok(attempts.again.load(Ordering::Relaxed))
        } else {
            Err(format!("whisper_full returned {rc}"))
        }
    }

    /// The language of the last decode (detected, or the one asked for).
    pub(crate) fn lang_id(&self) -> i32 {
        // SAFETY: a live state.
        unsafe { sys::whisper_full_lang_id_from_state(self.ptr.as_ptr()) }
    }

    pub(crate) fn n_segments(&self) -> i32 {
        // SAFETY: a live state.
        unsafe { sys::whisper_full_n_segments_from_state(self.ptr.as_ptr()) }
    }

    /// Segment `i` (0 <= i < n_segments): start and end in 10 ms units, text bytes.
    pub(crate) fn segment(&self, i: i32) -> (i64, i64, &[u8]) {
        let st = self.ptr.as_ptr();
        // SAFETY: i is checked against the count; the text lives in the state until its next
        // decode, which needs &mut self.
        unsafe {
            if i < 0 || i >= self.n_segments() {
                return (0, 0, &[]);
            }
            (
                sys::whisper_full_get_segment_t0_from_state(st, i),
                sys::whisper_full_get_segment_t1_from_state(st, i),
                c_bytes(sys::whisper_full_get_segment_text_from_state(st, i)),
            )
        }
    }

    /// The tokens of segment `i`.
    pub(crate) fn tokens(&self, i: i32) -> Vec<Token<'_>> {
        let (ctx, st) = (self.ctx.ptr.as_ptr(), self.ptr.as_ptr());
        if i < 0 || i >= self.n_segments() {
            return Vec::new();
        }
        // SAFETY: indices within the counts whisper.cpp reports; texts live in the context's
        // vocabulary.
        unsafe {
            let n = sys::whisper_full_n_tokens_from_state(st, i);
            (0..n)
                .map(|j| {
                    let d = sys::whisper_full_get_token_data_from_state(st, i, j);
                    Token {
                        id: d.id,
                        t0: d.t0,
                        t1: d.t1,
                        p: d.p,
                        bytes: c_bytes(sys::whisper_full_get_token_text_from_state(ctx, st, i, j)),
                    }
                })
                .collect()
        }
    }
}
