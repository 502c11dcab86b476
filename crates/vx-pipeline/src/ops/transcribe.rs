//! `transcribe`: whisper.cpp on the speech Silero VAD finds (windows of up to 30 s).
//!
//! On the operation's thread the audio runs through the VAD as it arrives; blocks of samples
//! with their speech probabilities go (bounded) to a whisper thread, which takes each window
//! as soon as no later audio can change it (`WindowStream`), groups the windows into batches
//! of at most 20 s (`Batcher`: touching windows joined into one stretch, separate ones heard
//! side by side), and hands each batch, as soon as it is complete, to a bounded queue read by
//! the whisper decoders (one per whisper thread, each single-threaded on its own state, each
//! taking the next batch when it is free; results are put back in order). It forgets the
//! audio nothing still to come can need (batches carry their own copy): memory does not grow
//! with the file's length, and whisper works while the file is still being decoded. The model
//! itself loads on a thread of its own while Silero opens and the first audio is scored and
//! windowed (`SharedWhisper`).
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::Serialize;
use vx_infer::transcribe::{
    Batcher, ModelFile, Options, Piece, Segment, Transcription, Whisper, WindowOptions,
    WindowStream, Word,
};
use vx_infer::vad::{SileroVad, Span, SpanOptions, BLOCK, CHUNK, SAMPLE_RATE};

use crate::op::{End, Flow, Input, Needs, Operation, Output};
use crate::{Error, Result};

/// Batches decoded at once at most (each holds a whisper.cpp state: tens of MiB).
const MAX_WORKERS: usize = 4;

/// A whisper model shared by every file that uses it (one file at a time). The file is
/// checked when this is made; whisper.cpp reads the weights on a thread of its own once an
/// operation's options are known to be good (`Transcribe::new`), while Silero opens and the
/// audio is decoded and scored (the load is 0.1-0.4 s: a third of `vx transcribe` on a
/// 3.6-minute file when it came first). A load still running when the last user lets go (an
/// error before any audio) is waited for, so whisper.cpp never loads while the process exits.
#[derive(Clone)]
pub struct SharedWhisper {
    pub model: PathBuf,
    /// What the model file says of itself (languages), known before the weights are loaded.
    pub file: ModelFile,
    whisper: Arc<Mutex<Slot>>,
}

enum Slot {
    NotLoaded(ModelFile),
    Loading(Load),
    Ready(Whisper),
    /// The load failed (the error went to the first user; later ones get its text).
    Failed(String),
}

/// A load running on a thread of its own; joined when dropped.
struct Load(Option<JoinHandle<vx_infer::Result<Whisper>>>);

impl Drop for Load {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

impl SharedWhisper {
    pub fn open(model: &Path) -> Result<SharedWhisper> {
        let file = ModelFile::check(model)?;
        Ok(SharedWhisper {
            model: model.to_path_buf(),
            file: file.clone(),
            whisper: Arc::new(Mutex::new(Slot::NotLoaded(file))),
        })
    }

    /// Start loading the weights on a thread of their own, unless that has begun (or the
    /// thread cannot start: [`SharedWhisper::with`] then loads them itself).
    pub fn preload(&self) {
        let Ok(mut slot) = self.whisper.lock() else {
            return;
        };
        if let Slot::NotLoaded(file) = &*slot {
            let file = file.clone();
            if let Ok(h) = std::thread::Builder::new()
                .name("whisper-load".into())
                .spawn(move || Whisper::load(file))
            {
                *slot = Slot::Loading(Load(Some(h)));
            }
        }
    }

