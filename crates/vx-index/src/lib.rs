//! The search index of vx (docs/INDEX.md): one SQLite file (bundled SQLite, FTS5) built from
//! the results directory of `vx run` — files, keyframes, scenes, and the searchable items:
//! transcript segments (`speech`), on-screen text lines (`text`), detected objects
//! (`object`) and faces (`face`) — each on the file's one timeline, with the sentence
//! embeddings of the speech and text items. [`Index::add_input`] writes one input in one
//! transaction (its earlier rows replaced), so the file is consistent whenever the process
//! stops. [`Index::search`] ranks by BM25 (FTS5) and by the cosine of the query's embedding
//! (an exact scan), merged by reciprocal rank fusion.
mod fsread;
mod search;

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};
use serde_json::Value;
use vx_infer::text::TextEmbedder;

pub use fsread::{identity, read_capped, MAX_JSON_BYTES};
pub use search::{Hit, Kind};

/// The schema version this build writes and reads (`meta.schema_version`).
pub const SCHEMA_VERSION: i64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{}: {reason}", path.display())]
    Input { path: PathBuf, reason: String },
    /// Not an SQLite database, or a damaged one (truncated, overwritten).
    #[error("{}: {reason}: a damaged index; rebuild it with `vx index OUTDIR`", path.display())]
    Damaged { path: PathBuf, reason: String },
    /// Something other than a regular file where the index should be (`/dev/null`, a
    /// directory, a FIFO, a link to nothing): refused before SQLite opens it.
    #[error("{}: {what}, not an index file: give the path of a file", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error(transparent)]
    Infer(#[from] vx_infer::InferError),
    #[error("a query of {chars} characters: at most {MAX_QUERY_CHARS}")]
    QueryTooLong { chars: usize },
}

