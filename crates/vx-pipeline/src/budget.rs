//! One thread budget for the whole process, decided once from `--threads` (as ripgrep decides
//! its flags once) and divided among the stages that burn CPU: the video decoder, the JPEG
//! encoder pool of keyframes, and each model (ONNX Runtime intra-op threads, whisper.cpp
//! threads).
//!
//! The rule: with one compute stage, it gets the whole budget (what the single commands
//! always did). With several, each gets `max(1, total / stages)`: stages run at the same time
//! (a pipeline), so their pools add up to about the budget instead of each being as large as
//! the machine. ggml's (whisper's) threads spin at barriers: two whisper pools on the same
//! cores lose most of their time to each other, so whisper never gets more than its share.

/// The budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub total: usize,
}

/// Threads for each stage of one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shares {
    /// Video decoder threads (libavcodec).
    pub decoder: usize,
    /// Threads of each compute stage, in the order given to [`Budget::split`].
    pub stages: Vec<usize>,
}

impl Budget {
    /// `threads` = 0: one per core.
    pub fn new(threads: usize) -> Budget {
        let total = if threads > 0 {
            threads
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        };
        Budget { total }
    }

    /// Shares for `stages` compute stages (model runs, encoder pools) plus the decoder.
    pub fn split(&self, stages: usize) -> Shares {
        let each = if stages <= 1 {
            self.total
        } else {
            (self.total / stages).max(1)
        };
        Shares {
            decoder: if stages <= 1 {
                self.total
            } else {
                (self.total / (stages + 1)).max(1)
            },
            stages: vec![each; stages],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_about_the_budget() {
        let b = Budget { total: 2 };
        assert_eq!(
            b.split(1),
            Shares {
                decoder: 2,
                stages: vec![2]
            }
        );
        assert_eq!(
            b.split(4),
            Shares {
                decoder: 1,
                stages: vec![1; 4]
            }
        );
        let b = Budget { total: 16 };
        let s = b.split(4);
        assert_eq!(s.stages, vec![4; 4]);
        assert!(s.stages.iter().sum::<usize>() <= 16);
        assert_eq!(s.decoder, 3);
        assert_eq!(Budget::new(3).total, 3);
        assert!(Budget::new(0).total >= 1);
    }
}
