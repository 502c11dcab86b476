//! Audio out of any file FFmpeg opens: decode the best audio stream and resample it with
//! libswresample to the rate, channel count and sample format models want (16 kHz mono f32
//! for speech), streaming: memory does not grow with the input.
use std::path::Path;

use ffmpeg_next as ff;

use crate::error::{MediaError, Result};
use crate::source::{AudioSpec, Decoded, Source, SourceOptions};

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
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::S16 => "s16",
            SampleFormat::F32 => "f32",
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

/// A libswresample context for one input layout/format/rate.
pub(crate) struct Resampler {
    ctx: *mut ff::ffi::SwrContext,
    pub(crate) key: (i32, i32, u64, i32),
}

impl Drop for Resampler {
    fn drop(&mut self) {
        // SAFETY: ctx was made by swr_alloc and is freed once.
        unsafe { ff::ffi::swr_free(&mut self.ctx) }
    }
}

impl Resampler {
    /// What identifies a frame's input format (sample format, rate, layout mask, channels).
    ///
    /// # Safety
    /// `f` must be a valid decoded audio frame.
    pub(crate) unsafe fn key_of(f: *const ff::ffi::AVFrame) -> (i32, i32, u64, i32) {
        let nb = (*f).ch_layout.nb_channels.max(1);
        let mask = if (*f).ch_layout.order == ff::ffi::AVChannelOrder::AV_CHANNEL_ORDER_NATIVE {
            (*f).ch_layout.u.mask
        } else {
            let mut probe_layout: ff::ffi::AVChannelLayout = std::mem::zeroed();
            ff::ffi::av_channel_layout_default(&mut probe_layout, nb);
            let m = probe_layout.u.mask;
            ff::ffi::av_channel_layout_uninit(&mut probe_layout);
            m
        };
        ((*f).format, (*f).sample_rate, mask, nb)
    }

    /// # Safety
    /// `frame` must be a valid decoded audio frame.
    pub(crate) unsafe fn new(
        frame: *const ff::ffi::AVFrame,
        out: AudioFormat,
    ) -> std::result::Result<Self, String> {
        let mut in_layout: ff::ffi::AVChannelLayout = std::mem::zeroed();
        if (*frame).ch_layout.order == ff::ffi::AVChannelOrder::AV_CHANNEL_ORDER_UNSPEC
            || (*frame).ch_layout.nb_channels <= 0
        {
            ff::ffi::av_channel_layout_default(
                std::ptr::addr_of_mut!(in_layout),
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
            std::ptr::addr_of_mut!(out_layout),
            out.format.av(),
            out.rate as i32,
            std::ptr::addr_of_mut!(in_layout),
            std::mem::transmute::<i32, ff::ffi::AVSampleFormat>((*frame).format),
            (*frame).sample_rate,
            0,
            std::ptr::null_mut(),
        );
        // The same key the caller compares frames with (else a layout that is neither native
        // nor unspecified would make a new context for every frame).
        let key = Self::key_of(frame);
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
    ///
    /// # Safety
    /// `input` must point at `in_count` samples per channel in the context's input format.
    pub(crate) unsafe fn run(
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
            // addr_of_mut: FFmpeg 7 takes `uint8_t *const *`, 5.1 `uint8_t **`.
            std::ptr::addr_of_mut!(ptr),
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

/// f32 -> s16 as libswresample converts (`lrintf(x * 32768)`, clipped).
pub fn f32_to_s16(v: f32) -> i16 {
    (v * 32768.0).round_ties_even().clamp(-32768.0, 32767.0) as i16
}

/// Samples in a buffer of native-endian f32 bytes (what libswresample writes for
/// [`SampleFormat::F32`]).
pub fn f32_samples(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
}

/// The whole audio of `path` as interleaved f32 samples at `rate` Hz with `channels`
/// channels, in memory (for models that need all of it at once, and tests).
pub fn decode_f32(path: &Path, rate: u32, channels: u16) -> Result<Vec<f32>> {
    decode_f32_until(
        path,
        rate,
        channels,
        &std::sync::atomic::AtomicBool::new(false),
    )
    .map(|(samples, _)| samples)
}

/// [`decode_f32`] that stops when `cancel` is set (what it decoded so far comes back: the
/// caller that set it discards it), with the warnings about the audio (truncation, damage,
/// gaps filled): the caller says them (the Python package returned a damaged file's partial
/// audio without a word).
pub fn decode_f32_until(
    path: &Path,
    rate: u32,
    channels: u16,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<(Vec<f32>, Vec<String>)> {
    let mut src = Source::open(
        path,
        &SourceOptions {
            audio: vec![AudioSpec { rate, channels }],
            ..Default::default()
        },
    )?;
    if src.audio_info().is_none() {
        return Err(MediaError::NoAudioStream { path: path.into() });
    }
    let mut samples = Vec::new();
    for d in src.by_ref() {
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok((samples, Vec::new()));
        }
        if let Decoded::Audio(b) = d {
            samples.extend(b.samples);
        }
    }
    match src.no_audio_error(0) {
        Some(e) => Err(e),
        None => Ok((samples, src.audio_warnings(0))),
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
