"""The Python package against the vx CLI on the same files: metadata, pictures (exact against
the PNGs `vx keyframes --format png` writes), samples (exact against `vx audio --sample-format f32`),
errors, and the GIL released while decoding. Run by scripts/test after `maturin develop`;
VX_BIN names the CLI (default: $CARGO_TARGET_DIR/debug/vx)."""
import json
import os
import struct
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import vx

ROOT = Path(__file__).resolve().parents[3]
ASSETS = Path(os.environ.get("VX_ASSETS_DIR", ROOT.parent / "shared" / "assets"))
VX = os.environ.get("VX_BIN") or str(
    Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "vx"
)


def cli(*args):
    p = subprocess.run([VX, *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-nostdin", *map(str, args)], check=True)


def png_rgb(path):
    """Decode a PNG to RGB24 with the ffmpeg CLI (lossless: exact)."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """3 s of 320x240 H.264, a keyframe every second, BT.709-tagged, with a tone."""
    p = tmp_path_factory.mktemp("media") / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=48000", "-t", "3", "-g", "25", "-c:v", "libx264",
           "-colorspace", "bt709", "-c:a", "aac", "-ac", "2", p)
    return p


def test_probe_equals_the_cli(clip):
    assert vx.probe(clip) == json.loads(cli("probe", clip))
    wav = ASSETS / "media" / "jfk.wav"
    assert vx.probe(str(wav)) == json.loads(cli("probe", wav))


def check_frames(frames, out):
    listed = json.loads((out / "keyframes.json").read_text())["keyframes"]
    assert len(frames) == len(listed)
    for f, k in zip(frames, listed):
        assert round(f.time, 3) == k["time"]
        assert (f.width, f.height) == (k["width"], k["height"])
        a = f.array()
        assert a.dtype == np.uint8 and a.shape == (f.height, f.width, 3)
        assert a.flags["C_CONTIGUOUS"]
        assert np.array_equal(a.reshape(-1), png_rgb(out / k["path"])), f"frame {f.index} differs"


def test_keyframes_are_the_clis_pixels(clip, tmp_path):
    frames = vx.keyframes(clip)
    assert [f.index for f in frames] == [0, 1, 2]
    assert all(f.key for f in frames)
    cli("keyframes", "-q", clip, "-o", tmp_path / "kf", "--format", "png")
    check_frames(frames, tmp_path / "kf")
    # Shrunk, and one frame every 0.5 s (every frame decoded).
    frames = vx.keyframes(clip, max_side=160, every=0.5)
    assert len(frames) == 6 and frames[0].width == 160 and frames[0].height == 120
    assert not all(f.key for f in frames)
    cli("keyframes", "-q", clip, "-o", tmp_path / "ev", "--format", "png", "--max-side", "160",
        "--every", "0.5")
    check_frames(frames, tmp_path / "ev")


@pytest.mark.parametrize("codec,args", [
    ("h264-open-gop", ["-c:v", "libx264", "-x264-params", "open-gop=1:keyint=10", "-bf", "3"]),
    ("hevc", ["-c:v", "libx265", "-x265-params", "keyint=7:log-level=error"]),
    ("vp9", ["-c:v", "libvpx-vp9", "-g", "9", "-deadline", "realtime", "-cpu-used", "8"]),
    ("mpeg2", ["-c:v", "mpeg2video", "-g", "6", "-bf", "2"]),
])
def test_keyframes_decoded_in_lanes_are_the_clis(codec, args, tmp_path):
    """vx.keyframes decodes groups of pictures in parallel lanes (one source per lane) and
    puts the frames back in time order: the same frames, in the same order, with the same
    pixels as the CLI's one decoder, for codecs that reorder, ignore skip_frame or open GOPs."""
    ext = "webm" if codec == "vp9" else "mkv"
    p = tmp_path / f"clip.{ext}"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "3", *args, p)
    frames = vx.keyframes(p)
    cli("keyframes", "-q", p, "-o", tmp_path / "kf", "--format", "png")
    record = json.loads((tmp_path / "kf" / "keyframes.json").read_text())
    assert len(frames) == len(record["keyframes"]) >= 4, codec
    assert [round(f.time, 3) for f in frames] == [k["time"] for k in record["keyframes"]]
    assert [f.index for f in frames] == list(range(len(frames)))
    check_frames(frames, tmp_path / "kf")


def test_keyframes_whose_times_go_back_keep_the_files_order(tmp_path):
    """Two MPEG-TS files joined byte for byte: the second's times start again from the
    first's. Merging lanes by time would interleave them; vx.keyframes then decodes with one
    decoder and gives the CLI's frames in the file's order."""
    parts = []
    for i, src in enumerate(["testsrc2", "smptebars"]):
        part = tmp_path / f"part{i}.ts"
        ffmpeg("-f", "lavfi", "-i", f"{src}=size=160x120:rate=25", "-t", "2", "-c:v", "libx264",
               "-g", "10", part)
        parts.append(part.read_bytes())
    p = tmp_path / "joined.ts"
    p.write_bytes(b"".join(parts))
    frames = vx.keyframes(p)
    cli("keyframes", "-q", p, "-o", tmp_path / "kf", "--format", "png")
    record = json.loads((tmp_path / "kf" / "keyframes.json").read_text())
    times = [k["time"] for k in record["keyframes"]]
    assert any(b < a for a, b in zip(times, times[1:])), times  # the times do go back
    assert [round(f.time, 3) for f in frames] == times
    check_frames(frames, tmp_path / "kf")


def test_a_still_is_one_frame(tmp_path):
    dog = ASSETS / "media" / "dog.jpg"
    (f,) = vx.keyframes(dog)
    cli("keyframes", "-q", dog, "-o", tmp_path / "kf", "--format", "png")
    check_frames([f], tmp_path / "kf")
    assert "Frame(" in repr(f)


def wav_f32(path):
    data = Path(path).read_bytes()
    assert data[:4] == b"RIFF" and data[36:40] == b"data"
    (n,) = struct.unpack("<I", data[40:44])
    body = data[44:44 + n] if n != 0xFFFFFFFF else data[44:]
    return np.frombuffer(body, dtype="<f4")


def test_audio_is_the_clis_samples(clip, tmp_path):
    wav = ASSETS / "media" / "jfk.wav"
    a = vx.audio(wav)
    assert a.dtype == np.float32 and a.shape == (176000,)
    cli("audio", "-q", wav, "-o", tmp_path / "a.wav", "--sample-format", "f32")
    assert np.array_equal(a, wav_f32(tmp_path / "a.wav"))
    # Stereo at 48 kHz: (samples, channels), interleaved as the CLI writes them.
    s = vx.audio(clip, rate=48000, channels=2)
    assert s.ndim == 2 and s.shape[1] == 2 and abs(s.shape[0] - 144000) < 2048
    cli("audio", "-q", clip, "-o", tmp_path / "s.wav", "--format", "f32", "--rate", "48000",
        "--channels", "2")
    assert np.array_equal(s.reshape(-1), wav_f32(tmp_path / "s.wav"))
    # The tone is there: 440 Hz dominates the spectrum.
    spectrum = np.abs(np.fft.rfft(s[:48000, 0]))
    assert abs(np.argmax(spectrum) - 440) <= 1


def test_a_truncated_files_audio_comes_with_a_warning(tmp_path):
    # The first half of jfk.wav: its header still says 11 s. The samples that are there come
    # back, with a RuntimeWarning naming the file (they came back silently).
    whole = (ASSETS / "media" / "jfk.wav").read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.warns(RuntimeWarning, match="cut.wav: .*truncated"):
        a = vx.audio(cut)
    assert 80000 < a.shape[0] < 90000


def test_errors_name_the_file_on_one_line(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(vx.InputError) as e:
        vx.probe(missing)
    assert str(missing) in str(e.value) and "\n" not in str(e.value)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(vx.VxError) as e:
        vx.keyframes(junk)
    assert str(junk) in str(e.value)
    with pytest.raises(vx.NoStreamError, match="no video stream"):
        vx.keyframes(ASSETS / "media" / "jfk.wav")
    with pytest.raises(vx.NoStreamError, match="no audio stream"):
        vx.audio(ASSETS / "media" / "dog.jpg")
    with pytest.raises(ValueError):
        vx.keyframes(junk, every=0)
    with pytest.raises(ValueError):
        vx.audio(junk, channels=0)
    assert issubclass(vx.InputError, vx.VxError) and issubclass(vx.VxError, Exception)


def test_the_gil_is_released_while_decoding(tmp_path):
    # A decode of every frame in one thread; the main thread keeps running Python meanwhile.
    # Were the GIL held, the main thread could not count until the decode returned.
    long = tmp_path / "long.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30", "-t", "20", "-c:v",
           "libx264", "-preset", "ultrafast", long)
    done = threading.Event()
    result = {}

    def work():
        try:
            t = time.perf_counter()
            # Every frame is decoded; about one in three is kept (bounded memory).
            result["frames"] = len(vx.keyframes(long, every=0.1))
            result["secs"] = time.perf_counter() - t
        finally:
            done.set()

    thread = threading.Thread(target=work)
    thread.start()
    ticks = 0
    while not done.wait(0.001):
        ticks += 1
    thread.join(60)
    assert result.get("frames", 0) > 150, result
    # At least a tick per 10 ms of decoding (a held GIL would give ~0).
    assert ticks >= result["secs"] * 100 * 0.5, (ticks, result)


VOLATILE = {"ms", "busy_ms", "wall_ms", "blocked_ms", "elapsed_ms", "seconds", "secs"}


def stable(v):
    """A record without its timings."""
    if isinstance(v, dict):
        return {k: stable(x) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [stable(x) for x in v]
    return v


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """11 s: a test pattern with a keyframe every 2 s, and JFK's speech."""
    p = tmp_path_factory.mktemp("talk") / "talk.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-i", ASSETS / "media" / "jfk.wav",
           "-t", "11", "-c:v", "libx264", "-g", "50", "-c:a", "aac", "-shortest", p)
    return p


def test_run_equals_vx_run(talk, tmp_path, monkeypatch):
    monkeypatch.setenv("VX_MODEL_DIR", str(ASSETS / "models"))
    ops = "keyframes;[detect,faces];transcribe"
    cli("run", talk, "--ops", ops, "-o", tmp_path / "cli", "--no-index", "-q", "--threads", "2",
        "--format", "parquet")
    ours = vx.run(talk, ops=ops, output=tmp_path / "py", threads=2)
    # `dir` is where the record's files are (the Python record's own key).
    assert Path(ours.pop("dir")) == (tmp_path / "py" / ours["id"]).absolute()
    (theirs_dir,) = [d for d in (tmp_path / "cli").iterdir() if d.is_dir()]
    theirs = json.loads((theirs_dir / "result.json").read_text())
    assert ours["status"] == "ok" and ours["complete"] is True
    assert stable(ours) == stable(theirs)
    # The operations' own outputs: the same detections and the same words.
    for name in ["keyframes.json", "detect.json", "faces.json", "transcribe.json"]:
        a = json.loads((tmp_path / "py" / ours["id"] / name).read_text())
        b = json.loads((theirs_dir / name).read_text())
        assert stable(a) == stable(b), name
    words = json.loads((tmp_path / "py" / ours["id"] / "transcribe.json").read_text())
    assert "country" in json.dumps(words).lower()
    # As Arrow tables (what the Ray recipe writes to Parquet).
    pytest.importorskip("pyarrow")
    t = vx.arrow(ours, tmp_path / "py")
    assert t["files"].num_rows == 1 and t["files"].column("status").to_pylist() == ["ok"]
    kf = json.loads((theirs_dir / "keyframes.json").read_text())["keyframes"]
    assert t["keyframes"].column("time").to_pylist() == [k["time"] for k in kf]
    segs = json.loads((theirs_dir / "transcribe.json").read_text())["segments"]
    assert t["segments"].column("text").to_pylist() == [x["text"] for x in segs]
    assert t["detections"].num_rows == sum(
        len(r["detections"]) for n in ["detect.json", "faces.json"]
        for r in json.loads((theirs_dir / n).read_text())["results"])
    # `vx run --format parquet` (arrow-rs) wrote the same tables: same schemas, same rows
    # (the files row's record aside: its timings differ).
    import pyarrow.parquet as pq

    for name, table in t.items():
        cli_table = pq.read_table(tmp_path / "cli" / f"{name}.parquet")
        assert cli_table.schema.equals(table.schema), name
        a, b = cli_table.to_pylist(), table.to_pylist()
        if name == "files":
            a = [{**r, "record": stable(json.loads(r["record"]))} for r in a]
            b = [{**r, "record": stable(json.loads(r["record"]))} for r in b]
        assert a == b, name
    assert t["keyframes"].num_rows > 0 and t["segments"].num_rows > 0
    # Readable by DuckDB and pandas.
    import duckdb  # scripts/setup installs it
    n, = duckdb.sql(f"SELECT count(*) FROM '{tmp_path / 'cli' / 'segments.parquet'}' "
                    "WHERE lower(text) LIKE '%country%'").fetchone()
    assert n == sum("country" in x["text"].lower() for x in segs) and n >= 1
    import pandas as pd

    df = pd.read_parquet(tmp_path / "cli" / "keyframes.parquet")
    assert list(df["time"]) == [k["time"] for k in kf]


def test_a_pipeline_is_reused_pickled_and_reports_bad_files(talk, tmp_path, monkeypatch):
    import pickle

    monkeypatch.setenv("VX_MODEL_DIR", str(ASSETS / "models"))
    p = vx.Pipeline("keyframes;detect", threads=2)
    first = p.run(talk, output=tmp_path / "o")
    assert first["ops"]["detect"]["status"] == "ok"
    # Again into the same directory: current, nothing decoded (vx run's resume): the very
    # same record, timings included.
    again = p.run(talk, output=tmp_path / "o")
    assert again == first
    # Pickled and rebuilt from its parameters (what Ray does to ship it to a worker).
    q = pickle.loads(pickle.dumps(p))
    assert repr(q) == repr(p) == 'Pipeline(ops="keyframes;detect")'
    assert q.run(talk, output=tmp_path / "q")["status"] == "ok"
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    with pytest.raises(vx.InputError) as e:
        p.run(junk, output=tmp_path / "o")
    assert "junk.mp4" in str(e.value)
    with pytest.raises(vx.NoStreamError):
        p.run(ASSETS / "media" / "jfk.wav", output=tmp_path / "o")
    with pytest.raises(ValueError, match="unknown|operation"):
        vx.Pipeline("keyframes;nonsense")
    with pytest.raises(vx.VxError, match="nope.onnx not found"):
        vx.Pipeline("detect", models={"detect": "nope.onnx"})
    # Options of an operation, as in `vx run --ops`: applied, and a bad one refused at once.
    few = vx.Pipeline("keyframes(every=1,max=2)", threads=2).run(talk, output=tmp_path / "f")
    times = [k["time"] for k in json.loads((tmp_path / "f" / few["id"] / "keyframes.json").read_text())["keyframes"]]
    assert len(times) == 2 and abs(times[1] - times[0] - 1.0) < 0.05, times
    with pytest.raises(ValueError, match="every=0"):
        vx.Pipeline("keyframes(every=0)")


def test_ctrl_c_stops_a_long_call(tmp_path, monkeypatch):
    # SIGINT during a call used to wait for the whole call (16-32 s here) and then throw its
    # result away; now the work is cancelled and KeyboardInterrupt raised within ~0.1 s.
    import signal

    monkeypatch.setenv("VX_MODEL_DIR", str(ASSETS / "models"))
    long = tmp_path / "long.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "20", "-c:v",
           "libx264", "-g", "1", "-preset", "ultrafast", long)
    # How long each call takes uninterrupted, measured here (the keyframes call is short):
    # interrupted at 0.3 s it must end well before that.
    t = time.perf_counter()
    vx.keyframes(long, every=0.001)
    full_keyframes = time.perf_counter() - t
    calls = [
        (lambda: vx.run(long, ops="keyframes(every=0.05);detect", output=tmp_path / "r",
                        threads=2), 4.0),
        (lambda: vx.keyframes(long, every=0.001), max(0.3 + (full_keyframes - 0.3) / 2, 0.6)),
    ]
    for call, bound in calls:
        timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
        t = time.perf_counter()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            call()
            time.sleep(5)  # finished before the signal (not expected): it lands here
        assert time.perf_counter() - t < bound, (bound, full_keyframes)
    # The module goes on working after an interrupted call.
    assert vx.probe(long)["streams"][0]["type"] == "video"


