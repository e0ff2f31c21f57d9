#!/usr/bin/env python3
"""Similarity quality on real embeddings: encodes N PeerTube-like texts of ../shared/tools/gen_texts.py
with the real model (`peertube-updater embed --texts`), loads them into a prod DB, runs `ann build`
and `similarity --reset`, and prints recall@20 of the cached lists against exact search (numpy).
Then the incremental case on the same texts: a cache of the first 95% (yesterday's prod), the last 5%
arrive, and an incremental run is timed against a full one, with how many old lists it refreshed and
its recall.

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

def make_prod(path, count):
    for suffix in ["", "-wal", "-shm", "-journal"]:
        if os.path.exists(path + suffix): os.remove(path + suffix)
    run(args.bin, "fixture", "generate", "--prod-db", path, "--videos", "0", "--no-embeddings")  # empty prod, our schema
    con = sqlite3.connect(path)
    con.executemany("INSERT INTO videos(video_id, instance_domain, title, description, last_checked_at) VALUES (?, 'real.example', ?, ?, 0)",
                    [(str(i), t.split("\n")[0], t) for i, t in enumerate(texts[:count])])
    con.executemany("INSERT INTO video_embeddings VALUES (?, 'real.example', ?, 384, 'all-MiniLM-L6-v2', '2026-01-01T00:00:00+00:00')",
                    [(str(i), v.astype("<f4").tobytes()) for i, v in enumerate(vectors[:count])])
    con.commit()
    con.close()

def similarity_line(log):
    return [line for line in log.splitlines() if "similarity: new=" in line][0].split("INFO  ")[1]

make_prod(db, len(texts))
run(args.bin, "ann", "build", "--db", db, "--index-path", index, "--nlist", str(args.nlist))
if os.path.exists(cache): os.remove(cache)
log = run(args.bin, "similarity", "--db", db, "--index", index, "--out", cache, "--reset")
print(similarity_line(log))

scores = vectors @ vectors.T
np.fill_diagonal(scores, -np.inf)
exact = np.argsort(-scores, axis=1)[:, :20]
cached = {}
for source, neighbour in sqlite3.connect(cache).execute("SELECT source_video_id, similar_video_id FROM similarity_items"):
    cached.setdefault(int(source), set()).add(int(neighbour))
def recall(cache_path):
    cached = {}
    for source, neighbour in sqlite3.connect(cache_path).execute("SELECT source_video_id, similar_video_id FROM similarity_items"):
        cached.setdefault(int(source), set()).add(int(neighbour))
    return sum(len(set(exact[i].tolist()) & cached.get(i, set())) for i in range(len(vectors))) / (20 * len(vectors))

print(f"recall@20 vs exact search, real MiniLM embeddings of {len(vectors)} texts, nlist {args.nlist}, nprobe 16: "
      f"{recall(cache):.3f}")

# Incremental: yesterday's prod held the first 95%, its cache was computed; the rest arrive today.
# Both days' indexes get the nlist the smaller prod can train, and the full run compared uses it too.
old_count = len(texts) * 95 // 100
nlist = min(args.nlist, old_count // 39)
old_db, old_index, new_index = f"{args.work}/prod-old.db", f"{args.work}/index-old.faiss", f"{args.work}/index-new.faiss"
incremental, full = f"{args.work}/similarity-incremental.db", f"{args.work}/similarity-full.db"
make_prod(old_db, old_count)
run(args.bin, "ann", "build", "--db", old_db, "--index-path", old_index, "--nlist", str(nlist))
run(args.bin, "ann", "build", "--db", db, "--index-path", new_index, "--nlist", str(nlist))
for path in [incremental, full]:
    for suffix in ["", "-wal", "-shm", ".prev"]:
        if os.path.exists(path + suffix): os.remove(path + suffix)
run(args.bin, "similarity", "--db", old_db, "--index", old_index, "--out", incremental, "--reset")
started = time.time()
log = run(args.bin, "similarity", "--db", db, "--index", new_index, "--out", incremental)
incremental_seconds = time.time() - started
started = time.time()
run(args.bin, "similarity", "--db", db, "--index", new_index, "--out", full, "--reset")
full_seconds = time.time() - started
new_in_old = sum(1 for i in range(old_count) if (exact[i] >= old_count).any())
print(f"incremental, +{len(texts) - old_count} new videos on {old_count} (nlist {nlist}): {similarity_line(log)}; "
      f"{new_in_old} old lists gain a new video in their exact top-20; whole process {incremental_seconds:.2f} s "
      f"against {full_seconds:.2f} s for a full run ({100 * incremental_seconds / full_seconds:.0f}%); "
      f"recall@20 after it {recall(incremental):.3f}, after the full run {recall(full):.3f}")
