//! `audio`: the file's audio as a WAV file (16 kHz mono 16-bit by default), resampled
//! in-process, streamed to a temporary file and renamed when complete.
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use vx_media::audio::{f32_to_s16, wav_header, AudioFormat, SampleFormat};
use vx_media::source::AudioSpec;
use vx_media::MediaError;

use crate::op::{End, Input, Needs, Operation, Output};
use crate::{Error, Result};

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct AudioReport {
    pub source: PathBuf,
    pub output: PathBuf,
    pub rate: u32,
    pub channels: u16,
    pub format: SampleFormat,
    /// Sample frames (per channel).
    pub samples: u64,
    /// Seconds of audio written.
    pub duration: f64,
    /// Where the first sample lies on the file's timeline.
    pub offset: f64,
}

pub struct Audio {
    format: AudioFormat,
    output: PathBuf,
    tmp: PathBuf,
    source: PathBuf,
    writer: Option<std::io::BufWriter<std::fs::File>>,
    bytes: u64,
    offset: Option<f64>,
    buf: Vec<u8>,
}

impl Audio {
    pub fn new(format: AudioFormat, output: &Path) -> Audio {
        Audio {
            format,
            output: output.to_path_buf(),
            tmp: vx_image::fsutil::temp_path(output),
            source: PathBuf::new(),
            writer: None,
            bytes: 0,
            offset: None,
            buf: Vec::new(),
        }
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::io(&self.output, e)
    }
}

impl Drop for Audio {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl Operation for Audio {
    fn name(&self) -> &'static str {
        "audio"
    }

    fn needs(&mut self, input: &Input) -> Needs {
        self.source = input.path.clone();
        Needs {
            video: None,
            audio: Some(AudioSpec {
                rate: self.format.rate,
                channels: self.format.channels,
            }),
        }
    }

    fn audio(&mut self, samples: &[f32], time: f64) -> Result<crate::op::Flow> {
        self.offset.get_or_insert(time);
        if self.writer.is_none() {
            let f = std::fs::File::create(&self.tmp).map_err(|e| self.io(e))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
            w.write_all(&wav_header(self.format, 0))
                .map_err(|e| self.io(e))?;
            self.writer = Some(w);
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
        if self.bytes > u32::MAX as u64 - 44 {
            return Err(Error::Media(MediaError::InvalidOption(format!(
                "{}: audio too long for a WAV file (4 GiB)",
                self.output.display()
            ))));
        }
        let buf = std::mem::take(&mut self.buf);
        let r = match self.writer.as_mut() {
            Some(w) => w.write_all(&buf),
            None => Ok(()),
        };
        self.buf = buf;
        r.map_err(|e| self.io(e))?;
        Ok(crate::op::Flow::Continue)
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        end.audio_ok(&self.source)?;
        let Some(mut w) = self.writer.take() else {
            return Err(MediaError::NoFrames {
                path: self.source.clone(),
                detail: Some("no audio could be decoded".into()),
            }
            .into());
        };
        let res = (|| -> std::io::Result<()> {
            w.seek(SeekFrom::Start(0))?;
            w.write_all(&wav_header(self.format, self.bytes as u32))?;
            w.flush()?;
            drop(w);
            std::fs::rename(&self.tmp, &self.output)
        })();
        if let Err(e) = res {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(self.io(e));
        }
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
        };
        Ok(Output {
            files: vec![self.output.clone()],
            report: Box::new(report),
            warnings: Vec::new(),
        })
    }
}
