//! `vx models quantize`: a whisper.cpp ggml model with f16 weights rewritten with quantised
//! weights (`q8_0`, `q5_1`), as whisper.cpp's own `quantize` tool does: the input is validated
//! first ([`crate::ggml::validate`]); the hyper-parameters keep everything but the weight type
//! (`ftype` = type + 1000 x quantisation version 2); mel filters and vocabulary are copied;
//! exactly the tensors whisper.cpp creates with the weight type (the 2-D matrices of attention
//! and MLP, and the token embedding) are quantised, block by block of 32 values, by ggml's
//! reference formulas (bit for bit: tested against ggml's own `ggml_quantize_chunk`); the
//! others (positional embeddings, convolutions, norms, biases) are copied as they are.
//! The output goes through the one output writer (complete or absent).
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use half::f16;

use crate::ggml::is_weight_matrix;
use crate::{InferError, Result};

/// A quantised weight type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    /// 8-bit, one f16 scale per 32 values (34 bytes per block).
    Q8_0,
    /// 5-bit with a minimum, f16 scale and minimum per 32 values (24 bytes per block).
    Q5_1,
}

impl Quant {
    /// ggml's tensor type number.
    fn ggml_type(self) -> i32 {
        match self {
            Quant::Q8_0 => 8,
            Quant::Q5_1 => 7,
        }
    }
    /// ggml's file type number (`GGML_FTYPE_MOSTLY_*`).
    fn ftype(self) -> i32 {
        match self {
            Quant::Q8_0 => 7,
            Quant::Q5_1 => 9,
        }
    }
    fn block_bytes(self) -> usize {
        match self {
            Quant::Q8_0 => 34,
            Quant::Q5_1 => 24,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Quant::Q8_0 => "q8_0",
            Quant::Q5_1 => "q5_1",
        }
    }
    pub fn parse(s: &str) -> Option<Quant> {
        match s {
            "q8_0" => Some(Quant::Q8_0),
            "q5_1" => Some(Quant::Q5_1),
            _ => None,
        }
    }
}

