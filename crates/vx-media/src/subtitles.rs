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
}

fn is_bitmap(codec: &str) -> bool {
    matches!(
        codec,
        "dvd_subtitle" | "dvb_subtitle" | "hdmv_pgs_subtitle" | "xsub" | "dvb_teletext"
    )
}

fn tracks_of(ictx: &ff::format::context::Input) -> Vec<SubtitleTrack> {
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

/// Extract the cues of the `nth` subtitle stream (None: the first one that is text).
pub fn extract(path: &Path, nth: Option<usize>) -> Result<(SubtitleTrack, Vec<Cue>)> {
    let mut ictx = open_input(path)?;
    let all = tracks_of(&ictx);
    let none = || MediaError::NoStream {
        path: path.into(),
        kind: "subtitle",
    };
    let track = match nth {
        Some(n) => all.get(n).cloned().ok_or_else(|| {
            if all.is_empty() {
                none()
            } else {
                MediaError::InvalidOption(format!(
                    "{}: no subtitle stream #{n} (the file has {})",
                    path.display(),
                    all.len()
                ))
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
    // SAFETY: a plain field of an open format context.
    let container_start = ts_seconds(unsafe { (*ictx.as_ptr()).start_time }, {
        ff::Rational::new(1, ff::ffi::AV_TIME_BASE)
    })
    .filter(|s| s.is_finite())
    .unwrap_or(0.0);
    let stream = ictx.stream(track.stream_index).ok_or_else(none)?;
    let tb = stream.time_base();
    let params = stream.parameters();
    let codec = ff::decoder::find(params.id()).ok_or_else(|| MediaError::UnsupportedCodec {
        path: path.into(),
        codec: track.codec.clone(),
    })?;
    let mut cctx = ff::codec::Context::from_parameters(params).map_err(|e| MediaError::Decode {
        path: path.into(),
        reason: e.to_string(),
    })?;
    // SAFETY: plain field write on a codec context that is not opened yet.
    unsafe { (*cctx.as_mut_ptr()).pkt_timebase = tb.into() };
    let mut dec = cctx
        .decoder()
        .open_as(codec)
        .and_then(|o| o.subtitle())
        .map_err(|e| MediaError::Decode {
            path: path.into(),
            reason: format!("cannot open the subtitle decoder: {e}"),
        })?;
    let index = track.stream_index;
    let mut cues = Vec::new();
    for (s, packet) in ictx.packets() {
        if s.index() != index {
            continue;
        }
        let mut sub = ff::Subtitle::new();
        let Ok(true) = dec.decode(&packet, &mut sub) else {
            continue;
        };
        let Some(pts) = packet.pts().and_then(|p| ts_seconds(p, tb)) else {
            continue;
        };
        let at = pts - container_start;
        let start = at + sub.start() as f64 / 1000.0;
        let end = match sub.end() {
            // No display end: the packet's duration says how long it shows.
            0 | u32::MAX => at + ts_seconds(packet.duration(), tb).unwrap_or(0.0),
            e => at + e as f64 / 1000.0,
        };
        let mut text = Vec::new();
        for r in sub.rects() {
            match r {
                ff::subtitle::Rect::Ass(a) => text.push(ass_text(a.get())),
                ff::subtitle::Rect::Text(t) => text.push(t.get().trim().to_string()),
                _ => {}
            }
        }
        let text = text.join("\n");
        if !text.is_empty() {
            cues.push(Cue {
                start,
                end: end.max(start),
                text,
            });
        }
    }
    cues.sort_by(|a, b| a.start.total_cmp(&b.start));
    Ok((track, cues))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ass_events_to_text() {
        assert_eq!(
            ass_text("0,0,Default,,0,0,0,,{\\i1}Hello{\\i0}, world\\Nsecond line"),
            "Hello, world\nsecond line"
        );
        assert_eq!(
            ass_text("Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,a\\hb"),
            "a b"
        );
        assert_eq!(ass_text("no commas"), "no commas");
        assert!(is_bitmap("hdmv_pgs_subtitle") && !is_bitmap("subrip"));
    }
}
