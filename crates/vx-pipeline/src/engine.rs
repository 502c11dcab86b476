//! Run a plan over one file: one demux pass, a bounded queue and a thread per operation.
//!
//! The calling thread demuxes and decodes ([`vx_media::source::Source`]); each decoded frame
//! or audio block is offered to the operations that asked for it, each through its own
//! bounded queue (GStreamer's `tee` with a `queue` per branch): memory is bounded by the queue
//! sizes, never by the file's length, and a slow operation slows decoding instead of growing a
//! buffer. A producing operation (keyframes) feeds the operations of later stages the same
//! way. An operation that fails records its error; the others of the file still finish. When
//! no operation wants more video (or audio, or subtitles), the demuxer stops reading those
//! packets.
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};
use vx_media::source::{AudioSpec, DecodeMode, Decoded, Source};

use crate::frame::Frame;
use crate::op::{Emit, End, Flow, Input, Needs, Operation, Output, Select};
use crate::trace::{Debug, Event};
use crate::{Error, Result};

/// Seconds a seek goes before `--start` when subtitles are decoded beside other streams: a
/// cue that began up to this long before the start and is still shown is kept.
pub const SUBTITLE_MARGIN: f64 = 10.0;

/// A progress callback: (seconds decoded, duration).
pub type Progress = Box<dyn FnMut(f64, Option<f64>) + Send>;

/// How the engine runs.
pub struct EngineOptions {
    /// Video decoder threads (0 = libavcodec's choice).
    pub decoder_threads: usize,
    /// Items waiting per operation.
    pub queue: usize,
    /// Record timings, queue depths and trace events.
    pub debug: bool,
    /// Called on the decoding thread with (seconds decoded, duration).
    pub progress: Option<Progress>,
    /// Set from another thread (Ctrl-C) to stop: the pass ends, every operation is aborted
    /// (removing what it wrote) and `run_file` returns [`Error::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
    /// Which video / audio stream to decode, by position among the streams of its kind
    /// (`--video-stream N`, `--audio-stream N`); None: FFmpeg's best.
    pub video_stream: Option<usize>,
    pub audio_stream: Option<usize>,
    /// Which subtitle stream (`vx subtitles --stream N`), by position among the file's
    /// subtitle streams; None: the first text one.
    pub subtitle_stream: Option<usize>,
    /// Only this part of the timeline: from `start` seconds (the demuxer seeks there) to `end`
    /// (exclusive; None: the end of the file). Frames and samples outside are not handed on.
    pub range: Option<(f64, Option<f64>)>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            decoder_threads: 0,
            queue: 4,
            debug: false,
            progress: None,
            cancel: None,
            video_stream: None,
            audio_stream: None,
            subtitle_stream: None,
            range: None,
        }
    }
}

/// One operation of a plan for one file.
pub struct Task {
    pub op: Box<dyn Operation>,
    /// The task (index) whose emitted frames it consumes instead of the decoder's.
    pub input: Option<usize>,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// It could not apply to this input (no audio stream...).
    Skipped(String),
    Error(String),
}

/// One operation's outcome.
pub struct OpRun {
    pub name: &'static str,
    pub status: Status,
    pub output: Option<Output>,
    /// The error, typed, when status is Error.
    pub error: Option<Error>,
    /// Time spent in the operation (its calls), milliseconds.
    pub busy_ms: f64,
    /// From the file's opening to the operation's end, milliseconds.
    pub wall_ms: f64,
}

/// Counters of the one pass.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PassStats {
    /// Times the file was opened (always 1).
    pub opens: usize,
    /// Packets the demuxer handed out (all streams read).
    pub packets: usize,
    pub video_frames: usize,
    pub audio_blocks: usize,
    /// Wall time of the whole pass, milliseconds.
    pub wall_ms: f64,
    /// Time the decoding thread waited for full queues, milliseconds.
    pub blocked_ms: f64,
}

/// Everything a file's run gave.
pub struct FileRun {
    pub input: Input,
    pub ops: Vec<OpRun>,
    pub stats: PassStats,
    pub debug: Option<Debug>,
    /// (number of video streams, position of the decoded one), the same for audio.
    pub streams: ((usize, Option<usize>), (usize, Option<usize>)),
}

enum Msg {
    Video(Frame),
    Audio(Arc<Vec<f32>>, f64),
    Subtitle(vx_media::subtitles::Cue),
    End(Arc<End>),
}

