//! `scenes`: shot boundaries. Every frame is decoded; two detectors:
//!
//! * `content` — PySceneDetect's ContentDetector: each frame scaled to about 256 pixels wide
//!   (PySceneDetect's auto-downscale), converted to HSV as OpenCV does (H 0..179, S and V
//!   0..255), and scored by the mean absolute difference of H, S and V with the previous frame
//!   (weights 1, 1, 1; edges 0). A frame scoring at least `threshold` (27) starts a new scene
//!   if the last cut (or the first frame) is at least `min_scene_len` (15) frames before it.
//!   The picture comes from the decoder's YUV scaled to that size in RGB by libswscale (one
//!   pass, full chroma), not from a full-size RGB picture, and goes to HSV by OpenCV's own
//!   fixed-point formulas.
//! * `adaptive` — PySceneDetect's AdaptiveDetector: the same content score, divided by the mean
//!   score of the 2 frames on each side; a ratio of at least `threshold` (3.0) with a score of
//!   at least 15 is a cut (same minimum scene length). Fewer false cuts in fast motion.
//! * `transnet` — TransNetV2 on 48x27 RGB frames (see `vx_infer::transnet`), threshold 0.5;
//!   catches gradual transitions (a crossfade) that `content` misses.
//!
//! Frames are counted in decoding order from the first frame handed to the operation.
use std::path::{Path, PathBuf};

use serde::Serialize;
use vx_infer::transnet::{TransNet, Windows};

use crate::frame::Frame;
use crate::op::{Emit, End, Flow, Input, Needs, Operation, Output, Select};
use crate::{Error, Result};

/// Which detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    Content,
    Adaptive,
    Transnet,
}

/// Settings of the scenes operation.
#[derive(Debug, Clone)]
pub struct SceneOptions {
    pub detector: Detector,
    /// `content`: the score a cut needs (PySceneDetect's default 27); `transnet`: the
    /// probability (0.5).
    pub threshold: f64,
    /// `content`: frames between cuts at least (PySceneDetect's default 15).
    pub min_scene_len: usize,
    /// `transnet`: the model file.
    pub model: Option<PathBuf>,
    pub threads: usize,
}

impl SceneOptions {
    pub fn content() -> SceneOptions {
        SceneOptions {
            detector: Detector::Content,
            threshold: 27.0,
            min_scene_len: 15,
            model: None,
            threads: 0,
        }
    }

    pub fn adaptive() -> SceneOptions {
        SceneOptions {
            detector: Detector::Adaptive,
            threshold: 3.0,
            min_scene_len: 15,
            model: None,
            threads: 0,
        }
    }

    pub fn transnet(model: &Path) -> SceneOptions {
        SceneOptions {
            detector: Detector::Transnet,
            threshold: 0.5,
            min_scene_len: 0,
            model: Some(model.to_path_buf()),
            threads: 0,
        }
    }
}

/// One scene: frames `start_frame..=end_frame`, seconds `start..end` on the file's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Scene {
    pub index: usize,
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub start: f64,
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub end: f64,
    pub start_frame: usize,
    pub end_frame: usize,
}

/// A cut: the first frame of a new scene and the score that made it.
#[derive(Debug, Clone, Serialize)]
pub struct Cut {
    pub frame: usize,
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub time: f64,
    pub score: f64,
}

/// `scenes.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ScenesReport {
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub source: PathBuf,
    pub detector: Detector,
    pub threshold: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_scene_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "vx_image::secs::lossy_path_opt")]
    pub model: Option<PathBuf>,
    pub frames: usize,
    pub scenes: Vec<Scene>,
    pub cuts: Vec<Cut>,
    pub complete: bool,
    pub warnings: Vec<String>,
}

