//! The one contract every operation implements.
//!
//! An operation declares what it consumes ([`Needs`]: key frames, all frames, one frame every
//! S seconds, audio at a rate and channel count, subtitle cues), is pushed what it asked for on a thread of
//! its own (through a bounded queue), and finishes with its typed report and the files it
//! wrote. A new operation is one module and one entry in [`crate::ops`]; nothing else changes.
use std::any::Any;
use std::path::{Path, PathBuf};

use vx_media::source::{AudioInfo, AudioSpec, VideoInfo};
use vx_media::subtitles::{Cue, SubtitleTrack};

use crate::frame::Frame;
use crate::Result;

/// Which frames a video operation wants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Select {
    /// Frames the decoder flags as key (only those are decoded when nobody wants more).
    Key,
    /// Every frame.
    All,
    /// The first frame, then the first frame at or after each multiple of S seconds after it.
    Every(f64),
    /// The first frame at or after each of these times (seconds on the timeline, ascending).
    At(&'static [f64]),
}

/// What an operation consumes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Needs {
    pub video: Option<Select>,
    pub audio: Option<AudioSpec>,
    /// The cues of the text subtitle stream (the first one, or the one
    /// `EngineOptions::subtitle_stream` picks).
    pub subtitles: bool,
}

impl Needs {
    /// Mono audio at `rate` Hz (what the speech and sound models take).
    pub fn mono(rate: u32) -> Needs {
        Needs {
            video: None,
            audio: Some(AudioSpec { rate, channels: 1 }),
            subtitles: false,
        }
    }
}

/// Whether an operation wants more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Done (e.g. `--max` reached): nothing more is sent to it; it is finished at the end.
    Stop,
}

/// The file as operations see it, once opened.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    /// A still image (JPEG, PNG...) rather than a video.
    pub still: bool,
    pub has_video: bool,
    pub has_audio: bool,
    /// Container duration (seconds).
    pub duration: Option<f64>,
    /// The container's start time (seconds of the streams' clocks): the timeline's origin.
    pub start: f64,
    /// The probe metadata (what `vx probe` prints).
    pub probe: Option<serde_json::Value>,
}

/// What the engine knows when the file is done: filled in for the video and audio streams
/// the operations consumed.
#[derive(Debug, Clone, Default)]
pub struct End {
    pub video: Option<VideoInfo>,
    /// Warnings about the video (truncation, damaged packets).
    pub video_warnings: Vec<String>,
    /// Video packets read / failed to decode.
    pub video_packets: (usize, usize),
    /// Why no picture came out, when none did.
    pub no_frame_detail: Option<String>,
    /// With --start/--end: the range has video frames but no keyframe.
    pub no_keyframe: Option<String>,
    /// For an operation of a later stage: how many frames the operation before it handed on.
    pub handed_on: Option<usize>,
    /// For an operation of a later stage: the operation before it failed (`no_frame_detail`
    /// says how).
    pub producer_failed: bool,
    /// Decoding stopped before the end because every video consumer was done.
    pub video_stopped_early: bool,
    pub audio: Option<AudioInfo>,
    /// Sample frames of this operation's audio format.
    pub audio_samples: u64,
    /// Audio packets read / failed to decode.
    pub audio_packets: (usize, usize),
    /// Why no audio came out for this operation's format, when none did.
    pub no_audio: Option<String>,
    /// Warnings about this operation's audio (damage, truncation, a wrong declared duration).
    pub audio_warnings: Vec<String>,
    /// The subtitle stream whose cues were handed on.
    pub subtitles: Option<SubtitleTrack>,
}

impl End {
    /// At the end of an operation that was handed `seen` frames: None when it saw some; the
    /// warning of [`End::nothing_to_do`] when it rightly saw none; else the "no frame could be
    /// decoded" error of `source`.
    pub fn idle(&self, seen: usize, keyed: bool, source: &Path) -> Result<Option<String>> {
        if seen > 0 {
            return Ok(None);
        }
        match self.nothing_to_do(keyed) {
            Some(w) => Ok(Some(w)),
            None => Err(vx_media::MediaError::NoFrames {
                path: source.to_path_buf(),
                detail: self.no_frame_detail.clone(),
            }
            .into()),
        }
    }

