//! Stable-toolchain fuzzing: the cargo-fuzz entry points (vx_rtp::fuzz) on many mutated
//! valid inputs, deterministic seeds, bounded time. Also replays fuzz/corpus/<target>/* when
//! present. A panic anywhere fails the test.
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use vx_rtp::fuzz::{depacketize_stream, jpeg_roundtrip, receive_stream};
use vx_rtp::jpeg::{build_jfif, synthetic_scan, JfifParams, QuantTable};
use vx_rtp::net::{Event, Receiver};
use vx_rtp::payload::Packetizer;
use vx_rtp::tables::tables_for_q;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seed_jpeg(rng: &mut Rng) -> Vec<u8> {
    let (l, c) = tables_for_q(1 + rng.below(99) as u8);
    let mut luma = QuantTable::from_u8(&l);
    if rng.below(4) == 0 {
        luma.sixteen_bit = true;
    }
    let chroma = QuantTable::from_u8(&c);
    let (width, height) = (8 + rng.below(160) as u16, 8 + rng.below(120) as u16);
    let rtp_type = rng.below(2) as u8;
    let restart_interval = if rng.below(3) == 0 {
        rng.below(8) as u16
    } else {
        0
    };
    // Mostly valid scans (they must come through), sometimes random bytes (rejected).
    let scan: Vec<u8> = if rng.below(4) == 0 {
        (0..rng.below(3000))
            .map(|_| (rng.next() as u8).min(0xFE))
            .collect()
    } else {
        synthetic_scan(
            width,
            height,
            rtp_type,
            restart_interval,
            rng.below(6) as u8,
        )
    };
    let p = JfifParams {
        width,
        height,
        rtp_type,
        luma: &luma,
        chroma: &chroma,
        restart_interval,
    };
    let mut out = Vec::new();
    build_jfif(&mut out, &p, &scan);
    out
}

fn mutate(rng: &mut Rng, v: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(8) {
        if v.is_empty() {
            v.push(rng.next() as u8);
            continue;
        }
        let i = rng.below(v.len());
        match rng.below(6) {
            0 => v[i] ^= 1 << rng.below(8),
            1 => v[i] = rng.next() as u8,
            2 => v.truncate(i),
            3 => v.insert(i, rng.next() as u8),
            4 => {
                v.remove(i);
            }
            _ => v[i] = [0x00, 0xFF, 0x7F, 0x80][rng.below(4)],
        }
    }
}

