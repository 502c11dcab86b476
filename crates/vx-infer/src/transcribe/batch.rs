//! Whisper windows in batches: [`Batcher`] groups the VAD windows into batches of at most
//! [`BATCH_MAX`] seconds, one whisper call each; [`file_time`] and [`word_times`] map times in
//! the joined audio back to the file's timeline.
use crate::vad::Span;

/// A stretch of the file's audio for [`super::Whisper::transcribe_batches`]: its samples and where
/// they start in the file (seconds).
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    pub start: f64,
    pub samples: &'a [f32],
}

/// A time `t` in seconds of joined stretches (`table`: each stretch's start in the file and
/// length) on the file's timeline. The [`JUNCTION`] seconds on each side of a junction are
/// the silence that pads the two windows: an end there belongs to the stretch before, a start
/// to the stretch after (whisper puts segment boundaries somewhere in that silence). Past the
/// last stretch: its end.
pub fn file_time(table: &[(f64, f64)], t: f64, is_end: bool) -> f64 {
    let mut at = 0.0;
    for (i, &(start, len)) in table.iter().enumerate() {
        let last = i + 1 == table.len();
        // At most half of a (short) stretch counts as its edge.
        let edge = JUNCTION.min(len / 2.0);
        if is_end && i > 0 && t >= at && t < at + edge {
            let (s, l) = table[i - 1];
            return s + l;
        }
        if !is_end && !last && t >= at + len - edge && t < at + len {
            return table[i + 1].0;
        }
        let inside = if is_end { t <= at + len } else { t < at + len };
        if inside || last {
            return start + (t - at).clamp(0.0, len);
        }
        at += len;
    }
    0.0
}

/// A word's times (`a`..`b` in seconds of the joined stretches) on the file's timeline, kept
/// inside its segment's (`seg_start`..`seg_end`, already mapped): a word next to a junction
/// may map across it when the segment does not.
pub fn word_times(
    table: &[(f64, f64)],
    a: f64,
    b: f64,
    seg_start: f64,
    seg_end: f64,
) -> (f64, f64) {
    let hi = seg_end.max(seg_start);
    let a = file_time(table, a, false).max(seg_start).min(hi);
    let b = file_time(table, b, true).max(a).min(hi);
    (a, b)
}

/// Seconds on each side of a junction of stretches taken as the silence between them (the
/// windows' padding and the VAD's soft edges).
pub const JUNCTION: f64 = 0.35;

/// The most audio (seconds) one whisper call gets. Measured on bench/transcribe (2 cores):
/// 15 s joined too little ((b) 3.2 % word errors), 30 s made whisper's encoder and decoder
/// pay for a longer context on long speech ((c) 13.2 s instead of 10.4 s, and 360 MiB
/// instead of 280); 20 s gave (b) 1.1 % and (c) 10.4 s.
pub const BATCH_MAX: f64 = 20.0;

/// Groups whisper windows (in order) into batches of at most [`BATCH_MAX`] seconds, one
/// whisper call each ([`super::Whisper::transcribe_batches`]): windows that touch or overlap (their
/// padding) become one stretch, and separate windows are joined side by side, so that a
/// short utterance is heard with its neighbours instead of alone (measured on
/// bench/transcribe (b), six short clips 30 s apart: word error rate 6.5 % -> 1.1 %, and
/// 25 % less time: fewer encoder passes).
#[derive(Debug, Default)]
pub struct Batcher {
    pending: Vec<Span>,
}

impl Batcher {
    fn len(&self) -> f64 {
        self.pending.iter().map(|s| s.end - s.start).sum()
    }

    /// Where the pending batch starts in the file (its audio must be kept until then).
    pub fn start(&self) -> Option<f64> {
        self.pending.first().map(|s| s.start)
    }

    /// The next window; the finished batch when this window does not fit in it.
    pub fn push(&mut self, mut w: Span) -> Option<Vec<Span>> {
        let len = self.len();
        let Some(last) = self.pending.last_mut() else {
            self.pending.push(w);
            return None;
        };
        if w.start <= last.end {
            if len + (w.end - last.end).max(0.0) <= BATCH_MAX {
                last.end = last.end.max(w.end);
                return None;
            }
            // Continuous speech: the next batch starts where this one ends (the overlap of
            // the padding is not heard twice).
            w.start = last.end;
        } else if len + (w.end - w.start) <= BATCH_MAX {
            self.pending.push(w);
            return None;
        }
        Some(std::mem::replace(&mut self.pending, vec![w]))
    }

    /// The last batch.
    pub fn finish(&mut self) -> Option<Vec<Span>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_join_windows_up_to_whisper_context() {
        let w = |a: f64, b: f64| Span { start: a, end: b };
        let mut b = Batcher::default();
        // Separate windows side by side while they fit in BATCH_MAX (20 s).
        assert_eq!(b.push(w(0.0, 6.0)), None);
        assert_eq!(b.push(w(10.0, 16.0)), None);
        assert_eq!(b.start(), Some(0.0));
        // Touching or overlapping (padding): one stretch.
        assert_eq!(b.push(w(15.8, 20.0)), None);
        assert_eq!(b.pending, vec![w(0.0, 6.0), w(10.0, 20.0)]);
        // 16 s held: 6 more do not fit; the batch is done and the window starts the next.
        assert_eq!(
            b.push(w(30.0, 36.0)),
            Some(vec![w(0.0, 6.0), w(10.0, 20.0)])
        );
        assert_eq!(b.start(), Some(30.0));
        // Continuous speech past 20 s: cut, the overlap heard once.
        assert_eq!(b.push(w(35.8, 50.0)), None);
        assert_eq!(b.push(w(49.8, 55.0)), Some(vec![w(30.0, 50.0)]));
        assert_eq!(b.finish(), Some(vec![w(50.0, 55.0)]));
        assert_eq!(b.finish(), None);
        assert_eq!(b.start(), None);
    }

    #[test]
    fn joined_times_map_back_to_the_file() {
        // Stretches at 10-15 s and 40-50 s of the file, joined: 0-5 s and 5-15 s.
        let table = [(10.0, 5.0), (40.0, 10.0)];
        assert_eq!(file_time(&table, 1.0, false), 11.0);
        assert_eq!(file_time(&table, 7.0, false), 42.0);
        assert_eq!(file_time(&table, 7.0, true), 42.0);
        // At a junction a start belongs to the next stretch, an end to the one before,
        // also a little either side of it (the padding's silence).
        assert_eq!(file_time(&table, 5.0, false), 40.0);
        assert_eq!(file_time(&table, 4.8, false), 40.0);
        assert_eq!(file_time(&table, 5.0, true), 15.0);
        assert_eq!(file_time(&table, 5.2, true), 15.0);
        // A stretch shorter than two junction margins keeps its own middle.
        let short = [(30.4, 0.2), (40.0, 5.0)];
        assert_eq!(file_time(&short, 0.0, false), 30.4);
        assert!((file_time(&short, 0.25, true) - 30.6).abs() < 1e-9);
        // Past the end: the last stretch's end.
        assert_eq!(file_time(&table, 99.0, true), 50.0);
        assert_eq!(file_time(&[(3.0, 2.0)], -1.0, false), 3.0);
        assert_eq!(file_time(&[], 1.0, false), 0.0);
    }
}
