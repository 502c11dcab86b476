//! `vx mcp INDEX`: the index for agents, as a Model Context Protocol server over stdio
//! (JSON-RPC 2.0, one message per line): `initialize`, `ping`, `tools/list`, `tools/call`
//! with the tools `search` (the hybrid search of `vx search`), `describe_file` (what the
//! index holds about one input) and `extract` (a new file run through `vx run` into the same
//! results directory and index). Logs go to stderr; stdout carries only protocol messages.
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use vx_index::{Index, Kind};

/// The protocol revision this server speaks (it answers a client's own when it asks for
/// another: the tools part has not changed between revisions).
const PROTOCOL: &str = "2025-06-18";
/// Revisions whose tools part this server follows.
const KNOWN: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18"];

fn tools() -> Value {
    json!([
        {
            "name": "search",
            "description": "Search the indexed videos, audio and pictures: what is said (transcripts), written on screen (OCR) or shown (detected objects, faces). Words and meaning both count. Returns hits with the file, the time in seconds, the kind, the text and the nearest keyframe image.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "what to look for, in words"},
                    "k": {"type": "integer", "minimum": 1, "maximum": 100, "description": "how many hits (default 10)"},
                    "kind": {"type": "string", "enum": ["speech", "text", "object", "face"], "description": "only hits of this kind"}
                },
                "required": ["query"]
            }
        },
        {
            "name": "extract",
            "description": "Add a video, audio file or picture on this machine to the index: keyframes, detected objects, on-screen text and the transcript (those whose models are installed), in one pass; then it can be searched. Returns what was found, as describe_file does. Takes about as long as the file plays, or less.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "the file's path on this machine"},
                    "ops": {"type": "string", "description": "the operations, as vx run --ops takes them (default: keyframes;[detect,ocr];transcribe, without those whose model is missing)"}
                },
                "required": ["path"]
            }
        },
        {
            "name": "describe_file",
            "description": "Everything the index holds about one file (its source path or input id, as search hits give them): duration, media metadata, the transcript, on-screen text, detected objects and faces with their times, and the keyframe images.",
            "inputSchema": {
                "type": "object",
                "properties": {"source": {"type": "string"}},
                "required": ["source"]
            }
        }
    ])
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// A tool result: the JSON as text content (what every client shows) and as structured
/// content.
fn tool_result(v: Value, is_error: bool) -> Value {
    let text = if let Value::String(s) = &v {
        s.clone()
    } else {
        serde_json::to_string_pretty(&v).unwrap_or_default()
    };
    let mut r = json!({"content": [{"type": "text", "text": text}], "isError": is_error});
    if v.is_object() {
        r["structuredContent"] = v;
    }
    r
}

struct Server {
    index: Index,
    embedder: Option<vx_infer::text::TextEmbedder>,
}

/// The operations `extract` runs by default: keyframes, and detect, ocr and transcribe when
/// their default model is in the model directory.
fn default_ops() -> String {
    let have = |op: &str| vx_pipeline::models::default_model(op).is_some();
    let pictures: Vec<&str> = ["detect", "ocr"].into_iter().filter(|o| have(o)).collect();
    let mut ops = "keyframes".to_string();
    if !pictures.is_empty() {
        ops.push_str(&format!(";[{}]", pictures.join(",")));
    }
    if have("transcribe") {
        ops.push_str(";transcribe");
    }
    ops
}

