//! One self-contained `vx` (issue #17): FFmpeg is linked in statically (scripts/build-ffmpeg),
//! so the binary needs only the C/C++ runtime, and it decodes every codec the suite uses with
//! the system's FFmpeg libraries made unloadable. Pictures and sound are still checked against
//! the Debian `ffmpeg` CLI as the reference decoder.
mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// Libraries a static vx may need: the C runtime (the C++ runtime is linked in statically,
/// see crates/vx-cli/build.rs).
const RUNTIME: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libgcc_s.so.1",
    "ld-linux-x86-64.so.2",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
];

fn needed(bin: &Path) -> Vec<String> {
    let o = Command::new("readelf")
        .args(["-d", s(bin)])
        .output()
        .expect("readelf (binutils)");
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_string()))
        .collect()
}

#[test]
fn vx_needs_only_the_c_runtime() {
    let libs = needed(Path::new(env!("CARGO_BIN_EXE_vx")));
    assert!(libs.iter().any(|l| l == "libc.so.6"), "{libs:?}");
    if cfg!(feature = "system-ffmpeg") {
        assert!(libs.iter().any(|l| l.starts_with("libavcodec")), "{libs:?}");
        return;
    }
    let extra: Vec<&String> = libs
        .iter()
        .filter(|l| !RUNTIME.contains(&l.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "vx needs more than the C runtime: {extra:?}"
    );
}

/// Run vx in a mount namespace where every system FFmpeg library is /dev/null (a program
/// that loads one fails: "file too short"), with an empty LD_LIBRARY_PATH.
fn vx_without_system_ffmpeg(args: &[&str]) -> Output {
    let hide = r#"
        for f in /usr/lib/x86_64-linux-gnu/libav*.so* /usr/lib/x86_64-linux-gnu/libsw*.so* \
                 /usr/lib/x86_64-linux-gnu/libpostproc.so*; do
            [ -f "$f" ] && [ ! -L "$f" ] && { mount --bind /dev/null "$f" || exit 90; }
        done
        ffprobe -version >/dev/null 2>&1 && exit 91
        exec "$0" "$@""#;
    let o = Command::new("unshare")
        .args(["-rm", "sh", "-c", hide, env!("CARGO_BIN_EXE_vx")])
        .args(args)
        .env("LD_LIBRARY_PATH", "")
        .env("XDG_CACHE_HOME", std::env::temp_dir().join("vx-test-cache"))
        .output()
        .expect("unshare");
    match o.status.code() {
        Some(90) => panic!("cannot hide the system FFmpeg: {}", stderr(&o)),
        Some(91) => panic!("the system FFmpeg is still loadable"),
        _ => o,
    }
}

const SRC: &str = "testsrc2=size=320x240:rate=25";
/// A chirp plus a tone: not periodic, so a wrong resampler or a shift shows.
const SOUND: &str = "aevalsrc=0.4*sin(2*PI*(300+400*t)*t)|0.3*sin(2*PI*523*t):s=48000:d=2";

/// (file name, ffmpeg encoding arguments) for every video codec the suite and the held-out
/// kinds of media use; 1 s, a keyframe every 10 frames.
const VIDEOS: &[(&str, &[&str])] = &[
    ("h264.mp4", &["-c:v", "libx264", "-c:a", "aac"]),
    (
        "hevc.mkv",
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error",
            "-c:a",
            "ac3",
        ],
    ),
    ("vp8.webm", &["-c:v", "libvpx", "-c:a", "libvorbis"]),
    ("vp9.webm", &["-c:v", "libvpx-vp9", "-c:a", "libopus"]),
    (
        "av1.mkv",
        &["-c:v", "libaom-av1", "-cpu-used", "8", "-c:a", "flac"],
    ),
    ("mpeg1.mpg", &["-c:v", "mpeg1video", "-c:a", "mp2"]),
    ("mpeg2.ts", &["-c:v", "mpeg2video", "-c:a", "eac3"]),
    ("mpeg4.avi", &["-c:v", "mpeg4", "-c:a", "libmp3lame"]),
    ("prores.mov", &["-c:v", "prores_ks", "-c:a", "pcm_s24le"]),
    ("mjpeg.avi", &["-c:v", "mjpeg", "-c:a", "pcm_s16le"]),
    (
        "dnxhr.mov",
        &[
            "-c:v",
            "dnxhd",
            "-profile:v",
            "dnxhr_lb",
            "-pix_fmt",
            "yuv422p",
            "-c:a",
            "alac",
        ],
    ),
    ("theora.ogv", &["-c:v", "libtheora", "-c:a", "libvorbis"]),
    ("flv1.flv", &["-c:v", "flv", "-c:a", "libmp3lame"]),
];

