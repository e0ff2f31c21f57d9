#!/usr/bin/env bash
# Packs the release binaries (built with --static-swift-stdlib: the CLI and updater-bench), the shared
# libraries they need besides glibc's own, the smoke's TestResources, the GPU proof script and the CPU
# scaling check (scripts/embed-scaling.sh, with the model's configuration files and the bench's text
# generator) into dist/peertube-updater-gpu.tar.xz,
# for a machine with a GPU and no Swift toolchain. No model: it does not fit beside the bundle in one
# 64 MiB transfer (see scripts/gpu-proof.sh for how the model gets there).
# BUNDLE_BINARIES (default: both) names the binaries to pack; BUNDLE_ARCHIVE=0 leaves the folder
# dist/peertube-updater-gpu/ without the archive (make release-smoke runs the smoke from it).
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a binaries <<< "${BUNDLE_BINARIES:-.build/release/peertube-updater .build/release/updater-bench}"
for binary in "${binaries[@]}"; do
  [ -x "$binary" ] || { echo "gpu-bundle: $binary is missing; run make gpu-bundle" >&2; exit 1; }
done
model=${MODEL_DIR:-models/all-MiniLM-L6-v2}
[ -f "$model/config.json" ] || { echo "gpu-bundle: no model configuration in $model; run make model" >&2; exit 1; }
out=dist/peertube-updater-gpu
rm -rf "$out" "$out.tar.xz"
mkdir -p "$out/bin" "$out/lib"
cp "${binaries[@]}" "$out/bin/"
strip "$out"/bin/*
# Every library ldd names, except glibc's own (the target's glibc is at least as new as this one).
for binary in "${binaries[@]}"; do ldd "$binary"; done | awk '/=> \// { print $3 }' | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libresolv.so.*|ld-linux*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
  esac
done
strip --strip-unneeded "$out"/lib/*.so* 2>/dev/null || true
cp -r TestResources "$out/TestResources"
cp scripts/gpu-proof.sh scripts/embed-scaling.sh scripts/proof-model.sh "$out/"
# The model's configuration and tokenizer files, not its weights (too large to carry beside the bundle).
mkdir -p "$out/model-config/1_Pooling" "$out/model-config/2_Normalize" "$out/tools"
for file in config.json config_sentence_transformers.json modules.json sentence_bert_config.json \
            special_tokens_map.json tokenizer.json tokenizer_config.json vocab.txt 1_Pooling/config.json; do
  cp "$model/$file" "$out/model-config/$file"
done
cp ../shared/tools/gen_texts.py "$out/tools/"
cat > "$out/peertube-updater" <<'WRAP'
#!/usr/bin/env bash
here="$(cd "$(dirname "$0")" && pwd)"
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/bin/peertube-updater" "$@"
WRAP
chmod +x "$out/peertube-updater" "$out/gpu-proof.sh" "$out/embed-scaling.sh" "$out/proof-model.sh"
if [ "${BUNDLE_ARCHIVE:-1}" = 0 ]; then echo "gpu-bundle: $out (no archive)"; exit 0; fi
tar -C dist -cJf "$out.tar.xz" peertube-updater-gpu
size=$(stat -c %s "$out.tar.xz")
echo "gpu-bundle: $out.tar.xz ($((size / 1048576)) MiB; unpack and run ./peertube-updater-gpu/gpu-proof.sh or embed-scaling.sh)"
if [ "$size" -gt $((60 * 1048576)) ]; then echo "gpu-bundle: over 60 MiB" >&2; exit 1; fi
