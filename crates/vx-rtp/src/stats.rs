//! Receiver statistics: packets, loss and reordering from sequence numbers (RFC 3550 A.1/A.3),
//! interarrival jitter (RFC 3550 A.8) and bitrate.
use std::time::Instant;

use serde::Serialize;

use crate::payload::{DepacketizerCounters, CLOCK_RATE};

/// What `vx stream recv --stats FILE.json` writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StreamStats {
    /// Packets received, duplicates included.
    pub packets: u64,
    /// Sequence numbers never received (duplicates do not hide losses).
    pub packets_lost: u64,
    pub packets_reordered: u64,
    pub packets_duplicate: u64,
    pub frames_complete: u64,
    pub frames_dropped: u64,
    pub jitter_ms: f64,
    pub bitrate_kbps: f64,
}

/// Accumulates per-packet statistics of one RTP source.
#[derive(Debug)]
pub struct ReceiverStats {
    packets: u64,
    unique: u64,
    duplicates: u64,
    /// Extended sequence numbers seen recently, indexed by `ext % WINDOW`.
    seen: Vec<u64>,
    bytes: u64,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    started: bool,
    reordered: u64,
    jitter: f64,
    last_transit: Option<f64>,
    first_arrival: Option<Instant>,
    last_arrival: Option<Instant>,
    first_ts: u32,
}

const WINDOW: usize = 4096;

impl Default for ReceiverStats {
    fn default() -> Self {
        ReceiverStats {
            packets: 0,
            unique: 0,
            duplicates: 0,
            seen: vec![u64::MAX; WINDOW],
            bytes: 0,
            base_seq: 0,
            max_seq: 0,
            cycles: 0,
            started: false,
            reordered: 0,
            jitter: 0.0,
            last_transit: None,
            first_arrival: None,
            last_arrival: None,
            first_ts: 0,
        }
    }
}

impl ReceiverStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record one received packet (`bytes` = UDP payload size).
    pub fn on_packet(&mut self, sequence: u16, rtp_timestamp: u32, arrival: Instant, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
        let first = *self.first_arrival.get_or_insert(arrival);
        self.last_arrival = Some(arrival);
        let ext = if !self.started {
            self.started = true;
            self.base_seq = sequence as u32;
            self.max_seq = sequence;
            self.first_ts = rtp_timestamp;
            self.cycles as u64 + sequence as u64
        } else {
            let delta = sequence.wrapping_sub(self.max_seq);
            if delta == 0 {
                self.cycles as u64 + sequence as u64
            } else if delta < 0x8000 {
                if sequence < self.max_seq {
                    self.cycles += 1 << 16;
                }
                self.max_seq = sequence;
                self.cycles as u64 + sequence as u64
            } else {
                self.reordered += 1;
                // Behind the newest: from the previous cycle if it is numerically above it.
                if sequence > self.max_seq {
                    (self.cycles as u64 + sequence as u64).saturating_sub(1 << 16)
                } else {
                    self.cycles as u64 + sequence as u64
                }
            }
        };
        let slot = &mut self.seen[(ext % WINDOW as u64) as usize];
        if *slot == ext {
            self.duplicates += 1;
        } else {
            *slot = ext;
            self.unique += 1;
        }
        // Jitter: difference of relative transit times, in RTP clock units.
        let arrival_units = arrival.duration_since(first).as_secs_f64() * CLOCK_RATE as f64;
        let ts_units = rtp_timestamp.wrapping_sub(self.first_ts) as i32 as f64;
        let transit = arrival_units - ts_units;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// Packets expected from the sequence numbers seen.
    pub fn expected(&self) -> u64 {
        if !self.started {
            return 0;
        }
        (self.cycles as u64 + self.max_seq as u64 + 1).saturating_sub(self.base_seq as u64)
    }

    pub fn snapshot(&self, frames: DepacketizerCounters) -> StreamStats {
        let secs = match (self.first_arrival, self.last_arrival) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        StreamStats {
            packets: self.packets,
            packets_lost: self.expected().saturating_sub(self.unique),
            packets_reordered: self.reordered,
            packets_duplicate: self.duplicates,
            frames_complete: frames.frames_complete,
            frames_dropped: frames.frames_dropped,
            jitter_ms: self.jitter * 1000.0 / CLOCK_RATE as f64,
            bitrate_kbps: if secs > 0.0 {
                self.bytes as f64 * 8.0 / secs / 1000.0
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn loss_reorder_and_wrap() {
        let mut s = ReceiverStats::new();
        let t0 = Instant::now();
        let seqs = [65533u16, 65534, 65535, 1, 0, 2, 2, 5, 65535];
        for (i, &q) in seqs.iter().enumerate() {
            s.on_packet(q, 0, t0 + Duration::from_millis(i as u64), 100);
        }
        // 65533..=5 is 9 packets expected; 3 and 4 lost; 0 arrived after 1; 2 and 65535 twice.
        assert_eq!(s.expected(), 9);
        let st = s.snapshot(Default::default());
        assert_eq!(st.packets_lost, 2);
        assert_eq!(st.packets_reordered, 2);
        assert_eq!(st.packets_duplicate, 2);
        assert_eq!(st.packets, 9);
    }

    #[test]
    fn jitter_is_zero_for_perfect_pacing_and_grows_otherwise() {
        let t0 = Instant::now();
        let mut s = ReceiverStats::new();
        for i in 0..50u32 {
            s.on_packet(
                i as u16,
                i * 3000,
                t0 + Duration::from_micros(i as u64 * 33_333),
                1000,
            );
        }
        assert!(s.snapshot(Default::default()).jitter_ms < 0.05);
        let mut s = ReceiverStats::new();
        for i in 0..50u32 {
            let wobble = if i % 2 == 0 { 0 } else { 10_000 };
            s.on_packet(
                i as u16,
                i * 3000,
                t0 + Duration::from_micros(i as u64 * 33_333 + wobble),
                1000,
            );
        }
        let j = s.snapshot(Default::default()).jitter_ms;
        assert!(j > 5.0 && j < 11.0, "{j}");
    }
}