/// The longest query searched, in characters: a query of 600,000 words held an agent's MCP
/// server for minutes (every piece of it embedded, every word a full-text term).
pub const MAX_QUERY_CHARS: usize = 1000;

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
  id INTEGER PRIMARY KEY,
  input_id TEXT NOT NULL UNIQUE,
  source TEXT NOT NULL,
  path TEXT,
  path_stat TEXT,
  dir TEXT NOT NULL,
  content_key TEXT,
  duration REAL,
  status TEXT,
  probe TEXT
);
CREATE TABLE IF NOT EXISTS keyframes(
  id INTEGER PRIMARY KEY,
  file_id INTEGER NOT NULL,
  time REAL,
  image TEXT NOT NULL,
  phash TEXT
);
CREATE INDEX IF NOT EXISTS keyframes_file ON keyframes(file_id, time);
CREATE TABLE IF NOT EXISTS scenes(
  id INTEGER PRIMARY KEY,
  file_id INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  start REAL NOT NULL,
  end REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS items(
  id INTEGER PRIMARY KEY,
  file_id INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('speech', 'text', 'object', 'face')),
  start REAL,
  end REAL,
  text TEXT NOT NULL,
  score REAL,
  data TEXT
);
CREATE INDEX IF NOT EXISTS items_file ON items(file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(
  text, content='items', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS items_ai AFTER INSERT ON items BEGIN
  INSERT INTO items_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS items_ad AFTER DELETE ON items BEGIN
  INSERT INTO items_fts(items_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TABLE IF NOT EXISTS embeddings(
  item_id INTEGER PRIMARY KEY,
  vector BLOB NOT NULL
);
";

/// The full-text index's vocabulary (a view of it, no data of its own): the terms' document
/// counts that search uses to leave out very common words (without it, search keeps them).
const VOCAB: &str =
    "CREATE VIRTUAL TABLE IF NOT EXISTS items_vocab USING fts5vocab(items_fts, 'row');";

/// A searchable item before it is written: kind, start, end, text, score, data.
type Item = (
    &'static str,
    Option<f64>,
    Option<f64>,
    String,
    Option<f64>,
    Value,
);

/// What one input added.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Added {
    pub keyframes: usize,
    pub items: usize,
    pub embeddings: usize,
    /// Operation outputs that result.json says are there but could not be read (missing,
    /// not JSON, not a regular file, too large): one line each naming the file and the
    /// cause. The input is indexed without them, with the status `partial`.
    pub warnings: Vec<String>,
}

/// Where one input's files are ([`Index::locate`]).
#[derive(Debug, Clone)]
pub struct Located {
    pub source: String,
    pub path: Option<PathBuf>,
    /// The source's identity when it was indexed ([`identity`]); None for an index
    /// converted from an earlier version and not rebuilt.
    pub path_stat: Option<String>,
    pub dir: PathBuf,
    /// The probe record (`Value::Null` when there is none).
    pub probe: Value,
}

pub struct Index {
    conn: Connection,
    path: PathBuf,
    /// Every stored vector, once [`Index::preload`] has read them.
    vectors: std::sync::OnceLock<search::Vectors>,
}

impl Index {
    /// Open (or create) the index at `path`. An index of another schema version is refused
    /// with a clear error (rebuild it with `vx index`).
    pub fn open(path: &Path) -> Result<Index> {
        let err = sql_err(path);
        refuse_non_file(path)?;
        let conn = Connection::open(path).map_err(err)?;
        // WAL: readers (vx search) never block the writer, and a killed writer leaves the
        // last committed state.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        // A new database has no meta table; any other failure to read the version is an error
        // (never a reason to write vx's schema into it).
        let has_meta: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(err)?;
        if has_meta == 0 && tables > 0 {
            return Err(IndexError::Input {
                path: path.into(),
                reason: "an SQLite database that is not a vx index; choose another path".into(),
            });
        }
        let version: Option<String> = if has_meta == 0 {
            None
        } else {
            match conn.query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            ) {
                Ok(v) => Some(v),
                Err(rusqlite::Error::QueryReturnedNoRows) => None,
                Err(e) => return Err(err(e)),
            }
        };
        match version.as_deref().map(str::parse::<i64>) {
            None => {
                // The whole schema and its version in one transaction.
                conn.execute_batch(&format!(
                    "BEGIN IMMEDIATE; {SCHEMA} {VOCAB} INSERT OR IGNORE INTO meta(key, value) \
                     VALUES ('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
                ))
                .map_err(err)?;
            }
            Some(Ok(SCHEMA_VERSION)) => {}
            // Version 1 had no files.path (the source's absolute path, which `vx serve`
            // plays), version 2 no files.path_stat (the source's identity when indexed,
            // which `vx serve` checks before playing it): added empty; a rebuild with `vx
            // index` fills them.
            Some(Ok(v @ (1 | 2))) => {
                let path_col = if v == 1 {
                    "ALTER TABLE files ADD COLUMN path TEXT;"
                } else {
                    ""
                };
                conn.execute_batch(&format!(
                    "BEGIN IMMEDIATE; {path_col} ALTER TABLE files ADD COLUMN path_stat TEXT; \
                     UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version'; \
                     COMMIT;"
                ))
                .map_err(err)?;
            }
            Some(_) => {
                let v = version.as_deref().unwrap_or_default();
                return Err(IndexError::Input {
                    path: path.into(),
                    reason: format!(
                        "index schema version {v}, this vx reads {SCHEMA_VERSION}: rebuild it \
                         with `vx index OUTDIR`"
                    ),
                });
            }
        }
        Ok(Index {
            conn,
            path: path.into(),
            vectors: Default::default(),
        })
    }

    /// Open the index at `path` to rebuild it (`vx index OUTDIR`): as [`Index::open`], and
    /// when the file there is damaged (not an SQLite database, truncated, failing SQLite's
    /// `quick_check`) it is moved aside — renamed to `PATH.damaged` (`.damaged-2`... when
    /// that is taken; its `-wal` and `-shm` files with it), never deleted — and a new index
    /// made in its place. The index and where the damaged file went, if it was moved.
    pub fn open_rebuild(path: &Path) -> Result<(Index, Option<PathBuf>)> {
        let checked = Index::open(path).and_then(|i| {
            i.quick_check()?;
            Ok(i)
        });
        match checked {
            Ok(i) => Ok((i, None)),
            Err(IndexError::Damaged { .. }) => {
                let aside = move_aside(path)?;
                Ok((Index::open(path)?, Some(aside)))
            }
            Err(e) => Err(e),
        }
    }

    /// SQLite's `quick_check` (every page's structure, O(size)): a damaged file is
    /// [`IndexError::Damaged`].
    pub fn quick_check(&self) -> Result<()> {
        let first: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if first == "ok" {
            Ok(())
        } else {
            Err(IndexError::Damaged {
                path: self.path.clone(),
                reason: format!("SQLite's quick_check: {first}"),
            })
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> IndexError {
        sql_err(&self.path)(source)
    }

    /// Where one input's files are: its source as named, the source's absolute path (when
    /// it was found at indexing time), its results directory and its probe record; None for
    /// an unknown id.
    pub fn locate(&self, input_id: &str) -> Result<Option<Located>> {
        match self.conn.query_row(
            "SELECT source, path, dir, probe, path_stat FROM files WHERE input_id = ?1",
            [input_id],
            |r| {
                Ok(Located {
                    source: r.get(0)?,
                    path: r.get::<_, Option<String>>(1)?.map(PathBuf::from),
                    path_stat: r.get(4)?,
                    dir: PathBuf::from(r.get::<_, String>(2)?),
                    probe: r
                        .get::<_, Option<String>>(3)?
                        .and_then(|p| serde_json::from_str(&p).ok())
                        .unwrap_or_default(),
                })
            },
        ) {
            Ok(l) => Ok(Some(l)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// The embedding model recorded in the index (`meta.text_model`), if any.
    pub fn text_model(&self) -> Option<String> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = 'text_model'", [], |r| {
                r.get(0)
            })
            .ok()
    }

    /// Index the results of one input (`dir` = OUTDIR/<id>, holding result.json), replacing
    /// what the index held for it, in one transaction. Texts are embedded with `embedder`
    /// when given. ([`prepare`] and [`Index::write`] in one.)
    pub fn add_input(&mut self, dir: &Path, embedder: Option<&mut TextEmbedder>) -> Result<Added> {
        let p = prepare(dir, embedder)?;
        self.write(p)
    }

    /// Write one prepared input in one transaction, replacing what the index held for it.
    pub fn write(&mut self, p: Prepared) -> Result<Added> {
        let Prepared {
            dir,
            id,
            source,
            source_path,
            source_stat,
            warnings,
            result,
            keyframes,
            scenes,
            items,
            vectors,
            model,
        } = p;
        let tx = immediate(&mut self.conn, &self.path)?;
        let err = sql_err(&self.path);
        let old: Option<i64> = tx
            .query_row("SELECT id FROM files WHERE input_id = ?1", [&id], |r| {
                r.get(0)
            })
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(err(e)),
            })?;
        if let Some(f) = old {
            delete_file(&tx, f).map_err(err)?;
        }
        tx.execute(
            "INSERT INTO files(input_id, source, path, path_stat, dir, content_key, duration,
                               status, probe)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                id,
                source,
                source_path,
                source_stat,
                dir.to_string_lossy(),
                result["cache"]["content"].as_str(),
                result["duration"]
                    .as_f64()
                    .or(result["probe"]["duration"].as_f64()),
                result["status"].as_str(),
                (!result["probe"].is_null()).then(|| result["probe"].to_string()),
            ],
        )
        .map_err(err)?;
        let file_id = tx.last_insert_rowid();
        let mut added = Added {
            warnings,
            ..Added::default()
        };
        {
            let mut k = tx
                .prepare(
                    "INSERT INTO keyframes(file_id, time, image, phash) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for (t, image, phash) in &keyframes {
                k.execute(params![file_id, t, image, phash]).map_err(err)?;
                added.keyframes += 1;
            }
            let mut s = tx
                .prepare("INSERT INTO scenes(file_id, idx, start, end) VALUES (?1, ?2, ?3, ?4)")
                .map_err(err)?;
            for (i, a, b) in &scenes {
                s.execute(params![file_id, i, a, b]).map_err(err)?;
            }
            let mut it = tx
                .prepare(
                    "INSERT INTO items(file_id, kind, start, end, text, score, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(err)?;
            let mut em = tx
                .prepare("INSERT INTO embeddings(item_id, vector) VALUES (?1, ?2)")
                .map_err(err)?;
            for ((kind, a, b, text, score, data), v) in items.iter().zip(&vectors) {
                let data = (!data.is_null()).then(|| data.to_string());
                it.execute(params![file_id, kind, a, b, text, score, data])
                    .map_err(err)?;
                added.items += 1;
                if let Some(v) = v {
                    let blob: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    em.execute(params![tx.last_insert_rowid(), blob])
                        .map_err(err)?;
                    added.embeddings += 1;
                }
            }
        }
        if let Some(m) = model {
            tx.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('text_model', ?1)",
                [m],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    /// Remove inputs whose id is not in `keep` (a rebuild of a directory some inputs left).
    pub fn retain(&mut self, keep: &[String]) -> Result<usize> {
        let ids: Vec<(i64, String)> = {
            let mut st = self
                .conn
                .prepare("SELECT id, input_id FROM files")
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.err(e))?;
            rows.filter_map(|r| r.ok()).collect()
        };
        let mut removed = 0;
        for (f, input) in ids {
            if keep.contains(&input) {
                continue;
            }
            let tx = immediate(&mut self.conn, &self.path)?;
            delete_file(&tx, f)
                .and_then(|_| tx.commit())
                .map_err(sql_err(&self.path))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Counts of files and items (by kind), for reports.
    pub fn counts(&self) -> Result<(usize, Vec<(String, usize)>)> {
        let files: i64 = self
            .conn
            .query_row("SELECT count(*) FROM files", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let mut st = self
            .conn
            .prepare("SELECT kind, count(*) FROM items GROUP BY kind ORDER BY kind")
            .map_err(|e| self.err(e))?;
        let kinds = st
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize))
            })
            .map_err(|e| self.err(e))?
            .filter_map(|r| r.ok())
            .collect();
        Ok((files as usize, kinds))
    }
}

