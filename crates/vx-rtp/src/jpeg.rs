//! The JPEG side of RFC 2435: parse a baseline JFIF into what the payload carries (type,
//! size, quantization tables, restart interval, entropy-coded scan), refusing clearly what the
//! format cannot carry; and rebuild a complete JFIF from a received frame (RFC 2435 App. B).
use crate::tables::{Huffman, STANDARD_HUFFMAN};

/// A quantization table in zigzag order (as stored in DQT), 8- or 16-bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantTable {
    pub sixteen_bit: bool,
    pub values: [u16; 64],
}

impl QuantTable {
    pub fn from_u8(v: &[u8; 64]) -> Self {
        let mut values = [0u16; 64];
        for (o, &x) in values.iter_mut().zip(v.iter()) {
            *o = x as u16;
        }
        QuantTable {
            sixteen_bit: false,
            values,
        }
    }

    /// Bytes of this table in an RFC 2435 quantization table header / DQT body.
    pub fn byte_len(&self) -> usize {
        if self.sixteen_bit {
            128
        } else {
            64
        }
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        for &v in &self.values {
            if self.sixteen_bit {
                out.extend_from_slice(&v.to_be_bytes());
            } else {
                out.push(v as u8);
            }
        }
    }

    /// Read a table of 64 or 128 bytes.
    pub fn read(bytes: &[u8], sixteen_bit: bool) -> Option<Self> {
        let mut values = [0u16; 64];
        if sixteen_bit {
            let b = bytes.get(..128)?;
            for (i, v) in values.iter_mut().enumerate() {
                *v = u16::from_be_bytes([b[2 * i], b[2 * i + 1]]);
            }
        } else {
            let b = bytes.get(..64)?;
            for (v, &x) in values.iter_mut().zip(b.iter()) {
                *v = x as u16;
            }
        }
        Some(QuantTable {
            sixteen_bit,
            values,
        })
    }
}

