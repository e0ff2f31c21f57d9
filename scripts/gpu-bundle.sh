#!/usr/bin/env bash
# Packs the release binary (built with --static-swift-stdlib), the shared libraries it needs besides
# glibc's own, the smoke's TestResources and the GPU proof script into dist/peertube-updater-gpu.tar.xz,
# for a machine with a GPU and no Swift toolchain. No model: it does not fit beside the bundle in one
# 64 MiB transfer (see scripts/gpu-proof.sh for how the model gets there).
set -euo pipefail
cd "$(dirname "$0")/.."
binary=.build/release/peertube-updater
[ -x "$binary" ] || { echo "gpu-bundle: $binary is missing; run make gpu-bundle" >&2; exit 1; }
out=dist/peertube-updater-gpu
rm -rf "$out" "$out.tar.xz"
mkdir -p "$out/bin" "$out/lib"
cp "$binary" "$out/bin/peertube-updater"
strip "$out/bin/peertube-updater"
# Every library ldd names, except glibc's own (the target's glibc is at least as new as this one).
ldd "$binary" | awk '/=> \// { print $3 }' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libresolv.so.*|ld-linux*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
  esac
done
strip --strip-unneeded "$out"/lib/*.so* 2>/dev/null || true
cp -r TestResources "$out/TestResources"
cp scripts/gpu-proof.sh "$out/gpu-proof.sh"
cat > "$out/peertube-updater" <<'WRAP'
#!/usr/bin/env bash
here="$(cd "$(dirname "$0")" && pwd)"
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/bin/peertube-updater" "$@"
WRAP
chmod +x "$out/peertube-updater" "$out/gpu-proof.sh"
tar -C dist -cJf "$out.tar.xz" peertube-updater-gpu
size=$(stat -c %s "$out.tar.xz")
echo "gpu-bundle: $out.tar.xz ($((size / 1048576)) MiB; unpack and run ./peertube-updater-gpu/gpu-proof.sh)"
if [ "$size" -gt $((60 * 1048576)) ]; then echo "gpu-bundle: over 60 MiB" >&2; exit 1; fi
