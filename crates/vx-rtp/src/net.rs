//! UDP transport: a sender that paces frames in real time and a receiving loop that feeds the
//! depacketizer and the statistics. Blocking std sockets, no async runtime. On Linux, packets
//! go out and come in by batches (`sendmmsg` / `recvmmsg`): one system call for up to
//! [`BATCH`] datagrams, which is most of the CPU cost of streaming.
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::jpeg::{self, JpegError};
use crate::packet::RtpHeaderError;
use crate::payload::{
    DepacketizeError, Depacketizer, DepacketizerConfig, Frame, PacketizeError, Packetizer,
    CLOCK_RATE,
};
use crate::source::{Admit, IgnoreReason, SourceFilter};
use crate::stats::{ReceiverStats, StreamStats};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("frame {index}: {source}")]
    Jpeg { index: u64, source: JpegError },
    #[error("frame {index}: {source}")]
    Packetize { index: u64, source: PacketizeError },
    #[error("network: {0}")]
    Io(#[from] io::Error),
    /// The stop flag ([`Sender::stop_on`]) was raised while waiting for the frame's time: the
    /// frame was not sent.
    #[error("stopped")]
    Stopped,
}

/// The slowest rate a sender paces (one frame every 1000 s); slower rates are raised to it.
pub const MIN_FPS: f64 = 0.001;
/// The fastest rate (faster ones are lowered to it).
pub const MAX_FPS: f64 = 1000.0;

/// Sleep until `until`, in slices short enough to notice `stop` (Ctrl-C) within 50 ms; false
/// when stopped first.
fn nap(stop: Option<&AtomicBool>, until: Instant) -> bool {
    loop {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// Sends JPEG frames to one destination at a fixed frame rate.
pub struct Sender {
    socket: UdpSocket,
    packetizer: Packetizer,
    batch: Batch,
    mtu: usize,
    fps: f64,
    base_ts: u32,
    start: Option<Instant>,
    frames: u64,
    /// The last frame's picture size (from its JPEG header).
    size: Option<(u16, u16)>,
    stop: Option<Arc<AtomicBool>>,
    pub packets_sent: u64,
    pub bytes_sent: u64,
}

impl Sender {
    pub fn new(to: &str, mtu: usize, fps: f64) -> io::Result<Self> {
        let dest: SocketAddr = to.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("cannot resolve {to}"))
        })?;
        let bind: SocketAddr = if dest.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .map_err(io::Error::other)?;
        let socket = UdpSocket::bind(bind)?;
        socket.connect(dest)?;
        let r = crate::random_u32();
        Ok(Sender {
            socket,
            packetizer: Packetizer::new(mtu, crate::random_u32(), (r >> 16) as u16),
            batch: Batch::new(mtu),
            mtu,
            fps: if fps.is_finite() && fps > 0.0 {
                fps.clamp(MIN_FPS, MAX_FPS)
            } else {
                30.0
            },
            base_ts: r.rotate_left(7),
            start: None,
            frames: 0,
            size: None,
            stop: None,
            packets_sent: 0,
            bytes_sent: 0,
        })
    }

    /// Stop waiting when `flag` is raised (Ctrl-C): `send` then returns
    /// [`SendError::Stopped`] instead of sleeping until the frame's time, and a frame already
    /// going out sends its remaining packets at once.
    pub fn stop_on(&mut self, flag: Arc<AtomicBool>) {
        self.stop = Some(flag);
    }

    pub fn frames_sent(&self) -> u64 {
        self.frames
    }

    /// The picture size of the last frame sent (its JPEG header's).
    pub fn picture_size(&self) -> Option<(u16, u16)> {
        self.size
    }

    /// Send one JPEG, sleeping first until its time (frame n goes at start + n / fps).
    pub fn send(&mut self, jpeg_bytes: &[u8]) -> Result<(), SendError> {
        let index = self.frames;
        let frame = jpeg::parse(jpeg_bytes).map_err(|source| SendError::Jpeg { index, source })?;
        self.size = Some((frame.width, frame.height));
        let start = *self.start.get_or_insert_with(Instant::now);
        // (fps is at least MIN_FPS: a Duration and an Instant hold every frame's time; a
        // time they could not hold goes at once rather than panicking.)
        let due = Duration::try_from_secs_f64(index as f64 / self.fps)
            .ok()
            .and_then(|d| start.checked_add(d));
        if let Some(due) = due {
            if !nap(self.stop.as_deref(), due) {
                return Err(SendError::Stopped);
            }
        }
        let ts = self
            .base_ts
            .wrapping_add((index as f64 * CLOCK_RATE as f64 / self.fps).round() as u64 as u32);
        let (mut packets, mut bytes) = (0u64, 0u64);
        // Spread a frame's packets over half the frame interval instead of one burst, so that
        // big frames (1080p and up: hundreds of packets) do not overflow receive buffers.
        let expected = (frame.scan.len() / self.mtu.saturating_sub(40).max(1) + 1) as f64;
        // (At most 100 ms in all: at 0.001 fps half an interval is 500 s, longer than any
        // receiver waits for the rest of a frame.)
        let spread =
            Duration::try_from_secs_f64((0.5 / self.fps).min(0.1) / expected).unwrap_or_default();
        let frame_start = Instant::now();
        let socket = &self.socket;
        let batch = &mut self.batch;
        let stop = self.stop.as_deref();
        batch.clear();
        let flush = |batch: &mut Batch, sent_before: u64| -> io::Result<()> {
            let due = spread
                .checked_mul(sent_before.min(u32::MAX as u64) as u32)
                .and_then(|d| frame_start.checked_add(d));
            if let Some(due) = due.filter(|d| *d > Instant::now() + Duration::from_micros(200)) {
                // Stopped: the rest of the frame goes at once (a whole frame, not a torn one).
                nap(stop, due);
            }
            batch.send(socket)
        };
        self.packetizer
            .packetize(&frame, ts, |p| {
                packets += 1;
                bytes += p.len() as u64;
                batch.push(p);
                if batch.len() == BATCH {
                    flush(batch, packets - BATCH as u64)?;
                }
                Ok::<(), io::Error>(())
            })
            .map_err(|source| SendError::Packetize { index, source })??;
        if batch.len() > 0 {
            flush(batch, packets - batch.len() as u64)?;
        }
        self.packets_sent += packets;
        self.bytes_sent += bytes;
        self.frames += 1;
        Ok(())
    }
}

