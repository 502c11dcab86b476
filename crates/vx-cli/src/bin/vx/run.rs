//! `vx run`: the plan over many inputs (vx_pipeline::bulk), models loaded on first use.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use vx_pipeline::ops;

use super::commands::*;
use crate::RunArgs;

/// `vx run`: the plan over each input, OUTDIR/<id>/ with one JSON per operation and
/// result.json.
pub fn run(a: &RunArgs, quiet: bool) -> Result<ExitCode> {
    use vx_pipeline::plan::plan;
    let plan = plan(&a.ops, ops::KNOWN).map_err(|e| usage(e.to_string()))?;
    // --model OP=MODEL
    let mut given: Vec<(String, String)> = Vec::new();
    for m in &a.models {
        let (op, path) = m
            .split_once('=')
            .ok_or_else(|| usage(format!("--model {m}: expected OP=MODEL")))?;
        if !plan.steps.iter().any(|s| s.name == op) {
            return Err(usage(format!(
                "--model {m}: '{op}' is not an operation of --ops"
            )));
        }
        given.push((op.to_string(), path.to_string()));
    }
    let model_for = |op: &str| -> Result<PathBuf> {
        let m = given.iter().find(|(o, _)| o == op).map(|(_, m)| m.as_str());
        model_for(op, m, &format!("--model {op}=PATH"))
    };
    // The plan, its model files (checked now) and its models (loaded by the first input
    // that needs them), shared with the Python package (vx_pipeline::runner).
    let jobs = a.jobs.max(1) as usize;
    let runner = vx_pipeline::runner::Runner::new(
        &a.ops,
        &|op: &str| model_for(op).map_err(|e| vx_pipeline::Error::Message(vx_cli::one_line(&e))),
        vx_pipeline::runner::RunnerOptions {
            threads: a.threads,
            jobs,
            threshold: a.threshold,
            debug: a.debug,
            range: range(),
            streams: streams(),
            warn: std::sync::Arc::new(|w| vx_cli::say!("vx: warning: {w}")),
        },
    )
    .map_err(lift)?;
    let factory = |dir: &Path, steps: &[usize]| runner.tasks(dir, steps);
    let found = vx_pipeline::bulk::expand(&a.inputs, &a.out);
    for (p, why) in &found.problems {
        vx_cli::say!("vx: warning: {}: {why}", p.display());
    }
    if found.files.is_empty() {
        return Err(usage("no input files found"));
    }
    let shard = match &a.shard {
        Some(s) => Some(vx_pipeline::bulk::parse_shard(s).map_err(usage)?),
        None => None,
    };
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        // Ctrl-C / SIGTERM: inputs in progress are abandoned (redone next time), the rest kept.
        let _ = ctrlc::set_handler(move || {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    let opts = vx_pipeline::bulk::BulkOptions {
        out: a.out.clone(),
        jobs,
        force: a.force,
        shard,
        debug: a.debug,
        queue: a.queue as usize,
        decoder_threads: runner.decoder_threads(),
        cancel,
        video_stream: streams().0,
        audio_stream: streams().1,
        range: range(),
        tables: a.format == crate::RunFormat::Parquet,
    };
    let total = match shard {
        Some((k, n)) => vx_pipeline::result::input_ids(&found.files)
            .iter()
            .filter(|id| vx_pipeline::bulk::in_shard(id, k, n))
            .count(),
        None => found.files.len(),
    };
    // The index (unless --no-index): each input goes into it as it finishes (its own
    // transaction).
    let indexer = if a.no_index {
        None
    } else {
        Some(std::sync::Mutex::new(super::search::Indexer::open(
            &a.index
                .clone()
                .flatten()
                .unwrap_or_else(|| a.out.join("index.db")),
            quiet,
        )?))
    };
    let started = std::time::Instant::now();
    let progress = crate::progress::Bulk::new(total, jobs, quiet);
    let on_event = |e: vx_pipeline::bulk::Event| {
        if let (Some(ix), vx_pipeline::bulk::Event::Done { line, .. }) = (&indexer, &e) {
            if let (Some(id), Ok(mut ix)) = (line["id"].as_str(), ix.lock()) {
                ix.add(&a.out.join(id));
            }
        }
        progress.event(e)
    };
    let summary = vx_pipeline::bulk::run(
        runner.steps(),
        runner.op_keys(),
        &found.files,
        &opts,
        &factory,
        &on_event,
    )
    .map_err(lift)?;
    progress.finish(
        &summary,
        started.elapsed().as_secs_f64(),
        &a.out,
        found.problems.len(),
    );
    if let Some((counts, secs)) = &summary.tables {
        if !quiet {
            let list: Vec<String> = counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
            vx_cli::say!(
                "vx: Parquet tables in {} ({secs:.1} s): rows: {}",
                a.out.display(),
                list.join(", ")
            );
        }
    }
    if a.format != crate::RunFormat::Parquet {
        for p in &summary.tables_removed {
            vx_cli::say!(
                "vx: warning: removed {} of an earlier run (out of date; --format parquet writes it)",
                p.display()
            );
        }
    }
    if let Some(e) = &summary.tables_error {
        vx_cli::say!("vx: error: Parquet tables not written: {e}");
        return Ok(ExitCode::from(1));
    }
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else if summary.partial + summary.errors > 0 || !found.problems.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
