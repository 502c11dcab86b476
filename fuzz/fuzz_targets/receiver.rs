#![no_main]
//! Arbitrary bytes as datagrams (2-byte length, 2-byte arrival delay in ms, then the bytes)
//! through vx's whole RTP receiving side: source validation (stray SSRCs), sequence-number
//! probation, timestamps, reassembly and frame checks. Must never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vx_rtp::fuzz::receive_stream(data);
});
