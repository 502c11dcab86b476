//! `vx stream send` / `vx stream recv`: MJPEG over RTP (RFC 2435) on UDP.
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use vx_image::fsutil::write_atomic;
use vx_image::image::{Chroma, Yuv};
use vx_image::jpeg::Encoder;
use vx_rtp::net::{receive, Event, Sender, StopAfter, Stopped};
use vx_rtp::payload::{DepacketizerConfig, PAYLOAD_TYPE_JPEG};
use vx_rtp::sdp::StreamDescription;
use vx_rtp::source::IgnoreReason;
use vx_rtp::stats::StreamStats;

/// What `vx stream` needs from FFmpeg: video files as sources, Matroska recording, the size
/// of a video for the SDP. The binary implements it with vx-media; keeping FFmpeg behind this
/// trait keeps this module free of media types.
pub trait MediaBackend {
    /// Every frame of `path` as JPEG; `accept` says whether an MJPEG packet can be sent as is.
    fn for_each_jpeg(
        &self,
        path: &Path,
        quality: u8,
        accept: &mut dyn FnMut(&[u8]) -> bool,
        f: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<()>;
    /// The first video stream's display size (after rotation) and average frame rate.
    fn video_info(&self, path: &Path) -> Result<VideoInfo>;
    /// A Matroska writer storing the JPEGs as they are; `frame_secs`: how long a recording's
    /// only frame lasts (nothing after it says).
    fn recorder(
        &self,
        path: &Path,
        width: u32,
        height: u32,
        frame_secs: f64,
    ) -> Result<Box<dyn Recorder>>;
}

/// What [`MediaBackend::video_info`] tells of a video file.
#[derive(Debug, Clone, Copy)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Average frames per second, if the file says.
    pub rate: Option<f64>,
}

/// What `--source` names, decided once.
enum Source {
    Test,
    Camera,
    /// JPEG files in name order (one file, or a folder's).
    Jpegs(Vec<PathBuf>),
    Video(PathBuf),
}

impl Source {
    fn of(src: &str) -> Result<Source> {
        if src == "testsrc" {
            return Ok(Source::Test);
        }
        if src.starts_with("/dev/video") {
            return Ok(Source::Camera);
        }
        let path = Path::new(src);
        let meta = std::fs::metadata(path).with_context(|| src.to_string())?;
        if meta.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| src.to_string())?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_jpeg_name(p))
                .collect();
            v.sort();
            if v.is_empty() {
                bail!("{src}: no .jpg/.jpeg files in this directory");
            }
            Ok(Source::Jpegs(v))
        } else if is_jpeg_name(path) {
            Ok(Source::Jpegs(vec![path.to_path_buf()]))
        } else {
            Ok(Source::Video(path.to_path_buf()))
        }
    }
}

/// Writes received frames into a container.
pub trait Recorder {
    fn write(&mut self, jpeg: &[u8], rtp_timestamp: u32) -> Result<()>;
    fn finish(self: Box<Self>) -> Result<()>;
}