    /// Run `f` on the model (waiting for its load, or loading it if no one has), alone.
    pub fn with<R>(&self, f: impl FnOnce(&mut Whisper) -> Result<R>) -> Result<R> {
        let mut slot = self
            .whisper
            .lock()
            .map_err(|_| Error::failed(&self.model, "whisper poisoned"))?;
        let loaded = match std::mem::replace(&mut *slot, Slot::Failed("loading".into())) {
            Slot::NotLoaded(file) => Some(Whisper::load(file)),
            Slot::Loading(mut load) => Some(match load.0.take().map(JoinHandle::join) {
                Some(Ok(r)) => r,
                _ => Err(vx_infer::InferError::Run {
                    path: self.model.clone(),
                    reason: "the thread loading it panicked".into(),
                }),
            }),
            other => {
                *slot = other;
                None
            }
        };
        match loaded {
            Some(Ok(w)) => *slot = Slot::Ready(w),
            Some(Err(e)) => {
                *slot = Slot::Failed(e.to_string());
                return Err(e.into());
            }
            None => {}
        }
        match &mut *slot {
            Slot::Ready(w) => f(w),
            Slot::Failed(reason) => Err(Error::Message(reason.clone())),
            Slot::NotLoaded(_) | Slot::Loading(_) => {
                Err(Error::failed(&self.model, "whisper is not loaded"))
            }
        }
    }
}

/// Settings of the transcribe operation.
#[derive(Debug, Clone)]
pub struct TranscribeOptions {
    /// Spoken language ("en"...); None: English for English-only models, else detected on the
    /// first window and kept.
    pub language: Option<String>,
    /// whisper.cpp threads (at least 1).
    pub threads: usize,
    /// Encode whisper's full 30 s context for every window.
    pub full_context: bool,
    /// Silero VAD model; None transcribes everything in fixed 30 s windows.
    pub vad_model: Option<PathBuf>,
    /// Text given to the decoder before each batch.
    pub prompt: Option<String>,
    /// Beam search width (0 or 1: greedy).
    pub beam_size: usize,
    /// The first decoding's temperature (0 to 1).
    pub temperature: f32,
    /// Temperature fallback (whisper's default: on).
    pub fallback: bool,
    /// Word times in the segments.
    pub words: bool,
    /// Translate the speech into English (multilingual models only).
    pub translate: bool,
    /// Called with each segment (on the file's timeline) as soon as it is settled, in order
    /// (`vx transcribe --stream-output`).
    pub on_segment: Option<OnSegment>,
    /// Called with each batch of speech as it goes to whisper: its stretches of audio
    /// (start, end) in seconds of the file (`vx transcribe --debug`).
    pub on_batch: Option<OnBatch>,
}

/// Stretches of audio, (start, end) in seconds of the file.
pub type Stretches = [(f64, f64)];

/// A callback for each batch whisper is given.
#[derive(Clone)]
pub struct OnBatch(pub Arc<dyn Fn(&Stretches) + Send + Sync>);

impl std::fmt::Debug for OnBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnBatch")
    }
}

/// A callback for each settled segment.
#[derive(Clone)]
pub struct OnSegment(pub Arc<dyn Fn(&Segment) + Send + Sync>);

impl std::fmt::Debug for OnSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnSegment")
    }
}

/// `transcript.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Transcript {
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub source: PathBuf,
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub model: PathBuf,
    pub language: Option<String>,
    /// Seconds of audio.
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub duration: f64,
    pub text: String,
    /// Segments on the file's timeline.
    pub segments: Vec<Segment>,
    /// False when the input was damaged or truncated, or its header was wrong (see warnings).
    pub complete: bool,
    pub warnings: Vec<String>,
}

enum Msg {
    /// Samples and the VAD probability of each CHUNK of them (empty without VAD).
    Audio(Vec<f32>, Vec<f32>),
    /// Decoding finished: total samples.
    End(usize),
}

type Worker = JoinHandle<Result<(Vec<Segment>, Option<String>, f64)>>;

pub struct Transcribe {
    shared: SharedWhisper,
    opts: TranscribeOptions,
    vad: Option<SileroVad>,
    source: PathBuf,
    pending: Vec<f32>,
    total: usize,
    offset: Option<f64>,
    tx: Option<SyncSender<Msg>>,
    worker: Option<Worker>,
    /// The plan's vad operation, given every probability computed here.
    share: Option<crossbeam_channel::Sender<super::vad::Probs>>,
}