pub struct Scenes {
    opts: SceneOptions,
    source: PathBuf,
    net: Option<TransNet>,
    windows: Windows,
    /// Time of each frame (seconds on the timeline), in decoding order.
    times: Vec<f64>,
    size: Option<(u32, u32)>,
    prev_hsv: Option<Vec<u8>>,
    last_cut: usize,
    cuts: Vec<Cut>,
    /// `adaptive`: the last 2 x WINDOW + 1 (frame, content score).
    window: std::collections::VecDeque<(usize, f64)>,
    /// The last few frames (index, frame): `adaptive` knows a cut WINDOW frames late, and
    /// the new scene's first frames go into its sample then.
    recent: std::collections::VecDeque<(usize, Frame)>,
    /// `content` / `adaptive`: the current scene's frames that may be handed on.
    sample: Sample,
    /// Cuts whose scene before them has been handed on.
    emitted: usize,
}

/// The frame handed on for each scene (`vx run "scenes;keyframes"`, `"scenes;[detect,ocr]"`):
/// the one nearest the scene's middle frame `(first + last) / 2` — the frame `vx keyframes
/// --per-scene` takes — among a bounded sample of the scene's frames. Where a scene ends is
/// known only at its end, and the frames are gone by then (one pass), so the sample keeps
/// every frame while the scene is short; when it would pass `cap` frames, the frames more
/// than a stride before the current middle go (the middle only moves on as the scene goes
/// on), then, if still too many, every other one (the stride doubles). So the choice is exact
/// for scenes of up to `cap` frames and otherwise within stride / 2 (about length / (2 x
/// `cap`)) frames of the middle, and memory is `cap` decoded frames whatever the length.
#[derive(Default)]
struct Sample {
    /// The scene's first frame.
    start: usize,
    stride: usize,
    cap: usize,
    frames: Vec<(usize, Frame)>,
}

/// Decoded pixels a sample may hold (about 48 MB of 8-bit 4:2:0): 256 frames (the most) at
/// 320x180 and below, 34 at 720p, 15 at 1080p, 3 at 4K, 2 (the least) above.
const SAMPLE_PIXELS: usize = 32_000_000;

impl Sample {
    /// Start a scene at frame `start` with the frames of it already seen.
    fn restart<'a>(&mut self, start: usize, seen: impl Iterator<Item = &'a (usize, Frame)>) {
        self.start = start;
        self.stride = 1;
        self.frames.clear();
        for (i, f) in seen {
            self.push(*i, f);
        }
    }

    fn push(&mut self, index: usize, frame: &Frame) {
        // The frame count the budget allows at this frame's size; it only shrinks (a file
        // whose pictures grow mid-stream must not keep 256 of its large ones).
        let (w, h) = frame.size();
        let cap = (SAMPLE_PIXELS / (w * h).max(1)).clamp(2, 256);
        self.cap = if self.cap == 0 {
            cap
        } else {
            self.cap.min(cap)
        };
        if index < self.start || !(index - self.start).is_multiple_of(self.stride.max(1)) {
            return;
        }
        self.frames.push((index, frame.clone()));
        let start = self.start;
        while self.frames.len() > self.cap {
            // A frame more than a stride before the middle of the scene so far is never the
            // nearest to a later middle: one of the stride's multiples is nearer.
            let stride = self.stride.max(1);
            let low = start + ((index - start) / 2).saturating_sub(stride);
            self.frames
                .retain(|(i, _)| *i >= low && (i - start).is_multiple_of(stride));
            if self.frames.len() > self.cap {
                self.stride = stride * 2;
            }
        }
    }

    /// The frame nearest the middle of the scene that ends before frame `next` (the earlier
    /// of two as near).
    fn middle(&self, next: usize) -> Option<&Frame> {
        let last = next.checked_sub(1)?;
        let mid = (self.start + last) / 2;
        self.frames
            .iter()
            .filter(|(i, _)| *i <= last)
            .min_by_key(|(i, _)| (i.abs_diff(mid), *i))
            .map(|(_, f)| f)
    }
}

