//! `vx index` and `vx search`: the SQLite index of a results directory (vx_index).
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use vx_index::{Index, Kind};

use super::commands::*;

/// The default sentence-embedding model (looked up in the model directory).
pub const TEXT_MODEL: &str = "all-MiniLM-L6-v2-int8.onnx";

/// The index file for a path: a directory means DIR/index.db.
pub fn index_path(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join("index.db")
    } else {
        p.to_path_buf()
    }
}

/// The index file of `vx search`, `vx mcp` and `vx serve` (a usage error when there is none:
/// they never create one).
pub fn existing_index(p: &Path) -> Result<PathBuf> {
    let path = index_path(p);
    if !path.is_file() {
        return Err(usage(format!(
            "{}: no index (make one with `vx run ... -o OUTDIR` or `vx index OUTDIR`)",
            path.display()
        )));
    }
    Ok(path)
}

/// The sentence embedder: `model` (a path or name), else the default when it is in the model
/// directory; None when there is none (then search is by words only).
fn embedder(
    model: Option<&str>,
    required: bool,
    threads: usize,
) -> Result<Option<vx_infer::text::TextEmbedder>> {
    let path = match model {
        Some(m) => resolve_model(m)?,
        None => match super::commands::model_dir_file(TEXT_MODEL) {
            Ok(p) => p,
            Err(e) if required => return Err(e),
            Err(_) => return Ok(None),
        },
    };
    let tok = vx_infer::text::tokenizer_beside(&path).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no tokenizer.json or NAME-tokenizer.json beside the model",
            path.display()
        )
    })?;
    Ok(Some(vx_infer::text::TextEmbedder::open(
        &path,
        &tok,
        vx_infer::runtime::SessionOptions { threads },
    )?))
}

/// The query embedder of a search: `given`, else the model the index was built with (by
/// its recorded path, or by its file name in the model directory if it moved); none for an
/// index without embeddings (then words alone).
pub(crate) fn query_embedder(
    idx: &Index,
    given: Option<&str>,
) -> Result<Option<vx_infer::text::TextEmbedder>> {
    if let Some(m) = given {
        return embedder(Some(m), true, 0);
    }
    let Some(recorded) = idx.text_model() else {
        return Ok(None);
    };
    let by_name = Path::new(&recorded)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let m = if Path::new(&recorded).is_file() {
        Some(recorded)
    } else {
        by_name
    };
    embedder(m.as_deref(), true, 0)
}

fn note_no_model() {
    vx_cli::say!(
        "vx: note: no {TEXT_MODEL} in the model directory: the index has no embeddings (search by words only)"
    );
}