/// `--every STEP`'s choice of frames, in decoding order: whether the frame at `time` is taken,
/// `next` being the time of the next sample (None before the first frame). The first frame is
/// taken, then the first frame at or after each multiple of `step` from it; a frame without a
/// time is taken.
pub fn every_takes(next: &mut Option<f64>, step: f64, time: Option<f64>) -> bool {
    let Some(t) = time else {
        return true;
    };
    if next.is_some_and(|n| t + 1e-6 < n) {
        return false;
    }
    // The next sample is the first multiple of `step` (from the first one) after t, with the
    // same tolerance as the test above: a frame taken as the sample at 0.6 must not leave
    // 0.6000000000000001 as the next one (the frame after it was taken too: 47 frames for
    // 6 s at --every 0.2).
    let base = next.unwrap_or(t);
    *next = Some(base + (((t - base + 1e-6) / step).floor() + 1.0) * step);
    true
}

/// The decoding side's view of one running operation.
#[derive(Clone)]
struct Port {
    tx: Sender<Msg>,
    wants: Arc<AtomicBool>,
    select: Option<Select>,
    next: Option<f64>,
}

impl Port {
    fn alive(&self) -> bool {
        self.wants.load(Ordering::Relaxed)
    }

    /// Whether `frame` is one this port's operation asked for (updates `Every`'s clock).
    fn takes(&mut self, frame: &Frame) -> bool {
        match self.select {
            None => false,
            Some(Select::All) => true,
            Some(Select::Key) => frame.key,
            Some(Select::Every(step)) => every_takes(&mut self.next, step, frame.time),
            Some(Select::At(times)) => {
                let Some(t) = frame.time else {
                    return false;
                };
                // `next` holds how many targets were served so far.
                let served = self.next.unwrap_or(0.0) as usize;
                let Some(&target) = times.get(served) else {
                    return false;
                };
                if t + 1e-6 < target {
                    return false;
                }
                // One frame for every target it reaches (targets closer than a frame share it).
                let reached = times[served..]
                    .iter()
                    .take_while(|&&x| t + 1e-6 >= x)
                    .count();
                self.next = Some((served + reached) as f64);
                true
            }
        }
    }
}

/// A producer's outlet to the operations of later stages.
struct Outlet {
    ports: Vec<Port>,
    /// Frames handed on.
    emitted: usize,
}

impl Emit for Outlet {
    fn emit(&mut self, frame: Frame) {
        self.emitted += 1;
        for p in self.ports.iter_mut().filter(|p| p.alive()) {
            if p.takes(&frame) && p.tx.send(Msg::Video(frame.clone())).is_err() {
                p.wants.store(false, Ordering::Relaxed);
            }
        }
    }
}

/// Open `path` once and run `tasks` over it.
pub fn run_file(path: &Path, tasks: Vec<Task>, opts: &mut EngineOptions) -> Result<FileRun> {
    run_file_with(path, || Ok(tasks), opts)
}

