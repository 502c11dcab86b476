//! RFC 2435 payload: [`Packetizer`] (JPEG -> RTP packets) and [`Depacketizer`] (RTP packets ->
//! complete JFIF frames).
use std::collections::HashMap;

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
        let (w8, h8) = if frame.width > 2040 || frame.height > 2040 {
            (0, 0) // the size travels in the SDP (x-dimensions), as GStreamer does
        } else {
            (
                frame.width.div_ceil(8) as u8,
                frame.height.div_ceil(8) as u8,
            )
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

/// Why a packet was not used.
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
    #[error("bad quantization table header")]
    QuantHeader,
    #[error("Q {0}: no quantization tables received yet")]
    NoTables(u8),
    #[error("width/height 0 in the header and no x-dimensions given")]
    NoDimensions,
    #[error("frame larger than {0} bytes")]
    TooLarge(usize),
    #[error("corrupt frame: {0}")]
    CorruptScan(&'static str),
}

/// Counters kept by the depacketizer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DepacketizerCounters {
    pub frames_complete: u64,
    /// Frames abandoned because packets were missing or invalid.
    pub frames_dropped: u64,
    /// Packets of a frame that was already finished or abandoned.
    pub packets_late: u64,
    /// Packets rejected as malformed.
    pub packets_invalid: u64,
}

/// Settings of a [`Depacketizer`].
#[derive(Debug, Clone, Copy)]
pub struct DepacketizerConfig {
    /// Largest frame accepted; bigger ones are dropped (bounds memory per frame).
    pub max_frame_bytes: usize,
    /// Picture size from the SDP (`a=x-dimensions`), used when the header says 0.
    pub dimensions: Option<(u16, u16)>,
    /// Walk the entropy-coded data of each frame ([`crate::jpeg::validate_scan`]) and drop
    /// frames that do not hold every MCU: catches a truncated last packet, which RTP cannot
    /// reveal (real UDP delivers whole datagrams, so this is off by default).
    pub verify: bool,
}

impl Default for DepacketizerConfig {
    fn default() -> Self {
        DepacketizerConfig {
            max_frame_bytes: 16 << 20,
            dimensions: None,
            verify: false,
        }
    }
}

struct Assembly {
    timestamp: u32,
    data: Vec<u8>,
    /// Received byte ranges, sorted, merged.
    ranges: Vec<(usize, usize)>,
    total: Option<usize>,
    rtp_type: u8,
    q: u8,
    width: u16,
    height: u16,
    restart_interval: u16,
    tables: Option<(QuantTable, QuantTable)>,
    failed: bool,
}

impl Assembly {
    fn add(&mut self, offset: usize, bytes: &[u8]) {
        let end = offset + bytes.len();
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[offset..end].copy_from_slice(bytes);
        self.ranges.push((offset, end));
        self.ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.ranges.len());
        for &(a, b) in &self.ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.ranges = merged;
    }

    fn complete(&self) -> bool {
        matches!(self.total, Some(t) if self.ranges.first() == Some(&(0, t)))
    }
}

