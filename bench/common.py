"""Shared helpers for vx benchmarks: run a command under GNU time, collect wall time and peak
RSS, alternate between vx and its peer, print medians and ratios. Standard library only."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIME = "/usr/bin/time"


def vx_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "vx-cli"], cwd=ROOT, check=True)
    return os.path.join(target, "release", "vx")


def measure(cmd, before=None):
    """Run cmd once; return (wall seconds, peak RSS MiB, user+sys CPU seconds)."""
    if before:
        before()
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        p = subprocess.run([TIME, "-f", "%M %U %S", "-o", tf.name] + cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.decode()}")
        rss_kb, user, sys_ = tf.read().split()[-3:]
    return wall, int(rss_kb) / 1024.0, float(user) + float(sys_)


def compare(name, ours, peer, rounds, before=None):
    """Alternate ours/peer `rounds` times; print medians and ratios; return a result dict."""
    res = {"vx": [], "peer": []}
    measure(ours, before)  # warm the page cache and the binaries
    measure(peer, before)
    for _ in range(rounds):
        res["vx"].append(measure(ours, before))
        res["peer"].append(measure(peer, before))
    med = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in res.items()}
    (vw, vr, vc), (pw, pr, pc) = med["vx"], med["peer"]
    print(f"{name}")
    print(f"  vx   : wall {vw*1000:8.1f} ms  peak RSS {vr:7.1f} MiB  CPU {vc:6.2f} s")
    print(f"  peer : wall {pw*1000:8.1f} ms  peak RSS {pr:7.1f} MiB  CPU {pc:6.2f} s")
    print(f"  ratio vx/peer: wall {vw/pw:.2f}  peak RSS {vr/pr:.2f}  CPU {vc/pc:.2f}   (median of {rounds})")
    sys.stdout.flush()
    return med


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}"


def clean_dir(path):
    def f():
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
    return f


def testsrc_clip(work, name, size, secs, preset):
    """WORK/NAME: `testsrc2` at SIZE, SECS long, H.264 (x264 PRESET), a keyframe every 2 s;
    made once and reused."""
    path = os.path.join(work, name)
    if not os.path.exists(path):
        print(f"generating {name} ({size}, {secs} s, keyframe every 2 s)", flush=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-nostdin", "-f", "lavfi", "-i",
                        f"testsrc2=size={size}:rate=30", "-t", str(secs), "-c:v", "libx264",
                        "-preset", preset, "-g", "60", "-pix_fmt", "yuv420p", path + ".tmp.mp4"],
                       check=True)
        os.rename(path + ".tmp.mp4", path)
    return path


def whisper_cli(work):
    """whisper.cpp's own CLI at the version vx links (1.8.3), built once from
    $WHISPER_CPP_SRC or a clone of the official repository into target/bench, with the
    options vx builds whisper.cpp with (GGML_NATIVE, GGML_LLAMAFILE); and the Silero VAD in
    ggml form its --vad needs (models/for-tests-silero-v6.2.0-ggml.bin of that repository,
    real weights: whisper.cpp's VAD tests use them). None when it cannot be had."""
    src = os.environ.get("WHISPER_CPP_SRC", os.path.join(work, "whisper.cpp-src"))
    cli = os.path.join(src, "build", "bin", "whisper-cli")
    vad_ggml = os.path.join(src, "models", "for-tests-silero-v6.2.0-ggml.bin")
    if not os.path.exists(cli):
        if not os.path.exists(src) and subprocess.run(
                ["git", "clone", "-q", "--depth", "1", "--branch", "v1.8.3",
                 "https://github.com/ggml-org/whisper.cpp", src]).returncode:
            print("whisper-cli: cannot clone whisper.cpp (set WHISPER_CPP_SRC); not measured")
            return None
        for cmd in (["cmake", "-B", "build", "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON",
                     "-DGGML_LLAMAFILE=ON", "-DWHISPER_BUILD_TESTS=OFF", "-DBUILD_SHARED_LIBS=OFF"],
                    ["cmake", "--build", "build", "--target", "whisper-cli", "-j", "2"]):
            if subprocess.run(cmd, cwd=src, stdout=subprocess.DEVNULL).returncode:
                print("whisper-cli: build failed; not measured")
                return None
    return (cli, vad_ggml) if os.path.exists(vad_ggml) else None
