#![no_main]
//! The ONNX protobuf reader vx uses to cut models (vx_infer::onnx_graph): any bytes must give
//! a value or an error, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vx_infer::onnx_graph::extract(data, &["Postprocessor/Slice:0", "b"]);
    let _ = vx_infer::onnx_graph::scalar_floats(data, |_| true);
    let _ = vx_infer::onnx_graph::node_outputs(data);
    let _ = vx_infer::onnx_graph::constants(data, |_| true);
    if let Ok(Some(m)) = vx_infer::onnx_graph::inline_branch(data, "then_branch") {
        let _ = vx_infer::onnx_graph::extract(&m, &["b"]);
    }
});
