#!/usr/bin/env bash
# The GPU proofs, run in the unpacked bundle (make gpu-bundle) on a machine with a GPU; no Swift
# toolchain needed. One summary line per proof, `PROOF <name>: PASS|FAIL|SKIP <figures>`, with
# progress on stderr as it goes. Sized for one H200 with 16 slower cores: the CPU-side comparisons
# use 1,000 texts; the scale step generates its million-video prod once (PROOF_SCALE_VIDEOS and
# PROOF_SKIP_SCALE=1 shrink or skip it).
# Weights: the real model in models/all-MiniLM-L6-v2, else seeded random weights of the same shape
# (proof-model.sh; python3 with torch and transformers). Every agreement is GPU vs CPU on the same
# weights.
set -uo pipefail
cd "$(dirname "$0")"
export LD_LIBRARY_PATH="$PWD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin=./bin/peertube-updater
bench=./bin/updater-bench
started=$(date +%s)
progress() { echo "[gpu-proof +$(( $(date +%s) - started )) s] $*" >&2; }
line() { printf 'PROOF %s: %s\n' "$1" "$2"; }
mkdir -p proof
# Kernels compiled here are cached for the later steps.
export PEERTUBE_UPDATER_CACHE_DIR="$PWD/proof/kernel-cache"

progress "device"
if out=$($bin device 2>&1) && echo "$out" | grep -q '^gpu embeddings: usable'; then
  line device "PASS $(echo "$out" | grep '^cuda:' | head -1)"
else
  line device "FAIL $(echo "$out" | grep -E '^(cuda|gpu)' | tr '\n' ';')"
fi

progress "texts (gen_texts.py -n 100000 --seed 1234) and weights"
[ -f proof/texts-100k.json ] || python3 tools/gen_texts.py -n 100000 --seed 1234 -o proof/texts-100k.json
model=$(./proof-model.sh) || { line model "FAIL no model and no weights could be made"; exit 1; }

# Part 1: every kernel against its host reference, then GPU vs CPU on 1,000 texts, fp32 and TF32.
for precision in fp32 tf32; do
  progress "self-test, $precision"
  $bin device --self-test --gpu-precision "$precision" --model-dir "$model" --texts proof/texts-100k.json --count 1000 \
    > "proof/selftest-$precision.log" 2>&1
  rc=$?
  grep '^SELFTEST' "proof/selftest-$precision.log" | sed 's/^/  /' >&2
  failed=$(grep -c '^SELFTEST .*: FAIL' "proof/selftest-$precision.log")
  agreement=$(sed -n 's/^SELFTEST embeddings_vs_cpu: \([A-Z]*\).*min_cosine=\([0-9.]*\).*/\1 min_cosine=\2/p' "proof/selftest-$precision.log")
  if [ "$rc" = 0 ] && [ "$failed" = 0 ]; then line "selftest-$precision" "PASS $(grep -c '^SELFTEST' "proof/selftest-$precision.log") lines; embeddings vs cpu: $agreement"
  else line "selftest-$precision" "FAIL rc=$rc, $failed failing: $(grep -E ': FAIL|Error' "proof/selftest-$precision.log" | head -3 | tr '\n' ';')"; fi
done

# The 100,000 texts end to end: texts in, normalised vectors out (tokenizing included).
for precision in fp32 tf32; do
  progress "100,000 texts, $precision"
  $bench embed --gpu --gpu-precision "$precision" --texts proof/texts-100k.json --model-dir "$model" --runs 2 \
    > "proof/throughput-$precision.log" 2>&1
  rate=$(sed -n 's/^embed .*median \([0-9.]*\) texts\/s.*/\1/p' "proof/throughput-$precision.log")
  target=$([ "$precision" = fp32 ] && echo 20000 || echo 50000)
  if [ -n "$rate" ]; then
    verdict=$(python3 -c "print('PASS' if $rate >= $target else 'FAIL')")
    line "embeddings-100k-$precision" "$verdict $rate texts/s (target $target) $(grep '^device:' "proof/throughput-$precision.log")"
  else
    line "embeddings-100k-$precision" "FAIL $(tail -2 "proof/throughput-$precision.log" | tr '\n' ';')"
  fi
