//! `vx stream` against hostile and broken senders (issue #5 hardening): a lossy relay that
//! drops, truncates, duplicates and swaps packets, stray and spoofed datagrams, rejected
//! frames counted, bounded output, signals, bad SDP. Split from tests/stream.rs.
mod common;
use common::rtp::*;
use common::*;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Deterministic xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

#[derive(Default, Debug)]
struct RelayLog {
    /// Per RTP timestamp: (packets delivered intact, packets dropped or truncated).
    frames: std::collections::BTreeMap<u32, (u32, u32)>,
    dropped: u64,
}

/// Forward packets from `inp` to `out_port`, dropping, truncating, duplicating and swapping
/// neighbours (within a frame) at the given rates; stops after 2 s without traffic.
fn relay(inp: UdpSocket, out_port: u16, seed: u64) -> RelayLog {
    let out = UdpSocket::bind("127.0.0.1:0").unwrap();
    out.connect(("127.0.0.1", out_port)).unwrap();
    inp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut rng = Rng(seed);
    let mut log = RelayLog::default();
    let mut held: Option<Vec<u8>> = None;
    let mut buf = [0u8; 65536];
    let ts_of = |p: &[u8]| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
    while let Ok(n) = inp.recv(&mut buf) {
        let mut p = buf[..n].to_vec();
        let ts = ts_of(&p);
        let e = log.frames.entry(ts).or_default();
        if rng.chance(0.015) {
            e.1 += 1;
            log.dropped += 1;
            continue;
        }
        if rng.chance(0.01) {
            let keep = 12 + (rng.next() as usize % (n - 12));
            p.truncate(keep);
            e.1 += 1;
        } else {
            e.0 += 1;
        }
        if rng.chance(0.03) {
            out.send(&p).unwrap(); // duplicate
        }
        // Swap with the next packet of the same frame now and then (reordering).
        match held.take() {
            Some(h) if ts_of(&h) == ts => {
                out.send(&p).unwrap();
                out.send(&h).unwrap();
            }
            Some(h) => {
                out.send(&h).unwrap();
                out.send(&p).unwrap();
            }
            None if rng.chance(0.06) => held = Some(p),
            None => {
                out.send(&p).unwrap();
            }
        }
    }
    if let Some(h) = held {
        out.send(&h).unwrap();
    }
    log
}

#[test]
fn lossy_relay_never_yields_a_corrupt_frame_and_counts_drops_exactly() {
    let d = TempDir::new("rtp-lossy");
    let ppm = d.path("ppm");
    std::fs::create_dir_all(&ppm).unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-frames:v",
        "60",
        ppm.join("%03d.ppm").to_str().unwrap(),
    ]);
    let src = d.path("src");
    std::fs::create_dir_all(&src).unwrap();
    for p in sorted_files(&ppm, "ppm") {
        let jpg = src.join(p.file_stem().unwrap()).with_extension("jpg");
        let o = Command::new("cjpeg")
            .args(["-quality", "75", "-restart", "2", "-outfile"])
            .arg(&jpg)
            .arg(&p)
            .output()
            .unwrap();
        assert!(o.status.success());
    }
    let sent: Vec<PathBuf> = sorted_files(&src, "jpg");
    let sent_pixels: std::collections::HashSet<Vec<u8>> =
        sent.iter().map(|p| decode_rgb(p)).collect();

    let rx_port = free_port();
    let stats_path = d.path("stats.json");
    let out = d.path("out");
    let rx = vx_receiver(
        rx_port,
        &out,
        1000,
        &["--verify", "--stats", stats_path.to_str().unwrap()],
    );
    wait_bound(rx_port);
    let relay_in = UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay_port = relay_in.local_addr().unwrap().port();
    let seed = 0x5eed_1234_abcd_0001;
    let handle = std::thread::spawn(move || relay(relay_in, rx_port, seed));
    vx_send(&src, relay_port, &["--mtu", "1000"]);
    let log = handle.join().unwrap();
    finish(rx);

    // Every written frame is one of the sent pictures, exactly.
    let received = sorted_files(&out, "jpg");
    for r in &received {
        assert!(
            sent_pixels.contains(&decode_rgb(r)),
            "{} is not a sent picture",
            r.display()
        );
    }
    // Frames the relay left intact arrive; every damaged frame that showed up is counted.
    let intact = log
        .frames
        .values()
        .filter(|(ok, bad)| *bad == 0 && *ok > 0)
        .count() as u64;
    let damaged_seen = log
        .frames
        .values()
        .filter(|(ok, bad)| *bad > 0 && *ok > 0)
        .count() as u64;
    let stats = read_json(&stats_path);
    eprintln!(
        "relay: {} frames, {intact} intact, {damaged_seen} damaged; stats {stats}",
        log.frames.len()
    );
    assert_eq!(log.frames.len(), 60);
    assert!(
        damaged_seen >= 5,
        "the relay should damage several frames ({damaged_seen})"
    );
    assert_eq!(stats["frames_complete"].as_u64(), Some(intact));
    assert_eq!(received.len() as u64, intact);
    assert_eq!(stats["frames_dropped"].as_u64(), Some(damaged_seen));
    assert_eq!(
        stats["packets_lost"].as_u64(),
        Some(log.dropped),
        "sequence-number loss count"
    );
    assert!(stats["packets_reordered"].as_u64().unwrap() > 0);
    assert!(stats["packets_duplicate"].as_u64().unwrap() > 0);
}