impl Server {
    /// `extract`: `vx run PATH --ops OPS -o OUTDIR --index INDEX` as a child process (this
    /// binary; its stdout is not the protocol's), OUTDIR being the directory of the index;
    /// then the vectors read again and the file described.
    fn extract(&mut self, args: &Value) -> Value {
        let Some(path) = args["path"].as_str() else {
            return tool_result(json!("missing argument: path"), true);
        };
        // What the path is, said as it is: missing, a directory, a device or FIFO.
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(m) if m.is_dir() => {
                return tool_result(
                    json!(format!("{path}: is a directory (extract takes one file)")),
                    true,
                )
            }
            Ok(_) => {
                return tool_result(
                    json!(format!(
                        "{path}: not a regular file (a device, FIFO or socket)"
                    )),
                    true,
                )
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return tool_result(json!(format!("{path}: no such file")), true)
            }
            Err(e) => return tool_result(json!(format!("{path}: {e}")), true),
        }
        let source = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
        let ops = match &args["ops"] {
            Value::Null => default_ops(),
            Value::String(o) => o.clone(),
            other => {
                return tool_result(
                    json!(format!("ops {other}: a string, as vx run --ops takes it")),
                    true,
                )
            }
        };
        let index = self.index.path().to_path_buf();
        let outdir = index
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => return tool_result(json!(format!("cannot find vx: {e}")), true),
        };
        let run = std::process::Command::new(exe)
            .arg("-q")
            .arg("run")
            .arg(&source)
            .args(["--ops", &ops, "-o"])
            .arg(&outdir)
            .arg("--index")
            .arg(&index)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output();
        let out = match run {
            Ok(o) => o,
            Err(e) => return tool_result(json!(format!("cannot run vx: {e}")), true),
        };
        let errors = String::from_utf8_lossy(&out.stderr).trim().to_string();
        // 0: done; 1: some operation failed (the others' results are in the index).
        if !matches!(out.status.code(), Some(0 | 1)) {
            return tool_result(json!(format!("vx run failed: {errors}")), true);
        }
        if let Err(e) = self.index.reload() {
            return tool_result(json!(e.to_string()), true);
        }
        match self.index.describe(&source.to_string_lossy()) {
            Ok(Some(mut d)) => {
                d["ops"] = json!(ops);
                if !errors.is_empty() {
                    d["warnings"] = json!(errors.lines().collect::<Vec<_>>());
                }
                // An input that could not be read is the tool's failure (its record says why).
                let failed = d["status"].as_str() == Some("error");
                tool_result(d, failed)
            }
            Ok(None) => tool_result(json!(format!("{path}: not indexed: {errors}")), true),
            Err(e) => tool_result(json!(e.to_string()), true),
        }
    }

    fn call(&mut self, name: &str, args: &Value) -> Value {
        match name {
            "search" => {
                let Some(q) = args["query"].as_str() else {
                    return tool_result(json!("missing argument: query"), true);
                };
                // The schema's integer 1..=100; anything else is the caller's mistake, said.
                let k = match &args["k"] {
                    Value::Null => 10,
                    // 10.0 is an integer to JSON Schema.
                    v => match v
                        .as_f64()
                        .filter(|k| k.fract() == 0.0 && (1.0..=100.0).contains(k))
                        .map(|k| k as u64)
                    {
                        Some(k) => k as usize,
                        None => {
                            return tool_result(
                                json!(format!("k {v}: an integer from 1 to 100")),
                                true,
                            )
                        }
                    },
                };
                // Absent or null: every kind; anything but one of the four names (another
                // string, a number...) is the caller's mistake, said.
                let kind = match &args["kind"] {
                    Value::Null => None,
                    Value::String(k) if k == "speech" => Some(Kind::Speech),
                    Value::String(k) if k == "text" => Some(Kind::Text),
                    Value::String(k) if k == "object" => Some(Kind::Object),
                    Value::String(k) if k == "face" => Some(Kind::Face),
                    other => {
                        return tool_result(
                            json!(format!(
                                "unknown kind: {other}: one of speech, text, object, face"
                            )),
                            true,
                        )
                    }
                };
                match self.index.search(q, k, kind, self.embedder.as_mut()) {
                    Ok(hits) => tool_result(json!({"query": q, "hits": hits}), false),
                    Err(e) => tool_result(json!(e.to_string()), true),
                }
            }
            "extract" => self.extract(args),
            "describe_file" => {
                let Some(s) = args["source"].as_str() else {
                    return tool_result(json!("missing argument: source"), true);
                };
                match self.index.describe(s) {
                    Ok(Some(d)) => tool_result(d, false),
                    Ok(None) => tool_result(json!(format!("no such file in the index: {s}")), true),
                    Err(e) => tool_result(json!(e.to_string()), true),
                }
            }
            other => tool_result(json!(format!("unknown tool: {other}")), true),
        }
    }

    /// The answer to one message (None for notifications).
    fn handle(&mut self, msg: &Value) -> Option<Value> {
        // A response from the client (to nothing this server asks): never answered.
        if msg.get("method").is_none()
            && (msg.get("result").is_some() || msg.get("error").is_some())
        {
            return None;
        }
        // JSON-RPC 2.0: the version said, a method that is a string, an id (when there is
        // one) that is a string, a number or null, params (when there are) an object or an
        // array. Checked before anything else: only a valid request without an id is a
        // notification; an invalid one is answered, with the id null when it had none.
        let id = msg.get("id");
        let id_ok = id.is_none_or(|i| i.is_string() || i.is_number() || i.is_null());
        let params_ok = msg
            .get("params")
            .is_none_or(|p| p.is_object() || p.is_array());
        let why = if msg["jsonrpc"] != "2.0" {
            Some("not JSON-RPC 2.0 (\"jsonrpc\": \"2.0\")")
        } else if msg.get("method").is_none() {
            Some("no method")
        } else if !msg["method"].is_string() {
            Some("the method is not a string")
        } else if !id_ok {
            Some("an id that is neither a string, a number nor null")
        } else if !params_ok {
            Some("params that are neither an object nor an array")
        } else {
            None
        };
        if let Some(why) = why {
            let id = id
                .filter(|i| i.is_string() || i.is_number())
                .cloned()
                .unwrap_or(Value::Null);
            return Some(error(&id, -32600, &format!("invalid request: {why}")));
        }
        let Some(id) = id.cloned() else {
            // Notifications (notifications/initialized, cancelled...): nothing to answer.
            return None;
        };
        let method = msg["method"].as_str().unwrap_or_default();
        let result = match method {
            "initialize" => {
                // The client's revision when it is one this server knows; else its own.
                let asked = msg["params"]["protocolVersion"]
                    .as_str()
                    .unwrap_or(PROTOCOL);
                let version = if KNOWN.contains(&asked) {
                    asked
                } else {
                    PROTOCOL
                };
                json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": {"name": "vx", "version": env!("CARGO_PKG_VERSION")},
                    "instructions": "Search what was said, written on screen or shown in the indexed media; times are seconds from the start of each file."
                })
            }
            "ping" => json!({}),
            "tools/list" => json!({"tools": tools()}),
            "tools/call" => {
                let name = msg["params"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if !matches!(name.as_str(), "search" | "describe_file" | "extract") {
                    return Some(error(&id, -32602, &format!("unknown tool: {name}")));
                }
                let args = msg["params"]["arguments"].clone();
                self.call(&name, &args)
            }
            _ => return Some(error(&id, -32601, &format!("method not found: {method}"))),
        };
        Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
    }
}

