//! Just enough of the ONNX protobuf format to cut a model down to the part vx runs: keep the
//! nodes a given set of tensors needs, drop the rest (with the initializers only they used),
//! and make those tensors the graph's outputs.
//!
//! Why: the TF Object Detection API SSD export carries TensorFlow's post-processing as an ONNX
//! `Loop` whose body unrolls per-class NMS over 90 classes (5 520 nodes). ONNX Runtime takes
//! about 6.5 s to create a session for that graph and ~3x longer per image than for the
//! network alone (0.2 s, see `detect::SsdDetector`); vx does that post-processing in Rust.
//!
//! Works on the protobuf wire format directly (no generated code): a model is parsed into
//! fields, the graph's fields filtered, and everything re-encoded with the original bytes of
//! each kept field. The input is untrusted: every length is checked (fuzzed in
//! `fuzz/fuzz_targets/onnx_graph.rs` and `tests/fuzz_smoke.rs`).
use std::collections::{HashMap, HashSet};

/// Why a buffer is not a protobuf message we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed ONNX protobuf: {0}")]
pub struct Malformed(pub &'static str);

type R<T> = std::result::Result<T, Malformed>;

/// One field of a message: its number, and either a varint/fixed value or a byte payload.
#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    number: u64,
    /// The whole field as it appeared (tag included), to copy it unchanged.
    raw: &'a [u8],
    /// Payload of a length-delimited field (wire type 2); empty for the others.
    bytes: &'a [u8],
    wire: u8,
}

fn varint(buf: &[u8], pos: &mut usize) -> R<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(Malformed("truncated varint"))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Malformed("varint too long"))
}

fn fields(buf: &[u8]) -> R<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let tag = varint(buf, &mut pos)?;
        let (number, wire) = (tag >> 3, (tag & 7) as u8);
        if number == 0 {
            return Err(Malformed("field number 0"));
        }
        let mut bytes: &[u8] = &[];
        match wire {
            0 => {
                varint(buf, &mut pos)?;
            }
            1 => pos = pos.checked_add(8).ok_or(Malformed("overflow"))?,
            2 => {
                let len = varint(buf, &mut pos)?;
                let len = usize::try_from(len).map_err(|_| Malformed("length too large"))?;
                let end = pos.checked_add(len).ok_or(Malformed("overflow"))?;
                bytes = buf.get(pos..end).ok_or(Malformed("truncated field"))?;
                pos = end;
            }
            5 => pos = pos.checked_add(4).ok_or(Malformed("overflow"))?,
            _ => return Err(Malformed("unsupported wire type")),
        }
        let raw = buf.get(start..pos).ok_or(Malformed("truncated field"))?;
        out.push(Field {
            number,
            raw,
            bytes,
            wire,
        });
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
    put_varint(out, (number << 3) | 2);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

fn strings<'a>(fs: &[Field<'a>], number: u64) -> Vec<&'a str> {
    fs.iter()
        .filter(|f| f.number == number && f.wire == 2)
        .filter_map(|f| std::str::from_utf8(f.bytes).ok())
        .collect()
}

// Field numbers (onnx.proto3).
const MODEL_GRAPH: u64 = 7;
const GRAPH_NODE: u64 = 1;
const GRAPH_INITIALIZER: u64 = 5;
const GRAPH_OUTPUT: u64 = 12;
const GRAPH_VALUE_INFO: u64 = 13;
const NODE_INPUT: u64 = 1;
const NODE_OUTPUT: u64 = 2;
const NODE_OP_TYPE: u64 = 4;
const NODE_ATTRIBUTE: u64 = 5;
const ATTR_NAME: u64 = 1;
const ATTR_T: u64 = 5;
const ATTR_G: u64 = 6;
const ATTR_GRAPHS: u64 = 11;
const TENSOR_NAME: u64 = 8;
const VALUE_INFO_NAME: u64 = 1;

