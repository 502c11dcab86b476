//! Link options of the `vx` binary (measured in BENCHMARKS.md, "One binary").
//!
//! `vx` carries FFmpeg, whisper.cpp and the rest linked in statically: tens of thousands of
//! absolute pointers in tables (codec lists, option tables, vtables). As a position-
//! independent executable each one is a run-time relocation that the loader reads and writes
//! at start: ~1.6 MB of relocation records plus every page of those tables made private, in
//! every process, before `main` — what `vx stream send` would pay. Linked at a fixed address
//! (`-no-pie`; the code itself is still position-independent), the tables are final in the
//! file and only the pages a command reads are loaded.
//!
//! The C++ runtime that whisper.cpp needs is linked in statically too: a directory holding
//! only GCC's `libstdc++.a` is searched first, so the `-lstdc++` of whisper-rs-sys finds the
//! archive (the shared libstdc++ costs ~1 MiB of every process's memory). ONNX Runtime,
//! loaded at run time, brings its own shared libstdc++; the two never share objects.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let archive = Command::new(std::env::var("CXX").unwrap_or_else(|_| "g++".into()))
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
        println!("cargo:warning=libstdc++.a not found: vx links the shared C++ runtime");
    }
}
