//! `vx audio` against the ffmpeg CLI: durations equal ffprobe's, samples equal (correlate with)
//! `ffmpeg -ac 1 -ar 16000`, for the usual codecs and containers; bad input.
mod common;
use common::*;
use std::path::Path;

/// Header fields and 16-bit samples of a WAV file (chunks parsed: FFmpeg adds a LIST chunk).
/// Checks that the data chunk's size matches what the file holds.
fn read_wav(p: &Path) -> (u16, u16, u32, u16, Vec<i16>) {
    let b = std::fs::read(p).unwrap();
    assert_eq!(&b[0..4], b"RIFF");
    assert_eq!(&b[8..12], b"WAVE");
    let (mut pos, mut fmt, mut data) = (12usize, None, None);
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes([b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]]) as usize;
        if id == b"fmt " {
            fmt = Some(pos + 8);
        } else if id == b"data" {
            assert_eq!(len, b.len() - pos - 8, "data size in the header");
            data = Some(&b[pos + 8..]);
            break;
        }
        pos += 8 + len + (len & 1);
    }
    let f = fmt.expect("fmt chunk");
    let tag = u16::from_le_bytes([b[f], b[f + 1]]);
    let ch = u16::from_le_bytes([b[f + 2], b[f + 3]]);
    let rate = u32::from_le_bytes([b[f + 4], b[f + 5], b[f + 6], b[f + 7]]);
    let bits = u16::from_le_bytes([b[f + 14], b[f + 15]]);
    let data = data.expect("data chunk");
    let s = if bits == 16 {
        data.chunks(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()
    } else {
        vec![]
    };
    (tag, ch, rate, bits, s)
}

fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let ma = a.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let mb = b.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let (mut num, mut da, mut db) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64 - ma, y as f64 - mb);
        num += x * y;
        da += x * x;
        db += y * y;
    }
    num / (da * db).sqrt()
}

fn stream_duration(p: &Path) -> Option<f64> {
    let v = ffprobe_json(&[
        "-select_streams",
        "a:0",
        "-show_entries",
        "stream=duration",
        p.to_str().unwrap(),
    ]);
    v["streams"][0]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
}

#[test]
fn codecs_match_the_ffmpeg_cli() {
    let d = TempDir::new("audio-codecs");
    // Two tones, one per channel, with a chirp so that any offset would show.
    let src = [
        "-f",
        "lavfi",
        "-i",
        "aevalsrc=sin(440*2*PI*t)*0.4|sin((300+200*t)*2*PI*t)*0.4:s=44100:d=3",
    ];
    for (name, codec) in [
        ("a.m4a", vec!["-c:a", "aac"]),
        ("a.mp3", vec!["-c:a", "libmp3lame"]),
        ("a.flac", vec!["-c:a", "flac"]),
        ("a.ogg", vec!["-c:a", "libopus", "-ar", "48000"]),
        ("a.ac3", vec!["-c:a", "ac3"]),
        ("a.wav", vec!["-c:a", "pcm_s24le", "-ar", "48000"]),
        (
            "av.mp4",
            vec![
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x120:rate=25:d=3",
                "-c:v",
                "libx264",
                "-c:a",
                "aac",
            ],
        ),
    ] {
        let input = d.path(name);
        let mut args: Vec<&str> = src.to_vec();
        args.extend(codec.iter().copied());
        args.push(input.to_str().unwrap());
        ffmpeg(&args);
        let ours = d.path(&format!("{name}.vx.wav"));
        let o = run_vx(&[
            "audio",
            "-q",
            input.to_str().unwrap(),
            "-o",
            ours.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let theirs = d.path(&format!("{name}.ff.wav"));
        ffmpeg(&[
            "-i",
            input.to_str().unwrap(),
            "-vn",
            "-ac",
            "1",
            "-ar",
            "16000",
            theirs.to_str().unwrap(),
        ]);
        let (tag, ch, rate, bits, a) = read_wav(&ours);
        assert_eq!((tag, ch, rate, bits), (1, 1, 16000, 16));
        let (_, _, _, _, b) = read_wav(&theirs);
        let c = correlation(&a, &b);
        assert!(c > 0.99, "{name}: correlation {c}");
        // The source is exactly 3 s. Containers that say where the audio ends (MP4 edit list,
        // LAME gapless header, Ogg granule, FLAC/WAV sample counts) give exactly that; AC-3
        // cannot say, so its last frame's padding stays, as in the ffmpeg CLI's output.
        let got = a.len() as f64 / 16000.0;
        let want = if name == "a.ac3" {
            b.len() as f64 / 16000.0
        } else {
            3.0
        };
        assert!(
            (got - want).abs() <= 1.0 / 16000.0 + 1e-9,
            "{name}: {got} s, expected {want} s"
        );
        if name == "a.m4a" {
            // ffprobe's stream duration comes from the edit list: the same 3 s.
            let dur = stream_duration(&input).unwrap();
            assert!(
                (got - dur).abs() <= 1.0 / 16000.0 + 1e-9,
                "{name}: {got} s vs ffprobe {dur} s"
            );
        }
    }
}

#[test]
fn rate_channels_and_float() {
    let d = TempDir::new("audio-formats");
    let input = d.path("a.flac");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000:sample_rate=48000:d=1",
        "-ac",
        "2",
        input.to_str().unwrap(),
    ]);
    let out = d.path("f.wav");
    let o = run_vx(&[
        "audio",
        "-q",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--rate",
        "44100",
        "--channels",
        "2",
        "--format",
        "f32",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (tag, ch, rate, bits, _) = read_wav(&out);
    assert_eq!((tag, ch, rate, bits), (3, 2, 44100, 32));
    let bytes = std::fs::metadata(&out).unwrap().len() - 44;
    assert_eq!(bytes, 44100 * 2 * 4);
    // ffprobe reads it back as what it says it is.
    let v = ffprobe_json(&[
        "-show_entries",
        "stream=codec_name,sample_rate,channels",
        out.to_str().unwrap(),
    ]);
    assert_eq!(v["streams"][0]["codec_name"], "pcm_f32le");
}

#[test]
fn bad_audio_input() {
    let d = TempDir::new("audio-bad");
    let video = d.path("v.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25:d=1",
        video.to_str().unwrap(),
    ]);
    let out = d.path("o.wav");
    let o = run_vx(&[
        "audio",
        video.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    // No audio stream is not damage: exit status 3 (issue #12), so scripts can tell.
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("v.mp4: no audio stream"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    let junk = d.path("junk.mp3");
    std::fs::write(&junk, vec![0x55u8; 5000]).unwrap();
    let o = run_vx(&["audio", junk.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1);
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(&d.0)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("vx-tmp"))
            .count(),
        0
    );
    // A WAV whose header claims more data than the file holds: the real samples come out.
    let wav = d.path("short.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=16000:d=2",
        "-c:a",
        "pcm_s16le",
        wav.to_str().unwrap(),
    ]);
    let mut b = std::fs::read(&wav).unwrap();
    let data = b.windows(4).position(|w| w == b"data").unwrap() + 8;
    b.truncate(data + 16000 * 2); // 1 s of the 2 s the header announces
    std::fs::write(&wav, &b).unwrap();
    let o = run_vx(&[
        "audio",
        "-q",
        wav.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, _, _, _, s) = read_wav(&out);
    assert!((s.len() as i64 - 16000).abs() <= 1, "{} samples", s.len());
}
