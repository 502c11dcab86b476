//! The audio side of a [`super::Source`]: a packet-fed decoder and one libswresample context
//! per requested format, handing out interleaved f32 blocks.
use std::collections::VecDeque;
use std::path::Path;

use ffmpeg_next as ff;
use serde::Serialize;

use super::{cannot_open, codec_context};
use crate::audio::{AudioFormat, Resampler, SampleFormat};
use crate::error::{MediaError, Result};
use crate::probe::{codec_name, ts_seconds};

/// Audio as an operation wants it: interleaved f32 at `rate` Hz with `channels` channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct AudioSpec {
    pub rate: u32,
    pub channels: u16,
}

/// The audio stream being decoded.
#[derive(Debug, Clone, Serialize)]
pub struct AudioInfo {
    pub stream_index: usize,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
    /// Where the stream's first sample lies on the timeline (seconds).
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub offset: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "vx_image::secs::ms_opt")]
    pub duration: Option<f64>,
}

/// A block of decoded, resampled audio.
#[derive(Debug, Clone)]
pub struct AudioBlock {
    /// Index into [`SourceOptions::audio`] of the format these samples are in.
    pub spec: usize,
    /// Position of the first sample frame in this format's stream (0 = the stream's start).
    pub first_sample: u64,
    /// Interleaved f32 samples.
    pub samples: Vec<f32>,
}

pub(super) struct AudioOut {
    pub(super) spec: AudioSpec,
    pub(super) rs: Option<Resampler>,
    pub(super) buf: Vec<u8>,
    /// Sample frames handed out.
    pub(super) written: u64,
    /// At most this many sample frames (the container's duration of the stream), unless the
    /// audio goes on well past it (then the header was wrong and `limit` is dropped).
    pub(super) limit: Option<u64>,
    /// The container's duration of the stream, in sample frames.
    pub(super) declared: Option<u64>,
    /// Samples past `limit`, held back: dropped at the end if they are no more than codec
    /// padding, handed out (and the limit dropped) once they are more.
    pub(super) held: Vec<f32>,
    /// The audio went on past the declared duration by more than padding.
    pub(super) overrun: bool,
}

/// How far past the container's duration decoded audio may go and still be taken as codec
/// padding to cut (AAC: a frame of up to 2048 samples; resamplers add a little).
const PADDING_SECONDS: f64 = 0.2;

pub(super) struct AudioPart {
    pub(super) index: usize,
    pub(super) tb: ff::Rational,
    pub(super) container_start: f64,
    /// After a seek: set the sample counters from the first decoded frame's timestamp.
    pub(super) rebase: bool,
    pub(super) decoder: ff::decoder::Audio,
    pub(super) outs: Vec<AudioOut>,
    pub(super) stopped: bool,
    pub(super) info: AudioInfo,
    pub(super) packets_read: usize,
    pub(super) decode_errors: usize,
    pub(super) failure: Option<String>,
    /// Where the next decoded frame should start (seconds, as the samples are numbered), from
    /// the last one's timestamp and length.
    pub(super) next_in: Option<f64>,
    /// Gaps filled with silence: how many, their total length, where the first began.
    pub(super) gaps: (usize, f64, Option<f64>),
}

/// A jump forward in the audio's timestamps of more than this is a gap (lost or undecodable
/// packets, a cut in a transport stream): filled with silence, so that every later time stays
/// on the file's timeline. (Counting samples alone pulled everything after a 1 s dropout 1 s
/// early.) A frame of AAC lasts about 23 ms.
const GAP_MIN: f64 = 0.05;
/// A jump beyond this is a timestamp discontinuity, not a gap: not filled.
const GAP_MAX: f64 = 600.0;