/// [`run_file`] with the operations built only once the file has opened: a file that is not
/// media costs no model loading (bulk runs build operations through a factory that loads
/// models on first use).
pub fn run_file_with(
    path: &Path,
    make_tasks: impl FnOnce() -> Result<Vec<Task>>,
    opts: &mut EngineOptions,
) -> Result<FileRun> {
    let t0 = Instant::now();
    let mut src = Source::open_file(path)?;
    let tasks = make_tasks()?;
    let probe = serde_json::to_value(src.probe_info()).ok();
    let mut input = Input {
        path: path.to_path_buf(),
        still: src.is_still(),
        has_video: src.has_video,
        has_audio: src.has_audio,
        duration: src.duration,
        start: src.start,
        probe,
    };
    let n = tasks.len();
    let mut tasks = tasks;
    let needs: Vec<Needs> = tasks.iter_mut().map(|t| t.op.needs(&input)).collect();

    // What the decoder must produce for the operations fed by it.
    let mut mode: Option<DecodeMode> = None;
    let mut specs: Vec<AudioSpec> = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        if let (Some(sel), None) = (needs[i].video, t.input) {
            mode = Some(match (mode, sel) {
                (Some(DecodeMode::All), _)
                | (_, Select::All | Select::Every(_) | Select::At(_)) => DecodeMode::All,
                _ => DecodeMode::KeyFrames,
            });
        }
        if let Some(spec) = needs[i].audio {
            if !specs.contains(&spec) {
                specs.push(spec);
            }
        }
    }
    // A stream that cannot be decoded: Skipped when the file has none, Error when its decoder
    // cannot open.
    let mut video_out: Option<Status> = None;
    if let Some(m) = mode {
        if !input.has_video {
            video_out = Some(Status::Skipped("no video stream".into()));
        } else if let Err(e) = src.enable_video_stream(m, opts.decoder_threads, opts.video_stream) {
            video_out = Some(Status::Error(e.to_string()));
        }
    }
    let mut audio_out: Option<Status> = None;
    if !specs.is_empty() {
        if !input.has_audio {
            audio_out = Some(Status::Skipped("no audio stream".into()));
        } else if let Err(e) = src.enable_audio_stream(&specs, opts.audio_stream) {
            audio_out = Some(Status::Error(e.to_string()));
        }
    }
    // Subtitles: skipped when the file has no text subtitle stream (a bitmap one is pictures
    // of text, not a damaged file).
    let mut subtitle_out: Option<Status> = None;
    let mut subtitle_track = None;
    if needs
        .iter()
        .zip(&tasks)
        .any(|(n, t)| n.subtitles && t.input.is_none())
    {
        if !src.has_subtitles {
            subtitle_out = Some(Status::Skipped("no subtitle stream".into()));
        } else {
            match src.enable_subtitles(opts.subtitle_stream) {
                Ok(t) => subtitle_track = Some(t),
                Err(vx_media::MediaError::UnsupportedCodec { codec, .. }) => {
                    subtitle_out = Some(Status::Skipped(format!("subtitle codec {codec}")))
                }
                Err(e) => subtitle_out = Some(Status::Error(e.to_string())),
            }
        }
    }
    let streams = src.stream_counts();
    let (range_start, range_end) = opts.range.unwrap_or((0.0, None));
    if input.still && range_start > 0.0 {
        return Err(Error::Failed {
            path: path.to_path_buf(),
            reason: format!(
                "--start {range_start} is past the end of the file (a still picture: one frame at 0 s)"
            ),
        });
    }
    if let Some(d) = input
        .duration
        .filter(|d| range_start > 0.0 && range_start >= *d)
    {
        return Err(Error::Failed {
            path: path.to_path_buf(),
            reason: format!("--start {range_start} is past the end of the file ({d:.3} s)"),
        });
    }
    // Where the input cannot seek (standard input), it is read from its start and what lies
    // before the range is dropped below (a failed seek attempt on a pipe loses data).
    // Subtitles: a cue still shown at the start was stored when it began, before the key frame
    // a seek lands on. Alone, they are read from the file's start (their packets are small
    // and the others are discarded by the demuxer); beside video or audio the seek goes
    // SUBTITLE_MARGIN earlier (what comes before the start is dropped by time, as always).
    let subtitles_on = subtitle_track.is_some();
    let subtitles_only = subtitles_on && mode.is_none() && specs.is_empty();
    if range_start > 0.0
        && src.seekable()
        && !subtitles_only
        && (video_out.is_none() || audio_out.is_none() || subtitle_out.is_none())
    {
        let t = if subtitles_on {
            (range_start - SUBTITLE_MARGIN).max(0.0)
        } else {
            range_start
        };
        let _ = src.seek(t);
    }
    // Operations that cannot run, and why: a stream they need, or their producer, cannot.
    let mut cannot: Vec<Option<Status>> = vec![None; n];
    for i in 0..n {
        cannot[i] = match tasks[i].input {
            Some(j) => cannot[j].clone(),
            None if needs[i].video.is_some() => video_out.clone(),
            None => None,
        }
        .or_else(|| needs[i].audio.and(audio_out.clone()))
        .or_else(|| needs[i].subtitles.then(|| subtitle_out.clone()).flatten());
    }

    let debug = opts
        .debug
        .then(|| std::sync::Mutex::new(Vec::<Event>::new()));
    let mut channels: Vec<Option<(Sender<Msg>, Receiver<Msg>)>> = (0..n)
        .map(|i| cannot[i].is_none().then(|| bounded(opts.queue.max(1))))
        .collect();
    let wants: Vec<Arc<AtomicBool>> = (0..n).map(|_| Arc::new(AtomicBool::new(true))).collect();
    let port = |i: usize, ch: &[Option<(Sender<Msg>, Receiver<Msg>)>]| -> Option<Port> {
        ch[i].as_ref().map(|(tx, _)| Port {
            tx: tx.clone(),
            wants: wants[i].clone(),
            select: needs[i].video,
            next: None,
        })
    };
    // The decoder's ports (video and audio) and each producer's outlet.
    let mut video_ports: Vec<(usize, Port)> = Vec::new();
    let mut audio_ports: Vec<(usize, usize, Port)> = Vec::new();
    let mut subtitle_ports: Vec<Port> = Vec::new();
    let mut end_ports: Vec<(usize, Port)> = Vec::new();
    for i in 0..n {
        if tasks[i].input.is_some() {
            continue;
        }
        if let Some(p) = port(i, &channels) {
            if needs[i].video.is_some() {
                video_ports.push((i, p.clone()));
            }
            if let Some(spec) = needs[i].audio {
                let k = specs.iter().position(|s| *s == spec).unwrap_or(0);
                audio_ports.push((i, k, p.clone()));
            }
            if needs[i].subtitles {
                subtitle_ports.push(p.clone());
            }
            end_ports.push((i, p));
        }
    }
    // A later stage takes every frame its producer hands on (the frames keyframes kept, the
    // first frame of each scene), whatever it would select from the decoder itself.
    let outlets: Vec<Vec<Port>> = (0..n)
        .map(|j| {
            (0..n)
                .filter(|&i| tasks[i].input == Some(j))
                .filter_map(|i| port(i, &channels))
                .map(|mut p| {
                    if p.select.is_some() {
                        p.select = Some(Select::All);
                    }
                    p
                })
                .collect()
        })
        .collect();

    let mut stats = PassStats {
        opens: 1,
        ..Default::default()
    };
    let mut queue_samples: Vec<(f64, Vec<usize>)> = Vec::new();
    let ops_names: Vec<&'static str> = tasks.iter().map(|t| t.op.name()).collect();
    let mut results: Vec<Option<OpRun>> = (0..n).map(|_| None).collect();

    let mut pass_ms = 0.0;
    // A still image's EXIF orientation (libavcodec tells it on the decoded picture only).
    let mut still_rotation: Option<i32> = None;
    let mut cancelled = false;
    let mut sent_samples: Vec<u64> = vec![0; specs.len()];
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        let mut outlets = outlets;
        for (i, task) in tasks.into_iter().enumerate() {
            let Some((_, rx)) = channels[i].take() else {
                let status = cannot[i].take().unwrap_or(Status::Error("not run".into()));
                let error = match &status {
                    // The message names the file already.
                    Status::Error(e) => Some(Error::Message(e.clone())),
                    _ => None,
                };
                results[i] = Some(OpRun {
                    name: ops_names[i],
                    status,
                    output: None,
                    error,
                    busy_ms: 0.0,
                    wall_ms: 0.0,
                });
                continue;
            };
            let outlet = Outlet {
                ports: std::mem::take(&mut outlets[i]),
                emitted: 0,
            };
            let wants = wants[i].clone();
            let debug = debug.as_ref();
            let name = ops_names[i];
            handles.push((
                i,
                s.spawn(move || op_thread(task.op, rx, outlet, wants, debug, i, t0, name)),
            ));
        }
        // The channels' senders held by the ports: dropped with them at the end of the pass.
        drop(channels);

        // The one pass.
        let mut last_progress = Instant::now();
        let mut blocked = std::time::Duration::ZERO;
        let mut last_sample: Option<Instant> = None;
        let offset = src.audio_info().map_or(0.0, |a| a.offset);
        let rate = |k: usize| specs.get(k).map_or(1.0, |s| s.rate as f64);
        let mut now_t = 0.0f64;
        let mut video_done = mode.is_none() || video_ports.is_empty();
        let mut audio_done = audio_ports.is_empty();
        let mut subtitles_done = subtitle_ports.is_empty();
        if video_done {
            src.stop_video();
        }
        if audio_done {
            src.stop_audio();
        }
        if subtitles_done {
            src.stop_subtitles();
        }
        let mut stopped_early = false;
        while !(video_done && audio_done && subtitles_done) {
            if opts
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
            {
                cancelled = true;
                break;
            }
            let Some(item) = src.next() else { break };
            match item {
                Decoded::Video(vf) => {
                    stats.video_frames += 1;
                    if input.still && still_rotation.is_none() {
                        still_rotation = Some(vf.rotation());
                    }
                    // --start/--end: frames before the range (from the key frame the seek
                    // landed on) are dropped; the first one at or after its end stops video.
                    match vf.time {
                        Some(t) if t + 1e-6 < range_start => continue,
                        Some(t) if range_end.is_some_and(|e| t + 1e-6 >= e) => {
                            video_done = true;
                            stopped_early = true;
                            src.stop_video();
                            continue;
                        }
                        _ => {}
                    }
                    let frame = Frame::new(vf);
                    if let Some(t) = frame.time {
                        now_t = now_t.max(t);
                    }
                    for (_, p) in video_ports.iter_mut().filter(|(_, p)| p.alive()) {
                        if p.takes(&frame) {
                            let w = Instant::now();
                            if p.tx.send(Msg::Video(frame.clone())).is_err() {
                                p.wants.store(false, Ordering::Relaxed);
                            }
                            blocked += w.elapsed();
                        }
                    }
                    if !video_ports.iter().any(|(_, p)| p.alive()) {
                        video_done = true;
                        stopped_early = true;
                        src.stop_video();
                    }
                }
                Decoded::Audio(block) => {
                    stats.audio_blocks += 1;
                    let r = rate(block.spec);
                    let ch = specs
                        .get(block.spec)
                        .map_or(1, |s| s.channels as usize)
                        .max(1);
                    let mut time = offset + block.first_sample as f64 / r;
                    let mut data = block.samples;
                    // --start/--end: only the samples inside the range.
                    let frames = data.len() / ch;
                    // Sample i lies at time + i / r: keep those with start <= t < end (the
                    // epsilon keeps 1.0 * 16000 from becoming 16001 through rounding).
                    let count = |x: f64| ((x * r) - 1e-6).ceil().max(0.0) as usize;
                    let front = count(range_start - time).min(frames);
                    let keep = match range_end {
                        Some(e) => count(e - time).min(frames),
                        None => frames,
                    };
                    let past_end = range_end.is_some_and(|e| time + frames as f64 / r >= e);
                    if front >= keep {
                        if past_end {
                            audio_done = true;
                            src.stop_audio();
                        }
                        continue;
                    }
                    if front > 0 || keep < frames {
                        data = data[front * ch..keep * ch].to_vec();
                        time += front as f64 / r;
                    }
                    if let Some(n) = sent_samples.get_mut(block.spec) {
                        *n += (data.len() / ch) as u64;
                    }
                    now_t = now_t.max(time);
                    let samples = Arc::new(data);
                    for (_, k, p) in audio_ports.iter_mut().filter(|(_, _, p)| p.alive()) {
                        if *k == block.spec {
                            let w = Instant::now();
                            if p.tx.send(Msg::Audio(samples.clone(), time)).is_err() {
                                p.wants.store(false, Ordering::Relaxed);
                            }
                            blocked += w.elapsed();
                        }
                    }
                    if past_end || !audio_ports.iter().any(|(_, _, p)| p.alive()) {
                        audio_done = true;
                        src.stop_audio();
                    }
                }
                // Nothing yet (sparse subtitles): the cancel flag and progress are looked at.
                Decoded::Idle => {}
                Decoded::Subtitle(cue) => {
                    // --start/--end: the cues shown in the range. Cues are stored in time
                    // order: the first one past the end ends the subtitles.
                    if range_end.is_some_and(|e| cue.start >= e) {
                        subtitles_done = true;
                        src.stop_subtitles();
                        continue;
                    }
                    now_t = now_t.max(cue.start);
                    if cue.end <= range_start {
                        continue;
                    }
                    for p in subtitle_ports.iter_mut().filter(|p| p.alive()) {
                        if p.tx.send(Msg::Subtitle(cue.clone())).is_err() {
                            p.wants.store(false, Ordering::Relaxed);
                        }
                    }
                    if !subtitle_ports.iter().any(|p| p.alive()) {
                        subtitles_done = true;
                        src.stop_subtitles();
                    }
                }
            }
            if debug.is_some() && last_sample.is_none_or(|l| l.elapsed().as_millis() >= 20) {
                last_sample = Some(Instant::now());
                let depths = (0..n)
                    .map(|i| {
                        end_ports
                            .iter()
                            .find(|(j, _)| *j == i)
                            .map_or(0, |(_, p)| p.tx.len())
                    })
                    .collect();
                queue_samples.push((t0.elapsed().as_secs_f64() * 1e6, depths));
            }
            if let Some(cb) = opts.progress.as_mut() {
                if last_progress.elapsed().as_millis() >= 100 {
                    last_progress = Instant::now();
                    cb(now_t, input.duration);
                }
            }
        }
        stats.packets = src.packets_read;
        pass_ms = t0.elapsed().as_secs_f64() * 1000.0;
        stats.blocked_ms = blocked.as_secs_f64() * 1000.0;
        if let Some(d) = debug.as_ref() {
            if let Ok(mut ev) = d.lock() {
                ev.push(Event {
                    name: "the pass (demux + decode, waits included)".into(),
                    tid: 0,
                    start_us: 0.0,
                    dur_us: t0.elapsed().as_secs_f64() * 1e6,
                });
            }
        }
        // The end of the file, for each operation fed by the decoder.
        let mut video_info = src.video_info().cloned();
        // A still's EXIF orientation is known from its decoded picture: said as the rotation
        // applied, as a video's display matrix is (it said 0 while the image was turned).
        if let (Some(r), Some(v)) = (still_rotation, video_info.as_mut()) {
            if v.rotation == 0 {
                v.rotation = r;
            }
        }
        // Packets skipped on purpose (a --start seek, an --end) are not damage.
        let video_warnings = src.video_warnings(stopped_early || range_start > 0.0);
        // A part of the file: the index's packet count says nothing after a seek; where the
        // packets read end does.
        let ranged = range_start > 0.0 || range_end.is_some();
        let no_frame_detail = if ranged {
            src.no_frame_in_range(range_start, range_end)
        } else {
            src.no_frame_detail()
        };
        let no_keyframe = ranged
            .then(|| src.no_keyframe_in_range(range_start, range_end))
            .flatten();
        let video_packets = src
            .video_counters()
            .map_or((0, 0), |c| (c.packets_read, c.decode_errors));
        let audio_info = src.audio_info().cloned();
        let audio_packets = src.audio_counters().unwrap_or((0, 0));
        drop(video_ports);
        drop(audio_ports);
        drop(subtitle_ports);
        // Interrupted: no end-of-file message, so every operation aborts.
        // (Dropped here, explicitly: a conditionally moved binding would live to the end of
        // the scope, and the operations would wait for it forever.)
        let end_ports = if cancelled {
            drop(end_ports);
            Vec::new()
        } else {
            end_ports
        };
        for (i, p) in end_ports {
            let k = needs[i]
                .audio
                .and_then(|spec| specs.iter().position(|s| *s == spec));
            let end = End {
                video: video_info.clone(),
                video_warnings: video_warnings.clone(),
                no_frame_detail: no_frame_detail.clone(),
                no_keyframe: no_keyframe.clone(),
                handed_on: None,
                producer_failed: false,
                video_packets,
                video_stopped_early: stopped_early,
                audio: audio_info.clone(),
                // With a range, what was handed on; else what was decoded.
                audio_samples: k.map_or(0, |k| {
                    if opts.range.is_some() {
                        sent_samples.get(k).copied().unwrap_or(0)
                    } else {
                        src.audio_samples(k)
                    }
                }),
                audio_packets,
                no_audio: k.and_then(|k| src.no_audio_error(k)).map(|e| e.to_string()),
                audio_warnings: k.map_or_else(Vec::new, |k| src.audio_warnings(k)),
                subtitles: needs[i].subtitles.then(|| subtitle_track.clone()).flatten(),
            };
            let _ = p.tx.send(Msg::End(Arc::new(end)));
        }
        for (i, h) in handles {
            results[i] = Some(h.join().unwrap_or_else(|_| OpRun {
                name: ops_names[i],
                status: Status::Error("operation panicked".into()),
                output: None,
                error: Some(Error::failed(path, "operation panicked")),
                busy_ms: 0.0,
                wall_ms: 0.0,
            }));
        }
    });
    if cancelled {
        return Err(Error::Cancelled {
            path: path.to_path_buf(),
        });
    }
    stats.wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
    if let (Some(r), Some(p)) = (still_rotation.filter(|r| *r != 0), input.probe.as_mut()) {
        crate::ops::probe::set_still_rotation(p, r);
    }
    let ops: Vec<OpRun> = results.into_iter().flatten().collect();
    let debug = debug.map(|d| Debug {
        events: d.into_inner().unwrap_or_default(),
        ops: ops_names.iter().map(|s| s.to_string()).collect(),
        queue_samples,
        decode_busy_ms: pass_ms - stats.blocked_ms,
    });
    Ok(FileRun {
        input,
        ops,
        stats,
        debug,
        streams,
    })
}

