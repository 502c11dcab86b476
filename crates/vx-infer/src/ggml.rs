//! Validate a whisper.cpp model file (legacy ggml format) before whisper.cpp sees it.
//!
//! whisper.cpp trusts its input: a crafted header makes it abort (`GGML_ASSERT`), divide by
//! zero (no attention heads), allocate gigabytes, or load a truncated file and transcribe
//! nothing. This reads the file the way `whisper_model_load` does — magic, hyper-parameters,
//! mel filters, vocabulary, then tensor records until the end — checking every declared size
//! against sane limits and against the bytes that are really there, and that the tensors are
//! exactly the ones the hyper-parameters call for (count, names, shapes of the embeddings).
//! Only then is the file handed to whisper.cpp.
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::{InferError, Result};

const MAGIC: u32 = 0x6767_6d6c;

/// Whisper's hyper-parameters, as stored at the start of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: i32,
}

/// What a valid file holds.
#[derive(Debug, Clone)]
pub struct Summary {
    pub hparams: Hparams,
    pub tensors: usize,
    /// The mel filter bank stored in the file: `n_mel` rows of `n_fft` weights (whisper's
    /// 80 x 201 for a 400-point FFT), row-major.
    pub mel_filters: MelFilters,
}

/// A mel filter bank as whisper.cpp reads it from the model file.
#[derive(Debug, Clone, Default)]
pub struct MelFilters {
    pub n_mel: usize,
    pub n_fft: usize,
    pub data: Vec<f32>,
}

/// Bytes per block and elements per block of the ggml tensor types whisper models use.
fn type_size(t: i32) -> Option<(u64, u64)> {
    Some(match t {
        0 => (4, 1),   // F32
        1 => (2, 1),   // F16
        2 => (18, 32), // Q4_0
        3 => (20, 32), // Q4_1
        6 => (22, 32), // Q5_0
        7 => (24, 32), // Q5_1
        8 => (34, 32), // Q8_0
        _ => return None,
    })
}

/// Skips up to this many bytes read through the buffer; longer ones seek.
const SKIP_BY_READING: u64 = 1 << 20;

/// A reader that never reads past `len` (the file's size when it was opened): a declared
/// size beyond the bytes there is an error, not an allocation (also used by ggml_quant).
pub(crate) struct Reader<R> {
    pub(crate) r: R,
    pub(crate) pos: u64,
    pub(crate) len: u64,
}

impl<R: Read + Seek> Reader<R> {
    pub(crate) fn bytes(&mut self, n: u64, what: &str) -> std::result::Result<Vec<u8>, String> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(format!(
                "truncated: {what} needs {n} bytes at offset {}, the file has {}",
                self.pos, self.len
            ));
        }
        let mut v = vec![0u8; n as usize];
        self.r
            .read_exact(&mut v)
            .map_err(|e| format!("cannot read {what}: {e}"))?;
        self.pos += n;
        Ok(v)
    }

    pub(crate) fn i32(&mut self, what: &str) -> std::result::Result<i32, String> {
        let b = self.bytes(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip(&mut self, n: u64, what: &str) -> std::result::Result<(), String> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(format!(
                "truncated: {what} needs {n} bytes at offset {}, the file has {}",
                self.pos, self.len
            ));
        }
        if n <= SKIP_BY_READING {
            // Read through: a seek drops a BufReader's buffer, and the vocabulary is 51,864
            // skips of a few bytes (a 64 KiB refill each: 3.3 GB read for a 75 MB model).
            let got = std::io::copy(&mut (&mut self.r).take(n), &mut std::io::sink())
                .map_err(|e| format!("cannot read {what}: {e}"))?;
            if got != n {
                return Err(format!(
                    "truncated: {what} ends early at offset {}",
                    self.pos + got
                ));
            }
        } else {
            self.r
                .seek(SeekFrom::Current(n as i64))
                .map_err(|e| format!("cannot read {what}: {e}"))?;
        }
        self.pos += n;
        Ok(())
    }
}