def test_numbers_out_of_range_are_value_errors(tmp_path, monkeypatch):
    # Negative numbers were OverflowError (not a ValueError) from the integer conversion.
    monkeypatch.setenv("VX_MODEL_DIR", str(ASSETS / "models"))
    jfk = ASSETS / "media" / "jfk.wav"
    bus = ASSETS / "media" / "bus.jpg"
    for bad in (
        lambda: vx.keyframes(bus, max_side=-1),
        lambda: vx.keyframes(bus, max_side=2**40),
        lambda: vx.audio(jfk, rate=-1),
        lambda: vx.audio(jfk, rate=2**33),
        lambda: vx.audio(jfk, channels=-2),
        lambda: vx.Pipeline("keyframes", threads=-5),
        lambda: vx.run(bus, ops="keyframes", threads=-1),
    ):
        with pytest.raises(ValueError):
            bad()
    # The record says where its files are (a temporary directory without output=).
    rec = vx.run(bus, ops="keyframes")
    d = Path(rec["dir"])
    assert all((d / f).is_file() for f in rec["ops"]["keyframes"]["outputs"]), rec
    import shutil

    shutil.rmtree(d.parent)
    # The signatures say the default plan (not "...").
    import inspect

    assert "keyframes;[detect,faces];transcribe" in str(inspect.signature(vx.run))