/// Why a JPEG cannot be sent with RFC 2435.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpegError {
    #[error("not a JPEG (no SOI marker)")]
    NotJpeg,
    #[error("truncated JPEG ({0})")]
    Truncated(&'static str),
    #[error("progressive JPEG cannot be carried by RFC 2435 (baseline only)")]
    Progressive,
    #[error("{0} JPEG cannot be carried by RFC 2435 (baseline Huffman only)")]
    UnsupportedProcess(&'static str),
    #[error("{0}-bit samples cannot be carried by RFC 2435 (8-bit only)")]
    Precision(u8),
    #[error("grayscale JPEG cannot be carried by RFC 2435 (3 components needed)")]
    Grayscale,
    #[error("JPEG with {0} components cannot be carried by RFC 2435 (YCbCr only)")]
    Components(u8),
    #[error("chroma subsampling {0} cannot be carried by RFC 2435 (4:2:0 or 4:2:2 only)")]
    Sampling(String),
    #[error("non-standard (optimized) Huffman tables cannot be carried by RFC 2435; encode with the standard tables (e.g. ffmpeg -huffman default)")]
    NonStandardHuffman,
    #[error("scan layout not supported by RFC 2435 ({0})")]
    Scan(String),
    #[error("Cb and Cr use different quantization tables; RFC 2435 carries one chroma table")]
    ChromaTables,
    #[error("JPEG has no {0}")]
    Missing(&'static str),
    #[error("malformed JPEG: {0}")]
    Malformed(&'static str),
}

/// What RFC 2435 carries of one JPEG frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpegFrame<'a> {
    pub width: u16,
    pub height: u16,
    /// 0: 4:2:2 (Y 2x1), 1: 4:2:0 (Y 2x2). Add 64 when `restart_interval > 0`.
    pub rtp_type: u8,
    pub restart_interval: u16,
    pub luma: QuantTable,
    pub chroma: QuantTable,
    /// Entropy-coded data between the SOS header and EOI (EOI excluded).
    pub scan: &'a [u8],
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn huffman_is_standard(class: u8, id: u8, bits: &[u8], vals: &[u8]) -> bool {
    let std: Option<&&Huffman> = STANDARD_HUFFMAN
        .iter()
        .find(|h| h.class == class && h.id == id);
    matches!(std, Some(h) if h.bits[..] == *bits && h.vals == vals)
}

struct Component {
    id: u8,
    sampling: u8,
    tq: u8,
}

/// Parse a JPEG for sending. Never panics on any input.
pub fn parse(data: &[u8]) -> Result<JpegFrame<'_>, JpegError> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(JpegError::NotJpeg);
    }
    let mut tables: [Option<QuantTable>; 4] = [None; 4];
    let mut comps: Vec<Component> = Vec::new();
    let mut size = None;
    let mut restart_interval = 0u16;
    let mut pos = 2;
    loop {
        // Find the next marker (skip fill bytes).
        if *data.get(pos).ok_or(JpegError::Truncated("no SOS"))? != 0xFF {
            return Err(JpegError::Malformed("expected a marker"));
        }
        while data.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *data.get(pos).ok_or(JpegError::Truncated("no SOS"))?;
        pos += 1;
        match marker {
            0xD8 | 0x01 | 0xD0..=0xD7 => continue, // standalone markers
            0xD9 => return Err(JpegError::Missing("SOS (EOI before the scan)")),
            _ => {}
        }
        let len = be16(data, pos).ok_or(JpegError::Truncated("segment length"))? as usize;
        if len < 2 {
            return Err(JpegError::Malformed("segment length < 2"));
        }
        let seg = data
            .get(pos + 2..pos + len)
            .ok_or(JpegError::Truncated("segment"))?;
        let next = pos + len;
        match marker {
            0xDB => {
                // DQT: one or more tables.
                let mut s = seg;
                while !s.is_empty() {
                    let pq = s[0] >> 4;
                    let tq = (s[0] & 0x0f) as usize;
                    if pq > 1 || tq > 3 {
                        return Err(JpegError::Malformed("bad DQT table id or precision"));
                    }
                    let t =
                        QuantTable::read(&s[1..], pq == 1).ok_or(JpegError::Truncated("DQT"))?;
                    tables[tq] = Some(t);
                    s = &s[1 + t.byte_len()..];
                }
            }
            0xC0 | 0xC1 => {
                let p = *seg.first().ok_or(JpegError::Truncated("SOF"))?;
                if p != 8 {
                    return Err(JpegError::Precision(p));
                }
                let h = be16(seg, 1).ok_or(JpegError::Truncated("SOF"))?;
                let w = be16(seg, 3).ok_or(JpegError::Truncated("SOF"))?;
                let nf = *seg.get(5).ok_or(JpegError::Truncated("SOF"))?;
                if nf == 1 {
                    return Err(JpegError::Grayscale);
                }
                if nf != 3 {
                    return Err(JpegError::Components(nf));
                }
                for i in 0..3 {
                    let c = seg
                        .get(6 + 3 * i..9 + 3 * i)
                        .ok_or(JpegError::Truncated("SOF"))?;
                    comps.push(Component {
                        id: c[0],
                        sampling: c[1],
                        tq: c[2] & 0x0f,
                    });
                }
                if w == 0 || h == 0 {
                    return Err(JpegError::Malformed(
                        "zero width or height (DNL not supported)",
                    ));
                }
                size = Some((w, h));
            }
            0xC2 | 0xC6 | 0xCA | 0xCE => return Err(JpegError::Progressive),
            0xC3 | 0xC7 | 0xCB | 0xCF => return Err(JpegError::UnsupportedProcess("lossless")),
            0xC5 => return Err(JpegError::UnsupportedProcess("hierarchical")),
            0xC9 => return Err(JpegError::UnsupportedProcess("arithmetic-coded")),
            0xCC => return Err(JpegError::UnsupportedProcess("arithmetic-coded")),
            0xC4 => {
                let mut s = seg;
                while !s.is_empty() {
                    let class = s[0] >> 4;
                    let id = s[0] & 0x0f;
                    let bits = s.get(1..17).ok_or(JpegError::Truncated("DHT"))?;
                    let n: usize = bits.iter().map(|&b| b as usize).sum();
                    let vals = s.get(17..17 + n).ok_or(JpegError::Truncated("DHT"))?;
                    if !huffman_is_standard(class, id, bits, vals) {
                        return Err(JpegError::NonStandardHuffman);
                    }
                    s = &s[17 + n..];
                }
            }
            0xDD => {
                restart_interval = be16(seg, 0).ok_or(JpegError::Truncated("DRI"))?;
            }
            0xDA => {
                let (width, height) = size.ok_or(JpegError::Missing("SOF before SOS"))?;
                return finish(
                    data,
                    next,
                    seg,
                    &comps,
                    &tables,
                    width,
                    height,
                    restart_interval,
                );
            }
            _ => {} // APPn, COM and anything else: skipped
        }
        pos = next;
    }
}

#[allow(clippy::too_many_arguments)]
fn finish<'a>(
    data: &'a [u8],
    scan_start: usize,
    sos: &[u8],
    comps: &[Component],
    tables: &[Option<QuantTable>; 4],
    width: u16,
    height: u16,
    restart_interval: u16,
) -> Result<JpegFrame<'a>, JpegError> {
    // Sampling: Y 2x1 (type 0) or 2x2 (type 1); chroma 1x1.
    let rtp_type = match comps[0].sampling {
        0x21 => 0,
        0x22 => 1,
        s => {
            let name = match s {
                0x11 => "4:4:4".to_string(),
                0x12 => "4:4:0".to_string(),
                0x41 => "4:1:1".to_string(),
                other => format!("Y {}x{}", other >> 4, other & 15),
            };
            return Err(JpegError::Sampling(name));
        }
    };
    if comps[1].sampling != 0x11 || comps[2].sampling != 0x11 {
        let f = |s: u8| format!("{}x{}", s >> 4, s & 15);
        return Err(JpegError::Sampling(format!(
            "Y {}, Cb {}, Cr {} (chroma must be 1x1)",
            f(comps[0].sampling),
            f(comps[1].sampling),
            f(comps[2].sampling)
        )));
    }
    // Scan: 3 interleaved components, Y on tables 0/0, chroma on 1/1, full spectral range.
    let ns = *sos.first().ok_or(JpegError::Truncated("SOS"))?;
    if ns != 3 {
        return Err(JpegError::Scan(format!("{ns} components in the scan")));
    }
    for (i, comp) in comps.iter().enumerate().take(3) {
        let c = sos
            .get(1 + 2 * i..3 + 2 * i)
            .ok_or(JpegError::Truncated("SOS"))?;
        let want = if i == 0 { 0x00 } else { 0x11 };
        if c[0] != comp.id {
            return Err(JpegError::Scan("components out of order".into()));
        }
        if c[1] != want {
            return Err(JpegError::Scan(
                "non-standard Huffman table selectors".into(),
            ));
        }
    }
    let tail = sos.get(7..10).ok_or(JpegError::Truncated("SOS"))?;
    if tail != [0, 63, 0] {
        return Err(JpegError::Scan("not a full sequential scan".into()));
    }
    let q = |i: usize| tables.get(comps[i].tq as usize).copied().flatten();
    let luma = q(0).ok_or(JpegError::Missing("quantization table for Y"))?;
    let cb = q(1).ok_or(JpegError::Missing("quantization table for Cb"))?;
    let cr = q(2).ok_or(JpegError::Missing("quantization table for Cr"))?;
    if cb.values != cr.values {
        return Err(JpegError::ChromaTables);
    }
    // The scan runs to the last EOI; trailing bytes after it (some cameras) are dropped.
    let rest = data.get(scan_start..).ok_or(JpegError::Truncated("scan"))?;
    let end = rest
        .windows(2)
        .rposition(|w| w == [0xFF, 0xD9])
        .ok_or(JpegError::Truncated("no EOI"))?;
    Ok(JpegFrame {
        width,
        height,
        rtp_type,
        restart_interval,
        luma,
        chroma: cb,
        scan: &rest[..end],
    })
}