/// One input's rows, read from its results and embedded, ready for [`Index::write`]
/// (prepared on any thread: several inputs can be embedded at once while one writes).
pub struct Prepared {
    dir: PathBuf,
    id: String,
    source: String,
    /// The source's absolute path, when it is a file found from here, and its identity.
    source_path: Option<String>,
    source_stat: Option<String>,
    /// Operation outputs that could not be read (one line each, naming the file).
    warnings: Vec<String>,
    result: Value,
    keyframes: Vec<(Option<f64>, String, Option<String>)>,
    scenes: Vec<(i64, f64, f64)>,
    items: Vec<Item>,
    vectors: Vec<Option<Vec<f32>>>,
    model: Option<String>,
}

/// Read the results of one input (`dir` = OUTDIR/<id>) and embed its texts.
///
/// What a results directory holds is not trusted: the input's directory must lie inside its
/// parent (a link leading out of OUTDIR is refused), and `result.json` and the operation
/// outputs are read only when they are regular files inside it of at most
/// [`MAX_JSON_BYTES`]. An operation whose result.json says `ok` but whose output is missing
/// or unreadable is left out with a warning ([`Added::warnings`]), and the input's status
/// becomes `partial`.
pub fn prepare(dir: &Path, embedder: Option<&mut TextEmbedder>) -> Result<Prepared> {
    let input = |reason: String| IndexError::Input {
        path: dir.into(),
        reason,
    };
    let root = contained_dir(dir).map_err(input)?;
    let mut result = read_json(&root, &dir.join("result.json")).map_err(input)?;
    if !result.is_object() {
        return Err(input("result.json: not a JSON object".into()));
    }
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| input("no input id".into()))?;
    let source = result["source"].as_str().unwrap_or_default().to_string();
    let ops = result["ops"].clone();
    let mut warnings = Vec::new();
    let mut outputs = |op: &str| -> Option<Value> {
        if ops[op]["status"].as_str() != Some("ok") {
            return None;
        }
        match read_json(&root, &dir.join(format!("{op}.json"))) {
            Ok(v) => Some(v),
            Err(e) => {
                warnings.push(format!("{e} ({op} not indexed)"));
                None
            }
        }
    };
    // Everything to write, gathered before the transaction.
    let mut keyframes = Vec::new();
    if let Some(k) = outputs("keyframes") {
        for f in k["keyframes"].as_array().into_iter().flatten() {
            keyframes.push((
                f["time"].as_f64(),
                f["path"].as_str().unwrap_or_default().to_string(),
                f["phash"].as_str().map(str::to_string),
            ));
        }
    }
    let mut scenes = Vec::new();
    if let Some(s) = outputs("scenes") {
        for sc in s["scenes"].as_array().into_iter().flatten() {
            scenes.push((
                sc["index"].as_i64().unwrap_or(0),
                sc["start"].as_f64().unwrap_or(0.0),
                sc["end"].as_f64().unwrap_or(0.0),
            ));
        }
    }
    let mut items: Vec<Item> = Vec::new();
    // Transcript segments, and embedded subtitles (what is said, exactly): speech.
    for (op, list, data) in [
        ("transcribe", "segments", Value::Null),
        ("subtitles", "cues", serde_json::json!({"subtitles": true})),
    ] {
        let Some(t) = outputs(op) else { continue };
        for s in t[list].as_array().into_iter().flatten() {
            let text = s["text"].as_str().unwrap_or_default().trim().to_string();
            if !text.is_empty() {
                items.push((
                    "speech",
                    s["start"].as_f64(),
                    s["end"].as_f64(),
                    text,
                    None,
                    data.clone(),
                ));
            }
        }
    }
    if let Some(o) = outputs("ocr") {
        for r in o["results"].as_array().into_iter().flatten() {
            let t = r["time"].as_f64();
            for l in r["lines"].as_array().into_iter().flatten() {
                let text = l["text"].as_str().unwrap_or_default().trim().to_string();
                if text.is_empty() {
                    continue;
                }
                let data = serde_json::json!({"box": l["box"], "keyframe": r["keyframe"]});
                items.push(("text", t, t, text, l["score"].as_f64(), data));
            }
        }
    }
    for (op, kind) in [("detect", "object"), ("faces", "face")] {
        if let Some(d) = outputs(op) {
            for r in d["results"].as_array().into_iter().flatten() {
                let t = r["time"].as_f64();
                for det in r["detections"].as_array().into_iter().flatten() {
                    let label = det["label"].as_str().unwrap_or(kind).to_string();
                    let data = serde_json::json!({"box": det["box"], "keyframe": r["keyframe"]});
                    items.push((kind, t, t, label, det["score"].as_f64(), data));
                }
            }
        }
    }
    // Embeddings of every item's text (a label such as "bus" too, so that a query for it
    // ranks its detections by meaning as well as by the word); each distinct text once,
    // one vector per item (the first piece of a long text, at most 256 tokens).
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; items.len()];
    let model = embedder.as_ref().map(|e| {
        let p = e.model_path();
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .to_string_lossy()
            .into_owned()
    });
    if let Some(e) = embedder {
        let mut distinct: Vec<&str> = items.iter().map(|i| i.3.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if !distinct.is_empty() {
            let mut by_text: std::collections::HashMap<&str, Vec<f32>> = Default::default();
            for p in e.embed(&distinct)? {
                by_text.entry(distinct[p.index]).or_insert(p.embedding);
            }
            for (slot, item) in vectors.iter_mut().zip(&items) {
                *slot = by_text.get(item.3.as_str()).cloned();
            }
        }
    }
    // An input whose outputs were not all read is not presented as complete.
    if !warnings.is_empty() && result["status"] == "ok" {
        result["status"] = "partial".into();
    }
    let located = source_path(&source, &id);
    Ok(Prepared {
        // Absolute: searches run from anywhere (an agent's working directory) find the images.
        dir: root,
        source_path: located.as_ref().map(|(p, _)| p.clone()),
        source_stat: located.map(|(_, s)| s),
        warnings,
        id,
        source,
        result,
        keyframes,
        scenes,
        items,
        vectors,
        model,
    })
}

