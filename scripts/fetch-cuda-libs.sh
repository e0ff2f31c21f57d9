#!/usr/bin/env bash
# Installs NVIDIA's CUDA library wheels from PyPI into a folder the binary searches (default
# cuda-libs/, see Device/CUDALibraries.swift): `make deps` installs NVRTC (it compiles kernels with no
# GPU, which make test checks), `make gpu-deps` cuBLAS and NVRTC of the driver's CUDA major for a
# machine with a driver and no CUDA toolkit. Idempotent: each installed wheel leaves a stamp.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$1; shift
mkdir -p "$dest"
for spec in "$@"; do
  stamp="$dest/.installed-$spec"
  [ -f "$stamp" ] && continue
  echo "cuda-libs: installing $spec from PyPI into $dest"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --upgrade --target "$dest" "$spec"
  touch "$stamp"
done