fn segment(out: &mut Vec<u8>, marker: u8, body_len: usize) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((body_len + 2) as u16).to_be_bytes());
}

/// The picture parameters RFC 2435 carries (or derives) for one frame.
#[derive(Debug, Clone, Copy)]
pub struct JfifParams<'a> {
    pub width: u16,
    pub height: u16,
    /// RFC 2435 type without the restart flag: 0 (4:2:2) or 1 (4:2:0).
    pub rtp_type: u8,
    pub luma: &'a QuantTable,
    pub chroma: &'a QuantTable,
    pub restart_interval: u16,
}

/// Write a complete JFIF for a received frame: SOI, DQT, SOF0, DHT (Annex K tables), DRI
/// when `restart_interval > 0`, SOS, the scan, EOI (unless the scan already ends with one).
pub fn build_jfif(out: &mut Vec<u8>, p: &JfifParams<'_>, scan: &[u8]) {
    let JfifParams {
        width,
        height,
        rtp_type,
        luma,
        chroma,
        restart_interval,
    } = *p;
    out.clear();
    out.reserve(scan.len() + 700);
    out.extend_from_slice(&[0xFF, 0xD8]);
    segment(out, 0xDB, 2 + luma.byte_len() + chroma.byte_len());
    for (i, t) in [luma, chroma].into_iter().enumerate() {
        out.push(((t.sixteen_bit as u8) << 4) | i as u8);
        t.write(out);
    }
    segment(out, 0xC0, 15);
    out.push(8);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    let y_sampling = if rtp_type & 0x3f == 0 { 0x21 } else { 0x22 };
    out.extend_from_slice(&[3, 1, y_sampling, 0, 2, 0x11, 1, 3, 0x11, 1]);
    let dht_len: usize = STANDARD_HUFFMAN.iter().map(|h| 17 + h.vals.len()).sum();
    segment(out, 0xC4, dht_len);
    for h in STANDARD_HUFFMAN {
        out.push((h.class << 4) | h.id);
        out.extend_from_slice(&h.bits);
        out.extend_from_slice(h.vals);
    }
    if restart_interval > 0 {
        segment(out, 0xDD, 2);
        out.extend_from_slice(&restart_interval.to_be_bytes());
    }
    segment(out, 0xDA, 10);
    out.extend_from_slice(&[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
    out.extend_from_slice(scan);
    if !scan.ends_with(&[0xFF, 0xD9]) {
        out.extend_from_slice(&[0xFF, 0xD9]);
    }
}

/// MCUs of a frame: 16x8 (type 0, 4:2:2) or 16x16 (type 1, 4:2:0) pixels each.
pub fn mcu_count(width: u16, height: u16, rtp_type: u8) -> usize {
    let vmax = if rtp_type & 63 == 0 { 1 } else { 2 };
    (width as usize).div_ceil(16) * (height as usize).div_ceil(8 * vmax)
}

/// Smallest and largest entropy-coded scan (bytes, restart markers and EOI included) that a
/// frame of these dimensions can have with the standard Huffman tables. Smallest: every block
/// "DC 0, end of block" (luma 2 + 4 bits, chroma 2 + 2 bits). Largest: every coefficient
/// coded with the longest code and 11 extra bits (under 216 bytes per block), every byte
/// stuffed, plus restart markers and padding.
pub fn scan_size_bounds(
    width: u16,
    height: u16,
    rtp_type: u8,
    restart_interval: u16,
) -> (usize, usize) {
    let mcus = mcu_count(width, height, rtp_type);
    let luma_blocks = if rtp_type & 63 == 0 { 2 } else { 4 };
    let min_bits = mcus * (luma_blocks * 6 + 2 * 4);
    let intervals = match restart_interval {
        0 => 1,
        ri => mcus.div_ceil(ri as usize),
    };
    let max = mcus * (luma_blocks + 2) * 2 * 216 + intervals * 3 + 2;
    (min_bits / 8, max)
}

/// Cheap structural checks of a received frame (what `vx stream recv` does by default):
/// dimensions not zero; both quantization tables free of zero entries; a scan no shorter than
/// the smallest possible for the dimensions and no longer than the largest; no marker in the
/// scan other than stuffing (FF 00), fill bytes, restart markers and a final EOI; restart
/// markers only with a restart interval, in sequence (RST0..RST7 cycling), exactly one per
/// interval boundary. Linear in the scan, no Huffman decoding ([`validate_scan`] does that).
pub fn check_structure(p: &JfifParams<'_>, scan: &[u8]) -> Result<(), &'static str> {
    if p.width == 0 || p.height == 0 {
        return Err("width or height 0");
    }
    if p.luma.values.contains(&0) || p.chroma.values.contains(&0) {
        return Err("quantization table with a zero entry");
    }
    let (min, max) = scan_size_bounds(p.width, p.height, p.rtp_type, p.restart_interval);
    if scan.len() < min {
        return Err("scan too short for the picture size");
    }
    if scan.len() > max {
        return Err("scan too long for the picture size");
    }
    let mcus = mcu_count(p.width, p.height, p.rtp_type);
    let ri = p.restart_interval as usize;
    let want_rst = if ri > 0 { mcus.div_ceil(ri) - 1 } else { 0 };
    let mut rst = 0usize;
    let mut i = 0;
    while let Some(k) = scan
        .get(i..)
        .and_then(|s| s.iter().position(|&b| b == 0xFF))
    {
        let at = i + k;
        // Fill bytes (FF FF ...) may precede a marker.
        let mut m = at + 1;
        while scan.get(m) == Some(&0xFF) {
            m += 1;
        }
        match scan.get(m) {
            None => return Err("scan ends inside a marker"),
            Some(0x00) => {}
            Some(&r @ 0xD0..=0xD7) => {
                if ri == 0 {
                    return Err("restart marker without a restart interval");
                }
                if r - 0xD0 != (rst % 8) as u8 {
                    return Err("restart markers out of sequence");
                }
                rst += 1;
                if rst > want_rst {
                    return Err("more restart markers than restart intervals");
                }
            }
            Some(0xD9) if m + 1 == scan.len() => {}
            Some(0xD9) => return Err("EOI inside the scan"),
            Some(_) => return Err("marker inside the scan"),
        }
        i = m + 1;
    }
    if rst != want_rst {
        return Err("fewer restart markers than restart intervals");
    }
    Ok(())
}

/// Canonical code of `symbol` in a standard table: (code, length in bits).
fn huffman_code(h: &Huffman, symbol: u8) -> Option<(u32, u32)> {
    let (mut code, mut k) = (0u32, 0usize);
    for len in 1..=16u32 {
        for _ in 0..h.bits[len as usize - 1] {
            if *h.vals.get(k)? == symbol {
                return Some((code, len));
            }
            code += 1;
            k += 1;
        }
        code <<= 1;
    }
    None
}

/// Bit writer for entropy-coded data, with byte stuffing.
struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.acc = (self.acc << 1) | ((code >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                self.byte();
            }
        }
    }

    fn byte(&mut self) {
        let b = self.acc as u8;
        self.out.push(b);
        if b == 0xFF {
            self.out.push(0);
        }
        self.acc = 0;
        self.n = 0;
    }

    /// Pad to a byte boundary with 1 bits.
    fn align(&mut self) {
        while self.n != 0 {
            self.put(1, 1);
        }
    }
}

/// A valid baseline scan with the standard Huffman tables for a `width` x `height` frame of
/// RFC 2435 type `rtp_type`: every block has DC difference 0 and its first `detail` (0-63)
/// AC coefficients set to +1 or -1, then end-of-block; restart markers every
/// `restart_interval` MCUs. It decodes (a grey picture with a fine texture), passes
/// [`check_structure`] and [`validate_scan`]: for tests and fuzzing.
pub fn synthetic_scan(
    width: u16,
    height: u16,
    rtp_type: u8,
    restart_interval: u16,
    detail: u8,
) -> Vec<u8> {
    use crate::tables::{AC_CHROMA, AC_LUMA, DC_CHROMA, DC_LUMA};
    let detail = detail.min(63) as usize;
    let luma_blocks = if rtp_type & 63 == 0 { 2 } else { 4 };
    let mut w = BitWriter {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    let mcus = mcu_count(width, height, rtp_type);
    let ri = restart_interval as usize;
    let mut k = 0u32;
    for m in 0..mcus {
        if ri > 0 && m > 0 && m % ri == 0 {
            w.align();
            w.out
                .extend_from_slice(&[0xFF, 0xD0 + ((m / ri - 1) % 8) as u8]);
        }
        for b in 0..luma_blocks + 2 {
            let (dc, ac) = if b < luma_blocks {
                (&DC_LUMA, &AC_LUMA)
            } else {
                (&DC_CHROMA, &AC_CHROMA)
            };
            let (c, l) = huffman_code(dc, 0).unwrap_or((0, 2));
            w.put(c, l);
            let (c1, l1) = huffman_code(ac, 0x01).unwrap_or((0, 2));
            for _ in 0..detail {
                w.put(c1, l1);
                k = k.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                w.put((k >> 16) & 1, 1);
            }
            if detail < 63 {
                let (c, l) = huffman_code(ac, 0x00).unwrap_or((0, 2));
                w.put(c, l);
            }
        }
    }
    w.align();
    w.out
}

/// Canonical Huffman decoding tables (JPEG F.2.2.3) for one standard table.
struct Decoder {
    maxcode: [i32; 17],
    valptr: [i32; 17],
    mincode: [i32; 17],
    vals: &'static [u8],
}

impl Decoder {
    fn new(h: &Huffman) -> Self {
        let mut d = Decoder {
            maxcode: [-1; 17],
            valptr: [0; 17],
            mincode: [0; 17],
            vals: h.vals,
        };
        let (mut code, mut k) = (0i32, 0i32);
        for len in 1..=16 {
            let n = h.bits[len - 1] as i32;
            if n > 0 {
                d.valptr[len] = k;
                d.mincode[len] = code;
                code += n;
                k += n;
                d.maxcode[len] = code - 1;
            }
            code <<= 1;
        }
        d
    }
}

/// Bit reader over entropy-coded data: removes stuffing, stops at any marker.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    n: u32,
    marker: Option<u8>,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        if self.n == 0 {
            if self.marker.is_some() {
                return None;
            }
            let b = *self.data.get(self.pos)?;
            if b == 0xFF {
                let next = *self.data.get(self.pos + 1)?;
                if next != 0 {
                    self.marker = Some(next);
                    return None;
                }
                self.pos += 2;
            } else {
                self.pos += 1;
            }
            self.acc = b as u32;
            self.n = 8;
        }
        self.n -= 1;
        Some((self.acc >> self.n) & 1)
    }

    fn skip(&mut self, n: u32) -> Option<()> {
        for _ in 0..n {
            self.bit()?;
        }
        Some(())
    }

    fn symbol(&mut self, d: &Decoder) -> Option<u8> {
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | self.bit()? as i32;
            if code <= d.maxcode[len] {
                return d
                    .vals
                    .get((d.valptr[len] + code - d.mincode[len]) as usize)
                    .copied();
            }
        }
        None
    }

    /// Consume a restart marker RSTn (byte aligned): the reader must stand on it.
    fn restart(&mut self, n: u8) -> bool {
        self.n = 0;
        let want = 0xD0 + (n & 7);
        let ok = match self.marker.take() {
            Some(m) => m == want,
            None => {
                self.data.get(self.pos) == Some(&0xFF) && self.data.get(self.pos + 1) == Some(&want)
            }
        };
        if ok {
            self.pos += 2;
        }
        ok
    }
}

