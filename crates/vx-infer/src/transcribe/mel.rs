//! Whisper's log-mel spectrogram, computed the way whisper.cpp's `log_mel_spectrogram` does
//! it (same padding, window, filter bank, clamping and scaling), but with a real FFT.
//!
//! whisper.cpp's own FFT recurses down to a 25-point DFT with an integer modulo per term:
//! 7-8 % of all CPU time of `vx transcribe` on a 10-minute file (`perf`), for a step that is
//! 1-2 % with rustfft, two frames per complex transform. The result goes to whisper.cpp with
//! `whisper_set_mel_with_state` ([`super::ffi::Input::Mel`]); the spectrogram differs from
//! whisper.cpp's by float rounding (tests/transcribe_mel.rs compares the transcripts), and for
//! inputs under 201 samples, which whisper.cpp reads past (zeros here; vx hands whisper 100 ms
//! or more), and NaN samples (silence here, NaN there).
//!
//! Layout, as whisper.cpp's: `n_mel` rows of `n_len` frames, one frame every 10 ms; `n_len`
//! covers the audio plus the 30 s of silence whisper.cpp appends (the encoder reads up to
//! 30 s past any position it starts at, and must see the same padding values).
use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use crate::ggml::MelFilters;

/// FFT length and hop (25 ms and 10 ms at 16 kHz), as whisper was trained.
pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
/// Reflected samples before the audio (half a window).
const PAD: usize = N_FFT / 2;
/// Silence whisper.cpp appends after the audio: 30 s.
const TAIL: usize = 16_000 * 30;
/// Frames transformed per FFT call (two per complex transform).
const PAIRS: usize = 64;

/// A spectrogram ready for whisper.cpp.
#[derive(Debug, Clone)]
pub struct Spectrogram {
    /// `n_mel` rows of `n_len` values.
    pub data: Vec<f32>,
    pub n_mel: usize,
    pub n_len: usize,
    /// Frames of audio (whisper.cpp's `n_len_org`); the rest is the appended silence.
    pub frames: usize,
}

/// The transform and the model's filter bank, made once per model.
pub struct LogMel {
    fft: Arc<dyn Fft<f32>>,
    hann: Vec<f32>,
    /// Per mel band: its first FFT bin with a non-zero weight and the weights from there (a
    /// band spans a few bins of the 201).
    bands: Vec<(usize, Vec<f32>)>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel")
            .field("bands", &self.bands.len())
            .finish()
    }
}

impl LogMel {
    /// From a model's filter bank; None unless it is one for a 400-point FFT.
    pub fn new(filters: &MelFilters) -> Option<LogMel> {
        let bins = N_FFT / 2 + 1;
        if filters.n_fft != bins
            || filters.n_mel == 0
            || filters.data.len() != filters.n_mel * bins
            || filters.data.iter().any(|w| !w.is_finite())
        {
            return None;
        }
        let bands = filters
            .data
            .chunks_exact(bins)
            .map(|row| {
                let first = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                let last = row.iter().rposition(|&w| w != 0.0).map_or(0, |l| l + 1);
                (first, row[first..last.max(first)].to_vec())
            })
            .collect();
        // whisper.cpp: 0.5 * (1 - cosf(2 pi i / N)), a periodic Hann window.
        let hann = (0..N_FFT)
            .map(|i| {
                let c = ((2.0 * std::f64::consts::PI * i as f64) / N_FFT as f64) as f32;
                (0.5 * (1.0 - c.cos() as f64)) as f32
            })
            .collect();
        Some(LogMel {
            fft: FftPlanner::new().plan_fft_forward(N_FFT),
            hann,
            bands,
        })
    }

    /// Mel bands.
    pub fn n_mel(&self) -> usize {
        self.bands.len()
    }

