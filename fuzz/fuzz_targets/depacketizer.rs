#![no_main]
//! Arbitrary bytes as a stream of RTP packets (2-byte big-endian length prefix each) into the
//! RFC 2435 depacketizer, with and without scan verification. Must never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vx_rtp::fuzz::depacketize_stream(data);
});