/// Check that `scan` holds exactly the baseline Huffman-coded MCUs a `width` x `height`
/// frame of RFC 2435 type `rtp_type` needs, with restart markers where the interval says.
/// Catches frames whose end was lost (a truncated last packet, which RTP cannot reveal).
/// It walks every code (no IDCT), so it costs a fraction of a decode.
pub fn validate_scan(p: &JfifParams<'_>, scan: &[u8]) -> Result<(), &'static str> {
    let (dc_l, ac_l) = (
        Decoder::new(&crate::tables::DC_LUMA),
        Decoder::new(&crate::tables::AC_LUMA),
    );
    let (dc_c, ac_c) = (
        Decoder::new(&crate::tables::DC_CHROMA),
        Decoder::new(&crate::tables::AC_CHROMA),
    );
    let vmax = if p.rtp_type & 63 == 0 { 1 } else { 2 };
    let mcus = mcu_count(p.width, p.height, p.rtp_type);
    let luma_blocks = 2 * vmax;
    let mut bits = Bits {
        data: scan,
        pos: 0,
        acc: 0,
        n: 0,
        marker: None,
    };
    let ri = p.restart_interval as usize;
    for m in 0..mcus {
        if ri > 0 && m > 0 && m % ri == 0 && !bits.restart(((m / ri - 1) % 8) as u8) {
            return Err("restart marker missing");
        }
        for b in 0..luma_blocks + 2 {
            let (dc, ac) = if b < luma_blocks {
                (&dc_l, &ac_l)
            } else {
                (&dc_c, &ac_c)
            };
            let s = bits.symbol(dc).ok_or("scan ends early")?;
            if s > 11 {
                return Err("bad DC code");
            }
            bits.skip(s as u32).ok_or("scan ends early")?;
            let mut k = 1;
            while k < 64 {
                let rs = bits.symbol(ac).ok_or("scan ends early")?;
                let (r, s) = (rs >> 4, rs & 15);
                if s == 0 {
                    if r != 15 {
                        break;
                    }
                    k += 16;
                } else {
                    k += r as usize;
                    bits.skip(s as u32).ok_or("scan ends early")?;
                    k += 1;
                }
            }
            if k > 64 {
                return Err("AC coefficients overrun the block");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{tables_for_q, CHROMA_QUANT, LUMA_QUANT};

    fn sample(rtp_type: u8, restart: u16, scan: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        let (luma, chroma) = (
            QuantTable::from_u8(&LUMA_QUANT),
            QuantTable::from_u8(&CHROMA_QUANT),
        );
        let p = JfifParams {
            width: 320,
            height: 240,
            rtp_type,
            luma: &luma,
            chroma: &chroma,
            restart_interval: restart,
        };
        build_jfif(&mut v, &p, scan);
        v
    }

    #[test]
    fn rebuilt_jfif_parses_back() {
        for (t, r) in [(0u8, 0u16), (1, 0), (1, 4)] {
            let j = sample(t, r, &[1, 2, 3, 0xFF, 0x00, 4]);
            let f = parse(&j).unwrap();
            assert_eq!(
                (f.width, f.height, f.rtp_type, f.restart_interval),
                (320, 240, t, r)
            );
            assert_eq!(f.scan, &[1, 2, 3, 0xFF, 0x00, 4]);
            assert_eq!(f.luma, QuantTable::from_u8(&LUMA_QUANT));
        }
    }

    #[test]
    fn refuses_what_rfc2435_cannot_carry() {
        let base = sample(1, 0, &[1, 2]);
        let sof = base.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let with = |at: usize, v: u8| {
            let mut j = base.clone();
            j[at] = v;
            j
        };
        assert_eq!(parse(&with(sof + 1, 0xC2)), Err(JpegError::Progressive));
        assert_eq!(parse(&with(sof + 4, 12)), Err(JpegError::Precision(12)));
        assert_eq!(
            parse(&with(sof + 11, 0x11)),
            Err(JpegError::Sampling("4:4:4".into()))
        );
        assert!(matches!(
            parse(&with(sof + 9, 1)),
            Err(JpegError::Grayscale)
        ));
        // Optimised Huffman: change one code count in the DHT.
        let dht = base.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
        assert_eq!(parse(&with(dht + 6, 2)), Err(JpegError::NonStandardHuffman));
        // Different Cb/Cr tables.
        let mut j = base.clone();
        j[sof + 18] = 2; // Cr uses table 2 ...
        let mut t2 = vec![0xFF, 0xDB, 0, 67, 2];
        t2.extend(tables_for_q(20).1);
        j.splice(2..2, t2); // ... which differs from table 1
        assert_eq!(parse(&j), Err(JpegError::ChromaTables));
        assert_eq!(parse(b"GIF89a"), Err(JpegError::NotJpeg));
        assert!(parse(&base[..base.len() - 2]).is_err()); // no EOI: truncated
    }

    #[test]
    fn validate_scan_accepts_real_jpegs_and_catches_truncation() {
        // A real 4:2:0 JPEG with restart markers, made by libjpeg-turbo through the JFIF
        // writer of this crate's tests is not available here; build one from a known scan:
        // 16x16 4:2:0 = 1 MCU = 6 blocks, each "DC 0, EOB": luma DC0 '00', AC EOB '1010';
        // chroma DC0 '00', AC EOB '00'. Bits: 4 x 001010 + 2 x 0000 = 32 bits.
        let scan = [0b0010_1000, 0b1010_0010, 0b1000_1010, 0b0000_0000];
        let (l, c) = (
            QuantTable::from_u8(&LUMA_QUANT),
            QuantTable::from_u8(&CHROMA_QUANT),
        );
        let p = JfifParams {
            width: 16,
            height: 16,
            rtp_type: 1,
            luma: &l,
            chroma: &c,
            restart_interval: 0,
        };
        assert_eq!(validate_scan(&p, &scan), Ok(()));
        assert_eq!(validate_scan(&p, &scan[..2]), Err("scan ends early"));
        // Two MCUs (32x16) need twice the data.
        let p2 = JfifParams { width: 32, ..p };
        assert!(validate_scan(&p2, &scan).is_err());
        // With a restart interval of 1, RST0 must follow the first MCU.
        let mut two = scan.to_vec();
        two.extend_from_slice(&[0xFF, 0xD0]);
        two.extend_from_slice(&scan);
        let p3 = JfifParams {
            width: 32,
            restart_interval: 1,
            ..p
        };
        assert_eq!(validate_scan(&p3, &two), Ok(()));
        two[5] = 0xD3;
        assert_eq!(validate_scan(&p3, &two), Err("restart marker missing"));
    }

    #[test]
    fn never_panics_on_prefixes() {
        let j = sample(65, 2, &[9; 40]);
        for n in 0..j.len() {
            let _ = parse(&j[..n]);
        }
    }
}