/// The absolute path of a source as `vx run` named it (relative to the directory it ran in,
/// which is this process's for `vx run --index`), when it is the very file the input id was
/// made from (the id ends in the hash of that file's absolute path: a relative name resolved
/// from another directory, or a result.json naming some other file, gives None): None too for
/// URLs, standard input, and files not found from here.
/// With the path, the file's identity ([`identity`]) as it is now.
fn source_path(source: &str, input_id: &str) -> Option<(String, String)> {
    if source.is_empty() || source == "-" || source.contains("://") || source.starts_with("pipe:") {
        return None;
    }
    let p = std::fs::canonicalize(source).ok()?;
    let hash = format!("-{:08x}", vx_image::fsutil::path_hash(&p));
    let meta = std::fs::metadata(&p).ok()?;
    (meta.is_file() && input_id.ends_with(&hash))
        .then(|| (p.to_string_lossy().into_owned(), identity(&meta)))
}

/// The input's results directory, every link resolved, when it is a directory of its own in
/// the directory that names it (OUTDIR), not a link: `OUTDIR/<id> -> /elsewhere` is refused,
/// so that nothing outside OUTDIR is indexed or served as an input's results (and a recorded
/// `dir` always ends in its input id, which `vx serve` checks).
fn contained_dir(dir: &Path) -> std::result::Result<PathBuf, String> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let outdir = std::fs::canonicalize(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let real = std::fs::canonicalize(dir).map_err(|e| e.to_string())?;
    let own = dir.file_name().map(|n| outdir.join(n));
    if own.as_deref() == Some(real.as_path()) {
        Ok(real)
    } else if real.starts_with(&outdir) {
        Err(format!(
            "a link to {} (an input's results are a directory of their own): not indexed",
            real.display()
        ))
    } else {
        Err(format!(
            "a link to {}, outside {}: not indexed",
            real.display(),
            outdir.display()
        ))
    }
}

