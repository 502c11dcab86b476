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
