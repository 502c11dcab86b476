#!/usr/bin/env python3
"""Peer for bench/detect: the usual Python way to run the TF OD API SSD ONNX model over
images (PIL decode, onnxruntime). Usage: detect_images.py MODEL THREADS IMAGE... ; prints the
number of detections >= 0.5 per image as JSON."""
import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

model, threads, images = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
counts = []
for path in images:
    img = np.asarray(Image.open(path).convert("RGB"))[None]
    scores, num = sess.run(["detection_scores:0", "num_detections:0"], {"image_tensor:0": img})
    counts.append(int((scores[0, : int(num[0])] >= 0.5).sum()))
print(json.dumps(counts))
