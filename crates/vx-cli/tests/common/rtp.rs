//! Helpers of the RTP tests (tests/stream.rs, tests/stream_hostile.rs): free loopback ports,
//! `vx stream send` / `vx stream recv` runs, files in order.
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::*;

pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until some process has bound UDP `port` (reads /proc/net/udp).
pub fn wait_bound(port: u16) {
    let needle = format!(":{port:04X} ");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::fs::read_to_string("/proc/net/udp")
            .unwrap_or_default()
            .contains(&needle)
        {
            std::thread::sleep(Duration::from_millis(200)); // pipeline to PLAYING
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing bound UDP port {port}");
}

pub fn sorted_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

pub fn vx_send(src: &Path, port: u16, extra: &[&str]) {
    let to = format!("127.0.0.1:{port}");
    let mut args = vec![
        "stream",
        "send",
        "-q",
        "--source",
        src.to_str().unwrap(),
        "--to",
        &to,
        "--fps",
        "60",
    ];
    args.extend_from_slice(extra);
    let o = run_vx(&args);
    assert!(o.status.success(), "vx send: {}", stderr(&o));
}

pub fn vx_receiver(port: u16, out: &Path, frames: usize, extra: &[&str]) -> std::process::Child {
    let mut args = vec![
        "stream".to_string(),
        "recv".into(),
        "-q".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--out".into(),
        out.display().to_string(),
        "--frames".into(),
        frames.to_string(),
        "--timeout".into(),
        "3".into(),
        "--duration".into(),
        "30".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    vx().args(&args).stderr(Stdio::piped()).spawn().unwrap()
}

pub fn finish(child: std::process::Child) -> String {
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "vx recv: {err}");
    err
}