pub(super) fn open_audio(
    path: &Path,
    ictx: &ff::format::context::Input,
    index: usize,
    specs: &[AudioSpec],
    container_start: f64,
) -> Result<AudioPart> {
    for s in specs {
        if s.rate == 0 || s.channels == 0 {
            return Err(MediaError::InvalidOption(
                "rate and channels must be > 0".into(),
            ));
        }
    }
    let stream = ictx
        .stream(index)
        .ok_or_else(|| MediaError::NoAudioStream { path: path.into() })?;
    let tb = stream.time_base();
    // The container's duration of the stream, when it has one: decoders leave the encoder's
    // padding at the end (AAC: up to a frame), which the container's edit list cuts off.
    let duration = ts_seconds(stream.duration(), tb).filter(|d| *d > 0.0);
    // Matroska keeps a stream's length in its DURATION tag instead (FFmpeg and mkvmerge write
    // one per track): not a limit on the samples, but what a truncated file is told by.
    // FFmpeg's own muxer (a "Lavf" encoder tag) writes the track's end time there, its start
    // included (audio delayed by 3 s: 14 s for 11 s of audio); older mkvmerge names the tag
    // DURATION-eng.
    let end_is_tagged = crate::probe::lengths_are_end_times(ictx);
    let tagged = duration.or_else(|| {
        let tag = duration_tag(&stream)?;
        let start = ts_seconds(stream.start_time(), tb).unwrap_or(0.0).max(0.0);
        Some(if end_is_tagged { tag - start } else { tag }).filter(|d| *d > 0.0)
    });
    // Streams that start a little before the container (AAC priming) are taken as starting
    // at 0; a stream that starts later (an empty edit, -itsoffset) starts there.
    let offset = ts_seconds(stream.start_time(), tb)
        .map(|s| s - container_start)
        .filter(|o| o.is_finite() && *o > 0.0)
        .unwrap_or(0.0);
    let codec_id = stream.parameters().id();
    let (codec, cctx) = codec_context(path, &stream)?;
    let decoder = cctx
        .decoder()
        .open_as(codec)
        .and_then(|o| o.audio())
        .map_err(|e| cannot_open(path, e))?;
    let info = AudioInfo {
        stream_index: index,
        codec: codec_name(codec_id),
        sample_rate: decoder.rate(),
        channels: decoder.channels() as u32,
        offset,
        duration,
    };
    let outs = specs
        .iter()
        .map(|&spec| AudioOut {
            spec,
            rs: None,
            buf: Vec::new(),
            written: 0,
            limit: duration.map(|d| (d * spec.rate as f64).round() as u64),
            declared: tagged.map(|d| (d * spec.rate as f64).round() as u64),
            held: Vec::new(),
            overrun: false,
        })
        .collect();
    Ok(AudioPart {
        index,
        tb,
        container_start,
        rebase: false,
        decoder,
        outs,
        stopped: false,
        info,
        packets_read: 0,
        decode_errors: 0,
        failure: None,
        next_in: None,
        gaps: (0, 0.0, None),
    })
}

impl AudioOut {
    pub(super) fn format(&self) -> AudioFormat {
        AudioFormat {
            rate: self.spec.rate,
            channels: self.spec.channels,
            format: SampleFormat::F32,
        }
    }

    /// Hand on what the resampler produced into `buf`, up to the limit.
    pub(super) fn emit(&mut self, spec: usize, out: &mut VecDeque<AudioBlock>) {
        let ch = self.spec.channels as usize;
        let n = (self.buf.len() / 4 / ch) as u64;
        let mut samples: Vec<f32> =
            crate::audio::f32_samples(&self.buf[..n as usize * ch * 4]).collect();
        if let Some(l) = self.limit {
            let keep = n.min(l.saturating_sub(self.written)) as usize * ch;
            self.held.extend_from_slice(&samples[keep..]);
            samples.truncate(keep);
            let padding = (PADDING_SECONDS * self.spec.rate as f64) as usize * ch;
            if self.held.len() > padding {
                // Far more than padding: the container's duration is wrong (a FLAC header
                // claiming 0.01 s of 6 s). Decode it all, and say so.
                self.limit = None;
                self.overrun = true;
                samples.append(&mut self.held);
            }
        }
        if samples.is_empty() {
            return;
        }
        let frames = (samples.len() / ch) as u64;
        out.push_back(AudioBlock {
            spec,
            first_sample: self.written,
            samples,
        });
        self.written += frames;
    }
}

/// A Matroska track's DURATION tag (or DURATION-eng), in seconds as written.
pub(super) fn duration_tag(stream: &ff::format::stream::Stream) -> Option<f64> {
    stream.metadata().iter().find_map(|(k, v)| {
        (k.eq_ignore_ascii_case("DURATION") || k.to_ascii_uppercase().starts_with("DURATION-"))
            .then(|| parse_hms(v))
            .flatten()
    })
}

/// "HH:MM:SS.fraction" (Matroska's DURATION tag) in seconds.
fn parse_hms(t: &str) -> Option<f64> {
    let mut parts = t.trim().split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let v = h.parse::<u64>().ok()? as f64 * 3600.0
        + m.parse::<u64>().ok()? as f64 * 60.0
        + sec.parse::<f64>().ok()?;
    v.is_finite().then_some(v)
}

impl AudioPart {
    /// What went wrong with the audio short of a failure: the damage, a duration that does
    /// not match the container's, packets that did not decode.
    pub(super) fn warnings(&self, spec: usize, sample_rate: u32) -> Vec<String> {
        let mut w = Vec::new();
        let Some(o) = self.outs.get(spec) else {
            return w;
        };
        if o.written > 0 {
            if let Some(f) = &self.failure {
                w.push(format!("audio stopped early: {f}"));
            }
        }
        if self.decode_errors > 0 {
            w.push(format!(
                "{} audio packet(s) failed to decode",
                self.decode_errors
            ));
        }
        if let (n @ 1.., total, Some(first)) = self.gaps {
            w.push(format!(
                "{n} gap(s) in the audio ({total:.3} s in all, the first at {first:.3} s) filled \
                 with silence: the times after them stay on the file's timeline"
            ));
        }
        let secs = |n: u64| n as f64 / sample_rate.max(1) as f64;
        if let Some(d) = o.declared {
            if o.overrun {
                w.push(format!(
                    "the container says the audio lasts {:.3} s but it lasts {:.3} s: all of it was decoded",
                    secs(d),
                    secs(o.written)
                ));
            } else if secs(d) - secs(o.written) > 0.5f64.max(secs(d) * 0.05)
                && self.failure.is_none()
                && !self.stopped
            {
                w.push(format!(
                    "audio ends at {:.3} s but the container says {:.3} s: file looks truncated",
                    secs(o.written),
                    secs(d)
                ));
            }
        }
        w
    }

