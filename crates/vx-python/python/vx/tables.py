"""vx's results as Arrow tables (pyarrow): one table of inputs (`files`) and one per kind of
result, keyed by the input's `id`. Used by `vx.ray` for its Parquet output, and by
`vx.arrow(record, output)` for one `vx.run`. pyarrow is imported only when used.

Tables and columns:
* files: path, id, status, reason, complete, duration, ops (JSON), record (JSON: result.json)
* keyframes: id, time, index, path, width, height, phash
* detections: id, op (detect or faces), time, keyframe, label, score, x, y, w, h
* segments: id, start, end, text (the transcript)
* text: id, time, keyframe, text, score (on-screen text, OCR lines)
"""
import json
import os
from typing import Dict, List, Optional

FIELDS = ["path", "id", "status", "reason", "complete", "duration", "ops", "record"]


def files_schema():
    """The `files` table's schema (explicit: a batch whose reasons are all empty must not
    give the column another type)."""
    import pyarrow as pa

    return pa.schema([("path", pa.string()), ("id", pa.string()), ("status", pa.string()),
                      ("reason", pa.string()), ("complete", pa.bool_()),
                      ("duration", pa.float64()), ("ops", pa.string()), ("record", pa.string())])


def kind_schemas():
    import pyarrow as pa

    s, f, i = pa.string(), pa.float64(), pa.int64()
    return {
        "keyframes": pa.schema([("id", s), ("time", f), ("index", i), ("path", s),
                                ("width", i), ("height", i), ("phash", s)]),
        "detections": pa.schema([("id", s), ("op", s), ("time", f), ("keyframe", s),
                                 ("label", s), ("score", f), ("x", f), ("y", f), ("w", f),
                                 ("h", f)]),
        "segments": pa.schema([("id", s), ("start", f), ("end", f), ("text", s)]),
        "text": pa.schema([("id", s), ("time", f), ("keyframe", s), ("text", s), ("score", f)]),
    }


def kind_rows(run_dir_of_input: str, id_: str) -> Dict[str, List[Dict]]:
    """The rows of each kind table for one finished input, from its JSON outputs."""
    def load(name):
        p = os.path.join(run_dir_of_input, id_, name)
        if not os.path.exists(p):
            return None
        with open(p) as f:
            return json.load(f)

    out = {k: [] for k in ["keyframes", "detections", "segments", "text"]}
    kf = load("keyframes.json")
    for k in (kf or {}).get("keyframes", []):
        out["keyframes"].append({"id": id_, "time": k.get("time"), "index": k.get("index"),
                                 "path": k.get("path"), "width": k.get("width"),
                                 "height": k.get("height"), "phash": k.get("phash")})
    for op in ["detect", "faces"]:
        for r in (load(f"{op}.json") or {}).get("results", []):
            for d in r.get("detections", []):
                b = d.get("box") or {}
                out["detections"].append({
                    "id": id_, "op": op, "time": r.get("time"), "keyframe": r.get("keyframe"),
                    "label": d.get("label"), "score": d.get("score"), "x": b.get("x"),
                    "y": b.get("y"), "w": b.get("w"), "h": b.get("h")})
    for seg in (load("transcribe.json") or {}).get("segments", []):
        out["segments"].append({"id": id_, "start": seg.get("start"), "end": seg.get("end"),
                                "text": seg.get("text")})
    for r in (load("ocr.json") or {}).get("results", []):
        for line in r.get("lines", []):
            out["text"].append({"id": id_, "time": r.get("time"), "keyframe": r.get("keyframe"),
                                "text": line.get("text"), "score": line.get("score")})
    return out


def row(path: str, record: Optional[Dict] = None, error: Optional[BaseException] = None) -> Dict:
    """The `files` row of an input: from its record, or from the error it raised."""
    if record is None:
        from . import NoStreamError

        status = "skipped" if isinstance(error, NoStreamError) else "error"
        return {"path": path, "id": None, "status": status, "reason": str(error),
                "complete": False, "duration": None, "ops": "{}", "record": "null"}
    ops = {k: {"status": v.get("status"), "outputs": v.get("outputs", [])}
           for k, v in record.get("ops", {}).items()}
    reason = None
    if record.get("status") != "ok":
        reason = record.get("reason") or next(
            (f"{k}: {v.get('reason')}" for k, v in record.get("ops", {}).items()
             if v.get("status") != "ok" and v.get("reason")), None)
    return {"path": path, "id": record.get("id"), "status": record.get("status"),
            "reason": reason, "complete": bool(record.get("complete")),
            "duration": (record.get("probe") or {}).get("duration"),
            "ops": json.dumps(ops, sort_keys=True), "record": json.dumps(record, sort_keys=True)}



def arrow(record: Dict, output, path: Optional[str] = None) -> Dict[str, "object"]:
    """The tables of one `vx.run(path, output=output)` record: {"files": ..., "keyframes": ...,
    "detections": ..., "segments": ..., "text": ...}, each a pyarrow.Table."""
    import pyarrow as pa

    path = path or record.get("source") or ""
    tables = {"files": pa.Table.from_pylist([row(path, record)], schema=files_schema())}
    rows = kind_rows(str(output), record["id"])
    for kind, schema in kind_schemas().items():
        tables[kind] = pa.Table.from_pylist(rows[kind], schema=schema)
    return tables