done
# Part 2a: the Smoke suite in GPU mode (device=cuda, mode=gpu, every check, the failure scenarios,
# day two and serving during the update).
progress "smoke --gpu"
[ -d models/all-MiniLM-L6-v2 ] || export PEERTUBE_UPDATER_MODEL_DIR="$PWD/$model"
if ./peertube-updater smoke --gpu --workdir proof/smoke > proof/smoke-gpu.log 2>&1; then
  line smoke-gpu "PASS $(python3 -c 'import json;r=json.load(open("proof/smoke/last-report.json"));print("worker_total_ms=%s device=%s mode=%s" % (r["timings_ms"]["worker_total"], r["checks"]["device_markers"]["value"]["device"], r["checks"]["device_markers"]["value"]["mode"]))' 2>/dev/null)"
else
  line smoke-gpu "FAIL $(python3 -c 'import json;print(json.load(open("proof/smoke/last-report.json")).get("error","")[:600])' 2>/dev/null || tail -1 proof/smoke-gpu.log)"
fi

# Part 2b: the ANN build (CPU vs GPU, recall@20 of both) and exact similarity at a million videos.
if [ "${PROOF_SKIP_SCALE:-0}" != 1 ]; then
  videos=${PROOF_SCALE_VIDEOS:-1000000}
  progress "scale: $videos x 384 (generated once), ANN build CPU and GPU, exact similarity full and +10,000"
  $bench gpu-scale --data-dir proof/scale --videos "$videos" --new-videos 10000 --nlist 4096 > proof/gpu-scale.log 2>&1
  grep '^GPU-SCALE' proof/gpu-scale.log | sed 's/^/  /' >&2
  python3 - proof/gpu-scale.log <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def grab(name, pattern):
    m = re.search(r"^GPU-SCALE %s: %s" % (name, pattern), text, re.M)
    return tuple(float(x) for x in m.groups()) if m else None
def line(name, ok, figures): print("PROOF %s: %s %s" % (name, "PASS" if ok else "FAIL", figures))
cpu = grab("ann-build-cpu", r"([0-9.]+) s, recall@20 ([0-9.]+)")
gpu = grab("ann-build-gpu", r"([0-9.]+) s, recall@20 ([0-9.]+)")
if gpu:
    line("ann-build-gpu", gpu[0] <= 10 and (cpu is None or abs(gpu[1] - cpu[1]) <= 0.01),
         "%.2f s (target 10 s), recall@20 %.4f%s" % (gpu[0], gpu[1], " vs cpu %.4f in %.2f s" % (cpu[1], cpu[0]) if cpu else ""))
else: line("ann-build-gpu", False, "no figures: " + text.strip().splitlines()[-1][:300] if text.strip() else "no output")
full = grab("similarity-full", r"([0-9.]+) s in all, ([0-9.]+) s searching, [0-9]+ lists, recall@20 ([0-9.]+)")
if full: line("similarity-full", full[0] <= 30 and full[2] == 1.0, "%.2f s in all (target 30 s), %.2f s searching, recall %.4f" % full)
else: line("similarity-full", False, "no figures")
inc = grab("similarity-incremental", r"([0-9.]+) s in all, ([0-9.]+) s searching, \+[0-9]+ new, [0-9]+ old lists refreshed, recall@20 ([0-9.]+)")
if inc: line("similarity-incremental", inc[0] <= 3 and inc[2] == 1.0, "%.2f s in all (target 3 s), %.2f s searching, recall %.4f" % inc)
else: line("similarity-incremental", False, "no figures")
PY
fi
progress "done"
