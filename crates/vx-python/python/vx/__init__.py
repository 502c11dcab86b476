"""vx: keyframes, audio and metadata of video and audio files, decoded in-process by the vx
engine (Rust, with a minimal FFmpeg linked in). Every function releases the GIL while it works.

    import vx
    info = vx.probe("talk.mp4")                    # dict, as `vx probe` prints it
    frames = vx.keyframes("talk.mp4", max_side=512)
    rgb = frames[0].array()                        # numpy uint8, (height, width, 3)
    pcm = vx.audio("talk.mp4")                     # numpy float32, 16 kHz mono
    rec = vx.run("talk.mp4", ops="keyframes;[detect,faces];transcribe", output="out/")
    p = vx.Pipeline("keyframes;detect")            # models loaded once, for many files
    for f in files: p.run(f, output="out/")
    tables = vx.arrow(rec, "out/")                 # pyarrow Tables: files, keyframes, detections...

Errors are `vx.VxError` (subclasses `InputError`, `NoStreamError`) with vx's one-line message;
bad arguments are `ValueError`.
"""
# NumPy's C API is loaded now (numpy is a dependency), not lazily inside a call: a Ctrl-C
# pending there made that import fail as a Rust panic instead of a KeyboardInterrupt.
import numpy as _numpy  # noqa: F401

from ._vx import (
    Frame,
    Pipeline,
    InputError,
    NoStreamError,
    VxError,
    __version__,
    audio,
    keyframes,
    probe,
    run,
)
from .tables import arrow

__all__ = [
    "arrow",
    "Frame",
    "Pipeline",
    "InputError",
    "NoStreamError",
    "VxError",
    "__version__",
    "audio",
    "keyframes",
    "probe",
    "run",
]