/// ggml's tensor type of a file's weight type (`ggml_ftype_to_ggml_type`): F32, F16, Q4_0,
/// Q4_1, Q8_0, Q5_0, Q5_1. None for what whisper.cpp refuses.
fn weight_type(wtype: i32) -> Option<i32> {
    Some(match wtype {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 3,
        7 => 8,
        8 => 6,
        9 => 7,
        _ => return None,
    })
}

/// Whether whisper.cpp creates this tensor with the model's weight type (whisper.cpp
/// `whisper_model_load`: attention and MLP matrices of every block, the token embedding).
pub(crate) fn is_weight_matrix(name: &str) -> bool {
    name == "decoder.token_embedding.weight"
        || (name.contains(".blocks.")
            && [
                ".mlp.0.weight",
                ".mlp.2.weight",
                "attn.query.weight",
                "attn.key.weight",
                "attn.value.weight",
                "attn.out.weight",
            ]
            .iter()
            .any(|s| name.ends_with(s)))
}

/// The ggml type whisper.cpp gives a tensor: the weight type for the weight matrices, f16 for
/// the convolutions (f32 in an f32 model), f32 for everything else.
fn tensor_type(name: &str, wtype: i32) -> i32 {
    if is_weight_matrix(name) {
        wtype
    } else if name == "encoder.conv1.weight" || name == "encoder.conv2.weight" {
        if wtype == 0 {
            0
        } else {
            1
        }
    } else {
        0
    }
}

fn check_range(name: &str, v: i32, lo: i32, hi: i32) -> std::result::Result<(), String> {
    if v < lo || v > hi {
        return Err(format!("{name} = {v} is outside {lo}..={hi}"));
    }
    Ok(())
}

/// The tensors (name → shape, ggml order: ne[0] first) the hyper-parameters call for. Every
/// shape is checked, so the file's size bounds what whisper.cpp allocates from the header.
fn expected(h: &Hparams) -> HashMap<String, Vec<i64>> {
    let mut m = HashMap::new();
    let (a, t) = (h.n_audio_state as i64, h.n_text_state as i64);
    let mels = h.n_mels as i64;
    m.insert(
        "encoder.positional_embedding".into(),
        vec![a, h.n_audio_ctx as i64],
    );
    m.insert("encoder.conv1.weight".into(), vec![3, mels, a]);
    m.insert("encoder.conv1.bias".into(), vec![1, a]);
    m.insert("encoder.conv2.weight".into(), vec![3, a, a]);
    m.insert("encoder.conv2.bias".into(), vec![1, a]);
    m.insert("encoder.ln_post.weight".into(), vec![a]);
    m.insert("encoder.ln_post.bias".into(), vec![a]);
    let attn = |m: &mut HashMap<String, Vec<i64>>, p: &str, w: i64| {
        for (n, shape) in [
            ("query.weight", vec![w, w]),
            ("query.bias", vec![w]),
            ("key.weight", vec![w, w]),
            ("value.weight", vec![w, w]),
            ("value.bias", vec![w]),
            ("out.weight", vec![w, w]),
            ("out.bias", vec![w]),
        ] {
            m.insert(format!("{p}.{n}"), shape);
        }
        m.insert(format!("{p}_ln.weight"), vec![w]);
        m.insert(format!("{p}_ln.bias"), vec![w]);
    };
    let mlp = |m: &mut HashMap<String, Vec<i64>>, p: &str, w: i64| {
        m.insert(format!("{p}.mlp.0.weight"), vec![w, 4 * w]);
        m.insert(format!("{p}.mlp.0.bias"), vec![4 * w]);
        m.insert(format!("{p}.mlp.2.weight"), vec![4 * w, w]);
        m.insert(format!("{p}.mlp.2.bias"), vec![w]);
        m.insert(format!("{p}.mlp_ln.weight"), vec![w]);
        m.insert(format!("{p}.mlp_ln.bias"), vec![w]);
    };
    for i in 0..h.n_audio_layer {
        let p = format!("encoder.blocks.{i}");
        attn(&mut m, &format!("{p}.attn"), a);
        mlp(&mut m, &p, a);
    }
    m.insert(
        "decoder.positional_embedding".into(),
        vec![t, h.n_text_ctx as i64],
    );
    m.insert(
        "decoder.token_embedding.weight".into(),
        vec![t, h.n_vocab as i64],
    );
    m.insert("decoder.ln.weight".into(), vec![t]);
    m.insert("decoder.ln.bias".into(), vec![t]);
    for i in 0..h.n_text_layer {
        let p = format!("decoder.blocks.{i}");
        attn(&mut m, &format!("{p}.attn"), t);
        attn(&mut m, &format!("{p}.cross_attn"), t);
        mlp(&mut m, &p, t);
    }
    m
}

