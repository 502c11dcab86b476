//! Shared helpers of vx-infer's integration tests.
use std::path::PathBuf;

/// A shared test asset (../shared/assets/..., or under `VX_ASSETS_DIR`); panics with a clear
/// message when it is missing.
pub fn need(rel: &str) -> PathBuf {
    let base = std::env::var_os("VX_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/assets")
        });
    let p = base.join(rel);
    assert!(
        p.exists(),
        "missing test asset {}: ../shared/assets or VX_ASSETS_DIR",
        p.display()
    );
    p
}

/// 16-bit PCM samples of a shared WAV file as -1..1 (the shared media are 16 kHz mono).
#[allow(dead_code)] // not every test file reads audio
pub fn wav(rel: &str) -> Vec<f32> {
    let b = std::fs::read(need(rel)).unwrap();
    let at = b.windows(4).position(|w| w == b"data").unwrap() + 8;
    b[at..]
        .chunks_exact(2)
        .map(|s| i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0)
        .collect()
}
