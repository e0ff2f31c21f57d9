#!/usr/bin/env bash
# Issue 17's scaling check, run in the unpacked GPU bundle (no Swift toolchain needed): CPU embedding
# texts/s at 1, 2, 4, 8 and 16 threads (or up to the cores there), each with the embedding stage's page
# size, then sentence-transformers on the same CPU at 2 threads and at all cores, side by side.
# Weights: models/all-MiniLM-L6-v2 when it holds model.safetensors, else seeded random weights of the
# same shape written by transformers beside model-config/ (speed only; exactness is checked on the real
# model elsewhere).
# Needs python3 with torch, transformers and sentence-transformers for the random weights and the
# side-by-side; one summary line per figure: `SCALING threads N: X texts/s (S× one thread)`.
set -uo pipefail
cd "$(dirname "$0")"
bench=./bin/updater-bench
export LD_LIBRARY_PATH="$PWD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cores=$(nproc)
echo "machine: $cores cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
[ -f texts.json ] || python3 tools/gen_texts.py -n 2000 --seed 1234 -o texts.json || exit 1
model=$(./proof-model.sh) || exit 1
run() { "$bench" embed --texts texts.json --model-dir "$model" "$@" 2>&1 | grep '^embed '; }
# The same 600 texts at every thread count (one thread is slow: ~15 texts/s on 3 GHz-class server cores).
{ run --threads 1 --count 600 --runs 2
  threads=(); for t in 2 4 8 16 32 64; do [ "$t" -le "$cores" ] && threads+=("$t"); done
  [ "${threads[-1]}" -lt "$cores" ] && threads+=("$cores")
  run --threads "$(IFS=,; echo "${threads[*]}")" --count 600 --runs 3
} | tee scaling.log | sed -n 's/.*threads \([0-9]*\)): median \([0-9.]*\) texts\/s.*/\1 \2/p' | {
  read -r _ one
  echo "SCALING threads 1: $one texts/s (1.00x one thread)"
  while read -r t rate; do
    echo "SCALING threads $t: $rate texts/s ($(python3 -c "print('%.2f' % ($rate / $one))")x one thread; linear $t)"
  done
}
python3 - "$cores" "$model" <<'PY' 2>&1 | grep -E '^SCALING|Error'
import json, sys, time, torch
from sentence_transformers import SentenceTransformer
texts = json.load(open('texts.json'))
for threads, n in ((2, 600), (int(sys.argv[1]), 600)):
    torch.set_num_threads(threads)
    model = SentenceTransformer(sys.argv[2], device='cpu')
    model.encode(texts[:32])
    runs = []
    for _ in range(3):
        start = time.perf_counter(); model.encode(texts[:n], normalize_embeddings=True); runs.append(time.perf_counter() - start)
    runs.sort()
    print("SCALING sentence-transformers cpu threads %d: %.1f texts/s (runs %s s)" % (threads, n / runs[1], ", ".join("%.2f" % r for r in runs)))
PY
echo "SCALING ours threads 2 again: $(run --threads 2 --count 600 --runs 3 | sed -n 's/.*median \([0-9.]*\) texts\/s.*/\1/p') texts/s"
