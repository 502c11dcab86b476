//! `subtitles`: the cues of the file's text subtitle stream (mov_text, SubRip, ASS, WebVTT...)
//! on the one timeline, decoded from the one demux pass. Where a file has them they are what
//! is said, exactly: the search index takes them as speech.
use std::path::PathBuf;

use serde::Serialize;
use vx_media::subtitles::Cue;

use crate::op::{End, Flow, Input, Needs, Operation, Output};
use crate::Result;

/// `subtitles.json` (and `vx subtitles --format json`).
#[derive(Debug, Clone, Serialize)]
pub struct SubtitlesReport {
    #[serde(serialize_with = "vx_image::secs::lossy_path")]
    pub source: PathBuf,
    /// The stream's index among all the file's streams.
    pub stream_index: usize,
    pub codec: String,
    /// Left out when the file does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Sorted by start.
    pub cues: Vec<Cue>,
    pub complete: bool,
    pub warnings: Vec<String>,
}

#[derive(Default)]
pub struct Subtitles {
    source: PathBuf,
    cues: Vec<Cue>,
}

impl Operation for Subtitles {
    fn name(&self) -> &'static str {
        "subtitles"
    }

    fn needs(&mut self, input: &Input) -> Needs {
        self.source = input.path.clone();
        Needs {
            subtitles: true,
            ..Needs::default()
        }
    }

    fn subtitle(&mut self, cue: &Cue) -> Result<Flow> {
        self.cues.push(cue.clone());
        Ok(Flow::Continue)
    }

    fn finish(mut self: Box<Self>, end: &End) -> Result<Output> {
        let track = end
            .subtitles
            .clone()
            .ok_or_else(|| crate::Error::failed(&self.source, "no subtitle stream was decoded"))?;
        // Stored in decoding order, shown by time (ASS events are stored by read order).
        self.cues.sort_by(|a, b| a.start.total_cmp(&b.start));
        let mut warnings = Vec::new();
        let bad = self.cues.iter().filter(|c| c.not_utf8).count();
        if bad > 0 {
            warnings.push(format!(
                "{bad} cue(s) not in UTF-8: read as Windows-1252 (Western European); a file in another character set needs converting to UTF-8 first (iconv)"
            ));
        }
        let report = SubtitlesReport {
            source: self.source,
            stream_index: track.stream_index,
            codec: track.codec,
            language: track.language,
            cues: self.cues,
            complete: warnings.is_empty(),
            warnings: warnings.clone(),
        };
        Ok(Output::warned(report, warnings))
    }
}
