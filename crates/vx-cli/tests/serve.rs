//! `vx serve` (issue #14 item 4): the web page over an index, tested over raw HTTP (what is
//! served and what is not: `..`, `%2e%2e`, absolute paths, links out, foreign Host headers)
//! and in a real browser (Debian's chromium driven through chromedriver's WebDriver
//! protocol): type a query, see the hit with its thumbnail loaded, click it, and find the
//! video element at the hit's second; a file's page with its scenes, transcript and boxes.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn with_models(args: &[&str]) -> std::process::Output {
    vx().args(args)
        .env("VX_MODEL_DIR", need("models"))
        .output()
        .unwrap()
}

fn get_json(addr: &str, path: &str) -> Value {
    let (status, _, body) = http(addr, "GET", path, &[]);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// A 14 s MP4 of two shots (a moving test pattern for 4 s, then colour bars) with jfk.wav
/// starting at 3 s, and bus.jpg: run with scenes, keyframes, detect and transcribe; the
/// index is `vx run`'s default, OUTDIR/index.db.
fn corpus(d: &TempDir) -> (PathBuf, PathBuf) {
    let media = d.path("media");
    std::fs::create_dir_all(&media).unwrap();
    let clip = media.join("talk.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25:d=4",
        "-f",
        "lavfi",
        "-i",
        "smptebars=size=320x180:rate=25:d=10",
        "-i",
        s(&need("media/jfk.wav")),
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1[v];[2:a]adelay=3000|3000[a]",
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-t",
        "14",
        "-c:v",
        "libx264",
        "-g",
        "50",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        s(&clip),
    ]);
    std::fs::copy(need("media/bus.jpg"), media.join("bus.jpg")).unwrap();
    let out = d.path("out");
    let o = with_models(&[
        "-q",
        "run",
        s(&media),
        "--ops",
        "scenes;keyframes;detect;transcribe",
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("index.db").is_file(), "vx run made no index");
    (media, out)
}

fn input_dir(out: &Path, prefix: &str) -> (String, PathBuf) {
    let dir = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}* in {}", out.display()));
    (dir.file_name().unwrap().to_string_lossy().into_owned(), dir)
}

