//! Sentence embeddings (all-MiniLM-L6-v2 and other BERT-style sentence-transformers exports,
//! PROVENANCE.md §9): a Hugging Face `tokenizer.json` (the `tokenizers` crate), an ONNX model
//! taking `input_ids`, `attention_mask` and `token_type_ids` and giving token embeddings, then
//! sentence-transformers' pooling: the mean over the real tokens, divided by its L2 norm.
//!
//! Length: the shipped tokenizer.json truncates at 128 tokens and pads to 128; vx turns both
//! off and follows sentence-transformers instead (its `max_seq_length` for this model is 256,
//! and padding to the longest input of a batch changes nothing). A text longer than 256 tokens
//! is not cut: it is split into pieces of at most 256 tokens (with `[CLS]` and `[SEP]`), at
//! word boundaries, and each piece gets its embedding, so no part of a long transcript segment
//! is lost.
use std::path::{Path, PathBuf};

use ort::session::Session;
use serde::Serialize;

use crate::runtime::{session, SessionOptions};
use crate::{InferError, Result};

/// Tokens per piece, `[CLS]` and `[SEP]` included (sentence-transformers' max_seq_length).
pub const MAX_TOKENS: usize = 256;
/// Pieces per model call (pieces of similar length go together: sorted by length first).
const BATCH: usize = 32;

/// One embedded piece of a text.
#[derive(Debug, Clone, Serialize)]
pub struct Piece {
    /// Which input text it comes from (0-based).
    pub index: usize,
    /// Byte range of the piece in its text.
    pub start: usize,
    pub end: usize,
    /// Tokens, `[CLS]` and `[SEP]` included.
    pub tokens: usize,
    /// Unit-length vector.
    pub embedding: Vec<f32>,
}

pub struct TextEmbedder {
    path: PathBuf,
    tokenizer_path: PathBuf,
    tokenizer: tokenizers::Tokenizer,
    session: Session,
    /// Embedding size (from the first output).
    dim: Option<usize>,
}

/// The tokenizer for `model`: `tokenizer.json` beside it, or `<name>-tokenizer.json` where
/// the model's file name starts with `<name>` (all-MiniLM-L6-v2-int8.onnx ->
/// all-MiniLM-L6-v2-tokenizer.json).
pub fn tokenizer_beside(model: &Path) -> Option<PathBuf> {
    let dir = model.parent()?;
    let plain = dir.join("tokenizer.json");
    if plain.is_file() {
        return Some(plain);
    }
    let stem = model.file_stem()?.to_string_lossy().into_owned();
    let mut best: Option<(usize, PathBuf)> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(prefix) = name.strip_suffix("-tokenizer.json") {
            if stem.starts_with(prefix) && best.as_ref().is_none_or(|b| prefix.len() > b.0) {
                best = Some((prefix.len(), e.path()));
            }
        }
    }
    best.map(|b| b.1)
}

impl TextEmbedder {
    pub fn open(model: &Path, tokenizer: &Path, opts: SessionOptions) -> Result<Self> {
        let tok_err = |reason: String| InferError::Model {
            path: tokenizer.into(),
            reason,
        };
        let mut tok = tokenizers::Tokenizer::from_file(tokenizer)
            .map_err(|e| tok_err(e.to_string().replace('\n', " ")))?;
        tok.with_truncation(None)
            .map_err(|e| tok_err(e.to_string()))?;
        tok.with_padding(None);
        let session = session(model, opts)?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        let ok = session.outputs().len() == 1
            && names.len() == 3
            && ["input_ids", "attention_mask", "token_type_ids"]
                .iter()
                .all(|n| names.contains(n));
        if !ok {
            return Err(InferError::Signature {
                path: model.into(),
                reason: "expected inputs input_ids, attention_mask, token_type_ids and one \
                         output of token embeddings"
                    .into(),
            });
        }
        Ok(TextEmbedder {
            path: model.into(),
            tokenizer_path: tokenizer.into(),
            tokenizer: tok,
            session,
            dim: None,
        })
    }

    pub fn model_path(&self) -> &Path {
        &self.path
    }

    pub fn tokenizer_path(&self) -> &Path {
        &self.tokenizer_path
    }

