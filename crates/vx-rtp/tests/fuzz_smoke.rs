//! Stable-toolchain fuzzing: the cargo-fuzz entry points (vx_rtp::fuzz) on many mutated
//! valid inputs, deterministic seeds, bounded time. Also replays fuzz/corpus/<target>/* when
//! present. A panic anywhere fails the test.
use vx_rtp::fuzz::{depacketize_stream, jpeg_roundtrip};
use vx_rtp::jpeg::{build_jfif, synthetic_scan, JfifParams, QuantTable};
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