// ---- Issue #10, items 14-19: an adversarial network and operator. ----

/// `vx stream recv` writing into `out` with extra arguments; stderr piped (not quiet).
fn vx_recv(port: u16, out: &Path, extra: &[&str]) -> Child {
    vx().args([
        "stream",
        "recv",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--out",
    ])
    .arg(out)
    .args(extra)
    .stderr(Stdio::piped())
    .spawn()
    .unwrap()
}

/// Send `frames` test-pattern frames (160x120) to `port` at 60 fps.
fn send_testsrc(port: u16, frames: u32) {
    let o = run_vx(&[
        "stream",
        "send",
        "-q",
        "--to",
        &format!("127.0.0.1:{port}"),
        "--size",
        "160x120",
        "--fps",
        "60",
        "--frames",
        &frames.to_string(),
    ]);
    assert!(o.status.success(), "vx send: {}", stderr(&o));
}

/// Forward datagrams from `inp` to `out_port` through `f` (which may add or change packets),
/// renumbering sequence numbers so injected packets are in sequence; stops after 2 s idle.
fn rewriting_relay(
    inp: UdpSocket,
    out_port: u16,
    mut f: impl FnMut(usize, Vec<u8>) -> Vec<Vec<u8>> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let out = UdpSocket::bind("127.0.0.1:0").unwrap();
        out.connect(("127.0.0.1", out_port)).unwrap();
        inp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 65536];
        let (mut i, mut seq) = (0usize, 1000u16);
        while let Ok(n) = inp.recv(&mut buf) {
            for mut p in f(i, buf[..n].to_vec()) {
                p[2..4].copy_from_slice(&seq.to_be_bytes());
                seq = seq.wrapping_add(1);
                out.send(&p).unwrap();
            }
            i += 1;
        }
    })
}

fn jpg_count(dir: &Path) -> usize {
    sorted_files(dir, "jpg").len()
}

#[test]
fn stray_datagrams_before_the_sender_do_not_lock_the_receiver() {
    // Issue #10 item 14: one 21-byte datagram starting 0x80 (or 20 random ones) sent before
    // `vx stream send` locked the receiver to that SSRC: 0 of 60 frames written, no warning.
    let d = TempDir::new("rtp-stray");
    let mut rng = Rng(0x0005_7a4e);
    for case in ["one", "random", "valid-then-silent"] {
        let port = free_port();
        let out = d.path(&format!("out-{case}"));
        let stats = d.path(&format!("{case}.json"));
        let rx = vx_recv(
            port,
            &out,
            &[
                "--frames",
                "60",
                "--timeout",
                "3",
                "--duration",
                "30",
                "--stats",
                stats.to_str().unwrap(),
            ],
        );
        wait_bound(port);
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = ("127.0.0.1", port);
        match case {
            "one" => {
                let mut p = vec![0x80u8, 26];
                p.extend((0..19).map(|_| rng.next() as u8));
                s.send_to(&p, to).unwrap();
            }
            "random" => {
                for _ in 0..20 {
                    let p: Vec<u8> = (0..12 + rng.next() % 60)
                        .map(|_| rng.next() as u8)
                        .collect();
                    s.send_to(&p, to).unwrap();
                }
            }
            _ => {
                // Two packets in sequence: a valid source, which then goes silent.
                for seq in [7u16, 8] {
                    let mut p = vec![0x80u8, 26];
                    p.extend_from_slice(&seq.to_be_bytes());
                    p.extend_from_slice(&[0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef]);
                    p.extend_from_slice(&[0; 9]);
                    s.send_to(&p, to).unwrap();
                }
                std::thread::sleep(Duration::from_millis(700));
            }
        }
        send_testsrc(port, 60);
        let err = finish(rx);
        assert_eq!(jpg_count(&out), 60, "{case}: {err}");
        assert!(err.contains("vx: warning:"), "{case}: {err}");
        let st = read_json(&stats);
        if case == "valid-then-silent" {
            assert!(err.contains("went silent"), "{err}");
            assert_eq!(st["source_changes"], 1, "{st}");
        } else {
            assert!(st["packets_ignored"].as_u64().unwrap() >= 1, "{case}: {st}");
            assert!(err.contains("ignoring datagrams"), "{err}");
        }
    }
}

