//! Link options of the `vx` binary (measured in BENCHMARKS.md, "One binary"; docs/FFMPEG.md).
//!
//! `vx` carries FFmpeg, whisper.cpp and the rest linked in statically: ~66,000 absolute
//! pointers in tables (codec lists, option tables, vtables), each a run-time relocation of a
//! position-independent executable. Packed relative relocations (`-z pack-relative-relocs`,
//! DT_RELR, glibc 2.36+) shrink their records from 1.6 MB to 22 KB, so the loader reads almost
//! nothing; the tables themselves are still written at start (~1.3 MiB per process).
//! `VX_NO_PIE=1` links at a fixed address instead (`-no-pie`): those pages stay clean too, and
//! `vx stream send` peaks at 7.8 MiB instead of 8.8 MiB, at the price of address-space layout
//! randomisation for the program's own code (FFmpeg's decoders included), which is why it is
//! not the default for a tool that reads untrusted media and network input.
//!
//! The C++ runtime that whisper.cpp needs is linked in statically too: a directory holding
//! only GCC's `libstdc++.a` is searched first, so the `-lstdc++` of whisper-rs-sys finds the
//! archive (the shared libstdc++ costs ~1 MiB of every process's memory). ONNX Runtime,
//! loaded at run time, loads the system's shared libstdc++ for itself; no C++ object or
//! exception crosses between the two.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=VX_NO_PIE");
    println!("cargo:rerun-if-env-changed=CXX");
    if std::env::var_os("VX_NO_PIE").is_some_and(|v| v == "1") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    } else {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    // $CXX may carry arguments ("ccache g++"): its last word is the compiler.
    let cxx = std::env::var("CXX")
        .ok()
        .and_then(|c| c.split_whitespace().last().map(str::to_string))
        .unwrap_or_else(|| "g++".into());
    let archive = Command::new(&cxx)
        .arg("-print-file-name=libstdc++.a")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_absolute() && p.is_file());
    if let Some(archive) = archive {
        let dir = out.join("static-cxx");
        std::fs::create_dir_all(&dir).expect("OUT_DIR");
        let link = dir.join("libstdc++.a");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&archive, &link).expect("symlink in OUT_DIR");
        println!("cargo:rustc-link-search=native={}", dir.display());
    } else {
        println!("cargo:warning={cxx} has no libstdc++.a: vx links the shared C++ runtime");
    }
}
