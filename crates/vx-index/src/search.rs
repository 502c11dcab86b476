//! Hybrid search: BM25 over the items' text (FTS5) and the cosine of the query's embedding
//! against every stored vector (an exact scan), merged by reciprocal rank fusion (score =
//! sum over the two lists of 1 / (60 + rank)).
use std::collections::HashMap;
use std::path::PathBuf;

use rusqlite::params;
use serde::Serialize;
use vx_infer::text::TextEmbedder;

use crate::{Index, Result};

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Speech,
    Text,
    Object,
    Face,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Speech => "speech",
            Kind::Text => "text",
            Kind::Object => "object",
            Kind::Face => "face",
        }
    }
}

/// One result.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub source: String,
    /// The input's id in the results directory (`OUTDIR/<input_id>`).
    pub input_id: String,
    /// The input's results directory.
    pub dir: String,
    pub kind: String,
    /// Seconds on the file's timeline (absent for still images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    pub text: String,
    /// Reciprocal-rank-fusion score (higher is better).
    pub score: f64,
    /// Rank in the full-text list and cosine similarity, where the item was in them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_rank: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// The keyframe image nearest to the hit's time, if keyframes were extracted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframe: Option<PathBuf>,
}

/// An item's fused score, its rank in the word list and its cosine, where it had them.
type Fused = (f64, Option<usize>, Option<f32>);

/// How many candidates each list contributes before fusion.
const CANDIDATES: usize = 100;
/// Items less similar than this to the query are no candidates by meaning (unrelated
/// sentences score about 0 to 0.15 with MiniLM; paraphrases 0.5 and more).
pub const MIN_SIMILARITY: f32 = 0.2;
const RRF_K: f64 = 60.0;

/// The FTS5 query for free text: each word quoted (no operator syntax from users), any of
/// them matching.
fn fts_query(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect();
    (!words.is_empty()).then(|| words.join(" OR "))
}

/// Dot product in eight independent lanes (the compiler vectorises this; a plain `sum` of
/// products stays scalar, as float addition is not associative): 100,000 MiniLM vectors in
/// about 10 ms instead of 45.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Every stored vector, in memory: ids, kinds and one contiguous matrix.
#[derive(Debug, Default)]
pub(crate) struct Vectors {
    ids: Vec<i64>,
    kinds: Vec<String>,
    dim: usize,
    data: Vec<f32>,
}

/// Every stored vector with its item's id and kind.
const VECTORS: &str = "SELECT embeddings.item_id, items.kind, embeddings.vector FROM embeddings
                       JOIN items ON items.id = embeddings.item_id";

impl Index {
    /// The FTS5 query for `query`, without its very common words (in more than a fifth of
    /// the items, as "the" and "a" in speech) when it has others: BM25 gives them almost no
    /// weight, but ranking every item that holds them is most of a search's time (40 ms of
    /// 50 on 100,000 segments).
    fn fts_query_for(&self, query: &str) -> Option<String> {
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let total: f64 = self
            .conn
            .query_row("SELECT count(*) FROM items", [], |r| r.get::<_, i64>(0))
            .unwrap_or(0) as f64;
        let df = |w: &str| -> f64 {
            self.conn
                .query_row("SELECT doc FROM items_vocab WHERE term = ?1", [w], |r| {
                    r.get::<_, i64>(0)
                })
                .unwrap_or(0) as f64
        };
        let rare: Vec<&String> = words
            .iter()
            .filter(|w| total == 0.0 || df(w) <= total / 5.0)
            .collect();
        if rare.is_empty() || rare.len() == words.len() {
            return fts_query(query);
        }
        let kept: Vec<&str> = rare.iter().map(|w| w.as_str()).collect();
        fts_query(&kept.join(" "))
    }

