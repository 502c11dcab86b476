//! RFC 2435 payload: [`Packetizer`] (JPEG -> RTP packets) and [`Depacketizer`] (RTP packets ->
//! complete JFIF frames).
use std::collections::{BTreeMap, HashMap};

use crate::jpeg::{build_jfif, JfifParams, JpegFrame, QuantTable};
use crate::packet::{write_header, RtpHeaderError, RtpPacket, HEADER_LEN};
use crate::tables::tables_for_q;

/// Static RTP payload type of JPEG (RFC 3551).
pub const PAYLOAD_TYPE_JPEG: u8 = 26;
/// RTP clock rate of JPEG video.
pub const CLOCK_RATE: u32 = 90_000;
const MAIN_HEADER: usize = 8;
const RESTART_HEADER: usize = 4;
const QT_HEADER: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketizeError {
    #[error("MTU {mtu} too small: the first packet needs {need} bytes of headers and tables")]
    MtuTooSmall { mtu: usize, need: usize },
    #[error("JPEG scan of {0} bytes exceeds the 24-bit fragment offset of RFC 2435")]
    TooLarge(usize),
}

/// Turns JPEG frames into RTP packets: Q=255 with the frame's own tables in-band on the first
/// packet, restart header for JPEGs with DRI, marker bit on the last packet.
pub struct Packetizer {
    mtu: usize,
    ssrc: u32,
    sequence: u16,
    payload_type: u8,
    buf: Vec<u8>,
}