    /// Why an operation that was handed no frame has, rightly, nothing to report (an empty
    /// result with this warning instead of "no frame could be decoded"): the operation before
    /// it handed on none, or `keyed` (it takes key frames) and the range has no keyframe.
    pub fn nothing_to_do(&self, keyed: bool) -> Option<String> {
        match (self.handed_on, &self.no_keyframe) {
            _ if self.producer_failed => None,
            (Some(0), _) => Some("the operation before it handed on no frame".into()),
            (None, Some(w)) if keyed => Some(w.clone()),
            _ => None,
        }
    }

    /// The "no audio could be decoded" error of an audio operation, if there was one.
    pub fn audio_ok(&self, source: &Path) -> Result<()> {
        match &self.no_audio {
            Some(e) => {
                // The message names the file already: say it once.
                let prefix = format!("{}: ", source.display());
                let e = e.strip_prefix(prefix.as_str()).unwrap_or(e);
                Err(crate::Error::failed(source, e))
            }
            None => Ok(()),
        }
    }
}

/// A report an operation returns: its own serde type, turned into JSON for `result.json` and
/// reachable as its type by the command that ran it.
pub trait Report: Any + Send {
    fn to_json(&self) -> serde_json::Value;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: serde::Serialize + Any + Send> Report for T {
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// What a finished operation hands back.
pub struct Output {
    pub report: Box<dyn Report>,
    /// Files it wrote (complete, under their final names).
    pub files: Vec<PathBuf>,
    /// Things the user should know (the file was truncated...).
    pub warnings: Vec<String>,
}

impl Output {
    pub fn new(report: impl Report) -> Output {
        Output {
            report: Box::new(report),
            files: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// A report that wrote no file, with the warnings to print (the report carries them too).
    pub fn warned(report: impl Report, warnings: Vec<String>) -> Output {
        Output {
            warnings,
            ..Output::new(report)
        }
    }

    /// The report as its own type.
    pub fn take<T: Any>(self) -> Option<T> {
        self.report.into_any().downcast::<T>().ok().map(|b| *b)
    }
}

/// Where a producing operation (keyframes) hands the frames it keeps to later stages.
pub trait Emit {
    fn emit(&mut self, frame: Frame);
}

/// An operation that produces nothing has nowhere to emit.
pub struct NoEmit;

impl Emit for NoEmit {
    fn emit(&mut self, _: Frame) {}
}

/// The contract. Methods run on the operation's own thread, in this order: `video` /
/// `audio` as data arrives, then `flush` and `finish` once (or `abort` after an error, so it
/// can remove what it wrote).
pub trait Operation: Send {
    fn name(&self) -> &'static str;

    /// What it consumes from this input (called once the file is open, before any data).
    fn needs(&mut self, input: &Input) -> Needs;

    fn video(&mut self, _frame: &Frame, _out: &mut dyn Emit) -> Result<Flow> {
        Ok(Flow::Stop)
    }

    /// Interleaved f32 samples at the rate and channel count it asked for; `time` is the
    /// first sample's position on the timeline.
    fn audio(&mut self, _samples: &[f32], _time: f64) -> Result<Flow> {
        Ok(Flow::Stop)
    }

    /// One subtitle cue (times on the timeline), in the order the file stores them.
    fn subtitle(&mut self, _cue: &Cue) -> Result<Flow> {
        Ok(Flow::Stop)
    }

    /// After the last data, before `finish`: frames still to hand on to later stages (scenes:
    /// the last scene's picture, known only once the file has ended).
    fn flush(&mut self, _end: &End, _out: &mut dyn Emit) -> Result<()> {
        Ok(())
    }

    fn finish(self: Box<Self>, end: &End) -> Result<Output>;

    /// Called instead of `finish` after an error: remove partial files.
    fn abort(self: Box<Self>) {}
}

/// Create `dir` (and parents) with a clear error.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    // A file in the way: said as the other outputs say it (create_dir_all said only "File
    // exists").
    if std::fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(crate::Error::failed(dir, "exists and is not a directory"));
    }
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))
}