#[derive(Subcommand)]
pub enum StreamCmd {
    /// Send MJPEG over RTP/UDP (RFC 2435) from a test pattern, JPEG files or a video.
    Send(SendArgs),
    /// Receive MJPEG over RTP/UDP and write JPEG files or a Matroska recording.
    Recv(RecvArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ChromaArg {
    #[value(name = "420")]
    C420,
    #[value(name = "422")]
    C422,
}

#[derive(Args)]
pub struct SendArgs {
    /// `testsrc` (moving test pattern), a directory of JPEG files, a JPEG file, a video file
    /// (MJPEG is passed through; other codecs are decoded and encoded), or a V4L2 camera
    /// (/dev/videoN, MJPEG mode, at --size and --fps).
    #[arg(long, default_value = "testsrc")]
    pub source: String,
    /// Destination HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: String,
    /// Test pattern size, or the size asked of a camera.
    #[arg(long, value_name = "WxH", default_value = "640x480", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Frames per second (pacing and RTP timestamps); default: a video file's own frame rate,
    /// else 30.
    #[arg(long)]
    pub fps: Option<f64>,
    /// JPEG quality for frames vx encodes (test pattern, non-MJPEG video).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
    /// Chroma subsampling of the test pattern: 420 (RFC 2435 type 1) or 422 (type 0).
    #[arg(long, value_enum, default_value_t = ChromaArg::C420)]
    pub chroma: ChromaArg,
    /// Stop after N frames.
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Stop after SECONDS of stream.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Largest RTP packet in bytes.
    #[arg(long, default_value_t = 1400, value_parser = clap::value_parser!(u16).range(300..))]
    pub mtu: u16,
    /// Write an SDP describing the stream to FILE (for ffmpeg, VLC, GStreamer).
    #[arg(long, value_name = "FILE")]
    pub sdp: Option<PathBuf>,
    /// Start the source again when it ends (files and videos).
    #[arg(long = "loop")]
    pub looping: bool,
}

#[derive(Args)]
pub struct RecvArgs {
    /// Local HOST:PORT to listen on.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: String,
    /// A directory (one JPEG per frame) or a .mkv file (Matroska, no re-encoding).
    #[arg(long, value_name = "DIR|FILE.mkv")]
    pub out: Option<PathBuf>,
    /// Stop after N complete frames.
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Stop after SECONDS.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Stop when no packet arrived for SECONDS (after the first one).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Write statistics as JSON to FILE when done.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// SDP of the stream (needed for pictures above 2040 pixels: a=x-dimensions).
    #[arg(long, value_name = "FILE")]
    pub sdp: Option<PathBuf>,
    /// Also walk every frame's entropy-coded data (each Huffman code of each block, no IDCT)
    /// and drop frames that do not hold exactly the picture's blocks: catches a truncated
    /// last packet or corrupted scan bytes. Without it every frame still gets the structural
    /// checks: fragments cover the frame exactly (no gap, no overlap with other bytes),
    /// quantization tables complete and non-zero, a scan size possible for the picture size,
    /// no stray markers, restart markers in sequence and counted. Costs CPU; off by default.
    #[arg(long)]
    pub verify: bool,
    /// Stop when the frames written would exceed BYTES (suffixes K, M, G: powers of 1024;
    /// 0: no limit). Default: 1G with --out DIR, no limit otherwise.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_bytes: Option<u64>,
}

/// Default byte budget of `vx stream recv --out DIR`.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        Some((i, 't' | 'T')) => (&t[..i], 40),
        _ => (t, 0),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| {
            format!("expected a number of bytes (suffix K, M, G or T allowed), got {s:?}")
        })
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or("expected WxH, e.g. 1280x720")?;
    let w: u32 = w.parse().map_err(|_| "bad width")?;
    let h: u32 = h.parse().map_err(|_| "bad height")?;
    if w == 0 || h == 0 || w > 65535 || h > 65535 {
        return Err("width and height must be 1..65535".into());
    }
    Ok((w, h))
}

/// Set on SIGINT, SIGTERM or SIGHUP (ctrlc's "termination" feature): the command stops as
/// on Ctrl-C, finalising what it writes.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // A second handler cannot be installed: ignore that error (only one command runs).
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::Relaxed));
    flag
}

pub fn run(cmd: StreamCmd, quiet: bool, backend: &dyn MediaBackend) -> Result<()> {
    match cmd {
        StreamCmd::Send(a) => send(a, quiet, backend),
        StreamCmd::Recv(a) => recv(a, quiet, backend),
    }
}