    /// Load every stored vector into memory (4 bytes per dimension per item: 150 MB for
    /// 100,000 MiniLM vectors) for several searches in one process; a single search streams
    /// them from the database instead.
    pub fn preload(&self) -> Result<usize> {
        let err = |e| self.err(e);
        let mut st = self.conn.prepare(VECTORS).map_err(err)?;
        let mut rows = st.query([]).map_err(err)?;
        let mut all = Vectors::default();
        while let Some(r) = rows.next().map_err(err)? {
            let blob = r.get_ref(2).map_err(err)?.as_blob().unwrap_or(&[]);
            let dim = blob.len() / 4;
            if all.dim == 0 {
                all.dim = dim;
            }
            if dim == 0 || dim != all.dim {
                continue;
            }
            all.ids.push(r.get(0).map_err(err)?);
            all.kinds.push(r.get(1).map_err(err)?);
            all.data.extend(
                blob.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
        let n = all.ids.len();
        let _ = self.vectors.set(all);
        Ok(n)
    }

    /// SQLite's `data_version`: changes when another connection commits to the index (a
    /// `vx run` adding inputs while `vx serve` reads it), so a reader knows to reload.
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Read the vectors again (after the index changed: an input added by this process or
    /// another).
    pub fn reload(&mut self) -> Result<usize> {
        self.vectors = Default::default();
        self.preload()
    }

    /// The `k` best items for `query`, optionally of one kind. Without an embedder (or
    /// without stored vectors) the ranking is BM25 alone.
    pub fn search(
        &self,
        query: &str,
        k: usize,
        kind: Option<Kind>,
        embedder: Option<&mut TextEmbedder>,
    ) -> Result<Vec<Hit>> {
        // Nothing to look for finds nothing (by meaning, an empty text is a little like
        // everything: 10 arbitrary hits).
        if query.trim().is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let chars = query.chars().count();
        if chars > crate::MAX_QUERY_CHARS {
            return Err(crate::IndexError::QueryTooLong { chars });
        }
        let err = |e| self.err(e);
        let kind_s = kind.map(Kind::as_str);
        // Full text.
        let mut by_text: Vec<i64> = Vec::new();
        if let Some(fq) = self.fts_query_for(query) {
            // Without a kind, the full-text table alone (joining every match to its item
            // first costs 40 ms on 100,000 segments when the query has common words).
            let sql = if kind_s.is_some() {
                "SELECT items.id FROM items_fts JOIN items ON items.id = items_fts.rowid
                 WHERE items_fts MATCH ?1 AND items.kind = ?2
                 ORDER BY bm25(items_fts) LIMIT ?3"
            } else {
                "SELECT rowid FROM items_fts WHERE items_fts MATCH ?1 AND ?2 IS NULL
                 ORDER BY bm25(items_fts) LIMIT ?3"
            };
            let mut st = self.conn.prepare(sql).map_err(err)?;
            by_text = st
                .query_map(params![fq, kind_s, CANDIDATES as i64], |r| r.get(0))
                .map_err(err)?
                .collect::<rusqlite::Result<_>>()
                .map_err(err)?;
        }
        // Meaning.
        let mut by_vector: Vec<(i64, f32)> = Vec::new();
        if let Some(e) = embedder {
            let q = e.embed(&[query])?;
            if let Some(qv) = q.first().map(|p| &p.embedding) {
                let mut consider = |id: i64, item_kind: &str, v: &[f32]| {
                    if kind_s.is_some_and(|k| k != item_kind) || v.len() != qv.len() {
                        return;
                    }
                    let d = dot(v, qv);
                    if d >= MIN_SIMILARITY {
                        by_vector.push((id, d));
                    }
                };
                match self.vectors.get() {
                    // Loaded by `preload` (several queries in one process).
                    Some(all) if all.dim > 0 => {
                        for ((id, k), v) in all
                            .ids
                            .iter()
                            .zip(&all.kinds)
                            .zip(all.data.chunks_exact(all.dim))
                        {
                            consider(*id, k, v);
                        }
                    }
                    Some(_) => {}
                    // One query: streamed from the database, nothing kept.
                    None => {
                        let mut st = self.conn.prepare(VECTORS).map_err(err)?;
                        let mut rows = st.query([]).map_err(err)?;
                        let mut v = Vec::new();
                        while let Some(r) = rows.next().map_err(err)? {
                            let id: i64 = r.get(0).map_err(err)?;
                            let k: String = r.get(1).map_err(err)?;
                            let blob = r.get_ref(2).map_err(err)?.as_blob().unwrap_or(&[]);
                            v.clear();
                            v.extend(
                                blob.chunks_exact(4)
                                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                            );
                            consider(id, &k, &v);
                        }
                    }
                }
                // The best CANDIDATES without sorting them all.
                if by_vector.len() > CANDIDATES {
                    by_vector.select_nth_unstable_by(CANDIDATES - 1, |a, b| b.1.total_cmp(&a.1));
                    by_vector.truncate(CANDIDATES);
                }
                by_vector.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            }
        }
        // Fusion.
        let mut fused: HashMap<i64, Fused> = HashMap::new();
        for (rank, id) in by_text.iter().enumerate() {
            let e = fused.entry(*id).or_default();
            e.0 += 1.0 / (RRF_K + rank as f64 + 1.0);
            e.1 = Some(rank + 1);
        }
        for (rank, (id, sim)) in by_vector.iter().enumerate() {
            let e = fused.entry(*id).or_default();
            e.0 += 1.0 / (RRF_K + rank as f64 + 1.0);
            e.2 = Some(*sim);
        }
        let mut order: Vec<(i64, Fused)> = fused.into_iter().collect();
        order.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        order.truncate(k);
        let mut hits = Vec::with_capacity(order.len());
        let mut item = self
            .conn
            .prepare(
                "SELECT files.source, files.dir, items.kind, items.start, items.end, items.text,
                        items.file_id, files.input_id
                 FROM items JOIN files ON files.id = items.file_id WHERE items.id = ?1",
            )
            .map_err(err)?;
        let mut near = self
            .conn
            .prepare(
                "SELECT image FROM keyframes WHERE file_id = ?1
                 ORDER BY abs(coalesce(time, 0) - ?2) LIMIT 1",
            )
            .map_err(err)?;
        for (id, (score, text_rank, similarity)) in order {
            let (source, dir, kind, start, end, text, file_id, input_id) = item
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<f64>>(3)?,
                        r.get::<_, Option<f64>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, String>(7)?,
                    ))
                })
                .map_err(err)?;
            let keyframe: Option<String> = near
                .query_row(params![file_id, start.unwrap_or(0.0)], |r| r.get(0))
                .ok();
            hits.push(Hit {
                keyframe: keyframe.map(|k| PathBuf::from(&dir).join(k)),
                source,
                input_id,
                dir,
                kind,
                start,
                end,
                text,
                score,
                text_rank,
                similarity,
            });
        }
        Ok(hits)
    }
}

