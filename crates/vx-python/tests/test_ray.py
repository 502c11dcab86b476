"""The Ray recipe (`python -m vx.ray`) on a real local Ray cluster on 127.0.0.1: its Parquet
rows against `vx run` on the same files, and a worker killed mid-run (nothing lost, nothing
twice). Skipped when Ray is not installed (scripts/setup installs it)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("ray")

from test_vx import ASSETS, VX, cli, ffmpeg, stable  # noqa: E402

ENV = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", VX_MODEL_DIR=str(ASSETS / "models"),
           RAY_AUTH_MODE="disabled")


def recipe(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "vx.ray", *map(str, args)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def corpus(d: Path, n: int, secs: int):
    d.mkdir()
    for i in range(n):
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:d={secs}", "-f", "lavfi",
               "-i", f"sine=frequency={300 + 50 * i}:duration={secs}", "-g", "25", "-c:v",
               "libx264", "-c:a", "aac", d / f"clip{i}.mp4")
    return d


def rows(out: Path):
    return {Path(r["path"]).name: r for r in pq.read_table(out / "files").to_pylist()}


def test_rows_equal_vx_run(tmp_path):
    src = corpus(tmp_path / "in", 3, 3)
    (src / "bad.mp4").write_bytes(b"junk" * 100)
    (src / "speech.wav").write_bytes((ASSETS / "media" / "jfk.wav").read_bytes())
    (src / "bus.jpg").write_bytes((ASSETS / "media" / "bus.jpg").read_bytes())
    p = recipe(src, "--ops", "keyframes;detect", "--output", tmp_path / "out", "--workers", "2")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 1, err  # one input is an error
    assert "6 inputs: 1 error, 4 ok, 1 skipped" in out, out + err
    got = rows(tmp_path / "out")
    assert sorted(got) == ["bad.mp4", "bus.jpg", "clip0.mp4", "clip1.mp4", "clip2.mp4",
                           "speech.wav"]
    assert got["bad.mp4"]["status"] == "error" and "bad.mp4" in got["bad.mp4"]["reason"]
    assert got["speech.wav"]["status"] == "skipped" and "no video stream" in got["speech.wav"]["reason"]
    # The same work by the CLI over the same files: the same records.
    subprocess.run([VX, "run", *sorted(str(f) for f in src.iterdir()), "--ops", "keyframes;detect",
                    "-o", tmp_path / "cli", "--no-index", "-q"], env=ENV, capture_output=True)
    lines = [json.loads(x) for x in (tmp_path / "cli" / "results.jsonl").read_text().splitlines()]
    by_name = {Path(x["source"]).name: x for x in lines}
    for name, r in got.items():
        assert r["status"] == by_name[name]["status"], name
        if r["status"] == "ok":
            ours = json.loads(r["record"])
            theirs = json.loads((tmp_path / "cli" / by_name[name]["id"] / "result.json").read_text())
            assert stable(ours) == stable(theirs), name
            assert r["id"] == by_name[name]["id"]
            assert r["duration"] == theirs["probe"]["duration"]
            assert json.loads(r["ops"])["detect"]["status"] == "ok"
    # The per-kind tables: a keyframe row for every keyframe vx run wrote, keyed by id.
    kf = pq.read_table(tmp_path / "out" / "keyframes").to_pylist()
    for name in ["clip0.mp4", "clip1.mp4", "clip2.mp4"]:
        theirs = json.loads((tmp_path / "cli" / by_name[name]["id"] / "keyframes.json").read_text())
        ours = [k for k in kf if k["id"] == by_name[name]["id"]]
        assert [(k["time"], k["path"], k["phash"]) for k in ours] == [
            (k["time"], k["path"], k["phash"]) for k in theirs["keyframes"]]
    # Detections: the bus photo's, as vx run found them.
    det = pq.read_table(tmp_path / "out" / "detections").to_pylist()
    bus = by_name["bus.jpg"]["id"]
    theirs = json.loads((tmp_path / "cli" / bus / "detect.json").read_text())["results"][0]
    ours = [d for d in det if d["id"] == bus]
    assert [(d["label"], d["score"], d["x"]) for d in ours] == [
        (d["label"], d["score"], d["box"]["x"]) for d in theirs["detections"]]
    assert {"person", "bus"} <= {d["label"] for d in ours}


def ray_workers(root: int):
    """The Ray worker processes descending from process `root` (this test's recipe only)."""
    ps = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    procs = [(int(f[0]), int(f[1]), f[2] if len(f) > 2 else "")
             for f in (l.split(None, 2) for l in ps.splitlines()[1:])]
    mine, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid, _ in procs:
            if ppid in mine and pid not in mine:
                mine.add(pid)
                grew = True
    return [pid for pid, _, args in procs if pid in mine and "ray::" in args and "Worker" in args]


def test_a_killed_worker_loses_nothing(tmp_path):
    src = corpus(tmp_path / "in", 8, 8)
    p = recipe(src, "--ops", "keyframes;detect", "--output", tmp_path / "out", "--workers", "2")
    try:
        # Wait until both workers run (2 inputs started), then kill one.
        killed = None
        deadline = time.time() + 120
        while killed is None and time.time() < deadline and p.poll() is None:
            runs = tmp_path / "out" / "runs"
            workers = ray_workers(p.pid)
            if len(workers) >= 2 and runs.is_dir() and len(list(runs.iterdir())) >= 2:
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        out, err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    assert killed is not None, "no worker seen: " + out + err
    assert p.returncode == 0, out + err
    got = pq.read_table(tmp_path / "out" / "files").to_pylist()
    names = sorted(Path(r["path"]).name for r in got)
    assert names == [f"clip{i}.mp4" for i in range(8)], names  # each exactly once
    assert all(r["status"] == "ok" and r["complete"] for r in got)
    assert killed not in ray_workers(os.getpid())
    # A second run resumes: every input current, nothing decoded again (same records).
    first = {Path(r["path"]).name: r["record"] for r in got}
    p = recipe(src, "--ops", "keyframes;detect", "--output", tmp_path / "out", "--workers", "2")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, out + err
    again = {Path(r["path"]).name: r["record"] for r in
             pq.read_table(tmp_path / "out" / "files").to_pylist()}
    assert again == first