    /// The spectrogram of 16 kHz mono `samples`.
    pub fn compute(&self, samples: &[f32]) -> Spectrogram {
        let n = samples.len();
        let n_mel = self.bands.len();
        let n_len = (n + TAIL) / HOP;
        // whisper.cpp's n_len_org: 1 + (n + 200 - 400) / 160, C division (toward zero); at
        // least 1, since whisper.cpp takes a duration of 0 for "the whole spectrogram" and would
        // decode the 30 s of padding (callers hand over 100 ms or more: 10 frames).
        let frames = (1 + (n as i64 + PAD as i64 - N_FFT as i64) / HOP as i64).max(1) as usize;
        // Frames with audio in their window; the others see only silence.
        let real = ((n + PAD) / HOP + 1).min(n_len);
        // The padded signal: 200 samples reflected (x[200], ..., x[1]), the audio, zeros.
        let x = |k: usize| -> f32 {
            let v = if k < PAD {
                samples.get(PAD - k)
            } else {
                samples.get(k - PAD)
            };
            v.copied().unwrap_or(0.0)
        };
        // log10(1e-10): what whisper.cpp stores for a silent frame.
        let mut data = vec![-10.0f32; n_mel * n_len];
        let mut buf = vec![Complex32::default(); PAIRS * N_FFT];
        let mut scratch = vec![Complex32::default(); self.fft.get_inplace_scratch_len()];
        let mut power = [[0f32; N_FFT / 2 + 1]; 2];
        let mut start = 0;
        while start < real {
            let count = (real - start).min(2 * PAIRS);
            let pairs = count.div_ceil(2);
            for p in 0..pairs {
                let (a, b) = (start + 2 * p, start + 2 * p + 1);
                let out = &mut buf[p * N_FFT..(p + 1) * N_FFT];
                for (k, c) in out.iter_mut().enumerate() {
                    let re = self.hann[k] * x(a * HOP + k);
                    let im = if b < start + count {
                        self.hann[k] * x(b * HOP + k)
                    } else {
                        0.0
                    };
                    *c = Complex32::new(re, im);
                }
            }
            self.fft
                .process_with_scratch(&mut buf[..pairs * N_FFT], &mut scratch);
            for p in 0..pairs {
                let z = &buf[p * N_FFT..(p + 1) * N_FFT];
                // Two real frames in one transform: A[k] = (Z[k] + conj Z[N-k]) / 2,
                // B[k] = (Z[k] - conj Z[N-k]) / 2i.
                for k in 0..=N_FFT / 2 {
                    let (zk, zn) = (z[k], z[(N_FFT - k) % N_FFT].conj());
                    let a = (zk + zn) * 0.5;
                    let d = zk - zn;
                    let b = Complex32::new(d.im * 0.5, -d.re * 0.5);
                    power[0][k] = a.re * a.re + a.im * a.im;
                    power[1][k] = b.re * b.re + b.im * b.im;
                }
                for (h, pw) in power.iter().enumerate() {
                    let i = start + 2 * p + h;
                    if i >= start + count {
                        break;
                    }
                    for (j, (first, w)) in self.bands.iter().enumerate() {
                        let sum: f64 = pw[*first..*first + w.len()]
                            .iter()
                            .zip(w)
                            .map(|(&a, &b)| (a * b) as f64)
                            .sum();
                        data[j * n_len + i] = sum.max(1e-10).log10() as f32;
                    }
                }
            }
            start += count;
        }
        // Clamp to 8 (log10 units) below the loudest value, then scale, as whisper.cpp does
        // (in double, stored as float).
        let top = data
            .iter()
            .fold(-1e20f64, |m, &v| if (v as f64) > m { v as f64 } else { m })
            - 8.0;
        for v in data.iter_mut() {
            let c = if (*v as f64) < top { top as f32 } else { *v };
            *v = ((c as f64 + 4.0) / 4.0) as f32;
        }
        Spectrogram {
            data,
            n_mel,
            n_len,
            frames,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A triangular filter bank of 80 bands over 201 bins, like whisper's (not its values).
    fn bank() -> MelFilters {
        let (n_mel, bins) = (80, N_FFT / 2 + 1);
        let mut data = vec![0f32; n_mel * bins];
        for j in 0..n_mel {
            let c = 1 + j * 2;
            for (d, w) in [(0usize, 1.0f32), (1, 0.5)] {
                data[j * bins + c + d] = w;
                if c >= d {
                    data[j * bins + c - d] = w;
                }
            }
        }
        MelFilters {
            n_mel,
            n_fft: bins,
            data,
        }
    }

    /// The same spectrogram by the definition, written as whisper.cpp's code is (a literal
    /// port of its padding and frame loop, not of this module's): a direct DFT, in f64.
    fn reference(filters: &MelFilters, samples: &[f32]) -> Vec<f64> {
        let n = samples.len();
        assert!(n > 200, "whisper.cpp reads samples[1..=200]");
        let bins = N_FFT / 2 + 1;
        // std::vector samples_padded(n + 30 s + 2 x 200): the samples copied at 200, zeros
        // after, reverse_copy(samples + 1, samples + 201) at 0.
        let mut padded = vec![0f64; n + 480_000 + 400];
        for (i, &v) in samples.iter().enumerate() {
            padded[200 + i] = v as f64;
        }
        let head: Vec<f64> = samples[1..201].iter().rev().map(|&v| v as f64).collect();
        padded[..200].copy_from_slice(&head);
        let n_len = (padded.len() - 400) / 160;
        // The worker's n_samples is n + 200; frames from there on are all zeros.
        let worker_n = n + 200;
        let mut out = vec![-10f64; filters.n_mel * n_len];
        for i in 0..(worker_n / 160 + 1).min(n_len) {
            let offset = i * 160;
            let frame: Vec<f64> = (0..N_FFT)
                .map(|j| {
                    let w =
                        0.5 * (1.0 - (2.0 * std::f64::consts::PI * j as f64 / N_FFT as f64).cos());
                    if j < worker_n - offset {
                        w * padded[offset + j]
                    } else {
                        0.0
                    }
                })
                .collect();
            let power: Vec<f64> = (0..bins)
                .map(|f| {
                    let (mut re, mut im) = (0.0, 0.0);
                    for (k, v) in frame.iter().enumerate() {
                        let t = 2.0 * std::f64::consts::PI * (f * k) as f64 / N_FFT as f64;
                        re += v * t.cos();
                        im -= v * t.sin();
                    }
                    re * re + im * im
                })
                .collect();
            for j in 0..filters.n_mel {
                let s: f64 = (0..bins)
                    .map(|f| power[f] * filters.data[j * bins + f] as f64)
                    .sum();
                out[j * n_len + i] = s.max(1e-10).log10();
            }
        }
        let top = out.iter().cloned().fold(f64::MIN, f64::max) - 8.0;
        out.iter().map(|v| (v.max(top) + 4.0) / 4.0).collect()
    }

    #[test]
    fn matches_a_direct_dft() {
        // A chirp with noise-like harmonics, an odd number of frames' worth of samples.
        let samples: Vec<f32> = (0..16_000 + 333)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                0.5 * (2.0 * std::f32::consts::PI * (200.0 + 1500.0 * t) * t).sin()
                    + 0.1 * ((i * 7919) % 97) as f32 / 97.0
            })
            .collect();
        let f = bank();
        let mel = LogMel::new(&f).expect("a 201-bin bank");
        let got = mel.compute(&samples);
        let want = reference(&f, &samples);
        assert_eq!(got.n_len, (samples.len() + 480_000) / 160);
        assert_eq!(got.frames, 1 + (samples.len() - 200) / HOP);
        assert_eq!(got.data.len(), want.len());
        let worst = got
            .data
            .iter()
            .zip(&want)
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0.0, f64::max);
        // log10 units / 4: 1e-4 is a power ratio of 1.001.
        assert!(worst < 1e-4, "largest difference {worst}");
        // The padding frames hold the clamped silence value, like whisper.cpp's.
        let pad = got.data[got.n_len - 1];
        assert!(got.data[..got.n_len].iter().all(|&v| v >= pad));
    }

    #[test]
    fn short_and_empty_input_do_not_read_out_of_bounds() {
        let mel = LogMel::new(&bank()).expect("bank");
        for n in [0usize, 1, 150, 199, 200, 201, 399, 400] {
            let s = mel.compute(&vec![0.25; n]);
            assert_eq!(s.data.len(), 80 * s.n_len);
            assert!(s.frames >= 1 && s.frames <= s.n_len);
            assert!(s.data.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn refuses_a_bank_for_another_transform() {
        let mut f = bank();
        f.n_fft = 257;
        assert!(LogMel::new(&f).is_none());
        let mut f = bank();
        f.data[3] = f32::NAN;
        assert!(LogMel::new(&f).is_none());
    }
}
