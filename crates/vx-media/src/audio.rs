//! Audio out of any file FFmpeg opens: decode the best audio stream and resample it with
//! libswresample to the rate, channel count and sample format models want (16 kHz mono f32
//! for speech), streaming: memory does not grow with the input.
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ffmpeg_next as ff;

use crate::error::{MediaError, Result};
use crate::probe::{codec_label, open_input, PacketRead};

/// Output sample format (interleaved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleFormat {
    S16,
    F32,
}

impl SampleFormat {
    pub fn bytes(self) -> usize {
        match self {
            SampleFormat::S16 => 2,
            SampleFormat::F32 => 4,
        }
    }
    fn av(self) -> ff::ffi::AVSampleFormat {
        match self {
            SampleFormat::S16 => ff::ffi::AVSampleFormat::AV_SAMPLE_FMT_S16,
            SampleFormat::F32 => ff::ffi::AVSampleFormat::AV_SAMPLE_FMT_FLT,
        }
    }
}

/// What to resample to.
#[derive(Debug, Clone, Copy)]
pub struct AudioFormat {
    pub rate: u32,
    pub channels: u16,
    pub format: SampleFormat,
}

impl Default for AudioFormat {
    fn default() -> Self {
        AudioFormat {
            rate: 16_000,
            channels: 1,
            format: SampleFormat::S16,
        }
    }
}

/// What [`decode`] went through.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AudioStats {
    /// Sample frames produced (per channel).
    pub samples: u64,
    pub packets_read: usize,
    pub decode_errors: usize,
}

/// A libswresample context for one input layout/format/rate.
struct Resampler {
    ctx: *mut ff::ffi::SwrContext,
    key: (i32, i32, u64, i32),
}

impl Drop for Resampler {
    fn drop(&mut self) {
        // SAFETY: ctx was made by swr_alloc and is freed once.
        unsafe { ff::ffi::swr_free(&mut self.ctx) }
    }
}

impl Resampler {
    /// SAFETY: `frame` must be a valid decoded audio frame.
    unsafe fn new(
        frame: *const ff::ffi::AVFrame,
        out: AudioFormat,
    ) -> std::result::Result<Self, String> {
        let mut in_layout: ff::ffi::AVChannelLayout = std::mem::zeroed();
        if (*frame).ch_layout.order == ff::ffi::AVChannelOrder::AV_CHANNEL_ORDER_UNSPEC
            || (*frame).ch_layout.nb_channels <= 0
        {
            ff::ffi::av_channel_layout_default(
                &mut in_layout,
                (*frame).ch_layout.nb_channels.max(1),
            );
        } else if ff::ffi::av_channel_layout_copy(&mut in_layout, &(*frame).ch_layout) < 0 {
            return Err("cannot copy the channel layout".into());
        }
        let mut out_layout: ff::ffi::AVChannelLayout = std::mem::zeroed();
        ff::ffi::av_channel_layout_default(&mut out_layout, out.channels as i32);
        let mut ctx: *mut ff::ffi::SwrContext = std::ptr::null_mut();
        let r = ff::ffi::swr_alloc_set_opts2(
            &mut ctx,
            &mut out_layout,
            out.format.av(),
            out.rate as i32,
            &mut in_layout,
            std::mem::transmute::<i32, ff::ffi::AVSampleFormat>((*frame).format),
            (*frame).sample_rate,
            0,
            std::ptr::null_mut(),
        );
        let key = (
            (*frame).format,
            (*frame).sample_rate,
            in_layout.u.mask,
            in_layout.nb_channels,
        );
        ff::ffi::av_channel_layout_uninit(&mut in_layout);
        ff::ffi::av_channel_layout_uninit(&mut out_layout);
        if r < 0 || ctx.is_null() || ff::ffi::swr_init(ctx) < 0 {
            if !ctx.is_null() {
                ff::ffi::swr_free(&mut ctx);
            }
            return Err("libswresample cannot convert this audio".into());
        }
        Ok(Resampler { ctx, key })
    }

    /// Convert `in_count` samples at `input` (NULL to flush); returns interleaved output.
    unsafe fn run(
        &mut self,
        input: *const *const u8,
        in_count: i32,
        out: AudioFormat,
        buf: &mut Vec<u8>,
    ) -> i32 {
        let max = ff::ffi::swr_get_out_samples(self.ctx, in_count).max(0) as usize + 32;
        buf.resize(max * out.channels as usize * out.format.bytes(), 0);
        let mut ptr = buf.as_mut_ptr();
        let n = ff::ffi::swr_convert(
            self.ctx,
            &mut ptr,
            max as i32,
            input as *mut *const u8,
            in_count,
        );
        if n > 0 {
            buf.truncate(n as usize * out.channels as usize * out.format.bytes());
        } else {
            buf.clear();
        }
        n
    }
}

