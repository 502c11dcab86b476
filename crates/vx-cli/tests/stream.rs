//! `vx stream` against real peers: GStreamer (rtpjpegpay / rtpjpegdepay) and the ffmpeg CLI
//! (RTP muxer / SDP demuxer), in both directions, frames compared pixel by pixel with what
//! the sender encoded. Hostile senders are in tests/stream_hostile.rs.
mod common;
use common::rtp::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (SIGINT, then SIGKILL) when dropped.
struct Peer(Child);

impl Peer {
    fn spawn(cmd: &mut Command) -> Peer {
        Peer(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn peer"),
        )
    }
    /// Ask the peer to stop (SIGINT, like Ctrl-C) and wait for it.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Give a peer writing JPEGs into `dir` the time to write `n` (10 s at most: a loaded machine
/// is slow, a fixed pause made this test flaky), then 300 ms for the last one to be whole.
fn wait_for_files(dir: &Path, n: usize) {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_secs(10)
        && (!dir.is_dir() || sorted_files(dir, "jpg").len() < n)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
}

/// 8 JPEGs made by libjpeg-turbo's cjpeg from ffmpeg test frames with `opts`.
fn cjpeg_set(d: &TempDir, name: &str, size: &str, opts: &[&str]) -> PathBuf {
    let ppm = d.path(&format!("ppm-{size}"));
    if !ppm.exists() {
        std::fs::create_dir_all(&ppm).unwrap();
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=10"),
            "-frames:v",
            "8",
            ppm.join("%02d.ppm").to_str().unwrap(),
        ]);
    }
    let out = d.path(name);
    std::fs::create_dir_all(&out).unwrap();
    for p in sorted_files(&ppm, "ppm") {
        let jpg = out.join(p.file_stem().unwrap()).with_extension("jpg");
        let o = Command::new("cjpeg")
            .args(opts)
            .arg("-outfile")
            .arg(&jpg)
            .arg(&p)
            .output()
            .expect("cjpeg (libjpeg-turbo-progs)");
        assert!(
            o.status.success(),
            "cjpeg {opts:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    out
}

fn qtables_file(d: &TempDir) -> PathBuf {
    // Three tables, natural order; table 2 repeats table 1 (what many webcams send).
    let luma = "16 11 10 16 24 40 51 61 12 12 14 19 26 58 60 55 14 13 16 24 40 57 69 56 14 17 22 29 51 87 80 62 \
                18 22 37 56 68 109 103 77 24 35 55 64 81 104 113 92 49 64 78 87 103 121 120 101 72 92 95 98 112 100 103 99";
    let chroma = "17 18 24 47 99 99 99 99 18 21 26 66 99 99 99 99 24 26 56 99 99 99 99 99 47 66 99 99 99 99 99 99 \
                  99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99";
    let p = d.path("q3.txt");
    std::fs::write(&p, format!("{luma}\n{chroma}\n{chroma}\n")).unwrap();
    p
}

/// Every received JPEG decodes to exactly the pixels of the corresponding sent one.
fn assert_same_pictures(sent: &[PathBuf], received: &[PathBuf]) {
    assert_eq!(
        received.len(),
        sent.len(),
        "frame count: received {} of {}",
        received.len(),
        sent.len()
    );
    for (s, r) in sent.iter().zip(received) {
        let a = decode_rgb(s);
        let b = decode_rgb(r);
        let p = psnr(&a, &b);
        assert!(
            p.is_infinite(),
            "{} vs {}: PSNR {p:.1} dB (expected identical pixels)",
            s.display(),
            r.display()
        );
    }
}

fn gst_receiver(port: u16, out: &Path, extra_caps: &str) -> Peer {
    std::fs::create_dir_all(out).unwrap();
    let caps = format!(
        "application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26{extra_caps}"
    );
    Peer::spawn(Command::new("gst-launch-1.0").args([
        "-q",
        "udpsrc",
        &format!("port={port}"),
        // A 2560x1440 frame arrives as a burst of ~400 datagrams: more than the kernel's
        // default receive buffer while gst-launch is slow to read (CI lost one in 8 under load).
        "buffer-size=16777216",
        &format!("caps={caps}"),
        "!",
        "rtpjpegdepay",
        "!",
        "multifilesink",
        &format!("location={}/%05d.jpg", out.display()),
    ]))
}

#[test]
fn vx_to_gstreamer_all_layouts() {
    let d = TempDir::new("rtp-gst-depay");
    let q3 = qtables_file(&d);
    let sets = [
        ("420", cjpeg_set(&d, "420", "320x240", &["-sample", "2x2"])),
        ("422", cjpeg_set(&d, "422", "320x240", &["-sample", "2x1"])),
        (
            "restart",
            cjpeg_set(&d, "rst", "320x240", &["-sample", "2x2", "-restart", "1"]),
        ),
        (
            "3 tables",
            cjpeg_set(
                &d,
                "q3",
                "320x240",
                &["-qtables", q3.to_str().unwrap(), "-qslots", "0,1,2"],
            ),
        ),
    ];
    for (name, dir) in sets {
        let port = free_port();
        let out = d.path(&format!("gst-{}", name.replace(' ', "")));
        let peer = gst_receiver(port, &out, "");
        wait_bound(port);
        vx_send(&dir, port, &[]);
        std::thread::sleep(Duration::from_millis(500));
        peer.stop();
        eprintln!("{name}");
        assert_same_pictures(&sorted_files(&dir, "jpg"), &sorted_files(&out, "jpg"));
    }
}

#[test]
fn vx_to_ffmpeg_with_sdp() {
    let d = TempDir::new("rtp-ffmpeg-in");
    for (name, opts) in [
        ("420", vec!["-sample", "2x2"]),
        ("rst422", vec!["-sample", "2x1", "-restart", "1"]),
    ] {
        let dir = cjpeg_set(&d, name, "320x240", &opts);
        let port = free_port();
        let sdp = d.path(&format!("{name}.sdp"));
        vx_send(
            &dir,
            port,
            &["--sdp", sdp.to_str().unwrap(), "--frames", "0"],
        );
        let out = d.path(&format!("ff-{name}"));
        std::fs::create_dir_all(&out).unwrap();
        let peer = Peer::spawn(Command::new("ffmpeg").args([
            // Without a small probe, ffmpeg waits for 5 s of stream before writing anything.
            "-v",
            "error",
            "-probesize",
            "32",
            "-analyzeduration",
            "0",
            "-protocol_whitelist",
            "file,udp,rtp",
            "-i",
            sdp.to_str().unwrap(),
            "-c",
            "copy",
            "-f",
            "image2",
            out.join("%05d.jpg").to_str().unwrap(),
        ]));
        wait_bound(port);
        vx_send(&dir, port, &[]);
        wait_for_files(&out, sorted_files(&dir, "jpg").len());
        peer.stop();
        assert_same_pictures(&sorted_files(&dir, "jpg"), &sorted_files(&out, "jpg"));
    }
}

#[test]
fn gstreamer_to_vx_420_and_422() {
    let d = TempDir::new("rtp-gst-pay");
    for format in ["I420", "Y42B"] {
        let port = free_port();
        let src = d.path(&format!("src-{format}"));
        let out = d.path(&format!("vx-{format}"));
        std::fs::create_dir_all(&src).unwrap();
        let rx = vx_receiver(
            port,
            &out,
            12,
            &["--stats", d.path("stats.json").to_str().unwrap()],
        );
        wait_bound(port);
        let o = Command::new("gst-launch-1.0")
            .args(["-q", "videotestsrc", "num-buffers=12", "pattern=ball", "!"])
            .arg(format!(
                "video/x-raw,format={format},width=320,height=240,framerate=30/1"
            ))
            .args([
                "!",
                "jpegenc",
                "!",
                "tee",
                "name=t",
                "!",
                "queue",
                "!",
                "rtpjpegpay",
                "!",
                "udpsink",
                "host=127.0.0.1",
            ])
            .arg(format!("port={port}"))
            .args(["t.", "!", "queue", "!", "multifilesink"])
            .arg(format!("location={}/%05d.jpg", src.display()))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        finish(rx);
        assert_same_pictures(&sorted_files(&src, "jpg"), &sorted_files(&out, "jpg"));
        let stats = read_json(&d.path("stats.json"));
        assert_eq!(stats["frames_complete"], 12);
        assert_eq!(stats["frames_dropped"], 0);
        assert_eq!(stats["packets_lost"], 0);
    }
}

#[test]
fn ffmpeg_to_vx() {
    // FFmpeg 5.1's RTP JPEG packetizer refuses 4:2:2 ("Only 1x1 chroma blocks are supported"),
    // so this peer covers 4:2:0; GStreamer covers 4:2:2 above.
    let d = TempDir::new("rtp-ffmpeg-out");
    let pix = "yuvj420p";
    let port = free_port();
    let src = d.path(&format!("src-{pix}"));
    let out = d.path(&format!("vx-{pix}"));
    std::fs::create_dir_all(&src).unwrap();
    let rx = vx_receiver(port, &out, 10, &[]);
    wait_bound(port);
    ffmpeg(&[
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-frames:v",
        "10",
        "-c:v",
        "mjpeg",
        "-pix_fmt",
        pix,
        "-huffman",
        "default",
        "-map",
        "0:v",
        "-f",
        "tee",
        &format!(
            "[f=rtp]rtp://127.0.0.1:{port}|[f=image2]{}/%05d.jpg",
            src.display()
        ),
    ]);
    finish(rx);
    assert_same_pictures(&sorted_files(&src, "jpg"), &sorted_files(&out, "jpg"));
}

#[test]
fn large_frames_sixteen_bit_tables_and_mkv_vx_to_vx() {
    let d = TempDir::new("rtp-vx-vx");
    // Above 2040 px the header carries 0: the size travels in the SDP (x-dimensions).
    let big = cjpeg_set(&d, "big", "2560x1440", &["-quality", "80"]);
    let port = free_port();
    let sdp = d.path("big.sdp");
    vx_send(
        &big,
        port,
        &["--sdp", sdp.to_str().unwrap(), "--frames", "0"],
    );
    assert!(std::fs::read_to_string(&sdp)
        .unwrap()
        .contains("a=x-dimensions:2560,1440"));
    let out = d.path("out-big");
    let rx = vx_receiver(port, &out, 8, &["--sdp", sdp.to_str().unwrap()]);
    wait_bound(port);
    vx_send(&big, port, &[]);
    finish(rx);
    assert_same_pictures(&sorted_files(&big, "jpg"), &sorted_files(&out, "jpg"));

    // GStreamer takes the size from caps (what its RTSP source fills from the SDP).
    let port = free_port();
    let out = d.path("gst-big");
    let peer = gst_receiver(port, &out, ",x-dimensions=(string)\"2560,1440\"");
    wait_bound(port);
    vx_send(&big, port, &[]);
    wait_for_files(&out, sorted_files(&big, "jpg").len());
    peer.stop();
    assert_same_pictures(&sorted_files(&big, "jpg"), &sorted_files(&out, "jpg"));

    // 16-bit quantization tables (cjpeg at quality 3 writes them, with SOF1).
    // GStreamer 1.22 and FFmpeg 5.1 depacketizers mishandle these (docs/RTP.md): vx to vx.
    let q16 = cjpeg_set(&d, "q16", "320x240", &["-quality", "3"]);
    let port = free_port();
    let out = d.path("out-q16");
    let rx = vx_receiver(port, &out, 8, &[]);
    wait_bound(port);
    vx_send(&q16, port, &[]);
    finish(rx);
    assert_same_pictures(&sorted_files(&q16, "jpg"), &sorted_files(&out, "jpg"));

    // Recording into Matroska without re-encoding: frames and pixels equal.
    let port = free_port();
    let mkv = d.path("rec.mkv");
    let set = cjpeg_set(&d, "rec", "320x240", &[]);
    let rx = vx_receiver(port, &mkv, 8, &[]);
    wait_bound(port);
    vx_send(&set, port, &[]);
    finish(rx);
    let frames = d.path("mkv-frames");
    std::fs::create_dir_all(&frames).unwrap();
    ffmpeg(&[
        "-i",
        mkv.to_str().unwrap(),
        "-c",
        "copy",
        frames.join("%05d.jpg").to_str().unwrap(),
    ]);
    assert_same_pictures(&sorted_files(&set, "jpg"), &sorted_files(&frames, "jpg"));
}

#[test]
fn video_sources_mjpeg_passthrough_and_h264_reencode() {
    let d = TempDir::new("rtp-video-src");
    // MJPEG with standard Huffman tables: the container's JPEGs are sent as they are.
    let avi = d.path("cam.avi");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-frames:v",
        "12",
        "-c:v",
        "mjpeg",
        "-huffman",
        "default",
        "-pix_fmt",
        "yuvj420p",
        avi.to_str().unwrap(),
    ]);
    let packets = d.path("packets");
    std::fs::create_dir_all(&packets).unwrap();
    ffmpeg(&[
        "-i",
        avi.to_str().unwrap(),
        "-c",
        "copy",
        packets.join("%03d.jpg").to_str().unwrap(),
    ]);
    let port = free_port();
    let out = d.path("out-mjpeg");
    let rx = vx_receiver(port, &out, 12, &[]);
    wait_bound(port);
    vx_send(&avi, port, &[]);
    finish(rx);
    assert_same_pictures(&sorted_files(&packets, "jpg"), &sorted_files(&out, "jpg"));

    // FFmpeg's 4:2:2 MJPEG is coded as Y 2x2 with chroma 1x2, which RFC 2435 cannot carry:
    // vx says so once and re-encodes those frames.
    let avi422 = d.path("cam422.avi");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-frames:v",
        "6",
        "-c:v",
        "mjpeg",
        "-huffman",
        "default",
        "-pix_fmt",
        "yuvj422p",
        avi422.to_str().unwrap(),
    ]);
    let port = free_port();
    let out = d.path("out-422");
    let rx = vx_receiver(port, &out, 6, &[]);
    wait_bound(port);
    let o = run_vx(&[
        "stream",
        "send",
        "--source",
        avi422.to_str().unwrap(),
        "--to",
        &format!("127.0.0.1:{port}"),
    ]);
    assert!(o.status.success());
    let err = stderr(&o);
    assert_eq!(err.matches("re-encoded").count(), 1, "{err}");
    assert!(err.contains("Cb 1x2"), "{err}");
    finish(rx);
    assert_eq!(sorted_files(&out, "jpg").len(), 6);

    // H.264: decoded and encoded by vx; every frame arrives, at the right size.
    let mp4 = d.path("clip.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-frames:v",
        "20",
        "-c:v",
        "libx264",
        mp4.to_str().unwrap(),
    ]);
    let port = free_port();
    let out = d.path("out-h264");
    let rx = vx_receiver(port, &out, 20, &[]);
    wait_bound(port);
    vx_send(&mp4, port, &[]);
    finish(rx);
    let got = sorted_files(&out, "jpg");
    assert_eq!(got.len(), 20);
    assert_eq!(decode_rgb(&got[0]).len(), 320 * 240 * 3);
    let reference = ffmpeg_stdout(&[
        "-i",
        mp4.to_str().unwrap(),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]);
    assert!(psnr(&decode_rgb(&got[0]), &reference) >= 30.0);

    // A video file is paced at its own rate (25 fps here; it was sent at 30) unless --fps says
    // otherwise: the SDP says which.
    for (extra, want) in [
        (None, "a=framerate:25\r\n"),
        (Some("50"), "a=framerate:50\r\n"),
    ] {
        let sdp = d.path("clip.sdp");
        let mut args = vec![
            "stream",
            "send",
            "--source",
            mp4.to_str().unwrap(),
            "--to",
            "127.0.0.1:9",
            "--sdp",
            sdp.to_str().unwrap(),
            "--frames",
            "0",
        ];
        if let Some(f) = extra {
            args.extend(["--fps", f]);
        }
        let o = run_vx(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(&sdp).unwrap();
        assert!(text.contains(want), "{extra:?}: {text}");
    }
}

