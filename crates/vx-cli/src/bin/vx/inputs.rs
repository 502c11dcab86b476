//! Inputs of the commands that take several: folders expanded into the files inside them, and
//! one output per input inside `-o DIR`.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::commands::{usage, NoStreamError, UsageError};

/// Set when a folder was among the inputs: outputs are then named after each input even when
/// the folder held a single file (its name is not the folder's).
static FOLDER_INPUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Replace the folders among `inputs` by the files inside them, recursively and sorted, hidden
/// entries skipped (`vx run`'s expansion, vx_pipeline::bulk::expand) and the command's
/// `outputs` (folders it writes into) left out; files, `-` and URLs stay as given, and a file
/// reached twice (`dir dir/sub`) is taken once. Entries that cannot be read are reported and
/// skipped; a folder with no file in it is a usage error.
pub(crate) fn expand_folders(
    inputs: &mut Vec<PathBuf>,
    outputs: &[PathBuf],
    quiet: bool,
) -> Result<()> {
    if !inputs.iter().any(|p| p.is_dir()) {
        return Ok(());
    }
    FOLDER_INPUT.store(true, std::sync::atomic::Ordering::Relaxed);
    let excluded: Vec<PathBuf> = outputs
        .iter()
        .filter_map(|o| std::fs::canonicalize(o).ok())
        .collect();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut keep = |p: PathBuf, out: &mut Vec<PathBuf>| {
        let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if seen.insert(key) {
            out.push(p);
        }
    };
    for p in std::mem::take(inputs) {
        if !p.is_dir() {
            keep(p, &mut out);
            continue;
        }
        let mut found = vx_pipeline::bulk::expand(std::slice::from_ref(&p), Path::new(""));
        found.files.retain(|f| {
            let f = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
            !excluded.iter().any(|o| f.starts_with(o) || &f == o)
        });
        for (path, why) in &found.problems {
            vx_cli::say!("vx: warning: {}: {why}", path.display());
        }
        if found.files.is_empty() {
            return Err(usage(format!("{}: no file in this folder", p.display())));
        }
        if !quiet && found.files.len() > 1 {
            vx_cli::say!("vx: {}: {} files", p.display(), found.files.len());
        }
        for f in found.files {
            keep(f, &mut out);
        }
    }
    *inputs = out;
    Ok(())
}

/// Whether `files` are run as several inputs (one output each inside `-o DIR`): more than
/// one, or any that came from a folder.
pub(crate) fn several(files: &[PathBuf]) -> bool {
    files.len() != 1 || FOLDER_INPUT.load(std::sync::atomic::Ordering::Relaxed)
}

/// A single-input command over several inputs: one input runs as it always did (`out` as
/// given, or stdout); several need `-o DIR`, which gets one `<stem>.<ext>` per input (a stem
/// that repeats gets the input's path hash; an empty `ext`: one directory `<stem>` each). An input that fails prints its error line and the
/// others go on; the exit status is 1 if one failed, else 3 if one lacked the stream needed.
pub fn each_input(
    files: &[PathBuf],
    out: Option<&Path>,
    ext: &str,
    mut one: impl FnMut(&Path, Option<&Path>) -> Result<ExitCode>,
) -> Result<ExitCode> {
    if let (false, [file]) = (several(files), files) {
        return one(file, out);
    }
    let Some(dir) = out.filter(|o| o.as_os_str() != "-") else {
        return Err(usage(format!(
            "{} input(s) from several files or a folder: give -o DIR for their outputs (one {} per input)",
            files.len(),
            if ext.is_empty() {
                "directory".to_string()
            } else {
                format!("{ext} file")
            }
        )));
    };
    if dir.exists() && !dir.is_dir() {
        return Err(usage(format!(
            "{}: several inputs need -o to name a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    // A stem that names no directory of its own ("..mp4" has the stem ".", "...mp4" "..")
    // would publish into DIR itself or its parent: such inputs get `input-<hash>`.
    let stem = |f: &Path| match f.file_stem().map(|s| s.to_string_lossy().into_owned()) {
        Some(s) if !matches!(s.as_str(), "" | "." | "..") => s,
        _ => format!("input-{:08x}", vx_pipeline::result::path_hash(f)),
    };
    let (mut failed, mut no_stream) = (false, false);
    for f in files {
        let repeats = files.iter().filter(|g| stem(g) == stem(f)).count() > 1;
        let mut name = if repeats {
            format!("{}-{:08x}", stem(f), vx_pipeline::result::path_hash(f))
        } else {
            stem(f)
        };
        if !ext.is_empty() {
            name = format!("{name}.{ext}");
        }
        match one(f, Some(&dir.join(name))) {
            Ok(c) if c == ExitCode::SUCCESS => {}
            Ok(_) => failed = true,
            Err(e) => {
                if e.downcast_ref::<UsageError>().is_some() {
                    return Err(e);
                }
                vx_cli::say!("vx: error: {}", vx_cli::one_line(&e));
                match e.downcast_ref::<NoStreamError>() {
                    Some(_) => no_stream = true,
                    None => failed = true,
                }
            }
        }
    }
    Ok(match (failed, no_stream) {
        (true, _) => ExitCode::from(1),
        (false, true) => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    })
}