/// Decode the best audio stream of `path`, resampled to `out`; `sink` gets interleaved
/// samples (raw bytes in `out.format`, native endianness) as they come.
pub fn decode(
    path: &Path,
    out: AudioFormat,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<AudioStats> {
    if out.rate == 0 || out.channels == 0 {
        return Err(MediaError::InvalidOption(
            "rate and channels must be > 0".into(),
        ));
    }
    let mut ictx = open_input(path)?;
    let stream = ictx
        .streams()
        .best(ff::media::Type::Audio)
        .ok_or_else(|| MediaError::NoAudioStream { path: path.into() })?;
    let index = stream.index();
    // The container's duration of the stream, when it has one: decoders leave the encoder's
    // padding at the end (AAC: up to a frame), which the container's edit list cuts off.
    let limit = crate::probe::ts_seconds(stream.duration(), stream.time_base())
        .filter(|d| *d > 0.0)
        .map(|d| (d * out.rate as f64).round() as u64);
    let params = stream.parameters();
    let codec = ff::decoder::find(params.id()).ok_or_else(|| MediaError::UnsupportedCodec {
        path: path.into(),
        codec: codec_label(&params),
    })?;
    let mut cctx = ff::codec::Context::from_parameters(params).map_err(|e| MediaError::Decode {
        path: path.into(),
        reason: e.to_string(),
    })?;
    // SAFETY: plain field write before opening.
    unsafe { (*cctx.as_mut_ptr()).pkt_timebase = stream.time_base().into() };
    let mut decoder = cctx
        .decoder()
        .open_as(codec)
        .and_then(|o| o.audio())
        .map_err(|e| MediaError::Decode {
            path: path.into(),
            reason: format!("cannot open decoder: {e}"),
        })?;
    crate::probe::keep_only_stream(&mut ictx, index);
    let mut stats = AudioStats::default();
    let frame_size = out.channels as usize * out.format.bytes();
    // Hand samples on, up to `limit` sample frames.
    let mut written = 0u64;
    let mut sink = |b: &[u8]| -> Result<()> {
        let n = (b.len() / frame_size) as u64;
        let keep = match limit {
            Some(l) => n.min(l.saturating_sub(written)),
            None => n,
        };
        written += keep;
        if keep > 0 {
            sink(&b[..keep as usize * frame_size])?;
        }
        Ok(())
    };
    let mut rs: Option<Resampler> = None;
    let mut buf = Vec::new();
    let mut frame = ff::util::frame::Audio::empty();
    let mut packet = ff::Packet::empty();
    let mut emit = |frame: &ff::util::frame::Audio,
                    rs: &mut Option<Resampler>,
                    buf: &mut Vec<u8>,
                    stats: &mut AudioStats|
     -> Result<()> {
        // SAFETY: the frame is a valid decoded audio frame; data pointers cover nb_samples.
        unsafe {
            let f = frame.as_ptr();
            let mut probe_layout: ff::ffi::AVChannelLayout = std::mem::zeroed();
            let nb = (*f).ch_layout.nb_channels.max(1);
            let mask = if (*f).ch_layout.order == ff::ffi::AVChannelOrder::AV_CHANNEL_ORDER_NATIVE {
                (*f).ch_layout.u.mask
            } else {
                ff::ffi::av_channel_layout_default(&mut probe_layout, nb);
                let m = probe_layout.u.mask;
                ff::ffi::av_channel_layout_uninit(&mut probe_layout);
                m
            };
            let key = ((*f).format, (*f).sample_rate, mask, nb);
            if rs.as_ref().map(|r| r.key) != Some(key) {
                // A format change mid-stream: flush what the old context holds, start anew.
                if let Some(old) = rs.as_mut() {
                    if old.run(std::ptr::null(), 0, out, buf) > 0 {
                        stats.samples += (buf.len() / frame_size) as u64;
                        sink(buf)?;
                    }
                }
                *rs = Some(Resampler::new(f, out).map_err(|reason| MediaError::Decode {
                    path: path.into(),
                    reason,
                })?);
            }
            let r = rs.as_mut().ok_or_else(|| MediaError::Decode {
                path: path.into(),
                reason: "no resampler".into(),
            })?;
            let n = r.run(
                (*f).extended_data as *const *const u8,
                (*f).nb_samples,
                out,
                buf,
            );
            if n > 0 {
                stats.samples += n as u64;
                sink(buf)?;
            }
        }
        Ok(())
    };
    loop {
        match crate::probe::read_packet(&mut ictx, &mut packet) {
            Ok(PacketRead::Packet) => {}
            Ok(PacketRead::Eof) => break,
            Ok(PacketRead::Again | PacketRead::Invalid) => continue,
            Err(e) => {
                return Err(MediaError::Decode {
                    path: path.into(),
                    reason: format!("read error: {e}"),
                })
            }
        }
        if packet.stream() != index {
            continue;
        }
        stats.packets_read += 1;
        if decoder.send_packet(&packet).is_err() {
            stats.decode_errors += 1;
            continue;
        }
        while decoder.receive_frame(&mut frame).is_ok() {
            emit(&frame, &mut rs, &mut buf, &mut stats)?;
        }
    }
    let _ = decoder.send_eof();
    while decoder.receive_frame(&mut frame).is_ok() {
        emit(&frame, &mut rs, &mut buf, &mut stats)?;
    }
    if let Some(r) = rs.as_mut() {
        // SAFETY: flushing a valid context.
        if unsafe { r.run(std::ptr::null(), 0, out, &mut buf) } > 0 {
            stats.samples += (buf.len() / frame_size) as u64;
            sink(&buf)?;
        }
    }
    stats.samples = written;
    if stats.samples == 0 {
        return Err(MediaError::NoFrames {
            path: path.into(),
            detail: Some(if stats.packets_read == 0 {
                "no audio packets could be read".into()
            } else {
                format!(
                    "{} of {} audio packets failed to decode",
                    stats.decode_errors, stats.packets_read
                )
            }),
        });
    }
    Ok(stats)
}

/// Samples in a buffer of native-endian f32 bytes (what [`decode`] gives for
/// [`SampleFormat::F32`]).
pub fn f32_samples(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
}

/// The whole audio of `path` as interleaved f32 samples at `rate` Hz with `channels`
/// channels, in memory (for models that need all of it at once).
pub fn decode_f32(path: &Path, rate: u32, channels: u16) -> Result<Vec<f32>> {
    let mut samples = Vec::new();
    decode(
        path,
        AudioFormat {
            rate,
            channels,
            format: SampleFormat::F32,
        },
        |b| {
            samples.extend(f32_samples(b));
            Ok(())
        },
    )?;
    Ok(samples)
}

/// Write `path`'s audio as a WAV file at `output` (temporary name, renamed when complete).
pub fn extract_wav(path: &Path, output: &Path, out: AudioFormat) -> Result<AudioStats> {
    let tmp: PathBuf = crate::fsutil::temp_path(output);
    let io = |e: std::io::Error| MediaError::io(output, e);
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
    let res = (|| -> Result<AudioStats> {
        w.write_all(&wav_header(out, 0)).map_err(io)?;
        let stats = decode(path, out, |b| w.write_all(b).map_err(io))?;
        let data = stats.samples * (out.channels as u64) * out.format.bytes() as u64;
        if data > u32::MAX as u64 - 44 {
            return Err(MediaError::InvalidOption(
                "audio too long for a WAV file (4 GiB)".into(),
            ));
        }
        w.seek(SeekFrom::Start(0)).map_err(io)?;
        w.write_all(&wav_header(out, data as u32)).map_err(io)?;
        w.flush().map_err(io)?;
        Ok(stats)
    })();
    match res {
        Ok(stats) => {
            drop(w);
            std::fs::rename(&tmp, output).map_err(io)?;
            Ok(stats)
        }
        Err(e) => {
            drop(w);
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// A 44-byte RIFF/WAVE header (PCM 16-bit, or IEEE float 32-bit).
pub fn wav_header(f: AudioFormat, data_bytes: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    let bps = f.format.bytes() as u32;
    let block = bps * f.channels as u32;
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data_bytes).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    let tag: u16 = if f.format == SampleFormat::F32 { 3 } else { 1 };
    h[20..22].copy_from_slice(&tag.to_le_bytes());
    h[22..24].copy_from_slice(&f.channels.to_le_bytes());
    h[24..28].copy_from_slice(&f.rate.to_le_bytes());
    h[28..32].copy_from_slice(&(f.rate * block).to_le_bytes());
    h[32..34].copy_from_slice(&(block as u16).to_le_bytes());
    h[34..36].copy_from_slice(&((bps * 8) as u16).to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}