/// `adaptive`: frames on each side of the one judged, and the least content score of a cut.
const ADAPTIVE_WINDOW: usize = 2;
const ADAPTIVE_MIN_CONTENT: f64 = 15.0;

/// A detector's `--threshold`: the same range as `scenes(threshold=...)` in `vx run`
/// (settings.rs) for content, a probability for transnet (a usage error otherwise; checked
/// before any model loads).
pub fn check_threshold(detector: Detector, t: f64) -> Result<()> {
    let (ok, range) = match detector {
        Detector::Content => (
            t > 0.0 && t <= 255.0,
            "more than 0, at most 255 (content score)",
        ),
        Detector::Adaptive => (
            t > 0.0 && t <= 255.0,
            "more than 0, at most 255 (adaptive ratio)",
        ),
        Detector::Transnet => (
            t > 0.0 && t < 1.0,
            "more than 0 and less than 1 (transnet probability)",
        ),
    };
    if t.is_finite() && ok {
        Ok(())
    } else {
        Err(Error::Usage(format!("--threshold {t}: must be {range}")))
    }
}

impl Scenes {
    pub fn new(opts: SceneOptions) -> Result<Scenes> {
        check_threshold(opts.detector, opts.threshold)?;
        let net = match opts.detector {
            Detector::Transnet => {
                let m = opts
                    .model
                    .as_deref()
                    .ok_or_else(|| Error::Usage("transnet needs a model".into()))?;
                Some(TransNet::open(
                    m,
                    vx_infer::runtime::SessionOptions {
                        threads: opts.threads,
                    },
                )?)
            }
            Detector::Content | Detector::Adaptive => None,
        };
        Ok(Scenes {
            opts,
            source: PathBuf::new(),
            net,
            windows: Windows::default(),
            times: Vec::new(),
            size: None,
            prev_hsv: None,
            last_cut: 0,
            cuts: Vec::new(),
            window: std::collections::VecDeque::new(),
            recent: Default::default(),
            sample: Sample::default(),
            emitted: 0,
        })
    }
}

impl Scenes {
    /// `adaptive`: judge the middle frame of the window once its neighbours are known.
    fn adaptive(&mut self, index: usize, score: f64) {
        self.window.push_back((index, score));
        if self.window.len() < 2 * ADAPTIVE_WINDOW + 1 {
            return;
        }
        let (frame, value) = self.window[ADAPTIVE_WINDOW];
        let others: f64 = self
            .window
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != ADAPTIVE_WINDOW)
            .map(|(_, (_, v))| *v)
            .sum::<f64>()
            / (2 * ADAPTIVE_WINDOW) as f64;
        let ratio = if others.abs() < 1e-5 {
            if value >= ADAPTIVE_MIN_CONTENT {
                255.0
            } else {
                0.0
            }
        } else {
            value / others
        };
        if ratio >= self.opts.threshold
            && value >= ADAPTIVE_MIN_CONTENT
            && frame - self.last_cut >= self.opts.min_scene_len
        {
            self.cuts.push(Cut {
                frame,
                time: self.times[frame],
                score: ratio,
            });
            self.last_cut = frame;
        }
        self.window.pop_front();
    }
}

/// OpenCV's fixed-point tables of 8-bit RGB -> HSV (`RGB2HSV_b`, hsv_shift 12): S's
/// 255/V and H's 180/(6 diff), rounded.
struct HsvTables {
    sdiv: [i32; 256],
    hdiv: [i32; 256],
}

fn hsv_tables() -> &'static HsvTables {
    static T: std::sync::OnceLock<HsvTables> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut t = HsvTables {
            sdiv: [0; 256],
            hdiv: [0; 256],
        };
        for i in 1..256 {
            t.sdiv[i] = ((255 << 12) as f64 / i as f64).round() as i32;
            t.hdiv[i] = ((180 << 12) as f64 / (6.0 * i as f64)).round() as i32;
        }
        t
    })
}

