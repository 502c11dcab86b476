//! Whisper windows from speech spans: [`windows`] groups the spans of a whole file,
//! [`settled_windows`] and [`WindowStream`] the ones no later audio can change while the file
//! is still being decoded.
use crate::vad::{close_spans, pad_and_merge, raw_spans, Span, SpanOptions, CHUNK};

/// Group speech spans into windows of at most `max` seconds (whisper's context is 30 s): a
/// span joins the window before it when the gap between them is at most `gap` seconds and the
/// window stays within `max`. Windows are padded by `pad` seconds (clamped to [0, duration]);
/// a span longer than `max` is cut.
///
/// A small `gap` keeps silence out of the windows: whisper's cost then follows the amount of
/// speech, not the distance between the first and last word of a window, and it is not asked
/// to transcribe long silences (where it invents text).
pub fn windows(spans: &[Span], duration: f64, max: f64, gap: f64, pad: f64) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for s in spans {
        let mut start = s.start;
        while start < s.end {
            let end = s.end.min(start + max);
            match out.last_mut() {
                Some(w) if end - w.start <= max && start - w.end <= gap => w.end = end,
                _ => out.push(Span { start, end }),
            }
            start = end;
        }
    }
    out.into_iter()
        .map(|w| Span {
            start: (w.start - pad).max(0.0),
            end: (w.end + pad).min(duration),
        })
        .collect()
}

/// How speech spans become whisper windows (see [`windows`]).
#[derive(Debug, Clone, Copy)]
pub struct WindowOptions {
    pub max: f64,
    pub gap: f64,
    pub pad: f64,
}

impl Default for WindowOptions {
    /// At most 30 s (whisper's context), spans closer than 1 s joined, 0.2 s of padding.
    fn default() -> Self {
        WindowOptions {
            max: 30.0,
            gap: 1.0,
            pad: 0.2,
        }
    }
}

/// What [`settled_windows`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// The windows no later audio can change, in order.
    pub windows: Vec<Span>,
    /// No window still to come starts before this time (seconds): audio before it that the
    /// windows above do not cover is not needed any more.
    pub horizon: f64,
    /// A chunk from which the span state machine can start afresh and give the same spans
    /// (no span under way there), with every window settled so far before it: probabilities
    /// before it are not needed any more. `None` while a span cut at `max` is half settled.
    pub restart: Option<usize>,
}

