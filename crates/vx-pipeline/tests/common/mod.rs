//! Helpers shared by the pipeline's integration tests.
use std::path::{Path, PathBuf};

/// A file of ../shared/assets (or `$VX_ASSETS_DIR`), which must exist.
pub fn need(rel: &str) -> PathBuf {
    let base = std::env::var_os("VX_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/assets"));
    let p = base.join(rel);
    assert!(p.exists(), "missing test asset {}", p.display());
    p
}
