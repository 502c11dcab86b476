//! `probe`: container and stream metadata (what `vx probe` prints), read from the one open
//! file: no packet is read for it — except a still image's, whose EXIF orientation libavcodec
//! only tells on the decoded picture (one frame).
use crate::frame::Frame;
use crate::op::{Emit, End, Flow, Input, Needs, Operation, Output, Select};
use crate::Result;

#[derive(Default)]
pub struct Probe {
    info: Option<serde_json::Value>,
}

/// Set the rotation of the video streams of `probe` that say none to `rotation` (a still
/// image's EXIF orientation, known once its picture is decoded).
pub fn set_still_rotation(probe: &mut serde_json::Value, rotation: i32) {
    for s in probe["streams"].as_array_mut().into_iter().flatten() {
        if s["type"] == "video" && s["rotation"].as_i64().unwrap_or(0) == 0 {
            s["rotation"] = serde_json::json!(rotation);
        }
    }
}

impl Operation for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn needs(&mut self, input: &Input) -> Needs {
        self.info = input.probe.clone();
        // Only a JPEG carries EXIF orientation that libavcodec reports; other stills are not
        // decoded (a large PNG costs a decode, and a still without a decoder in this build
        // must still probe).
        let jpeg = self.info.as_ref().is_some_and(|p| {
            p["streams"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["type"] == "video" && s["codec"] == "mjpeg")
        });
        Needs {
            video: (input.still && input.has_video && jpeg).then_some(Select::All),
            ..Needs::default()
        }
    }
    fn video(&mut self, frame: &Frame, _out: &mut dyn Emit) -> Result<Flow> {
        if let Some(info) = self.info.as_mut() {
            set_still_rotation(info, frame.rotation());
        }
        Ok(Flow::Stop)
    }
    fn finish(self: Box<Self>, _: &End) -> Result<Output> {
        Ok(Output::new(self.info.unwrap_or(serde_json::Value::Null)))
    }
}
