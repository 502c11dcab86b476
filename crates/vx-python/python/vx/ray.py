"""Bulk runs on a Ray cluster: every input through a `vx.Pipeline` held by Ray actors, one
row per input in a Parquet table.

    python -m vx.ray INPUT_DIR_OR_LIST... --ops "keyframes;[detect,faces];transcribe" \\
        --output OUT --workers 2 [--address auto] [--model detect=PATH]...

As a snippet (what the command does):

    import ray, vx.ray
    ray.init()                                       # or address="auto" on a cluster
    ds = vx.ray.dataset(["a.mp4", "b.mp4"], ops="keyframes;detect", output="OUT", workers=2)
    ds.write_parquet("OUT/files")

Each input's results go to OUT/runs/<id>/ exactly as `vx run INPUT -o OUT/runs/<id>` writes
them (result.json and each operation's files); the row is its record. A worker that dies is
restarted and its input run again (Ray retries the task); an input already finished is found
current and not decoded again, so a re-run of the command resumes. A bad input gives a row
with status "error" and the reason; it never stops the others. The `files` table has one
row per input: path, id, status, reason, complete, duration, ops (JSON: each operation's
status and outputs), record (JSON: the whole result.json).

Requires `ray[data]` (Ray Data and pyarrow). On one machine the cluster is local; on several,
start Ray on each node (`ray start --head` / `ray start --address=HEAD:6379`, or KubeRay) with
the `vx-media` wheel installed and the inputs and OUT on shared storage, then pass
`--address auto` (docs/SCALE.md).
"""
import argparse
import hashlib
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import vx

from .tables import FIELDS, files_schema, kind_rows, kind_schemas, row


def list_inputs(args: Iterable[str], skip: Optional[str] = None) -> List[str]:
    """Files, directories (walked, hidden entries skipped) and @list files (one path a line,
    relative to the list's folder, `#` comments skipped), as absolute paths, sorted, without
    duplicates. The directory `skip` (the output) is never walked into."""
    found = set()
    skip = os.path.realpath(skip) if skip else None
    for a in args:
        if a.startswith("@"):
            base = os.path.dirname(os.path.abspath(a[1:]))
            lines = Path(a[1:]).read_text().splitlines()
            found.update(os.path.abspath(os.path.join(base, x.strip())) for x in lines
                         if x.strip() and not x.strip().startswith("#"))
        elif os.path.isdir(a):
            for root, dirs, files in os.walk(a, followlinks=True):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                                 and os.path.realpath(os.path.join(root, d)) != skip)
                found.update(
                    os.path.abspath(os.path.join(root, f)) for f in files if not f.startswith(".")
                )
        else:
            found.add(os.path.abspath(a))
    return sorted(found)


def run_dir(output: str, path: str) -> str:
    """OUT/runs/<name>-<hash of the path>: one small `vx run` output directory per input."""
    h = hashlib.blake2b(path.encode(), digest_size=6).hexdigest()
    return os.path.join(output, "runs", f"{os.path.basename(path)}-{h}")