impl Transcribe {
    pub fn new(shared: SharedWhisper, mut opts: TranscribeOptions) -> Result<Transcribe> {
        {
            let w = &shared.file;
            if let Some(l) = &opts.language {
                // The code actually used is what the transcript reports ("French" -> "fr").
                opts.language = Some(w.check_language(l).map_err(Error::Usage)?);
            }
            if opts.translate && !w.is_multilingual() {
                return Err(Error::Usage(format!(
                    "--translate: {} is an English-only model; translation needs a multilingual \
                     one (e.g. base, small)",
                    shared.model.display()
                )));
            }
        }
        // The options are good: whisper.cpp reads the weights while Silero opens and the audio
        // is decoded.
        shared.preload();
        let vad = opts
            .vad_model
            .as_deref()
            .map(|p| SileroVad::open(p, vx_infer::runtime::SessionOptions { threads: 1 }))
            .transpose()?;
        Ok(Transcribe {
            shared,
            opts,
            vad,
            source: PathBuf::new(),
            pending: Vec::new(),
            total: 0,
            offset: None,
            tx: None,
            worker: None,
            share: None,
        })
    }

    /// Hand every speech probability computed here to `to` (a plan's vad operation made with
    /// [`super::vad::Vad::tapping`] and the same model), then `Done` once the audio is all
    /// scored. Without a VAD model nothing is scored: nothing is shared.
    pub fn share_probabilities(&mut self, to: crossbeam_channel::Sender<super::vad::Probs>) {
        if self.vad.is_some() {
            self.share = Some(to);
        }
    }

    /// Start the whisper thread (on the first audio: an input without audio starts nothing).
    fn start(&mut self) {
        if self.tx.is_some() || self.worker.is_some() {
            return;
        }
        // At most 16 blocks (~32 s of audio) wait: decoding stays a little ahead of whisper.
        let (tx, rx) = sync_channel::<Msg>(16);
        self.tx = Some(tx);
        let shared = self.shared.clone();
        let opts = self.opts.clone();
        let use_vad = self.vad.is_some();
        let source = self.source.clone();
        let offset = self.offset.unwrap_or(0.0);
        self.worker = Some(std::thread::spawn(move || {
            whisper_loop(&shared, &opts, use_vad, rx, &source, offset)
        }));
    }

    /// Send whole chunks (all of `pending` at the end) with their probabilities.
    fn flush(&mut self, last: bool) -> Result<()> {
        let n = if last {
            self.pending.len()
        } else {
            self.pending.len() / CHUNK * CHUNK
        };
        if n == 0 {
            return Ok(());
        }
        let block: Vec<f32> = self.pending.drain(..n).collect();
        let probs = match self.vad.as_mut() {
            Some(v) => v.probabilities(&block)?,
            None => Vec::new(),
        };
        if let Some(to) = &self.share {
            let _ = to.send(super::vad::Probs::Chunks(probs.clone()));
        }
        self.send(Msg::Audio(block, probs))
    }

    fn send(&mut self, msg: Msg) -> Result<()> {
        let ok = self.tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok());
        if ok {
            return Ok(());
        }
        // The whisper thread stopped: its error says why.
        self.tx = None;
        match self.worker.take().map(|w| w.join()) {
            Some(Ok(Err(e))) => Err(e),
            _ => Err(Error::failed(&self.source, "transcription stopped early")),
        }
    }
}

impl Operation for Transcribe {
    fn name(&self) -> &'static str {
        "transcribe"
    }

    fn needs(&mut self, input: &Input) -> Needs {
        self.source = input.path.clone();
        if let Some(v) = self.vad.as_mut() {
            v.reset();
        }
        Needs::mono(SAMPLE_RATE)
    }

    fn audio(&mut self, samples: &[f32], time: f64) -> Result<Flow> {
        self.offset.get_or_insert(time);
        self.start();
        self.pending.extend_from_slice(samples);
        self.total += samples.len();
        // A block of audio per message (about 2 s: one batched Silero call).
        if self.pending.len() >= BLOCK {
            self.flush(false)?;
        }
        Ok(Flow::Continue)
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        end.audio_ok(&self.source)?;
        self.start();
        self.flush(true)?;
        if let Some(to) = self.share.take() {
            let _ = to.send(super::vad::Probs::Done);
        }
        let total = self.total;
        self.send(Msg::End(total))?;
        self.tx = None;
        let (segments, language, duration) = match self.worker.take().map(|w| w.join()) {
            Some(Ok(r)) => r?,
            _ => return Err(Error::failed(&self.source, "transcription thread failed")),
        };
        let offset = self.offset.unwrap_or(0.0);
        let segments: Vec<Segment> = segments
            .into_iter()
            .map(|s| Segment {
                start: s.start + offset,
                end: s.end + offset,
                text: s.text,
                words: s.words.map(|ws| {
                    ws.into_iter()
                        .map(|w| Word {
                            start: w.start + offset,
                            end: w.end + offset,
                            ..w
                        })
                        .collect()
                }),
            })
            .collect();
        let text = segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let warnings = end.audio_warnings.clone();
        let mut out = Output::new(Transcript {
            source: self.source.clone(),
            model: self.shared.model.clone(),
            language,
            duration,
            text,
            segments,
            complete: warnings.is_empty(),
            warnings: warnings.clone(),
        });
        out.warnings = warnings;
        Ok(out)
    }

    fn abort(mut self: Box<Self>) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// A batch handed to a whisper worker: its stretches (start in the file, samples) copied
