#!/usr/bin/env python3
"""The similarity stage side by side with the reference system's job, `precompute-similar-ann.py --cpu
--reset` (denikryt/PeerTube-browser, engine/server/db/jobs/; run with a Python that has faiss-cpu and
numpy), as whole processes, alternating, on the same prod and the same index, with recall@20 of both
caches against exact search (numpy, 1,000 sources).

Two data sets: the benchmark's 100,000-video prod (`updater-bench similarity` makes it), and an
independent one: the same rows with every embedding replaced by a hierarchical mixture of another
shape (64 topics, 1,500 Zipf-sized sub-clusters of varying spread, each stretched along one axis,
2% uniform outliers), made once beside it.

  python3 scripts/similarity-vs-reference.py --reference REF/engine/server/db/jobs/precompute-similar-ann.py \
      --ref-python VENV/bin/python [--rounds 3] [--nprobe 16] [--work bench-data]
"""
import argparse, os, shutil, sqlite3, statistics, subprocess, sys, time
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--reference", required=True, help="the reference's precompute-similar-ann.py")
ap.add_argument("--ref-python", required=True, help="a Python with faiss-cpu and numpy")
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--nprobe", type=int, default=16)
ap.add_argument("--nlist", type=int, default=1024)
ap.add_argument("--work", default="bench-data")
ap.add_argument("--bin", default=".build/release/peertube-updater")
args = ap.parse_args()
os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
bench_prod = f"{args.work}/sim-prod-100000.db"
if not os.path.exists(bench_prod):
    sys.exit(f"{bench_prod} is missing: run `make bench ARGS=\"similarity --runs 1\"` first")

def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

def remove(path):
    for suffix in ["", "-wal", "-shm", "-journal", ".prev"]:
        if os.path.exists(path + suffix): os.remove(path + suffix)

def independent_prod(path, seed=7):
    """The bench prod's rows with vectors of another mixture (see the docstring)."""
    if os.path.exists(path): return
    shutil.copyfile(bench_prod, path + ".tmp")
    con = sqlite3.connect(path + ".tmp")
    rowids = [r[0] for r in con.execute("SELECT rowid FROM video_embeddings ORDER BY rowid")]
    n, d, subs = len(rowids), 384, 1500
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((64, d)).astype(np.float32)
    centres = topics[rng.integers(0, 64, subs)] + 0.8 * rng.standard_normal((subs, d)).astype(np.float32)
    weights = 1.0 / np.arange(1, subs + 1) ** 0.9
    member = rng.choice(subs, size=n, p=weights / weights.sum())
    spread = rng.uniform(0.3, 1.2, subs).astype(np.float32)
    axes = rng.standard_normal((subs, d)).astype(np.float32)
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    vectors = centres[member] + rng.standard_normal((n, d)).astype(np.float32) * spread[member, None]
    vectors += (rng.standard_normal(n).astype(np.float32) * 2.0 * spread[member])[:, None] * axes[member]
    outliers = rng.random(n) < 0.02
    vectors[outliers] = rng.standard_normal((int(outliers.sum()), d)).astype(np.float32) * 3
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    con.executemany("UPDATE video_embeddings SET embedding = ? WHERE rowid = ?",
                    ((vectors[i].astype("<f4").tobytes(), rowids[i]) for i in range(n)))
    con.commit()
    con.close()
    os.rename(path + ".tmp", path)
    sizes = np.bincount(member, minlength=subs)
    print(f"independent prod: {n} vectors, {subs} sub-clusters (largest {sizes.max()}, median {int(np.median(sizes))}), {int(outliers.sum())} outliers")

def recall(prod, cache, samples=1000):
    con = sqlite3.connect(prod)
    rows = con.execute("SELECT video_id, instance_domain, embedding FROM video_embeddings ORDER BY rowid").fetchall()
    keys = [(r[0], r[1]) for r in rows]
    vectors = np.vstack([np.frombuffer(r[2], dtype="<f4") for r in rows])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sample = np.arange(0, len(keys), max(1, len(keys) // samples))
    scores = vectors[sample] @ vectors.T
    scores[np.arange(len(sample)), sample] = -np.inf
    exact = np.argsort(-scores, axis=1)[:, :20]
    listed = sqlite3.connect(cache)
    found = 0
    for row, source in enumerate(sample):
        got = set(listed.execute("SELECT similar_video_id, similar_instance_domain FROM similarity_items "
                                 "WHERE source_video_id = ? AND source_instance_domain = ?", keys[source]))
        found += len(got & {keys[j] for j in exact[row]})
    return found / (20 * len(sample))

independent = f"{args.work}/independent-prod-100000.db"
independent_prod(independent)
for name, prod in [("benchmark's data", bench_prod), ("independent data", independent)]:
    index, ours_cache, ref_cache = prod + ".faiss", f"{args.work}/vs-ours.db", f"{args.work}/vs-reference.db"
    run(args.bin, "ann", "build", "--cpu", "--db", prod, "--index-path", index, "--nlist", str(args.nlist))
    ours, reference = [], []
    for _ in range(args.rounds):
        for times, cache, command in [
            (ours, ours_cache, [args.bin, "similarity", "--cpu", "--db", prod, "--index", index, "--out", ours_cache, "--reset",
                                "--nprobe", str(args.nprobe)]),
            (reference, ref_cache, [args.ref_python, args.reference, "--db", prod, "--index", index, "--out", ref_cache, "--cpu", "--reset",
                                    "--nprobe", str(args.nprobe)]),
        ]:
            remove(cache)
            started = time.monotonic()
            run(*command)
            times.append(time.monotonic() - started)
    ours_median, ref_median = statistics.median(ours), statistics.median(reference)
    print(f"{name}, nprobe {args.nprobe}: ours {ours_median:.2f} s ({', '.join(f'{t:.2f}' for t in ours)}), recall@20 {recall(prod, ours_cache):.3f}; "
          f"reference {ref_median:.2f} s ({', '.join(f'{t:.2f}' for t in reference)}), recall@20 {recall(prod, ref_cache):.3f}; "
          f"{ref_median / ours_median:.1f}x")
