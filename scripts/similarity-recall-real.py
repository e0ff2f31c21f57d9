#!/usr/bin/env python3
"""Similarity quality on real embeddings: encodes N PeerTube-like texts of ../shared/tools/gen_texts.py
with the real model (`peertube-updater embed --texts`), loads them into a prod DB, runs `ann build`
and `similarity --reset`, and prints recall@20 of the cached lists against exact search (numpy).

  python3 scripts/similarity-recall-real.py [-n 10000] [--nlist 256] [--work bench-data/real]
"""
import argparse, json, os, sqlite3, subprocess, sys, time
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("-n", type=int, default=10000)
ap.add_argument("--nlist", type=int, default=256)
ap.add_argument("--work", default="bench-data/real")
ap.add_argument("--bin", default=".build/release/peertube-updater")
args = ap.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(root)
os.makedirs(args.work, exist_ok=True)
texts_path, vectors_path = f"{args.work}/texts-{args.n}.json", f"{args.work}/vectors-{args.n}.json"
db, index, cache = f"{args.work}/prod.db", f"{args.work}/index.faiss", f"{args.work}/similarity.db"

def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

if not os.path.exists(vectors_path):
    run(sys.executable, "../shared/tools/gen_texts.py", "-n", str(args.n), "--seed", "2026", "-o", texts_path)
    started = time.time()
    run(args.bin, "embed", "--texts", texts_path, "--out", vectors_path)
    print(f"embedded {args.n} texts in {time.time() - started:.1f} s")
texts = json.load(open(texts_path))
vectors = np.array(json.load(open(vectors_path)), dtype=np.float32)

for suffix in ["", "-wal", "-shm", "-journal"]:
    if os.path.exists(db + suffix): os.remove(db + suffix)
run(args.bin, "fixture", "generate", "--prod-db", db, "--videos", "0", "--no-embeddings")  # empty prod, our schema
con = sqlite3.connect(db)
con.executemany("INSERT INTO videos(video_id, instance_domain, title, description, last_checked_at) VALUES (?, 'real.example', ?, ?, 0)",
                [(str(i), t.split("\n")[0], t) for i, t in enumerate(texts)])
con.executemany("INSERT INTO video_embeddings VALUES (?, 'real.example', ?, 384, 'all-MiniLM-L6-v2', '2026-01-01T00:00:00+00:00')",
                [(str(i), v.astype("<f4").tobytes()) for i, v in enumerate(vectors)])
con.commit()
con.close()

run(args.bin, "ann", "build", "--db", db, "--index-path", index, "--nlist", str(args.nlist))
if os.path.exists(cache): os.remove(cache)
log = run(args.bin, "similarity", "--db", db, "--index", index, "--out", cache, "--reset")
print([line for line in log.splitlines() if "similarity: new=" in line][0].split("INFO  ")[1])

scores = vectors @ vectors.T
np.fill_diagonal(scores, -np.inf)
exact = np.argsort(-scores, axis=1)[:, :20]
cached = {}
for source, neighbour in sqlite3.connect(cache).execute("SELECT source_video_id, similar_video_id FROM similarity_items"):
    cached.setdefault(int(source), set()).add(int(neighbour))
found = sum(len(set(exact[i].tolist()) & cached.get(i, set())) for i in range(len(vectors)))
print(f"recall@20 vs exact search, real MiniLM embeddings of {len(vectors)} texts, nlist {args.nlist}, nprobe 16: "
      f"{found / (20 * len(vectors)):.3f}")
