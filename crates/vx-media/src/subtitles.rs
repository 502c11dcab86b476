//! Embedded text subtitles (mov_text, SubRip, ASS/SSA, WebVTT...) as cues on the one timeline:
//! ground truth for what is said, when a file has them. Bitmap subtitles (DVD, PGS, DVB) are
//! pictures of text: listed, refused with a clear error (OCR is their way).
use std::path::Path;

use ffmpeg_next as ff;
use serde::Serialize;

use crate::error::{MediaError, Result};
use crate::probe::{codec_name, open_input, ts_seconds};

/// One subtitle stream of a file.
#[derive(Debug, Clone, Serialize)]
pub struct SubtitleTrack {
    /// Index among all the file's streams.
    pub stream_index: usize,
    /// Position among its subtitle streams (what `--stream N` picks).
    pub nth: usize,
    pub codec: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// A bitmap format (pictures of text): not extracted.
    pub bitmap: bool,
}

/// One subtitle, seconds on the file's timeline (container start subtracted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cue {
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub start: f64,
    #[serde(serialize_with = "vx_image::secs::ms")]
    pub end: f64,
    pub text: String,
    /// The text was not UTF-8 (a file in another character set): read as Windows-1252. Not
    /// in the JSON; the report warns.
    #[serde(skip)]
    pub not_utf8: bool,
}

/// Text in Windows-1252 (what a subtitle file that is not UTF-8 most often is: Western
/// European, a superset of Latin-1), every byte a character: 0x80-0x9F its typographic
/// marks, the five bytes it leaves undefined their C1 control codes (as WHATWG's decoder).
pub fn windows_1252(bytes: &[u8]) -> String {
    const HIGH: [u16; 32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ];
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => char::from_u32(HIGH[(b - 0x80) as usize] as u32).unwrap_or('\u{fffd}'),
            _ => b as char,
        })
        .collect()
}

fn is_bitmap(codec: &str) -> bool {
    matches!(
        codec,
        "dvd_subtitle" | "dvb_subtitle" | "hdmv_pgs_subtitle" | "xsub" | "dvb_teletext"
    )
}

pub(crate) fn tracks_of(ictx: &ff::format::context::Input) -> Vec<SubtitleTrack> {
    ictx.streams()
        .filter(|s| s.parameters().medium() == ff::media::Type::Subtitle)
        .enumerate()
        .map(|(nth, s)| {
            let codec = codec_name(s.parameters().id());
            SubtitleTrack {
                stream_index: s.index(),
                nth,
                bitmap: is_bitmap(&codec),
                codec,
                language: s.metadata().get("language").map(str::to_string),
            }
        })
        .collect()
}

/// The subtitle streams of `path`.
pub fn tracks(path: &Path) -> Result<Vec<SubtitleTrack>> {
    Ok(tracks_of(&open_input(path)?))
}