#[test]
fn missing_camera_is_a_clear_error() {
    let o = run_vx(&[
        "stream",
        "send",
        "--source",
        "/dev/video99",
        "--to",
        "127.0.0.1:9",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("vx: error: /dev/video99: cannot open"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn sender_refuses_what_rfc2435_cannot_carry() {
    let d = TempDir::new("rtp-refuse");
    for (name, opts, needle) in [
        ("prog", vec!["-progressive"], "progressive"),
        ("gray", vec!["-grayscale"], "grayscale"),
        ("444", vec!["-sample", "1x1"], "4:4:4"),
        ("opt", vec!["-optimize"], "Huffman"),
    ] {
        let dir = cjpeg_set(&d, name, "160x120", &opts);
        let o = run_vx(&[
            "stream",
            "send",
            "--source",
            dir.to_str().unwrap(),
            "--to",
            "127.0.0.1:9",
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("01.jpg") && err.contains(needle),
            "{name}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// A picture size that is not a multiple of 8 reaches receivers rounded up (RFC 2435 counts
/// 8-pixel blocks): the sender says so once, instead of silently.
#[test]
fn sender_notes_sizes_rounded_to_blocks_of_8() {
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = sink.local_addr().unwrap().to_string();
    let send = |size: &str| {
        let o = run_vx(&[
            "stream", "send", "--to", &to, "--size", size, "--frames", "3", "--fps", "60",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let err = send("100x60");
    assert_eq!(err.matches("arrive as 104x64").count(), 1, "{err}");
    let err = send("160x120");
    assert!(!err.contains("arrive as"), "{err}");
}

/// Regression: a second receiver into the same frame folder deleted the first one's frames
/// (as "an earlier reception's") and then wrote its own over them. It is refused now, and the
/// first receiver's frames stay.
#[test]
fn two_receivers_never_share_a_frame_folder() {
    let d = TempDir::new("rtp-two-receivers");
    let out = d.path("frames");
    let (port, other) = (free_port(), free_port());
    let first = vx_receiver(port, &out, 10, &[]);
    wait_bound(port);
    let pics = cjpeg_set(&d, "src", "160x120", &[]);
    vx_send(&pics, port, &["--frames", "5"]);
    let o = run_vx(&[
        "stream",
        "recv",
        "--listen",
        &format!("127.0.0.1:{other}"),
        "--out",
        out.to_str().unwrap(),
        "--timeout",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("in use by another vx"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    // The first receiver ends on its idle timeout, its five frames intact.
    finish(first);
    assert_eq!(sorted_files(&out, "jpg").len(), 5);
}

/// Regression: a recording of one frame lasted one tick (1 ms: players showed nothing). It
/// lasts one frame interval now: the SDP's frame rate, else 30 fps.
#[test]
fn a_one_frame_recording_lasts_one_frame() {
    let d = TempDir::new("rtp-one-frame");
    let pics = cjpeg_set(&d, "src", "160x120", &[]);
    let one = sorted_files(&pics, "jpg").remove(0);
    let sdp = d.path("ten.sdp");
    std::fs::write(
        &sdp,
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=vx\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video 5004 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\na=framerate:10\r\n",
    )
    .unwrap();
    for (extra, want) in [
        (vec![], 1.0 / 30.0),
        (vec!["--sdp", sdp.to_str().unwrap()], 0.1),
    ] {
        let port = free_port();
        let mkv = d.path(&format!("one-{}.mkv", extra.len()));
        let rx = vx_receiver(port, &mkv, 1, &extra);
        wait_bound(port);
        vx_send(&one, port, &["--frames", "1"]);
        finish(rx);
        let v = ffprobe_json(&["-show_entries", "format=duration", mkv.to_str().unwrap()]);
        let got: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!(
            (got - want).abs() < 0.002,
            "{extra:?}: {got} s, want {want}"
        );
    }
}