/// An 8-bit RGB pixel to HSV as OpenCV's `COLOR_RGB2HSV` computes it for 8-bit pictures
/// (H 0..179), with its fixed-point arithmetic: what PySceneDetect scores.
pub fn hsv(r: u8, g: u8, b: u8) -> [u8; 3] {
    let t = hsv_tables();
    let (r, g, b) = (r as i32, g as i32, b as i32);
    let v = r.max(g).max(b);
    let diff = v - r.min(g).min(b);
    const HALF: i32 = 1 << 11;
    let s = (diff * t.sdiv[v as usize] + HALF) >> 12;
    let h = if v == r {
        g - b
    } else if v == g {
        b - r + 2 * diff
    } else {
        r - g + 4 * diff
    };
    let mut h = (h * t.hdiv[diff as usize] + HALF) >> 12;
    if h < 0 {
        h += 180;
    }
    [h as u8, s as u8, v as u8]
}

/// PySceneDetect's auto-downscale: frames wider than 256 pixels are scaled to about 256 wide.
fn content_size(w: usize, h: usize) -> (u32, u32) {
    if w <= 256 {
        return (w.max(1) as u32, h.max(1) as u32);
    }
    let k = w as f64 / 256.0;
    (
        ((w as f64 / k).round() as u32).max(1),
        ((h as f64 / k).round() as u32).max(1),
    )
}

