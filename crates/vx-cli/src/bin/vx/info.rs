//! `vx models` and `vx doctor`: what the installation and the model directory hold.
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use vx_pipeline::ops;

use super::commands::*;
use crate::ModelsCmd;

pub fn models(cmd: ModelsCmd, quiet: bool) -> Result<ExitCode> {
    use vx_cli::models::{fetch, list, model_dir, CATALOGUE};
    let dir = model_dir();
    match cmd {
        ModelsCmd::List { json } => {
            let files = list(&dir)?;
            let missing: Vec<_> = CATALOGUE
                .iter()
                .filter(|k| !files.iter().any(|f| f.file == k.file))
                .collect();
            let manual: Vec<_> = vx_cli::models::MANUAL
                .iter()
                .filter(|m| !files.iter().any(|f| f.file == m.file))
                .collect();
            if json {
                let v = serde_json::json!({
                    "dir": dir,
                    "files": files,
                    "fetchable": missing,
                    "not_fetchable": manual,
                });
                vx_cli::outln!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            vx_cli::outln!("{}", dir.display());
            if files.is_empty() {
                vx_cli::outln!("  (no model files)");
            }
            for f in &files {
                if let Some(e) = &f.error {
                    vx_cli::outln!("  {:<32} unreadable: {e}", f.file);
                    continue;
                }
                let note = match (f.known_as, f.verified) {
                    (Some(n), Some(true)) => format!("  = {n}, checksum ok"),
                    (Some(n), _) => format!("  ! {n}, CHECKSUM MISMATCH"),
                    _ => String::new(),
                };
                vx_cli::outln!(
                    "  {:<32} {:>9.1} MiB  sha256 {}{note}",
                    f.file,
                    f.bytes as f64 / (1024.0 * 1024.0),
                    f.sha256
                );
            }
            if !missing.is_empty() {
                vx_cli::outln!("fetchable (vx models fetch NAME):");
                for k in missing {
                    vx_cli::outln!(
                        "  {:<10} {:>6.0} MiB  {}",
                        k.name,
                        k.approx_bytes as f64 / (1024.0 * 1024.0),
                        k.about
                    );
                }
            }
            if !manual.is_empty() {
                vx_cli::outln!(
                    "missing defaults with no official download (make them as described):"
                );
                for m in manual {
                    vx_cli::outln!("  {:<28} {:<12} {}", m.file, m.for_ops, m.how);
                }
            }
        }
        ModelsCmd::Fetch {
            name: None,
            all: true,
            force,
        } => {
            let (ok, failed) = vx_cli::models::fetch_all(&dir, force);
            for p in &ok {
                vx_cli::outln!("{}", p.display());
            }
            for f in &failed {
                vx_cli::say!("vx: error: {f}");
            }
            if !quiet {
                for m in vx_cli::models::MANUAL {
                    if !dir.join(m.file).is_file() {
                        vx_cli::say!(
                            "vx: note: {} ({}) has no official download; see `vx models list`",
                            m.file,
                            m.for_ops
                        );
                    }
                }
            }
            return Ok(if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        ModelsCmd::Fetch { name, force, .. } => {
            let name = name.unwrap_or_default();
            let tty = std::io::stderr().is_terminal() && !quiet;
            let mut last = std::time::Instant::now();
            let path = fetch(&name, &dir, force, |done, total| {
                if tty && last.elapsed().as_millis() >= 200 {
                    last = std::time::Instant::now();
                    vx_cli::say_part!(
                        "\r{name}: {:.1} / {:.1} MiB",
                        done as f64 / 1048576.0,
                        total as f64 / 1048576.0
                    );
                }
            })?;
            if tty {
                vx_cli::say!();
            }
            if !quiet {
                vx_cli::say!("vx: {name}: {}", path.display());
            }
            vx_cli::outln!("{}", path.display());
        }
        ModelsCmd::Quantize { model, quant, out } => {
            use vx_infer::ggml_quant::{quantize, Quant};
            let to = Quant::parse(&quant).ok_or_else(|| usage(format!("--type {quant}")))?;
            let input = resolve_model(&model)?;
            let out = out.unwrap_or_else(|| {
                let stem = input.file_stem().unwrap_or_default().to_string_lossy();
                let ext = input
                    .extension()
                    .map(|e| format!(".{}", e.to_string_lossy()))
                    .unwrap_or_default();
                input.with_file_name(format!("{stem}-{}{ext}", to.name()))
            });
            let t = std::time::Instant::now();
            let r = quantize(&input, &out, to).map_err(|e| match e {
                vx_infer::InferError::OutputRefused { .. } => usage(e.to_string()),
                e => e.into(),
            })?;
            if !quiet {
                vx_cli::say!(
                    "vx: {} -> {} ({}): {} of {} tensors quantised, {:.1} -> {:.1} MiB in {:.1} s",
                    input.display(),
                    out.display(),
                    to.name(),
                    r.quantised,
                    r.tensors,
                    r.bytes_in as f64 / 1048576.0,
                    r.bytes_out as f64 / 1048576.0,
                    t.elapsed().as_secs_f64()
                );
            }
            vx_cli::outln!("{}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vx --version`: vx's version, then what it is built on, one line each (what `vx doctor`
/// reports in full).
pub fn versions() -> String {
    let f = vx_media::versions();
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| *n == k)
            .map_or("?".to_string(), |(_, v)| v.to_string())
    };
    let ort = match vx_infer::runtime::describe() {
        // The link's target names the version (libonnxruntime.so.1.32.0).
        Ok((p, info)) => format!("{} ({info})", p.canonicalize().unwrap_or(p).display()),
        Err(e) => format!("not found ({e})"),
    };
    format!(
        "{}\nFFmpeg: libavcodec {}, libavformat {}, libavutil {}, libswscale {}, libswresample {} ({})\nONNX Runtime: {ort}\nwhisper.cpp: {}",
        env!("CARGO_PKG_VERSION"),
        get("libavcodec"),
        get("libavformat"),
        get("libavutil"),
        get("libswscale"),
        get("libswresample"),
        vx_media::linkage(),
        vx_infer::runtime::whisper_system_info()
    )
}

/// `vx setup`.
pub fn setup(force: bool, quiet: bool) -> Result<ExitCode> {
    let bar = (!quiet).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "vx: fetching ONNX Runtime {bytes}/{total_bytes}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let done = vx_cli::setup::install(force, |n, total| {
        if let Some(b) = &bar {
            b.set_length(total.max(n));
            b.set_position(n);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let done = done?;
    // Loaded once, to be sure it is a library this vx can use.
    let (path, build) = vx_infer::runtime::describe()?;
    if !quiet {
        vx_cli::say!(
            "vx: ONNX Runtime {} {}: {} ({build})",
            vx_cli::setup::ORT_VERSION,
            if done.fetched {
                "installed"
            } else {
                "already installed"
            },
            done.library.display()
        );
        if path.canonicalize().ok() != done.library.canonicalize().ok() {
            vx_cli::say!(
                "vx: note: this process loads {} (ORT_DYLIB_PATH or an earlier candidate)",
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vx doctor`.
pub fn doctor(json: bool) -> Result<ExitCode> {
    use serde_json::json;
    let ffmpeg: serde_json::Map<String, serde_json::Value> = vx_media::versions()
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let wanted = [
        "h264",
        "hevc",
        "vp8",
        "vp9",
        "av1",
        "mpeg2video",
        "mpeg4",
        "mjpeg",
        "prores",
        "aac",
        "mp3",
        "opus",
        "vorbis",
        "flac",
        "pcm_s16le",
        "mov_text",
        "subrip",
    ];
    let (have, missing): (Vec<&str>, Vec<&str>) =
        wanted.iter().partition(|n| vx_media::has_decoder(n));
    let ort = vx_infer::runtime::describe();
    let whisper = vx_infer::runtime::whisper_system_info();
    let dir = vx_cli::models::model_dir();
    let mut models = serde_json::Map::new();
    let mut problems = Vec::new();
    for (op, names) in ops::DEFAULT_MODELS {
        let found = vx_pipeline::models::default_model(op);
        // A file of the right name is not yet a model that loads (a truncated download, junk
        // under the name: "every command is ready" was said of them).
        if let Some(reason) = found
            .as_deref()
            .and_then(|m| unloadable(op, m, ort.is_ok()))
        {
            problems.push(format!("{op}: {reason}"));
        }
        if found.is_none() {
            problems.push(format!(
                "{op}: no default model ({}) in {} (`vx models list` says how to get it)",
                names.join(", "),
                dir.display()
            ));
        }
        // OCR's recogniser goes beside its detector.
        if let (&"ocr", Some(det)) = (op, &found) {
            let rec = det.with_file_name(vx_infer::ocr::REC_MODEL);
            if !rec.is_file() {
                problems.push(format!(
                    "ocr: no recogniser beside the detector ({} missing)",
                    rec.display()
                ));
            }
        }
        models.insert(op.to_string(), json!(found));
    }
    // `vx embed-text`, and the meaning half of the index and search: the sentence model and
    // its tokenizer beside it.
    let text = vx_pipeline::models::in_model_dir("all-MiniLM-L6-v2-int8.onnx");
    match &text {
        None => problems.push(format!(
            "embed-text (and the index's meaning search): no all-MiniLM-L6-v2-int8.onnx in {} (`vx models list` says how to get it)",
            dir.display()
        )),
        Some(m) if vx_infer::text::tokenizer_beside(m).is_none() => problems.push(format!(
            "embed-text: no tokenizer beside {} (tokenizer.json or NAME-tokenizer.json)",
            m.display()
        )),
        Some(_) => {}
    }
    models.insert("embed-text".into(), json!(text));
    // Optional: `vx scenes --detector transnet` (content and adaptive need no model).
    models.insert(
        "scenes (--detector transnet)".into(),
        json!(vx_pipeline::models::in_model_dir("transnetv2.onnx")),
    );
    if let Err(e) = &ort {
        problems.push(format!(
            "detect, faces, ocr, vad, transcribe, embed-audio: ONNX Runtime: {e}"
        ));
    }
    if !missing.is_empty() {
        problems.push(format!("FFmpeg decoders missing: {}", missing.join(", ")));
    }
    let report = json!({
        "vx": env!("CARGO_PKG_VERSION"),
        "ffmpeg": ffmpeg,
        "ffmpeg_linkage": vx_media::linkage(),
        "decoders": have,
        "decoders_missing": missing,
        "onnxruntime": match &ort {
            Ok((p, info)) => json!({"path": p, "build": info}),
            Err(e) => json!({"error": e.to_string()}),
        },
        "whisper_cpp": whisper,
        "model_dir": dir,
        "default_models": models,
        "problems": problems,
    });
    if json {
        vx_cli::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        vx_cli::outln!("vx {}", env!("CARGO_PKG_VERSION"));
        let f = &report["ffmpeg"];
        vx_cli::outln!(
            "FFmpeg: libavcodec {}, libavformat {}, libavutil {}, libswscale {}, libswresample {}",
            f["libavcodec"].as_str().unwrap_or("?"),
            f["libavformat"].as_str().unwrap_or("?"),
            f["libavutil"].as_str().unwrap_or("?"),
            f["libswscale"].as_str().unwrap_or("?"),
            f["libswresample"].as_str().unwrap_or("?")
        );
        vx_cli::outln!("  linked: {}", vx_media::linkage());
        vx_cli::outln!("  decoders: {}", have.join(" "));
        match &ort {
            Ok((p, info)) => vx_cli::outln!("ONNX Runtime: {} ({info})", p.display()),
            Err(e) => vx_cli::outln!("ONNX Runtime: missing: {e}"),
        }
        vx_cli::outln!("whisper.cpp: {whisper}");
        vx_cli::outln!("model directory: {}", dir.display());
        for (op, m) in &models {
            match m.as_str() {
                Some(p) => vx_cli::outln!("  {op:<12} {p}"),
                None => vx_cli::outln!("  {op:<12} (missing)"),
            }
        }
        if problems.is_empty() {
            vx_cli::outln!("every command is ready");
        } else {
            for p in &problems {
                vx_cli::outln!("problem: {p}");
            }
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `vx man [COMMAND] [--dir DIR]`: vx(1), one command's page (vx-COMMAND(1)), or every page
/// written into DIR (atomically, each).
pub fn man(command: Option<&str>, dir: Option<&std::path::Path>, quiet: bool) -> Result<ExitCode> {
    use clap::CommandFactory;
    use std::io::Write;
    let render = |page: &clap_mangen::Man| -> Result<Vec<u8>> {
        let mut out = Vec::new();
        page.render(&mut out)?;
        Ok(out)
    };
    let mut root = crate::Cli::command().disable_help_subcommand(true);
    root.build(); // names the subcommands' pages vx-COMMAND
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        // vx.1, then every command's page and its own commands' (vx-stream-send.1...).
        fn collect(cmd: &clap::Command, pages: &mut Vec<clap::Command>) {
            pages.push(cmd.clone());
            for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
                collect(sub, pages);
            }
        }
        let mut pages = Vec::new();
        collect(&root, &mut pages);
        for cmd in &pages {
            let page = clap_mangen::Man::new(cmd.clone());
            let path = dir.join(page.get_filename());
            vx_image::fsutil::write_atomic(&path, &render(&page)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
        if !quiet {
            vx_cli::say!("vx: {} manual pages in {}", pages.len(), dir.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cmd = match command {
        None => root,
        Some(name) => root
            .find_subcommand(name)
            .filter(|c| !c.is_hide_set())
            .cloned()
            .ok_or_else(|| {
                vx_cli::usage(format!(
                    "vx man {name}: no such command (vx --help lists them)"
                ))
            })?,
    };
    std::io::stdout().write_all(&render(&clap_mangen::Man::new(cmd))?)?;
    Ok(ExitCode::SUCCESS)
}

/// Why the default model of `op` at `path` would not load, if it would not: whisper's file
/// checked as transcription checks it, an ONNX model opened by ONNX Runtime (when the
/// runtime is there; its absence is said on its own).
fn unloadable(op: &str, path: &std::path::Path, have_ort: bool) -> Option<String> {
    let r = if op == "transcribe" {
        vx_infer::transcribe::ModelFile::check(path).map(drop)
    } else if have_ort {
        vx_infer::runtime::session(path, vx_infer::runtime::SessionOptions { threads: 1 }).map(drop)
    } else {
        Ok(())
    };
    r.err().map(|e| e.to_string())
}
