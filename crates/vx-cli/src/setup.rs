//! `vx setup`: fetch the ONNX Runtime library vx loads at run time, the way scripts/setup
//! does, for an installed vx that has no source tree: the official `onnxruntime` wheel from
//! PyPI (pinned version, one file per CPU architecture, SHA-256 checked before anything is
//! read from it), its `onnxruntime/capi/libonnxruntime.so.*` extracted into
//! `$VX_HOME/onnxruntime/` (see [`vx_infer::runtime::setup_dir`]) with the
//! `libonnxruntime.so` link vx looks for. `$VX_ORT_MIRROR` replaces the base URL (same file
//! name), as `$VX_MODEL_MIRROR` does for models.
use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// The ONNX Runtime release vx is built and tested against.
pub const ORT_VERSION: &str = "1.32.0";

/// One official wheel: the one pip picks for CPython 3.11 on that architecture (the library
/// inside is the same for every Python version).
pub struct Wheel {
    pub arch: &'static str,
    pub file: &'static str,
    pub url: &'static str,
    pub sha256: &'static str,
}

/// From PyPI's simple index for onnxruntime 1.32.0 (files.pythonhosted.org, with the digests
/// PyPI publishes).
pub const WHEELS: &[Wheel] = &[
    Wheel {
        arch: "x86_64",
        file: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        url: "https://files.pythonhosted.org/packages/1d/46/e6f356c9539d2eed44126de3421a81e217da2ad91b22dc11b379cb1e384f/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        sha256: "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d",
    },
    Wheel {
        arch: "aarch64",
        file: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl",
        url: "https://files.pythonhosted.org/packages/b7/30/103820b32e9dc1d1fcfc5b519fd2de5bd699d25a25895caf5d726350d1b5/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl",
        sha256: "2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c",
    },
];

/// About the size of the wheels (27.8 MB for x86_64), for progress without a Content-Length.
const WHEEL_BYTES: u64 = 28 << 20;

/// A wheel is a few tens of MB; more than this is not the wheel.
const MAX_WHEEL: u64 = 256 << 20;

/// The most a zip member may inflate to (the library is about 20 MB).
const MAX_MEMBER: usize = 512 << 20;

/// The wheel for this machine's architecture.
pub fn wheel() -> Result<&'static Wheel> {
    let arch = std::env::consts::ARCH;
    if std::env::consts::OS != "linux" {
        bail!(
            "vx setup fetches ONNX Runtime for Linux only; on {} set ORT_DYLIB_PATH to an ONNX Runtime {ORT_VERSION} library",
            std::env::consts::OS
        );
    }
    WHEELS.iter().find(|w| w.arch == arch).ok_or_else(|| {
        anyhow::anyhow!(
            "no ONNX Runtime wheel known for {arch}; set ORT_DYLIB_PATH to an ONNX Runtime {ORT_VERSION} library"
        )
    })
}

/// What [`install`] did.
pub struct Installed {
    pub library: PathBuf,
    /// False when the library was there already (nothing fetched).
    pub fetched: bool,
}

