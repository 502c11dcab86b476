//! Minimal protobuf writer for an ONNX model whose output is a constant: enough to check
//! the YOLO decoding, letterbox inversion and NMS end to end through ONNX Runtime.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
fn key(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, (field << 3) | wire);
}
fn int(out: &mut Vec<u8>, field: u64, v: u64) {
    key(out, field, 0);
    varint(out, v);
}
fn bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    key(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}
fn value_info(name: &str, dims: &[u64]) -> Vec<u8> {
    let mut shape = Vec::new();
    for &d in dims {
        let mut dim = Vec::new();
        int(&mut dim, 1, d);
        bytes(&mut shape, 1, &dim);
    }
    let mut tensor = Vec::new();
    int(&mut tensor, 1, 1); // FLOAT
    bytes(&mut tensor, 2, &shape);
    let mut ty = Vec::new();
    bytes(&mut ty, 1, &tensor);
    let mut vi = Vec::new();
    bytes(&mut vi, 1, name.as_bytes());
    bytes(&mut vi, 2, &ty);
    vi
}
/// Model: input "images" [1,3,h,w] (unused), output "output0" = constant `values` of `dims`.
pub fn constant_model(h: u64, w: u64, dims: &[u64], values: &[f32]) -> Vec<u8> {
    let mut t = Vec::new();
    for &d in dims {
        int(&mut t, 1, d);
    }
    int(&mut t, 2, 1);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    bytes(&mut t, 9, &raw);
    let mut attr = Vec::new();
    bytes(&mut attr, 1, b"value");
    bytes(&mut attr, 5, &t);
    int(&mut attr, 20, 4); // TENSOR
    let mut node = Vec::new();
    bytes(&mut node, 2, b"output0");
    bytes(&mut node, 3, b"const");
    bytes(&mut node, 4, b"Constant");
    bytes(&mut node, 5, &attr);
    let mut graph = Vec::new();
    bytes(&mut graph, 1, &node);
    bytes(&mut graph, 2, b"yolo-test");
    bytes(&mut graph, 11, &value_info("images", &[1, 3, h, w]));
    bytes(&mut graph, 12, &value_info("output0", dims));
    let mut opset = Vec::new();
    bytes(&mut opset, 1, b"");
    int(&mut opset, 2, 13);
    let mut model = Vec::new();
    int(&mut model, 1, 8);
    bytes(&mut model, 2, b"vx-test");
    bytes(&mut model, 7, &graph);
    bytes(&mut model, 8, &opset);
    model
}
