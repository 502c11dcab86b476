"""The peer of bench/ocr: RapidOCR (rapidocr-onnxruntime 1.4.4, its default config: PP-OCRv4
det + rec, the v2.0 direction classifier, onnxruntime with its default threads) over the given
pictures, one `RapidOCR()` for all of them, as its README shows. Prints one JSON list per
picture: the texts, in RapidOCR's order."""
import json
import sys

from rapidocr_onnxruntime import RapidOCR

engine = RapidOCR()
out = []
for path in sys.argv[1:]:
    result, _ = engine(path)
    out.append([r[1] for r in (result or [])])
print(json.dumps(out))
