//! UDP transport: a sender that paces frames in real time and a receiving loop that feeds the
//! depacketizer and the statistics. Blocking std sockets, no async runtime.
use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use crate::jpeg::{self, JpegError};
use crate::payload::{
    Depacketizer, DepacketizerConfig, Frame, PacketizeError, Packetizer, CLOCK_RATE,
};
use crate::stats::{ReceiverStats, StreamStats};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("frame {index}: {source}")]
    Jpeg { index: u64, source: JpegError },
    #[error("frame {index}: {source}")]
    Packetize { index: u64, source: PacketizeError },
    #[error("network: {0}")]
    Io(#[from] io::Error),
}

/// Sends JPEG frames to one destination at a fixed frame rate.
pub struct Sender {
    socket: UdpSocket,
    packetizer: Packetizer,
    mtu: usize,
    fps: f64,
    base_ts: u32,
    start: Option<Instant>,
    frames: u64,
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
            mtu,
            fps: if fps > 0.0 { fps } else { 30.0 },
            base_ts: r.rotate_left(7),
            start: None,
            frames: 0,
            packets_sent: 0,
            bytes_sent: 0,
        })
    }

    pub fn frames_sent(&self) -> u64 {
        self.frames
    }

    /// Send one JPEG, sleeping first until its time (frame n goes at start + n / fps).
    pub fn send(&mut self, jpeg_bytes: &[u8]) -> Result<(), SendError> {
        let index = self.frames;
        let frame = jpeg::parse(jpeg_bytes).map_err(|source| SendError::Jpeg { index, source })?;
        let start = *self.start.get_or_insert_with(Instant::now);
        let due = start + Duration::from_secs_f64(index as f64 / self.fps);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let ts = self
            .base_ts
            .wrapping_add((index as f64 * CLOCK_RATE as f64 / self.fps).round() as u64 as u32);
        let socket = &self.socket;
        let (mut packets, mut bytes) = (0u64, 0u64);
        // Spread a frame's packets over half the frame interval instead of one burst, so that
        // big frames (1080p and up: hundreds of packets) do not overflow receive buffers.
        let expected = (frame.scan.len() / self.mtu.saturating_sub(40).max(1) + 1) as f64;
        let spread = Duration::from_secs_f64(0.5 / self.fps / expected);
        let frame_start = Instant::now();
        self.packetizer
            .packetize(&frame, ts, |p| {
                packets += 1;
                bytes += p.len() as u64;
                if packets % 8 == 0 {
                    let due = frame_start + spread * packets as u32;
                    let now = Instant::now();
                    if due > now + Duration::from_micros(200) {
                        std::thread::sleep(due - now);
                    }
                }
                send_all(socket, p)
            })
            .map_err(|source| SendError::Packetize { index, source })??;
        self.packets_sent += packets;
        self.bytes_sent += bytes;
        self.frames += 1;
        Ok(())
    }
}

fn send_all(socket: &UdpSocket, p: &[u8]) -> io::Result<()> {
    loop {
        match socket.send(p) {
            Ok(_) => return Ok(()),
            // Nobody listening yet (ICMP port unreachable on a connected socket): not fatal for UDP.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(105) => {
                // ENOBUFS: the kernel queue is full; back off briefly.
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => return Err(e),
        }
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

/// Receive on `socket` until `stop` says so; `on_frame` gets each complete frame, `on_tick`
/// the current statistics about every 200 ms. Packets from any SSRC other than the first one
/// seen are ignored.
pub fn receive(
    socket: &UdpSocket,
    cfg: DepacketizerConfig,
    stop: StopAfter,
    mut on_frame: impl FnMut(Frame) -> io::Result<()>,
    mut on_tick: impl FnMut(&StreamStats),
) -> io::Result<StreamStats> {
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut depack = Depacketizer::new(cfg);
    let mut stats = ReceiverStats::new();
    let mut buf = vec![0u8; 65536];
    let started = Instant::now();
    let mut last_packet: Option<Instant> = None;
    let mut last_tick = Instant::now();
    let mut ssrc: Option<u32> = None;
    loop {
        if matches!(&stop.interrupt, Some(f) if f.load(std::sync::atomic::Ordering::Relaxed)) {
            break;
        }
        if let Some(d) = stop.duration {
            if started.elapsed() >= d {
                break;
            }
        }
        if let (Some(idle), Some(last)) = (stop.idle, last_packet) {
            if last.elapsed() >= idle {
                break;
            }
        }
        if last_tick.elapsed() >= Duration::from_millis(200) {
            last_tick = Instant::now();
            on_tick(&stats.snapshot(depack.counters()));
        }
        let n = match socket.recv(&mut buf) {
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
        let pkt = &buf[..n];
        let Ok(rtp) = crate::packet::RtpPacket::parse(pkt) else {
            let _ = depack.push(pkt); // counted as invalid
            continue;
        };
        if *ssrc.get_or_insert(rtp.ssrc) != rtp.ssrc {
            continue;
        }
        last_packet = Some(now);
        stats.on_packet(rtp.sequence, rtp.timestamp, now, n);
        if let Ok(Some(frame)) = depack.push(pkt) {
            on_frame(frame)?;
            if matches!(stop.frames, Some(f) if depack.counters().frames_complete >= f) {
                break;
            }
        }
    }
    depack.finish();
    Ok(stats.snapshot(depack.counters()))
}
