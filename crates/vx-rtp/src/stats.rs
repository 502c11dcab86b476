//! Receiver statistics: packets, loss and reordering from sequence numbers (RFC 3550 A.1/A.3),
//! interarrival jitter (RFC 3550 A.8) and bitrate.
//!
//! Sequence numbers follow RFC 3550 appendix A.1: a jump of more than [`MAX_DROPOUT`] ahead
//! (or more than [`MAX_MISORDER`] behind) is only accepted when the next packet confirms it
//! (the sender restarted: a resync); until then the packet is ignored. Losses are counted per
//! A.3 (expected = extended highest sequence number - base + 1), summed over resyncs, with
//! distinct sequence numbers as "received" so duplicates never hide a loss.
use std::time::Instant;

use serde::Serialize;

use crate::payload::{DepacketizerCounters, CLOCK_RATE};

/// RFC 3550 A.1: largest forward jump accepted without confirmation.
pub const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: largest backward step still taken as reordering (or a duplicate).
pub const MAX_MISORDER: u16 = 100;
/// RFC 3550 A.1: packets in sequence before a new source is valid.
pub const MIN_SEQUENTIAL: usize = 2;
/// A timestamp further than this from the previous packet's (10 s at 90 kHz) gives no jitter
/// sample: one spoofed or restarted timestamp must not poison the running estimate.
const MAX_TS_STEP: u32 = 10 * CLOCK_RATE;

/// What `vx stream recv --stats FILE.json` writes (the CLI adds its own fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StreamStats {
    /// Packets of the received source that were used, duplicates included.
    pub packets: u64,
    /// Sequence numbers never received (RFC 3550 A.3, summed over resyncs; duplicates do not
    /// hide losses).
    pub packets_lost: u64,
    pub packets_reordered: u64,
    pub packets_duplicate: u64,
    /// Datagrams not used: not RTP, from another (or a not yet validated) source, or a
    /// sequence-number jump that no following packet confirmed.
    pub packets_ignored: u64,
    /// Times the received source changed (the first source does not count).
    pub source_changes: u64,
    pub frames_complete: u64,
    /// Frames abandoned: incomplete, or rejected (see `frames_rejected`).
    pub frames_dropped: u64,
    /// Of `frames_dropped`: frames with inconsistent data (overlapping fragments that differ,
    /// too many fragments, bad tables, a scan that fails the checks).
    pub frames_rejected: u64,
    pub jitter_ms: f64,
    pub bitrate_kbps: f64,
}

/// What [`SeqState::update`] made of a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqUpdate {
    /// At or ahead of the highest one seen (within [`MAX_DROPOUT`]).
    InOrder,
    /// Behind the highest one seen (within [`MAX_MISORDER`]).
    Reordered,
    /// A big jump confirmed by the packet before it: counting restarts here.
    Resync,
    /// A big jump, not (yet) confirmed: the packet must be ignored.
    Ignored,
}

/// RFC 3550 A.1 sequence-number state of one source.
#[derive(Debug, Clone)]
pub struct SeqState {
    max_seq: u16,
    /// Wraps of the sequence number.
    cycles: u64,
    base_seq: u64,
    /// The sequence number that would confirm a big jump (`> u16::MAX`: none).
    bad_seq: u32,
}

impl SeqState {
    /// State of a source whose first (valid) packet has sequence number `seq`.
    pub fn new(seq: u16) -> Self {
        SeqState {
            max_seq: seq,
            cycles: 0,
            base_seq: seq as u64,
            bad_seq: u16::MAX as u32 + 2,
        }
    }

    /// Extended highest sequence number received.
    pub fn extended_max(&self) -> u64 {
        (self.cycles << 16) + self.max_seq as u64
    }

    /// Packets expected since the start (or the last resync): A.3.
    pub fn expected(&self) -> u64 {
        (self.extended_max() + 1).saturating_sub(self.base_seq)
    }

