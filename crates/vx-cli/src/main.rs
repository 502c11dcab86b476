//! `vx`: turn video and audio into what AI search and agents need.
//!
//! This binary is deliberately small: it does not link FFmpeg, so `vx stream send/recv` with a
//! test pattern or JPEG files runs in a few MiB of memory. Every other command (and streaming
//! from a video file or into Matroska) is handed to `vx-full`, installed beside it, which has
//! the FFmpeg libraries; it replaces this process (exec), so nothing runs twice.
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};
use vx_cli::{one_line, stream};

/// The streaming subset of vx's command line (the full one lives in vx-full).
#[derive(Parser)]
#[command(name = "vx", version)]
struct Light {
    #[arg(short, long, global = true)]
    verbose: bool,
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: LightCmd,
}

#[derive(Subcommand)]
enum LightCmd {
    Stream {
        #[command(subcommand)]
        cmd: stream::StreamCmd,
    },
}

fn main() -> ExitCode {
    vx_cli::default_sigpipe();
    // Arguments as the OS gives them (a file name need not be UTF-8): handed to vx-full as
    // they are; read here only to find `stream` and the help flags.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let global = |a: &str| matches!(a, "-q" | "--quiet" | "-v" | "--verbose");
    let lossy: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let rest: Vec<String> = lossy.iter().filter(|a| !global(a)).cloned().collect();
    let help = lossy
        .iter()
        .any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version" | "help"));
    if rest.first().map(String::as_str) == Some("stream")
        && !help
        && !stream::needs_ffmpeg(&rest[1..])
    {
        let cli = Light::parse();
        let LightCmd::Stream { cmd } = cli.command;
        return match stream::run(cmd, cli.quiet, None) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                vx_cli::say!("vx: error: {}", one_line(&e));
                ExitCode::from(1)
            }
        };
    }
    // vx-full beside this binary (where `cargo install` and the release archive put it), else
    // the first one on PATH (a vx copied or linked elsewhere).
    let beside = std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name("vx-full"))
        .filter(|p| p.is_file());
    let on_path = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("vx-full"))
                .find(|p| p.is_file())
        })
    };
    let Some(full) = beside.or_else(on_path) else {
        vx_cli::say!(
            "vx: error: vx-full (the part of vx linked with FFmpeg) is neither beside vx nor on PATH: install both (cargo install --path crates/vx-cli)"
        );
        return ExitCode::from(1);
    };
    let err = Command::new(&full).arg0("vx").args(&args).exec();
    vx_cli::say!(
        "vx: error: cannot run {}: {err} (vx-full, the part of vx linked with FFmpeg, is built and installed beside vx: cargo build -p vx-cli)",
        full.display()
    );
    ExitCode::from(1)
}