/// Datagrams per `sendmmsg` / `recvmmsg` call.
pub const BATCH: usize = 32;
/// Pause after a partial `recvmmsg` batch.
const COALESCE: Duration = Duration::from_millis(2);

/// Up to [`BATCH`] outgoing datagrams in one buffer.
struct Batch {
    data: Vec<u8>,
    lens: Vec<usize>,
    slot: usize,
}

impl Batch {
    fn new(mtu: usize) -> Self {
        Batch {
            data: vec![0; mtu * BATCH],
            lens: Vec::with_capacity(BATCH),
            slot: mtu,
        }
    }

    fn len(&self) -> usize {
        self.lens.len()
    }

    fn clear(&mut self) {
        self.lens.clear();
    }

    fn push(&mut self, p: &[u8]) {
        let i = self.lens.len();
        let n = p.len().min(self.slot);
        self.data[i * self.slot..i * self.slot + n].copy_from_slice(&p[..n]);
        self.lens.push(n);
    }

    /// Send every datagram in the batch on the connected `socket`, then empty it.
    fn send(&mut self, socket: &UdpSocket) -> io::Result<()> {
        let mut done = 0;
        while done < self.lens.len() {
            match send_many(socket, &self.data, self.slot, &self.lens[done..], done) {
                Ok(n) => done += n.max(1),
                // Nobody listening yet (ICMP port unreachable on a connected socket): not fatal.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => done += 1,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // ENOBUFS / EAGAIN: the kernel queue is full; back off briefly.
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOBUFS)
                        || e.kind() == io::ErrorKind::WouldBlock =>
                {
                    std::thread::sleep(Duration::from_micros(200))
                }
                Err(e) => return Err(e),
            }
        }
        self.lens.clear();
        Ok(())
    }
}