    /// A.1 `update_seq`, for a source that is already valid.
    pub fn update(&mut self, seq: u16) -> SeqUpdate {
        let udelta = seq.wrapping_sub(self.max_seq);
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += 1;
            }
            self.max_seq = seq;
            SeqUpdate::InOrder
        } else if udelta <= u16::MAX - MAX_MISORDER + 1 {
            if seq as u32 == self.bad_seq {
                *self = SeqState::new(seq);
                SeqUpdate::Resync
            } else {
                self.bad_seq = seq.wrapping_add(1) as u32;
                SeqUpdate::Ignored
            }
        } else {
            SeqUpdate::Reordered
        }
    }

    /// Extended sequence number of `seq` just after [`SeqState::update`] accepted it; `None`
    /// when it lies before the base (a straggler from before the start or the resync).
    fn extend(&self, seq: u16) -> Option<u64> {
        let mut ext = (self.cycles << 16) + seq as u64;
        if seq > self.max_seq {
            ext = ext.checked_sub(1 << 16)?;
        }
        (ext >= self.base_seq).then_some(ext)
    }
}

/// Accumulates per-packet statistics of the received source (and of the sources before it).
#[derive(Debug)]
pub struct ReceiverStats {
    packets: u64,
    ignored: u64,
    source_changes: u64,
    duplicates: u64,
    reordered: u64,
    bytes: u64,
    seq: Option<SeqState>,
    /// Distinct sequence numbers received since the start or the last resync.
    unique: u64,
    /// Expected and distinct-received totals of earlier resync periods and sources.
    prior_expected: u64,
    prior_unique: u64,
    /// Extended sequence numbers seen recently, indexed by `ext % WINDOW`.
    seen: Vec<u64>,
    jitter: f64,
    /// Arrival (RTP clock units since the first packet) and timestamp of the last jitter
    /// sample.
    last_sample: Option<(f64, u32)>,
    first_arrival: Option<Instant>,
    last_arrival: Option<Instant>,
}

const WINDOW: usize = 4096;

impl Default for ReceiverStats {
    fn default() -> Self {
        ReceiverStats {
            packets: 0,
            ignored: 0,
            source_changes: 0,
            duplicates: 0,
            reordered: 0,
            bytes: 0,
            seq: None,
            unique: 0,
            prior_expected: 0,
            prior_unique: 0,
            seen: vec![u64::MAX; WINDOW],
            jitter: 0.0,
            last_sample: None,
            first_arrival: None,
            last_arrival: None,
        }
    }
}

