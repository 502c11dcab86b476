//! Tests of the RFC 2435 depacketizer (payload.rs): reassembly, checks, reference frames.
use super::*;
use crate::jpeg::{parse, QuantTable};
use crate::tables::{CHROMA_QUANT, LUMA_QUANT};

/// A JFIF with a valid scan; `detail` AC coefficients per block make it bigger.
fn jpeg(w: u16, h: u16, t: u8, restart: u16, detail: u8, sixteen: bool) -> Vec<u8> {
    let scan = crate::jpeg::synthetic_scan(w, h, t, restart, detail);
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
    for (w, h, t, r, sixteen, detail) in [
        (320, 240, 1, 0, false, 63),
        (320, 240, 0, 0, false, 63),
        (640, 480, 1, 4, true, 20),
        (4096, 2160, 1, 0, false, 0),
    ] {
        let j = jpeg(w, h, t, r, detail, sixteen);
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
    let j = jpeg(320, 240, 1, 0, 8, false);
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
    let j = jpeg(64, 64, 1, 0, 0, false);
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
    let j = jpeg(64, 64, 1, 0, 0, false);
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

/// Packets of consecutive frames from one packetizer (SSRC 7), 3000 ticks apart.
fn stream(frames: &[Vec<u8>], mtu: usize) -> Vec<Vec<Vec<u8>>> {
    let mut p = Packetizer::new(mtu, 7, 65000);
    frames
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let f = parse(j).unwrap();
            let mut out = Vec::new();
            p.packetize(&f, 1000 + 3000 * i as u32, |b| {
                out.push(b.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap()
            .unwrap();
            out
        })
        .collect()
}

/// A raw RFC 2435 packet (SSRC 7), `extra` after the main header.
#[allow(clippy::too_many_arguments)]
fn raw(
    seq: u16,
    ts: u32,
    marker: bool,
    offset: u32,
    t: u8,
    q: u8,
    wh8: (u8, u8),
    extra: &[u8],
) -> Vec<u8> {
    let mut b = Vec::new();
    write_header(&mut b, marker, 26, seq, ts, 7);
    b.push(0);
    b.extend_from_slice(&offset.to_be_bytes()[1..]);
    b.extend_from_slice(&[t, q, wh8.0, wh8.1]);
    b.extend_from_slice(extra);
    b
}

/// Push every packet; the frames that come out.
fn run(d: &mut Depacketizer, pk: impl IntoIterator<Item = Vec<u8>>) -> Vec<Frame> {
    pk.into_iter()
        .filter_map(|p| d.push(&p).ok().flatten())
        .collect()
}

/// A JFIF of `w` x `h` type `t` with this scan (whatever it holds).
fn jfif_with_scan(w: u16, h: u16, t: u8, ri: u16, scan: &[u8]) -> Vec<u8> {
    let (l, c) = (
        QuantTable::from_u8(&LUMA_QUANT),
        QuantTable::from_u8(&CHROMA_QUANT),
    );
    let mut out = Vec::new();
    let p = JfifParams {
        width: w,
        height: h,
        rtp_type: t,
        luma: &l,
        chroma: &c,
        restart_interval: ri,
    };
    build_jfif(&mut out, &p, scan);
    out
}

#[test]
fn a_far_timestamp_does_not_block_later_frames() {
    // Issue #10 item 15: one packet with the stream's SSRC, the next sequence number and a
    // timestamp 0x70000000 ahead (or behind) froze the stream (3 of 13 frames came out).
    for jump in [0x7000_0000u32, 0x9000_0000] {
        let frames: Vec<Vec<u8>> = (0..13).map(|_| jpeg(320, 240, 1, 0, 8, false)).collect();
        let pk = stream(&frames, 600);
        assert!(pk[2].len() > 2);
        let spoof_seq = u16::from_be_bytes([pk[2][1][2], pk[2][1][3]]);
        let spoof = raw(
            spoof_seq,
            1000 + 6000 + jump,
            true,
            0,
            1,
            50,
            (40, 30),
            &[1; 10],
        );
        let mut all: Vec<Vec<u8>> = Vec::new();
        for (i, f) in pk.iter().enumerate() {
            for (k, p) in f.iter().enumerate() {
                if i == 2 && k == 1 {
                    all.push(spoof.clone());
                }
                all.push(p.clone());
            }
        }
        let mut d = Depacketizer::new(Default::default());
        let out = run(&mut d, all);
        d.finish();
        // Frame 2 (interrupted by the spoofed packet) is lost, nothing else.
        assert_eq!(out.len(), 12, "jump {jump:#x}");
        assert_eq!(d.counters().frames_dropped, 2); // frame 2 and the spoofed one
    }
}

#[test]
fn timestamps_going_back_with_sequence_numbers_going_on_are_new_frames() {
    // A sender restarting its clock (same SSRC, sequence numbers continue).
    let frames: Vec<Vec<u8>> = (0..6).map(|_| jpeg(64, 64, 1, 0, 2, false)).collect();
    let mut pk = stream(&frames, 1400);
    for (i, f) in pk.iter_mut().enumerate().skip(3) {
        for p in f.iter_mut() {
            p[4..8].copy_from_slice(&(500 + i as u32 * 3000).to_be_bytes());
        }
    }
    let mut d = Depacketizer::new(Default::default());
    assert_eq!(run(&mut d, pk.into_iter().flatten()).len(), 6);
}

#[test]
fn overlapping_fragments_must_agree() {
    // Issue #10 item 16: an injected fragment overlapping real ones with other bytes.
    let j = jpeg(320, 240, 1, 0, 8, false);
    let pk = packets(&j, 600, 100);
    let seq = u16::from_be_bytes([pk[0][2], pk[0][3]]);
    let evil = raw(seq, 100, false, 700, 1, 255, (40, 30), &[0x11; 200]);
    let mut d = Depacketizer::new(Default::default());
    let mut all = pk.clone();
    all.insert(1, evil);
    assert!(run(&mut d, all).is_empty());
    d.finish();
    let c = d.counters();
    assert_eq!((c.frames_dropped, c.frames_rejected), (1, 1));
    // The same bytes again (a duplicate or re-sent fragment) are harmless.
    let good = &pk[1];
    let mut d = Depacketizer::new(Default::default());
    let mut all = pk.clone();
    let mut dup = good[..good.len() - 50].to_vec();
    dup[2..4].copy_from_slice(&seq.wrapping_add(40).to_be_bytes());
    all.insert(2, dup);
    assert_eq!(run(&mut d, all).len(), 1);
}

#[test]
fn in_band_tables_must_be_whole_and_sane() {
    let j = jpeg(64, 64, 1, 0, 0, false);
    let p = packets(&j, 1400, 5).remove(0);
    // Three tables where RFC 2435 carries one or two: rejected.
    let mut three = p.clone();
    three[20 + 3] = 192;
    three.splice(24 + 128..24 + 128, [9u8; 64]);
    assert_eq!(
        Depacketizer::new(Default::default()).push(&three),
        Err(DepacketizeError::QuantHeader)
    );
    // A length that is not a whole table: rejected.
    let mut odd = p.clone();
    odd[20 + 3] = 100;
    assert_eq!(
        Depacketizer::new(Default::default()).push(&odd),
        Err(DepacketizeError::QuantHeader)
    );
    // Zero entries: rejected when the frame is checked.
    let mut zero = p.clone();
    zero[24..24 + 64].fill(0);
    let mut d = Depacketizer::new(Default::default());
    assert_eq!(
        d.push(&zero),
        Err(DepacketizeError::CorruptScan(
            "quantization table with a zero entry"
        ))
    );
    assert_eq!(d.counters().frames_rejected, 1);
}

#[test]
fn scans_that_cannot_be_the_picture_are_rejected() {
    let check = |j: &[u8], dims: Option<(u16, u16)>| {
        let mut d = Depacketizer::new(DepacketizerConfig {
            dimensions: dims,
            ..Default::default()
        });
        let out = run(&mut d, packets(j, 1400, 9));
        (out.len(), d.last_rejection().cloned())
    };
    let valid = crate::jpeg::synthetic_scan(64, 64, 1, 0, 3);
    assert_eq!(check(&jfif_with_scan(64, 64, 1, 0, &valid), None).0, 1);
    // A 2040x2040 header over the scan of a 64x64 picture.
    let short = DepacketizeError::CorruptScan("scan too short for the picture size");
    assert_eq!(
        check(&jfif_with_scan(2040, 2040, 1, 0, &valid), None),
        (0, Some(short.clone()))
    );
    // x-dimensions from the SDP are held to the same rule.
    assert_eq!(
        check(
            &jfif_with_scan(4096, 2160, 1, 0, &valid),
            Some((4096, 2160))
        ),
        (0, Some(short))
    );
    // Random bytes: markers where none may be.
    let mut rng = 0x1234_5678u32;
    let random: Vec<u8> = (0..4000)
        .map(|_| {
            rng = rng.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (rng >> 16) as u8
        })
        .collect();
    let (n, why) = check(&jfif_with_scan(64, 64, 1, 0, &random), None);
    assert_eq!(n, 0, "{why:?}");
    // Restart markers: one missing, or out of order.
    let rst = crate::jpeg::synthetic_scan(64, 64, 1, 4, 3);
    assert_eq!(check(&jfif_with_scan(64, 64, 1, 4, &rst), None).0, 1);
    let last = rst.windows(2).position(|w| w == [0xFF, 0xD2]).unwrap();
    let mut missing = rst.clone();
    missing.drain(last..last + 2);
    assert_eq!(
        check(&jfif_with_scan(64, 64, 1, 4, &missing), None).1,
        Some(DepacketizeError::CorruptScan(
            "fewer restart markers than restart intervals"
        ))
    );
    let at = rst.windows(2).position(|w| w == [0xFF, 0xD1]).unwrap();
    let mut swapped = rst.clone();
    swapped[at + 1] = 0xD2;
    assert_eq!(
        check(&jfif_with_scan(64, 64, 1, 4, &swapped), None).1,
        Some(DepacketizeError::CorruptScan(
            "restart markers out of sequence"
        ))
    );
}

#[test]
fn absurd_offsets_are_refused_without_allocating() {
    // A 64x64 frame cannot have a scan of 16 MB: refused before any memory is used for it.
    let mut d = Depacketizer::new(Default::default());
    let p = raw(1, 5, true, 0xFF_FF00, 1, 50, (8, 8), &[0; 100]);
    assert!(matches!(d.push(&p), Err(DepacketizeError::TooLarge(n)) if n < 100_000));
    d.finish();
    assert_eq!(d.counters().frames_rejected, 1);
}

#[test]
fn reassembly_is_bounded_and_not_quadratic() {
    // Issue #10 item 18: 44 000 disjoint 1-byte fragments cost 1.36 s of CPU.
    let n = 44_000u32;
    let make = |k: u32| raw(k as u16, 77, false, 2 * (n - k), 1, 50, (255, 255), &[0x22]);
    let t = std::time::Instant::now();
    let mut d = Depacketizer::new(Default::default());
    let mut refused = 0;
    for k in 0..n {
        if d.push(&make(k)) == Err(DepacketizeError::TooManyFragments(MAX_FRAGMENTS)) {
            refused += 1;
        }
    }
    d.finish();
    assert_eq!(refused as usize, n as usize - MAX_FRAGMENTS);
    assert_eq!(d.counters().frames_rejected, 1);
    // Up to the limit, fragments in reverse order cost a logarithmic insert each.
    let mut d = Depacketizer::new(Default::default());
    for k in 0..MAX_FRAGMENTS as u32 {
        let p = raw(
            k as u16,
            78,
            false,
            2 * (MAX_FRAGMENTS as u32 - k),
            1,
            50,
            (255, 255),
            &[0x22],
        );
        assert_eq!(d.push(&p), Ok(None));
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn mtu_too_small_is_an_error() {
    let j = jpeg(64, 64, 1, 0, 0, false);
    let f = parse(&j).unwrap();
    let r = Packetizer::new(100, 1, 1).packetize(&f, 0, |_| Ok::<(), ()>(()));
    assert!(matches!(r, Err(PacketizeError::MtuTooSmall { .. })));
}