/// out of the loop's audio buffer, and the language to decode it in.
struct Job {
    index: usize,
    pieces: Vec<(f64, Vec<f32>)>,
    language: Option<String>,
    /// whisper.cpp threads for this batch.
    threads: usize,
}

/// Batches out to the whisper workers as soon as they are ready (a bounded queue: a full one
/// blocks the loop, hence the audio decoding), results back in order.
struct Dispatch<'a> {
    jobs: crossbeam_channel::Sender<Job>,
    done: crossbeam_channel::Receiver<(usize, vx_infer::Result<Transcription>)>,
    /// Results that came back before an earlier batch's.
    early: std::collections::BTreeMap<usize, vx_infer::Result<Transcription>>,
    sent: usize,
    emitted: usize,
    segments: Vec<Segment>,
    language: Option<String>,
    opts: &'a TranscribeOptions,
    offset: f64,
    model: &'a Path,
    /// whisper.cpp threads per worker.
    per_worker: usize,
}

impl Dispatch<'_> {
    fn send(&mut self, pieces: Vec<(f64, Vec<f32>)>, threads: usize) -> Result<()> {
        let job = Job {
            index: self.sent,
            pieces,
            language: self.language.clone(),
            threads,
        };
        self.sent += 1;
        self.jobs
            .send(job)
            .map_err(|_| Error::failed(self.model, "the whisper workers stopped"))
    }

    /// Take the results that have come back, waiting until the first `need` batches' are in,
    /// and report those whose turn it is.
    fn collect(&mut self, need: usize) -> Result<()> {
        loop {
            let waiting = self.emitted < need;
            let got = if waiting {
                match self.done.recv() {
                    Ok(r) => Some(r),
                    Err(_) => return Err(Error::failed(self.model, "the whisper workers stopped")),
                }
            } else {
                self.done.try_recv().ok()
            };
            let had = got.is_some();
            if let Some((i, r)) = got {
                self.early.insert(i, r);
            }
            while let Some(r) = self.early.remove(&self.emitted) {
                self.emitted += 1;
                let t = r?;
                self.language = Some(t.language);
                if let Some(on) = &self.opts.on_segment {
                    for s in &t.segments {
                        (on.0)(&Segment {
                            start: s.start + self.offset,
                            end: s.end + self.offset,
                            text: s.text.clone(),
                            words: None,
                        });
                    }
                }
                self.segments.extend(t.segments);
            }
            if !had && !waiting {
                return Ok(());
            }
        }
    }
}

