"""vx's results as Arrow tables (pyarrow): one table of inputs (`files`) and one per kind of
result, keyed by the input's `id`. Used by `vx.ray` for its Parquet output, and by
`vx.arrow(record, output)` for one `vx.run`. pyarrow is imported only when used.

The columns and the rows come from the engine (vx_pipeline::tables, the same definition as
`vx run --format parquet`; docs/OUTPUTS.md "Tables"):
* files: path, id, status, reason, complete, duration, ops (JSON), record (JSON: result.json)
* keyframes: id, time, index, path, width, height, phash
* detections: id, op (detect or faces), time, keyframe, label, score, x, y, w, h
* segments: id, start, end, text (the transcript)
* text: id, time, keyframe, text, score (on-screen text, OCR lines)
* scenes: id, index, start, end, start_frame, end_frame
"""
import json
from typing import Dict, List, Optional

from . import _vx

_TABLES = dict(_vx.tables())
FIELDS = [c for c, _ in _TABLES["files"]]


def _schema(name: str):
    import pyarrow as pa

    types = {"string": pa.string(), "float64": pa.float64(), "int64": pa.int64(),
             "bool": pa.bool_()}
    return pa.schema([(c, types[t]) for c, t in _TABLES[name]])


def files_schema():
    """The `files` table's schema (explicit: a batch whose reasons are all empty must not
    give the column another type)."""
    return _schema("files")


def kind_schemas():
    """{table: schema} of every table after `files`."""
    return {name: _schema(name) for name in _TABLES if name != "files"}


def kind_rows(run_dir_of_input: str, id_: str) -> Dict[str, List[Dict]]:
    """The rows of each kind table for one finished input, from its JSON outputs."""
    return _vx.kind_rows(str(run_dir_of_input), id_)


def row(path: str, record: Optional[Dict] = None, error: Optional[BaseException] = None) -> Dict:
    """The `files` row of an input: from its record, or from the error it raised."""
    if record is None:
        from . import NoStreamError

        status = "skipped" if isinstance(error, NoStreamError) else "error"
        record = {"source": path, "status": status, "reason": str(error), "complete": False}
    # `dir` is the Python record's pointer to its files, not part of result.json.
    record = {k: v for k, v in record.items() if k != "dir"}
    return _vx.files_row(path, json.dumps(record))


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