    /// An audio packet from the demuxer.
    pub(super) fn push(
        &mut self,
        packet: &ff::Packet,
        path: &Path,
        out: &mut VecDeque<AudioBlock>,
    ) {
        self.packets_read += 1;
        if self.decoder.send_packet(packet).is_err() {
            self.decode_errors += 1;
            return;
        }
        self.receive(path, out);
    }

    /// The end of the stream: what the decoder and the resamplers still hold.
    pub(super) fn drain(&mut self, path: &Path, out: &mut VecDeque<AudioBlock>) {
        let _ = self.decoder.send_eof();
        self.receive(path, out);
        self.flush(out);
    }

    pub(super) fn receive(&mut self, path: &Path, out: &mut VecDeque<AudioBlock>) {
        let mut frame = ff::util::frame::Audio::empty();
        while self.decoder.receive_frame(&mut frame).is_ok() {
            if self.failure.is_some() {
                continue;
            }
            let t = frame
                .timestamp()
                .or(frame.pts())
                .and_then(|p| ts_seconds(p, self.tb))
                .map(|t| t - self.container_start - self.info.offset);
            if std::mem::take(&mut self.rebase) {
                // The first frame after a seek: its samples are numbered from its timestamp
                // (the stream's first sample is number 0), so times stay on the one timeline.
                if let Some(t) = t.filter(|t| *t > 0.0) {
                    for o in &mut self.outs {
                        o.written = (t * o.spec.rate as f64).round() as u64;
                    }
                }
            } else if let (Some(t), Some(next)) = (t, self.next_in) {
                let gap = t - next;
                if gap > GAP_MIN && gap <= GAP_MAX {
                    self.fill(gap, out);
                    self.gaps.0 += 1;
                    self.gaps.1 += gap;
                    self.gaps.2.get_or_insert(next);
                }
            }
            let len = frame.samples() as f64 / frame.rate().max(1) as f64;
            self.next_in = t.or(self.next_in).map(|s| s + len);
            for i in 0..self.outs.len() {
                if let Err(reason) = self.resample(i, &frame, out) {
                    self.failure = Some(format!("{}: {reason}", path.display()));
                }
            }
        }
    }

    pub(super) fn resample(
        &mut self,
        i: usize,
        frame: &ff::util::frame::Audio,
        out: &mut VecDeque<AudioBlock>,
    ) -> std::result::Result<(), String> {
        let o = &mut self.outs[i];
        let fmt = o.format();
        // SAFETY: the frame is a valid decoded audio frame; data pointers cover nb_samples.
        unsafe {
            let f = frame.as_ptr();
            let key = Resampler::key_of(f);
            if o.rs.as_ref().map(|r| r.key) != Some(key) {
                // A format change mid-stream: flush what the old context holds, start anew.
                if let Some(old) = o.rs.as_mut() {
                    if old.run(std::ptr::null(), 0, fmt, &mut o.buf) > 0 {
                        o.emit(i, out);
                    }
                }
                o.rs = Some(Resampler::new(f, fmt)?);
            }
            let r = o.rs.as_mut().ok_or("no resampler")?;
            let n = r.run(
                (*f).extended_data as *const *const u8,
                (*f).nb_samples,
                fmt,
                &mut o.buf,
            );
            if n > 0 {
                o.emit(i, out);
            }
        }
        Ok(())
    }

    /// `secs` of silence in every output, after what the resamplers hold.
    fn fill(&mut self, secs: f64, out: &mut VecDeque<AudioBlock>) {
        self.flush(out);
        for i in 0..self.outs.len() {
            let o = &mut self.outs[i];
            let ch = o.spec.channels as usize;
            let mut left = (secs * o.spec.rate as f64).round() as usize;
            // A second at a time: bounded memory whatever the gap.
            while left > 0 {
                let n = left.min(o.spec.rate as usize);
                o.buf.clear();
                o.buf.resize(n * ch * 4, 0);
                o.emit(i, out);
                left -= n;
            }
            o.buf.clear();
        }
    }

    pub(super) fn flush(&mut self, out: &mut VecDeque<AudioBlock>) {
        for i in 0..self.outs.len() {
            let o = &mut self.outs[i];
            let fmt = o.format();
            if let Some(r) = o.rs.as_mut() {
                // SAFETY: flushing a valid context.
                if unsafe { r.run(std::ptr::null(), 0, fmt, &mut o.buf) } > 0 {
                    o.emit(i, out);
                }
            }
        }
    }
}