    /// The token ids of `text` as the model sees them (one list per piece).
    pub fn token_ids(&self, text: &str) -> Result<Vec<(Vec<u32>, usize, usize)>> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| InferError::Model {
                path: self.tokenizer_path.clone(),
                reason: e.to_string(),
            })?;
        let ids = enc.get_ids();
        let offsets = enc.get_offsets();
        let special = enc.get_special_tokens_mask();
        if ids.len() <= MAX_TOKENS {
            return Ok(vec![(ids.to_vec(), 0, text.len())]);
        }
        // [CLS] ... [SEP]: split the inside at word starts into pieces of MAX_TOKENS - 2.
        let lead = special.iter().take_while(|&&s| s == 1).count();
        let trail = special.iter().rev().take_while(|&&s| s == 1).count();
        let (head, tail) = (&ids[..lead], &ids[ids.len() - trail..]);
        let inner = lead..ids.len() - trail;
        let room = MAX_TOKENS.saturating_sub(lead + trail).max(1);
        let tokens = enc.get_tokens();
        let mut pieces = Vec::new();
        let mut start = inner.start;
        while start < inner.end {
            let mut end = (start + room).min(inner.end);
            if end < inner.end {
                // Back to the start of a word (a token not continuing one), if there is one.
                let mut e = end;
                while e > start + 1 && tokens[e].starts_with("##") {
                    e -= 1;
                }
                if e > start + 1 {
                    end = e;
                }
            }
            let mut piece = head.to_vec();
            piece.extend_from_slice(&ids[start..end]);
            piece.extend_from_slice(tail);
            pieces.push((piece, offsets[start].0, offsets[end - 1].1));
            start = end;
        }
        Ok(pieces)
    }

    /// Embed each text (one or more pieces per text, in order).
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Piece>> {
        let mut todo = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            for (ids, start, end) in self.token_ids(t)? {
                todo.push((i, ids, start, end));
            }
        }
        // Similar lengths together, so that little of a batch is padding.
        todo.sort_by_key(|t| t.1.len());
        let mut out = Vec::with_capacity(todo.len());
        for batch in todo.chunks(BATCH) {
            let vectors = self.run(batch.iter().map(|b| &b.1[..]).collect())?;
            for ((index, ids, start, end), embedding) in batch.iter().zip(vectors) {
                out.push(Piece {
                    index: *index,
                    start: *start,
                    end: *end,
                    tokens: ids.len(),
                    embedding,
                });
            }
        }
        // Back in input order (pieces of one text in text order).
        out.sort_by_key(|p| (p.index, p.start));
        Ok(out)
    }

    /// One model call on pieces padded to the longest; mean-pooled, unit-length vectors.
    fn run(&mut self, pieces: Vec<&[u32]>) -> Result<Vec<Vec<f32>>> {
        let run = |reason: String| InferError::Run {
            path: self.path.clone(),
            reason,
        };
        let (b, s) = (
            pieces.len(),
            pieces.iter().map(|p| p.len()).max().unwrap_or(0),
        );
        if b == 0 {
            return Ok(Vec::new());
        }
        if s == 0 {
            // A tokenizer that adds no [CLS]/[SEP] gives empty texts no token at all.
            return Err(run("a text has no tokens".into()));
        }
        let mut ids = vec![0i64; b * s];
        let mut mask = vec![0i64; b * s];
        for (k, p) in pieces.iter().enumerate() {
            for (j, &id) in p.iter().enumerate() {
                ids[k * s + j] = id as i64;
                mask[k * s + j] = 1;
            }
        }
        let types = vec![0i64; b * s];
        let view = ort::value::TensorRef::from_array_view;
        let (ti, tm, tt) = (
            view(([b, s], &ids[..])).map_err(|e| run(e.to_string()))?,
            view(([b, s], &mask[..])).map_err(|e| run(e.to_string()))?,
            view(([b, s], &types[..])).map_err(|e| run(e.to_string()))?,
        );
        let outputs = self
            .session
            .run(ort::inputs![
                "input_ids" => ti,
                "attention_mask" => tm,
                "token_type_ids" => tt
            ])
            .map_err(|e| run(e.to_string()))?;
        let (shape, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| run(e.to_string()))?;
        let dim = match shape.iter().copied().collect::<Vec<i64>>()[..] {
            [ob, os, d] if ob == b as i64 && os == s as i64 && d > 0 => d as usize,
            _ => {
                return Err(run(format!(
                    "output shape {shape:?}, expected [{b}, {s}, D]"
                )))
            }
        };
        if self.dim.is_some_and(|d| d != dim) || data.len() != b * s * dim {
            return Err(run("embedding size changed between calls".into()));
        }
        self.dim = Some(dim);
        let mut out = Vec::with_capacity(b);
        for (k, p) in pieces.iter().enumerate() {
            let mut v = vec![0f64; dim];
            for j in 0..p.len() {
                let row = &data[(k * s + j) * dim..(k * s + j + 1) * dim];
                for (a, &x) in v.iter_mut().zip(row) {
                    *a += x as f64;
                }
            }
            let n = p.len().max(1) as f64;
            let norm = v.iter().map(|x| (x / n) * (x / n)).sum::<f64>().sqrt();
            let scale = if norm > 0.0 && norm.is_finite() {
                1.0 / (n * norm)
            } else {
                0.0
            };
            out.push(v.iter().map(|x| (x * scale) as f32).collect());
        }
        Ok(out)
    }
}
