//! `audio`: the file's audio as a WAV file (16 kHz mono 16-bit by default), resampled
//! in-process, streamed to the one output writer ([`vx_image::fsutil::OutFile`]: a temporary
//! file renamed when complete; `/dev/null`, FIFOs and `-` written directly, with the WAV
//! header's sizes known up front or set to the streaming maximum).
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use vx_image::fsutil::OutFile;
use vx_media::audio::{f32_to_s16, wav_header, AudioFormat, SampleFormat};
use vx_media::source::AudioSpec;
use vx_media::MediaError;

use crate::op::{End, Input, Needs, Operation, Output};
use crate::{Error, Result};

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct AudioReport {
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub source: PathBuf,
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub output: PathBuf,
    pub rate: u32,
    pub channels: u16,
    pub format: SampleFormat,
    /// Sample frames (per channel).
    pub samples: u64,
    /// Seconds of audio written.
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub duration: f64,
    /// Where the first sample lies on the file's timeline.
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub offset: f64,
    /// False when the input was damaged or truncated, or its header was wrong (see warnings).
    pub complete: bool,
    pub warnings: Vec<String>,
}

pub struct Audio {
    format: AudioFormat,
    output: PathBuf,
    file: Option<std::io::BufWriter<OutFile>>,
    source: PathBuf,
    duration: Option<f64>,
    started: bool,
    bytes: u64,
    offset: Option<f64>,
    buf: Vec<u8>,
}

/// The largest data chunk a WAV file can describe (its sizes are 32-bit).
const WAV_MAX_DATA: u64 = u32::MAX as u64 - 44;

impl Audio {
    /// Open `output` now (a missing or read-only directory fails before any work). Only WAV is
    /// written: a name ending in another audio extension (`.flac`, `.mp3`...) is refused.
    pub fn new(format: AudioFormat, output: &Path) -> Result<Audio> {
        if let Some(ext) = output.extension().and_then(|e| e.to_str()) {
            let ext = ext.to_ascii_lowercase();
            if ext != "wav" && ext != "wave" {
                return Err(Error::Usage(format!(
                    "{}: vx audio writes WAV only; name the output .wav",
                    output.display()
                )));
            }
        }
        let file = OutFile::create(output).map_err(|e| Error::io(output, e))?;
        Ok(Audio {
            format,
            output: output.to_path_buf(),
            file: Some(std::io::BufWriter::with_capacity(1 << 16, file)),
            source: PathBuf::new(),
            duration: None,
            started: false,
            bytes: 0,
            offset: None,
            buf: Vec::new(),
        })
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::io(&self.output, e)
    }

    fn too_long(&self, what: &str) -> Error {
        Error::Message(format!(
            "{}: {what} is too long for a WAV file (4 GiB of data at {} Hz, {} channel(s), {}): \
             lower --rate or --channels, or use s16",
            self.source.display(),
            self.format.rate,
            self.format.channels,
            self.format.format.name(),
        ))
    }
}

impl Operation for Audio {
    fn name(&self) -> &'static str {
        "audio"
    }

    fn needs(&mut self, input: &Input) -> Needs {
        self.source = input.path.clone();
        self.duration = input.duration;
        Needs {
            video: None,
            audio: Some(AudioSpec {
                rate: self.format.rate,
                channels: self.format.channels,
            }),
            subtitles: false,
        }
    }

    fn audio(&mut self, samples: &[f32], time: f64) -> Result<crate::op::Flow> {
        self.offset.get_or_insert(time);
        if !self.started {
            // Check the size up front from the container's duration; where it is unknown or
            // wrong, the running count below stops at the limit.
            let per_second = self.format.rate as f64
                * self.format.channels as f64
                * self.format.format.bytes() as f64;
            if matches!(self.duration, Some(d) if d * per_second > WAV_MAX_DATA as f64) {
                return Err(self.too_long("the audio"));
            }
            self.started = true;
            // A regular file gets its sizes filled in at the end; a stream (pipe, /dev/null)
            // gets the largest sizes, which readers take as "until the end".
            let size = match self.file.as_ref().map(|f| f.get_ref().seekable()) {
                Some(true) => 0,
                _ => WAV_MAX_DATA as u32,
            };
            let header = wav_header(self.format, size);
            if let Some(w) = self.file.as_mut() {
                w.write_all(&header)
                    .map_err(|e| Error::io(&self.output, e))?;
            }
        }
        self.buf.clear();
        match self.format.format {
            SampleFormat::F32 => self
                .buf
                .extend(samples.iter().flat_map(|v| v.to_le_bytes())),
            SampleFormat::S16 => self
                .buf
                .extend(samples.iter().flat_map(|&v| f32_to_s16(v).to_le_bytes())),
        }
        self.bytes += self.buf.len() as u64;
        if self.bytes > WAV_MAX_DATA {
            return Err(self.too_long("the audio"));
        }
        let buf = std::mem::take(&mut self.buf);
        let r = match self.file.as_mut() {
            Some(w) => w.write_all(&buf),
            None => Ok(()),
        };
        self.buf = buf;
        r.map_err(|e| self.io(e))?;
        Ok(crate::op::Flow::Continue)
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        end.audio_ok(&self.source)?;
        let mut w = match self.file.take() {
            Some(w) => w,
            None => {
                return Err(MediaError::NoFrames {
                    path: self.source.clone(),
                    detail: Some("no audio could be decoded".into()),
                }
                .into())
            }
        };
        if !self.started {
            // Audio that decoded to no sample (shorter than one at this rate, or none inside
            // --start/--end; end.audio_ok said it is not damage): an empty WAV.
            w.write_all(&wav_header(self.format, 0))
                .map_err(|e| Error::io(&self.output, e))?;
        }
        let bytes = self.bytes as u32;
        let format = self.format;
        let res = (|| -> std::io::Result<()> {
            let mut f = w.into_inner().map_err(|e| e.into_error())?;
            if f.seekable() {
                f.seek(SeekFrom::Start(0))?;
                f.write_all(&wav_header(format, bytes))?;
            }
            f.commit()
        })();
        res.map_err(|e| self.io(e))?;
        let frame = self.format.channels as u64 * self.format.format.bytes() as u64;
        let samples = self.bytes / frame.max(1);
        let report = AudioReport {
            source: self.source.clone(),
            output: self.output.clone(),
            rate: self.format.rate,
            channels: self.format.channels,
            format: self.format.format,
            samples,
            duration: samples as f64 / self.format.rate as f64,
            offset: self.offset.unwrap_or(0.0),
            complete: end.audio_warnings.is_empty(),
            warnings: end.audio_warnings.clone(),
        };
        Ok(Output {
            files: vec![self.output.clone()],
            report: Box::new(report),
            warnings: end.audio_warnings.clone(),
        })
    }
}
