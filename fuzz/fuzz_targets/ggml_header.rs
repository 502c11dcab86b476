//! The whisper.cpp model validator (vx_infer::ggml) on arbitrary bytes: it must return an
//! error or a summary, never panic, and never allocate from a declared size.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vx_infer::ggml::validate_bytes(data);
});
