//! What `vx serve` may hand out, decided before any file is opened: a path inside one input's
//! results directory (no `..`, no absolute path, no symlink leading out), the recorded source
//! of an input, and URLs built from the parts of such paths.
use std::path::{Component, Path, PathBuf};

/// `rel` (as decoded from the URL) inside `root`: every component a plain name, and the file
/// it names — symlinks resolved — a regular file that is still inside `root`. `root` is an
/// input's results directory as the index recorded it, every link resolved then: when it
/// resolves to another place now (the directory, or OUTDIR, replaced by a link since), nothing
/// is served from it. None for anything else, so that `..`, `%2e%2e`, `/etc/passwd`, `C:`,
/// and a link pointing out of the directory are all the same "not found".
pub fn resolve_under(root: &Path, rel: &str) -> Option<PathBuf> {
    if rel.is_empty() || rel.contains('\0') || rel.contains('\\') {
        return None;
    }
    let rel_path = Path::new(rel);
    if !rel_path
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    if std::fs::canonicalize(root).ok()? != root {
        return None;
    }
    let full = std::fs::canonicalize(root.join(rel_path)).ok()?;
    (full.starts_with(root) && full.is_file()).then_some(full)
}

/// One URL path segment: unreserved characters as they are, every other byte as `%XX`.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL of a file inside an input's results directory (`/out/<id>/<rel>`), for an absolute
/// `file` under `dir`; None when it is not under it.
pub fn out_url(input_id: &str, dir: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(dir).ok()?;
    let mut url = format!("/out/{}", encode_segment(input_id));
    for c in rel.components() {
        let Component::Normal(name) = c else {
            return None;
        };
        url.push('/');
        url.push_str(&encode_segment(&name.to_string_lossy()));
    }
    Some(url)
}

/// What a browser plays for an input, from its probe record: `video`, `audio`, `image`
/// (a still picture, which image2 and the `*_pipe` demuxers read), or None.
pub fn media_type(probe: &serde_json::Value) -> Option<&'static str> {
    let streams = probe["streams"].as_array()?;
    // Cover art is not a video: an MP3 with one plays as audio.
    let has = |t: &str| {
        streams
            .iter()
            .any(|s| s["type"].as_str() == Some(t) && s["attached_pic"] != true)
    };
    let container = probe["container"].as_str().unwrap_or_default();
    if has("video") {
        if container == "image2" || container.ends_with("_pipe") {
            return Some("image");
        }
        return Some("video");
    }
    has("audio").then_some("audio")
}

/// The displayed size of the first video stream (width and height swapped for a quarter
/// turn), the space that boxes of detections and text lines are in.
pub fn display_size(probe: &serde_json::Value) -> Option<(u64, u64)> {
    let s = probe["streams"]
        .as_array()?
        .iter()
        .find(|s| s["type"].as_str() == Some("video"))?;
    let (w, h) = (s["width"].as_u64()?, s["height"].as_u64()?);
    let turn = s["rotation"].as_i64().unwrap_or(0).rem_euclid(180) == 90;
    Some(if turn { (h, w) } else { (w, h) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_inside_the_root() {
        let d = std::env::temp_dir().join(format!("vx-serve-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let d = std::fs::canonicalize(&d).unwrap();
        let out = d.join("out");
        std::fs::create_dir_all(out.join("sub")).unwrap();
        std::fs::write(out.join("sub/a.jpg"), b"x").unwrap();
        std::fs::write(d.join("secret.txt"), b"s").unwrap();
        std::os::unix::fs::symlink(d.join("secret.txt"), out.join("link.jpg")).unwrap();
        std::os::unix::fs::symlink(out.join("sub/a.jpg"), out.join("inner.jpg")).unwrap();
        assert!(resolve_under(&out, "sub/a.jpg").is_some());
        // A link that stays inside is followed; one that leads out is not.
        assert!(resolve_under(&out, "inner.jpg").is_some());
        assert!(resolve_under(&out, "link.jpg").is_none());
        for bad in [
            "../secret.txt",
            "sub/../../secret.txt",
            "/etc/passwd",
            "./sub/a.jpg",
            "sub",
            "",
            "sub\\..\\a.jpg",
            "a\0b",
            "missing.jpg",
        ] {
            assert!(resolve_under(&out, bad).is_none(), "{bad:?}");
        }
        // The directory recorded, replaced by a link to another one since: nothing from it.
        std::fs::create_dir_all(d.join("elsewhere")).unwrap();
        std::fs::write(d.join("elsewhere/secret.txt"), b"s").unwrap();
        std::fs::rename(&out, d.join("out.real")).unwrap();
        std::os::unix::fs::symlink(d.join("elsewhere"), &out).unwrap();
        assert!(resolve_under(&out, "secret.txt").is_none());
        assert!(resolve_under(&d.join("elsewhere"), "secret.txt").is_some());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn urls_encode_each_segment() {
        assert_eq!(encode_segment("a b/c%é"), "a%20b%2Fc%25%C3%A9");
        assert_eq!(
            out_url("x y", Path::new("/r/x"), Path::new("/r/x/k/kf 1.jpg")).as_deref(),
            Some("/out/x%20y/k/kf%201.jpg")
        );
        assert_eq!(out_url("x", Path::new("/r/x"), Path::new("/r/y.jpg")), None);
    }

    #[test]
    fn media_types_and_sizes_from_the_probe() {
        let v: serde_json::Value = serde_json::json!({"container": "mov,mp4,m4a,3gp,3g2,mj2",
            "streams": [{"type": "video", "width": 640, "height": 360, "rotation": 90},
                        {"type": "audio"}]});
        assert_eq!(media_type(&v), Some("video"));
        assert_eq!(display_size(&v), Some((360, 640)));
        let a = serde_json::json!({"container": "wav", "streams": [{"type": "audio"}]});
        assert_eq!(media_type(&a), Some("audio"));
        assert_eq!(display_size(&a), None);
        let cover = serde_json::json!({"container": "mp3", "streams": [
            {"type": "audio"}, {"type": "video", "attached_pic": true, "width": 600, "height": 600}]});
        assert_eq!(media_type(&cover), Some("audio"));
        let i = serde_json::json!({"container": "png_pipe",
            "streams": [{"type": "video", "width": 4, "height": 3, "rotation": -90}]});
        assert_eq!(media_type(&i), Some("image"));
        assert_eq!(display_size(&i), Some((3, 4)));
        assert_eq!(media_type(&serde_json::json!({})), None);
    }
}