fn stream_of(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut s = Vec::new();
    for p in packets {
        s.extend_from_slice(&(p.len() as u16).to_be_bytes());
        s.extend_from_slice(p);
    }
    s
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| std::fs::read(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn jpeg_parser_survives_mutations() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for input in corpus("jpeg_parse") {
        jpeg_roundtrip(&input);
    }
    for _ in 0..20_000 {
        let mut j = seed_jpeg(&mut rng);
        jpeg_roundtrip(&j); // valid input must round-trip
        mutate(&mut rng, &mut j);
        jpeg_roundtrip(&j);
    }
}

#[test]
fn depacketizer_survives_mutations() {
    let mut rng = Rng(0x0fed_cba9_8765_4321);
    for input in corpus("depacketizer") {
        depacketize_stream(&input);
    }
    for _ in 0..10_000 {
        let j = seed_jpeg(&mut rng);
        let f = vx_rtp::jpeg::parse(&j).unwrap();
        let mut packets = Vec::new();
        let mtu = 300 + rng.below(1200);
        Packetizer::new(mtu, 9, rng.next() as u16)
            .packetize(&f, rng.next() as u32, |p| {
                packets.push(p.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap()
            .unwrap();
        depacketize_stream(&stream_of(&packets));
        // Damage some packets, shuffle a little, duplicate some.
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(packets.len());
            let mut p = packets[i].clone();
            mutate(&mut rng, &mut p);
            match rng.below(3) {
                0 => packets[i] = p,
                1 => packets.insert(i, p),
                _ => {
                    let k = rng.below(packets.len());
                    packets.swap(i, k);
                }
            }
        }
        depacketize_stream(&stream_of(&packets));
        // And plain garbage.
        let mut g: Vec<u8> = (0..rng.below(2000)).map(|_| rng.next() as u8).collect();
        depacketize_stream(&g);
        mutate(&mut rng, &mut g);
        depacketize_stream(&g);
    }
}

/// Packets of `frames` consecutive frames (SSRC `ssrc`), each a valid JPEG, 3000 ticks apart.
fn rtp_stream(
    rng: &mut Rng,
    frames: usize,
    ssrc: u32,
    mtu: usize,
) -> (Vec<Vec<u8>>, Vec<Vec<Vec<u8>>>) {
    let mut p = Packetizer::new(mtu, ssrc, rng.next() as u16);
    let ts0 = rng.next() as u32;
    let mut jpegs = Vec::new();
    let mut packets = Vec::new();
    for i in 0..frames {
        // Multiples of 8: RFC 2435 carries sizes in 8-pixel units.
        let (w, h, t) = (
            8 + 8 * rng.below(14) as u16,
            8 + 8 * rng.below(10) as u16,
            rng.below(2) as u8,
        );
        let ri = if rng.below(3) == 0 {
            1 + rng.below(4) as u16
        } else {
            0
        };
        let (l, c) = tables_for_q(1 + rng.below(99) as u8);
        let (luma, chroma) = (QuantTable::from_u8(&l), QuantTable::from_u8(&c));
        let params = JfifParams {
            width: w,
            height: h,
            rtp_type: t,
            luma: &luma,
            chroma: &chroma,
            restart_interval: ri,
        };
        let mut j = Vec::new();
        build_jfif(
            &mut j,
            &params,
            &synthetic_scan(w, h, t, ri, rng.below(8) as u8),
        );
        let f = vx_rtp::jpeg::parse(&j).unwrap();
        let mut pk = Vec::new();
        p.packetize(&f, ts0.wrapping_add(3000 * i as u32), |b| {
            pk.push(b.to_vec());
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
        jpegs.push(j);
        packets.push(pk);
    }
    (jpegs, packets)
}

/// Datagrams through vx_rtp::net::Receiver, 1 ms apart; the JPEGs that come out.
fn receive_all(datagrams: &[Vec<u8>]) -> (Vec<Vec<u8>>, vx_rtp::stats::StreamStats) {
    let mut rx = Receiver::new(Default::default());
    let mut out = Vec::new();
    let mut now = Instant::now();
    let mut on = |e: Event<'_>| {
        if let Event::Frame(f) = e {
            out.push(f.jpeg);
        }
        Ok(ControlFlow::Continue(()))
    };
    for d in datagrams {
        now += Duration::from_millis(1);
        let _ = rx.datagram(d, false, now, &mut on).unwrap();
    }
    rx.finish(&mut on).unwrap();
    (out, rx.snapshot())
}

/// The framed form `vx_rtp::fuzz::receive_stream` reads (length, delay 1 ms, bytes).
fn framed(datagrams: &[Vec<u8>]) -> Vec<u8> {
    let mut s = Vec::new();
    for d in datagrams {
        s.extend_from_slice(&(d.len() as u16).to_be_bytes());
        s.extend_from_slice(&1u16.to_be_bytes());
        s.extend_from_slice(d);
    }
    s
}

fn set_ts(p: &mut [u8], ts: u32) {
    p[4..8].copy_from_slice(&ts.to_be_bytes());
}

#[test]
fn receiver_survives_stray_sources_timestamp_jumps_overlaps_and_tiny_fragments() {
    let mut rng = Rng(0x5eed_0bad_cafe_f00d);
    for input in corpus("receiver") {
        receive_stream(&input);
    }
    for round in 0..300 {
        let mtu = 300 + rng.below(400);
        let (jpegs, frames) = rtp_stream(&mut rng, 6, 0xabcd_0000 + round, mtu);
        let clean: Vec<Vec<u8>> = frames.concat();

        // Stray SSRC: random datagrams (some RTP-looking, other SSRCs) before and between
        // the real packets never cost a frame.
        let mut stray = Vec::new();
        for p in &clean {
            for _ in 0..rng.below(3) {
                let mut g: Vec<u8> = (0..12 + rng.below(40)).map(|_| rng.next() as u8).collect();
                if rng.below(2) == 0 {
                    g[0] = 0x80;
                }
                stray.push(g);
            }
            stray.push(p.clone());
        }
        let (out, st) = receive_all(&stray);
        assert_eq!(
            out, jpegs,
            "round {round}: stray datagrams cost frames ({st:?})"
        );
        receive_stream(&framed(&stray));

        // Timestamp jump: one packet of the stream's SSRC with a far timestamp costs at
        // most the frame it interrupts (and never blocks the ones after it).
        let mut jumped = clean.clone();
        let at = rng.below(jumped.len());
        let mut spoof = jumped[at].clone();
        let ts = u32::from_be_bytes([spoof[4], spoof[5], spoof[6], spoof[7]]);
        set_ts(
            &mut spoof,
            ts.wrapping_add(0x1000_0000 + rng.next() as u32 % 0xE000_0000),
        );
        jumped.insert(at, spoof);
        let (out, st) = receive_all(&jumped);
        assert!(
            out.len() >= jpegs.len() - 1,
            "round {round}: {} of {} ({st:?})",
            out.len(),
            jpegs.len()
        );
        assert!(out.iter().all(|j| jpegs.contains(j)));
        receive_stream(&framed(&jumped));

        // Overlapping fragment with other bytes, same timestamp: that frame is rejected,
        // never written with the injected bytes; the others come out.
        // (Not in the first two frames: until the source is valid, its packets are only
        // held, and one out of sequence restarts the probation.)
        let k = 2 + rng.below(frames.len() - 2);
        if frames[k].len() > 1 {
            let mut evil = frames[k][frames[k].len() - 1].clone();
            let last = evil.len() - 1;
            evil[last] ^= 0x55;
            evil[1] &= 0x7f; // no marker
            let mut all: Vec<Vec<u8>> = Vec::new();
            for (i, f) in frames.iter().enumerate() {
                if i == k {
                    all.push(evil.clone());
                }
                all.extend(f.iter().cloned());
            }
            let (out, st) = receive_all(&all);
            assert!(
                !out.contains(&jpegs[k]) || jpegs.iter().filter(|j| **j == jpegs[k]).count() > 1,
                "round {round} k {k} n {} {st:?}",
                frames[k].len()
            );
            assert_eq!(out.len(), jpegs.len() - 1, "round {round}: {st:?}");
            assert!(st.frames_rejected >= 1);
            receive_stream(&framed(&all));
        }

        // 1-byte fragments, shuffled: the frame still comes out intact.
        let j = &jpegs[0];
        let f = vx_rtp::jpeg::parse(j).unwrap();
        let first = &frames[0][0];
        let hdr = 12 + 8 + if first[12 + 4] >= 64 { 4 } else { 0 };
        let mut tiny: Vec<Vec<u8>> = Vec::new();
        let mut seq = u16::from_be_bytes([first[2], first[3]]);
        // The first packet keeps its tables; then every scan byte alone.
        let qt = 4 + f.luma.byte_len() + f.chroma.byte_len();
        let mut p0 = first[..hdr + qt + 1].to_vec();
        p0[1] &= 0x7f;
        tiny.push(p0);
        for off in 1..f.scan.len() {
            let mut p = first[..hdr].to_vec();
            seq = seq.wrapping_add(1);
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            p[13..16].copy_from_slice(&(off as u32).to_be_bytes()[1..]);
            if off + 1 == f.scan.len() {
                p[1] |= 0x80;
            } else {
                p[1] &= 0x7f;
            }
            p.push(f.scan[off]);
            tiny.push(p);
        }
        for i in (1..tiny.len()).rev() {
            let k = rng.below(i + 1);
            tiny.swap(i, k);
        }
        // Validate the source with the packets in order first, then the shuffled ones.
        let mut d = vx_rtp::payload::Depacketizer::new(Default::default());
        let got: Vec<_> = tiny
            .iter()
            .filter_map(|p| d.push(p).ok().flatten())
            .collect();
        assert_eq!(got.len(), 1, "round {round}: {:?}", d.counters());
        assert_eq!(&got[0].jpeg, j);
        receive_stream(&framed(&tiny));
    }
    // And garbage through the whole receiver.
    for _ in 0..2000 {
        let g: Vec<u8> = (0..rng.below(3000)).map(|_| rng.next() as u8).collect();
        receive_stream(&g);
    }
}