/// The error of an SQLite call on the index at `path`: [`IndexError::Damaged`] when SQLite
/// says the file is not a database or is corrupt.
fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> IndexError + Copy + '_ {
    move |source| {
        let damaged = matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
        );
        if damaged {
            IndexError::Damaged {
                path: path.to_path_buf(),
                reason: source.to_string(),
            }
        } else {
            IndexError::Sqlite {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// An index path that exists and is not a regular file (or a link to one) is refused before
/// SQLite opens it: SQLite would write `PATH-journal` or `PATH-wal` beside `/dev/null`, block
/// on a FIFO, or create the file a dangling link points to.
fn refuse_non_file(path: &Path) -> Result<()> {
    let Ok(link) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let what = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => return Ok(()),
        Ok(m) => fsread::describe_type(&m),
        Err(_) if link.file_type().is_symlink() => "a link to nothing",
        Err(_) => fsread::describe_type(&link),
    };
    Err(IndexError::NotAFile {
        path: path.into(),
        what,
    })
}

/// Move a damaged index out of the way (never over another file): `PATH.damaged`, else
/// `PATH.damaged-2`...; its `-wal` and `-shm` files follow it, so that the new index does not
/// take the old one's log for its own.
fn move_aside(path: &Path) -> Result<PathBuf> {
    let named = |suffix: &str| named_of(path, suffix);
    let io = |e: std::io::Error| IndexError::Input {
        path: path.into(),
        reason: format!("a damaged index that cannot be moved aside: {e}"),
    };
    let taken = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    let aside = (1..1000)
        .map(|n| {
            named(&if n == 1 {
                ".damaged".to_string()
            } else {
                format!(".damaged-{n}")
            })
        })
        .find(|p| !taken(p) && !taken(&named_of(p, "-wal")) && !taken(&named_of(p, "-shm")))
        .ok_or_else(|| io(std::io::Error::other("999 damaged copies already there")))?;
    std::fs::rename(path, &aside).map_err(io)?;
    for log in ["-wal", "-shm"] {
        let from = named(log);
        if taken(&from) {
            std::fs::rename(&from, named_of(&aside, log)).map_err(io)?;
        }
    }
    Ok(aside)
}

/// `path` with `suffix` appended to its name.
fn named_of(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A transaction holding the write lock from the start: a deferred one that reads first
/// cannot wait for another writer (it fails at once when it has to upgrade).
fn immediate<'c>(conn: &'c mut Connection, path: &Path) -> Result<rusqlite::Transaction<'c>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_err(path))
}