impl ReceiverStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count a datagram that was not used (not RTP, another source, ...).
    pub fn on_ignored(&mut self) {
        self.ignored += 1;
    }

    /// The received source changes: counting restarts with the next packet (the totals so
    /// far are kept).
    pub fn on_new_source(&mut self) {
        self.end_period();
        self.seq = None;
        self.last_sample = None;
        self.source_changes += 1;
    }

    fn end_period(&mut self) {
        if let Some(s) = &self.seq {
            self.prior_expected += s.expected();
            self.prior_unique += self.unique;
        }
        self.unique = 0;
        self.seen.fill(u64::MAX);
    }

    /// Record one packet of the received source (`bytes` = UDP payload size). Returns false
    /// when the packet must be ignored (an unconfirmed sequence-number jump, RFC 3550 A.1).
    pub fn on_packet(
        &mut self,
        sequence: u16,
        rtp_timestamp: u32,
        arrival: Instant,
        bytes: usize,
    ) -> bool {
        let update = match &mut self.seq {
            None => {
                self.seq = Some(SeqState::new(sequence));
                SeqUpdate::InOrder
            }
            Some(s) => {
                let before = s.clone();
                match s.update(sequence) {
                    SeqUpdate::Resync => {
                        // Close the period that ended with the jump, then start afresh.
                        let now = std::mem::replace(s, before);
                        self.end_period();
                        self.seq = Some(now);
                        self.last_sample = None;
                        SeqUpdate::Resync
                    }
                    u => u,
                }
            }
        };
        if update == SeqUpdate::Ignored {
            self.ignored += 1;
            return false;
        }
        if update == SeqUpdate::Reordered {
            self.reordered += 1;
        }
        self.packets += 1;
        self.bytes += bytes as u64;
        let first = *self.first_arrival.get_or_insert(arrival);
        self.last_arrival = Some(arrival);
        if let Some(ext) = self.seq.as_ref().and_then(|s| s.extend(sequence)) {
            let slot = &mut self.seen[(ext % WINDOW as u64) as usize];
            if *slot == ext {
                self.duplicates += 1;
            } else {
                *slot = ext;
                self.unique += 1;
            }
        }
        // Jitter (A.8): D = (arrival - previous arrival) - (timestamp - previous timestamp),
        // in RTP clock units. A packet whose timestamp is far from the last sample's gives no
        // sample and does not replace it.
        let units = arrival.duration_since(first).as_secs_f64() * CLOCK_RATE as f64;
        match self.last_sample {
            Some((last_units, last_ts)) => {
                let dts = rtp_timestamp.wrapping_sub(last_ts) as i32;
                if dts.unsigned_abs() <= MAX_TS_STEP {
                    let d = ((units - last_units) - dts as f64).abs();
                    self.jitter += (d - self.jitter) / 16.0;
                    self.last_sample = Some((units, rtp_timestamp));
                }
            }
            None => self.last_sample = Some((units, rtp_timestamp)),
        }
        true
    }

    /// Packets expected from the sequence numbers seen (A.3, summed over resyncs).
    pub fn expected(&self) -> u64 {
        self.prior_expected + self.seq.as_ref().map_or(0, SeqState::expected)
    }

    /// Sequence numbers expected but never received; never more than expected.
    pub fn lost(&self) -> u64 {
        self.expected()
            .saturating_sub(self.prior_unique + self.unique)
    }

    pub fn snapshot(&self, frames: DepacketizerCounters) -> StreamStats {
        let secs = match (self.first_arrival, self.last_arrival) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        StreamStats {
            packets: self.packets,
            packets_lost: self.lost(),
            packets_reordered: self.reordered,
            packets_duplicate: self.duplicates,
            packets_ignored: self.ignored,
            source_changes: self.source_changes,
            frames_complete: frames.frames_complete,
            frames_dropped: frames.frames_dropped,
            frames_rejected: frames.frames_rejected,
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

    #[test]
    fn a_big_sequence_jump_counts_only_when_confirmed() {
        // Issue #10 item 15: RFC 3550 A.1 probation of sequence-number jumps.
        let t0 = Instant::now();
        let mut s = ReceiverStats::new();
        let feed = |s: &mut ReceiverStats, q: u16| s.on_packet(q, 0, t0, 100);
        for q in 100..110 {
            assert!(feed(&mut s, q));
        }
        assert!(!feed(&mut s, 40_000), "a lone jump is ignored");
        for q in 110..120 {
            assert!(feed(&mut s, q));
        }
        assert_eq!((s.expected(), s.lost()), (20, 0));
        // The sender restarts at 50 000: the second packet confirms it (resync).
        assert!(!feed(&mut s, 50_000));
        assert!(feed(&mut s, 50_001));
        for q in 50_002..50_010 {
            assert!(feed(&mut s, q));
        }
        assert_eq!((s.expected(), s.lost()), (29, 0));
        // A real loss after the resync is counted.
        assert!(feed(&mut s, 50_012));
        assert_eq!(s.lost(), 2);
        let st = s.snapshot(Default::default());
        assert_eq!((st.packets, st.packets_ignored), (30, 2));
    }

    #[test]
    fn random_sequence_numbers_never_give_absurd_losses() {
        // Issue #10 item 15: 3 032 packets with random sequence numbers gave 23.8 million lost.
        let t0 = Instant::now();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        // Alone, and mixed into a real stream (same SSRC, spoofed).
        for mixed in [false, true] {
            let mut s = ReceiverStats::new();
            let mut real = 1000u16;
            for i in 0..3032u32 {
                if mixed && i % 2 == 0 {
                    s.on_packet(real, 0, t0, 100);
                    real = real.wrapping_add(1);
                } else {
                    s.on_packet(next() as u16, 0, t0, 100);
                }
            }
            let st = s.snapshot(Default::default());
            // Each packet may at most advance the highest sequence number by MAX_DROPOUT.
            assert!(
                st.packets_lost < st.packets * MAX_DROPOUT as u64,
                "mixed {mixed}: {st:?}"
            );
            eprintln!("mixed {mixed}: {st:?}");
        }
    }
}