impl Packetizer {
    /// `mtu` is the largest RTP packet (UDP payload) to send.
    pub fn new(mtu: usize, ssrc: u32, first_sequence: u16) -> Self {
        Packetizer {
            mtu,
            ssrc,
            sequence: first_sequence,
            payload_type: PAYLOAD_TYPE_JPEG,
            buf: Vec::with_capacity(mtu),
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    pub fn next_sequence(&self) -> u16 {
        self.sequence
    }

    /// Packetize one frame with RTP timestamp `timestamp`; `send` gets each packet in order.
    /// Returns the number of packets. Errors from `send` are returned as they are.
    pub fn packetize<E>(
        &mut self,
        frame: &JpegFrame<'_>,
        timestamp: u32,
        mut send: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Result<usize, E>, PacketizeError> {
        let scan = frame.scan;
        if scan.len() >= 1 << 24 {
            return Err(PacketizeError::TooLarge(scan.len()));
        }
        let restart = frame.restart_interval > 0;
        let tables_len = frame.luma.byte_len() + frame.chroma.byte_len();
        let fixed = HEADER_LEN + MAIN_HEADER + if restart { RESTART_HEADER } else { 0 };
        let need = fixed + QT_HEADER + tables_len + 1;
        if self.mtu < need {
            return Err(PacketizeError::MtuTooSmall {
                mtu: self.mtu,
                need,
            });
        }
        let (w8, h8) = match wire_size(frame.width, frame.height) {
            Some((w, h)) => ((w / 8) as u8, (h / 8) as u8),
            None => (0, 0), // the size travels in the SDP (x-dimensions), as GStreamer does
        };
        let rtp_type = frame.rtp_type | if restart { 64 } else { 0 };
        let mut offset = 0usize;
        let mut count = 0;
        loop {
            let first = offset == 0;
            let room = self.mtu - fixed - if first { QT_HEADER + tables_len } else { 0 };
            let chunk = room.min(scan.len() - offset);
            let last = offset + chunk == scan.len();
            let b = &mut self.buf;
            b.clear();
            write_header(
                b,
                last,
                self.payload_type,
                self.sequence,
                timestamp,
                self.ssrc,
            );
            b.push(0); // type-specific: progressive frame
            b.extend_from_slice(&(offset as u32).to_be_bytes()[1..]);
            b.extend_from_slice(&[rtp_type, 255, w8, h8]);
            if restart {
                b.extend_from_slice(&frame.restart_interval.to_be_bytes());
                // F=1, L=1, count=0x3FFF: fragments are not aligned on restart intervals.
                b.extend_from_slice(&[0xFF, 0xFF]);
            }
            if first {
                let precision =
                    (frame.luma.sixteen_bit as u8) | ((frame.chroma.sixteen_bit as u8) << 1);
                b.extend_from_slice(&[0, precision]);
                b.extend_from_slice(&(tables_len as u16).to_be_bytes());
                frame.luma.write(b);
                frame.chroma.write(b);
            }
            b.extend_from_slice(&scan[offset..offset + chunk]);
            self.sequence = self.sequence.wrapping_add(1);
            count += 1;
            if let Err(e) = send(&self.buf) {
                return Ok(Err(e));
            }
            offset += chunk;
            if last {
                return Ok(Ok(count));
            }
        }
    }
}

/// A frame rebuilt by the [`Depacketizer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub timestamp: u32,
    pub width: u16,
    pub height: u16,
    /// A complete JFIF image.
    pub jpeg: Vec<u8>,
}

/// Why a packet was not used, or a frame was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepacketizeError {
    #[error("bad RTP header: {0}")]
    Rtp(#[from] RtpHeaderError),
    #[error("payload shorter than the RFC 2435 headers")]
    TooShort,
    #[error("reserved Q value {0}")]
    ReservedQ(u8),
    #[error("unsupported RFC 2435 type {0}")]
    UnsupportedType(u8),
    #[error("interlaced JPEG (type-specific {0}) is not supported")]
    Interlaced(u8),
    #[error("packets of one frame disagree on type, Q or size")]
    Inconsistent,
    #[error("bad quantization table header")]
    QuantHeader,
    #[error("Q {0}: no quantization tables received yet")]
    NoTables(u8),
    #[error("width/height 0 in the header and no x-dimensions given")]
    NoDimensions,
    #[error("frame larger than {0} bytes")]
    TooLarge(usize),
    #[error("frame in more than {0} fragments")]
    TooManyFragments(usize),
    #[error("corrupt frame: {0}")]
    CorruptScan(&'static str),
}

/// Counters kept by the depacketizer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DepacketizerCounters {
    pub frames_complete: u64,
    /// Frames abandoned: packets missing, or the frame rejected.
    pub frames_dropped: u64,
    /// Of `frames_dropped`: frames with an invalid packet, inconsistent fragments or data that
    /// fails the checks ([`crate::jpeg::check_structure`], and with `verify`
    /// [`crate::jpeg::validate_scan`]).
    pub frames_rejected: u64,
    /// Packets of a frame that was already finished or abandoned.
    pub packets_late: u64,
    /// Packets rejected as malformed.
    pub packets_invalid: u64,
}

/// Most fragments (packets) accepted for one frame: 22 MB at a 1400-byte MTU, more than the
/// largest frame accepted; a 4K MJPEG frame takes about 2 000. Bounds the work per frame.
pub const MAX_FRAGMENTS: usize = 16_384;

/// Settings of a [`Depacketizer`].
#[derive(Debug, Clone, Copy)]
pub struct DepacketizerConfig {
    /// Largest frame accepted; bigger ones are dropped (bounds memory per frame).
    pub max_frame_bytes: usize,
    /// Most packets accepted for one frame (bounds the work per frame).
    pub max_fragments: usize,
    /// Picture size from the SDP (`a=x-dimensions`), used when the header says 0.
    pub dimensions: Option<(u16, u16)>,
    /// Besides the structural checks every frame gets ([`crate::jpeg::check_structure`]:
    /// fragments cover the frame exactly, tables complete, a scan size plausible for the
    /// dimensions, markers and restart markers in place), walk the entropy-coded data of each
    /// frame ([`crate::jpeg::validate_scan`]) and drop frames that do not hold every MCU:
    /// catches a truncated last packet or corrupted scan bytes. Costs CPU; off by default.
    pub verify: bool,
}

impl Default for DepacketizerConfig {
    fn default() -> Self {
        DepacketizerConfig {
            max_frame_bytes: 16 << 20,
            max_fragments: MAX_FRAGMENTS,
            dimensions: None,
            verify: false,
        }
    }
}

struct Assembly {
    timestamp: u32,
    data: Vec<u8>,
    /// Received byte ranges, start -> end: disjoint and not adjacent (merged on insert).
    ranges: BTreeMap<usize, usize>,
    /// Bytes covered by `ranges`.
    covered: usize,
    fragments: usize,
    /// Largest end offset accepted for this frame.
    limit: usize,
    total: Option<usize>,
    rtp_type: u8,
    q: u8,
    w8: u8,
    h8: u8,
    restart_interval: Option<u16>,
    tables: Option<(QuantTable, QuantTable)>,
    /// Why the frame cannot be used (an invalid packet or inconsistent fragments).
    failed: Option<DepacketizeError>,
}

impl Assembly {
    /// Add the fragment `bytes` at `offset`. Linear in the fragment plus a logarithmic
    /// lookup: overlapping ranges are compared (they must hold the same bytes) and merged.
    fn add(&mut self, offset: usize, bytes: &[u8]) -> Result<(), DepacketizeError> {
        self.fragments += 1;
        let end = offset
            .checked_add(bytes.len())
            .filter(|&e| e <= self.limit)
            .ok_or(DepacketizeError::TooLarge(self.limit))?;
        if matches!(self.total, Some(t) if end > t) {
            return Err(DepacketizeError::CorruptScan(
                "fragment past the end of the frame",
            ));
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let (mut lo, mut hi) = (offset, end);
        let mut touching = Vec::new();
        for (&s, &e) in self.ranges.range(..=end).rev() {
            if e < offset {
                break;
            }
            let (a, b) = (s.max(offset), e.min(end));
            if a < b {
                let old = self.data.get(a..b);
                if old != bytes.get(a - offset..b - offset) {
                    return Err(DepacketizeError::CorruptScan(
                        "overlapping fragments with different bytes",
                    ));
                }
            }
            touching.push(s);
        }
        for s in touching {
            if let Some(e) = self.ranges.remove(&s) {
                self.covered -= e - s;
                lo = lo.min(s);
                hi = hi.max(e);
            }
        }
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[offset..end].copy_from_slice(bytes);
        self.ranges.insert(lo, hi);
        self.covered += hi - lo;
        Ok(())
    }

    fn set_total(&mut self, end: usize) -> Result<(), DepacketizeError> {
        match self.total {
            Some(t) if t != end => Err(DepacketizeError::CorruptScan(
                "two last fragments with different ends",
            )),
            _ if self.ranges.last_key_value().is_some_and(|(_, &e)| e > end) => Err(
                DepacketizeError::CorruptScan("fragment past the end of the frame"),
            ),
            _ => {
                self.total = Some(end);
                Ok(())
            }
        }
    }

    fn complete(&self) -> bool {
        matches!(self.total, Some(t) if self.covered == t)
    }
}

/// Timestamps of frames finished or abandoned, remembered to recognise their late packets.
const RECENT: usize = 8;
/// A packet whose timestamp is at most this far (10 s at 90 kHz) before the frame in progress,
/// and whose sequence number is not ahead of the newest, belongs to an older frame (late).
/// A timestamp further away is a new frame: it never blocks the stream.
const LATE_WINDOW: u32 = 10 * CLOCK_RATE;

/// Reassembles RFC 2435 frames by fragment offset (not arrival order), detects gaps and
/// timestamp changes, drops incomplete frames (counted), checks what it rebuilds
/// ([`crate::jpeg::check_structure`]) and rebuilds complete JFIF images.
/// Never panics on any input; memory per frame is bounded by `max_frame_bytes` (and by the
/// largest scan the picture size allows), work per frame by `max_fragments`.
pub struct Depacketizer {
    cfg: DepacketizerConfig,
    cur: Option<Assembly>,
    q_cache: HashMap<u8, (QuantTable, QuantTable)>,
    /// Frames finished or abandoned (ring).
    recent: [Option<u32>; RECENT],
    recent_next: usize,
    /// Timestamp of the newest frame started.
    newest_ts: Option<u32>,
    /// Highest sequence number seen (within the A.1 dropout window).
    newest_seq: Option<u16>,
    counters: DepacketizerCounters,
    last_rejection: Option<DepacketizeError>,
    spare: Vec<u8>,
}

/// True if RTP timestamp `a` is before `b` (modulo 2^32).
fn ts_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Depacketizer {
    pub fn new(cfg: DepacketizerConfig) -> Self {
        Depacketizer {
            cfg,
            cur: None,
            q_cache: HashMap::new(),
            recent: [None; RECENT],
            recent_next: 0,
            newest_ts: None,
            newest_seq: None,
            counters: DepacketizerCounters::default(),
            last_rejection: None,
            spare: Vec::new(),
        }
    }

    pub fn counters(&self) -> DepacketizerCounters {
        self.counters
    }

    /// Why the last rejected frame was rejected.
    pub fn last_rejection(&self) -> Option<&DepacketizeError> {
        self.last_rejection.as_ref()
    }

    /// Give up on the frame in progress (end of stream): it counts as dropped.
    pub fn finish(&mut self) {
        if let Some(a) = self.cur.take() {
            self.abandon(a);
        }
    }

    /// The stream starts again from another source: give up the frame in progress (counted),
    /// forget timestamps, sequence numbers and cached tables; counters are kept.
    pub fn reset(&mut self) {
        self.finish();
        self.q_cache.clear();
        self.recent = [None; RECENT];
        self.newest_ts = None;
        self.newest_seq = None;
    }

    fn remember(&mut self, ts: u32) {
        self.recent[self.recent_next] = Some(ts);
        self.recent_next = (self.recent_next + 1) % RECENT;
    }

    /// Drop an unfinished frame: counted, rejected too if it had a bad packet.
    fn abandon(&mut self, a: Assembly) {
        self.counters.frames_dropped += 1;
        if let Some(e) = a.failed {
            self.counters.frames_rejected += 1;
            self.last_rejection = Some(e);
        }
        self.remember(a.timestamp);
        self.spare = a.data;
    }

    /// Feed one RTP packet. Returns a frame when this packet completes one; an error when the
    /// packet is invalid or the frame it completes is rejected.
    pub fn push(&mut self, packet: &[u8]) -> Result<Option<Frame>, DepacketizeError> {
        let mut invalid = false;
        let r = self.push_inner(packet, &mut invalid);
        if invalid {
            self.counters.packets_invalid += 1;
        }
        r
    }

    /// Is the packet (timestamp `ts`, sequence `seq`) part of a frame already finished,
    /// abandoned or older than the one in progress?
    fn is_late(&mut self, ts: u32, seq: u16) -> bool {
        let seq_ahead = match self.newest_seq {
            None => true,
            Some(n) => (1..crate::stats::MAX_DROPOUT).contains(&seq.wrapping_sub(n)),
        };
        if seq_ahead {
            self.newest_seq = Some(seq);
        }
        if self.recent.contains(&Some(ts)) {
            return true;
        }
        match self.newest_ts {
            Some(r) => ts_before(ts, r) && r.wrapping_sub(ts) <= LATE_WINDOW && !seq_ahead,
            None => false,
        }
    }

    fn push_inner(
        &mut self,
        packet: &[u8],
        invalid: &mut bool,
    ) -> Result<Option<Frame>, DepacketizeError> {
        *invalid = true; // until the packet is known to be well-formed
        let rtp = RtpPacket::parse(packet)?;
        let p = rtp.payload;
        let h = p.get(..MAIN_HEADER).ok_or(DepacketizeError::TooShort)?;
        let (type_specific, rtp_type, q, w8, h8) = (h[0], h[4], h[5], h[6], h[7]);
        let offset = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = rtp.timestamp;

        // Which frame does this packet belong to?
        let same = matches!(&self.cur, Some(a) if a.timestamp == ts);
        if self.is_late(ts, rtp.sequence) && !same {
            *invalid = false;
            self.counters.packets_late += 1;
            return Ok(None);
        }
        if !same {
            if let Some(old) = self.cur.take() {
                self.abandon(old);
            }
            self.newest_ts = Some(ts);
            let mut data = std::mem::take(&mut self.spare);
            data.clear();
            let mut limit = self.cfg.max_frame_bytes;
            let dims = if w8 == 0 || h8 == 0 {
                self.cfg.dimensions
            } else {
                Some((w8 as u16 * 8, h8 as u16 * 8))
            };
            if let Some((w, hh)) = dims {
                // Restart markers at every MCU at most: the largest interval count.
                let (_, max) = crate::jpeg::scan_size_bounds(w, hh, rtp_type, 1);
                limit = limit.min(max);
            }
            self.cur = Some(Assembly {
                timestamp: ts,
                data,
                ranges: BTreeMap::new(),
                covered: 0,
                fragments: 0,
                limit,
                total: None,
                rtp_type,
                q,
                w8,
                h8,
                restart_interval: None,
                tables: None,
                failed: None,
            });
        }
        let res = self.add_to_current(
            (type_specific, rtp_type, q, w8, h8),
            offset,
            rtp.marker,
            &p[MAIN_HEADER..],
        );
        if let Err(e) = res {
            if let Some(a) = self.cur.as_mut() {
                a.failed.get_or_insert(e.clone());
            }
            return Err(e);
        }
        *invalid = false;
        let done = matches!(&self.cur, Some(a) if a.complete());
        if !done {
            return Ok(None);
        }
        let Some(a) = self.cur.take() else {
            return Ok(None);
        };
        if a.failed.is_some() {
            self.abandon(a);
            return Ok(None);
        }
        self.remember(a.timestamp);
        let built = self.build(&a);
        self.spare = a.data;
        match built {
            Ok(f) => {
                self.counters.frames_complete += 1;
                Ok(Some(f))
            }
            Err(e) => {
                self.counters.frames_dropped += 1;
                self.counters.frames_rejected += 1;
                self.last_rejection = Some(e.clone());
                Err(e)
            }
        }
    }

    fn add_to_current(
        &mut self,
        (type_specific, rtp_type, q, w8, h8): (u8, u8, u8, u8, u8),
        offset: usize,
        marker: bool,
        mut rest: &[u8],
    ) -> Result<(), DepacketizeError> {
        if type_specific != 0 {
            return Err(DepacketizeError::Interlaced(type_specific));
        }
        if rtp_type >= 128 || (rtp_type & 63) > 1 {
            return Err(DepacketizeError::UnsupportedType(rtp_type));
        }
        if q == 0 || (100..128).contains(&q) {
            return Err(DepacketizeError::ReservedQ(q));
        }
        let max_fragments = self.cfg.max_fragments;
        let Some(a) = self.cur.as_mut() else {
            return Ok(());
        };
        if rtp_type != a.rtp_type || q != a.q || w8 != a.w8 || h8 != a.h8 {
            return Err(DepacketizeError::Inconsistent);
        }
        if a.fragments >= max_fragments {
            return Err(DepacketizeError::TooManyFragments(max_fragments));
        }
        if rtp_type >= 64 {
            let r = rest
                .get(..RESTART_HEADER)
                .ok_or(DepacketizeError::TooShort)?;
            let ri = u16::from_be_bytes([r[0], r[1]]);
            if *a.restart_interval.get_or_insert(ri) != ri {
                return Err(DepacketizeError::Inconsistent);
            }
            rest = &rest[RESTART_HEADER..];
        }
        if q >= 128 && offset == 0 {
            let qh = rest.get(..QT_HEADER).ok_or(DepacketizeError::TooShort)?;
            let precision = qh[1];
            let len = u16::from_be_bytes([qh[2], qh[3]]) as usize;
            let body = rest
                .get(QT_HEADER..QT_HEADER + len)
                .ok_or(DepacketizeError::QuantHeader)?;
            rest = &rest[QT_HEADER + len..];
            if len == 0 {
                if q == 255 {
                    return Err(DepacketizeError::QuantHeader);
                }
            } else {
                let l16 = precision & 1 != 0;
                let c16 = precision & 2 != 0;
                let luma = QuantTable::read(body, l16).ok_or(DepacketizeError::QuantHeader)?;
                // One table only (what FFmpeg's packetizer sends when the JPEG has a single
                // DQT table shared by all components): chroma uses it too. Otherwise exactly
                // two tables: anything else is not what RFC 2435 describes.
                let rest_tables = &body[luma.byte_len()..];
                let chroma = if rest_tables.is_empty() {
                    luma
                } else {
                    let c =
                        QuantTable::read(rest_tables, c16).ok_or(DepacketizeError::QuantHeader)?;
                    if rest_tables.len() != c.byte_len() {
                        return Err(DepacketizeError::QuantHeader);
                    }
                    c
                };
                a.tables = Some((luma, chroma));
                if q < 255 {
                    self.q_cache.insert(q, (luma, chroma));
                }
            }
        }
        a.add(offset, rest)?;
        if marker {
            a.set_total(offset + rest.len())?;
        }
        Ok(())
    }

    fn build(&self, a: &Assembly) -> Result<Frame, DepacketizeError> {
        let (luma, chroma) = if a.q < 100 {
            let (l, c) = tables_for_q(a.q);
            (QuantTable::from_u8(&l), QuantTable::from_u8(&c))
        } else {
            a.tables
                .or_else(|| self.q_cache.get(&a.q).copied())
                .ok_or(DepacketizeError::NoTables(a.q))?
        };
        let (width, height) = if a.w8 == 0 || a.h8 == 0 {
            self.cfg.dimensions.ok_or(DepacketizeError::NoDimensions)?
        } else {
            (a.w8 as u16 * 8, a.h8 as u16 * 8)
        };
        let mut jpeg = Vec::new();
        let params = JfifParams {
            width,
            height,
            rtp_type: a.rtp_type & 63,
            luma: &luma,
            chroma: &chroma,
            restart_interval: a.restart_interval.unwrap_or(0),
        };
        let scan = a.data.get(..a.total.unwrap_or(0)).unwrap_or_default();
        crate::jpeg::check_structure(&params, scan).map_err(DepacketizeError::CorruptScan)?;
        if self.cfg.verify {
            crate::jpeg::validate_scan(&params, scan).map_err(DepacketizeError::CorruptScan)?;
        }
        build_jfif(&mut jpeg, &params, scan);
        Ok(Frame {
            timestamp: a.timestamp,
            width,
            height,
            jpeg,
        })
    }
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;

/// The picture size a receiver rebuilds from the RTP/JPEG header of a `width` x `height`
/// frame: RFC 2435 counts in blocks of 8 pixels, so sizes are rounded up to multiples of 8
/// (the extra rows and columns hold the encoder's edge padding). None above 2040 pixels, where
/// the header says 0 and the exact size travels in the SDP.
pub fn wire_size(width: u16, height: u16) -> Option<(u16, u16)> {
    (width <= 2040 && height <= 2040).then(|| (width.div_ceil(8) * 8, height.div_ceil(8) * 8))
}