/// Remove one input's rows (inside the caller's transaction).
fn delete_file(tx: &rusqlite::Transaction<'_>, file_id: i64) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM embeddings WHERE item_id IN (SELECT id FROM items WHERE file_id = ?1)",
        [file_id],
    )?;
    for t in ["items", "keyframes", "scenes"] {
        tx.execute(&format!("DELETE FROM {t} WHERE file_id = ?1"), [file_id])?;
    }
    tx.execute("DELETE FROM files WHERE id = ?1", [file_id])?;
    Ok(())
}

/// One JSON file of an input's results (`root`: its directory, canonical): a regular file
/// inside it, at most [`MAX_JSON_BYTES`]; else one line naming the file and the cause.
fn read_json(root: &Path, p: &Path) -> std::result::Result<Value, String> {
    let named = |e: String| format!("{}: {e}", p.display());
    let real = fsread::inside(root, p).map_err(named)?;
    let bytes = read_capped(&real, MAX_JSON_BYTES, false).map_err(named)?;
    serde_json::from_slice(&bytes).map_err(|e| named(e.to_string()))
}

/// The input directories of a results directory.
#[derive(Debug, Default)]
pub struct InputDirs {
    /// Those holding a result.json, sorted.
    pub dirs: Vec<PathBuf>,
    /// Entries that look like inputs but lead out of the results directory (a link to a
    /// directory elsewhere), with the cause: not indexed.
    pub refused: Vec<(PathBuf, String)>,
}

/// The input directories of a results directory (those holding a result.json), sorted; an
/// entry that is a link leading out of `outdir` is refused (see [`InputDirs::refused`]).
pub fn input_dirs(outdir: &Path) -> std::io::Result<InputDirs> {
    let mut found = InputDirs::default();
    for e in std::fs::read_dir(outdir)?.flatten() {
        let p = e.path();
        // result.json as an entry (a link to something that is not a file included: read
        // by prepare, which says what it is).
        if !p.is_dir() || std::fs::symlink_metadata(p.join("result.json")).is_err() {
            continue;
        }
        match contained_dir(&p) {
            Ok(_) => found.dirs.push(p),
            Err(why) => found.refused.push((p, why)),
        }
    }
    found.dirs.sort();
    found.refused.sort();
    Ok(found)
}