/// The whisper thread: windows from the VAD probabilities (or fixed windows), batches, and
/// `workers` whisper decoders, each on its own thread and state, taking the next batch as soon
/// as they are free (no decoder waits for another's batch to finish).
fn whisper_loop(
    shared: &SharedWhisper,
    opts: &TranscribeOptions,
    use_vad: bool,
    rx: Receiver<Msg>,
    source: &Path,
    offset: f64,
) -> Result<(Vec<Segment>, Option<String>, f64)> {
    let workers = opts.threads.clamp(1, MAX_WORKERS);
    let wopts = Options {
        threads: (opts.threads.max(1) / workers).max(1),
        // Word times need whisper's whole 30 s context: with the shortened one its token
        // timestamps drift (up to 1 s late on a 3 s clip against whisper-cli's; bench/words).
        full_context: opts.full_context || opts.words,
        prompt: opts.prompt.clone(),
        beam_size: opts.beam_size,
        words: opts.words,
        translate: opts.translate,
        temperature: opts.temperature,
        fallback: opts.fallback,
    };
    let multilingual = shared.file.is_multilingual();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (duration, segments, language) = std::thread::scope(|sc| {
        // Made inside the scope: if anything below panics, the queue's sender goes with it,
        // the decoders end, and the scope can join them.
        let (job_tx, job_rx) = crossbeam_channel::bounded::<Job>(workers);
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let mut dispatch = Dispatch {
            jobs: job_tx,
            done: done_rx,
            early: Default::default(),
            sent: 0,
            emitted: 0,
            segments: Vec::new(),
            language: opts.language.clone().filter(|l| l != "auto"),
            opts,
            offset,
            model: &shared.model,
            per_worker: wopts.threads,
        };
        // The decoders start once the model is loaded (`SharedWhisper::preload` began it);
        // the windows loop below runs from the first audio on, so decoding and the VAD go on
        // meanwhile, until `workers` batches wait.
        let (stop, wopts) = (&stop, &wopts);
        let decoding = sc.spawn(move || {
            shared.with(|whisper| {
                let decoders = whisper.decoders(workers);
                std::thread::scope(|sc| {
                    for dec in decoders {
                        let (jobs, done) = (job_rx.clone(), done_tx.clone());
                        sc.spawn(move || {
                            decode_jobs(dec, &jobs, &done, stop, wopts, &shared.model)
                        });
                    }
                });
                Ok(())
            })
        });
        let r = windows_loop(
            &mut dispatch,
            multilingual,
            use_vad,
            rx,
            source,
            opts.threads,
        );
        if r.is_err() {
            // Queued batches are not worth decoding any more.
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        // The decoders end when the queue closes.
        let Dispatch {
            jobs,
            segments,
            language,
            ..
        } = dispatch;
        drop(jobs);
        // A model that failed to load is the reason the windows loop stopped, if it did.
        match decoding.join() {
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => r.map(|d| (d, segments, language)),
            Err(_) => Err(Error::failed(&shared.model, "the whisper thread panicked")),
        }
    })?;
    let language = language.or_else(|| (!multilingual).then(|| "en".to_string()));
    Ok((segments, language, duration))
}

/// One decoder's thread: the next batch from the queue as soon as the last is done, until the
/// queue closes.
fn decode_jobs(
    mut dec: vx_infer::transcribe::Decoder<'_>,
    jobs: &crossbeam_channel::Receiver<Job>,
    done: &crossbeam_channel::Sender<(usize, vx_infer::Result<Transcription>)>,
    stop: &std::sync::atomic::AtomicBool,
    wopts: &Options,
    model: &Path,
) {
    let failed = |reason: &str| vx_infer::InferError::Run {
        path: model.to_path_buf(),
        reason: reason.into(),
    };
    for job in jobs.iter() {
        let r = if stop.load(std::sync::atomic::Ordering::Relaxed) {
            Err(failed("stopped"))
        } else {
            // Every job gets its result back, even one that panics (the loop waits for it).
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let pieces: Vec<Piece<'_>> = job
                    .pieces
                    .iter()
                    .map(|(start, samples)| Piece {
                        start: *start,
                        samples,
                    })
                    .collect();
                let o = Options {
                    threads: job.threads,
                    ..wopts.clone()
                };
                dec.transcribe(&pieces, job.language.as_deref(), &o)
            }))
            .unwrap_or_else(|_| Err(failed("a whisper thread panicked")))
        };
        if done.send((job.index, r)).is_err() {
            break;
        }
    }
}