/// A node of the top-level graph: what it reads (its inputs and every outer name its
/// subgraphs read) and what it writes.
struct Node<'a> {
    reads: HashSet<&'a str>,
    writes: Vec<&'a str>,
}

/// Names a graph reads that it does not define itself (for a subgraph: its outer-scope
/// references), added to `reads`.
fn graph_reads<'a>(graph: &'a [u8], reads: &mut HashSet<&'a str>, depth: usize) -> R<()> {
    if depth > 16 {
        return Err(Malformed("subgraphs nested too deep"));
    }
    let fs = fields(graph)?;
    let mut defined: HashSet<&str> = HashSet::new();
    let mut used: HashSet<&str> = HashSet::new();
    for f in &fs {
        match f.number {
            GRAPH_NODE if f.wire == 2 => {
                let nf = fields(f.bytes)?;
                defined.extend(strings(&nf, NODE_OUTPUT));
                used.extend(strings(&nf, NODE_INPUT));
                node_subgraph_reads(&nf, &mut used, depth)?;
            }
            GRAPH_INITIALIZER if f.wire == 2 => {
                defined.extend(strings(&fields(f.bytes)?, TENSOR_NAME));
            }
            11 if f.wire == 2 => {
                // graph inputs
                defined.extend(strings(&fields(f.bytes)?, VALUE_INFO_NAME));
            }
            _ => {}
        }
    }
    reads.extend(
        used.into_iter()
            .filter(|n| !n.is_empty() && !defined.contains(n)),
    );
    Ok(())
}

fn node_subgraph_reads<'a>(
    node: &[Field<'a>],
    reads: &mut HashSet<&'a str>,
    depth: usize,
) -> R<()> {
    for a in node
        .iter()
        .filter(|f| f.number == NODE_ATTRIBUTE && f.wire == 2)
    {
        for g in fields(a.bytes)?
            .into_iter()
            .filter(|f| (f.number == ATTR_G || f.number == ATTR_GRAPHS) && f.wire == 2)
        {
            graph_reads(g.bytes, reads, depth + 1)?;
        }
    }
    Ok(())
}

/// Cut `model` (a serialized ModelProto) down to what computing `outputs` needs, with those
/// as the graph's outputs. `Ok(None)` when some of `outputs` is not produced by a top-level
/// node (not the model this was meant for).
pub fn extract(model: &[u8], outputs: &[&str]) -> R<Option<Vec<u8>>> {
    let mf = fields(model)?;
    let graphs: Vec<&Field> = mf
        .iter()
        .filter(|f| f.number == MODEL_GRAPH && f.wire == 2)
        .collect();
    let [graph] = graphs[..] else {
        return Err(Malformed("model needs exactly one graph"));
    };
    let gf = fields(graph.bytes)?;
    let mut nodes = Vec::new();
    for f in gf.iter().filter(|f| f.number == GRAPH_NODE && f.wire == 2) {
        let nf = fields(f.bytes)?;
        let mut reads: HashSet<&str> = strings(&nf, NODE_INPUT).into_iter().collect();
        node_subgraph_reads(&nf, &mut reads, 0)?;
        reads.remove("");
        nodes.push(Node {
            reads,
            writes: strings(&nf, NODE_OUTPUT),
        });
    }
    let producer: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.writes.iter().map(move |w| (*w, i)))
        .collect();
    if outputs.iter().any(|o| !producer.contains_key(o)) {
        return Ok(None);
    }
    // Backward closure from the wanted outputs.
    let mut keep = vec![false; nodes.len()];
    let mut todo: Vec<usize> = outputs
        .iter()
        .filter_map(|o| producer.get(o).copied())
        .collect();
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut keep[i], true) {
            continue;
        }
        for r in &nodes[i].reads {
            if let Some(&p) = producer.get(r) {
                if !keep[p] {
                    todo.push(p);
                }
            }
        }
    }
    let read: HashSet<&str> = nodes
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .flat_map(|(n, _)| n.reads.iter().copied())
        .collect();
    let written: HashSet<&str> = nodes
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .flat_map(|(n, _)| n.writes.iter().copied())
        .collect();
    // Re-encode the graph in its original field order.
    let mut g = Vec::with_capacity(graph.bytes.len());
    let mut node_index = 0;
    let mut outputs_written = false;
    for f in &gf {
        match f.number {
            GRAPH_NODE if f.wire == 2 => {
                if keep[node_index] {
                    g.extend_from_slice(f.raw);
                }
                node_index += 1;
            }
            GRAPH_INITIALIZER if f.wire == 2 => {
                let name = strings(&fields(f.bytes)?, TENSOR_NAME);
                if name.first().is_some_and(|n| read.contains(n)) {
                    g.extend_from_slice(f.raw);
                }
            }
            GRAPH_VALUE_INFO if f.wire == 2 => {
                let name = strings(&fields(f.bytes)?, VALUE_INFO_NAME);
                if name.first().is_some_and(|n| written.contains(n)) {
                    g.extend_from_slice(f.raw);
                }
            }
            GRAPH_OUTPUT => {
                if !std::mem::replace(&mut outputs_written, true) {
                    for o in outputs {
                        let mut vi = Vec::new();
                        put_bytes(&mut vi, VALUE_INFO_NAME, o.as_bytes());
                        put_bytes(&mut g, GRAPH_OUTPUT, &vi);
                    }
                }
            }
            _ => g.extend_from_slice(f.raw),
        }
    }
    if !outputs_written {
        return Err(Malformed("graph has no outputs"));
    }
    Ok(Some(with_graph(&mf, &g)))
}