#[test]
fn ignored_datagrams_and_rejected_frames_are_counted_in_the_stats() {
    // Items 14 and 16: counters in the stats JSON; corrupt frames are not written by default
    // (no --verify): an injected overlapping fragment, a 2040x2040 header over a small scan,
    // bogus in-band tables, random scan bytes, an absurd offset.
    let d = TempDir::new("rtp-reject");
    let port = free_port();
    let out = d.path("out");
    let stats = d.path("stats.json");
    let rx = vx_receiver(port, &out, 1000, &["--stats", stats.to_str().unwrap()]);
    wait_bound(port);
    let relay_in = UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay_port = relay_in.local_addr().unwrap().port();
    // The test pattern at 160x120 and MTU 300: several packets per frame.
    let mut frame = 0usize;
    let relay = rewriting_relay(relay_in, port, move |_, p| {
        let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        let first = p[13..16] == [0, 0, 0];
        frame += usize::from(first);
        let mut v = vec![p.clone()];
        // Every 6th frame once the stream is valid, five times, damaged in five ways.
        if !first || !frame.is_multiple_of(6) {
            return v;
        }
        // Forged one-packet frames go between two real frames (1500 ticks apart at 60 fps).
        let forged = |payload: &[u8], marker: bool| {
            let mut q = p[..12].to_vec();
            q[1] = if marker { 0x80 | 26 } else { 26 };
            q[4..8].copy_from_slice(&ts.wrapping_sub(700).to_be_bytes());
            q.extend_from_slice(payload);
            q
        };
        match frame / 6 {
            1 => {
                // An overlapping fragment with other bytes, in the middle of this frame.
                let mut q = p.clone();
                q[13..16].copy_from_slice(&[0, 0, 40]);
                let len = q.len();
                for b in &mut q[len - 30..] {
                    *b ^= 0x5a;
                }
                v.push(q);
            }
            2 => {
                // A one-packet frame: 2040x2040 header (Q 50) over a 40-byte scan.
                let mut pl = vec![0, 0, 0, 0, 1, 50, 255, 255];
                pl.extend([0x12; 40]);
                v.insert(0, forged(&pl, true));
            }
            3 => {
                // Q 255 with a table length that is not one or two tables.
                let mut pl = vec![0, 0, 0, 0, 1, 255, 20, 15, 0, 0, 0, 100];
                pl.extend([1; 100]);
                pl.extend([0x33; 400]);
                v.insert(0, forged(&pl, true));
            }
            4 => {
                // Random scan bytes for a 160x120 frame (Q 50).
                let mut pl = vec![0, 0, 0, 0, 1, 50, 20, 15];
                let mut x = 0x1234_5678u32;
                pl.extend((0..3000).map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                }));
                v.insert(0, forged(&pl, true));
            }
            5 => {
                // An absurd offset (16 MB) in a 160x120 frame.
                let mut pl = vec![0, 0xF0, 0, 0, 1, 50, 20, 15];
                pl.extend([0x44; 100]);
                v.insert(0, forged(&pl, true));
            }
            _ => {}
        }
        v
    });
    let o = run_vx(&[
        "stream",
        "send",
        "-q",
        "--to",
        &format!("127.0.0.1:{relay_port}"),
        "--size",
        "160x120",
        "--fps",
        "60",
        "--mtu",
        "300",
        "--frames",
        "40",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    relay.join().unwrap();
    finish(rx);
    let st = read_json(&stats);
    eprintln!("{st}");
    // The frame with the overlapping fragment and the four forged frames are rejected.
    assert_eq!(st["frames_rejected"], 5, "{st}");
    assert_eq!(st["frames_complete"], 39, "{st}");
    assert_eq!(jpg_count(&out), 39);
    // Every written frame decodes without a warning from ffmpeg.
    for f in sorted_files(&out, "jpg") {
        let o = Command::new("ffmpeg")
            .args(["-v", "warning", "-xerror", "-i"])
            .arg(&f)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(st["packets_ignored"], 0);
    assert_eq!(st["stopped"], "timeout");
    assert!(st["warnings"].as_array().unwrap().len() >= 2, "{st}");
}

#[test]
fn max_bytes_bounds_what_is_written() {
    // Issue #10 item 17: without --frames/--duration, one-packet frames filled the disk.
    let d = TempDir::new("rtp-max-bytes");
    let port = free_port();
    let out = d.path("out");
    let stats = d.path("stats.json");
    let rx = vx_recv(
        port,
        &out,
        &[
            "--max-bytes",
            "20K",
            "--timeout",
            "3",
            "--stats",
            stats.to_str().unwrap(),
        ],
    );
    wait_bound(port);
    send_testsrc(port, 60);
    let err = finish(rx);
    let files = sorted_files(&out, "jpg");
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert!(total <= 20 * 1024 && !files.is_empty(), "{total} bytes");
    assert!(files.len() < 60);
    assert!(err.contains("--max-bytes 20480 reached"), "{err}");
    let st = read_json(&stats);
    assert_eq!(st["stopped"], "max_bytes");
    assert_eq!(st["bytes_written"], total);
    assert_eq!(st["frames_written"], files.len());
    // A bad value is a usage error.
    let o = run_vx(&[
        "stream",
        "recv",
        "--listen",
        "127.0.0.1:0",
        "--max-bytes",
        "12x",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // The default budget is documented.
    let o = run_vx(&["stream", "recv", "--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Default: 1G with --out DIR"));
}

#[test]
fn sigterm_and_sighup_finalise_like_sigint() {
    // Issue #10 item 19: SIGTERM left a hidden temp file and no stats.
    let d = TempDir::new("rtp-sigterm");
    for (sig, out) in [("TERM", "rec.mkv"), ("HUP", "frames")] {
        let port = free_port();
        let out = d.path(out);
        let stats = d.path(&format!("{sig}.json"));
        let rx = vx_recv(port, &out, &["-q", "--stats", stats.to_str().unwrap()]);
        wait_bound(port);
        send_testsrc(port, 10);
        std::thread::sleep(Duration::from_millis(300));
        Command::new("kill")
            .args([&format!("-{sig}"), &rx.id().to_string()])
            .status()
            .unwrap();
        finish(rx);
        let st = read_json(&stats);
        assert_eq!(st["stopped"], "interrupt");
        assert_eq!(st["frames_written"], 10, "{sig}: {st}");
        let hidden: Vec<_> = std::fs::read_dir(&d.0)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "{sig}: temp files left: {hidden:?}");
        if sig == "TERM" {
            let n = ffprobe_json(&[
                "-count_frames",
                "-show_entries",
                "stream=nb_read_frames",
                out.to_str().unwrap(),
            ]);
            assert_eq!(n["streams"][0]["nb_read_frames"], "10", "{n}");
        } else {
            assert_eq!(jpg_count(&out), 10);
        }
    }
}

#[test]
fn bad_x_dimensions_in_the_sdp_are_refused() {
    // Issue #10 item 19: "0,0", "-1,-1" and "abc" were accepted.
    let d = TempDir::new("rtp-sdp-dims");
    for bad in ["0,0", "-1,-1", "abc"] {
        let sdp = d.path("bad.sdp");
        std::fs::write(
            &sdp,
            format!("v=0\nc=IN IP4 127.0.0.1\nm=video 5004 RTP/AVP 26\na=x-dimensions:{bad}\n"),
        )
        .unwrap();
        let o = run_vx(&[
            "stream",
            "recv",
            "--listen",
            "127.0.0.1:0",
            "--sdp",
            sdp.to_str().unwrap(),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{bad}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!(
                "vx: error: {}: bad a=x-dimensions \"{bad}\"",
                sdp.display()
            )),
            "{err}"
        );
    }
}

#[test]
fn a_spoofed_timestamp_jump_does_not_freeze_the_stream() {
    // Issue #10 item 15: one packet with the stream's SSRC and a timestamp 0x70000000 ahead
    // froze the stream (3 of 13 frames written afterwards).
    let d = TempDir::new("rtp-ts-jump");
    let port = free_port();
    let out = d.path("out");
    let stats = d.path("stats.json");
    let rx = vx_receiver(port, &out, 1000, &["--stats", stats.to_str().unwrap()]);
    wait_bound(port);
    let relay_in = UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay_port = relay_in.local_addr().unwrap().port();
    let mut frame = 0usize;
    let relay = rewriting_relay(relay_in, port, move |_, p| {
        let first = p[13..16] == [0, 0, 0];
        frame += usize::from(first);
        if first && frame == 8 {
            let mut spoof = p.clone();
            let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
            spoof[4..8].copy_from_slice(&ts.wrapping_add(0x7000_0000).to_be_bytes());
            vec![p, spoof]
        } else {
            vec![p]
        }
    });
    let o = run_vx(&[
        "stream",
        "send",
        "-q",
        "--to",
        &format!("127.0.0.1:{relay_port}"),
        "--size",
        "160x120",
        "--fps",
        "60",
        "--mtu",
        "400",
        "--frames",
        "20",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    relay.join().unwrap();
    finish(rx);
    let st = read_json(&stats);
    // Only frame 8 (interrupted by the spoofed packet) is lost.
    assert_eq!(jpg_count(&out), 19, "{st}");
    assert!(st["jitter_ms"].as_f64().unwrap() < 100.0, "{st}");
}
