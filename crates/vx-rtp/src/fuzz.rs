//! Entry points shared by the cargo-fuzz targets (fuzz/) and the stable smoke test
//! (tests/fuzz_smoke.rs). Each must never panic, whatever the input.
use crate::jpeg::{self, check_structure, validate_scan, JfifParams};
use crate::payload::{Depacketizer, DepacketizerConfig, Packetizer};

/// Split `data` into packets (2-byte big-endian length prefix) and feed them to two
/// depacketizers (plain and verifying, with x-dimensions set).
pub fn depacketize_stream(data: &[u8]) {
    let mut plain = Depacketizer::new(DepacketizerConfig {
        max_frame_bytes: 1 << 20,
        ..Default::default()
    });
    let mut verifying = Depacketizer::new(DepacketizerConfig {
        max_frame_bytes: 1 << 20,
        dimensions: Some((64, 48)),
        verify: true,
        ..Default::default()
    });
    let mut rest = data;
    while rest.len() >= 2 {
        let n = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        let pkt = &rest[2..2 + n];
        for d in [&mut plain, &mut verifying] {
            if let Ok(Some(f)) = d.push(pkt) {
                // What comes out must parse as a JPEG we could send again.
                assert!(
                    jpeg::parse(&f.jpeg).is_ok(),
                    "depacketizer produced an unparsable JFIF"
                );
            }
        }
        rest = &rest[2 + n..];
    }
    plain.finish();
    verifying.finish();
}

/// Datagrams (2-byte big-endian length prefix each, then 2 bytes of arrival time in ms since
/// the previous one) through the whole receiving side ([`crate::net::Receiver`]): source
/// selection, sequence-number statistics, reassembly and checks. Every frame that comes out
/// must parse; counters must stay consistent.
pub fn receive_stream(data: &[u8]) {
    let mut rx = crate::net::Receiver::new(DepacketizerConfig {
        max_frame_bytes: 1 << 20,
        ..Default::default()
    });
    let mut now = std::time::Instant::now();
    let mut datagrams = 0u64;
    let mut check = |e: crate::net::Event<'_>| {
        if let crate::net::Event::Frame(f) = e {
            assert!(
                jpeg::parse(&f.jpeg).is_ok(),
                "receiver produced an unparsable JFIF"
            );
        }
        Ok(std::ops::ControlFlow::Continue(()))
    };
    let mut rest = data;
    while rest.len() >= 4 {
        let n = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 4);
        now += std::time::Duration::from_millis(u16::from_be_bytes([rest[2], rest[3]]) as u64);
        let _ = rx.datagram(&rest[4..4 + n], false, now, &mut check);
        datagrams += 1;
        rest = &rest[4 + n..];
    }
    let _ = rx.finish(&mut check);
    let s = rx.snapshot();
    assert!(s.packets + s.packets_ignored <= datagrams, "{s:?}");
    assert!(s.frames_rejected <= s.frames_dropped, "{s:?}");
    // Losses are bounded by A.1: each used packet advances the highest sequence number by
    // less than MAX_DROPOUT.
    assert!(
        s.packets_lost <= s.packets * crate::stats::MAX_DROPOUT as u64,
        "{s:?}"
    );
}

/// Parse `data` as a JPEG; if it can be sent, send it through packetizer and depacketizer:
/// a frame that passes the receiver's structural checks must come out with its scan and
/// tables intact; one that fails them must not come out.
pub fn jpeg_roundtrip(data: &[u8]) {
    let Ok(frame) = jpeg::parse(data) else { return };
    if frame.width > 2040 || frame.height > 2040 {
        return;
    }
    let params = JfifParams {
        width: frame.width,
        height: frame.height,
        rtp_type: frame.rtp_type,
        luma: &frame.luma,
        chroma: &frame.chroma,
        restart_interval: frame.restart_interval,
    };
    let _ = validate_scan(&params, frame.scan);
    let sound = check_structure(&params, frame.scan).is_ok();
    let mut packets = Vec::new();
    let Ok(Ok(_)) = Packetizer::new(1400, 1, 1).packetize(&frame, 0, |p| {
        packets.push(p.to_vec());
        Ok::<(), ()>(())
    }) else {
        return;
    };
    let mut d = Depacketizer::new(DepacketizerConfig::default());
    let mut out = None;
    for p in &packets {
        if let Ok(Some(f)) = d.push(p) {
            out = Some(f);
        }
    }
    assert_eq!(
        out.is_some(),
        sound,
        "a frame comes out of the depacketizer exactly when it passes the checks"
    );
    let Some(f) = out else { return };
    let back = jpeg::parse(&f.jpeg).expect("rebuilt JFIF parses");
    assert_eq!(back.scan, frame.scan);
    assert_eq!(back.luma, frame.luma);
    assert_eq!(back.chroma, frame.chroma);
    assert_eq!(back.restart_interval, frame.restart_interval);
}