/// The windows that no later audio can change, from the VAD probabilities of chunks
/// `first`.. of a stream that goes on (`probs[0]` is chunk `first`); with
/// `end = Some(duration)` the stream is over and every window is returned. For a growing
/// `probs`, each call's windows start with the previous call's, and the last call's equal
/// `windows(spans(all probs))`: so whisper can start on the first windows while the audio is
/// still being decoded and analysed. [`WindowStream`] drives it and drops what is settled.
///
/// A window settles when the next speech is more than `gap` away, or when it could not join
/// the window anyway (the window would exceed `max`). Speech that has not paused yet (a span
/// still open) settles nothing after its start: its audio is kept until it ends.
///
/// `first` is 0 or the `restart` of an earlier call that saw those chunks: no span is under
/// way there, so starting the span state machine afresh gives the same spans.
pub fn settled_windows(
    probs: &[f32],
    first: usize,
    end: Option<f64>,
    o: SpanOptions,
    w: WindowOptions,
) -> Settled {
    let step = CHUNK as f64 / crate::vad::SAMPLE_RATE as f64;
    let off = first as f64 * step;
    let shift = |s: Span| Span {
        start: s.start + off,
        end: s.end + off,
    };
    let (closed, open) = raw_spans(probs, o);
    if let Some(duration) = end {
        // Close and shift first, then pad: padding clamps at 0 s of the file, not of `probs`.
        let raw = close_spans(closed, open, duration - off, o);
        let sp = pad_and_merge(raw.into_iter().map(shift).collect(), duration, o.pad);
        return Settled {
            windows: windows(&sp, duration, w.max, w.gap, w.pad),
            horizon: duration,
            restart: None,
        };
    }
    let t = off + probs.len() as f64 * step;
    // Closed spans never change; the open one (or any later one) starts at `next_start` or
    // later, and padding only merges spans closer than 2 x pad, which closed ones never are
    // (they are followed by at least min_silence of silence) -- still, only count closed
    // spans whose padded end lies before the next padded start.
    let next_start = open.map_or(t, |s| s.start + off) - o.pad;
    let all = pad_and_merge(closed.into_iter().map(shift).collect(), t, o.pad);
    let n_final = all.iter().take_while(|s| s.end < next_start).count();
    let candidates = windows(&all[..n_final], t, w.max, w.gap, 0.0);
    let settled = candidates
        .iter()
        .take_while(|x| x.end + w.gap < next_start || next_start - x.start >= w.max)
        .count();
    let horizon = candidates
        .get(settled)
        .map_or(next_start, |x| x.start.min(next_start))
        - w.pad;
    // Where the next unsettled speech begins: the span of the first unsettled window (if
    // that window is the span's first piece), else the first span not final yet, else the
    // open span or the end (padded starts: next_start is one too).
    let span_start = match candidates.get(settled) {
        Some(x) => all[..n_final]
            .iter()
            .find(|s| (s.start - x.start).abs() < 1e-9)
            .map(|s| s.start),
        None => Some(all.get(n_final).map_or(next_start, |s| s.start)),
    };
    let restart = span_start.map(|p| {
        let raw = if p <= 0.0 { 0.0 } else { p + o.pad };
        let chunk = (raw / step).round() as usize;
        chunk.clamp(first, first + probs.len())
    });
    Settled {
        windows: candidates[..settled]
            .iter()
            .map(|x| Span {
                start: (x.start - w.pad).max(0.0),
                end: x.end + w.pad,
            })
            .collect(),
        horizon: horizon.max(0.0),
        restart,
    }
}

/// Whisper windows from a stream of VAD probabilities, as they settle. Keeps only the
/// probabilities from the last restart point on, so each step costs what is unsettled, not
/// the whole file so far.
pub struct WindowStream {
    probs: Vec<f32>,
    /// Chunk index of `probs[0]`.
    first: usize,
    /// Windows already returned that start at or after `first`.
    returned: usize,
    o: SpanOptions,
    w: WindowOptions,
}

impl WindowStream {
    pub fn new(o: SpanOptions, w: WindowOptions) -> Self {
        WindowStream {
            probs: Vec::new(),
            first: 0,
            returned: 0,
            o,
            w,
        }
    }

    /// Probabilities of the next chunks: the windows that settled (each returned once) and
    /// the horizon before which no window still to come starts.
    pub fn push(&mut self, probs: &[f32]) -> Settled {
        self.probs.extend_from_slice(probs);
        let mut s = settled_windows(&self.probs, self.first, None, self.o, self.w);
        let all = std::mem::take(&mut s.windows);
        s.windows = all.into_iter().skip(self.returned).collect();
        self.returned += s.windows.len();
        if let Some(k) = s.restart.filter(|&k| k > self.first) {
            // Every window so far lies before the restart chunk.
            self.probs.drain(..k - self.first);
            self.first = k;
            self.returned = 0;
        }
        s
    }