/// Reassembles RFC 2435 frames by fragment offset (not arrival order), detects gaps and
/// timestamp changes, drops incomplete frames (counted), and rebuilds complete JFIF images.
/// Never panics on any input; memory per frame is bounded by `max_frame_bytes`.
pub struct Depacketizer {
    cfg: DepacketizerConfig,
    cur: Option<Assembly>,
    q_cache: HashMap<u8, (QuantTable, QuantTable)>,
    last_finished: Option<u32>,
    counters: DepacketizerCounters,
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
            last_finished: None,
            counters: DepacketizerCounters::default(),
            spare: Vec::new(),
        }
    }

    pub fn counters(&self) -> DepacketizerCounters {
        self.counters
    }

    /// Give up on the frame in progress (end of stream): it counts as dropped.
    pub fn finish(&mut self) {
        if let Some(a) = self.cur.take() {
            self.counters.frames_dropped += 1;
            self.last_finished = Some(a.timestamp);
        }
    }

    /// Feed one RTP packet. Returns a frame when this packet completes one.
    pub fn push(&mut self, packet: &[u8]) -> Result<Option<Frame>, DepacketizeError> {
        let r = self.push_inner(packet);
        if r.is_err() {
            self.counters.packets_invalid += 1;
        }
        r
    }

    fn push_inner(&mut self, packet: &[u8]) -> Result<Option<Frame>, DepacketizeError> {
        let rtp = RtpPacket::parse(packet)?;
        let p = rtp.payload;
        let h = p.get(..MAIN_HEADER).ok_or(DepacketizeError::TooShort)?;
        let (type_specific, rtp_type, q, w8, h8) = (h[0], h[4], h[5], h[6], h[7]);
        let offset = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = rtp.timestamp;

        // Which frame does this packet belong to?
        match &self.cur {
            Some(a) if a.timestamp == ts => {}
            Some(a) if ts_before(ts, a.timestamp) => {
                self.counters.packets_late += 1;
                return Ok(None);
            }
            _ => {
                if let Some(done) = self.last_finished {
                    if done == ts || ts_before(ts, done) {
                        self.counters.packets_late += 1;
                        return Ok(None);
                    }
                }
                if let Some(old) = self.cur.take() {
                    self.counters.frames_dropped += 1;
                    self.spare = old.data;
                }
                let mut data = std::mem::take(&mut self.spare);
                data.clear();
                self.cur = Some(Assembly {
                    timestamp: ts,
                    data,
                    ranges: Vec::new(),
                    total: None,
                    rtp_type,
                    q,
                    width: w8 as u16 * 8,
                    height: h8 as u16 * 8,
                    restart_interval: 0,
                    tables: None,
                    failed: false,
                });
            }
        }
        let res = self.add_to_current(
            type_specific,
            rtp_type,
            q,
            offset,
            rtp.marker,
            &p[MAIN_HEADER..],
        );
        if res.is_err() {
            if let Some(a) = self.cur.as_mut() {
                a.failed = true;
            }
            return res.map(|_| None);
        }
        let done = matches!(&self.cur, Some(a) if a.complete());
        if !done {
            return Ok(None);
        }
        let Some(a) = self.cur.take() else {
            return Ok(None);
        };
        self.last_finished = Some(a.timestamp);
        if a.failed {
            self.counters.frames_dropped += 1;
            self.spare = a.data;
            return Ok(None);
        }
        let built = self.build(&a);
        self.spare = a.data;
        match built {
            Ok(f) => {
                self.counters.frames_complete += 1;
                Ok(Some(f))
            }
            Err(e) => {
                self.counters.frames_dropped += 1;
                Err(e)
            }
        }
    }

    fn add_to_current(
        &mut self,
        type_specific: u8,
        rtp_type: u8,
        q: u8,
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
        let max = self.cfg.max_frame_bytes;
        let Some(a) = self.cur.as_mut() else {
            return Ok(());
        };
        if rtp_type != a.rtp_type || q != a.q {
            return Err(DepacketizeError::UnsupportedType(rtp_type));
        }
        if rtp_type >= 64 {
            let r = rest
                .get(..RESTART_HEADER)
                .ok_or(DepacketizeError::TooShort)?;
            a.restart_interval = u16::from_be_bytes([r[0], r[1]]);
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
                // DQT table shared by all components): chroma uses it too.
                let rest_tables = &body[luma.byte_len()..];
                let chroma = if rest_tables.is_empty() {
                    luma
                } else {
                    QuantTable::read(rest_tables, c16).ok_or(DepacketizeError::QuantHeader)?
                };
                a.tables = Some((luma, chroma));
                if q < 255 {
                    self.q_cache.insert(q, (luma, chroma));
                }
            }
        }
        let end = offset
            .checked_add(rest.len())
            .ok_or(DepacketizeError::TooLarge(max))?;
        if end > max {
            return Err(DepacketizeError::TooLarge(max));
        }
        a.add(offset, rest);
        if marker {
            a.total = Some(end);
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
        let (width, height) = if a.width == 0 || a.height == 0 {
            self.cfg.dimensions.ok_or(DepacketizeError::NoDimensions)?
        } else {
            (a.width, a.height)
        };
        let mut jpeg = Vec::new();
        let params = JfifParams {
            width,
            height,
            rtp_type: a.rtp_type & 63,
            luma: &luma,
            chroma: &chroma,
            restart_interval: a.restart_interval,
        };
        if self.cfg.verify {
            crate::jpeg::validate_scan(&params, &a.data).map_err(DepacketizeError::CorruptScan)?;
        }
        build_jfif(&mut jpeg, &params, &a.data);
        Ok(Frame {
            timestamp: a.timestamp,
            width,
            height,
            jpeg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jpeg::{parse, QuantTable};
    use crate::tables::{CHROMA_QUANT, LUMA_QUANT};

    fn jpeg(w: u16, h: u16, t: u8, restart: u16, scan_len: usize, sixteen: bool) -> Vec<u8> {
        let scan: Vec<u8> = (0..scan_len)
            .map(|i| (i % 251) as u8)
            .filter(|&b| b != 0xFF)
            .collect();
        let mut luma = QuantTable::from_u8(&LUMA_QUANT);
        if sixteen {
            luma.sixteen_bit = true;
            luma.values[0] = 1000;
        }
        let mut out = Vec::new();
        let chroma = QuantTable::from_u8(&CHROMA_QUANT);
        let p = JfifParams {
            width: w,
            height: h,
            rtp_type: t,
            luma: &luma,
            chroma: &chroma,
            restart_interval: restart,
        };
        build_jfif(&mut out, &p, &scan);
        out
    }

    fn packets(j: &[u8], mtu: usize, ts: u32) -> Vec<Vec<u8>> {
        let f = parse(j).unwrap();
        let mut p = Packetizer::new(mtu, 7, 65530);
        let mut out = Vec::new();
        p.packetize(&f, ts, |b| {
            out.push(b.to_vec());
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
        out
    }

    #[test]
    fn roundtrip_all_variants_in_any_order() {
        for (w, h, t, r, sixteen) in [
            (320, 240, 1, 0, false),
            (320, 240, 0, 0, false),
            (640, 480, 1, 4, true),
            (4096, 2160, 1, 0, false),
        ] {
            let j = jpeg(w, h, t, r, 20_000, sixteen);
            let mut pk = packets(&j, 1400, 1000);
            assert!(pk.len() > 10);
            // Sequence wraps inside the frame (starts at 65530); marker only on the last.
            assert!(pk[..pk.len() - 1].iter().all(|p| p[1] & 0x80 == 0));
            assert!(pk.last().unwrap()[1] & 0x80 != 0);
            pk.reverse(); // arrival order must not matter
            let dims = if w > 2040 { Some((w, h)) } else { None };
            let mut d = Depacketizer::new(DepacketizerConfig {
                dimensions: dims,
                ..Default::default()
            });
            let mut got = None;
            for p in &pk {
                if let Some(f) = d.push(p).unwrap() {
                    got = Some(f);
                }
            }
            let f = got.expect("frame");
            assert_eq!(
                f.jpeg, j,
                "rebuilt JFIF equals the original ({w}x{h} type {t} restart {r})"
            );
            assert_eq!(d.counters().frames_complete, 1);
        }
    }

    #[test]
    fn loss_drops_frame_and_recovers() {
        let j = jpeg(320, 240, 1, 0, 5000, false);
        let a = packets(&j, 600, 100);
        let b = packets(&j, 600, 3100);
        let mut d = Depacketizer::new(DepacketizerConfig::default());
        for (i, p) in a.iter().enumerate() {
            if i != 3 {
                assert!(d.push(p).unwrap().is_none());
            }
        }
        let mut out = Vec::new();
        for p in &b {
            out.extend(d.push(p).unwrap());
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].jpeg, j);
        // The lost packet arrives late: ignored.
        assert!(d.push(&a[3]).unwrap().is_none());
        let c = d.counters();
        assert_eq!(
            (c.frames_complete, c.frames_dropped, c.packets_late),
            (1, 1, 1)
        );
        // Duplicates of a finished frame are late too, not a new frame.
        assert!(d.push(&b[0]).unwrap().is_none());
        assert_eq!(d.counters().frames_dropped, 1);
    }

    #[test]
    fn q_tables_and_reserved_q() {
        let j = jpeg(64, 64, 1, 0, 100, false);
        let mut pk = packets(&j, 1400, 5);
        assert_eq!(pk.len(), 1);
        // Rewrite as Q=50 without in-band tables: the receiver derives Annex K tables.
        let p = &mut pk[0];
        p[12 + 5] = 50;
        let qt_len = 4 + 128;
        p.drain(20..20 + qt_len);
        let f = Depacketizer::new(Default::default())
            .push(p)
            .unwrap()
            .unwrap();
        assert_eq!(
            parse(&f.jpeg).unwrap().luma,
            QuantTable::from_u8(&LUMA_QUANT)
        );
        p[12 + 5] = 110;
        assert_eq!(
            Depacketizer::new(Default::default()).push(p),
            Err(DepacketizeError::ReservedQ(110))
        );
    }

    #[test]
    fn single_in_band_table_serves_both() {
        let j = jpeg(64, 64, 1, 0, 100, false);
        let mut p = packets(&j, 1400, 5).remove(0);
        // Keep only the luma table, as FFmpeg does for a JPEG with one DQT table.
        p[20 + 3] = 64;
        p.drain(24 + 64..24 + 128);
        let f = Depacketizer::new(Default::default())
            .push(&p)
            .unwrap()
            .unwrap();
        let parsed = parse(&f.jpeg).unwrap();
        assert_eq!(parsed.chroma, parsed.luma);
    }

    #[test]
    fn mtu_too_small_is_an_error() {
        let j = jpeg(64, 64, 1, 0, 100, false);
        let f = parse(&j).unwrap();
        let r = Packetizer::new(100, 1, 1).packetize(&f, 0, |_| Ok::<(), ()>(()));
        assert!(matches!(r, Err(PacketizeError::MtuTooSmall { .. })));
    }
}
