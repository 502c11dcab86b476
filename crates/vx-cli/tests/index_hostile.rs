//! `vx index`, `vx search`, `vx serve` and `vx mcp` on results directories and requests made
//! by an adversary (regressions of an adversarial test): links out of OUTDIR, a source
//! swapped for a link after indexing, outputs that are /dev/zero, FIFOs or not JSON, a damaged
//! index.db, an index path that is /dev/null, HTTP requests with odd ranges and hosts, and
//! JSON-RPC messages that are not valid requests. No model is needed.
mod common;
use common::*;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// vx with its address space limited to 4 GiB (a regression reading /dev/zero fails instead
/// of taking the machine's memory) and killed after `secs` (one blocked on a FIFO fails
/// instead of hanging): its output, and whether it had to be killed.
fn bounded(args: &[&str], secs: u64) -> (Output, bool) {
    let mut cmd = vx();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: setrlimit only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let t0 = Instant::now();
    let mut killed = false;
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().unwrap(), killed)
}

/// Two pictures (copies of the shared bus.jpg and dog.jpg) run with `--ops keyframes` into
/// OUTDIR (no model needed; vx run indexes them): media dir, OUTDIR, and the input ids.
fn results(d: &TempDir) -> (PathBuf, PathBuf, String, String) {
    let media = d.path("media");
    std::fs::create_dir_all(&media).unwrap();
    for f in ["bus.jpg", "dog.jpg"] {
        std::fs::copy(need(&format!("media/{f}")), media.join(f)).unwrap();
    }
    let out = d.path("out");
    let o = vx()
        .args(["-q", "run", s(&media), "--ops", "keyframes", "-o", s(&out)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let id = |prefix: &str| {
        std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with(prefix))
            .unwrap()
    };
    let (bus, dog) = (id("bus.jpg-"), id("dog.jpg-"));
    (media, out, bus, dog)
}

fn sql(db: &Path, query: &str) -> String {
    let o = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(sys.argv[2]).fetchall())",
        ])
        .arg(db)
        .arg(query)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// A GET of `target` as written (`headers` may repeat Host): status, headers (lower-case),
/// body.
fn get(addr: &str, target: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    http(addr, "GET", target, headers)
}

