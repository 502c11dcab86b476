//! Bad input: one clear line naming the file, exit 1, no panic, no keyframes.json left.
mod common;
use common::*;
use std::path::Path;

fn expect_failure(input: &Path, out: &Path, needle: &str) {
    let o = run_vx(&[
        "keyframes",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    // A missing stream is exit 3 (not damage), a folder without files a usage error (2: a
    // folder stands for the files in it), everything else 1.
    let code = if needle.starts_with("no video stream") {
        3
    } else if needle.starts_with("no file in this folder") {
        2
    } else {
        1
    };
    assert_eq!(o.status.code(), Some(code), "{}: {err}", input.display());
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    let name = input.file_name().unwrap().to_str().unwrap();
    assert!(
        lines[0].starts_with("vx: error: ") && lines[0].contains(name),
        "{err}"
    );
    assert!(lines[0].contains(needle), "expected '{needle}' in: {err}");
    assert!(!err.contains("panicked"));
    assert!(!out.join("keyframes.json").exists());
    if out.exists() {
        let left: Vec<_> = std::fs::read_dir(out).unwrap().collect();
        assert!(left.is_empty(), "files left behind: {left:?}");
    }
}

fn good_clip(d: &TempDir, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let p = d.path(name);
    let mut a = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-g",
        "25",
    ];
    a.extend_from_slice(extra);
    a.push(p.to_str().unwrap());
    ffmpeg(&a);
    p
}

#[test]
fn empty_random_text_missing_directory() {
    let d = TempDir::new("bad-basic");
    let empty = d.path("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    expect_failure(&empty, &d.path("o1"), "empty");

    // Deterministic pseudo-random bytes.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let bytes: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let random = d.path("random.mp4");
    std::fs::write(&random, &bytes).unwrap();
    expect_failure(&random, &d.path("o2"), "not a media file");

    for name in ["notes.txt", "notes.mp4"] {
        let text = d.path(name);
        std::fs::write(
            &text,
            "Meeting notes\nNothing to see here, just text.\n".repeat(50),
        )
        .unwrap();
        expect_failure(&text, &d.path(&format!("o-{name}")), "not a media file");
    }

    expect_failure(&d.path("missing.mp4"), &d.path("o4"), "No such file");
    let dir = d.path("adir.mp4");
    std::fs::create_dir_all(&dir).unwrap();
    expect_failure(&dir, &d.path("o5"), "no file in this folder");
}

#[test]
fn truncated_without_index_and_header_only() {
    let d = TempDir::new("bad-trunc");
    // moov at the end: cutting the file loses the index -> nothing can be read.
    let clip = good_clip(&d, "a.mp4", &[]);
    let bytes = std::fs::read(&clip).unwrap();
    let cut = d.path("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    expect_failure(&cut, &d.path("o1"), "not a media file");

    // moov first, but only the header survives: no frame.
    let fs = good_clip(&d, "fs.mp4", &["-movflags", "+faststart"]);
    let bytes = std::fs::read(&fs).unwrap();
    let header = d.path("header.mp4");
    std::fs::write(&header, &bytes[..3000]).unwrap();
    expect_failure(&header, &d.path("o2"), "truncated");
}

#[test]
fn truncated_with_frames_is_marked_incomplete() {
    let d = TempDir::new("bad-partial");
    let fs = good_clip(&d, "fs.mp4", &["-movflags", "+faststart"]);
    let bytes = std::fs::read(&fs).unwrap();
    let part = d.path("part.mp4");
    std::fs::write(&part, &bytes[..bytes.len() * 2 / 5]).unwrap();
    let out = d.path("o");
    let o = run_vx(&[
        "keyframes",
        "-q",
        part.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning") && stderr(&o).contains("truncated"),
        "{}",
        stderr(&o)
    );
    let j = read_json(&out.join("keyframes.json"));
    assert_eq!(j["complete"], false);
    assert!(!j["warnings"].as_array().unwrap().is_empty());
    let n = j["keyframes"].as_array().unwrap().len();
    assert!((1..4).contains(&n), "{n} keyframes");
    // Every listed image exists and decodes.
    for k in j["keyframes"].as_array().unwrap() {
        assert!(!decode_rgb(&out.join(k["path"].as_str().unwrap())).is_empty());
    }

    // Matroska cut in the middle: no index to compare, the duration check catches it.
    let mkv = good_clip(&d, "a.mkv", &[]);
    let bytes = std::fs::read(&mkv).unwrap();
    let part = d.path("part.mkv");
    std::fs::write(&part, &bytes[..bytes.len() / 3]).unwrap();
    let out = d.path("o-mkv");
    let o = run_vx(&[
        "keyframes",
        "-q",
        part.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_json(&out.join("keyframes.json"))["complete"], false);
}

#[test]
fn no_video_stream_and_unknown_codec() {
    let d = TempDir::new("bad-codec");
    let audio = d.path("audio.m4a");
    ffmpeg(&["-f", "lavfi", "-i", "sine=d=1", audio.to_str().unwrap()]);
    expect_failure(&audio, &d.path("o1"), "no video stream");

    // An AVI whose fourcc no FFmpeg decoder knows.
    let avi = d.path("a.avi");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-t",
        "0.2",
        "-c:v",
        "mjpeg",
        avi.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&avi).unwrap();
    let mut patched = bytes.clone();
    let mut i = 0;
    while i + 4 <= patched.len() {
        if &patched[i..i + 4] == b"MJPG" {
            patched[i..i + 4].copy_from_slice(b"VXZZ");
        }
        i += 1;
    }
    assert_ne!(patched, bytes);
    let unk = d.path("unknown.avi");
    std::fs::write(&unk, &patched).unwrap();
    expect_failure(
        &unk,
        &d.path("o2"),
        "unsupported codec 'unknown (tag VXZZ)'",
    );
}

#[test]
fn corrupt_payload_does_not_panic() {
    // Flip bytes all over the media data of a valid file: vx either writes what decodes or
    // fails with one line, never panics.
    let d = TempDir::new("bad-corrupt");
    let clip = good_clip(&d, "a.mp4", &["-movflags", "+faststart"]);
    let mut bytes = std::fs::read(&clip).unwrap();
    let start = bytes.len() / 10;
    for i in (start..bytes.len()).step_by(97) {
        bytes[i] ^= 0x5a;
    }
    let bad = d.path("corrupt.mp4");
    std::fs::write(&bad, &bytes).unwrap();
    let out = d.path("o");
    let o = run_vx(&[
        "keyframes",
        "-q",
        bad.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    match o.status.code() {
        Some(0) => {
            let j = read_json(&out.join("keyframes.json"));
            for k in j["keyframes"].as_array().unwrap() {
                assert!(out.join(k["path"].as_str().unwrap()).exists());
            }
        }
        Some(1) => assert_eq!(err.lines().count(), 1, "{err}"),
        other => panic!("exit {other:?}: {err}"),
    }
}