/// `vx index OUTDIR`.
pub fn index(
    outdir: &Path,
    index: Option<&Path>,
    text_model: Option<&str>,
    no_embed: bool,
    quiet: bool,
) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let path = index.map_or_else(|| outdir.join("index.db"), Path::to_path_buf);
    let found = vx_index::input_dirs(outdir).with_context(|| outdir.display().to_string())?;
    let dirs = found.dirs;
    if dirs.is_empty() && found.refused.is_empty() {
        return Err(usage(format!(
            "{}: no results of `vx run` here (no <id>/result.json)",
            outdir.display()
        )));
    }
    // A rebuild is always a way forward: a damaged index is moved aside (never deleted) and
    // made again; a path that is not a file (`/dev/null`) is the caller's mistake.
    let mut idx = match Index::open_rebuild(&path) {
        Ok((idx, None)) => idx,
        Ok((idx, Some(aside))) => {
            vx_cli::say!(
                "vx: warning: {}: a damaged index, moved aside to {}; building a new one",
                path.display(),
                aside.display()
            );
            idx
        }
        Err(e @ vx_index::IndexError::NotAFile { .. }) => return Err(usage(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    // Links out of OUTDIR: never indexed (nor served), each said.
    for (d, why) in &found.refused {
        vx_cli::say!(
            "vx: error: {}",
            vx_cli::printable(&format!("{}: {why}", d.display()))
        );
    }
    let mut failed = found.refused.len();
    // Embedding is the work: one worker per core, each with its own copy of the model on one
    // thread (1.2-1.4x the throughput of one copy on two threads), and this thread writing
    // each input's transaction as it comes.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = if no_embed {
        1
    } else {
        cores.min(dirs.len()).max(1)
    };
    let mut embedders = Vec::new();
    if !no_embed {
        let threads = if workers > 1 { 1 } else { 0 };
        for _ in 0..workers {
            match embedder(text_model, text_model.is_some(), threads)? {
                Some(e) => embedders.push(Some(e)),
                None => break,
            }
        }
        if embedders.is_empty() && !quiet {
            note_no_model();
        }
    }
    if embedders.is_empty() {
        embedders.push(None);
    }
    let ids: Vec<String> = dirs
        .iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::sync_channel(embedders.len() * 2);
    std::thread::scope(|scope| -> Result<()> {
        for mut e in embedders.drain(..) {
            let (tx, next, dirs) = (tx.clone(), &next, &dirs);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(d) = dirs.get(i) else { break };
                if tx.send(vx_index::prepare(d, e.as_mut())).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for prepared in rx {
            match prepared.and_then(|p| idx.write(p)) {
                // An operation's output that could not be read: the rest of the input is
                // indexed (status partial), the exit status says something was left out.
                Ok(added) => {
                    for w in &added.warnings {
                        vx_cli::say!("vx: warning: {}", vx_cli::printable(w));
                    }
                    failed += usize::from(!added.warnings.is_empty());
                }
                Err(e) => {
                    vx_cli::say!("vx: error: {}", vx_cli::one_line(&anyhow::Error::from(e)));
                    failed += 1;
                }
            }
        }
        Ok(())
    })?;
    let removed = idx.retain(&ids)?;
    let (files, kinds) = idx.counts()?;
    if !quiet {
        let k: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        vx_cli::say!(
            "vx: indexed {files} input(s) ({}{}) into {} in {:.2} s",
            if k.is_empty() {
                "nothing searchable".into()
            } else {
                k.join(", ")
            },
            if removed > 0 {
                format!("; {removed} gone removed")
            } else {
                String::new()
            },
            path.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The largest `--queries` file read (some 60,000 queries of the longest kind).
const MAX_QUERIES_BYTES: u64 = 64 << 20;

/// `vx search INDEX QUERY` / `vx search INDEX --queries FILE`.
pub fn search(
    index: &Path,
    query: Option<&str>,
    queries: Option<&Path>,
    k: usize,
    kind: Option<Kind>,
    json: bool,
    text_model: Option<&str>,
) -> Result<ExitCode> {
    let path = existing_index(index)?;
    let list: Vec<String> = match (query, queries) {
        (Some(q), _) => vec![q.to_string()],
        // A regular file or a pipe (`--queries /dev/stdin`, `<(...)`), of a bounded size:
        // never a device (`/dev/zero` grew memory until the OOM killer).
        (None, Some(f)) => String::from_utf8(
            vx_index::read_capped(f, MAX_QUERIES_BYTES, true)
                .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?,
        )
        .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", f.display()))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect(),
        (None, None) => return Err(usage("a query or --queries FILE")),
    };
    // An empty query would match everything a little by meaning: refused, as a missing one.
    if query.is_some_and(|q| q.trim().is_empty()) {
        return Err(usage("an empty query: give words to look for"));
    }
    if let Some(q) = list
        .iter()
        .find(|q| q.chars().count() > vx_index::MAX_QUERY_CHARS)
    {
        return Err(usage(format!(
            "a query of {} characters: at most {}",
            q.chars().count(),
            vx_index::MAX_QUERY_CHARS
        )));
    }
    if list.is_empty() {
        return Err(usage(format!(
            "{}: no query in it (one per line)",
            queries.map(|f| f.display().to_string()).unwrap_or_default()
        )));
    }
    if k == 0 {
        return Err(usage("-k 0: ask for at least one hit"));
    }
    let idx = Index::open(&path)?;
    let mut emb = query_embedder(&idx, text_model)?;
    if list.len() > 1 {
        idx.preload()?;
    }
    let mut times = Vec::with_capacity(list.len());
    let mut found = 0;
    for q in &list {
        let t0 = std::time::Instant::now();
        let hits = idx.search(q, k, kind, emb.as_mut())?;
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        found += usize::from(!hits.is_empty());
        if !json && list.len() > 1 {
            vx_cli::outln!("== {q}");
        }
        for h in &hits {
            if json {
                let mut v = serde_json::to_value(h)?;
                if list.len() > 1 {
                    v["query"] = serde_json::json!(q);
                }
                vx_cli::outln!("{}", serde_json::to_string(&v)?);
            } else {
                let t = match (h.start, h.end) {
                    (Some(a), Some(b)) if b > a => format!("{a:.1}-{b:.1} s"),
                    (Some(a), _) => format!("{a:.1} s"),
                    _ => "picture".into(),
                };
                vx_cli::outln!(
                    "{:.4}  {}  {}  [{}] {}",
                    h.score,
                    h.source,
                    t,
                    h.kind,
                    h.text
                );
            }
        }
    }
    if list.len() > 1 {
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        vx_cli::say!(
            "vx: {} queries, median {:.1} ms, slowest {:.1} ms",
            list.len(),
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1]
        );
    }
    Ok(if found == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `vx run`'s index (OUTDIR/index.db unless `--no-index`): inputs added as they finish; a
/// failure is a warning (the results on disk stay; `vx index OUTDIR` redoes it). The sentence
/// embedder is loaded when the first input with texts to embed finishes (a run of keyframes
/// alone never loads it).
pub struct Indexer {
    path: PathBuf,
    /// Opened at once when the file exists (a wrong file is an error before any input
    /// runs), else made when the first input finishes (a run that fails before any input
    /// leaves no file, and no output directory, behind).
    index: Option<Index>,
    /// Could not be made: said once, the run goes on without it.
    failed: bool,
    /// None until needed; then the embedder, or None when there is no model.
    embedder: Option<Option<vx_infer::text::TextEmbedder>>,
    quiet: bool,
}

/// The operation outputs that hold texts to embed.
const TEXT_OUTPUTS: [&str; 4] = ["transcribe.json", "ocr.json", "detect.json", "faces.json"];

impl Indexer {
    pub fn open(path: &Path, quiet: bool) -> Result<Indexer> {
        let index = if std::fs::symlink_metadata(path).is_ok() {
            match Index::open(path) {
                Ok(i) => Some(i),
                Err(e @ vx_index::IndexError::NotAFile { .. }) => return Err(usage(e.to_string())),
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        Ok(Indexer {
            path: path.to_path_buf(),
            index,
            failed: false,
            embedder: None,
            quiet,
        })
    }

    fn index(&mut self) -> Option<&mut Index> {
        if self.index.is_none() && !self.failed {
            let made = (|| -> Result<Index> {
                if let Some(d) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(d).with_context(|| d.display().to_string())?;
                }
                Ok(Index::open(&self.path)?)
            })();
            match made {
                Ok(i) => self.index = Some(i),
                Err(e) => {
                    self.failed = true;
                    vx_cli::say!("vx: warning: no index: {}", vx_cli::one_line(&e));
                }
            }
        }
        self.index.as_mut()
    }

    /// The model the index was built with, so that its vectors stay comparable; the default
    /// for a new index; none (words only, said once) when it cannot be loaded.
    fn load_embedder(&mut self) -> Option<vx_infer::text::TextEmbedder> {
        let loaded = match self.index.as_ref() {
            Some(i) if i.text_model().is_some() => query_embedder(i, None),
            _ => embedder(None, false, 0),
        };
        match loaded {
            Ok(None) => {
                if !self.quiet {
                    note_no_model();
                }
                None
            }
            Ok(e) => e,
            Err(e) => {
                vx_cli::say!(
                    "vx: warning: no embeddings in the index (search by words only): {}",
                    vx_cli::one_line(&e)
                );
                None
            }
        }
    }

    pub fn add(&mut self, dir: &Path) {
        if !dir.join("result.json").is_file() {
            return;
        }
        if self.index().is_none() {
            return;
        }
        if self.embedder.is_none() && TEXT_OUTPUTS.iter().any(|f| dir.join(f).is_file()) {
            self.embedder = Some(self.load_embedder());
        }
        let (Some(index), emb) = (
            self.index.as_mut(),
            self.embedder.as_mut().and_then(Option::as_mut),
        ) else {
            return;
        };
        match index.add_input(dir, emb) {
            Ok(added) => {
                for w in &added.warnings {
                    vx_cli::say!("vx: warning: index: {}", vx_cli::printable(w));
                }
            }
            Err(e) => vx_cli::say!(
                "vx: warning: not indexed: {}",
                vx_cli::one_line(&anyhow::Error::from(e))
            ),
        }
    }
}

/// `vx serve INDEX`: the web page (vx_serve) until Ctrl-C.
pub fn serve(
    index: &Path,
    listen: std::net::SocketAddr,
    text_model: Option<&str>,
    quiet: bool,
) -> Result<ExitCode> {
    let path = existing_index(index)?;
    let idx = Index::open(&path)?;
    let emb = query_embedder(&idx, text_model)?;
    if emb.is_none() && !quiet {
        vx_cli::say!("vx: the index has no embeddings: search by words only");
    }
    if !listen.ip().is_loopback() {
        vx_cli::say!(
            "vx: warning: listening on {listen}: every host that reaches it can read the \
             indexed files"
        );
    }
    let shown = path.display().to_string();
    vx_serve::serve(idx, emb, listen, 2, |addr| {
        // Always printed (also with -q): scripts read the address from here.
        println!("vx: serving {shown} on http://{addr}/ (Ctrl-C stops)");
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })?;
    Ok(ExitCode::SUCCESS)
}