impl Index {
    /// What the index holds about one input, found by its source path or its input id:
    /// its record, its scenes, its transcript, on-screen text and labels with their times
    /// (and boxes and keyframes where they have them), its keyframes.
    pub fn describe(&self, which: &str) -> Result<Option<serde_json::Value>> {
        let err = |e| self.err(e);
        let file = self
            .conn
            .query_row(
                "SELECT id, input_id, source, dir, duration, status, probe, path FROM files
                 WHERE source = ?1 OR input_id = ?1 LIMIT 1",
                [which],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<f64>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                },
            )
            .ok();
        let Some((id, input_id, source, dir, duration, status, probe, path)) = file else {
            return Ok(None);
        };
        let mut st = self
            .conn
            .prepare(
                "SELECT kind, start, end, text, score, data FROM items WHERE file_id = ?1
                 ORDER BY coalesce(start, 0), id",
            )
            .map_err(err)?;
        let mut by_kind: std::collections::BTreeMap<String, Vec<serde_json::Value>> =
            Default::default();
        let rows = st
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<f64>>(1)?,
                    r.get::<_, Option<f64>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<f64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(err)?;
        for row in rows {
            let (kind, start, end, text, score, data) = row.map_err(err)?;
            let mut v = serde_json::json!({"start": start, "end": end, "text": text});
            if let Some(s) = score {
                v["score"] = s.into();
            }
            // Box and keyframe (relative to the input's directory) of text and detections.
            let data: serde_json::Value = data
                .and_then(|d| serde_json::from_str(&d).ok())
                .unwrap_or_default();
            for key in ["box", "keyframe"] {
                if !data[key].is_null() {
                    v[key] = data[key].clone();
                }
            }
            by_kind.entry(kind).or_default().push(v);
        }
        let mut st = self
            .conn
            .prepare("SELECT time, image FROM keyframes WHERE file_id = ?1 ORDER BY time")
            .map_err(err)?;
        let keyframes: Vec<serde_json::Value> = st
            .query_map([id], |r| {
                Ok(serde_json::json!({
                    "time": r.get::<_, Option<f64>>(0)?,
                    "image": PathBuf::from(&dir).join(r.get::<_, String>(1)?),
                }))
            })
            .map_err(err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(err)?;
        let mut st = self
            .conn
            .prepare("SELECT idx, start, end FROM scenes WHERE file_id = ?1 ORDER BY idx")
            .map_err(err)?;
        let scenes: Vec<serde_json::Value> = st
            .query_map([id], |r| {
                Ok(serde_json::json!({
                    "index": r.get::<_, i64>(0)?,
                    "start": r.get::<_, f64>(1)?,
                    "end": r.get::<_, f64>(2)?,
                }))
            })
            .map_err(err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(err)?;
        Ok(Some(serde_json::json!({
            "source": source,
            "path": path,
            "input_id": input_id,
            "dir": dir,
            "duration": duration,
            "status": status,
            "probe": probe.and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok()),
            "scenes": scenes,
            "speech": by_kind.remove("speech").unwrap_or_default(),
            "text": by_kind.remove("text").unwrap_or_default(),
            "objects": by_kind.remove("object").unwrap_or_default(),
            "faces": by_kind.remove("face").unwrap_or_default(),
            "keyframes": keyframes,
        })))
    }

