//! `vx`: every vx command, in one binary with a minimal FFmpeg linked in statically
//! (scripts/build-ffmpeg, docs/FFMPEG.md).
//!
//! A thin shell: the clap definitions (cli.rs, args.rs), this file's dispatch, and in
//! `commands.rs` and its siblings one short function
//! per command that builds a plan for the engine (vx-pipeline), runs it and prints the
//! operation's report. Exit codes: 0 success, 1 processing error, 2 usage error, 3 the input
//! has no stream of the kind the command needs (no audio stream, no video stream).
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use vx_cli::{one_line, stream};

mod args;
mod cli;
mod commands;
mod info;
mod inputs;
mod mcp;
mod progress;
mod run;
mod search;
mod transcribe;
mod video;

pub(crate) use args::*;
pub(crate) use cli::{Cli, Command, ModelsCmd};

/// `vx stream ...` parsed alone: building clap's tree of every command costs ~0.4 MiB of
/// resident memory (its code and strings are paged in), which the streamer, meant to run in
/// a few MiB, need not pay. Help, version and anything this parser refuses go to [`Cli`].
#[derive(Parser)]
#[command(name = "vx")]
struct StreamOnly {
    #[arg(short, long, global = true)]
    verbose: bool,
    #[arg(short, long, global = true)]
    quiet: bool,
    /// The global thread budget: accepted for a uniform command line, not used by the
    /// streamer (one sending or receiving thread).
    #[arg(long, global = true, default_value_t = 0)]
    #[allow(dead_code)]
    threads: usize,
    #[command(subcommand)]
    command: StreamOnlyCmd,
}

#[derive(Subcommand)]
enum StreamOnlyCmd {
    Stream {
        #[command(subcommand)]
        cmd: stream::StreamCmd,
    },
}

fn stream_only() -> Option<StreamOnly> {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // The first word that is not a global flag (`--threads N` included: without it here, the
    // full parser took the line and read the stream's own --duration as the media option).
    let mut words = args.iter();
    let first = loop {
        match words.next()?.as_str() {
            "-q" | "--quiet" | "-v" | "--verbose" => {}
            "--threads" => {
                words.next();
            }
            w if w.starts_with("--threads=") => {}
            w => break w,
        }
    };
    let help = args
        .iter()
        .any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version" | "help"));
    if first != "stream" || help {
        return None;
    }
    StreamOnly::try_parse().ok()
}