def write_kind_tables(output: str, files_table) -> Dict[str, int]:
    """OUT/<kind>/part-0.parquet for every kind, from the finished inputs of the files table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = {k: [] for k in kind_schemas()}
    for r in files_table.to_pylist():
        if r["id"] and r["status"] in ("ok", "partial"):
            for k, v in kind_rows(run_dir(output, r["path"]), r["id"]).items():
                rows[k].extend(v)
    counts = {}
    for kind, schema in kind_schemas().items():
        d = os.path.join(output, kind)
        os.makedirs(d, exist_ok=True)
        table = pa.Table.from_pylist(rows[kind], schema=schema)
        tmp = os.path.join(d, ".part-0.parquet.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, os.path.join(d, "part-0.parquet"))
        counts[kind] = table.num_rows
    return counts



class Worker:
    """A Ray actor: one Pipeline (its models loaded once), run over each batch of paths."""

    def __init__(self, ops: str, models: Optional[Dict[str, str]], output: str, threads: int):
        self.pipeline = vx.Pipeline(ops, models=models, threads=threads)
        self.output = output

    def __call__(self, batch: Dict[str, list]):
        rows = []
        for path in batch["path"]:
            path = str(path)
            try:
                rows.append(row(path, self.pipeline.run(path, output=run_dir(self.output, path))))
            except Exception as e:  # noqa: BLE001 (one input's failure is its row, never the run's)
                rows.append(row(path, error=e))
        import pyarrow as pa

        return pa.table({k: [r[k] for r in rows] for k in FIELDS}, schema=files_schema())


def dataset(paths: List[str], ops: str, output: str, workers: int = 2,
            models: Optional[Dict[str, str]] = None, threads: int = 1):
    """A Ray Dataset of one row per input (columns FIELDS), computed by `workers` actors each
    holding a Pipeline with `threads` threads. Lazy: write it (write_parquet) or iterate it."""
    import ray.data

    os.makedirs(os.path.join(output, "runs"), exist_ok=True)
    ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=max(1, len(paths)))
    return ds.map_batches(
        Worker,
        fn_constructor_args=(ops, models, output, threads),
        batch_size=1,
        concurrency=workers,
        num_cpus=1,
        # A worker that dies (killed, out of memory) is replaced and its input run again, up
        # to 3 times: an input that kills its worker every time then fails the run, with
        # Ray's error naming it, rather than looping for ever.
        max_restarts=3,
        max_task_retries=3,
    )


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vx.ray", description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", help="files, directories, @list files")
    ap.add_argument("--ops", required=True, help='vx run --ops, e.g. "keyframes;detect"')
    ap.add_argument("--output", "-o", required=True, help="output directory")
    ap.add_argument("--workers", type=int, default=2, help="actors (each one Pipeline)")
    ap.add_argument("--threads", type=int, default=1, help="threads per actor")
    ap.add_argument("--model", "-m", action="append", default=[], metavar="OP=PATH")
    ap.add_argument("--address", default=None,
                    help="Ray cluster address (default: a local cluster on 127.0.0.1)")
    a = ap.parse_args(argv)
    models = {}
    for m in a.model:
        op, sep, p = m.partition("=")
        if not sep:
            ap.error(f"--model {m}: expected OP=PATH")
        models[op] = p
    # Absolute: actors on other nodes run in other directories.
    a.output = os.path.abspath(a.output)
    models = {op: os.path.abspath(m) if os.path.exists(m) else m for op, m in models.items()}
    paths = list_inputs(a.inputs, skip=a.output)
    if not paths:
        print("vx.ray: error: no input files found", file=sys.stderr)
        return 2
    try:
        vx.Pipeline(a.ops, models=models or None)  # a bad --ops or model fails here, once
    except (ValueError, vx.VxError) as e:
        print(f"vx.ray: error: {e}", file=sys.stderr)
        return 2
    import ray

    if a.address:
        ray.init(address=a.address, log_to_driver=False)
    else:
        # Loopback only: the local cluster listens on 127.0.0.1.
        ray.init(num_cpus=max(a.workers, 1), _node_ip_address="127.0.0.1",
                 include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    import shutil

    import pyarrow.parquet as pq

    # Written aside, then put in place: a failed run leaves the last complete table.
    files = os.path.join(a.output, "files")
    fresh = os.path.join(a.output, f".files-{os.getpid()}")
    shutil.rmtree(fresh, ignore_errors=True)
    dataset(paths, a.ops, a.output, a.workers, models or None, a.threads).write_parquet(fresh)
    shutil.rmtree(files, ignore_errors=True)
    os.replace(fresh, files)
    table = pq.read_table(files)
    counts = {}
    for s in table.column("status").to_pylist():
        counts[s] = counts.get(s, 0) + 1
    kinds = write_kind_tables(a.output, table)
    print(f"vx.ray: {table.num_rows} inputs: " +
          ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + f"; {files}; " +
          ", ".join(f"{k} {n} rows" for k, n in kinds.items()))
    # As vx run: 1 when an input is an error or only partly done.
    return 0 if counts.get("error", 0) + counts.get("partial", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