/// Items 1 and 2: nothing outside OUTDIR is indexed or served — an input directory that is a
/// link out of it, a results directory replaced by such a link after indexing, a source
/// replaced by a link (or another file) after indexing.
#[test]
fn serve_never_serves_outside_outdir_or_a_changed_source() {
    let d = TempDir::new("hostile-serve");
    let (media, out, bus, dog) = results(&d);
    let outside = d.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::copy(
        out.join(&bus).join("result.json"),
        outside.join("result.json"),
    )
    .unwrap();
    std::fs::write(outside.join("secret.txt"), "secret outside OUTDIR\n").unwrap();
    std::os::unix::fs::symlink(&outside, out.join("evil-00000000")).unwrap();
    let o = vx()
        .args(["index", s(&out), "--no-embed"])
        .output()
        .unwrap();
    // Refused, named, said once; the two real inputs indexed.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.lines().any(|l| l.starts_with("vx: error:")
            && l.contains("evil-00000000")
            && l.contains("outside")),
        "{e}"
    );
    assert!(e.contains("indexed 2 input(s)"), "{e}");
    let db = out.join("index.db");
    assert!(!sql(&db, "select input_id from files").contains("evil"));

    let (_server, addr) = serve(&out);
    let bytes = std::fs::read(media.join("bus.jpg")).unwrap();
    let len = bytes.len();
    let src = format!("/src/{bus}");
    let (st, _, body) = get(&addr, &src, &[]);
    assert_eq!((st, body.len()), (200, len));
    for p in [
        "/out/evil-00000000/secret.txt".to_string(),
        "/out/evil-00000000/result.json".to_string(),
        "/src/evil-00000000".to_string(),
    ] {
        let (st, _, body) = get(&addr, &p, &[]);
        assert_eq!(st, 404, "{p}");
        assert!(!String::from_utf8_lossy(&body).contains("secret"), "{p}");
    }

    // Item 7: ranges as RFC 9110 reads them.
    let whole = format!("bytes 0-{}/{len}", len - 1);
    let (st, head, body) = get(&addr, &src, &[("Range", "bytes=-1000000")]);
    assert_eq!(st, 206, "a suffix longer than the file: {head}");
    assert!(head.contains(&format!("content-range: {whole}")), "{head}");
    assert_eq!(body, bytes);
    let (st, head, body) = get(&addr, &src, &[("Range", "bytes=100-99999999")]);
    assert_eq!(st, 206, "{head}");
    assert_eq!(body, &bytes[100..]);
    for r in ["bytes= 0 - 5 ", "bytes=0 -5", "bytes=0- 5"] {
        let (st, _, body) = get(&addr, &src, &[("Range", r)]);
        assert_eq!(
            (st, body.len()),
            (200, len),
            "{r:?}: malformed, the whole file"
        );
    }
    let (st, _, body) = get(&addr, &src, &[("Range", "bytes=0-5")]);
    assert_eq!((st, body.as_slice()), (206, &bytes[..6]));
    let past = format!("bytes={len}-");
    let (st, head, _) = get(&addr, &src, &[("Range", past.as_str())]);
    assert_eq!(st, 416);
    assert!(
        head.contains(&format!("content-range: bytes */{len}")),
        "{head}"
    );
    // Item 7: a query over 1,000 characters is the client's mistake (400, not 500).
    let long = format!("/api/search?q={}", "a".repeat(1001));
    let (st, _, body) = get(&addr, &long, &[]);
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("at most 1000"));
    // Item 7: two Host headers (RFC 9112: 400); an absolute-form target naming another host
    // (its authority is the host of the request), even with a good Host header.
    let (st, _, _) = get(&addr, "/api/files", &[("Host", &addr), ("Host", &addr)]);
    assert_eq!(st, 400);
    let port = addr.rsplit(':').next().unwrap();
    let evil = format!("http://evil.example:{port}/api/files");
    let (st, _, body) = get(&addr, &evil, &[]);
    assert_eq!(st, 403, "{}", String::from_utf8_lossy(&body));
    let good = format!("http://{addr}/api/files");
    assert_eq!(get(&addr, &good, &[]).0, 200);

    // Item 2: the source swapped for a link after indexing: 410, never the link's target.
    let bus_jpg = media.join("bus.jpg");
    std::fs::rename(&bus_jpg, media.join("bus.real")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &bus_jpg).unwrap();
    let (st, _, body) = get(&addr, &src, &[]);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(st, 410, "{text}");
    assert!(
        !text.contains("root:") && text.contains("vx index"),
        "{text}"
    );
    // ... or for another regular file (of another size), or edited.
    std::fs::remove_file(&bus_jpg).unwrap();
    std::fs::write(&bus_jpg, "not the picture indexed\n").unwrap();
    let (st, _, body) = get(&addr, &src, &[]);
    assert_eq!(st, 410);
    assert!(!String::from_utf8_lossy(&body).contains("not the picture"));
    let f: Value = serde_json::from_slice(&get(&addr, &format!("/api/file/{bus}"), &[]).2).unwrap();
    assert!(f["media"]["url"].is_null(), "{f}");
    // The original back in place (same inode, size and time): played again.
    std::fs::remove_file(&bus_jpg).unwrap();
    std::fs::rename(media.join("bus.real"), &bus_jpg).unwrap();
    assert_eq!(get(&addr, &src, &[]).0, 200);

    // Item 1: an index an earlier vx made over a link out of OUTDIR (its recorded directory
    // elsewhere): nothing served from there.
    let real_dir = sql(
        &db,
        &format!("select dir from files where input_id = '{dog}'"),
    );
    let set_dir = |dir: &str| {
        let o = Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('update files set dir = ? where input_id = ?', (sys.argv[2], sys.argv[3])); c.commit()",
            ])
            .args([s(&db), dir, dog.as_str()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    set_dir(s(&std::fs::canonicalize(&outside).unwrap()));
    let (st, _, body) = get(&addr, &format!("/out/{dog}/secret.txt"), &[]);
    assert_eq!(st, 404);
    assert!(!String::from_utf8_lossy(&body).contains("secret"));
    set_dir(s(&std::fs::canonicalize(out.join(&dog)).unwrap()));
    assert!(
        sql(
            &db,
            &format!("select dir from files where input_id = '{dog}'")
        ) == real_dir
    );
    // Item 1: a results directory replaced by a link out of OUTDIR after indexing.
    let dog_dir = out.join(&dog);
    assert_eq!(get(&addr, &format!("/out/{dog}/result.json"), &[]).0, 200);
    std::fs::rename(&dog_dir, d.path("dog.real")).unwrap();
    std::os::unix::fs::symlink(&outside, &dog_dir).unwrap();
    let (st, _, body) = get(&addr, &format!("/out/{dog}/secret.txt"), &[]);
    assert_eq!(st, 404);
    assert!(!String::from_utf8_lossy(&body).contains("secret"));
}

/// Items 3, 4, 5 and 8: `vx index` and `vx search` on outputs that are not what result.json
/// says (missing, not JSON, /dev/zero, a FIFO), a queries file that is /dev/zero, a damaged
/// index.db, and an index path that is not a file.
#[test]
fn index_reads_only_what_it_can_and_rebuilds_a_damaged_index() {
    let d = TempDir::new("hostile-index");
    let (_media, out, bus, _dog) = results(&d);
    let dir = out.join(&bus);
    let mut r: Value =
        serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap();
    for op in ["detect", "ocr", "transcribe", "scenes"] {
        r["ops"][op] = json!({"status": "ok"});
    }
    std::fs::write(dir.join("result.json"), r.to_string()).unwrap();
    std::fs::write(dir.join("detect.json"), "{bad").unwrap();
    // transcribe.json: none; ocr.json: /dev/zero; scenes.json: a FIFO no one writes.
    std::os::unix::fs::symlink("/dev/zero", dir.join("ocr.json")).unwrap();
    let fifo = std::ffi::CString::new(dir.join("scenes.json").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let (o, killed) = bounded(&["index", s(&out), "--no-embed"], 60);
    assert!(!killed, "vx index hung: {}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    for (file, cause) in [
        ("detect.json", "key must be a string"),
        ("transcribe.json", "No such file"),
        ("ocr.json", "/dev/zero"),
        ("scenes.json", "FIFO"),
    ] {
        assert!(
            e.lines().any(|l| l.starts_with("vx: warning:")
                && l.contains(&format!("{bus}/{file}"))
                && l.contains(cause)),
            "{file}: {cause}: {e}"
        );
    }
    // The rest of the input is indexed, and it does not look complete.
    let db = out.join("index.db");
    let rows = sql(
        &db,
        &format!("select status from files where input_id = '{bus}'"),
    );
    assert_eq!(rows.trim(), "[('partial',)]");
    assert!(sql(&db, &format!("select count(*) from keyframes join files on files.id = file_id where input_id = '{bus}'")).contains("(1,)"));

    // `vx search --queries` a device: one error line, at once.
    let (o, killed) = bounded(&["search", s(&out), "--queries", "/dev/zero"], 60);
    assert!(!killed);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("/dev/zero") && e.contains("character device") && e.lines().count() == 1,
        "{e}"
    );

    // A damaged index: search says so and how to rebuild; the rebuild moves it aside.
    for f in ["transcribe.json", "ocr.json", "scenes.json", "detect.json"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let mut r = r.clone();
    for op in ["detect", "ocr", "transcribe", "scenes"] {
        r["ops"].as_object_mut().unwrap().remove(op);
    }
    std::fs::write(dir.join("result.json"), r.to_string()).unwrap();
    for damage in ["truncate", "text"] {
        let o = vx()
            .args(["-q", "index", s(&out), "--no-embed"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let _ = std::fs::remove_file(out.join("index.db-wal"));
        if damage == "text" {
            std::fs::write(&db, "hello not sqlite").unwrap();
        } else {
            let len = std::fs::metadata(&db).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&db)
                .unwrap()
                .set_len(len / 2)
                .unwrap();
        }
        let damaged = std::fs::read(&db).unwrap();
        // (A truncated file may still answer a search from the pages it has; an error, when
        // there is one, says how to rebuild.)
        let o = vx().args(["search", s(&out), "bus"]).output().unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{damage}: {e}");
        if damage == "text" || !e.is_empty() {
            assert!(
                e.lines().count() == 1 && e.contains("vx index OUTDIR"),
                "{damage}: {e}"
            );
        }
        let o = vx()
            .args(["index", s(&out), "--no-embed"])
            .output()
            .unwrap();
        let e = stderr(&o);
        assert!(o.status.success(), "{damage}: {e}");
        let aside = out.join("index.db.damaged");
        assert!(
            e.contains("moved aside to") && e.contains(&*aside.to_string_lossy()),
            "{e}"
        );
        assert_eq!(std::fs::read(&aside).unwrap(), damaged, "kept as it was");
        std::fs::remove_file(&aside).unwrap();
        assert_eq!(sql(&db, "select count(*) from files").trim(), "[(2,)]");
    }

    // Item 8: an index path that is not a file: a usage error, nothing made beside it.
    let fifo_db = d.path("fifo.db");
    let c = std::ffi::CString::new(fifo_db.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let null_journal = Path::new("/dev/null-journal").exists();
    for p in [Path::new("/dev/null"), fifo_db.as_path(), d.0.as_path()] {
        let (o, killed) = bounded(&["index", s(&out), "--index", s(p), "--no-embed"], 60);
        assert!(!killed);
        assert_eq!(o.status.code(), Some(2), "{}: {}", p.display(), stderr(&o));
        assert!(stderr(&o).contains("not an index file"), "{}", stderr(&o));
    }
    assert_eq!(Path::new("/dev/null-journal").exists(), null_journal);
    for f in ["fifo.db-journal", "fifo.db-wal"] {
        assert!(!d.path(f).exists(), "{f}");
    }
}

/// Item 6: `vx mcp` answers every invalid request (id null when it had none), in a batch
/// too; only a valid request without an id is a notification. A `kind` of the wrong type is
/// an error result; `extract` says what a path that is not a file is.
#[test]
fn mcp_answers_invalid_requests_and_says_what_is_wrong() {
    let d = TempDir::new("hostile-mcp");
    let (_media, out, _bus, _dog) = results(&d);
    let mut child = Killed(
        vx().args(["mcp", s(&out)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let call = |id: i64, name: &str, args: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": name, "arguments": args}})
        .to_string()
    };
    let msgs = [
        r#"{"jsonrpc":"2.0","method":1,"params":"bar"}"#.to_string(),
        r#"{"foo":"boo"}"#.to_string(),
        r#"[{"foo":"boo"}]"#.to_string(),
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"foo":"boo"}]"#.to_string(),
        // A valid notification: no answer. Params that are a string: not valid.
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string(),
        r#"{"jsonrpc":"2.0","method":"ping","params":"bar"}"#.to_string(),
        call(2, "search", json!({"query": "bus", "kind": 5})),
        call(3, "extract", json!({"path": s(&d.0)})),
        call(4, "extract", json!({"path": "/dev/zero"})),
        call(5, "extract", json!({"path": "/no/such/file.mp4"})),
        call(6, "extract", json!({"path": "/dev/zero", "ops": 7})),
        r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#.to_string(),
    ];
    {
        let mut stdin = child.0.stdin.take().unwrap();
        for m in &msgs {
            writeln!(stdin, "{m}").unwrap();
        }
    }
    let t0 = Instant::now();
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "vx mcp did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let r: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(r.len(), 11, "{stdout}");
    let invalid =
        |v: &Value| v["error"]["code"] == -32600 && v["id"].is_null() && v["jsonrpc"] == "2.0";
    assert!(invalid(&r[0]), "{}", r[0]);
    assert!(invalid(&r[1]), "{}", r[1]);
    assert!(
        r[2].as_array()
            .is_some_and(|b| b.len() == 1 && invalid(&b[0])),
        "{}",
        r[2]
    );
    let b = r[3].as_array().unwrap();
    assert_eq!(b.len(), 2, "{}", r[3]);
    assert!(b[0]["id"] == 1 && b[0]["result"].is_object(), "{}", r[3]);
    assert!(invalid(&b[1]), "{}", r[3]);
    assert!(invalid(&r[4]), "{}", r[4]);
    let text = |v: &Value| {
        assert_eq!(v["result"]["isError"], true, "{v}");
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(text(&r[5]).contains("unknown kind: 5"), "{}", r[5]);
    assert!(text(&r[6]).contains("is a directory"), "{}", r[6]);
    assert!(text(&r[7]).contains("not a regular file"), "{}", r[7]);
    assert!(text(&r[8]).contains("no such file"), "{}", r[8]);
    assert!(text(&r[9]).contains("not a regular file"), "{}", r[9]);
    assert_eq!(r[10]["id"], 7);
}
