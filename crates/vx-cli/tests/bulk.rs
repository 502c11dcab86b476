//! Bulk runs (issue #11): folders and lists in, one resumable result set out; a mixed folder
//! where every bad file gets its line; resume without decoding; only changed operations
//! re-run; SIGKILL at random moments and Ctrl-C; shards.
mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn lines(out: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "torn: {text}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn by_name(lines: &[serde_json::Value]) -> BTreeMap<String, serde_json::Value> {
    lines
        .iter()
        .map(|l| {
            let src = l["source"].as_str().unwrap();
            let name = Path::new(src)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, l.clone())
        })
        .collect()
}

/// Every published input directory is complete: result.json parses and every output it
/// lists exists; no staging directory is left (after a killed run one may be: hidden, never
/// presented, removed by the next run).
fn check_published(out: &Path) {
    check_dirs(out, false)
}

fn check_dirs(out: &Path, stages_allowed: bool) {
    for e in std::fs::read_dir(out).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(".vx-stage-") {
            let inside: Vec<_> = std::fs::read_dir(&p)
                .map(|r| r.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            assert!(stages_allowed, "stage left: {name} holding {inside:?}");
            continue;
        }
        if !p.is_dir() {
            continue;
        }
        let r = read_json(&p.join("result.json"));
        for (op, rec) in r["ops"].as_object().unwrap() {
            for f in rec["outputs"].as_array().unwrap() {
                let f = p.join(f.as_str().unwrap());
                assert!(f.is_file(), "{op}: {} missing", f.display());
                assert!(std::fs::metadata(&f).unwrap().len() > 0, "{}", f.display());
            }
        }
    }
}

fn clip(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let p = dir.join(name);
    let mut a: Vec<&str> = args.to_vec();
    a.push(s(&p));
    ffmpeg(&a);
    p
}

const V: &str = "testsrc2=size=160x120:rate=10";
const A: &str = "sine=f=440:r=16000";