impl Operation for Scenes {
    fn name(&self) -> &'static str {
        "scenes"
    }

    fn needs(&mut self, input: &Input) -> Needs {
        self.source = input.path.clone();
        Needs {
            video: Some(Select::All),
            audio: None,
            subtitles: false,
        }
    }

    fn video(&mut self, frame: &Frame, out: &mut dyn Emit) -> Result<Flow> {
        let index = self.times.len();
        if self.opts.detector != Detector::Transnet {
            self.recent.push_back((index, frame.clone()));
            if self.recent.len() > 2 * ADAPTIVE_WINDOW + 2 {
                self.recent.pop_front();
            }
        }
        self.times.push(frame.time.unwrap_or(index as f64 / 25.0));
        let conv = |r: String| Error::failed(&self.source, format!("scenes: {r}"));
        match self.opts.detector {
            Detector::Transnet => {
                let rgb = frame
                    .rgb(Some((
                        vx_infer::transnet::WIDTH as u32,
                        vx_infer::transnet::HEIGHT as u32,
                    )))
                    .map_err(conv)?;
                if let Some(net) = self.net.as_mut() {
                    self.windows.push(net, &rgb.data)?;
                }
            }
            Detector::Content | Detector::Adaptive => {
                let size = *self.size.get_or_insert_with(|| {
                    let (w, h) = frame.size();
                    content_size(w, h)
                });
                // The decoder's picture scaled to about 256 wide in RGB by libswscale (area
                // filter, full chroma: a 4:2:0 picture's nearest chroma scored a crossfade
                // above the threshold where PySceneDetect does not), then HSV by OpenCV's
                // fixed-point formulas.
                let rgb = frame.rgb(Some(size)).map_err(conv)?;
                let hsv_img: Vec<u8> = rgb
                    .data
                    .chunks_exact(3)
                    .flat_map(|p| hsv(p[0], p[1], p[2]))
                    .collect();
                if let Some(prev) = &self.prev_hsv {
                    if prev.len() == hsv_img.len() {
                        let n = (hsv_img.len() / 3).max(1) as f64;
                        let mut d = [0u64; 3];
                        for (a, b) in hsv_img.chunks_exact(3).zip(prev.chunks_exact(3)) {
                            for c in 0..3 {
                                d[c] += (a[c] as i32 - b[c] as i32).unsigned_abs() as u64;
                            }
                        }
                        let score = d.iter().map(|&x| x as f64 / n).sum::<f64>() / 3.0;
                        if self.opts.detector == Detector::Content
                            && score >= self.opts.threshold
                            && index - self.last_cut >= self.opts.min_scene_len
                        {
                            self.cuts.push(Cut {
                                frame: index,
                                time: self.times[index],
                                score,
                            });
                            self.last_cut = index;
                        }
                        if self.opts.detector == Detector::Adaptive {
                            self.adaptive(index, score);
                        }
                    }
                } else if self.opts.detector == Detector::Adaptive {
                    // The first frame scores 0 (nothing before it), as in PySceneDetect.
                    self.adaptive(index, 0.0);
                }
                self.prev_hsv = Some(hsv_img);
            }
        }
        // One frame per scene goes on to later stages (`"scenes;[detect,ocr]"`): the one
        // nearest its middle (`Sample`), as soon as the scene's end is known; the last scene's
        // in `flush`. (`transnet` knows its cuts only at the end of the file: it hands on the
        // file's first frame alone.)
        if self.opts.detector == Detector::Transnet {
            if index == 0 {
                out.emit(frame.clone());
            }
            return Ok(Flow::Continue);
        }
        while let Some(cut) = self.cuts.get(self.emitted) {
            let next = cut.frame;
            if let Some(f) = self.sample.middle(next) {
                out.emit(f.clone());
            }
            // The new scene's frames seen so far (`adaptive` knows a cut late).
            let seen = self.recent.iter().filter(|(i, _)| *i >= next && *i < index);
            self.sample.restart(next, seen);
            self.emitted += 1;
        }
        self.sample.push(index, frame);
        Ok(Flow::Continue)
    }

    fn flush(&mut self, _end: &End, out: &mut dyn Emit) -> Result<()> {
        if self.opts.detector != Detector::Transnet {
            if let Some(f) = self.sample.middle(self.times.len()) {
                out.emit(f.clone());
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        let n = self.times.len();
        if n == 0 {
            return Err(vx_media::MediaError::NoFrames {
                path: self.source.clone(),
                detail: end.no_frame_detail.clone(),
            }
            .into());
        }
        let fps = end
            .video
            .as_ref()
            .and_then(|v| v.frame_rate)
            .filter(|f| *f > 0.0)
            .unwrap_or(25.0);
        // Scenes as (first frame, last frame).
        let spans: Vec<(usize, usize)> = match self.opts.detector {
            Detector::Content | Detector::Adaptive => {
                let mut starts: Vec<usize> = vec![0];
                starts.extend(self.cuts.iter().map(|c| c.frame));
                starts
                    .iter()
                    .enumerate()
                    .map(|(i, &s)| (s, starts.get(i + 1).map_or(n - 1, |&e| e - 1)))
                    .collect()
            }
            Detector::Transnet => {
                if let Some(net) = self.net.as_mut() {
                    self.windows.finish(net)?;
                }
                let p = &self.windows.single;
                let spans = vx_infer::transnet::scenes(p, self.opts.threshold as f32);
                // A cut is the first frame of every scene but the first.
                self.cuts = spans
                    .iter()
                    .skip(1)
                    .map(|&(s, _)| Cut {
                        frame: s,
                        time: self.times.get(s).copied().unwrap_or(0.0),
                        score: p.get(s.saturating_sub(1)).copied().unwrap_or(0.0) as f64,
                    })
                    .collect();
                spans
            }
        };
        let time = |f: usize| self.times.get(f).copied().unwrap_or(f as f64 / fps);
        // A scene ends where the next frame starts (variable frame rates included: the average
        // rate made scenes overlap); the last frame lasts as long as the one before it.
        // Timestamps that go backwards (two streams joined, a reset) fall back to the last
        // frame's rule.
        let end_of = |e: usize| match self.times.get(e + 1) {
            Some(&next) if next > time(e) => next,
            _ => {
                let last = time(e) - if e > 0 { time(e - 1) } else { 0.0 };
                time(e) + if e > 0 && last > 0.0 { last } else { 1.0 / fps }
            }
        };
        let scenes = spans
            .iter()
            .enumerate()
            .map(|(index, &(s, e))| Scene {
                index,
                start: time(s),
                end: end_of(e),
                start_frame: s,
                end_frame: e,
            })
            .collect();
        let warnings = end.video_warnings.clone();
        let report = ScenesReport {
            source: self.source.clone(),
            detector: self.opts.detector,
            threshold: self.opts.threshold,
            min_scene_len: (self.opts.detector != Detector::Transnet)
                .then_some(self.opts.min_scene_len),
            model: self.opts.model.clone(),
            frames: n,
            scenes,
            cuts: std::mem::take(&mut self.cuts),
            complete: warnings.is_empty(),
            warnings: warnings.clone(),
        };
        Ok(Output::warned(report, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_as_opencv() {
        // Checked once against cv2.cvtColor(COLOR_RGB2HSV) of OpenCV 4.11 for all 2^24 colours:
        // no difference. Spot values:
        assert_eq!(hsv(255, 0, 0), [0, 255, 255]);
        assert_eq!(hsv(0, 255, 0), [60, 255, 255]);
        assert_eq!(hsv(0, 0, 255), [120, 255, 255]);
        assert_eq!(hsv(0, 0, 0), [0, 0, 0]);
        assert_eq!(hsv(128, 128, 128), [0, 0, 128]);
        assert_eq!(hsv(255, 128, 0), [15, 255, 255]);
        assert_eq!(content_size(1920, 1080), (256, 144));
        assert_eq!(content_size(160, 90), (160, 90));
    }

    /// The sample never holds more than `cap` frames, and its choice is the middle frame of a
    /// scene of up to `cap` frames, else within half its stride of it.
    #[test]
    fn sample_is_bounded_and_near_the_middle() {
        let px = vec![0u8; 4 * 4 * 3];
        let frames: Vec<Frame> = (0..700)
            .map(|i| {
                let f = vx_media::source::VideoFrame::from_rgb(4, 4, &px, Some(i as f64), true);
                Frame::new(f.unwrap())
            })
            .collect();
        for start in [0, 5] {
            for len in 1..(700 - start) {
                let mut s = Sample {
                    cap: 8,
                    ..Default::default()
                };
                s.restart(start, std::iter::empty());
                for (i, f) in frames.iter().enumerate().skip(start).take(len) {
                    s.push(i, f);
                    assert!(s.frames.len() <= 8, "{start} {len}");
                }
                let next = start + len;
                let got = s.middle(next).unwrap().time.unwrap() as usize;
                let mid = (start + next - 1) / 2;
                if len <= 8 {
                    assert_eq!(got, mid, "{start} {len}");
                } else {
                    assert!(
                        got.abs_diff(mid) <= s.stride / 2,
                        "{start} {len}: {got} {mid}"
                    );
                    // The stride, and so the distance, stays a small part of the scene.
                    assert!(s.stride * 6 <= len, "{start} {len}: stride {}", s.stride);
                }
            }
        }
        // Pictures that grow mid-stream: the sample shrinks to what the budget holds of them
        // (it kept the first size's 256 frames).
        let small = vec![0u8; 4 * 4 * 3];
        let big = vec![0u8; 1500 * 1500 * 3];
        let mut s = Sample::default();
        s.restart(0, std::iter::empty());
        for i in 0..120 {
            let (w, px) = if i < 100 { (4, &small) } else { (1500, &big) };
            let f = vx_media::source::VideoFrame::from_rgb(w, w, px, Some(i as f64), true);
            s.push(i, &Frame::new(f.unwrap()));
            if i >= 100 {
                // 32 M pixels hold 14 pictures of 1500x1500.
                assert!(s.frames.len() <= 14, "{i}: {}", s.frames.len());
            }
        }
        // The frames of a scene that had already ended are not chosen for the next one.
        let mut s = Sample {
            cap: 8,
            ..Default::default()
        };
        s.restart(0, std::iter::empty());
        assert!(s.middle(0).is_none());
    }
}
