#!/usr/bin/env bash
# The GPU proofs, run in the unpacked bundle on a machine with a GPU (no Swift toolchain needed).
# One summary line per proof: `PROOF <name>: PASS|FAIL|SKIP <figures or reason>`. Needs the model in
# models/all-MiniLM-L6-v2 beside this script (fp32 safetensors, vocab.txt, configs), e.g. expanded
# there from a float16 copy carried in an earlier transfer.
set -uo pipefail
cd "$(dirname "$0")"
bin=./peertube-updater
line() { printf 'PROOF %s: %s\n' "$1" "$2"; }

# 1. The device: driver, devices, and which stages this build can run on it.
if out=$($bin device --require-gpu 2>&1); then line device "PASS $(echo "$out" | grep '^cuda:' | head -1)"
else line device "FAIL $(echo "$out" | tail -1)"; fi

# 2. The Smoke suite in GPU mode: device=cuda and mode=gpu markers, every check, the failure scenarios.
if [ -d models/all-MiniLM-L6-v2 ]; then
  if $bin smoke --gpu --workdir tmp/orchestrator-smoke > smoke-gpu.log 2>&1; then
    line smoke-gpu "PASS $(python3 -c 'import json;r=json.load(open("tmp/orchestrator-smoke/last-report.json"));print("worker_total_ms=%s" % r["timings_ms"]["worker_total"])' 2>/dev/null)"
  else line smoke-gpu "FAIL $(tail -1 smoke-gpu.log)"; fi
else
  line smoke-gpu "SKIP no model in models/all-MiniLM-L6-v2"
fi
