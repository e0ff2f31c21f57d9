#!/usr/bin/env bash
# End-to-end run of what the updater can do today, on the embedded default data: generate a
# deterministic mini-prod and a staging DB with new rows, embed staging's videos with the real model,
# merge, score popularity, build the ANN index, precompute similar videos, and check the result. The
# crawl stages and the Swift Testing smoke suite (with last-report.json) join later.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/debug/peertube-updater
run_id=$(date -u +%Y%m%d-%H%M%S)
dir=tmp/orchestrator-smoke/$run_id
mkdir -p "$dir"
prod=$dir/mini-prod.db staging=$dir/staging.db log=$dir/worker.log
fail() { echo "smoke-cpu: FAIL: $*" >&2; echo "artifacts: $dir" >&2; exit 1; }

"$bin" fixture generate --prod-db "$prod" --staging-db "$staging" --videos 2000 --new-videos 300 \
  --channels 30 --new-channels 5 --instances 3 --log-file "$log"
cp "$prod" "$dir/mini-prod.before.db"
"$bin" embed --db "$staging" --force --log-file "$log"
grep -q 'embeddings: device=cpu' "$log" || fail "embeddings did not log device=cpu"
echo "staging deltas (new rows per table):"
"$bin" merge --prod-db "$prod" --staging-db "$staging" --dry-run | tee "$dir/deltas.tsv"
"$bin" merge --prod-db "$prod" --staging-db "$staging" --log-file "$log"
"$bin" popularity --db "$prod" --log-file "$log"
"$bin" ann build --db "$prod" --index-path "$dir/index.faiss" --nlist 32 --log-file "$log"
grep -q 'ann: mode=cpu' "$log" || fail "ANN build did not log mode=cpu"
grep -q '"total" : 2300' "$dir/index.faiss.json" || fail "ANN meta total is not the 2300 prod embeddings"
"$bin" similarity --db "$prod" --index "$dir/index.faiss" --out "$dir/similarity.db" --log-file "$log"
grep -q 'similarity: new=2300 ' "$log" || fail "similarity did not cover every video"

# After the merge staging has nothing new left, and the lock is free.
"$bin" merge --prod-db "$prod" --staging-db "$staging" --dry-run | grep -v 'new_rows=0$' && fail "rows left unmerged"
"$bin" lock status --prod-db "$prod" | grep -q '^free' || fail "lock not released"
grep -q 'merged table=videos strategy=INSERT_ONLY rows_before=2000 rows_after=2300' "$log" || fail "videos delta"
echo "smoke-cpu: PASS (stages: embeddings, staging deltas, merge, popularity, ANN build, similarity, lock). Artifacts: $dir"
