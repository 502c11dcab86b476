//! The one output writer, from the command line (issue #10, "Output files" and the WAV size
//! checks): special files written not replaced, `-o -`, planted symlinks, links written
//! through, one run per directory, results published together, output = input refused, the
//! output checked before the work, SIGPIPE.
mod common;
use common::*;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Stdio;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn special_files_and_stdout_are_written_not_replaced() {
    let d = TempDir::new("out-special");
    let wav = need("media/jfk.wav");
    // /dev/null stays the machine's null device (as root, it used to be replaced).
    let before = std::fs::metadata("/dev/null").unwrap();
    let o = run_vx(&["-q", "audio", s(&wav), "-o", "/dev/null"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = std::fs::metadata("/dev/null").unwrap();
    assert!(after.file_type().is_char_device());
    assert_eq!(before.ino(), after.ino());

    // `-o -` is stdout: a WAV stream, and no file named "-".
    let o = vx()
        .current_dir(&d.0)
        .args(["-q", "audio", s(&wav), "-o", "-"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(&o.stdout[..4], b"RIFF");
    assert_eq!(&o.stdout[8..12], b"WAVE");
    // 11 s of 16 kHz mono s16 after the 44-byte header.
    let data = o.stdout.len() - 44;
    assert!((data as f64 / 32000.0 - 11.0).abs() < 0.1, "{data} bytes");
    // Streamed: the sizes say "until the end", which ffmpeg reads back in full.
    let piped = d.path("piped.wav");
    std::fs::write(&piped, &o.stdout).unwrap();
    let probe = ffprobe_json(&["-show_streams", s(&piped)]);
    let dur: f64 = probe["streams"][0]["duration"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap();
    assert!(dur > 10.9 || probe["streams"][0]["codec_name"] == "pcm_s16le");
    assert!(!d.path("-").exists());

    // The JSON commands too: `vad -o -` prints the JSON, `-o /dev/null` keeps the device.
    let model = need("models/silero_vad.onnx");
    let o = vx()
        .current_dir(&d.0)
        .args(["-q", "vad", s(&wav), "--model", s(&model), "-o", "-"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["speech"].as_array().is_some_and(|a| !a.is_empty()));
    let o = run_vx(&[
        "-q",
        "vad",
        s(&wav),
        "--model",
        s(&model),
        "-o",
        "/dev/null",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(!d.path("-").exists());

    // A FIFO receives the WAV and stays a FIFO.
    let fifo = d.path("fifo.wav");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let o = run_vx(&["-q", "audio", s(&wav), "-o", s(&fifo)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = reader.join().unwrap();
    assert_eq!(&got[..4], b"RIFF");
    assert!(got.len() > 300_000);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn planted_temporary_symlinks_are_not_followed_and_links_are_written_through() {
    let d = TempDir::new("out-links");
    let wav = need("media/jfk.wav");
    let victim = d.path("victim");
    std::fs::write(&victim, b"precious").unwrap();
    // The temporary names of earlier versions, planted as links to the victim.
    for n in [
        ".out.wav.vx-tmp",
        ".keyframes.json.vx-tmp",
        ".kf-000000.jpg.vx-tmp",
    ] {
        std::os::unix::fs::symlink(&victim, d.path(n)).unwrap();
    }
    let out = d.path("out.wav");
    let o = run_vx(&["-q", "audio", s(&wav), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(std::fs::symlink_metadata(&out).unwrap().is_file());

    // A symlink at the output name is written through, like ffmpeg and cp: the link stays.
    let real = d.path("real.wav");
    std::fs::write(&real, b"old").unwrap();
    let link = d.path("link.wav");
    std::os::unix::fs::symlink("real.wav", &link).unwrap();
    let o = run_vx(&["-q", "audio", s(&wav), "-o", s(&link)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(&std::fs::read(&real).unwrap()[..4], b"RIFF");
    // Nothing but what we made and planted.
    let left: Vec<String> = names(&d.0)
        .into_iter()
        .filter(|n| n.contains("vx-tmp") && !n.starts_with(".out.wav.vx") && !n.starts_with(".kf"))
        .filter(|n| n != ".keyframes.json.vx-tmp")
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn output_equal_to_input_is_refused() {
    let d = TempDir::new("out-same");
    let wav = d.path("z.wav");
    std::fs::copy(need("media/jfk.wav"), &wav).unwrap();
    let before = std::fs::read(&wav).unwrap();
    let o = run_vx(&["audio", s(&wav), "-o", s(&wav)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the output is the input"),
        "{}",
        stderr(&o)
    );
    // Through a link and a relative path too.
    std::os::unix::fs::symlink("z.wav", d.path("l.wav")).unwrap();
    let o = vx()
        .current_dir(&d.0)
        .args([
            "vad",
            "z.wav",
            "--model",
            s(&need("models/silero_vad.onnx")),
            "-o",
            "l.wav",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read(&wav).unwrap(), before);
}

#[test]
fn output_checked_before_the_work_and_wav_limits_up_front() {
    let d = TempDir::new("out-early");
    let wav = need("media/jfk.wav");
    let model = need("models/silero_vad.onnx");
    let missing = d.path("nodir").join("x.json");
    let o = run_vx(&["vad", s(&wav), "--model", s(&model), "-o", s(&missing)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("nodir") && err.lines().count() == 1, "{err}");

    // Only WAV is written: another audio extension is refused before any work.
    let o = run_vx(&["audio", s(&wav), "-o", s(&d.path("x.flac"))]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("WAV"), "{}", stderr(&o));
    assert!(!d.path("x.flac").exists());
    // Channels beyond libswresample's standard layouts are refused by the option parser.
    let o = run_vx(&[
        "audio",
        s(&wav),
        "-o",
        s(&d.path("x.wav")),
        "--channels",
        "9",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // A small FLAC whose WAV would pass 4 GiB is refused before writing (used to write 4.8 GB
    // of temporary file, then fail naming no file).
    let flac = d.path("long.flac");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=8000:cl=mono",
        "-t",
        "200",
        s(&flac),
    ]);
    let out = d.path("big.wav");
    let t = std::time::Instant::now();
    let o = run_vx(&[
        "audio",
        s(&flac),
        "-o",
        s(&out),
        "--rate",
        "768000",
        "--channels",
        "8",
        "--format",
        "f32",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("long.flac") && err.contains("4 GiB"), "{err}");
    assert!(
        t.elapsed().as_secs() < 20,
        "refused only after {:?}",
        t.elapsed()
    );
    assert_eq!(names(&d.0), ["long.flac"]);
}

#[test]
fn broken_pipe_is_quiet() {
    for args in [&["models", "list", "--json"][..], &["--help"][..]] {
        let mut child = vx()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one byte, then hang up (as `| head -c 1` does).
        let mut out = child.stdout.take().unwrap();
        let mut b = [0u8; 1];
        let _ = out.read(&mut b);
        drop(out);
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert!(!err.contains("panicked") && !err.contains("error"), "{err}");
        use std::os::unix::process::ExitStatusExt;
        assert!(
            o.status.success() || o.status.signal() == Some(13),
            "{:?}: {err}",
            o.status
        );
    }
}

fn clip(d: &TempDir, name: &str, pattern: &str) -> std::path::PathBuf {
    let p = d.path(name);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("{pattern}=size=160x120:rate=10"),
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-g",
        "10",
        s(&p),
    ]);
    p
}

#[test]
fn one_run_per_directory_and_results_published_together() {
    let d = TempDir::new("out-dirs");
    let a = clip(&d, "a.mp4", "testsrc2"); // 3 keyframes
    let out = d.path("kf");
    // First run: 3 images and the index.
    let o = run_vx(&["-q", "keyframes", s(&a), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(out.join("notes.txt"), b"the user's").unwrap();
    let first = names(&out);
    assert_eq!(
        first,
        [
            "keyframes.json",
            "kf-000000.jpg",
            "kf-000001.jpg",
            "kf-000002.jpg",
            "notes.txt"
        ]
    );

    // While another run holds the directory, a second run is refused and changes nothing.
    let dir = std::fs::File::open(&out).unwrap();
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor we own, as another vx run would hold it.
    assert_eq!(
        unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let o = run_vx(&["-q", "keyframes", s(&a), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("another vx run"), "{}", stderr(&o));
    let o = run_vx(&["-q", "run", s(&a), "--ops", "probe", "-o", s(&out)]);
    assert!(stderr(&o).contains("another vx run"), "{}", stderr(&o));
    drop(dir);
    assert_eq!(names(&out), first);

    // A failed re-run (damaged input) leaves the earlier complete result as it was.
    let bad = d.path("bad.mp4");
    std::fs::write(&bad, b"not a video at all").unwrap();
    let o = run_vx(&["-q", "keyframes", s(&bad), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(names(&out), first);
    // A killed run's stage is removed by the next run; a shorter re-run removes the images of
    // the earlier run it does not rewrite, and never touches the user's file.
    std::fs::create_dir(out.join(".vx-stage-0123456789abcdef")).unwrap();
    std::fs::write(out.join(".vx-stage-0123456789abcdef/kf-000007.jpg"), b"x").unwrap();
    let o = run_vx(&["-q", "keyframes", s(&a), "-o", s(&out), "--max", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        names(&out),
        ["keyframes.json", "kf-000000.jpg", "notes.txt"]
    );
    let index = read_json(&out.join("keyframes.json"));
    assert_eq!(index["keyframes"].as_array().unwrap().len(), 1);

    // A failed first run into a new directory leaves no directory.
    let fresh = d.path("fresh");
    let o = run_vx(&["-q", "keyframes", s(&bad), "-o", s(&fresh)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!fresh.exists());

    // Two runs at once into one directory: one wins, the other is refused; the index always
    // lists exactly the images of its own video.
    let b = clip(&d, "b.mp4", "mandelbrot");
    let shared = d.path("shared");
    for _ in 0..4 {
        let ca = vx()
            .args(["-q", "keyframes", s(&a), "-o", s(&shared)])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let cb = vx()
            .args(["-q", "keyframes", s(&b), "-o", s(&shared)])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (oa, ob) = (
            ca.wait_with_output().unwrap(),
            cb.wait_with_output().unwrap(),
        );
        assert!(
            oa.status.success() || ob.status.success() || {
                // Both refused is impossible: the lock is only held during a run.
                false
            }
        );
        for o in [&oa, &ob] {
            assert!(
                o.status.success() || stderr(o).contains("another vx run"),
                "{}",
                stderr(o)
            );
        }
        let index = read_json(&shared.join("keyframes.json"));
        let src = index["source"].as_str().unwrap().to_string();
        let listed: Vec<String> = index["keyframes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["path"].as_str().unwrap().to_string())
            .collect();
        let mut expect = listed.clone();
        expect.push("keyframes.json".into());
        expect.sort();
        assert_eq!(names(&shared), expect, "{src}");
        // The images are those of the video the index names (first frame's pHash).
        let own = if src.ends_with("a.mp4") { &a } else { &b };
        let reference = d.path("ref");
        let _ = std::fs::remove_dir_all(&reference);
        let o = run_vx(&["-q", "keyframes", s(own), "-o", s(&reference)]);
        assert!(o.status.success());
        let r = read_json(&reference.join("keyframes.json"));
        assert_eq!(r["keyframes"][0]["phash"], index["keyframes"][0]["phash"]);
        assert_eq!(
            std::fs::read(reference.join("kf-000000.jpg")).unwrap(),
            std::fs::read(shared.join("kf-000000.jpg")).unwrap()
        );
    }
}

#[test]
fn vx_run_replaces_an_input_directory_as_a_whole() {
    let d = TempDir::new("out-run");
    let a = clip(&d, "a.mp4", "testsrc2");
    let out = d.path("res");
    let o = run_vx(&["-q", "run", s(&a), "--ops", "keyframes", "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ids = names(&out);
    // The input's directory, the index (no WAL files left) and results.jsonl.
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids[1..], ["index.db", "results.jsonl"]);
    let dir = out.join(&ids[0]);
    assert_eq!(names(&dir).len(), 5, "{:?}", names(&dir)); // 3 images, keyframes + result
    let o = run_vx(&["-q", "run", s(&a), "--ops", "probe", "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(&out), ids, "no staging directory left");
    assert_eq!(names(&dir), ["probe.json", "result.json"]);
    // Paths in the published JSON point into the published directory, not the stage.
    let text = std::fs::read_to_string(dir.join("result.json")).unwrap();
    assert!(!text.contains(".vx-stage-"), "{text}");
    // An operation's report names its file where it is once published.
    let wav = need("media/jfk.wav");
    let o = run_vx(&["-q", "run", s(&wav), "--ops", "audio", "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let jfk = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("jfk"))
        .unwrap();
    let audio = read_json(&jfk.join("audio.json"));
    assert_eq!(audio["output"].as_str().unwrap(), s(&jfk.join("audio.wav")));
    assert!(jfk.join("audio.wav").is_file());
}

/// Every time field in `v` (any key named like a time) is rounded to the millisecond, and no
/// JSON text holds `-0.0`.
fn assert_ms(v: &serde_json::Value, text: &str) {
    assert!(!text.contains("-0.0"), "{text}");
    fn walk(v: &serde_json::Value, key: &str, n: &mut usize) {
        match v {
            serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| walk(x, k, n)),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, key, n)),
            serde_json::Value::Number(x) => {
                let timeish = [
                    "start",
                    "end",
                    "time",
                    "duration",
                    "offset",
                    "speech_seconds",
                ];
                if timeish.contains(&key) {
                    let f = x.as_f64().unwrap();
                    assert_eq!((f * 1000.0).round() / 1000.0, f, "{key}: {f}");
                    *n += 1;
                }
            }
            _ => {}
        }
    }
    let mut n = 0;
    walk(v, "", &mut n);
    assert!(n > 0, "no time fields in {text}");
}

#[test]
fn times_are_rounded_to_the_millisecond() {
    let d = TempDir::new("out-ms");
    let model = need("models/silero_vad.onnx");
    let wav = need("media/jfk.wav");
    let silent = d.path("silent.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-t",
        "2",
        s(&silent),
    ]);
    for input in [&wav, &silent] {
        let o = run_vx(&["-q", "vad", s(input), "--model", s(&model)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        assert_ms(&serde_json::from_str(&text).unwrap(), &text);
    }
    // Keyframes of a 30 fps clip every 7 frames: times like 0.2333... and 0.4666...
    let clip = d.path("c.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=96x64:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:r=44100",
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-g",
        "7",
        "-shortest",
        s(&clip),
    ]);
    let out = d.path("kf");
    let o = run_vx(&["-q", "keyframes", s(&clip), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(out.join("keyframes.json")).unwrap();
    assert!(text.contains("0.233"), "{text}");
    assert_ms(&serde_json::from_str(&text).unwrap(), &text);
    let o = run_vx(&["-q", "audio", s(&clip), "-o", s(&d.path("a.wav"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let res = d.path("res");
    let o = run_vx(&[
        "-q",
        "run",
        s(&clip),
        "--ops",
        "probe;[keyframes,audio]",
        "-o",
        s(&res),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for e in std::fs::read_dir(&res).unwrap() {
        if !e.as_ref().unwrap().path().is_dir() {
            continue;
        }
        for f in ["keyframes.json", "audio.json"] {
            let text = std::fs::read_to_string(e.as_ref().unwrap().path().join(f)).unwrap();
            assert_ms(&serde_json::from_str(&text).unwrap(), &text);
        }
    }
}