/// Values per block.
const QK: usize = 32;
/// `GGML_QNT_VERSION` x `GGML_QNT_VERSION_FACTOR`, added to the file type.
const QNT_VERSION: i32 = 2 * 1000;

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantReport {
    pub tensors: usize,
    pub quantised: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// One block of 32 values as `q8_0`: the f16 scale, then 32 signed bytes.
pub fn block_q8_0(x: &[f32; QK], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend_from_slice(&f16::from_f32(d).to_bits().to_le_bytes());
    out.extend(x.iter().map(|v| (v * id).round() as i8 as u8));
}

/// One block of 32 values as `q5_1`: f16 scale and minimum, the 32 fifth bits, 16 bytes of
/// low nibbles (value j and value j + 16 share byte j).
pub fn block_q5_1(x: &[f32; QK], out: &mut Vec<u8>) {
    let (min, max) = x
        .iter()
        .fold((f32::MAX, -f32::MAX), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let d = (max - min) / 31.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend_from_slice(&f16::from_f32(d).to_bits().to_le_bytes());
    out.extend_from_slice(&f16::from_f32(min).to_bits().to_le_bytes());
    let mut qh = 0u32;
    let mut qs = [0u8; QK / 2];
    for j in 0..QK / 2 {
        // C's (uint8_t)(x + 0.5f): truncation of a value in 0..=31.5.
        let x0 = ((x[j] - min) * id + 0.5) as u8;
        let x1 = ((x[QK / 2 + j] - min) * id + 0.5) as u8;
        qs[j] = (x0 & 0x0f) | ((x1 & 0x0f) << 4);
        qh |= (((x0 & 0x10) >> 4) as u32) << j;
        qh |= (((x1 & 0x10) >> 4) as u32) << (j + QK / 2);
    }
    out.extend_from_slice(&qh.to_le_bytes());
    out.extend_from_slice(&qs);
}

/// Rewrite the f16 model `input` as `output` with `to` weights.
pub fn quantize(input: &Path, output: &Path, to: Quant) -> Result<QuantReport> {
    let summary = crate::ggml::validate(input)?;
    // A regular file, and not the input (through a link or not): it is read back.
    let out_meta = std::fs::metadata(output);
    if output.as_os_str() == "-"
        || out_meta.as_ref().is_ok_and(|m| !m.is_file())
        || vx_image::fsutil::same_file(input, output)
    {
        return Err(InferError::OutputRefused {
            path: output.into(),
            reason: "the output must be a new or regular file other than the input".into(),
        });
    }
    let fail = |reason: String| InferError::Model {
        path: input.into(),
        reason,
    };
    if summary.hparams.ftype % 1000 != 1 {
        return Err(fail(format!(
            "quantize takes a model with f16 weights; this one has ftype {}",
            summary.hparams.ftype
        )));
    }
    let io_in = |e: std::io::Error| fail(format!("cannot read: {e}"));
    let io_out = |e: std::io::Error| InferError::Write {
        path: output.into(),
        reason: e.to_string(),
    };
    let f = std::fs::File::open(input).map_err(io_in)?;
    let len = f.metadata().map_err(io_in)?.len();
    // Never more than the file held when it was validated (a file changed since then is an
    // error, not an allocation of what it now claims).
    let mut r = crate::ggml::Reader {
        r: BufReader::with_capacity(1 << 20, f),
        pos: 0,
        len,
    };
    let file = vx_image::fsutil::OutFile::create(output).map_err(io_out)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let put = |w: &mut BufWriter<_>, b: &[u8]| w.write_all(b).map_err(io_out);
    // Magic and hyper-parameters, the weight type replaced.
    let mut head = r.bytes(4 + 11 * 4, "the model").map_err(fail)?;
    head[44..48].copy_from_slice(&(QNT_VERSION + to.ftype()).to_le_bytes());
    put(&mut w, &head)?;
    // Mel filters and vocabulary: copied (their sizes were checked by validate).
    let (n_mel, n_fft) = (
        r.i32("the model").map_err(fail)?,
        r.i32("the model").map_err(fail)?,
    );
    put(&mut w, &n_mel.to_le_bytes())?;
    put(&mut w, &n_fft.to_le_bytes())?;
    let mel = r
        .bytes(n_mel as u64 * n_fft as u64 * 4, "the model")
        .map_err(fail)?;
    put(&mut w, &mel)?;
    let n_vocab = r.i32("the model").map_err(fail)?;
    put(&mut w, &n_vocab.to_le_bytes())?;
    for _ in 0..n_vocab {
        let n = r.i32("the model").map_err(fail)?;
        let b = r.bytes(n.max(0) as u64, "the model").map_err(fail)?;
        put(&mut w, &n.to_le_bytes())?;
        put(&mut w, &b)?;
    }
    let mut report = QuantReport {
        tensors: 0,
        quantised: 0,
        bytes_in: len,
        bytes_out: 0,
    };
    let mut block = Vec::new();
    while r.pos < len {
        let (n_dims, name_len, ttype) = (
            r.i32("the model").map_err(fail)?,
            r.i32("the model").map_err(fail)?,
            r.i32("the model").map_err(fail)?,
        );
        let mut ne = Vec::with_capacity(4);
        for _ in 0..n_dims.clamp(0, 4) {
            ne.push(r.i32("the model").map_err(fail)?.max(1) as usize);
        }
        let name_bytes = r.bytes(name_len.max(0) as u64, "the model").map_err(fail)?;
        let name = String::from_utf8_lossy(&name_bytes).into_owned();
        let elements: usize = ne.iter().product();
        let elem_bytes = match ttype {
            0 => 4,
            1 => 2,
            t => return Err(fail(format!("tensor {name}: type {t} in an f16 model"))),
        };
        let data = r
            .bytes(elements.saturating_mul(elem_bytes) as u64, "the model")
            .map_err(fail)?;
        // By name, as whisper.cpp decides (a matrix may be stored with trailing 1 dimensions).
        let quantise = is_weight_matrix(&name) && ne.iter().skip(2).all(|&d| d == 1);
        let out_type = if quantise { to.ggml_type() } else { ttype };
        put(&mut w, &n_dims.to_le_bytes())?;
        put(&mut w, &name_len.to_le_bytes())?;
        put(&mut w, &out_type.to_le_bytes())?;
        for d in &ne {
            put(&mut w, &(*d as i32).to_le_bytes())?;
        }
        put(&mut w, &name_bytes)?;
        if !quantise {
            put(&mut w, &data)?;
        } else {
            if ttype != 1 {
                return Err(fail(format!("tensor {name} is not f16 (type {ttype})")));
            }
            if ne.first().is_none_or(|&d| d % QK != 0) {
                return Err(fail(format!(
                    "tensor {name}: rows of {ne:?} cannot be quantised in blocks of {QK}"
                )));
            }
            for chunk in data.chunks_exact(2 * QK) {
                let mut x = [0f32; QK];
                for (v, b) in x.iter_mut().zip(chunk.chunks_exact(2)) {
                    *v = f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
                }
                block.clear();
                match to {
                    Quant::Q8_0 => block_q8_0(&x, &mut block),
                    Quant::Q5_1 => block_q5_1(&x, &mut block),
                }
                debug_assert_eq!(block.len(), to.block_bytes());
                put(&mut w, &block)?;
            }
            report.quantised += 1;
        }
        report.tensors += 1;
    }
    let file = w.into_inner().map_err(|e| io_out(e.into_error()))?;
    file.commit().map_err(io_out)?;
    report.bytes_out = std::fs::metadata(output).map_err(io_out)?.len();
    // What whisper.cpp will load, checked like any model; a file that fails is removed.
    if let Err(e) = crate::ggml::validate(output) {
        let _ = std::fs::remove_file(output);
        return Err(e);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use whisper_rs::whisper_rs_sys as sys;

    /// ggml's own quantiser over the same rows.
    fn ggml(to: Quant, x: &[f32]) -> Vec<u8> {
        let t = to.ggml_type() as sys::ggml_type;
        let rows = x.len() / QK;
        let mut out = vec![0u8; rows * to.block_bytes()];
        // SAFETY: `x` holds rows x 32 floats and `out` rows blocks of the type's size, as
        // ggml_quantize_chunk reads and writes for (start 0, rows, 32 per row); no importance
        // matrix (neither type needs one).
        let n = unsafe {
            sys::ggml_quantize_init(t);
            sys::ggml_quantize_chunk(
                t,
                x.as_ptr(),
                out.as_mut_ptr().cast(),
                0,
                rows as i64,
                QK as i64,
                std::ptr::null(),
            )
        };
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn blocks_are_ggmls_bit_for_bit() {
        // Weights as f16 gives them (the quantiser's input), with ties, zeros, a constant
        // block and extremes.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut x = Vec::new();
        for b in 0..4096 {
            for j in 0..QK {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let v = match b % 8 {
                    0 => 0.0,
                    1 => 0.25,
                    2 => (j as f32 - 16.0) / 127.0,
                    3 => ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 60000.0,
                    _ => ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2,
                };
                x.push(f16::from_f32(v).to_f32());
            }
        }
        for to in [Quant::Q8_0, Quant::Q5_1] {
            let mut ours = Vec::new();
            for c in x.chunks_exact(QK) {
                let block: &[f32; QK] = c.try_into().unwrap();
                match to {
                    Quant::Q8_0 => block_q8_0(block, &mut ours),
                    Quant::Q5_1 => block_q5_1(block, &mut ours),
                }
            }
            assert!(ours == ggml(to, &x), "{to:?}");
        }
    }

    #[test]
    fn weight_matrices_are_whisper_cpps() {
        assert!(is_weight_matrix("encoder.blocks.0.attn.query.weight"));
        assert!(is_weight_matrix("decoder.blocks.3.cross_attn.out.weight"));
        assert!(is_weight_matrix("decoder.blocks.3.mlp.2.weight"));
        assert!(is_weight_matrix("decoder.token_embedding.weight"));
        assert!(!is_weight_matrix("encoder.positional_embedding"));
        assert!(!is_weight_matrix("encoder.conv1.weight"));
        assert!(!is_weight_matrix("encoder.blocks.0.attn.query.bias"));
        assert!(!is_weight_matrix("encoder.blocks.0.attn_ln.weight"));
    }
}
