#!/usr/bin/env bash
# Prints the model folder the bundle's checks use: models/all-MiniLM-L6-v2 when it holds the real
# weights, else seeded random weights of the same shape, written once by transformers beside
# model-config/ (for speed and for GPU-vs-CPU agreement, both computed from the same weights; the
# real model's exactness is checked in make test). Run from the unpacked bundle.
set -euo pipefail
model=models/all-MiniLM-L6-v2
if [ -f "$model/model.safetensors" ]; then echo "$model"; exit 0; fi
model=proof-model
if [ ! -f "$model/model.safetensors" ]; then
  rm -rf "$model" && cp -r model-config "$model"
  python3 - "$model" <<'PY' >&2
import sys, torch
from transformers import BertConfig, BertModel
torch.manual_seed(1234)
BertModel(BertConfig.from_pretrained(sys.argv[1]), add_pooling_layer=False).save_pretrained(sys.argv[1], safe_serialization=True)
print("model: seeded random weights (same shape as all-MiniLM-L6-v2) in", sys.argv[1])
PY
fi
echo "$model"
