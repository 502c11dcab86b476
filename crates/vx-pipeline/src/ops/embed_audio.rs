//! `embed-audio`: sound embeddings (aisfx, 512-d) for every 2.32 s window (hop 1.16 s), the
//! log-mel front end streamed on a thread of its own, 8 windows per model call.
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use serde::Serialize;
use vx_infer::sfx::{Embedding, SfxEmbedder, SAMPLE_RATE};

use crate::op::{End, Flow, Input, Needs, Operation, Output};
use crate::{Error, Result};

/// `embed-audio.json`.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedReport {
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub source: PathBuf,
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub model: PathBuf,
    pub dim: usize,
    /// Windows on the file's timeline.
    pub windows: Vec<Embedding>,
    /// False when the input was damaged or truncated, or its header was wrong (see warnings).
    pub complete: bool,
    pub warnings: Vec<String>,
}

type Worker = JoinHandle<(SfxEmbedder, Result<Vec<Embedding>>)>;

pub struct EmbedAudio {
    model: PathBuf,
    embedder: Option<SfxEmbedder>,
    npy: Option<(PathBuf, vx_image::fsutil::OutFile)>,
    source: PathBuf,
    offset: Option<f64>,
    /// Samples received (the audio's end: `offset` + samples / rate).
    samples: usize,
    tx: Option<SyncSender<Vec<f32>>>,
    worker: Option<Worker>,
}

impl EmbedAudio {
    /// `npy`: also write the vectors as a [windows, dim] float32 .npy file there.
    pub fn new(model: &Path, threads: usize, npy: Option<PathBuf>) -> Result<EmbedAudio> {
        let embedder = SfxEmbedder::open(model, vx_infer::runtime::SessionOptions { threads })?;
        Ok(EmbedAudio {
            model: model.to_path_buf(),
            embedder: Some(embedder),
            // Opened now: a missing directory fails before the work, not after it.
            npy: match npy {
                Some(p) => {
                    let f = vx_image::fsutil::OutFile::create(&p).map_err(|e| Error::io(&p, e))?;
                    Some((p, f))
                }
                None => None,
            },
            source: PathBuf::new(),
            offset: None,
            samples: 0,
            tx: None,
            worker: None,
        })
    }

    /// Start the embedding thread (on the first audio: an input without audio starts nothing).
    fn start(&mut self) {
        if let Some(mut emb) = self.embedder.take() {
            let (tx, rx) = sync_channel::<Vec<f32>>(4);
            self.tx = Some(tx);
            self.worker = Some(std::thread::spawn(move || {
                let mut windows = Vec::new();
                let r = (|| {
                    let mut stream = emb.stream();
                    for piece in rx {
                        stream.push(&piece, &mut |e| windows.push(e))?;
                    }
                    stream.finish(&mut |e| windows.push(e))
                })();
                (emb, r.map(|_| windows).map_err(Error::from))
            }));
        }
    }

    fn join(&mut self) -> Result<Vec<Embedding>> {
        self.tx = None;
        match self.worker.take().map(|w| w.join()) {
            Some(Ok((emb, r))) => {
                self.embedder = Some(emb);
                r
            }
            _ => Err(Error::failed(&self.source, "embedding thread failed")),
        }
    }
}

impl Operation for EmbedAudio {
    fn name(&self) -> &'static str {
        "embed-audio"
    }

    fn needs(&mut self, input: &Input) -> Needs {
        self.source = input.path.clone();
        Needs::mono(SAMPLE_RATE)
    }

    fn audio(&mut self, samples: &[f32], time: f64) -> Result<Flow> {
        self.start();
        self.offset.get_or_insert(time);
        self.samples += samples.len();
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(samples.to_vec()).is_ok());
        if !sent {
            // The embedding thread stopped on an error.
            self.join()?;
            return Err(Error::failed(&self.source, "embedding stopped early"));
        }
        Ok(Flow::Continue)
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        if let Err(e) = end.audio_ok(&self.source) {
            let _ = self.join();
            return Err(e);
        }
        let offset = self.offset.unwrap_or(0.0);
        // A window reaching past the audio (the last one, padded with silence as aisfx does)
        // ends where the audio ends: its times are joined with other outputs on one timeline.
        let audio_end = offset + self.samples as f64 / SAMPLE_RATE as f64;
        // No sample (a range without audio, audio shorter than a sample at 16 kHz): no window
        // (one padded window of silence at 0.0 was made up).
        let raw = if self.samples == 0 {
            if self.worker.is_some() {
                self.join()?;
            }
            Vec::new()
        } else {
            self.start();
            self.join()?
        };
        let windows: Vec<Embedding> = raw
            .into_iter()
            .map(|w| Embedding {
                start: w.start + offset,
                end: (w.end + offset).min(audio_end).max(w.start + offset),
                vector: w.vector,
            })
            .collect();
        let dim = windows.first().map(|w| w.vector.len()).unwrap_or(0);
        let mut files = Vec::new();
        if let Some((p, mut f)) = self.npy.take() {
            use std::io::Write;
            let bytes = npy_f32(
                windows.len(),
                dim,
                windows.iter().flat_map(|w| w.vector.iter().copied()),
            );
            f.write_all(&bytes)
                .and_then(|_| f.commit())
                .map_err(|e| Error::io(&p, e))?;
            files.push(p);
        }
        Ok(Output {
            report: Box::new(EmbedReport {
                source: self.source.clone(),
                model: self.model.clone(),
                dim,
                windows,
                complete: end.audio_warnings.is_empty(),
                warnings: end.audio_warnings.clone(),
            }),
            files,
            warnings: end.audio_warnings.clone(),
        })
    }

    fn abort(mut self: Box<Self>) {
        let _ = self.join();
    }
}

/// A float32 .npy file of `rows` x `cols`.
pub fn npy_f32(rows: usize, cols: usize, data: impl Iterator<Item = f32>) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
