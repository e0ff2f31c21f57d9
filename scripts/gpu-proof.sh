#!/usr/bin/env bash
# The GPU proofs, run in the unpacked bundle (make gpu-bundle) on a machine with a GPU; no Swift
# toolchain needed. One summary line per proof, `PROOF <name>: PASS|FAIL|SKIP <figures>`, with
# progress on stderr as it goes. Sized to finish in a few minutes on one H200 (16 slower cores:
# the CPU-side comparisons use 1,000 texts).
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
progress "done"