fn main() -> ExitCode {
    vx_cli::default_sigpipe();
    if let Some(cli) = stream_only() {
        vx_media::init(if cli.verbose {
            vx_media::FfmpegLog::Warnings
        } else {
            vx_media::FfmpegLog::Quiet
        });
        let StreamOnlyCmd::Stream { cmd } = cli.command;
        return match stream::run(cmd, cli.quiet, &commands::Ffmpeg) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                vx_cli::say!("vx: error: {}", one_line(&e));
                if e.downcast_ref::<vx_cli::UsageError>().is_some() {
                    ExitCode::from(2)
                } else {
                    ExitCode::from(1)
                }
            }
        };
    }
    // clap's own errors get the "vx: " prefix every other message has (exit 2); help and
    // version go to stdout as usual.
    // `--version`: the versions of what vx is built on, one line each (`-V`: vx's alone).
    let mut cmd = <Cli as clap::CommandFactory>::command();
    if std::env::args_os().any(|a| a == "--version") {
        cmd = cmd.long_version(&*Box::leak(info::versions().into_boxed_str()));
    }
    let parsed = cmd
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            vx_cli::say_part!("vx: error: {text}");
            return ExitCode::from(2);
        }
    };
    commands::choose_streams(cli.video_stream, cli.audio_stream);
    let start = cli.start.unwrap_or(0.0);
    let end = cli.end.or(cli.duration.map(|d| start + d));
    let bad = |v: Option<f64>| v.is_some_and(|v| !(v.is_finite() && v >= 0.0));
    if bad(cli.start) || bad(cli.end) || bad(cli.duration) || end.is_some_and(|e| e <= start) {
        vx_cli::say!(
            "vx: error: --start, --end and --duration are seconds >= 0, with the end after the start"
        );
        return ExitCode::from(2);
    }
    if cli.start.is_some() || end.is_some() {
        commands::choose_range(start, end);
    }
    vx_media::init(if cli.verbose {
        vx_media::FfmpegLog::Warnings
    } else {
        vx_media::FfmpegLog::Quiet
    });
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            vx_cli::say!("vx: error: {}", one_line(&e));
            if e.downcast_ref::<commands::UsageError>().is_some() {
                ExitCode::from(2)
            } else if e.downcast_ref::<commands::NoStreamError>().is_some() {
                ExitCode::from(3)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn run(mut cli: Cli) -> Result<ExitCode> {
    let (quiet, threads) = (cli.quiet, cli.threads);
    // Folders where files are accepted: the files inside them, as `vx run` finds them.
    // What the command writes into is never taken as input (a second run over `vids/` with
    // `-o vids/kf` must not read the first run's images).
    let listed = match &mut cli.command {
        Command::Probe { files, .. } => Some((files, Vec::new())),
        Command::Keyframes { files, out, .. } | Command::Audio { files, out, .. } => {
            Some((files, vec![out.clone()]))
        }
        Command::Transcribe { files, out, .. }
        | Command::Vad { files, out, .. }
        | Command::EmbedAudio { files, out, .. }
        | Command::Scenes { files, out, .. }
        | Command::Subtitles { files, out, .. } => Some((files, out.iter().cloned().collect())),
        Command::Detect(a) | Command::Faces(a) => Some((
            &mut a.inputs,
            a.annotate.iter().chain(&a.blur).cloned().collect(),
        )),
        Command::Ocr(a) => Some((&mut a.inputs, a.annotate.iter().cloned().collect())),
        _ => None,
    };
    if let Some((list, outputs)) = listed {
        inputs::expand_folders(list, &outputs, quiet)?;
    }
    match &mut cli.command {
        Command::Detect(a) | Command::Faces(a) => a.threads = threads,
        Command::Ocr(a) => a.threads = threads,
        Command::Run(a) => a.threads = threads,
        _ => {}
    }
    let media_options = cli.start.is_some()
        || cli.end.is_some()
        || cli.duration.is_some()
        || cli.video_stream.is_some()
        || cli.audio_stream.is_some();
    let decodes = matches!(
        cli.command,
        Command::Keyframes { .. }
            | Command::Audio { .. }
            | Command::Scenes { .. }
            | Command::Subtitles { .. }
            | Command::Transcribe { .. }
            | Command::Vad { .. }
            | Command::EmbedAudio { .. }
            | Command::Detect(_)
            | Command::Faces(_)
            | Command::Ocr(_)
            | Command::Run(_)
            | Command::Stream { .. }
    );
    if media_options && !decodes {
        // Accepted and ignored they would mislead (`vx search INDEX q --start 5` still gave
        // hits at 0.1 s).
        return Err(commands::usage(
            "--start, --end, --duration, --video-stream and --audio-stream apply to the commands \
             that decode media (keyframes, audio, scenes, subtitles, transcribe, vad, embed-audio, \
             detect, faces, ocr, run), not to this one",
        ));
    }
    match cli.command {
        Command::Probe { files, pretty } => commands::probe(&files, pretty),
        Command::Models { cmd } => info::models(cmd, quiet),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "vx", &mut out);
            use std::io::Write;
            std::io::stdout().write_all(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { json } => info::doctor(json),
        Command::Setup { force } => info::setup(force, quiet),
        Command::Man { command, dir } => info::man(command.as_deref(), dir.as_deref(), quiet),
        Command::Audio {
            files,
            out,
            rate,
            channels,
            format,
        } => inputs::each_input(&files, Some(&out), "wav", |f, o| {
            let o = o.unwrap_or(out.as_path());
            commands::audio(f, o, rate, channels, format, quiet)
        }),
        Command::Vad {
            files,
            model,
            threshold,
            out,
        } => {
            let model = commands::model_for("vad", model.as_deref(), "--model PATH")?;
            inputs::each_input(&files, out.as_deref(), "json", |f, o| {
                commands::vad(f, &model, threshold, o, threads, quiet)
            })
        }
        Command::EmbedAudio {
            files,
            model,
            out,
            npy,
        } => {
            let model = commands::model_for("embed-audio", model.as_deref(), "--model PATH")?;
            let several = inputs::several(&files);
            // `--npy` takes an optional name: one that is not an .npy file is an input it
            // swallowed (`--npy a.wav b.wav` overwrote a.wav with vectors).
            if let Some(Some(n)) = &npy {
                if !n.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
                    return Err(commands::usage(format!(
                        "--npy {}: not an .npy name (to write NAME.npy beside each JSON, put --npy last or after -o)",
                        n.display()
                    )));
                }
            }
            if several && matches!(npy, Some(Some(_))) {
                return Err(commands::usage(
                    "--npy with several inputs takes no name: each NAME.npy goes beside its NAME.json",
                ));
            }
            inputs::each_input(&files, out.as_deref(), "json", |f, o| {
                commands::embed_audio(
                    f,
                    &model,
                    o,
                    npy.as_ref().map(Option::as_deref),
                    threads,
                    quiet,
                )
            })
        }
        Command::Scenes {
            files,
            detector,
            threshold,
            min_scene_len,
            model,
            csv,
            out,
        } => {
            let ext = if csv { "csv" } else { "json" };
            inputs::each_input(&files, out.as_deref(), ext, |f, o| {
                let d = video::SceneArgs {
                    detector,
                    threshold,
                    min_scene_len,
                    model: &model,
                    csv,
                    threads,
                };
                video::scenes(f, &d, o, quiet)
            })
        }
        Command::Subtitles { list: true, .. } if media_options => Err(commands::usage(
            "--list describes the streams of whole files: --start, --end, --duration, \
             --video-stream and --audio-stream do not apply",
        )),
        Command::Subtitles {
            files, list, out, ..
        } if list => video::subtitle_tracks(&files, out.as_deref()),
        Command::Subtitles {
            files,
            stream,
            format,
            out,
            ..
        } => inputs::each_input(&files, out.as_deref(), format.ext(), |f, o| {
            video::subtitles(f, stream, format, o)
        }),
        Command::Transcribe {
            files,
            model,
            format,
            out,
            language,
            no_vad,
            full_context,
            vad_model,
            prompt,
            beam_size,
            temperature,
            no_fallback,
            words,
            translate,
            stream_output,
            debug,
        } => {
            let ext = format.first().map_or("json", |f| f.ext());
            let model = commands::model_for("transcribe", model.as_deref(), "--model PATH")?;
            inputs::each_input(&files, out.as_deref(), ext, |f, o| {
                transcribe::transcribe(
                    f,
                    &model,
                    &format,
                    o,
                    transcribe::TranscribeFlags {
                        language: language.clone(),
                        threads,
                        no_vad,
                        full_context,
                        vad_model: vad_model.clone(),
                        prompt: prompt.clone(),
                        beam_size: beam_size.into(),
                        temperature,
                        fallback: !no_fallback,
                        words,
                        translate,
                        stream_output,
                        debug,
                    },
                    quiet,
                )
            })
        }
        Command::Detect(a) => commands::detect(&a, a.family.map(Into::into), "detect", quiet),
        Command::Ocr(a) => video::ocr(&a, quiet),
        Command::Mcp { index, text_model } => mcp::serve(&index, text_model.as_deref()),
        Command::Serve {
            index,
            listen,
            text_model,
        } => search::serve(&index, listen, text_model.as_deref(), quiet),
        Command::Index {
            outdir,
            index,
            text_model,
            no_embed,
        } => search::index(
            &outdir,
            index.as_deref(),
            text_model.as_deref(),
            no_embed,
            quiet,
        ),
        Command::Search {
            index,
            query,
            queries,
            k,
            kind,
            json,
            text_model,
        } => search::search(
            &index,
            query.as_deref(),
            queries.as_deref(),
            k,
            kind.map(Into::into),
            json,
            text_model.as_deref(),
        ),
        Command::EmbedText {
            texts,
            file,
            model,
            tokenizer,
            out,
            npy,
        } => video::embed_text(
            &texts,
            file.as_deref(),
            model.as_deref(),
            tokenizer.as_deref(),
            out.as_deref(),
            npy.as_deref(),
            threads,
            quiet,
        ),
        Command::Faces(a) => commands::detect(
            &a,
            Some(
                a.family
                    .map_or(vx_infer::detect::Family::CenterFace, Into::into),
            ),
            "faces",
            quiet,
        ),
        Command::Stream { .. } if media_options => Err(commands::usage(
            "vx stream sends a whole file's first video stream: --start, --end, --duration, \
             --video-stream and --audio-stream do not apply",
        )),
        Command::Stream { cmd } => {
            stream::run(cmd, quiet, &commands::Ffmpeg).map(|_| ExitCode::SUCCESS)
        }
        Command::Run(a) => run::run(&a, quiet),
        Command::Keyframes {
            files,
            out,
            quality,
            max,
            min_interval,
            dedup,
            max_side,
            every,
            at,
            per_scene,
            sheet,
            format,
            detect,
            threshold,
        } => {
            let at: Option<&'static [f64]> = match at {
                Some(mut t) => {
                    if t.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
                        vx_cli::say!("vx: error: --at takes times in seconds >= 0");
                        return Ok(ExitCode::from(2));
                    }
                    t.sort_by(f64::total_cmp);
                    // Kept for the whole process: the engine's selection refers to it.
                    Some(&*Box::leak(t.into_boxed_slice()))
                }
                None => None,
            };
            let opts = vx_pipeline::ops::keyframes::KeyframeOptions {
                quality,
                max,
                min_interval,
                dedup,
                max_side,
                every,
                at,
                sheet,
                format: match format {
                    Format::Jpg => vx_image::jpeg::ImageFormat::Jpeg,
                    Format::Png => vx_image::jpeg::ImageFormat::Png,
                },
                workers: 1,
            };
            // One directory per input when there are several (each_input's "" extension).
            inputs::each_input(&files, Some(&out), "", |file, dir| {
                commands::keyframes(
                    file,
                    dir.unwrap_or(&out),
                    opts.clone(),
                    threads,
                    per_scene,
                    detect.as_deref().map(|m| (m, threshold)),
                    quiet,
                )
            })
        }
    }
}
