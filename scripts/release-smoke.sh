#!/usr/bin/env bash
# The artifact users run, end to end: the release bundle's `peertube-updater smoke --cpu` (static Swift
# stdlib, the bundle's own libraries) in dist/peertube-updater-gpu/, as a user who unpacked it would
# run it there, with the real model. Passes only on exit 0 and a PASS report. Every phase of the
# session is bounded (`--time-limit-factor`), so a hang fails here instead of stalling CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=dist/peertube-updater-gpu
model=${MODEL_DIR:-models/all-MiniLM-L6-v2}
[ -x "$bundle/peertube-updater" ] || { echo "release-smoke: no bundle in $bundle; run make release-smoke" >&2; exit 1; }
[ -f "$model/model.safetensors" ] || { echo "release-smoke: no model in $model; run make model" >&2; exit 1; }
mkdir -p "$bundle/models"
ln -sfn "$(cd "$model" && pwd)" "$bundle/models/all-MiniLM-L6-v2"
cd "$bundle"
rm -f tmp/orchestrator-smoke/last-report.json
start=$(date +%s)
rc=0
./peertube-updater smoke --cpu --workdir tmp/orchestrator-smoke "$@" || rc=$?
status=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' tmp/orchestrator-smoke/last-report.json 2>/dev/null || echo missing)
echo "release-smoke: rc=$rc report=$status in $(( $(date +%s) - start )) s ($bundle/tmp/orchestrator-smoke/last-report.json)"
[ "$rc" = 0 ] && [ "$status" = pass ]