/// The windows of the audio as it arrives, batched and sent to the workers; returns the
/// audio's duration (seconds) once every batch's result is in.
fn windows_loop(
    dispatch: &mut Dispatch<'_>,
    multilingual: bool,
    use_vad: bool,
    rx: Receiver<Msg>,
    source: &Path,
    threads: usize,
) -> Result<f64> {
    let wo = WindowOptions::default();
    let rate = SAMPLE_RATE as f64;
    // `audio` holds samples from `base` on; `next`: where the next fixed window starts (no VAD).
    let (mut audio, mut base) = (Vec::<f32>::new(), 0usize);
    let mut vad_windows = use_vad.then(|| WindowStream::new(SpanOptions::default(), wo));
    let mut next = 0.0f64;
    let mut batcher = Batcher::default();
    loop {
        let mut end = None;
        let mut probs = Vec::new();
        // Wait for a block (reporting the batches that finish meanwhile, for --stream-output),
        // then take whatever else has arrived.
        let first = loop {
            match rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(m) => break m,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => dispatch.collect(0)?,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::failed(source, "audio decoding stopped early"))
                }
            }
        };
        let mut msg = Some(first);
        while let Some(m) = msg.take() {
            match m {
                Msg::Audio(samples, p) => {
                    audio.extend(samples);
                    probs.extend(p);
                }
                Msg::End(n) => end = Some(n as f64 / rate),
            }
            if end.is_none() {
                msg = rx.try_recv().ok();
            }
        }
        let now = (base + audio.len()) as f64 / rate;
        let (ws, horizon) = if let Some(stream) = vad_windows.as_mut() {
            let mut s = stream.push(&probs);
            if let Some(duration) = end {
                if let Some(stream) = vad_windows.take() {
                    s.windows.extend(stream.finish(duration));
                }
            }
            (s.windows, s.horizon)
        } else {
            // Fixed windows of `max` seconds (padded like the VAD ones).
            let mut fresh = Vec::new();
            let limit = end.unwrap_or(now - wo.pad);
            while next < limit && (end.is_some() || next + wo.max <= limit) {
                let stop = (next + wo.max).min(end.unwrap_or(f64::MAX));
                fresh.push(Span {
                    start: (next - wo.pad).max(0.0),
                    end: (stop + wo.pad).min(end.unwrap_or(f64::MAX)),
                });
                next = stop;
            }
            (fresh, next - wo.pad)
        };
        // Windows grouped into batches, one whisper call each (vx_infer::transcribe::Batcher),
        // each sent to the workers as soon as it is complete.
        let mut ready: Vec<Vec<Span>> = ws.into_iter().filter_map(|w| batcher.push(w)).collect();
        if end.is_some() {
            ready.extend(batcher.finish());
        }
        // Each batch gets one worker's share of the threads; a file that is one batch (a
        // short clip) gets them all, as nothing else will run beside it, and so does the
        // batch that tells a multilingual model's language (every other batch waits for it).
        let only = end.is_some() && dispatch.sent == 0 && ready.len() == 1;
        for batch in ready {
            let pieces: Vec<(f64, Vec<f32>)> = batch
                .iter()
                .filter_map(|w| {
                    let a = ((w.start * rate) as usize).saturating_sub(base);
                    let b = ((w.end * rate) as usize)
                        .min(base + audio.len())
                        .saturating_sub(base);
                    (b > a).then(|| ((base + a) as f64 / rate, audio[a..b].to_vec()))
                })
                .collect();
            if pieces.is_empty() {
                continue;
            }
            // A multilingual model with no language given: the first batch alone tells it,
            // and every later batch is decoded in it.
            let first_to_learn = multilingual && dispatch.language.is_none();
            let share = if only || first_to_learn {
                threads.max(1)
            } else {
                dispatch.per_worker
            };
            if let Some(on) = &dispatch.opts.on_batch {
                let off = dispatch.offset;
                let spans: Vec<(f64, f64)> = pieces
                    .iter()
                    .map(|(start, s)| (start + off, start + off + s.len() as f64 / rate))
                    .collect();
                (on.0)(&spans);
            }
            dispatch.send(pieces, share)?;
            if first_to_learn {
                dispatch.collect(dispatch.sent)?;
            }
        }
        dispatch.collect(if end.is_some() { dispatch.sent } else { 0 })?;
        if let Some(duration) = end {
            return Ok(duration);
        }
        // Forget the audio no window still to come can need.
        let keep = batcher.start().into_iter().fold(horizon, f64::min);
        let keep_from = ((keep * rate) as usize).clamp(base, base + audio.len());
        audio.drain(..keep_from - base);
        base = keep_from;
    }
}