/// sendmmsg/recvmmsg headers, one datagram per iovec (no address, no control data). The
/// headers point into `iov`, which must outlive the call they are used in.
#[cfg(target_os = "linux")]
fn one_message_per_iovec(iov: &mut [libc::iovec]) -> Vec<libc::mmsghdr> {
    iov.iter_mut()
        .map(|v| {
            // SAFETY: a zeroed mmsghdr is a valid "no address, no control data" header.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = v as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect()
}

/// Send `lens.len()` datagrams stored in `data` at slots `first..` of size `slot`.
#[cfg(target_os = "linux")]
fn send_many(
    socket: &UdpSocket,
    data: &[u8],
    slot: usize,
    lens: &[usize],
    first: usize,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut iov: Vec<libc::iovec> = lens
        .iter()
        .enumerate()
        .map(|(k, &n)| libc::iovec {
            iov_base: data[(first + k) * slot..].as_ptr() as *mut libc::c_void,
            iov_len: n,
        })
        .collect();
    let mut msgs = one_message_per_iovec(&mut iov);
    // SAFETY: msgs/iov point into `data`, alive for the call; the socket is connected.
    let r = unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), msgs.len() as u32, 0) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

#[cfg(not(target_os = "linux"))]
fn send_many(
    socket: &UdpSocket,
    data: &[u8],
    slot: usize,
    lens: &[usize],
    first: usize,
) -> io::Result<usize> {
    socket
        .send(&data[first * slot..first * slot + lens[0]])
        .map(|_| 1)
}

/// Receives up to [`BATCH`] datagrams per system call.
struct Inbox {
    bufs: Vec<u8>,
    lens: Vec<usize>,
    truncated: Vec<bool>,
}

const MAX_DATAGRAM: usize = 65536;

impl Inbox {
    fn new() -> Self {
        // Zeroed pages are only made resident when a datagram is written into them.
        Inbox {
            bufs: vec![0; MAX_DATAGRAM * BATCH],
            lens: vec![0; BATCH],
            truncated: vec![false; BATCH],
        }
    }

    /// Wait (up to the socket's read timeout) for at least one datagram; returns how many.
    #[cfg(target_os = "linux")]
    fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let mut iov: Vec<libc::iovec> = self
            .bufs
            .chunks_mut(MAX_DATAGRAM)
            .map(|c| libc::iovec {
                iov_base: c.as_mut_ptr() as *mut libc::c_void,
                iov_len: c.len(),
            })
            .collect();
        let mut msgs = one_message_per_iovec(&mut iov);
        // SAFETY: every iovec points into self.bufs, alive and exclusively borrowed.
        let r = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = r as usize;
        for (k, m) in msgs.iter().take(n).enumerate() {
            self.lens[k] = m.msg_len as usize;
            self.truncated[k] = m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        }
        Ok(n)
    }

    #[cfg(not(target_os = "linux"))]
    fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let n = socket.recv(&mut self.bufs[..MAX_DATAGRAM])?;
        self.lens[0] = n;
        self.truncated[0] = false;
        Ok(1)
    }

    fn get(&self, k: usize) -> &[u8] {
        &self.bufs[k * MAX_DATAGRAM..k * MAX_DATAGRAM + self.lens[k]]
    }
}

/// Bind a UDP socket for receiving, with a receive buffer as large as the system allows
/// (up to 8 MiB): a 1080p JPEG is a burst of hundreds of packets.
pub fn bind_receiver(addr: &str) -> io::Result<UdpSocket> {
    let sa: SocketAddr = addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot resolve {addr}"),
        )
    })?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(sa),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    let _ = socket.set_recv_buffer_size(8 << 20); // clamped by net.core.rmem_max; best effort
    socket.bind(&sa.into())?;
    Ok(socket.into())
}

