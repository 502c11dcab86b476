//! Which RTP source (SSRC) a receiver listens to: RFC 3550 source validation (§6.2.1 and
//! appendix A.1: a source is valid after [`MIN_SEQUENTIAL`] packets in sequence) and a
//! switch to another valid source when the current one has gone silent.
//!
//! A stray datagram (or a few random ones) therefore never takes the receiver: a source must
//! send packets in sequence first. The packets of a source on probation are held (at most
//! [`MIN_SEQUENTIAL`] per source, at most [`MAX_CANDIDATES`] sources) and handed back when it
//! becomes the received source, so a stream loses nothing to validation.
use std::time::{Duration, Instant};

use crate::stats::MIN_SEQUENTIAL;

/// Sources on probation tracked at once; the least recently heard one is forgotten first.
pub const MAX_CANDIDATES: usize = 8;

/// How long the received source must be silent before another valid source replaces it.
pub const DEFAULT_SWITCH_AFTER: Duration = Duration::from_millis(500);

/// Why a datagram was not passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The source has not sent [`MIN_SEQUENTIAL`] packets in sequence yet.
    Probation,
    /// The source is valid but another one is being received and is not silent.
    OtherSource { current: u32 },
}

/// What [`SourceFilter::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// A packet of the received source: use it.
    Current,
    /// Kept: the source is on probation, or valid while another one is received. Held
    /// packets are used if the source becomes the received one, else discarded (reported by
    /// [`SourceFilter::drain_discarded`]).
    Held,
    /// `ssrc` is now the received source (`replaces` the previous one, if any): use the held
    /// packets, oldest first (the one just admitted is the last of them).
    Switched {
        ssrc: u32,
        replaces: Option<u32>,
        held: Vec<Vec<u8>>,
    },
}

#[derive(Debug)]
struct Candidate {
    ssrc: u32,
    max_seq: u16,
    /// Packets in sequence so far.
    run: usize,
    /// The last packets of the run (at most MIN_SEQUENTIAL).
    held: Vec<Vec<u8>>,
    last_heard: Instant,
}

impl Candidate {
    fn reason(&self, current: Option<u32>) -> IgnoreReason {
        match current {
            Some(c) if self.run >= MIN_SEQUENTIAL => IgnoreReason::OtherSource { current: c },
            _ => IgnoreReason::Probation,
        }
    }
}

/// Decides, packet by packet, which source is received.
#[derive(Debug)]
pub struct SourceFilter {
    current: Option<(u32, Instant)>,
    candidates: Vec<Candidate>,
    switch_after: Duration,
    /// Held packets given up since the last drain: (source, why).
    discarded: Vec<(u32, IgnoreReason)>,
}

impl Default for SourceFilter {
    fn default() -> Self {
        Self::new(DEFAULT_SWITCH_AFTER)
    }
}

impl SourceFilter {
    /// `switch_after`: silence of the received source after which a valid other one takes over.
    pub fn new(switch_after: Duration) -> Self {
        SourceFilter {
            current: None,
            candidates: Vec::new(),
            switch_after,
            discarded: Vec::new(),
        }
    }

    /// The received source, once one is valid.
    pub fn current(&self) -> Option<u32> {
        self.current.map(|(s, _)| s)
    }

    /// The received source sent a packet that was used (keeps it from being replaced).
    pub fn heard_current(&mut self, now: Instant) {
        if let Some((_, t)) = &mut self.current {
            *t = now;
        }
    }