/// A folder with good and bad inputs of every kind the issue lists.
fn mixed(d: &TempDir) -> PathBuf {
    let dir = d.path("corpus");
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(dir.join(".hidden")).unwrap();
    clip(
        &dir,
        "h264.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            V,
            "-f",
            "lavfi",
            "-i",
            A,
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-g",
            "10",
            "-c:a",
            "aac",
            "-shortest",
        ],
    );
    clip(
        &dir,
        "sub/vp9.webm",
        &[
            "-f",
            "lavfi",
            "-i",
            V,
            "-t",
            "2",
            "-c:v",
            "libvpx-vp9",
            "-g",
            "10",
            "-b:v",
            "100k",
        ],
    );
    clip(
        &dir,
        "sub/deeper/mpeg2.ts",
        &[
            "-f",
            "lavfi",
            "-i",
            V,
            "-f",
            "lavfi",
            "-i",
            A,
            "-t",
            "2",
            "-c:v",
            "mpeg2video",
            "-c:a",
            "mp2",
            "-shortest",
        ],
    );
    clip(
        &dir,
        "sub/noaudio.mkv",
        &[
            "-f", "lavfi", "-i", V, "-t", "2", "-c:v", "libx264", "-g", "10",
        ],
    );
    clip(&dir, "speech.flac", &["-i", s(&need("media/jfk.wav"))]);
    clip(&dir, "picture.png", &["-i", s(&need("media/dog.jpg"))]);
    std::fs::copy(need("media/jfk.wav"), dir.join(".hidden/skipped.wav")).unwrap();
    std::fs::write(dir.join("empty.mp4"), b"").unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let random: Vec<u8> = (0..50_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(dir.join("random.mp4"), random).unwrap();
    let good = std::fs::read(dir.join("h264.mp4")).unwrap();
    std::fs::write(dir.join("truncated.mp4"), &good[..good.len() / 2]).unwrap();
    std::fs::write(dir.join("header-only.mp4"), &good[..64]).unwrap();
    // A symbolic link loop and a dangling link.
    std::os::unix::fs::symlink("..", dir.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink("nowhere.mp4", dir.join("dangling.mp4")).unwrap();
    dir
}

fn run_ops(inputs: &[&str], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run"];
    args.extend_from_slice(inputs);
    args.extend_from_slice(&["--ops", "[keyframes,audio]", "-o", s(out)]);
    args.extend_from_slice(extra);
    run_vx(&args)
}

#[test]
fn a_mixed_folder_every_input_gets_its_line_and_resume_decodes_nothing() {
    let d = TempDir::new("bulk-mixed");
    let corpus = mixed(&d);
    // The output directory inside the input folder is skipped too.
    let out = corpus.join("results");
    let o = run_ops(&[s(&corpus)], &out, &["-j", "2"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("dangling.mp4") && err.contains("broken symbolic link"),
        "{err}"
    );
    assert!(err.contains("loop"), "{err}");
    let all = lines(&out);
    let got = by_name(&all);
    let status = |n: &str| got[n]["status"].as_str().unwrap().to_string();
    for good in ["h264.mp4", "vp9.webm", "mpeg2.ts"] {
        assert_eq!(status(good), "ok", "{good}: {}", got[good]);
        assert_eq!(got[good]["complete"], true, "{good}");
    }
    // A video without audio: keyframes ok, audio skipped: ok overall.
    assert_eq!(status("noaudio.mkv"), "ok");
    assert_eq!(got["noaudio.mkv"]["ops"]["audio"]["status"], "skipped");
    // Audio only: keyframes skipped.
    assert_eq!(got["speech.flac"]["ops"]["keyframes"]["status"], "skipped");
    assert_eq!(got["speech.flac"]["ops"]["audio"]["status"], "ok");
    // A picture: its keyframe; no audio.
    assert_eq!(got["picture.png"]["ops"]["keyframes"]["status"], "ok");
    for bad in ["empty.mp4", "random.mp4", "header-only.mp4"] {
        assert_eq!(status(bad), "error", "{bad}");
        let reason = got[bad]["reason"].as_str().unwrap();
        assert!(reason.contains(bad), "{bad}: {reason}");
    }
    // Truncated: what could be read is kept, and it says it is not complete.
    assert_eq!(
        got["truncated.mp4"]["complete"], false,
        "{}",
        got["truncated.mp4"]
    );
    assert!(
        !got.contains_key("skipped.wav"),
        "hidden entries are skipped"
    );
    assert_eq!(all.len(), 10, "{got:#?}");
    check_published(&out);

    // Run again: nothing is decoded (every good input current), the errors are retried, no
    // line is duplicated.
    let before: Vec<_> = ["h264.mp4"]
        .iter()
        .map(|n| {
            let id = got[*n]["id"].as_str().unwrap();
            std::fs::metadata(out.join(id).join("result.json"))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    let t = std::time::Instant::now();
    let o = run_ops(&[s(&corpus)], &out, &["-j", "2"]);
    let err = stderr(&o);
    assert!(err.contains("6 already done and current"), "{err}");
    let again = lines(&out);
    assert_eq!(again.len(), 10);
    let id = got["h264.mp4"]["id"].as_str().unwrap();
    assert_eq!(
        std::fs::metadata(out.join(id).join("result.json"))
            .unwrap()
            .modified()
            .unwrap(),
        before[0]
    );
    assert!(t.elapsed().as_secs() < 10);
    // --force recomputes.
    let o = run_ops(&[s(&corpus)], &out, &["-j", "2", "--force"]);
    assert!(!stderr(&o).contains("already done"), "{}", stderr(&o));
    assert_eq!(lines(&out).len(), 10);
    check_published(&out);
}

#[test]
fn only_the_changed_operation_runs_again() {
    let d = TempDir::new("bulk-partial");
    let v = clip(
        &d.0,
        "v.mp4",
        &[
            "-f", "lavfi", "-i", V, "-t", "3", "-c:v", "libx264", "-g", "10",
        ],
    );
    let out = d.path("out");
    let ssd = need("models/ssd_mobilenet_v2_coco.onnx");
    let model = format!("detect={}", s(&ssd));
    let run = |threshold: &str| {
        let o = run_vx(&[
            "-q",
            "run",
            s(&v),
            "--ops",
            "[keyframes,detect]",
            "-m",
            &model,
            "--threshold",
            threshold,
            "-o",
            s(&out),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    run("0.5");
    let dir = first_dir(&out);
    use std::os::unix::fs::MetadataExt;
    let ino = |f: &str| std::fs::metadata(dir.join(f)).unwrap().ino();
    let (kf, det) = (ino("kf-000000.jpg"), ino("detect.json"));
    run("0.7");
    // keyframes was current: its files carried over (the same files), detect ran again.
    assert_eq!(ino("kf-000000.jpg"), kf);
    assert_ne!(ino("detect.json"), det);
    let r = read_json(&dir.join("result.json"));
    assert_eq!(r["ops"]["keyframes"]["cached"], true);
    assert!(r["ops"]["detect"]["cached"].is_null());
    assert_eq!(
        read_json(&dir.join("detect.json"))["threshold"]
            .as_f64()
            .unwrap(),
        // As given (it read 0.699999988079071, the f32 widened, before thresholds were
        // written as the decimal they were given as).
        0.7
    );
    assert_eq!(lines(&out).len(), 1);
    // An output deleted since: its operation is not current (it was reported as written and
    // the whole run stopped on "No such file" at the next change, every run after too).
    std::fs::remove_file(dir.join("kf-000001.jpg")).unwrap();
    run("0.7");
    assert!(dir.join("kf-000001.jpg").is_file());
    let r = read_json(&dir.join("result.json"));
    assert!(r["ops"]["keyframes"]["cached"].is_null(), "{r}");
    std::fs::remove_file(dir.join("detect.json")).unwrap();
    let other = clip(
        &d.0,
        "w.mp4",
        &["-f", "lavfi", "-i", V, "-t", "2", "-c:v", "libx264"],
    );
    let o = run_vx(&[
        "-q",
        "run",
        s(&v),
        s(&other),
        "--ops",
        "[keyframes,detect]",
        "-m",
        &model,
        "--threshold",
        "0.6",
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("detect.json").is_file());
    assert_eq!(
        read_json(&dir.join("detect.json"))["threshold"]
            .as_f64()
            .unwrap(),
        0.6
    );
    assert_eq!(lines(&out).len(), 2);
    check_published(&out);
}

#[test]
fn killed_runs_resume_with_every_input_done_once() {
    let d = TempDir::new("bulk-kill");
    let dir = d.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..12 {
        clip(
            &dir,
            &format!("c{i}.mp4"),
            &[
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=size=320x240:rate=25:d={}", 2 + i % 3),
                "-f",
                "lavfi",
                "-i",
                &format!("sine=f={}:r=44100:d=3", 300 + 50 * i),
                "-c:v",
                "libx264",
                "-g",
                "5",
                "-c:a",
                "aac",
                "-shortest",
            ],
        );
    }
    let out = d.path("out");
    let mut cut_short = 0;
    let count = |out: &Path| {
        std::fs::read_to_string(out.join("results.jsonl"))
            .map(|t| t.matches('\n').count())
            .unwrap_or(0)
    };
    // SIGKILL at several moments, then Ctrl-C (SIGINT), then a run to the end. Each signal
    // comes a few milliseconds after the run has finished one more input (so it lands in the
    // middle of the others, whatever the speed of the machine).
    for (i, ms) in [0u64, 30, 5, 10, 60].iter().enumerate() {
        let mut child = vx()
            .args([
                "-q",
                "run",
                s(&dir),
                "--ops",
                "[keyframes,audio]",
                "-o",
                s(&out),
                "-j",
                "2",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let before = count(&out);
        let t = std::time::Instant::now();
        while count(&out) == before && t.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(*ms));
        if i == 3 {
            // SAFETY: sending a signal to our child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let o = child.wait_with_output().unwrap();
            // Interrupted (130), or it had finished (0) before the signal.
            assert!(
                matches!(o.status.code(), Some(130) | Some(0)),
                "{:?} {}",
                o.status,
                stderr(&o)
            );
        } else {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Whatever is there is whole: the log's lines parse (a torn last line is what the
        // next run repairs), published directories are complete.
        if out.join("results.jsonl").exists() {
            let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
            if text.lines().count() < 12 {
                cut_short += 1;
            }
            for l in text.lines().filter(|l| !l.is_empty()) {
                if serde_json::from_str::<serde_json::Value>(l).is_err() {
                    assert!(
                        !text.ends_with('\n') && text.ends_with(l),
                        "torn line in the middle"
                    );
                }
            }
            check_dirs(&out, true);
        }
    }
    assert!(
        cut_short >= 2,
        "the runs were not interrupted mid-way ({cut_short})"
    );
    let o = vx()
        .args([
            "run",
            s(&dir),
            "--ops",
            "[keyframes,audio]",
            "-o",
            s(&out),
            "-j",
            "2",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let all = lines(&out);
    assert_eq!(all.len(), 12, "one line per input");
    let ids: std::collections::HashSet<&str> =
        all.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 12);
    assert!(all.iter().all(|l| l["status"] == "ok"), "{all:#?}");
    check_published(&out);
    // Each WAV is whole: as long as the clip's audio says (16 kHz mono s16).
    for l in &all {
        let wav = out.join(l["id"].as_str().unwrap()).join("audio.wav");
        let len = std::fs::metadata(&wav).unwrap().len() as f64;
        let src = l["source"].as_str().unwrap();
        let probe = ffprobe_json(&["-select_streams", "a", "-show_streams", src]);
        let secs: f64 = probe["streams"][0]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            ((len - 44.0) / 32000.0 - secs).abs() < 0.05,
            "{}: {len} vs {secs} s",
            wav.display()
        );
    }
}

#[test]
fn shards_split_the_inputs_and_lists_name_them() {
    let d = TempDir::new("bulk-shard");
    let dir = d.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    let mut names = Vec::new();
    for i in 0..6 {
        let n = format!("s{i}.wav");
        clip(
            &dir,
            &n,
            &[
                "-f",
                "lavfi",
                "-i",
                &format!("sine=f={}:r=16000:d=1", 200 + 100 * i),
            ],
        );
        names.push(n);
    }
    // @list: relative to the list's folder; comments and blank lines skipped.
    let list = dir.join("list.txt");
    let mut text = String::from("# the corpus\n\n");
    for n in names.iter().rev() {
        text.push_str(n);
        text.push('\n');
    }
    std::fs::write(&list, text).unwrap();
    let mut seen = Vec::new();
    for k in 0..2 {
        let out = d.path(&format!("out{k}"));
        let o = vx()
            .args([
                "-q",
                "run",
                &format!("@{}", s(&list)),
                "--ops",
                "audio",
                "-o",
                s(&out),
            ])
            .args(["--shard", &format!("{k}/2")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        seen.extend(
            lines(&out)
                .into_iter()
                .map(|l| l["id"].as_str().unwrap().to_string()),
        );
    }
    seen.sort();
    let mut uniq = seen.clone();
    uniq.dedup();
    assert_eq!(seen, uniq, "an input in two shards");
    assert_eq!(seen.len(), 6, "{seen:?}");
    let o = run_vx(&[
        "run",
        s(&dir),
        "--ops",
        "audio",
        "-o",
        s(&d.path("x")),
        "--shard",
        "2/2",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A file deleted while the run is going gets its error line; the others finish (issue #11,
/// robustness).
#[test]
fn a_file_deleted_during_the_run_gets_its_line() {
    let d = TempDir::new("bulk-deleted");
    let dir = d.path("in");
    std::fs::create_dir_all(&dir).unwrap();
    // A slow first input (a keyframe every frame), then the one that will vanish.
    let slow = clip(
        &dir,
        "a-slow.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x480:rate=25",
            "-t",
            "8",
            "-c:v",
            "libx264",
            "-g",
            "1",
        ],
    );
    let gone = clip(&dir, "b-gone.wav", &["-f", "lavfi", "-i", A, "-t", "1"]);
    let out = d.path("out");
    let child = vx()
        .args([
            "-q",
            "run",
            s(&dir),
            "--ops",
            "[keyframes,audio]",
            "-o",
            s(&out),
            "-j",
            "1",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::remove_file(&gone).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let got = by_name(&lines(&out));
    assert_eq!(got["a-slow.mp4"]["status"], "ok", "{}", got["a-slow.mp4"]);
    let g = &got["b-gone.wav"];
    assert_eq!(g["status"], "error", "{g}");
    assert!(g["reason"].as_str().unwrap().contains("b-gone.wav"), "{g}");
    assert!(slow.exists());
    check_published(&out);
}