/// The longest message `vx mcp` reads (one JSON-RPC message per line).
const MAX_LINE: usize = 16 << 20;

/// Read one line (through its newline) into `line`, keeping at most `max` bytes: (bytes read,
/// whether the whole line was kept).
fn read_line_capped(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let (mut read, mut whole) = (0, true);
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            // A signal during the read: read again (as read_until does).
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok((read, whole));
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if whole && line.len() + n <= max {
            line.extend_from_slice(chunk);
        } else {
            whole = false;
            line.clear();
        }
        input.consume(n);
        read += n;
        if done {
            return Ok((read, whole));
        }
    }
}

/// `vx mcp INDEX`.
pub fn serve(index: &Path, text_model: Option<&str>) -> Result<ExitCode> {
    let path = super::search::existing_index(index)?;
    let index = Index::open(&path)?;
    let embedder = super::search::query_embedder(&index, text_model)?;
    // Several searches in one process: the vectors once.
    index.preload()?;
    let mut server = Server { index, embedder };
    let mut stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bytes, not text: a line that is not UTF-8 gets a parse error, not the end. At most
        // MAX_LINE bytes are kept: a longer line (an endless one from a broken client) is read
        // to its end and answered with an error, in bounded memory.
        let (n, whole) = read_line_capped(&mut stdin, &mut line, MAX_LINE)?;
        if n == 0 {
            break;
        }
        if !whole {
            let msg = format!("invalid request: a message over {} MiB", MAX_LINE >> 20);
            writeln!(
                out,
                "{}",
                serde_json::to_string(&error(&Value::Null, -32600, &msg))?
            )?;
            out.flush()?;
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let reply = match serde_json::from_slice::<Value>(&line) {
            Ok(Value::Array(batch)) if batch.is_empty() => {
                Some(error(&Value::Null, -32600, "invalid request: empty batch"))
            }
            Ok(Value::Array(batch)) => {
                let r: Vec<Value> = batch
                    .iter()
                    .filter_map(|m| {
                        if m.is_object() {
                            server.handle(m)
                        } else {
                            Some(error(&Value::Null, -32600, "invalid request"))
                        }
                    })
                    .collect();
                (!r.is_empty()).then_some(Value::Array(r))
            }
            Ok(msg) if msg.is_object() => server.handle(&msg),
            Ok(_) => Some(error(&Value::Null, -32600, "invalid request")),
            Err(e) => Some(error(&Value::Null, -32700, &format!("parse error: {e}"))),
        };
        if let Some(r) = reply {
            writeln!(out, "{}", serde_json::to_string(&r)?)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::read_line_capped;

    /// A line over the limit is consumed whole and reported, in bounded memory; the next line
    /// is read as usual.
    #[test]
    fn lines_over_the_limit_are_skipped_whole() {
        let mut input =
            std::io::BufReader::with_capacity(4, &b"{\"a\":1}\n0123456789abcdef\nok\n"[..]);
        let mut line = Vec::new();
        assert_eq!(
            read_line_capped(&mut input, &mut line, 10).unwrap(),
            (8, true)
        );
        assert_eq!(line, b"{\"a\":1}\n");
        line.clear();
        assert_eq!(
            read_line_capped(&mut input, &mut line, 10).unwrap(),
            (17, false)
        );
        assert!(line.len() <= 10);
        line.clear();
        assert_eq!(
            read_line_capped(&mut input, &mut line, 10).unwrap(),
            (3, true)
        );
        assert_eq!(line, b"ok\n");
        line.clear();
        assert_eq!(
            read_line_capped(&mut input, &mut line, 10).unwrap(),
            (0, true)
        );
    }
}