    /// Every input: id, source, duration, status and how many items of each kind it has.
    pub fn files(&self) -> Result<Vec<serde_json::Value>> {
        let err = |e| self.err(e);
        let mut st = self
            .conn
            .prepare(
                "SELECT files.id, input_id, source, duration, status,
                        (SELECT image FROM keyframes WHERE file_id = files.id
                         ORDER BY time LIMIT 1), dir
                 FROM files ORDER BY source, input_id",
            )
            .map_err(err)?;
        let mut count = self
            .conn
            .prepare("SELECT kind, count(*) FROM items WHERE file_id = ?1 GROUP BY kind")
            .map_err(err)?;
        let rows: Vec<_> = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<f64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, input_id, source, duration, status, image, dir) in rows {
            let mut counts = serde_json::Map::new();
            for c in count
                .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(err)?
            {
                let (k, n) = c.map_err(err)?;
                counts.insert(k, n.into());
            }
            out.push(serde_json::json!({
                "input_id": input_id,
                "source": source,
                "duration": duration,
                "status": status,
                "keyframe": image.map(|i| PathBuf::from(&dir).join(i)),
                "items": counts,
            }));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_in_lanes_equals_the_plain_sum() {
        let a: Vec<f32> = (0..389).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..389).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
        assert!((dot(&a, &b) as f64 - plain).abs() < 1e-4);
        assert_eq!(dot(&[], &[]), 0.0);
    }

    #[test]
    fn queries_are_quoted_words() {
        assert_eq!(
            fts_query("ill-disposed"),
            Some("\"ill\" OR \"disposed\"".into())
        );
        assert_eq!(
            fts_query("a \"b\" OR c*"),
            Some("\"a\" OR \"b\" OR \"OR\" OR \"c\"".into())
        );
        assert_eq!(fts_query("  -- "), None);
    }
}