/// Check `path` as described in the module documentation.
pub fn validate(path: &Path) -> Result<Summary> {
    let fail = |reason: String| InferError::Model {
        path: path.into(),
        reason,
    };
    let f = std::fs::File::open(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let len = f
        .metadata()
        .map_err(|e| fail(format!("cannot read: {e}")))?
        .len();
    validate_from(buffered(f), len).map_err(fail)
}

/// The buffering [`validate`] reads a file with.
pub fn buffered<R: Read>(r: R) -> std::io::BufReader<R> {
    std::io::BufReader::with_capacity(1 << 16, r)
}

/// The same checks on any reader of `len` bytes (tests measure what it reads).
pub fn validate_from<R: Read + Seek>(r: R, len: u64) -> std::result::Result<Summary, String> {
    check(&mut Reader { r, pos: 0, len })
}

/// The same checks on bytes in memory (used by the fuzz target and tests).
pub fn validate_bytes(bytes: &[u8]) -> std::result::Result<Summary, String> {
    let mut r = Reader {
        r: std::io::Cursor::new(bytes),
        pos: 0,
        len: bytes.len() as u64,
    };
    check(&mut r)
}

fn check<R: Read + Seek>(r: &mut Reader<R>) -> std::result::Result<Summary, String> {
    let magic = r.i32("the magic number")? as u32;
    if magic != MAGIC {
        return Err("not a whisper.cpp ggml model (bad magic number)".into());
    }
    let mut v = [0i32; 11];
    for x in v.iter_mut() {
        *x = r.i32("the hyper-parameters")?;
    }
    let h = Hparams {
        n_vocab: v[0],
        n_audio_ctx: v[1],
        n_audio_state: v[2],
        n_audio_head: v[3],
        n_audio_layer: v[4],
        n_text_ctx: v[5],
        n_text_state: v[6],
        n_text_head: v[7],
        n_text_layer: v[8],
        n_mels: v[9],
        ftype: v[10],
    };
    // Limits well above every published whisper model (large-v3: 51866 tokens, 1500 audio
    // positions, width 1280, 20 heads, 32 layers, 128 mels).
    check_range("n_vocab", h.n_vocab, 1, 1 << 18)?;
    check_range("n_audio_ctx", h.n_audio_ctx, 1, 1 << 13)?;
    check_range("n_audio_state", h.n_audio_state, 1, 1 << 13)?;
    check_range("n_audio_head", h.n_audio_head, 1, 256)?;
    check_range("n_audio_layer", h.n_audio_layer, 1, 256)?;
    check_range("n_text_ctx", h.n_text_ctx, 1, 1 << 13)?;
    check_range("n_text_state", h.n_text_state, 1, 1 << 13)?;
    check_range("n_text_head", h.n_text_head, 1, 256)?;
    check_range("n_text_layer", h.n_text_layer, 1, 256)?;
    check_range("n_mels", h.n_mels, 1, 512)?;
    if h.n_audio_state % h.n_audio_head != 0 || h.n_text_state % h.n_text_head != 0 {
        return Err("the model width is not a multiple of its attention heads".into());
    }
    // ftype: the weights' type, plus 1000 x the quantization version.
    let Some(wtype) = (h.ftype >= 0 && h.ftype < 3000)
        .then(|| weight_type(h.ftype % 1000))
        .flatten()
    else {
        return Err(format!("unknown weight type (ftype {})", h.ftype));
    };
    // Mel filters.
    let n_mel = r.i32("the mel filters")?;
    let n_fft = r.i32("the mel filters")?;
    check_range("mel filter count", n_mel, 1, 512)?;
    check_range("mel filter length", n_fft, 1, 4096)?;
    let raw = r.bytes(n_mel as u64 * n_fft as u64 * 4, "the mel filters")?;
    let mel_filters = MelFilters {
        n_mel: n_mel as usize,
        n_fft: n_fft as usize,
        data: raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    };
    // Vocabulary.
    let n_vocab = r.i32("the vocabulary")?;
    check_range("vocabulary size", n_vocab, 1, 1 << 18)?;
    for i in 0..n_vocab {
        let n = r.i32("the vocabulary")?;
        if !(0..=1024).contains(&n) {
            return Err(format!("vocabulary entry {i} claims {n} bytes"));
        }
        r.skip(n as u64, "the vocabulary")?;
    }
    // Tensors, to the end of the file.
    let mut want = expected(&h);
    let mut seen = 0usize;
    while r.pos < r.len {
        let n_dims = r.i32("a tensor header")?;
        let name_len = r.i32("a tensor header")?;
        let ttype = r.i32("a tensor header")?;
        check_range("tensor dimensions", n_dims, 1, 4)?;
        check_range("tensor name length", name_len, 1, 256)?;
        let (block_bytes, block) =
            type_size(ttype).ok_or_else(|| format!("tensor type {ttype} is not supported"))?;
        let mut ne = Vec::with_capacity(n_dims as usize);
        let mut elements: u64 = 1;
        for _ in 0..n_dims {
            let d = r.i32("a tensor header")?;
            if d < 1 {
                return Err(format!("a tensor dimension is {d}"));
            }
            ne.push(d as i64);
            elements = elements.saturating_mul(d as u64);
        }
        let name_bytes = r.bytes(name_len as u64, "a tensor name")?;
        let name = String::from_utf8_lossy(&name_bytes).into_owned();
        // The type whisper.cpp creates the tensor with: anything else fails its load.
        let want_type = tensor_type(&name, wtype);
        if ttype != want_type {
            return Err(format!(
                "tensor {name} is stored as type {ttype}, the header's weight type calls for {want_type}"
            ));
        }
        if !(ne[0] as u64).is_multiple_of(block) {
            return Err(format!(
                "tensor {name}: row of {} is not whole blocks",
                ne[0]
            ));
        }
        let nbytes = (elements / block).saturating_mul(block_bytes);
        // Shapes compare by element count: biases are stored as [n] or [1, n].
        match want.remove(&name) {
            Some(shape) => {
                let n: i64 = shape.iter().product();
                if n as u64 != elements {
                    return Err(format!(
                        "tensor {name} has shape {ne:?}, the header calls for {shape:?}"
                    ));
                }
            }
            None => return Err(format!("unexpected or repeated tensor {name}")),
        }
        r.skip(nbytes, &format!("tensor {name}"))?;
        seen += 1;
    }
    if !want.is_empty() {
        let mut missing: Vec<&String> = want.keys().collect();
        missing.sort();
        return Err(format!(
            "truncated: {} of {} tensors missing (first: {})",
            want.len(),
            want.len() + seen,
            missing[0]
        ));
    }
    Ok(Summary {
        hparams: h,
        tensors: seen,
        mel_filters,
    })
}