#[allow(clippy::too_many_arguments)]
fn op_thread(
    mut op: Box<dyn Operation>,
    rx: Receiver<Msg>,
    mut outlet: Outlet,
    wants: Arc<AtomicBool>,
    debug: Option<&std::sync::Mutex<Vec<Event>>>,
    index: usize,
    t0: Instant,
    name: &'static str,
) -> OpRun {
    let mut busy = std::time::Duration::ZERO;
    let mut error: Option<Error> = None;
    let mut end: Option<Arc<End>> = None;
    let mut events = Vec::new();
    let mut timed = |what: &str, start: Instant, busy: &mut std::time::Duration| {
        let d = start.elapsed();
        *busy += d;
        if debug.is_some() && events.len() < 100_000 {
            events.push(Event {
                name: format!("{name} {what}"),
                tid: index + 1,
                start_us: (start - t0).as_secs_f64() * 1e6,
                dur_us: d.as_secs_f64() * 1e6,
            });
        }
    };
    for msg in rx.iter() {
        let active = error.is_none() && wants.load(Ordering::Relaxed);
        let flow = match msg {
            Msg::End(e) => {
                end = Some(e);
                break;
            }
            Msg::Video(f) if active => {
                let st = Instant::now();
                let r = op.video(&f, &mut outlet);
                timed("video", st, &mut busy);
                r
            }
            Msg::Audio(s, t) if active => {
                let st = Instant::now();
                let r = op.audio(&s, t);
                timed("audio", st, &mut busy);
                r
            }
            Msg::Subtitle(c) if active => op.subtitle(&c),
            _ => continue, // done with data: drain until the end
        };
        match flow {
            Ok(Flow::Continue) => {}
            Ok(Flow::Stop) => wants.store(false, Ordering::Relaxed),
            Err(e) => {
                error = Some(e);
                wants.store(false, Ordering::Relaxed);
            }
        }
    }
    wants.store(false, Ordering::Relaxed);
    let st = Instant::now();
    let result = match (error, &end) {
        (Some(e), _) => {
            op.abort();
            Err(e)
        }
        (None, Some(end)) => match op.flush(end, &mut outlet) {
            Ok(()) => op.finish(end),
            Err(e) => {
                op.abort();
                Err(e)
            }
        },
        (None, None) => {
            op.abort();
            Err(Error::Message(format!(
                "{name}: decoding stopped before the end of the file"
            )))
        }
    };
    timed("finish", st, &mut busy);
    // Later stages end after everything this one emitted.
    if let Some(end) = end {
        // A producer that failed hands on a failure: the operations after it must not report
        // its silence as "nothing to do".
        let failed = result
            .as_ref()
            .err()
            .map(|e| format!("{name} before it failed: {e}"));
        let end = Arc::new(End {
            handed_on: Some(outlet.emitted),
            no_frame_detail: failed.clone().or_else(|| end.no_frame_detail.clone()),
            producer_failed: failed.is_some(),
            ..(*end).clone()
        });
        for p in &outlet.ports {
            let _ = p.tx.send(Msg::End(end.clone()));
        }
    }
    drop(outlet);
    if let Some(d) = debug {
        if let Ok(mut ev) = d.lock() {
            ev.extend(events);
        }
    }
    let (status, output, error) = match result {
        Ok(o) => (Status::Ok, Some(o), None),
        Err(e) => (Status::Error(e.to_string()), None, Some(e)),
    };
    OpRun {
        name,
        status,
        output,
        error,
        busy_ms: busy.as_secs_f64() * 1000.0,
        wall_ms: t0.elapsed().as_secs_f64() * 1000.0,
    }
}
