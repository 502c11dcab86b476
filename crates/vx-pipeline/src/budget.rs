//! One thread budget for the whole process, decided once from `--threads` (as ripgrep decides
//! its flags once) and divided among the stages that burn CPU: the video decoder, the JPEG
//! encoder pool of keyframes and the models.
//!
//! Measured on 2 cores (bench/pipeline, `keyframes;[detect,faces];transcribe`, BENCHMARKS.md):
//! - a fixed slice per model (N / k threads each) left cores idle whenever one model had
//!   nothing to do while another crawled on its one thread (1080p clip: 1.14x the separate
//!   commands' time);
//! - models taking turns, each call with all N threads, serialised work that runs better side
//!   by side (3.6-minute clip: 1.08x);
//! - what won: every ONNX Runtime session of the process shares **one pool of N threads**
//!   (ONNX Runtime's global thread pool, threads that sleep instead of spinning when idle), so
//!   whichever model runs gets all of it and together they never exceed N; whisper.cpp keeps
//!   its own threads but only half the budget when other models share the process, since
//!   ggml's threads spin at barriers and lose their time slices to any other busy thread
//!   (0.84x and 0.92x).

/// The most threads a budget holds (`--threads` above it is a usage error; the library
/// clamps): each stage may start that many, and thousands only fail to start or thrash.
pub const MAX_THREADS: usize = 256;

/// The budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub total: usize,
    /// The machine's cores: whisper.cpp never gets more threads than this, whatever the
    /// budget (its threads spin at barriers: `--threads 6` on 2 cores took 34 s for 0.26 s
    /// of work).
    pub cores: usize,
}

/// Threads for each kind of stage of one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shares {
    /// Video decoder threads (libavcodec).
    pub decoder: usize,
    /// JPEG/PNG encoder workers of keyframes.
    pub encoders: usize,
    /// ONNX Runtime intra-op threads: of each session, or of the one pool they share.
    pub onnx: usize,
    /// Share one ONNX Runtime pool among every session (several models in the plan).
    pub shared_pool: bool,
    /// whisper.cpp threads.
    pub whisper: usize,
}

impl Budget {
    /// `threads` = 0: one per core.
    pub fn new(threads: usize) -> Budget {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let total = if threads > 0 {
            threads.min(MAX_THREADS)
        } else {
            cores
        };
        Budget { total, cores }
    }

    /// Shares for a plan with `models` model stages and (or not) an encoder pool.
    pub fn split(&self, models: usize, encoders: bool) -> Shares {
        let half = (self.total / 2).max(1);
        let alone = models + encoders as usize <= 1;
        Shares {
            decoder: if alone { self.total } else { half },
            encoders: if models == 0 { self.total } else { half },
            onnx: self.total,
            shared_pool: models > 1,
            whisper: if models > 1 { half } else { self.total }.min(self.cores.max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares() {
        let b = Budget { total: 2, cores: 2 };
        let one = b.split(1, false);
        assert_eq!(
            (one.decoder, one.onnx, one.whisper, one.shared_pool),
            (2, 2, 2, false)
        );
        let plan = b.split(3, true);
        assert_eq!(
            (
                plan.decoder,
                plan.encoders,
                plan.onnx,
                plan.whisper,
                plan.shared_pool
            ),
            (1, 1, 2, 1, true)
        );
        let kf = b.split(0, true);
        assert_eq!((kf.decoder, kf.encoders), (2, 2));
        let b = Budget {
            total: 16,
            cores: 16,
        };
        assert_eq!(b.split(4, true).whisper, 8);
        // More threads than cores: whisper keeps to the cores.
        let b = Budget { total: 8, cores: 2 };
        assert_eq!((b.split(1, false).whisper, b.split(1, false).onnx), (2, 8));
        assert_eq!(Budget::new(3).total, 3);
        assert!(Budget::new(0).total >= 1);
    }
}