#[test]
fn serves_the_index_files_and_nothing_else() {
    let d = TempDir::new("serve-http");
    let (media, out) = corpus(&d);
    let (clip_id, clip_dir) = input_dir(&out, "talk.mp4");
    let (bus_id, bus_dir) = input_dir(&out, "bus.jpg");
    // Regression: a still picture's detections name its keyframe image, as a video's do
    // (the page draws the boxes on it).
    let det = read_json(&bus_dir.join("detect.json"));
    assert_eq!(det["results"][0]["keyframe"], "kf-000000.jpg", "{det}");
    // A link out of a results directory, planted where the server looks.
    std::os::unix::fs::symlink(out.join("index.db"), clip_dir.join("leak.jpg")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", clip_dir.join("passwd.jpg")).unwrap();
    let (server, addr) = serve(&out);

    // The pages and their script, from the binary.
    let (st, head, body) = http(&addr, "GET", "/", &[]);
    assert_eq!(st, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(String::from_utf8_lossy(&body).contains("/static/app.js"));
    assert_eq!(http(&addr, "GET", "/static/app.js", &[]).0, 200);
    assert_eq!(http(&addr, "GET", &format!("/file/{clip_id}"), &[]).0, 200);

    // Search: the hit with its links; the same first hit as `vx search`.
    let r = get_json(&addr, "/api/search?q=country&k=3");
    let hit = &r["hits"][0];
    assert_eq!(hit["input_id"], clip_id.as_str(), "{r}");
    assert_eq!(hit["kind"], "speech");
    assert!(hit["text"].as_str().unwrap().contains("country"), "{hit}");
    assert_eq!(hit["media"]["type"], "video");
    let cli = with_models(&["search", s(&out), "country", "-k", "1", "--json"]);
    let cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(cli["start"], hit["start"]);
    // The thumbnail is the keyframe image, byte for byte.
    let thumb = hit["thumb"].as_str().unwrap();
    let (st, head, body) = http(&addr, "GET", thumb, &[]);
    assert_eq!(st, 200, "{thumb}");
    assert!(head.contains("content-type: image/jpeg"), "{head}");
    let kf = Path::new(hit["keyframe"].as_str().unwrap());
    assert_eq!(body, std::fs::read(kf).unwrap());
    // The source, with byte ranges (what lets a video element seek).
    let media_url = hit["media"]["url"].as_str().unwrap();
    let bytes = std::fs::read(media.join("talk.mp4")).unwrap();
    let (st, head, body) = http(&addr, "GET", media_url, &[("Range", "bytes=1000-1999")]);
    assert_eq!(st, 206, "{head}");
    assert!(head.contains("content-type: video/mp4"), "{head}");
    assert_eq!(body, &bytes[1000..2000]);
    let (st, _, body) = http(&addr, "GET", media_url, &[]);
    assert_eq!((st, body.len()), (200, bytes.len()));
    // Several ranges, or a malformed one: the whole file (RFC 9110), not 416; a range past
    // the end: 416.
    for r in ["bytes=0-1,5-9", "bytes=abc", "items=0-5"] {
        let (st, _, body) = http(&addr, "GET", media_url, &[("Range", r)]);
        assert_eq!((st, body.len()), (200, bytes.len()), "{r}");
    }
    let past = format!("bytes={}-", bytes.len() + 10);
    let (st, _, _) = http(&addr, "GET", media_url, &[("Range", past.as_str())]);
    assert_eq!(st, 416);
    // A file's record: the picture's boxes in its own pixels, with its keyframe's URL.
    let f = get_json(&addr, &format!("/api/file/{bus_id}"));
    assert_eq!(f["frame"], json!({"width": 810, "height": 1080}));
    assert_eq!(f["media"]["type"], "image");
    let objects = f["objects"].as_array().unwrap();
    assert_eq!(
        objects.len(),
        det["results"][0]["detections"].as_array().unwrap().len()
    );
    assert!(objects.iter().all(|o| o["box"]["w"].as_f64().is_some()
        && o["keyframe_url"] == format!("/out/{bus_id}/kf-000000.jpg")));
    let files = get_json(&addr, "/api/files");
    assert_eq!(files["files"].as_array().unwrap().len(), 2, "{files}");

    // Nothing outside the index's own files: each of these is a plain 404.
    let not_found = [
        format!("/out/{clip_id}/../index.db"),
        format!("/out/{clip_id}/../../media/talk.mp4"),
        format!("/out/{clip_id}/%2e%2e/index.db"),
        format!("/out/{clip_id}/%2E%2E%2Fresults.jsonl"),
        format!("/out/{clip_id}/..%2findex.db"),
        format!("/out/{clip_id}//etc/passwd"),
        format!("/out/{clip_id}/%2Fetc%2Fpasswd"),
        format!("/out/{clip_id}/leak.jpg"),
        format!("/out/{clip_id}/passwd.jpg"),
        format!("/out/{clip_id}/"),
        "/out/../index.db".to_string(),
        "/out/%2e%2e/index.db".to_string(),
        "/out/no-such-input/result.json".to_string(),
        "/src/no-such-input".to_string(),
        "/src/..%2Findex.db".to_string(),
        "/index.db".to_string(),
        "/static/../index.db".to_string(),
        "/etc/passwd".to_string(),
    ];
    for p in &not_found {
        let (st, _, body) = http(&addr, "GET", p, &[]);
        assert!(
            st == 404 || st == 400,
            "{p}: {st} {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        );
        assert!(!body.starts_with(b"SQLite format"), "{p} served the index");
        assert!(!String::from_utf8_lossy(&body).contains("root:"), "{p}");
    }
    // Results files inside the directory are served (result.json, the page links to it).
    assert_eq!(
        http(&addr, "GET", &format!("/out/{clip_id}/result.json"), &[]).0,
        200
    );
    // Read-only: no other method; another Host (DNS rebinding) is refused.
    assert_eq!(http(&addr, "POST", "/api/search?q=x", &[]).0, 405);
    assert_eq!(
        http(&addr, "PUT", &format!("/out/{clip_id}/x.jpg"), &[]).0,
        405
    );
    assert_eq!(
        http(&addr, "GET", "/", &[("Host", "attacker.example:80")]).0,
        403
    );
    // Another site may link to the pages but not load data, media or results files.
    let cross = [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Mode", "no-cors"),
    ];
    let nav = [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Mode", "navigate"),
    ];
    assert_eq!(http(&addr, "GET", "/api/search?q=country", &cross).0, 403);
    assert_eq!(http(&addr, "GET", media_url, &cross).0, 403);
    assert_eq!(http(&addr, "GET", thumb, &nav).0, 403);
    assert_eq!(http(&addr, "GET", "/", &nav).0, 200);
    assert_eq!(http(&addr, "GET", &format!("/file/{clip_id}"), &nav).0, 200);
    let same = [
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "no-cors"),
    ];
    let (st, head, _) = http(&addr, "GET", thumb, &same);
    assert_eq!(st, 200);
    // Results files are shown, never run as pages of this origin.
    assert!(head.contains("content-security-policy: sandbox"), "{head}");
    assert!(
        head.contains("cross-origin-resource-policy: same-origin"),
        "{head}"
    );
    let port = addr.rsplit(':').next().unwrap();
    let localhost = format!("localhost:{port}");
    assert_eq!(http(&addr, "GET", "/", &[("Host", &localhost)]).0, 200);
    // Bad queries are JSON errors.
    assert_eq!(http(&addr, "GET", "/api/search?q=", &[]).0, 400);
    assert_eq!(http(&addr, "GET", "/api/search?q=a&kind=sound", &[]).0, 400);
    assert_eq!(http(&addr, "GET", "/api/file/nope", &[]).0, 404);

    // An input added by another process while the server runs is searched, by meaning too
    // (the server holds the vectors and reads them again when the index has changed).
    let before = get_json(&addr, "/api/search?q=a%20pet%20animal&kind=object");
    let dog = media.join("dog.jpg");
    std::fs::copy(need("media/dog.jpg"), &dog).unwrap();
    let o = with_models(&[
        "-q",
        "run",
        s(&dog),
        "--ops",
        "keyframes;detect",
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = get_json(&addr, "/api/search?q=a%20pet%20animal&kind=object");
    let by_meaning = |r: &Value| {
        r["hits"].as_array().unwrap().iter().any(|h| {
            h["source"].as_str().is_some_and(|s| s.ends_with("dog.jpg"))
                && h["text"] == "dog"
                && h.get("text_rank").is_none()
        })
    };
    assert!(!by_meaning(&before), "{before}");
    assert!(
        by_meaning(&after),
        "the new input is not searched by meaning: {after}"
    );

    // SIGTERM stops it, with a client holding a download open without reading it (as a
    // browser holds a paused video). (Here the 1.4 MB file fits in the socket buffers, so
    // the server's 2 s limit on the connections' drain is not what ends it; the limit is for
    // files larger than those buffers.)
    let mut held = TcpStream::connect(&addr).unwrap();
    write!(held, "GET {media_url} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut first = [0u8; 64];
    held.read_exact(&mut first).unwrap();
    let mut server = server;
    let pid = server.0.id() as i32;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = server.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "vx serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    drop(held);
}

#[test]
fn serve_refuses_what_is_not_an_index() {
    let d = TempDir::new("serve-none");
    let o = vx().args(["serve", s(&d.0)]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no index"), "{}", stderr(&o));
    // A port already taken: one line naming it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = d.path("out");
    std::fs::create_dir_all(&out).unwrap();
    // `vx run --no-index` makes none: still nothing to serve.
    let run = |extra: &[&str]| {
        let bus = need("media/bus.jpg");
        let mut args = vec!["-q", "run", s(&bus), "--ops", "probe", "-o", s(&out)];
        args.extend_from_slice(extra);
        let o = vx().args(&args).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    };
    run(&["--no-index"]);
    assert!(!out.join("index.db").exists());
    let o = vx().args(["serve", s(&out)]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // By default it does (`--force`: the input runs again, into the index).
    run(&["--force"]);
    assert!(out.join("index.db").is_file());
    let o = vx()
        .args(["-q", "serve", s(&out), "--listen", &addr])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains(&addr) && e.lines().count() == 1, "{e}");
}

// ---- the browser ----

/// chromedriver with one headless chromium session, spoken to in WebDriver's JSON.
struct Browser {
    base: String,
    session: String,
    _driver: Killed,
}

impl Browser {
    fn start(d: &TempDir) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver: run scripts/setup)");
        let driver = Killed(driver);
        let base = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = d.path("chromium-profile");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run",
                         "--disable-quic", "--mute-audio", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let r = post(&format!("{base}/session"), &caps);
        let session = r["sessionId"].as_str().expect("no session").to_string();
        Browser {
            base,
            session,
            _driver: driver,
        }
    }

    fn cmd(&self, path: &str, body: Value) -> Value {
        post(
            &format!("{}/session/{}/{path}", self.base, self.session),
            &body,
        )
    }

    fn open(&self, url: &str) {
        self.cmd("url", json!({ "url": url }));
    }

    fn js(&self, script: &str) -> Value {
        self.cmd("execute/sync", json!({"script": script, "args": []}))
    }

    /// Poll `script` until it returns something other than null/false (20 s at most).
    fn wait(&self, what: &str, script: &str) -> Value {
        let t0 = Instant::now();
        loop {
            let v = self.js(script);
            if !v.is_null() && v != json!(false) {
                return v;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let page = self.js("return document.body.innerText.slice(0, 2000)");
                panic!("timed out waiting for {what}; page: {page}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn element(&self, css: &str) -> String {
        let r = self.cmd("element", json!({"using": "css selector", "value": css}));
        r.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {r}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let e = self.element(css);
        self.cmd(&format!("element/{e}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.cmd(&format!("element/{e}/value"), json!({ "text": text }));
    }

    /// The player's current time once it has its metadata (or its error, for the message).
    fn player_time(&self) -> f64 {
        let v = self.wait(
            "the player to load",
            "const m = document.querySelector('#player video, #player audio');
             if (!m) return null;
             if (m.error) return {error: m.error.code, message: m.error.message};
             return m.readyState >= 1 ? {t: m.currentTime} : null;",
        );
        v["t"]
            .as_f64()
            .unwrap_or_else(|| panic!("the video did not load: {v}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
    }
}

fn post(url: &str, body: &Value) -> Value {
    let sent = ureq::post(url)
        .set("Content-Type", "application/json")
        .send_string(&body.to_string());
    match sent {
        Ok(r) => serde_json::from_str::<Value>(&r.into_string().unwrap()).unwrap()["value"].take(),
        Err(ureq::Error::Status(code, r)) => {
            panic!(
                "WebDriver {url}: {code} {}",
                r.into_string().unwrap_or_default()
            )
        }
        Err(e) => panic!("WebDriver {url}: {e}"),
    }
}

/// Markup in an indexed text stays text on the page.
fn plant_markup(out: &Path) {
    let dir = out.join("markup.mp4-00000000");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("result.json"),
        json!({"source": "markup.mp4", "status": "ok",
               "ops": {"transcribe": {"status": "ok"}}})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("transcribe.json"),
        json!({"segments": [{"start": 1.0, "end": 2.0,
            "text": "zebra <img id=\"injected\" src=x onerror=\"document.title='pwned'\">"}]})
        .to_string(),
    )
    .unwrap();
}

#[test]
fn search_and_play_in_a_real_browser() {
    let d = TempDir::new("serve-browser");
    let (_media, out) = corpus(&d);
    plant_markup(&out);
    // A rebuild takes the planted input in (and keeps the others).
    let o = with_models(&["-q", "index", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (clip_id, _) = input_dir(&out, "talk.mp4");
    let (bus_id, bus_dir) = input_dir(&out, "bus.jpg");
    let (_server, addr) = serve(&out);
    let site = format!("http://{addr}");
    let b = Browser::start(&d);

    // The home page lists the files.
    b.open(&format!("{site}/"));
    b.wait(
        "the file list",
        "return document.querySelectorAll('#file-list li').length === 3",
    );
    // Type a query; the hit appears with its thumbnail loaded.
    b.type_into("#q", "country\u{E007}");
    let hit = b.wait(
        "a hit with its thumbnail",
        "const h = document.querySelector('#hits .hit');
         if (!h) return null;
         const img = h.querySelector('img.thumb');
         if (!img || !img.complete || img.naturalWidth === 0) return null;
         return {text: h.querySelector('.snippet').textContent,
                 source: h.querySelector('.source').textContent,
                 start: parseFloat(h.dataset.start), width: img.naturalWidth};",
    );
    assert!(hit["text"].as_str().unwrap().contains("country"), "{hit}");
    assert_eq!(hit["source"], "talk.mp4", "{hit}");
    let start = hit["start"].as_f64().unwrap();
    assert!(start >= 3.0, "{hit}: the speech starts at 3 s");
    assert!(b
        .js("return location.search")
        .as_str()
        .unwrap()
        .contains("q=country"));
    // Click it: the video plays from the hit's second.
    b.click("#hits .hit .snippet");
    let t = b.player_time();
    assert!(
        t >= start - 0.05 && t < start + 2.0,
        "currentTime {t}, hit at {start}"
    );

    // The file's page: scenes as thumbnails (two shots), the transcript with clickable times.
    b.open(&format!("{site}/file/{clip_id}"));
    let shots = b.wait(
        "the scene strip",
        "const imgs = [...document.querySelectorAll('#scenes img')];
         return imgs.length >= 2 && imgs.every(i => i.complete && i.naturalWidth > 0)
             ? imgs.length : null;",
    );
    assert!(shots.as_u64().unwrap() >= 2, "{shots}");
    let n = b.wait(
        "the transcript",
        "return document.querySelectorAll('#speech li').length || null",
    );
    let last = n.as_u64().unwrap();
    let t_seg = b.js(&format!(
        "return parseFloat(document.querySelector('#speech li:nth-child({last}) button.t').dataset.t)"
    ));
    let t_seg = t_seg.as_f64().unwrap();
    b.player_time();
    b.click(&format!("#speech li:nth-child({last}) button.t"));
    let t = b.wait(
        "the seek",
        &format!(
            "const m = document.querySelector('#player video');
             return Math.abs(m.currentTime - {t_seg}) < 2 && m.currentTime >= {t_seg} - 0.05
                 ? m.currentTime : null;"
        ),
    );
    assert!(t.as_f64().unwrap() >= t_seg - 0.05, "{t} vs {t_seg}");

    // The picture's page: its detections drawn on it, one box each.
    b.open(&format!("{site}/file/{bus_id}"));
    let det = read_json(&bus_dir.join("detect.json"));
    let want = det["results"][0]["detections"].as_array().unwrap().len();
    let drawn = b.wait(
        "the boxes",
        "const img = document.querySelector('#frames img');
         const n = document.querySelectorAll('#frames svg.boxes rect').length;
         return img && img.complete && img.naturalWidth > 0 && n ? n : null;",
    );
    assert_eq!(drawn.as_u64().unwrap() as usize, want);
    // The picture itself in the player.
    b.wait(
        "the picture in the player",
        "const i = document.querySelector('#player img.still');
         return i && i.complete && i.naturalWidth === 810;",
    );

    // Markup in a transcript is shown as text, never run.
    b.open(&format!("{site}/?q=zebra"));
    let snippet = b.wait(
        "the planted hit",
        "const s = document.querySelector('#hits .snippet'); return s && s.textContent;",
    );
    assert!(
        snippet.as_str().unwrap().contains("<img id=\"injected\""),
        "{snippet}"
    );
    assert_eq!(
        b.js("return document.getElementById('injected')"),
        Value::Null
    );
    assert_ne!(b.js("return document.title"), "pwned");
}
