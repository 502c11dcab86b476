//! Checks which FFmpeg this build links (docs/FFMPEG.md). By default vx links the minimal
//! static FFmpeg that scripts/build-ffmpeg makes; pkg-config finds it through PKG_CONFIG_PATH
//! (.cargo/config.toml). If it is missing, ffmpeg-sys-next would quietly fall back to the
//! system's shared libraries: stop here instead, with what to do, unless the
//! `system-ffmpeg` feature asks for the system's FFmpeg.
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let dirs: Vec<PathBuf> = env::var_os("PKG_CONFIG_PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    // A finished build of scripts/build-ffmpeg: <prefix>/lib/pkgconfig/libavcodec.pc and
    // <prefix>/.done (written last).
    let prefix = dirs.iter().find_map(|d| {
        let prefix = d.join("../..");
        (d.join("libavcodec.pc").is_file() && prefix.join(".done").is_file()).then_some(prefix)
    });
    if env::var_os("CARGO_FEATURE_SYSTEM_FFMPEG").is_some() {
        if let Some(p) = prefix {
            panic!(
                "--features system-ffmpeg, but PKG_CONFIG_PATH finds vx's static FFmpeg ({}): \
                 run `PKG_CONFIG_PATH= cargo build --features system-ffmpeg ...` (or point it at \
                 the FFmpeg to link)",
                p.display()
            );
        }
        return;
    }
    match prefix {
        Some(p) => {
            println!("cargo:rerun-if-changed={}", p.join(".done").display());
        }
        None => {
            for d in &dirs {
                println!("cargo:rerun-if-changed={}", d.display());
            }
            panic!(
                "vx links a minimal static FFmpeg that scripts/build-ffmpeg builds (run \
                 scripts/setup, about 2.5 minutes once); PKG_CONFIG_PATH ({}) has none. To link \
                 the system's shared FFmpeg instead, build with --features system-ffmpeg.",
                env::var("PKG_CONFIG_PATH").unwrap_or_default()
            );
        }
    }
}
