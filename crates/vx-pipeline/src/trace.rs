//! `--debug`: what each stage did when, as a Chrome trace-event file (Perfetto and
//! chrome://tracing open it) plus the queue depths over time.
use serde_json::json;

/// A span of work on one thread.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    /// 0: the demux/decode thread; i + 1: operation i.
    pub tid: usize,
    pub start_us: f64,
    pub dur_us: f64,
}

/// What a debug run recorded.
#[derive(Debug, Clone, Default)]
pub struct Debug {
    pub events: Vec<Event>,
    /// Operation names, by index.
    pub ops: Vec<String>,
    /// (time µs, items waiting in each operation's queue).
    pub queue_samples: Vec<(f64, Vec<usize>)>,
    /// Time the decoding thread worked (the pass minus its waits for full queues), ms.
    pub decode_busy_ms: f64,
}

impl Debug {
    /// The Chrome trace-event JSON (`{"traceEvents": [...]}`): complete events per call,
    /// thread names, and one counter track per queue.
    pub fn chrome_trace(&self) -> serde_json::Value {
        let mut ev = Vec::new();
        ev.push(json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": 0,
                       "args": {"name": "demux + decode"}}));
        for (i, op) in self.ops.iter().enumerate() {
            ev.push(
                json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": i + 1,
                           "args": {"name": op}}),
            );
        }
        for e in &self.events {
            ev.push(json!({"name": e.name, "ph": "X", "pid": 1, "tid": e.tid,
                           "ts": e.start_us.round() as i64, "dur": e.dur_us.round().max(1.0) as i64}));
        }
        for (t, depths) in &self.queue_samples {
            let args: serde_json::Map<String, serde_json::Value> = self
                .ops
                .iter()
                .zip(depths)
                .map(|(n, d)| (n.clone(), json!(d)))
                .collect();
            ev.push(
                json!({"name": "queue depth", "ph": "C", "pid": 1, "ts": t.round() as i64,
                           "args": args}),
            );
        }
        json!({ "traceEvents": ev, "displayTimeUnit": "ms" })
    }

    /// Total busy time per operation name (ms), and the largest queue depth seen.
    pub fn summary(&self) -> serde_json::Value {
        let mut ops = serde_json::Map::new();
        for (i, name) in self.ops.iter().enumerate() {
            let busy: f64 = self
                .events
                .iter()
                .filter(|e| e.tid == i + 1)
                .map(|e| e.dur_us)
                .sum();
            let max_q = self
                .queue_samples
                .iter()
                .filter_map(|(_, d)| d.get(i))
                .max()
                .copied()
                .unwrap_or(0);
            ops.insert(
                name.clone(),
                json!({"busy_ms": crate::ms(busy / 1000.0), "max_queue": max_q}),
            );
        }
        json!({"demux_decode_ms": crate::ms(self.decode_busy_ms), "ops": ops,
               "queue_samples": self.queue_samples.len()})
    }
}
