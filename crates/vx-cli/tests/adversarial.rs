//! Regressions from an adversarial pass over the hardening work (issue #10): each test is a
//! reproduction that used to panic, hang, lose a result or delete a file.
mod common;
use common::*;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Stdio;

fn clip(d: &TempDir) -> PathBuf {
    let p = d.path("v.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
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
fn file_names_that_are_not_utf8_work() {
    let d = TempDir::new("adv-latin1");
    // "café.wav" in Latin-1.
    let name = d.0.join(OsStr::from_bytes(b"caf\xe9.wav"));
    std::fs::copy(need("media/jfk.wav"), &name).unwrap();
    let o = vx().arg("probe").arg(&name).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["duration"], 11.0);
    let out = d.0.join(OsStr::from_bytes(b"out\xe9.wav"));
    let o = vx()
        .args(["-q", "audio"])
        .arg(&name)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 352_044);
    let res = d.path("res");
    let o = vx()
        .args(["-q", "run"])
        .arg(&name)
        .args(["--ops", "audio", "-o", s(&res)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let log = std::fs::read_to_string(res.join("results.jsonl")).unwrap();
    assert!(log.contains("caf\u{fffd}.wav"), "{log}");
    // An option value that is not UTF-8: a usage error, not a panic.
    let o = vx()
        .args([
            "transcribe",
            s(&need("media/jfk.wav")),
            "-m",
            "x",
            "--language",
        ])
        .arg(OsStr::from_bytes(b"\xff"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn keyframes_never_touches_its_input_or_other_files_and_checks_the_old_index() {
    let d = TempDir::new("adv-kf");
    let v = clip(&d);
    let out = d.path("kin");
    let o = run_vx(&["-q", "keyframes", s(&v), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    // An input inside the output directory: refused, untouched.
    let input = out.join("kf-000001.jpg");
    let before = std::fs::read(&input).unwrap();
    let o = run_vx(&["keyframes", s(&input), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("inside the output directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&input).unwrap(), before);
    // An index that lists a file vx does not write: that file is never removed.
    std::fs::write(out.join("other.txt"), b"mine").unwrap();
    let index = out.join("keyframes.json");
    let mut j = read_json(&index);
    j["keyframes"][0]["path"] = "other.txt".into();
    std::fs::write(&index, serde_json::to_vec(&j).unwrap()).unwrap();
    let o = run_vx(&["-q", "keyframes", s(&v), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("other.txt")).unwrap(), b"mine");
    // An index that is a link to /dev/zero is not read (it used to eat all memory).
    std::fs::remove_file(&index).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &index).unwrap();
    let t = std::time::Instant::now();
    let o = run_vx(&["-q", "keyframes", s(&v), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(t.elapsed().as_secs() < 20);
    assert!(std::fs::symlink_metadata(&index).unwrap().is_file());
    // A FIFO or a directory at the index: refused before any work, nothing published.
    for kind in ["fifo", "dir"] {
        let out = d.path(&format!("k{kind}"));
        std::fs::create_dir_all(&out).unwrap();
        let index = out.join("keyframes.json");
        if kind == "fifo" {
            assert!(std::process::Command::new("mkfifo")
                .arg(&index)
                .status()
                .unwrap()
                .success());
        } else {
            std::fs::create_dir(&index).unwrap();
        }
        let mut child = vx()
            .args(["keyframes", s(&v), "-o", s(&out)])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t = std::time::Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            assert!(t.elapsed().as_secs() < 20, "{kind}: hangs");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(1), "{kind}: {err}");
        assert!(
            err.contains("keyframes.json") && err.contains("not a regular file"),
            "{err}"
        );
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["keyframes.json"], "{kind}");
    }
}

#[test]
fn vx_run_never_replaces_a_directory_it_did_not_write() {
    let d = TempDir::new("adv-run");
    let v = clip(&d);
    let out = d.path("res");
    let o = run_vx(&["-q", "run", s(&v), "--ops", "probe", "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .file_name();
    // Replace the run's directory with the user's own of that name.
    let mine = out.join(&id);
    std::fs::remove_dir_all(&mine).unwrap();
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("mine.txt"), b"mine").unwrap();
    let o = run_vx(&["-q", "run", s(&v), "--ops", "probe", "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(std::fs::read(mine.join("mine.txt")).unwrap(), b"mine");
    let log = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert!(log.contains("not written by vx"), "{log}");
}

#[test]
fn two_outputs_of_one_command_and_outputs_checked_first() {
    let d = TempDir::new("adv-outs");
    let jfk = need("media/jfk.wav");
    let sfx = need("models/sfx_embedding.onnx");
    let same = d.path("same.out");
    let o = run_vx(&[
        "embed-audio",
        s(&jfk),
        "-m",
        s(&sfx),
        "-o",
        s(&same),
        "--npy",
        s(&same),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!same.exists());
    // --npy into a missing directory fails before the work (it used to after it).
    let t = std::time::Instant::now();
    let o = run_vx(&[
        "embed-audio",
        s(&jfk),
        "-m",
        s(&sfx),
        "-o",
        "/dev/null",
        "--npy",
        s(&d.path("nodir/x.npy")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("nodir"), "{}", stderr(&o));
    assert!(t.elapsed().as_millis() < 3000, "{:?}", t.elapsed());
    // stream recv: --out and --stats the same file; --stats into a missing directory.
    let mkv = d.path("same.mkv");
    let o = run_vx(&[
        "stream",
        "recv",
        "--listen",
        "127.0.0.1:0",
        "--out",
        s(&mkv),
        "--stats",
        s(&mkv),
        "--timeout",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("same file"), "{}", stderr(&o));
    let t = std::time::Instant::now();
    let o = run_vx(&[
        "stream",
        "recv",
        "--listen",
        "127.0.0.1:0",
        "--stats",
        s(&d.path("nodir/s.json")),
        "--duration",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(t.elapsed().as_millis() < 2500, "{:?}", t.elapsed());
}

#[test]
fn a_full_stderr_and_terminal_escapes() {
    let d = TempDir::new("adv-stderr");
    // Messages that cannot be written do not turn a finished job into a crash.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = vx()
        .args([
            "audio",
            s(&need("media/jfk.wav")),
            "-o",
            s(&d.path("x.wav")),
        ])
        .stderr(full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(d.path("x.wav").is_file());
    // An ESC in a file name is shown escaped, not sent to the terminal.
    let o = vx()
        .args(["audio", "no\x1b[31mRED.wav", "-o", s(&d.path("y.wav"))])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!err.contains('\x1b') && err.contains("\\u{1b}"), "{err:?}");
}

#[test]
fn model_downloads_are_bounded_and_listings_survive_bad_files() {
    let d = TempDir::new("adv-models");
    let dir = d.path("models");
    std::fs::create_dir_all(&dir).unwrap();
    // A server that redirects to file:///etc/passwd (used to panic), then one that streams
    // zeros for ever (used to fill the disk).
    let serve = |reply: &'static [u8], endless: bool| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let mut req = [0u8; 2048];
                let _ = c.read(&mut req);
                let _ = c.write_all(reply);
                if endless {
                    let zeros = vec![0u8; 1 << 16];
                    while c.write_all(&zeros).is_ok() {}
                }
            }
        });
        format!("http://{addr}")
    };
    let fetch = |mirror: &str| {
        vx().args(["models", "fetch", "silero_vad"])
            .env("VX_MODEL_DIR", &dir)
            .env("VX_MODEL_MIRROR", mirror)
            .output()
            .unwrap()
    };
    let m = serve(
        b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    let o = fetch(&m);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not http"), "{}", stderr(&o));
    let m = serve(b"HTTP/1.1 200 OK\r\n\r\n", true);
    let t = std::time::Instant::now();
    let o = fetch(&m);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("more than"), "{}", stderr(&o));
    assert!(t.elapsed().as_secs() < 30);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing kept");
    // A FIFO at the model's name gets nothing.
    assert!(std::process::Command::new("mkfifo")
        .arg(dir.join("silero_vad.onnx"))
        .status()
        .unwrap()
        .success());
    let o = fetch("http://127.0.0.1:9");
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    std::fs::remove_file(dir.join("silero_vad.onnx")).unwrap();
    // One unreadable file does not hide the others.
    std::fs::copy(need("models/silero_vad.onnx"), dir.join("silero_vad.onnx")).unwrap();
    std::os::unix::fs::symlink("/proc/self/mem", dir.join("mem.onnx")).unwrap();
    let o = vx()
        .args(["models", "list", "--json"])
        .env("VX_MODEL_DIR", &dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{v}");
    assert!(
        files
            .iter()
            .any(|f| f["file"] == "mem.onnx" && f["error"].is_string()),
        "{v}"
    );
    assert!(files
        .iter()
        .any(|f| f["file"] == "silero_vad.onnx" && f["verified"] == true));
}