/// The text of an ASS event as FFmpeg's decoders give it ("ReadOrder,Layer,Style,Name,
/// MarginL,MarginR,MarginV,Effect,Text"; older builds start with "Dialogue: Marked,Start,End,
/// ..."), without its override blocks (`{\i1}`), with `\N` as a line break.
pub fn ass_text(event: &str) -> String {
    let body = event.strip_prefix("Dialogue:").unwrap_or(event);
    let fields = if event.starts_with("Dialogue:") { 9 } else { 8 };
    let text = body.splitn(fields + 1, ',').nth(fields).unwrap_or(body);
    let mut out = String::new();
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            '\\' => match chars.peek() {
                Some('N') | Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('h') => {
                    chars.next();
                    out.push(' ');
                }
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    out.trim().to_string()
}

/// The subtitle stream `nth` picks among `all` (None: the first text one); a bitmap stream is
/// refused (pictures of text: OCR is their way).
pub fn choose_track(
    path: &Path,
    all: &[SubtitleTrack],
    nth: Option<usize>,
) -> Result<SubtitleTrack> {
    let none = || MediaError::NoStream {
        path: path.into(),
        kind: "subtitle",
    };
    let track = match nth {
        Some(n) => all.get(n).cloned().ok_or_else(|| {
            if all.is_empty() {
                none()
            } else {
                MediaError::NoSuchStream {
                    path: path.into(),
                    kind: "subtitle",
                    n,
                    count: all.len(),
                }
            }
        })?,
        None => all
            .iter()
            .find(|t| !t.bitmap)
            .or(all.first())
            .cloned()
            .ok_or_else(none)?,
    };
    if track.bitmap {
        return Err(MediaError::UnsupportedCodec {
            path: path.into(),
            codec: format!(
                "{} (bitmap subtitles are pictures of text; only text subtitles are extracted)",
                track.codec
            ),
        });
    }
    Ok(track)
}

/// A text subtitle decoder fed with its stream's packets (by the one
/// demuxer of [`crate::source::Source`]).
pub struct SubtitleDecoder {
    dec: ff::decoder::Subtitle,
    tb: ff::Rational,
    /// Container start time (seconds): the timeline's origin.
    origin: f64,
    pub track: SubtitleTrack,
}

impl SubtitleDecoder {
    /// Open the decoder of `track` (a stream of `ictx`); `origin`: the container's start.
    pub fn open(
        path: &Path,
        ictx: &ff::format::context::Input,
        track: SubtitleTrack,
        origin: f64,
    ) -> Result<SubtitleDecoder> {
        let stream = ictx
            .stream(track.stream_index)
            .ok_or_else(|| MediaError::NoStream {
                path: path.into(),
                kind: "subtitle",
            })?;
        let tb = stream.time_base();
        let params = stream.parameters();
        let codec = ff::decoder::find(params.id()).ok_or_else(|| MediaError::UnsupportedCodec {
            path: path.into(),
            codec: track.codec.clone(),
        })?;
        let mut cctx =
            ff::codec::Context::from_parameters(params).map_err(|e| MediaError::Decode {
                path: path.into(),
                reason: e.to_string(),
            })?;
        // SAFETY: plain field writes on a codec context that is not opened yet. Text that is not
        // UTF-8 is passed through unchecked (FFmpeg would drop the whole cue) and read lossily
        // below.
        unsafe {
            (*cctx.as_mut_ptr()).pkt_timebase = tb.into();
            (*cctx.as_mut_ptr()).sub_charenc_mode = ff::ffi::FF_SUB_CHARENC_MODE_IGNORE;
        }
        let dec = cctx
            .decoder()
            .open_as(codec)
            .and_then(|o| o.subtitle())
            .map_err(|e| MediaError::Decode {
                path: path.into(),
                reason: format!("cannot open the subtitle decoder: {e}"),
            })?;
        Ok(SubtitleDecoder {
            dec,
            tb,
            origin,
            track,
        })
    }

    /// The stream's index among all the file's streams.
    pub fn index(&self) -> usize {
        self.track.stream_index
    }

    /// Decode one packet of the stream: its cue, if it holds text.
    pub fn push(&mut self, packet: &ff::Packet) -> Option<Cue> {
        let mut sub = ff::Subtitle::new();
        let Ok(true) = self.dec.decode(packet, &mut sub) else {
            return None;
        };
        let tb = self.tb;
        let at = packet.pts().and_then(|p| ts_seconds(p, tb))? - self.origin;
        let start = at + sub.start() as f64 / 1000.0;
        let end = match sub.end() {
            // No display end: the packet's duration says how long it shows.
            0 | u32::MAX => at + ts_seconds(packet.duration(), tb).unwrap_or(0.0),
            e => at + e as f64 / 1000.0,
        };
        // The rectangles' text as bytes (ffmpeg-next's `get` assumes UTF-8, which the decoder
        // no longer checks).
        let bytes = |p: *const std::os::raw::c_char| -> Vec<u8> {
            if p.is_null() {
                return Vec::new();
            }
            // SAFETY: a NUL-terminated string owned by the decoded subtitle, read while it lives.
            unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes().to_vec()
        };
        let mut text = Vec::new();
        let mut not_utf8 = false;
        let mut lossy = |b: Vec<u8>| match String::from_utf8(b) {
            Ok(t) => t,
            Err(e) => {
                not_utf8 = true;
                windows_1252(e.as_bytes())
            }
        };
        for r in sub.rects() {
            match r {
                // SAFETY: the rectangle's own fields, read while `sub` lives.
                ff::subtitle::Rect::Ass(a) => {
                    text.push(ass_text(&lossy(bytes(unsafe { (*a.as_ptr()).ass }))))
                }
                ff::subtitle::Rect::Text(t) => text.push(
                    lossy(bytes(unsafe { (*t.as_ptr()).text }))
                        .trim()
                        .to_string(),
                ),
                _ => {}
            }
        }
        let text = text.join("\n");
        (!text.is_empty()).then(|| Cue {
            start,
            end: end.max(start),
            text,
            not_utf8,
        })
    }
}
