//! Test harness: a temp dir per test, media generated with the `ffmpeg` CLI, and reference
//! answers from `ffprobe` / `ffmpeg` (the real tools, never mocks).
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A fresh directory under the system temp dir, removed on drop unless the test panicked.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("vx-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The vx binary, with caches (ONNX Runtime writes under $XDG_CACHE_HOME) kept out of $HOME.
pub fn vx() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vx"));
    c.env("XDG_CACHE_HOME", std::env::temp_dir().join("vx-test-cache"));
    c
}

/// A shared speech clip (e.g. "media/jfk.wav") muxed as AAC into DIR/NAME.mp4 with an 11 s
/// test-pattern video track (the audio is cut to the shorter of the two).
pub fn speech_in_mp4(d: &TempDir, clip: &str, name: &str) -> PathBuf {
    let mp4 = d.path(&format!("{name}.mp4"));
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25:d=11",
        "-i",
        need(clip).to_str().unwrap(),
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-shortest",
        mp4.to_str().unwrap(),
    ]);
    mp4
}

/// Peak RSS in KiB of a vx run (same environment as [`vx`]), measured by GNU time.
pub fn peak_rss_kib(args: &[&str]) -> u64 {
    let o = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_vx"))
        .args(args)
        .env("XDG_CACHE_HOME", std::env::temp_dir().join("vx-test-cache"))
        .output()
        .expect("/usr/bin/time (Debian package 'time', installed by scripts/setup)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    err.lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time's %M on the last line")
}

pub fn run_vx(args: &[&str]) -> Output {
    vx().args(args).output().expect("run vx")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run the ffmpeg CLI; panics with its stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-nostdin"])
        .args(args)
        .output()
        .expect("ffmpeg");
    assert!(
        o.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn ffmpeg_stdout(args: &[&str]) -> Vec<u8> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin"])
        .args(args)
        .output()
        .expect("ffmpeg");
    assert!(
        o.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

pub fn ffprobe_json(args: &[&str]) -> Value {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .output()
        .expect("ffprobe");
    assert!(
        o.status.success(),
        "ffprobe {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Best-effort timestamps of the frames a full decode flags as key (ffprobe, all frames).
pub fn ffprobe_key_pts(file: &Path) -> Vec<i64> {
    let v = ffprobe_json(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=best_effort_timestamp,key_frame",
        file.to_str().unwrap(),
    ]);
    v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["key_frame"].as_i64() == Some(1))
        .map(|f| f["best_effort_timestamp"].as_i64().unwrap())
        .collect()
}

/// Best-effort timestamps of what `ffprobe -skip_frame nokey` outputs.
pub fn ffprobe_nokey_pts(file: &Path) -> Vec<i64> {
    let v = ffprobe_json(&[
        "-skip_frame",
        "nokey",
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=best_effort_timestamp",
        file.to_str().unwrap(),
    ]);
    v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["best_effort_timestamp"].as_i64().unwrap())
        .collect()
}

/// Time base of the first video stream as (num, den).
pub fn ffprobe_time_base(file: &Path) -> (i64, i64) {
    let v = ffprobe_json(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=time_base",
        file.to_str().unwrap(),
    ]);
    let tb = v["streams"][0]["time_base"].as_str().unwrap().to_string();
    let (n, d) = tb.split_once('/').unwrap();
    (n.parse().unwrap(), d.parse().unwrap())
}

/// The container's start time (ffprobe's format start_time; 0 when it has none).
pub fn ffprobe_start_time(file: &Path) -> f64 {
    let v = ffprobe_json(&["-show_entries", "format=start_time", file.to_str().unwrap()]);
    v["format"]["start_time"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

/// Decode an image file to packed RGB24 with the ffmpeg CLI.
pub fn decode_rgb(image: &Path) -> Vec<u8> {
    ffmpeg_stdout(&[
        "-i",
        image.to_str().unwrap(),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ])
}

/// The ffmpeg CLI's decode of every key frame (autorotated), as RGB24 frames of w x h.
pub fn reference_key_frames(file: &Path) -> Vec<u8> {
    ffmpeg_stdout(&[
        "-i",
        file.to_str().unwrap(),
        "-vf",
        "select=eq(key\\,1)",
        "-fps_mode",
        "passthrough",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ])
}

pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "image sizes differ");
    let mse: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

pub fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// Path of a shared test asset (../shared/assets/...), found from the workspace root or
/// `VX_ASSETS_DIR`. Returns None when the assets are not present.
pub fn asset(rel: &str) -> Option<PathBuf> {
    let base = std::env::var_os("VX_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/assets"));
    let p = base.join(rel);
    p.exists().then_some(p)
}

/// A shared test asset that must exist (panics with a clear message otherwise).
pub fn need(rel: &str) -> PathBuf {
    asset(rel)
        .unwrap_or_else(|| panic!("missing test asset {rel}: ../shared/assets or VX_ASSETS_DIR"))
}

/// A path as the &str a command line takes (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Copy the JPEG `src` to `dst` with an EXIF APP1 segment holding only Orientation =
/// `orientation` right after SOI (6: "turn 90 degrees clockwise to display", as phones write).
pub fn with_exif_orientation(src: &Path, orientation: u8, dst: &Path) {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01".to_vec();
    tiff.extend_from_slice(&[
        0x01,
        0x12,
        0x00,
        0x03,
        0,
        0,
        0,
        1,
        0x00,
        orientation,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    let mut body = b"Exif\x00\x00".to_vec();
    body.extend_from_slice(&tiff);
    let jpeg = std::fs::read(src).unwrap();
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&jpeg[2..]);
    std::fs::write(dst, out).unwrap();
}

/// The (first) input directory `vx run` made in OUTDIR.
pub fn first_dir(out: &Path) -> PathBuf {
    std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no input directory in {}", out.display()))
}
pub mod detect;
pub mod onnx;
pub mod rtp;
pub mod speech;

/// Serve `body` to every request on a loopback port (one thread, until the test process
/// ends); returns `http://127.0.0.1:PORT`.
pub fn serve_bytes(body: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut req = [0u8; 4096];
            let _ = c.read(&mut req);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(body);
        }
    });
    format!("http://{addr}")
}

/// One raw HTTP/1.1 request (no client library between the test and the server: paths go
/// out exactly as written, `..` and all): status, headers (lower-case), body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    (status, head, body)
}

fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

/// A child process killed when the test ends, passed or not.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `vx serve INDEX --listen 127.0.0.1:0`: the process and the address it printed.
pub fn serve(index: &Path) -> (Killed, String) {
    let mut child = vx()
        .args(["serve", s(index), "--listen", "127.0.0.1:0"])
        .env("VX_MODEL_DIR", need("models"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (Killed(child), addr)
}