/// The model whose fields are `mf` with its graph replaced by `graph` (encoded).
fn with_graph(mf: &[Field], graph: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(graph.len() + 64);
    for f in mf {
        if f.number == MODEL_GRAPH && f.wire == 2 {
            put_bytes(&mut out, MODEL_GRAPH, graph);
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    out
}

const TENSOR_DATA_TYPE: u64 = 2;
const TENSOR_FLOAT_DATA: u64 = 4;
const TENSOR_RAW_DATA: u64 = 9;

/// The top-level initializers that are single floats, with their names, for which `wanted`
/// says yes (reading constants such as thresholds out of a graph).
pub fn scalar_floats(model: &[u8], wanted: impl Fn(&str) -> bool) -> R<Vec<(String, f32)>> {
    let mut out = Vec::new();
    for t in graph_entries(model, GRAPH_INITIALIZER)? {
        let tf = fields(t)?;
        let Some(name) = strings(&tf, TENSOR_NAME).first().copied() else {
            continue;
        };
        if !wanted(name) {
            continue;
        }
        // dims absent or all 1, one FLOAT value.
        if let Some((dims, v)) = float_tensor(t)? {
            if let ([x], true) = (&v[..], dims.iter().all(|&d| d == 1)) {
                out.push((name.to_string(), *x));
            }
        }
    }
    Ok(out)
}

/// `model` with its top-level graph's nodes replaced by those of the branch `branch`
/// (`"then_branch"` or `"else_branch"`) of its one top-level `If` node, the branch's
/// initializers added: the graph computes what that branch computes, its tensors reachable by
/// name (for [`extract`] and [`constants`]). The graph's inputs and outputs are left as they
/// are (cut with [`extract`] to the outputs wanted). `Ok(None)` when the graph has no single
/// `If` with that branch.
pub fn inline_branch(model: &[u8], branch: &str) -> R<Option<Vec<u8>>> {
    let mf = fields(model)?;
    let Some(graph) = mf.iter().find(|f| f.number == MODEL_GRAPH && f.wire == 2) else {
        return Err(Malformed("model has no graph"));
    };
    let gf = fields(graph.bytes)?;
    let mut body = None;
    for f in gf.iter().filter(|f| f.number == GRAPH_NODE && f.wire == 2) {
        let nf = fields(f.bytes)?;
        if strings(&nf, NODE_OP_TYPE).first() != Some(&"If") {
            continue;
        }
        if body.is_some() {
            return Ok(None); // more than one If
        }
        for a in nf
            .iter()
            .filter(|f| f.number == NODE_ATTRIBUTE && f.wire == 2)
        {
            let af = fields(a.bytes)?;
            if strings(&af, ATTR_NAME).first() == Some(&branch) {
                body = af
                    .iter()
                    .find(|f| f.number == ATTR_G && f.wire == 2)
                    .map(|f| f.bytes);
            }
        }
    }
    let Some(body) = body else {
        return Ok(None);
    };
    let bf = fields(body)?;
    let mut g = Vec::with_capacity(body.len() + graph.bytes.len());
    let mut placed = false;
    for f in &gf {
        if f.number == GRAPH_NODE && f.wire == 2 {
            if !std::mem::replace(&mut placed, true) {
                for b in bf.iter().filter(|b| {
                    (b.number == GRAPH_NODE || b.number == GRAPH_INITIALIZER) && b.wire == 2
                }) {
                    g.extend_from_slice(b.raw);
                }
            }
        } else {
            g.extend_from_slice(f.raw);
        }
    }
    Ok(Some(with_graph(&mf, &g)))
}

/// The names written by the top-level graph's nodes, in order.
pub fn node_outputs(model: &[u8]) -> R<Vec<String>> {
    let mut out = Vec::new();
    for n in graph_entries(model, GRAPH_NODE)? {
        out.extend(
            strings(&fields(n)?, NODE_OUTPUT)
                .into_iter()
                .map(String::from),
        );
    }
    Ok(out)
}

/// The payloads of the top-level graph's fields numbered `number` (its nodes, its
/// initializers), in order.
fn graph_entries(model: &[u8], number: u64) -> R<Vec<&[u8]>> {
    let mut out = Vec::new();
    for g in fields(model)?
        .iter()
        .filter(|f| f.number == MODEL_GRAPH && f.wire == 2)
    {
        out.extend(
            fields(g.bytes)?
                .iter()
                .filter(|f| f.number == number && f.wire == 2)
                .map(|f| f.bytes),
        );
    }
    Ok(out)
}

/// A float tensor's name, dims and values.
pub type NamedTensor = (String, Vec<i64>, Vec<f32>);

/// The float tensors written by top-level `Constant` nodes (their `value`) whose output name
/// `wanted` says yes to: name, dims and values, in graph order (one pass over the graph).
pub fn constants(model: &[u8], wanted: impl Fn(&str) -> bool) -> R<Vec<NamedTensor>> {
    let mut out = Vec::new();
    for n in graph_entries(model, GRAPH_NODE)? {
        let nf = fields(n)?;
        if strings(&nf, NODE_OP_TYPE).first() != Some(&"Constant") {
            continue;
        }
        let Some(name) = strings(&nf, NODE_OUTPUT)
            .first()
            .copied()
            .filter(|n| wanted(n))
        else {
            continue;
        };
        for a in nf
            .iter()
            .filter(|f| f.number == NODE_ATTRIBUTE && f.wire == 2)
        {
            let af = fields(a.bytes)?;
            if let Some(t) = af.iter().find(|f| f.number == ATTR_T && f.wire == 2) {
                if let Some((dims, values)) = float_tensor(t.bytes)? {
                    out.push((name.to_string(), dims, values));
                }
            }
        }
    }
    Ok(out)
}

/// Dims and values of a FLOAT TensorProto (raw_data, or float_data packed or not).
fn float_tensor(t: &[u8]) -> R<Option<(Vec<i64>, Vec<f32>)>> {
    let tf = fields(t)?;
    let mut dims = Vec::new();
    let mut float = false;
    let mut data: &[u8] = &[];
    // float_data written unpacked: one field (wire type 5) per value.
    let mut unpacked = Vec::new();
    for f in &tf {
        match (f.number, f.wire) {
            (1, 0) => {
                let mut pos = 0;
                dims.push(fields_varint_value(f.raw, &mut pos)? as i64);
            }
            (1, 2) => {
                // packed dims
                let mut pos = 0;
                while pos < f.bytes.len() {
                    dims.push(varint(f.bytes, &mut pos)? as i64);
                }
            }
            (TENSOR_DATA_TYPE, 0) => {
                let mut pos = 0;
                float = fields_varint_value(f.raw, &mut pos)? == 1;
            }
            (TENSOR_RAW_DATA, 2) | (TENSOR_FLOAT_DATA, 2) => data = f.bytes,
            (TENSOR_FLOAT_DATA, 5) => {
                if let Some(b) = f.raw.last_chunk::<4>() {
                    unpacked.extend_from_slice(b);
                }
            }
            _ => {}
        }
    }
    let count = dims
        .iter()
        .try_fold(1i64, |a, &d| if d < 0 { None } else { a.checked_mul(d) })
        .ok_or(Malformed("tensor dims"))?;
    if data.is_empty() {
        data = &unpacked;
    }
    if !float || data.len() as i64 != count.saturating_mul(4) {
        return Ok(None);
    }
    let values = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Some((dims, values)))
}

/// The value of a varint field given its raw bytes (tag first).
fn fields_varint_value(raw: &[u8], pos: &mut usize) -> R<u64> {
    varint(raw, pos)?; // the tag
    varint(raw, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(inputs: &[&str], outputs: &[&str], sub: Option<&[u8]>) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            put_bytes(&mut n, NODE_INPUT, i.as_bytes());
        }
        for o in outputs {
            put_bytes(&mut n, NODE_OUTPUT, o.as_bytes());
        }
        put_bytes(&mut n, 4, b"Op");
        if let Some(g) = sub {
            let mut a = Vec::new();
            put_bytes(&mut a, 1, b"body");
            put_bytes(&mut a, ATTR_G, g);
            put_bytes(&mut n, NODE_ATTRIBUTE, &a);
        }
        n
    }

    fn init(name: &str) -> Vec<u8> {
        let mut t = Vec::new();
        put_varint(&mut t, 1 << 3); // dims: 1
        put_varint(&mut t, 1);
        put_bytes(&mut t, TENSOR_NAME, name.as_bytes());
        t
    }

    #[test]
    fn keeps_what_the_outputs_need() {
        // x -> A -> a -> B(uses w1) -> b ; a -> L(subgraph reads w2 and a) -> c
        let mut sub = Vec::new();
        put_bytes(
            &mut sub,
            GRAPH_NODE,
            &node(&["w2", "a", "inner_in"], &["o"], None),
        );
        put_bytes(&mut sub, 11, &{
            let mut v = Vec::new();
            put_bytes(&mut v, VALUE_INFO_NAME, b"inner_in");
            v
        });
        let mut g = Vec::new();
        put_bytes(&mut g, GRAPH_NODE, &node(&["x"], &["a"], None));
        put_bytes(&mut g, GRAPH_NODE, &node(&["a", "w1"], &["b"], None));
        put_bytes(&mut g, GRAPH_NODE, &node(&["a"], &["c"], Some(&sub)));
        put_bytes(&mut g, GRAPH_INITIALIZER, &init("w1"));
        put_bytes(&mut g, GRAPH_INITIALIZER, &init("w2"));
        put_bytes(&mut g, GRAPH_OUTPUT, b"\x0a\x01c");
        let mut m = Vec::new();
        put_varint(&mut m, 1 << 3); // ir_version 8
        put_varint(&mut m, 8);
        put_bytes(&mut m, MODEL_GRAPH, &g);

        let out = extract(&m, &["b"]).unwrap().unwrap();
        let mf = fields(&out).unwrap();
        assert_eq!(mf.len(), 2);
        assert_eq!(mf[0].raw, &m[..2]); // other model fields untouched
        let gf = fields(mf[1].bytes).unwrap();
        let nodes: Vec<_> = gf.iter().filter(|f| f.number == GRAPH_NODE).collect();
        assert_eq!(nodes.len(), 2); // A and B; the loop L is gone
        let inits: Vec<_> = gf
            .iter()
            .filter(|f| f.number == GRAPH_INITIALIZER)
            .map(|f| strings(&fields(f.bytes).unwrap(), TENSOR_NAME)[0])
            .collect();
        assert_eq!(inits, ["w1"]); // w2 was only read inside the loop body
        let outs: Vec<_> = gf
            .iter()
            .filter(|f| f.number == GRAPH_OUTPUT)
            .map(|f| strings(&fields(f.bytes).unwrap(), VALUE_INFO_NAME)[0])
            .collect();
        assert_eq!(outs, ["b"]);

        // Keeping the loop keeps what its body reads from outside.
        let out = extract(&m, &["c"]).unwrap().unwrap();
        let gf = fields(fields(&out).unwrap()[1].bytes).unwrap();
        let inits: Vec<_> = gf
            .iter()
            .filter(|f| f.number == GRAPH_INITIALIZER)
            .map(|f| strings(&fields(f.bytes).unwrap(), TENSOR_NAME)[0])
            .collect();
        assert_eq!(inits, ["w2"]);
        assert_eq!(gf.iter().filter(|f| f.number == GRAPH_NODE).count(), 2);

        // Unknown tensor: not this model.
        assert_eq!(extract(&m, &["nope"]).unwrap(), None);
    }

    #[test]
    fn reads_scalar_float_initializers() {
        let scalar = |name: &str, v: f32, packed: bool| {
            let mut t = Vec::new();
            put_varint(&mut t, TENSOR_DATA_TYPE << 3);
            put_varint(&mut t, 1);
            put_bytes(&mut t, TENSOR_NAME, name.as_bytes());
            if packed {
                put_bytes(&mut t, TENSOR_RAW_DATA, &v.to_le_bytes());
            } else {
                put_varint(&mut t, (TENSOR_FLOAT_DATA << 3) | 5);
                t.extend_from_slice(&v.to_le_bytes());
            }
            t
        };
        let mut g = Vec::new();
        put_bytes(
            &mut g,
            GRAPH_INITIALIZER,
            &scalar("a/Greater/y:0", 0.3, true),
        );
        put_bytes(
            &mut g,
            GRAPH_INITIALIZER,
            &scalar("b/iou_threshold:0", 0.6, false),
        );
        put_bytes(&mut g, GRAPH_INITIALIZER, &init("w1")); // not a float
        let mut m = Vec::new();
        put_bytes(&mut m, MODEL_GRAPH, &g);
        let v = scalar_floats(&m, |_| true).unwrap();
        assert_eq!(
            v,
            vec![
                ("a/Greater/y:0".to_string(), 0.3),
                ("b/iou_threshold:0".to_string(), 0.6)
            ]
        );
        assert!(
            scalar_floats(&m, |n| n.ends_with("iou_threshold:0"))
                .unwrap()
                .len()
                == 1
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(extract(b"\x3a\xff\xff\xff\xff\x0f", &["a"]).is_err()); // length past the end
        assert!(extract(b"\x0b", &["a"]).is_err()); // group wire type
        assert!(extract(b"", &["a"]).is_err()); // no graph
        assert!(extract(&[0x80; 11], &["a"]).is_err()); // endless varint
        assert!(inline_branch(b"\x3a\xff\xff\xff\xff\x0f", "then_branch").is_err());
        assert!(node_outputs(b"\x0b").is_err());
        // A node's length past its graph.
        assert!(constants(b"\x3a\x02\x0a\xff", |_| true).is_err());
        // A Constant whose dims promise more values than it holds is not a tensor.
        let mut t = Vec::new();
        put_varint(&mut t, 1 << 3);
        put_varint(&mut t, 1 << 40); // dims: 2^40
        put_varint(&mut t, TENSOR_DATA_TYPE << 3);
        put_varint(&mut t, 1);
        put_bytes(&mut t, TENSOR_RAW_DATA, &[0; 8]);
        assert_eq!(float_tensor(&t), Ok(None));
    }
}