#[test]
fn decodes_every_video_codec_without_the_system_ffmpeg() {
    let d = TempDir::new("static-video");
    for (name, codec) in VIDEOS {
        let clip = d.path(name);
        let mut a = vec!["-f", "lavfi", "-i", SRC, "-f", "lavfi", "-i", SOUND];
        a.extend(["-t", "1", "-g", "10"]);
        a.extend(codec.iter());
        a.push(s(&clip));
        ffmpeg(&a);

        let out = d.path(&format!("{name}.kf"));
        let o = vx_without_system_ffmpeg(&[
            "keyframes",
            "-q",
            s(&clip),
            "-o",
            s(&out),
            "--format",
            "png",
        ]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(stderr(&o).is_empty(), "{name}: {}", stderr(&o));
        let json = read_json(&out.join("keyframes.json"));
        assert_eq!(json["complete"], true, "{name}: {json}");
        let kfs = json["keyframes"].as_array().unwrap();
        let got: Vec<i64> = kfs.iter().map(|k| k["pts"].as_i64().unwrap()).collect();
        assert_eq!(
            got,
            ffprobe_key_pts(&clip),
            "{name}: keyframes differ from ffprobe's"
        );
        let reference = reference_key_frames(&clip);
        let frame = 320 * 240 * 3;
        assert_eq!(reference.len(), frame * kfs.len(), "{name}");
        for (i, k) in kfs.iter().enumerate() {
            let rgb = decode_rgb(&out.join(k["path"].as_str().unwrap()));
            let p = psnr(&rgb, &reference[i * frame..(i + 1) * frame]);
            // 32 dB: vx converts every picture through 8-bit YUV 4:2:0 (ProRes and DNxHR are
            // 4:2:2 10-bit), the CLI straight to RGB; the keyframes tests use 30.
            assert!(p >= 32.0, "{name} keyframe {i}: PSNR {p:.1} dB");
        }

        // Its sound, against the ffmpeg CLI's.
        check_audio(&d, &clip, name);
    }
}

/// (file name, ffmpeg encoding arguments) for every audio codec.
const AUDIOS: &[(&str, &[&str])] = &[
    ("aac.m4a", &["-c:a", "aac"]),
    ("mp3.mp3", &["-c:a", "libmp3lame"]),
    ("opus.ogg", &["-c:a", "libopus"]),
    ("vorbis.ogg", &["-c:a", "libvorbis"]),
    ("flac.flac", &["-c:a", "flac"]),
    ("ac3.ac3", &["-c:a", "ac3"]),
    ("eac3.mka", &["-c:a", "eac3"]),
    ("alac.m4a", &["-c:a", "alac"]),
    ("s16.wav", &["-c:a", "pcm_s16le"]),
    ("s24.wav", &["-c:a", "pcm_s24le"]),
    ("f32.wav", &["-c:a", "pcm_f32le"]),
    ("mulaw.wav", &["-c:a", "pcm_mulaw", "-ar", "8000"]),
    ("aac.ts", &["-c:a", "aac"]),
    ("mp2.mpg", &["-c:a", "mp2"]),
];

#[test]
fn decodes_every_audio_codec_without_the_system_ffmpeg() {
    let d = TempDir::new("static-audio");
    for (name, codec) in AUDIOS {
        let clip = d.path(name);
        let mut a = vec!["-f", "lavfi", "-i", SOUND];
        a.extend(codec.iter());
        a.push(s(&clip));
        ffmpeg(&a);
        check_audio(&d, &clip, name);
    }
}

/// `vx audio` (16 kHz mono f32) equals the ffmpeg CLI's decode of the same file with the
/// same resampling: signal-to-difference ratio at least 40 dB.
fn check_audio(d: &TempDir, clip: &Path, name: &str) {
    let wav = d.path(&format!("{name}.wav"));
    let o = vx_without_system_ffmpeg(&[
        "audio",
        "-q",
        s(clip),
        "-o",
        s(&wav),
        "--sample-format",
        "f32",
    ]);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{name}: {}", stderr(&o));
    let ours = f32_samples(&std::fs::read(&wav).unwrap()[44..]);
    let theirs = f32_samples(&ffmpeg_stdout(&[
        "-i",
        s(clip),
        "-vn",
        "-ac",
        "1",
        "-ar",
        "16000",
        "-f",
        "f32le",
        "-",
    ]));
    assert!(
        ours.len() > 8000 && theirs.len() > 8000,
        "{name}: {} vs {} samples",
        ours.len(),
        theirs.len()
    );
    // The two may start at different samples (vx puts the audio on the file's timeline; the
    // CLI pads or trims to the container's start): align on the best lag within ±0.2 s.
    let lag = best_lag(&ours, &theirs, 3200);
    let (a, b) = if lag >= 0 {
        (&ours[lag as usize..], &theirs[..])
    } else {
        (&ours[..], &theirs[(-lag) as usize..])
    };
    let n = a.len().min(b.len());
    assert!(n > 8000, "{name}: {n} samples overlap at lag {lag}");
    let signal: f64 = b[..n].iter().map(|&x| (x as f64).powi(2)).sum();
    let noise: f64 = a[..n]
        .iter()
        .zip(&b[..n])
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum();
    let snr = 10.0 * (signal / noise.max(1e-12)).log10();
    assert!(
        snr >= 40.0,
        "{name}: vx vs ffmpeg CLI {snr:.1} dB (lag {lag})"
    );
}

/// The shift of `a` against `b` (a[i + lag] ~ b[i]) within ±max samples that correlates best,
/// over 4,000 samples a quarter of the way in.
fn best_lag(a: &[f32], b: &[f32], max: i64) -> i64 {
    let at = (b.len() / 4) as i64;
    let len = 4000i64.min(b.len() as i64 - at);
    (-max..=max)
        .filter(|lag| at + lag >= 0 && at + lag + len <= a.len() as i64)
        .map(|lag| {
            let c: f64 = (0..len)
                .map(|i| a[(at + lag + i) as usize] as f64 * b[(at + i) as usize] as f64)
                .sum();
            (lag, c)
        })
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(lag, _)| lag)
        .unwrap_or(0)
}

