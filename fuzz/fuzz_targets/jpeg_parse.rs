#![no_main]
//! Arbitrary bytes as a JPEG to send: parse, and when accepted, packetize, depacketize and
//! check the rebuilt frame carries the same scan. Must never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vx_rtp::fuzz::jpeg_roundtrip(data);
});
