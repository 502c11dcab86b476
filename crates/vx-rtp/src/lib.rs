//! RTP (RFC 3550) and JPEG over RTP (RFC 2435) for vx, in pure Rust: no FFmpeg, no async runtime.
//!
//! * [`jpeg`]: parse a baseline JPEG into what RFC 2435 carries (refusing, with the reason, what
//!   it cannot carry) and rebuild a complete JFIF from received data.
//! * [`payload`]: [`payload::Packetizer`] and [`payload::Depacketizer`].
//! * [`packet`]: RTP header parse/write.
//! * [`stats`]: loss, reordering, jitter (RFC 3550 A.8) and bitrate of a received stream.
//! * [`sdp`]: SDP for the stream (writer and a reader for what vx needs).
//! * [`source`]: RFC 3550 source validation: which SSRC is received.
//! * [`net`]: UDP sender with real-time pacing and a receiver loop.
//! * [`tables`]: RFC 2435 Appendix A quantization and JPEG Annex K Huffman tables.

pub mod fuzz;
pub mod jpeg;
pub mod net;
pub mod packet;
pub mod payload;
pub mod sdp;
pub mod source;
pub mod stats;
pub mod tables;

/// A random 32-bit value from the standard library's per-process hasher keys (no extra crate).
pub fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
}