/// When a receiving loop stops.
#[derive(Debug, Clone, Default)]
pub struct StopAfter {
    /// Set from elsewhere (e.g. a Ctrl-C handler) to stop.
    pub interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    pub frames: Option<u64>,
    pub duration: Option<Duration>,
    /// Stop when no packet arrived for this long after the first one.
    pub idle: Option<Duration>,
}

/// Why [`receive`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    Frames,
    Duration,
    Timeout,
    Interrupt,
    /// The event handler asked to stop (e.g. a byte budget was reached).
    Handler,
}

/// What [`receive`] reports to its caller as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A complete frame that passed the checks.
    Frame(Frame),
    /// About every 200 ms.
    Tick(&'a StreamStats),
    /// A datagram was ignored (not the received source, or a source not yet valid).
    Ignored { ssrc: u32, reason: IgnoreReason },
    /// A datagram that is not RTP was ignored.
    NotRtp(RtpHeaderError),
    /// `ssrc` became the received source, replacing `replaces`.
    Source { ssrc: u32, replaces: Option<u32> },
    /// A frame was dropped because its data failed the checks.
    Rejected(&'a DepacketizeError),
}

/// Receive on `socket` until `stop` says so (or the handler returns `Break`). `on_event` gets
/// each complete frame, the statistics about every 200 ms, and what was ignored or rejected.
/// The received source is chosen by RFC 3550 validation ([`SourceFilter`]); packets of other
/// sources are ignored (counted in `packets_ignored`), and a source that goes silent is
/// replaced by another valid one.
pub fn receive(
    socket: &UdpSocket,
    cfg: DepacketizerConfig,
    stop: StopAfter,
    mut on_event: impl FnMut(Event<'_>) -> io::Result<ControlFlow<()>>,
) -> io::Result<(StreamStats, Stopped)> {
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut rx = Receiver::new(cfg);
    let mut inbox = Inbox::new();
    let started = Instant::now();
    let mut last_packet: Option<Instant> = None;
    let mut last_tick = Instant::now();
    let stopped = 'recv: loop {
        if matches!(&stop.interrupt, Some(f) if f.load(std::sync::atomic::Ordering::Relaxed)) {
            break Stopped::Interrupt;
        }
        if let Some(d) = stop.duration {
            if started.elapsed() >= d {
                break Stopped::Duration;
            }
        }
        if let (Some(idle), Some(last)) = (stop.idle, last_packet) {
            if last.elapsed() >= idle {
                break Stopped::Timeout;
            }
        }
        if last_tick.elapsed() >= Duration::from_millis(200) {
            last_tick = Instant::now();
            let s = rx.snapshot();
            if on_event(Event::Tick(&s))?.is_break() {
                break Stopped::Handler;
            }
        }
        let count = match inbox.recv(socket) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        if count < BATCH {
            // Let more datagrams queue up before the next call: a quarter of the wake-ups and
            // about 25 % less CPU at 1080p30 (measured with perf stat), for at most 2 ms of
            // added latency. A full batch means we are behind: no pause then.
            std::thread::sleep(COALESCE);
        }
        for k in 0..count {
            let pkt = inbox.get(k);
            let truncated = inbox.truncated[k];
            let flow = rx.datagram(pkt, truncated, now, &mut on_event)?;
            if rx.used_source_packet {
                last_packet = Some(now);
            }
            if flow.is_break() {
                break 'recv Stopped::Handler;
            }
            if matches!(stop.frames, Some(f) if rx.depack.counters().frames_complete >= f) {
                break 'recv Stopped::Frames;
            }
        }
    };
    rx.finish(&mut on_event)?;
    Ok((rx.snapshot(), stopped))
}

/// The receiving side of [`receive`] without the socket, one datagram at a time: source
/// selection, statistics, reassembly (also what the fuzz targets drive).
pub struct Receiver {
    depack: Depacketizer,
    stats: ReceiverStats,
    sources: SourceFilter,
    rejected: u64,
    /// The last datagram was a packet of the received source that was used.
    used_source_packet: bool,
}

impl Receiver {
    pub fn new(cfg: DepacketizerConfig) -> Self {
        Receiver {
            depack: Depacketizer::new(cfg),
            stats: ReceiverStats::new(),
            sources: SourceFilter::default(),
            rejected: 0,
            used_source_packet: false,
        }
    }

    pub fn snapshot(&self) -> StreamStats {
        self.stats.snapshot(self.depack.counters())
    }

    /// The stream ends: the frame in progress is dropped, held packets are ignored.
    pub fn finish(
        &mut self,
        on_event: &mut dyn FnMut(Event<'_>) -> io::Result<ControlFlow<()>>,
    ) -> io::Result<()> {
        self.depack.finish();
        self.sources.finish();
        self.discarded(on_event).map(|_| ())
    }

    /// One datagram (`truncated`: larger than the receive buffer) that arrived at `now`.
    pub fn datagram(
        &mut self,
        pkt: &[u8],
        truncated: bool,
        now: Instant,
        on_event: &mut dyn FnMut(Event<'_>) -> io::Result<ControlFlow<()>>,
    ) -> io::Result<ControlFlow<()>> {
        self.used_source_packet = false;
        let rtp = match crate::packet::RtpPacket::parse(pkt) {
            Ok(r) => r,
            Err(e) => {
                self.stats.on_ignored();
                return on_event(Event::NotRtp(e));
            }
        };
        let admit = self.sources.admit(rtp.ssrc, rtp.sequence, pkt, now);
        if self.discarded(on_event)?.is_break() {
            return Ok(ControlFlow::Break(()));
        }
        match admit {
            Admit::Current => self.packet(pkt, truncated, now, on_event),
            Admit::Held => Ok(ControlFlow::Continue(())),
            Admit::Switched {
                ssrc,
                replaces,
                held,
            } => {
                if replaces.is_some() {
                    self.stats.on_new_source();
                    self.depack.reset();
                }
                if on_event(Event::Source { ssrc, replaces })?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                let last = held.len().saturating_sub(1);
                for (i, p) in held.iter().enumerate() {
                    // The last held packet is this datagram (it may be truncated).
                    let t = truncated && i == last;
                    if self.packet(p, t, now, on_event)?.is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Ok(ControlFlow::Continue(()))
            }
        }
    }

    /// Count (and report) the held packets the source filter gave up.
    fn discarded(
        &mut self,
        on_event: &mut dyn FnMut(Event<'_>) -> io::Result<ControlFlow<()>>,
    ) -> io::Result<ControlFlow<()>> {
        let gone: Vec<(u32, IgnoreReason)> = self.sources.drain_discarded().collect();
        for (ssrc, reason) in gone {
            self.stats.on_ignored();
            if on_event(Event::Ignored { ssrc, reason })?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// A packet of the received source.
    fn packet(
        &mut self,
        pkt: &[u8],
        truncated: bool,
        now: Instant,
        on_event: &mut dyn FnMut(Event<'_>) -> io::Result<ControlFlow<()>>,
    ) -> io::Result<ControlFlow<()>> {
        let Ok(rtp) = crate::packet::RtpPacket::parse(pkt) else {
            return Ok(ControlFlow::Continue(()));
        };
        if !self
            .stats
            .on_packet(rtp.sequence, rtp.timestamp, now, pkt.len())
        {
            return Ok(ControlFlow::Continue(())); // unconfirmed sequence jump: ignored
        }
        self.sources.heard_current(now);
        self.used_source_packet = true;
        // Larger than 64 KiB: invalid.
        let r = self.depack.push(if truncated { &pkt[..0] } else { pkt });
        let rejected = self.depack.counters().frames_rejected;
        if rejected > self.rejected {
            self.rejected = rejected;
            if let Some(e) = self.depack.last_rejection() {
                if on_event(Event::Rejected(e))?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        match r {
            Ok(Some(frame)) => on_event(Event::Frame(frame)),
            _ => Ok(ControlFlow::Continue(())),
        }
    }
}
