"""The Python baseline of bench/search: the same hybrid search as `vx search` over the same
index file — the query embedded by onnxruntime with the same MiniLM model and tokenizer.json
(tokenizers), the same leaving-out of very common words, an exact numpy scan of the stored vectors (loaded once), BM25 from the same FTS5
table through the sqlite3 module, reciprocal rank fusion — timed per query in-process.

usage: search_baseline.py INDEX MODEL TOKENIZER QUERIES_FILE -> prints the median ms per query
and the top source of each query as JSON."""
import json
import re
import sqlite3
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

index, model, tok_path, queries = sys.argv[1:5]
db = sqlite3.connect(index)
ids, blobs = zip(*db.execute("SELECT item_id, vector FROM embeddings"))
ids = np.array(ids)
matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
tok = Tokenizer.from_file(tok_path)
tok.no_truncation()
tok.no_padding()


def embed(text):
    e = tok.encode(text)
    i = np.array([e.ids[:256]], dtype=np.int64)
    m = np.ones_like(i)
    out = session.run(None, {"input_ids": i, "attention_mask": m, "token_type_ids": np.zeros_like(i)})[0]
    v = out[0].mean(0)
    return v / np.linalg.norm(v)


TOTAL = db.execute("SELECT count(*) FROM items").fetchone()[0]


def search(q, k=10):
    words = [w.lower() for w in re.split(r"[^\w]+", q) if w]
    # As vx does: leave out words in more than a fifth of the items when others remain.
    rare = [w for w in words if (db.execute("SELECT doc FROM items_vocab WHERE term = ?", (w,)).fetchone()
                                 or [0])[0] <= TOTAL / 5]
    if rare and len(rare) < len(words):
        words = rare
    text_ids = []
    if words:
        fq = " OR ".join(f'"{w}"' for w in words)
        text_ids = [r[0] for r in db.execute(
            "SELECT rowid FROM items_fts WHERE items_fts MATCH ? ORDER BY bm25(items_fts) LIMIT 100", (fq,))]
    sims = matrix @ embed(q)
    top = np.argpartition(-sims, min(100, len(sims) - 1))[:100]
    top = top[np.argsort(-sims[top])]
    top = [t for t in top if sims[t] >= 0.2]
    fused = {}
    for r, i in enumerate(text_ids):
        fused[i] = fused.get(i, 0) + 1 / (61 + r)
    for r, t in enumerate(top):
        i = int(ids[t])
        fused[i] = fused.get(i, 0) + 1 / (61 + r)
    best = sorted(fused.items(), key=lambda x: -x[1])[:k]
    return [db.execute("SELECT files.source FROM items JOIN files ON files.id = items.file_id WHERE items.id = ?",
                       (i,)).fetchone()[0] for i, _ in best]


qs = [q.strip() for q in open(queries) if q.strip()]
search(qs[0])  # warm
times, tops = [], []
for q in qs:
    t0 = time.perf_counter()
    r = search(q)
    times.append((time.perf_counter() - t0) * 1000)
    tops.append(r[0] if r else None)
print(json.dumps({"median_ms": statistics.median(times), "tops": tops}))
