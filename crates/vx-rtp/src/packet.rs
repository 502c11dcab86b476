//! RTP fixed header (RFC 3550 §5.1): parse with CSRC list, header extension and padding;
//! write the 12-byte header vx sends.

/// A parsed RTP packet, borrowing its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub csrc_count: u8,
    pub payload: &'a [u8],
}

/// Why an RTP packet was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpHeaderError {
    #[error("packet shorter than the RTP header")]
    TooShort,
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    #[error("CSRC list or header extension runs past the packet")]
    Truncated,
    #[error("padding length {0} larger than the payload")]
    Padding(u8),
}

pub const HEADER_LEN: usize = 12;

impl<'a> RtpPacket<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpHeaderError> {
        if buf.len() < HEADER_LEN {
            return Err(RtpHeaderError::TooShort);
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpHeaderError::Version(version));
        }
        let padding = buf[0] & 0x20 != 0;
        let extension = buf[0] & 0x10 != 0;
        let cc = buf[0] & 0x0f;
        let mut start = HEADER_LEN + 4 * cc as usize;
        if start > buf.len() {
            return Err(RtpHeaderError::Truncated);
        }
        if extension {
            let words = buf
                .get(start + 2..start + 4)
                .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
                .ok_or(RtpHeaderError::Truncated)?;
            start += 4 + 4 * words;
            if start > buf.len() {
                return Err(RtpHeaderError::Truncated);
            }
        }
        let mut end = buf.len();
        if padding {
            let n = buf[buf.len() - 1];
            if n == 0 || n as usize > end - start {
                return Err(RtpHeaderError::Padding(n));
            }
            end -= n as usize;
        }
        Ok(RtpPacket {
            marker: buf[1] & 0x80 != 0,
            payload_type: buf[1] & 0x7f,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            csrc_count: cc,
            payload: &buf[start..end],
        })
    }
}

/// Append a 12-byte RTP header (no CSRC, no extension, no padding) to `out`.
pub fn write_header(
    out: &mut Vec<u8>,
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
) {
    out.push(0x80);
    out.push(((marker as u8) << 7) | (payload_type & 0x7f));
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_extensions() {
        let mut b = Vec::new();
        write_header(&mut b, true, 26, 65535, 0xdeadbeef, 42);
        b.extend_from_slice(b"abc");
        let p = RtpPacket::parse(&b).unwrap();
        assert!(p.marker);
        assert_eq!(
            (p.payload_type, p.sequence, p.timestamp, p.ssrc),
            (26, 65535, 0xdeadbeef, 42)
        );
        assert_eq!(p.payload, b"abc");

        // 2 CSRCs, a 1-word extension and 2 bytes of padding.
        let mut b = vec![0x80 | 0x20 | 0x10 | 2, 26, 0, 1, 0, 0, 0, 9, 0, 0, 0, 7];
        b.extend_from_slice(&[0; 8]); // CSRCs
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // extension
        b.extend_from_slice(b"payload");
        b.extend_from_slice(&[0, 2]); // padding
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.payload, b"payload");
        assert_eq!(p.csrc_count, 2);
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(RtpPacket::parse(&[0x80; 5]), Err(RtpHeaderError::TooShort));
        assert_eq!(
            RtpPacket::parse(&[0x40; 12]),
            Err(RtpHeaderError::Version(1))
        );
        let mut b = vec![0x8f, 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(RtpPacket::parse(&b), Err(RtpHeaderError::Truncated));
        b[0] = 0xa0;
        b.push(9);
        assert_eq!(RtpPacket::parse(&b), Err(RtpHeaderError::Padding(9)));
        b[0] = 0x90;
        assert_eq!(RtpPacket::parse(&b), Err(RtpHeaderError::Truncated));
    }
}