fn f32_samples(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn decodes_still_images_and_subtitles_without_the_system_ffmpeg() {
    let d = TempDir::new("static-still");
    let mut images = vec![need("media/dog.jpg"), need("media/chelsea.png")];
    for name in ["a.webp", "a.bmp", "a.tiff", "a.gif"] {
        let p = d.path(name);
        ffmpeg(&["-f", "lavfi", "-i", SRC, "-frames:v", "1", s(&p)]);
        images.push(p);
    }
    for img in &images {
        // A GIF's palette picture goes through vx's YUV 4:2:0 like every other picture: the
        // colour edges of the test pattern cost a few dB more than a photo's.
        let min = if img.extension().is_some_and(|e| e == "gif") {
            30.0
        } else {
            35.0
        };
        let out = d.path(&format!(
            "{}.kf",
            img.file_name().unwrap().to_string_lossy()
        ));
        let o = vx_without_system_ffmpeg(&[
            "keyframes",
            "-q",
            s(img),
            "-o",
            s(&out),
            "--format",
            "png",
        ]);
        assert!(o.status.success(), "{}: {}", img.display(), stderr(&o));
        let json = read_json(&out.join("keyframes.json"));
        let k = &json["keyframes"][0];
        let rgb = decode_rgb(&out.join(k["path"].as_str().unwrap()));
        let p = psnr(&rgb, &decode_rgb(img));
        assert!(p >= min, "{}: PSNR {p:.1} dB", img.display());
    }

    // Text subtitles: SubRip in Matroska, mov_text in MP4, WebVTT.
    let srt = d.path("a.srt");
    std::fs::write(
        &srt,
        "1\n00:00:00,500 --> 00:00:01,500\nhello static world\n",
    )
    .unwrap();
    for (name, codec) in [
        ("s.mkv", "srt"),
        ("s.mp4", "mov_text"),
        ("s.webm", "webvtt"),
    ] {
        let clip = d.path(name);
        let vcodec = if name.ends_with("webm") {
            "libvpx"
        } else {
            "libx264"
        };
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-i",
            s(&srt),
            "-t",
            "2",
            "-c:v",
            vcodec,
            "-c:s",
            codec,
            s(&clip),
        ]);
        let o = vx_without_system_ffmpeg(&["subtitles", s(&clip), "--format", "txt"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("hello static world"), "{name}: {text}");
    }
}