/// Fetch and install the library unless it is there already (or `force`).
/// `progress(done, total)` is called as bytes arrive.
pub fn install(force: bool, mut progress: impl FnMut(u64, u64)) -> Result<Installed> {
    let w = wheel()?;
    let dir = vx_infer::runtime::setup_dir().ok_or_else(|| {
        anyhow::anyhow!("no place for ONNX Runtime: set VX_HOME (or HOME) to a directory")
    })?;
    let lib = dir.join(format!("libonnxruntime.so.{ORT_VERSION}"));
    let link = dir.join(vx_infer::runtime::LIBRARY);
    if !force && lib.is_file() && link.exists() {
        return Ok(Installed {
            library: lib,
            fetched: false,
        });
    }
    let url = match std::env::var("VX_ORT_MIRROR")
        .ok()
        .filter(|m| !m.is_empty())
    {
        Some(base) => format!("{}/{}", base.trim_end_matches('/'), w.file),
        None => w.url.to_string(),
    };
    let mut data = Vec::new();
    let sum = crate::models::download(
        &url,
        MAX_WHEEL,
        WHEEL_BYTES,
        |chunk| {
            data.extend_from_slice(chunk);
            Ok(())
        },
        &mut progress,
    )?;
    if sum != w.sha256 {
        bail!(
            "{url}: checksum mismatch (sha256 {sum}, expected {}); nothing kept",
            w.sha256
        );
    }
    // The checksum is PyPI's: from here on the bytes are the official wheel.
    let (name, so) = zip_member(&data, "onnxruntime/capi/libonnxruntime.so")
        .with_context(|| format!("{}: not the expected wheel", w.file))?;
    if !name.ends_with(ORT_VERSION) {
        bail!("{}: holds {name}, not ONNX Runtime {ORT_VERSION}", w.file);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    vx_image::fsutil::write_atomic(&lib, &so)
        .with_context(|| format!("cannot write {}", lib.display()))?;
    // The link vx looks for, replaced in one rename.
    let tmp = dir.join(format!(
        ".{}.{}",
        vx_infer::runtime::LIBRARY,
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    let made = std::os::unix::fs::symlink(lib.file_name().unwrap_or_default(), &tmp);
    #[cfg(not(unix))]
    let made = std::fs::copy(&lib, &tmp).map(|_| ());
    made.and_then(|()| std::fs::rename(&tmp, &link))
        .with_context(|| format!("cannot link {}", link.display()))?;
    Ok(Installed {
        library: lib,
        fetched: true,
    })
}

/// The first member of a zip archive whose name starts with `prefix`: its name and bytes
/// (stored or deflated; sizes and CRC-32 checked). For archives whose checksum was verified
/// first: no ZIP64, no encryption, no multi-disk archives.
pub fn zip_member(zip: &[u8], prefix: &str) -> Result<(String, Vec<u8>)> {
    let bytes = |i: usize, n: usize| -> Result<&[u8]> {
        zip.get(i..)
            .and_then(|s| s.get(..n))
            .ok_or_else(|| anyhow::anyhow!("truncated zip"))
    };
    let u16_at = |i: usize| -> Result<usize> {
        bytes(i, 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |i: usize| -> Result<u32> {
        bytes(i, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    // The end of central directory record: in the last 64 KiB + 22 bytes.
    let from = zip.len().saturating_sub(22 + 0xFFFF);
    let eocd = (from..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| zip[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| anyhow::anyhow!("no zip directory"))?;
    let entries = u16_at(eocd + 10)?;
    let mut at = u32_at(eocd + 16)? as usize;
    for _ in 0..entries {
        if u32_at(at)? != 0x0201_4b50 {
            bail!("damaged zip directory");
        }
        let method = u16_at(at + 10)?;
        let crc = u32_at(at + 16)?;
        let packed = u32_at(at + 20)? as usize;
        let size = u32_at(at + 24)? as usize;
        let (n, extra, comment) = (u16_at(at + 28)?, u16_at(at + 30)?, u16_at(at + 32)?);
        let local = u32_at(at + 42)? as usize;
        let name = String::from_utf8_lossy(bytes(at.saturating_add(46), n)?).into_owned();
        at = at.saturating_add(46 + n + extra + comment);
        if !name.starts_with(prefix) {
            continue;
        }
        if u32_at(local)? != 0x0403_4b50 {
            bail!("{name}: damaged zip entry");
        }
        if size > MAX_MEMBER {
            bail!("{name}: {size} bytes inflated: more than a library");
        }
        let start = local
            .saturating_add(30)
            .saturating_add(u16_at(local.saturating_add(26))?)
            .saturating_add(u16_at(local.saturating_add(28))?);
        let raw =
            bytes(start, packed).map_err(|_| anyhow::anyhow!("{name}: truncated zip entry"))?;
        let data = match method {
            0 => raw.to_vec(),
            8 => {
                let mut out = Vec::with_capacity(size.min(64 << 20));
                flate2::read::DeflateDecoder::new(raw)
                    .take(size as u64 + 1)
                    .read_to_end(&mut out)
                    .with_context(|| format!("{name}: cannot inflate"))?;
                out
            }
            m => bail!("{name}: compression method {m} not supported"),
        };
        let mut c = flate2::Crc::new();
        c.update(&data);
        if data.len() != size || c.sum() != crc {
            bail!("{name}: size or CRC-32 does not match the zip directory");
        }
        return Ok((name, data));
    }
    bail!("no {prefix}* in the archive")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip made by Python's zipfile (one stored, one deflated member), read back.
    #[test]
    fn reads_stored_and_deflated_members() {
        let dir = std::env::temp_dir().join(format!("vx-zip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let z = dir.join("t.zip");
        let ok = std::process::Command::new("python3")
            .args([
                "-c",
                "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w'); \
                 z.writestr('a/stored.txt', b'plain', compress_type=zipfile.ZIP_STORED); \
                 z.writestr('b/lib.so.1', b'x'*100000 + bytes(range(256)), compress_type=zipfile.ZIP_DEFLATED); z.close()",
            ])
            .arg(&z)
            .status()
            .unwrap();
        assert!(ok.success());
        let data = std::fs::read(&z).unwrap();
        let (n, b) = zip_member(&data, "b/lib.so").unwrap();
        assert_eq!(n, "b/lib.so.1");
        assert_eq!(b.len(), 100_256);
        assert_eq!(&b[100_000..100_003], &[0, 1, 2]);
        assert_eq!(zip_member(&data, "a/").unwrap().1, b"plain");
        assert!(zip_member(&data, "c/").is_err());
        // Damage anywhere gives an error, never a panic.
        for cut in [0, 10, data.len() / 2, data.len() - 30, data.len() - 1] {
            assert!(zip_member(&data[..cut], "b/lib.so").is_err());
        }
        let mut bad = data.clone();
        let i = bad.len() / 3;
        bad[i] ^= 0xff;
        assert!(zip_member(&bad, "b/lib.so").is_err());
        // Every byte of the directory and the end record damaged in turn (0xff: offsets and
        // sizes near 2^32), and every 4-byte field set to 0xffffffff: an error or the right
        // bytes, never a panic or a huge allocation.
        let dir_start = data
            .windows(4)
            .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
            .unwrap();
        for i in dir_start..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0xff;
            if let Ok((_, b)) = zip_member(&bad, "b/lib.so") {
                assert_eq!(b.len(), 100_256);
            }
            let mut bad = data.clone();
            let end = (i + 4).min(data.len());
            bad[i..end].fill(0xff);
            if let Ok((_, b)) = zip_member(&bad, "b/lib.so") {
                assert_eq!(b.len(), 100_256);
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