    /// End of the stream (`duration` seconds in all): the remaining windows.
    pub fn finish(self, duration: f64) -> Vec<Span> {
        settled_windows(&self.probs, self.first, Some(duration), self.o, self.w)
            .windows
            .into_iter()
            .skip(self.returned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_group_and_cut() {
        let sp = |a: f64, b: f64| Span { start: a, end: b };
        let w = windows(
            &[
                sp(1.0, 5.0),
                sp(10.0, 20.0),
                sp(25.0, 40.0),
                sp(50.0, 120.0),
            ],
            130.0,
            30.0,
            100.0,
            0.0,
        );
        // Spans are kept whole when they fit in a window of their own: 25..40 does not join.
        assert_eq!(w[0], sp(1.0, 20.0));
        assert_eq!(w[1], sp(25.0, 40.0));
        assert_eq!(w[2], sp(50.0, 80.0));
        assert_eq!(w[3], sp(80.0, 110.0));
        assert_eq!(w[4], sp(110.0, 120.0));
        assert!(windows(&[], 10.0, 30.0, 1.0, 0.2).is_empty());
        let w = windows(&[sp(0.1, 2.0)], 2.05, 30.0, 1.0, 0.2);
        assert_eq!(w[0], sp(0.0, 2.05));
        // A gap longer than `gap` starts a new window even when both would fit in one.
        let w = windows(
            &[sp(0.0, 2.0), sp(2.5, 4.0), sp(9.0, 10.0)],
            20.0,
            30.0,
            1.0,
            0.0,
        );
        assert_eq!(w, vec![sp(0.0, 4.0), sp(9.0, 10.0)]);
    }

    #[test]
    fn settled_windows_are_a_prefix_of_the_final_ones() {
        // Pseudo-random speech/silence patterns: every partial answer must be a prefix of the
        // answer for the whole stream.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let step = CHUNK as f64 / 16000.0;
        let mut long_windows = 0;
        for round in 0..300 {
            let mut probs = Vec::new();
            // Two thirds mixed speech and silence; one third mostly speech with short pauses
            // (windows that reach the 30 s limit).
            let levels: &[f32] = if round % 3 == 2 {
                &[0.9, 0.9, 0.9, 0.0]
            } else {
                &[0.0, 0.2, 0.4, 0.9]
            };
            while probs.len() < 3000 {
                let p = levels[(rnd() % 4) as usize];
                let run = if p < 0.35 && round % 3 == 2 {
                    1 + (rnd() % 20) as usize
                } else {
                    1 + (rnd() % 80) as usize
                };
                probs.extend(std::iter::repeat_n(p, run));
            }
            let dur = probs.len() as f64 * step;
            let o = SpanOptions::default();
            let w = WindowOptions::default();
            let full = settled_windows(&probs, 0, Some(dur), o, w).windows;
            long_windows += full.iter().filter(|x| x.end - x.start > 29.0).count();
            let mut prev = 0;
            for k in (0..probs.len()).step_by(7) {
                let part = settled_windows(&probs[..k], 0, None, o, w);
                let n = part.windows.len();
                assert!(n >= prev, "windows went away at chunk {k}");
                assert_eq!(&full[..n], &part.windows[..], "chunk {k}");
                // Every window still to come starts at or after the horizon.
                for later in &full[n..] {
                    assert!(
                        later.start >= part.horizon - 1e-9,
                        "chunk {k}: {later:?} {part:?}"
                    );
                }
                prev = n;
            }
            // The same through WindowStream, which drops settled probabilities as it goes,
            // fed in uneven steps: the same windows, each once.
            let mut ws = WindowStream::new(o, w);
            let mut got = Vec::new();
            let mut kept_most = 0;
            let mut at = 0;
            while at < probs.len() {
                let n = (1 + (rnd() % 90) as usize).min(probs.len() - at);
                got.extend(ws.push(&probs[at..at + n]).windows);
                at += n;
                kept_most = kept_most.max(ws.probs.len());
            }
            if round % 3 != 2 {
                // With pauses, what is kept stays far below the stream's length.
                assert!(
                    kept_most < probs.len() / 2,
                    "round {round}: kept {kept_most}"
                );
            }
            got.extend(ws.finish(dur));
            // Times agree up to float rounding (spans are shifted by the dropped chunks).
            assert_eq!(got.len(), full.len(), "round {round}: {got:?} vs {full:?}");
            for (a, b) in got.iter().zip(&full) {
                assert!(
                    (a.start - b.start).abs() < 1e-9 && (a.end - b.end).abs() < 1e-9,
                    "round {round}: {a:?} vs {b:?}"
                );
            }
        }
        assert!(
            long_windows > 20,
            "only {long_windows} windows reached the 30 s limit"
        );
    }
}
