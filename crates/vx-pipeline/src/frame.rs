//! A decoded picture as operations see it: shared by every operation that asked for it, with
//! each converted picture (a YUV of a given size, an RGB of a given size) made once, by the
//! first operation that asks, and handed to the others.
use std::sync::{Arc, Mutex};

use vx_image::image::Yuv;
use vx_media::source::VideoFrame;
use vx_media::still::Rgb;

/// A converted picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Picture {
    /// Upright full-range YUV whose longest side is at most this (None: own size).
    Yuv(Option<u32>),
    /// Upright packed RGB24 stretched to (width, height), or at its own size.
    Rgb(Option<(u32, u32)>),
}

#[derive(Clone)]
enum Converted {
    Yuv(Arc<Yuv>),
    Rgb(Arc<Rgb>),
}

struct Shared {
    frame: VideoFrame,
    cache: Mutex<Vec<(Picture, Converted)>>,
}

/// A decoded frame handed to operations (cheap to clone).
#[derive(Clone)]
pub struct Frame {
    shared: Arc<Shared>,
    /// Seconds on the file's timeline.
    pub time: Option<f64>,
    /// Raw presentation timestamp in the stream's time base.
    pub pts: Option<i64>,
    pub key: bool,
    /// Set by a producing operation (keyframes: the image it wrote, relative to its directory).
    pub tag: Option<Arc<str>>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("time", &self.time)
            .field("key", &self.key)
            .field("tag", &self.tag)
            .finish()
    }
}

impl Frame {
    pub fn new(frame: VideoFrame) -> Frame {
        Frame {
            time: frame.time,
            pts: frame.pts,
            key: frame.key,
            tag: None,
            shared: Arc::new(Shared {
                frame,
                cache: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The same frame with a producer's tag.
    pub fn tagged(&self, tag: &str) -> Frame {
        Frame {
            tag: Some(tag.into()),
            ..self.clone()
        }
    }

    /// Clockwise degrees that make the picture upright.
    pub fn rotation(&self) -> i32 {
        self.shared.frame.rotation()
    }

    /// Upright size of the decoded picture.
    pub fn size(&self) -> (usize, usize) {
        self.shared.frame.upright_size()
    }

    pub fn pixel_format(&self) -> String {
        self.shared.frame.pixel_format()
    }

    /// How many conversions this frame has cached (for tests: "converted once").
    pub fn conversions(&self) -> usize {
        self.shared.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// The cached conversion `key`, or `make` it (once: later callers wait for it).
    fn cached(
        &self,
        key: Picture,
        make: impl FnOnce(&VideoFrame) -> Result<Converted, String>,
    ) -> Result<Converted, String> {
        let mut cache = self.shared.cache.lock().map_err(|_| "poisoned")?;
        if let Some((_, c)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(c.clone());
        }
        let c = make(&self.shared.frame)?;
        cache.push((key, c.clone()));
        Ok(c)
    }

    /// The upright full-range YUV picture, longest side at most `max_side`.
    pub fn yuv(&self, max_side: Option<u32>) -> Result<Arc<Yuv>, String> {
        match self.cached(Picture::Yuv(max_side), |f| {
            Ok(Converted::Yuv(Arc::new(f.to_yuv(max_side)?)))
        })? {
            Converted::Yuv(y) => Ok(y),
            Converted::Rgb(_) => Err("cached picture of the wrong kind".into()),
        }
    }

    /// The upright RGB24 picture at `target` (width, height) or its own size.
    pub fn rgb(&self, target: Option<(u32, u32)>) -> Result<Arc<Rgb>, String> {
        match self.cached(Picture::Rgb(target), |f| {
            Ok(Converted::Rgb(Arc::new(f.to_rgb(target)?)))
        })? {
            Converted::Rgb(r) => Ok(r),
            Converted::Yuv(_) => Err("cached picture of the wrong kind".into()),
        }
    }
}