fn send(a: SendArgs, quiet: bool, backend: &dyn MediaBackend) -> Result<()> {
    use vx_rtp::net::{MAX_FPS, MIN_FPS};
    let valid = |f: f64| f.is_finite() && (MIN_FPS..=MAX_FPS).contains(&f);
    if a.fps.is_some_and(|f| !valid(f)) {
        return Err(crate::usage(format!(
            "--fps must be from {MIN_FPS} (a frame every 1000 s) to {MAX_FPS}"
        )));
    }
    if a.duration.is_some_and(|d| !(d.is_finite() && d >= 0.0)) {
        return Err(crate::usage("--duration must be a number of seconds >= 0"));
    }
    let src = a.source.as_str();
    let source = Source::of(src)?;
    // A video file's size and rate, probed once, when the SDP or the pacing needs them.
    let video = match &source {
        Source::Video(p) if a.fps.is_none() || a.sdp.is_some() => Some(backend.video_info(p)),
        _ => None,
    };
    // A video file plays at its own rate (sent at 30 fps, 25 fps video ran 20 % fast).
    let fps = a.fps.unwrap_or_else(|| {
        video
            .as_ref()
            .and_then(|v| v.as_ref().ok())
            .and_then(|v| v.rate)
            .filter(|&f| valid(f))
            .unwrap_or(30.0)
    });
    let limit = match (a.frames, a.duration) {
        (Some(n), _) => Some(n),
        (None, Some(d)) => Some((d * fps).round() as u64),
        (None, None) => None,
    };
    let mut sender = Sender::new(&a.to, a.mtu as usize, fps)
        .with_context(|| format!("cannot send to {}", a.to))?;
    let interrupted = interrupt_flag();
    sender.stop_on(interrupted.clone());
    let started = Instant::now();
    // Sends one JPEG (named `what` in errors); Break when the limit is reached or on Ctrl-C.
    let mut send_one = |jpeg: &[u8], what: &str| -> Result<ControlFlow<()>> {
        if interrupted.load(Ordering::Relaxed)
            || matches!(limit, Some(n) if sender.frames_sent() >= n)
        {
            return Ok(ControlFlow::Break(()));
        }
        match sender.send(jpeg) {
            Ok(()) => {}
            // Ctrl-C while waiting for the frame's time: nothing more goes out.
            Err(vx_rtp::net::SendError::Stopped) => return Ok(ControlFlow::Break(())),
            Err(vx_rtp::net::SendError::Jpeg { source, .. }) => bail!("{what}: {source}"),
            Err(other) => bail!("{what}: {other}"),
        }
        if sender.frames_sent() == 1 && !quiet {
            if let Some((w, h)) = sender.picture_size() {
                if let Some((ww, wh)) = vx_rtp::payload::wire_size(w, h).filter(|&s| s != (w, h)) {
                    crate::say!(
                        "vx: note: {what}: {w}x{h} pictures arrive as {ww}x{wh} (RTP/JPEG sizes \
                         are multiples of 8; the extra rows and columns are edge padding)"
                    );
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    };

    // The SDP is written before the first packet, so a receiver can be started from it
    // (`--frames 0` writes it and sends nothing).
    if let Some(p) = &a.sdp {
        let (w, h) = match (&source, video) {
            (Source::Jpegs(files), _) => {
                let f = &files[0];
                let bytes = crate::read_small(f, MAX_JPEG)?;
                let j = vx_rtp::jpeg::parse(&bytes).map_err(|e| anyhow!("{}: {e}", f.display()))?;
                (j.width as u32, j.height as u32)
            }
            (_, Some(v)) => {
                let v = v?;
                (v.width, v.height)
            }
            _ => a.size,
        };
        write_sdp(p, &a.to, fps, w, h)?;
    }
    if let Source::Test = source {
        let (w, h) = a.size;
        let chroma = match a.chroma {
            ChromaArg::C420 => Chroma::C420,
            ChromaArg::C422 => Chroma::C422,
        };
        let mut enc = Encoder::new(a.quality).map_err(|e| anyhow!("JPEG encoder: {e}"))?;
        let mut i = 0u64;
        loop {
            let img = Yuv::test_pattern(w as usize, h as usize, chroma, i);
            let jpeg = enc.jpeg(&img).map_err(|e| anyhow!("JPEG encoder: {e}"))?;
            if send_one(&jpeg, "testsrc")?.is_break() {
                break;
            }
            i += 1;
        }
    } else if let Source::Camera = source {
        capture_v4l2(src, a.size, fps, &mut send_one)?;
    } else {
        let path = Path::new(src);
        let files = match source {
            Source::Jpegs(files) => Some(files),
            _ => None,
        };
        // A single still image is repeated until --frames/--duration when one is given.
        let repeat = a.looping || (files.as_ref().is_some_and(|f| f.len() == 1) && limit.is_some());
        'outer: loop {
            match &files {
                Some(files) => {
                    for f in files {
                        let bytes = crate::read_small(f, MAX_JPEG)?;
                        if send_one(&bytes, &f.display().to_string())?.is_break() {
                            break 'outer;
                        }
                    }
                }
                None => {
                    let mut err = None;
                    let mut stopped = false;
                    let mut warned = false;
                    backend.for_each_jpeg(
                        path,
                        a.quality,
                        &mut |j| match vx_rtp::jpeg::parse(j) {
                            Ok(_) => true,
                            Err(e) => {
                                if !warned && !quiet {
                                    crate::say!("vx: warning: {src}: MJPEG frames re-encoded, they cannot be sent as they are: {e}");
                                }
                                warned = true;
                                false
                            }
                        },
                        &mut |jpeg| match send_one(jpeg, src) {
                            Ok(c) => {
                                stopped = c.is_break();
                                c
                            }
                            Err(e) => {
                                err = Some(e);
                                ControlFlow::Break(())
                            }
                        },
                    )?;
                    if let Some(e) = err {
                        return Err(e);
                    }
                    if stopped {
                        break 'outer;
                    }
                }
            }
            if !repeat {
                break;
            }
        }
    }
    if !quiet {
        crate::say!(
            "vx: sent {} frame(s), {} packets, {} bytes to {} in {:.2} s",
            sender.frames_sent(),
            sender.packets_sent,
            sender.bytes_sent,
            a.to,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Sends one JPEG (named in errors); Break when the stream should stop.
type SendOne<'a> = dyn FnMut(&[u8], &str) -> Result<ControlFlow<()>> + 'a;

/// Stream a V4L2 camera in MJPEG mode: the camera's JPEGs are sent as they are (webcams send
/// baseline 4:2:2 or 4:2:0 JPEGs, usually without DHT, which RFC 2435 implies). Not exercised
/// by the test suite: there is no camera on the build machines.
fn capture_v4l2(
    dev_path: &str,
    size: (u32, u32),
    fps: f64,
    send_one: &mut SendOne<'_>,
) -> Result<()> {
    use v4l::io::traits::CaptureStream;
    use v4l::video::Capture;
    let dev =
        v4l::Device::with_path(dev_path).with_context(|| format!("{dev_path}: cannot open"))?;
    let want = v4l::Format::new(size.0, size.1, v4l::FourCC::new(b"MJPG"));
    let got = dev
        .set_format(&want)
        .with_context(|| format!("{dev_path}: cannot set MJPEG {}x{}", size.0, size.1))?;
    if got.fourcc != v4l::FourCC::new(b"MJPG") {
        bail!(
            "{dev_path}: the camera does not offer MJPEG (it chose {})",
            got.fourcc
        );
    }
    let _ = dev.set_params(&v4l::video::capture::Parameters::with_fps(
        fps.round().max(1.0) as u32,
    ));
    let mut stream = v4l::io::mmap::Stream::with_buffers(&dev, v4l::buffer::Type::VideoCapture, 4)
        .with_context(|| format!("{dev_path}: cannot start capture"))?;
    stream.set_timeout(Duration::from_secs(5));
    loop {
        let (buf, meta) =
            CaptureStream::next(&mut stream).with_context(|| format!("{dev_path}: capture"))?;
        let used = (meta.bytesused as usize).min(buf.len());
        if send_one(&buf[..used], dev_path)?.is_break() {
            return Ok(());
        }
    }
}

/// Picture size of what a source will send (for the SDP).
fn is_jpeg_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"))
}

fn write_sdp(path: &Path, to: &str, fps: f64, width: u32, height: u32) -> Result<()> {
    let (host, port) = to
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("--to must be HOST:PORT"))?;
    let port: u16 = port.parse().map_err(|_| anyhow!("bad port in --to {to}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let address = match (host, 0).to_socket_addrs_first() {
        Some(ip) => ip,
        None => host.to_string(),
    };
    let d = StreamDescription {
        address,
        port,
        payload_type: PAYLOAD_TYPE_JPEG,
        framerate: Some(fps),
        dimensions: (width > 2040 || height > 2040).then_some((width as u16, height as u16)),
    };
    write_atomic(path, d.to_sdp().as_bytes()).with_context(|| path.display().to_string())
}

trait FirstAddr {
    fn to_socket_addrs_first(&self) -> Option<String>;
}

impl FirstAddr for (&str, u16) {
    fn to_socket_addrs_first(&self) -> Option<String> {
        use std::net::ToSocketAddrs;
        self.to_socket_addrs()
            .ok()?
            .next()
            .map(|a| a.ip().to_string())
    }
}

enum Sink {
    None,
    Dir(PathBuf),
    Mkv(PathBuf, Option<Box<dyn Recorder>>),
}

/// What `vx stream recv --stats FILE.json` writes: the stream statistics plus what was
/// written, why the receiver stopped, and the warnings it printed.
#[derive(serde::Serialize)]
struct RecvReport<'a> {
    #[serde(flatten)]
    stats: StreamStats,
    frames_written: u64,
    bytes_written: u64,
    /// "frames", "duration", "timeout", "interrupt" or "max_bytes".
    stopped: &'static str,
    warnings: &'a [String],
}

/// Warnings of a receiver: each printed once (unless quiet), at most [`MAX_WARNINGS`] kept.
struct Warnings {
    quiet: bool,
    seen: std::collections::HashSet<String>,
    list: Vec<String>,
}

const MAX_WARNINGS: usize = 20;

impl Warnings {
    /// Warn about `key` once, with `text`.
    fn once(&mut self, key: String, text: impl FnOnce() -> String) {
        if self.seen.len() >= MAX_WARNINGS || !self.seen.insert(key) {
            return;
        }
        self.push(text());
    }

    fn push(&mut self, text: String) {
        if !self.quiet {
            crate::say!("vx: warning: {text}");
        }
        if self.list.len() < MAX_WARNINGS {
            self.list.push(text);
        }
    }
}

/// The largest JPEG file `vx stream send` reads (RTP/JPEG pictures are at most 2040x2040).
const MAX_JPEG: u64 = 64 << 20;

fn recv(a: RecvArgs, quiet: bool, backend: &dyn MediaBackend) -> Result<()> {
    let (dimensions, framerate) = match &a.sdp {
        Some(p) => {
            // An SDP is a few hundred bytes; 1 MiB is plenty.
            let bytes = crate::read_small(p, 1 << 20)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow!("{}: an SDP file is text (UTF-8)", p.display()))?;
            let d = StreamDescription::parse(&text).map_err(|e| anyhow!("{}: {e}", p.display()))?;
            (d.dimensions, d.framerate)
        }
        None => (None, None),
    };
    // How long a recording's only frame lasts (RTP/JPEG says nothing of the rate): the SDP's
    // frame rate, else 30 fps.
    let frame_secs = 1.0
        / framerate
            .filter(|f| f.is_finite() && *f > 0.0 && *f <= 1000.0)
            .unwrap_or(30.0);
    let secs = |v: Option<f64>, name: &str| -> Result<Option<Duration>> {
        match v {
            // Beyond what a Duration holds (1e308): no limit, not a panic.
            Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(
                Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX),
            )),
            Some(_) => Err(crate::usage(format!(
                "--{name} must be a number of seconds >= 0"
            ))),
            None => Ok(None),
        }
    };
    let stop = StopAfter {
        interrupt: Some(interrupt_flag()),
        frames: a.frames,
        duration: secs(a.duration, "duration")?,
        idle: secs(a.timeout, "timeout")?,
    };
    // The outputs are opened (stats) or checked (the recording's directory) before receiving,
    // and two outputs of one command may not be the same file.
    if let (Some(o), Some(st)) = (&a.out, &a.stats) {
        if o == st || vx_image::fsutil::same_file(o, st) {
            bail!(
                "{}: --out and --stats name the same file; choose two",
                st.display()
            );
        }
    }
    let mut stats_out = match &a.stats {
        Some(p) => {
            Some(vx_image::fsutil::OutFile::create(p).with_context(|| p.display().to_string())?)
        }
        None => None,
    };
    if let Some(o) = a
        .out
        .as_ref()
        .filter(|o| o.extension().is_some_and(|e| e.eq_ignore_ascii_case("mkv")))
    {
        let dir = match o.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        if !dir.is_dir() {
            bail!("{}: no such directory {}", o.display(), dir.display());
        }
    }
    // A frame directory belongs to one receiver at a time (a second one would delete the
    // first one's frames as "an earlier reception's"): held until the receiver ends.
    let mut _owned = None;
    let mut sink = match &a.out {
        None => Sink::None,
        Some(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("mkv")) => {
            // Said now, not after the first frame arrives.
            if p.is_dir() {
                bail!("{}: is a directory (a recording is a file)", p.display());
            }
            Sink::Mkv(p.clone(), None)
        }
        Some(p) => {
            _owned =
                Some(vx_image::fsutil::DirLock::take(p).with_context(|| p.display().to_string())?);
            // An earlier reception's frames are not this one's: numbered as one sequence they
            // read as a single stream. Only vx's own names go (frame-NNNNNN.jpg).
            let mut removed = 0usize;
            for e in std::fs::read_dir(p)
                .with_context(|| p.display().to_string())?
                .flatten()
            {
                let name = e.file_name().to_string_lossy().into_owned();
                let ours = name
                    .strip_prefix("frame-")
                    .and_then(|r| r.strip_suffix(".jpg"))
                    .is_some_and(|n| n.len() >= 6 && n.bytes().all(|b| b.is_ascii_digit()));
                if ours && e.file_type().is_ok_and(|t| t.is_file()) {
                    std::fs::remove_file(e.path())
                        .with_context(|| e.path().display().to_string())?;
                    removed += 1;
                }
            }
            if removed > 0 && !quiet {
                crate::say!(
                    "vx: {}: {removed} frame(s) of an earlier reception removed",
                    p.display()
                );
            }
            Sink::Dir(p.clone())
        }
    };
    let max_bytes = match (a.max_bytes, &sink) {
        (Some(n), _) => n,
        (None, Sink::Dir(_)) => DEFAULT_MAX_BYTES,
        (None, _) => 0,
    };
    let socket = vx_rtp::net::bind_receiver(&a.listen)
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let show = !quiet && std::io::stderr().is_terminal();
    let (mut written, mut bytes_written) = (0u64, 0u64);
    let mut budget_hit = false;
    let mut warnings = Warnings {
        quiet,
        seen: Default::default(),
        list: Vec::new(),
    };
    let cfg = DepacketizerConfig {
        dimensions,
        verify: a.verify,
        ..Default::default()
    };
    let mut sink_err: Option<anyhow::Error> = None;
    let received = receive(&socket, cfg, stop, |event| {
        let frame = match event {
            Event::Frame(f) => f,
            Event::Tick(s) => {
                if show {
                    crate::say_part!(
                        "\r\x1b[Kvx: {} frames, {} dropped, {} packets, {} lost, jitter {:.2} ms, {:.0} kb/s",
                        s.frames_complete, s.frames_dropped, s.packets, s.packets_lost, s.jitter_ms, s.bitrate_kbps
                    );
                    let _ = std::io::stderr().flush();
                }
                return Ok(ControlFlow::Continue(()));
            }
            Event::NotRtp(e) => {
                warnings.once("not-rtp".into(), || {
                    format!("ignoring datagrams that are not RTP ({e}); counted in packets_ignored")
                });
                return Ok(ControlFlow::Continue(()));
            }
            Event::Ignored { ssrc, reason } => {
                warnings.once(format!("ssrc {ssrc}"), || match reason {
                    IgnoreReason::Probation => format!(
                        "ignoring datagrams from SSRC {ssrc:#010x}: not a valid RTP source (fewer than 2 packets in sequence); counted in packets_ignored"
                    ),
                    IgnoreReason::OtherSource { current } => format!(
                        "ignoring datagrams from SSRC {ssrc:#010x}: SSRC {current:#010x} is being received; counted in packets_ignored"
                    ),
                });
                return Ok(ControlFlow::Continue(()));
            }
            Event::Source { ssrc, replaces } => {
                if let Some(old) = replaces {
                    warnings.push(format!(
                        "SSRC {old:#010x} went silent: now receiving SSRC {ssrc:#010x}"
                    ));
                }
                return Ok(ControlFlow::Continue(()));
            }
            Event::Rejected(e) => {
                let e = e.to_string();
                warnings.once(format!("rejected {e}"), || {
                    format!("frame dropped: {e}; counted in frames_rejected")
                });
                return Ok(ControlFlow::Continue(()));
            }
        };
        let len = frame.jpeg.len() as u64;
        if max_bytes > 0 && bytes_written + len > max_bytes {
            budget_hit = true;
            return Ok(ControlFlow::Break(()));
        }
        let r: Result<()> = match &mut sink {
            Sink::None => Ok(()),
            Sink::Dir(dir) => {
                let p = dir.join(format!("frame-{written:06}.jpg"));
                write_atomic(&p, &frame.jpeg).with_context(|| p.display().to_string())
            }
            Sink::Mkv(path, rec) => (|| {
                if rec.is_none() {
                    *rec = Some(backend.recorder(
                        path,
                        frame.width as u32,
                        frame.height as u32,
                        frame_secs,
                    )?);
                }
                match rec.as_mut() {
                    Some(r) => r.write(&frame.jpeg, frame.timestamp),
                    None => Ok(()),
                }
            })(),
        };
        written += 1;
        bytes_written += len;
        r.map(|_| ControlFlow::Continue(())).map_err(|e| {
            let msg = e.to_string();
            sink_err = Some(e);
            std::io::Error::other(msg)
        })
    });
    if show {
        crate::say_part!("\r\x1b[K");
    }
    if let Some(e) = sink_err {
        return Err(e);
    }
    let (stats, stopped) = received.with_context(|| format!("receiving on {}", a.listen))?;
    if budget_hit {
        warnings.push(format!(
            "stopped: --max-bytes {max_bytes} reached ({bytes_written} bytes in {written} frame(s) written)"
        ));
    }
    if let Sink::Mkv(_, Some(rec)) = sink {
        rec.finish().map_err(|e| anyhow!("{e}"))?;
    }
    if let (Some(p), Some(mut f)) = (&a.stats, stats_out.take()) {
        let report = RecvReport {
            stats,
            frames_written: written,
            bytes_written,
            stopped: match stopped {
                _ if budget_hit => "max_bytes",
                Stopped::Frames => "frames",
                Stopped::Duration => "duration",
                Stopped::Timeout => "timeout",
                Stopped::Interrupt | Stopped::Handler => "interrupt",
            },
            warnings: &warnings.list,
        };
        let mut json = serde_json::to_vec_pretty(&report)?;
        json.push(b'\n');
        f.write_all(&json)
            .and_then(|_| f.commit())
            .with_context(|| p.display().to_string())?;
    }
    if !quiet {
        crate::say!(
            "vx: received {} frame(s) ({} dropped, {} rejected), {} packets ({} lost, {} reordered, {} ignored), jitter {:.2} ms, {:.0} kb/s",
            stats.frames_complete,
            stats.frames_dropped,
            stats.frames_rejected,
            stats.packets,
            stats.packets_lost,
            stats.packets_reordered,
            stats.packets_ignored,
            stats.jitter_ms,
            stats.bitrate_kbps
        );
    }
    Ok(())
}