    /// Held packets given up since the last call (at most a few per [`SourceFilter::admit`]).
    pub fn drain_discarded(&mut self) -> std::vec::Drain<'_, (u32, IgnoreReason)> {
        self.discarded.drain(..)
    }

    /// The stream ends: every packet still held is discarded.
    pub fn finish(&mut self) {
        let current = self.current();
        for c in self.candidates.drain(..) {
            let r = c.reason(current);
            self.discarded
                .extend(std::iter::repeat_n((c.ssrc, r), c.held.len()));
        }
    }

    /// Classify one RTP packet (`packet`: the whole datagram, copied if held).
    pub fn admit(&mut self, ssrc: u32, seq: u16, packet: &[u8], now: Instant) -> Admit {
        let current = self.current();
        if current == Some(ssrc) {
            return Admit::Current;
        }
        let i = match self.candidates.iter().position(|c| c.ssrc == ssrc) {
            Some(i) => i,
            None => {
                if self.candidates.len() >= MAX_CANDIDATES {
                    let oldest = self
                        .candidates
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, c)| c.last_heard)
                        .map_or(0, |(i, _)| i);
                    let c = self.candidates.swap_remove(oldest);
                    let r = c.reason(current);
                    self.discarded
                        .extend(std::iter::repeat_n((c.ssrc, r), c.held.len()));
                }
                self.candidates.push(Candidate {
                    ssrc,
                    max_seq: seq,
                    run: 0,
                    held: Vec::new(),
                    last_heard: now,
                });
                self.candidates.len() - 1
            }
        };
        let Some(c) = self.candidates.get_mut(i) else {
            return Admit::Held; // not reached: `i` was just found or pushed
        };
        let in_sequence = c.run > 0 && seq == c.max_seq.wrapping_add(1);
        let dropped = if in_sequence {
            c.run += 1;
            usize::from(c.held.len() >= MIN_SEQUENTIAL)
        } else {
            c.run = 1;
            c.held.len()
        };
        let reason = c.reason(current);
        c.held.drain(..dropped);
        c.max_seq = seq;
        c.last_heard = now;
        c.held.push(packet.to_vec());
        let valid = c.run >= MIN_SEQUENTIAL;
        self.discarded
            .extend(std::iter::repeat_n((ssrc, reason), dropped));
        if !valid {
            return Admit::Held;
        }
        match self.current {
            Some((_, heard)) if now.saturating_duration_since(heard) < self.switch_after => {
                Admit::Held
            }
            previous => {
                let c = self.candidates.swap_remove(i);
                self.current = Some((ssrc, now));
                Admit::Switched {
                    ssrc,
                    replaces: previous.map(|(s, _)| s),
                    held: c.held,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(ssrc: u32, seq: u16) -> Vec<u8> {
        let mut b = Vec::new();
        crate::packet::write_header(&mut b, false, 26, seq, 0, ssrc);
        b
    }

    #[test]
    fn a_stray_datagram_never_takes_the_receiver() {
        let t = Instant::now();
        let mut f = SourceFilter::default();
        // One stray packet, then random SSRCs: none is valid.
        assert_eq!(f.admit(1, 500, &pkt(1, 500), t), Admit::Held);
        for k in 0..20u32 {
            let a = f.admit(1000 + k, k as u16 * 7, &pkt(1000 + k, 0), t);
            assert_eq!(a, Admit::Held);
        }
        assert_eq!(f.current(), None);
        // Only MAX_CANDIDATES sources are remembered: the others' packets are discarded.
        let gone: Vec<_> = f.drain_discarded().collect();
        assert_eq!(gone.len(), 21 - MAX_CANDIDATES);
        assert!(gone.iter().all(|(_, r)| *r == IgnoreReason::Probation));
        // The real sender: its second packet in sequence validates it; both are handed back.
        assert_eq!(f.admit(7, 65535, &pkt(7, 65535), t), Admit::Held);
        match f.admit(7, 0, &pkt(7, 0), t) {
            Admit::Switched {
                ssrc: 7,
                replaces: None,
                held,
            } => assert_eq!(held, vec![pkt(7, 65535), pkt(7, 0)]),
            other => panic!("{other:?}"),
        }
        assert_eq!(f.admit(7, 1, &pkt(7, 1), t), Admit::Current);
        assert!(f.candidates.len() <= MAX_CANDIDATES);
        // One more evicted when source 7 arrived, the other 7 given up at the end.
        f.finish();
        assert_eq!(f.drain_discarded().count(), MAX_CANDIDATES);
    }

    #[test]
    fn a_silent_source_is_replaced_by_a_valid_one_an_active_one_is_not() {
        let t = Instant::now();
        let mut f = SourceFilter::new(Duration::from_millis(500));
        f.admit(1, 10, &[], t);
        assert!(matches!(f.admit(1, 11, &[], t), Admit::Switched { .. }));
        // Source 2 is valid but source 1 was heard 100 ms ago: ignored.
        f.heard_current(t);
        let t1 = t + Duration::from_millis(100);
        f.admit(2, 40, &[], t1);
        assert_eq!(f.admit(2, 41, &[], t1), Admit::Held);
        assert_eq!(f.admit(2, 42, &[], t1), Admit::Held);
        assert_eq!(
            f.drain_discarded().collect::<Vec<_>>(),
            vec![(2, IgnoreReason::OtherSource { current: 1 })]
        );
        // Source 1 silent for 500 ms: source 2 takes over with its next packet.
        let t2 = t + Duration::from_millis(600);
        assert!(matches!(
            f.admit(2, 43, &[], t2),
            Admit::Switched {
                ssrc: 2,
                replaces: Some(1),
                ..
            }
        ));
        assert_eq!(f.current(), Some(2));
    }
}
