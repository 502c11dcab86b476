//! `probe`: container and stream metadata (what `vx probe` prints), read from the one open
//! file: no packet is read for it.
use crate::op::{End, Input, Needs, Operation, Output};
use crate::Result;

#[derive(Default)]
pub struct Probe {
    info: Option<serde_json::Value>,
}

impl Operation for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn needs(&mut self, input: &Input) -> Needs {
        self.info = input.probe.clone();
        Needs::default()
    }
    fn finish(self: Box<Self>, _: &End) -> Result<Output> {
        Ok(Output::new(self.info.unwrap_or(serde_json::Value::Null)))
    }
}
