#!/usr/bin/env bash
# Packs, on a CPU machine, everything the GPU machine lacks into .device/ (git-ignored; the device tool carries it
# with `carry: [".device"]`): the GPU machine has CMake, nvcc, Python and PyTorch, but no Node.js, no npm and no
# network. Each part is rebuilt only when its input changed, so a second run takes seconds:
#   .device/node.xz                 this machine's Node binary, stripped of its symbol tables (-12 MB), xz'd
#   .device/node_modules.tar.xz     the npm packages dist/ imports plus the addon build's headers (pack-runtime.mjs)
#   .device/dist.tar.xz             the compiled TypeScript (npm run build:ts when lib/ is newer than dist/)
#   .device/fashion-mnist/          a Fashion-MNIST subset as gzipped IDX files (fashion-subset.mjs)
#   .device/manifest.json           commit, time, Node version, sizes
# and fails when the tree plus .device/ would not fit in the tool's 64 MiB with margin (bundle-size.mjs).
#
#   bash scripts/device/pack.sh
# Environment: BYOL_DEVICE_TRAIN_IMAGES (default 30000), BYOL_DEVICE_TEST_IMAGES (default 5000),
# BYOL_DEVICE_FASHION_SOURCE (default /usr/share/datasets/fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/../.."
device=.device
started=$SECONDS
mkdir -p "$device"

echo "== TypeScript (dist/)"
if [[ ! -f dist/index.js ]] || [[ -n "$(find lib tsconfig.json package.json -newer dist/index.js -print -quit)" ]]; then
  npm run --silent build:ts
  echo "compiled lib/ into dist/"
else
  echo "dist/ is newer than lib/: not recompiled"
fi

echo "== Node binary ($(command -v node), $(node --version))"
node_bin=$(readlink -f "$(command -v node)")
# Up to date when it was packed from this very binary (path and version), after the binary last changed.
node_id="$node_bin $(node --version)"
if [[ -s $device/node.xz && $device/node.xz -nt $node_bin && $(cat "$device/node.id" 2>/dev/null) == "$node_id" ]]; then
  echo "node.xz: up to date"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # The symbol tables only serve debuggers; addons link against the dynamic symbols, which strip keeps.
  if command -v strip >/dev/null && strip -o "$work/node" "$node_bin" && "$work/node" --version >/dev/null; then
    echo "stripped: $(stat -c %s "$node_bin") -> $(stat -c %s "$work/node") bytes"
  else
    echo "strip unavailable or failed: carrying the binary as it is"
    cp "$node_bin" "$work/node"
  fi
  xz -T2 -c "$work/node" > "$device/node.xz.partial"
  mv "$device/node.xz.partial" "$device/node.xz"
  echo "$node_id" > "$device/node.id"
  echo "node.xz: $(stat -c %s "$device/node.xz") bytes"
fi

echo "== npm packages and dist/"
node scripts/device/pack-runtime.mjs --out "$device"

echo "== Fashion-MNIST subset"
node scripts/device/fashion-subset.mjs --source "${BYOL_DEVICE_FASHION_SOURCE:-/usr/share/datasets/fashion-mnist}" \
  --out "$device/fashion-mnist" --train "${BYOL_DEVICE_TRAIN_IMAGES:-30000}" --test "${BYOL_DEVICE_TEST_IMAGES:-5000}"

echo "== bundle size (working tree + $device/)"
node scripts/device/bundle-size.mjs --manifest
echo "pack.sh took $((SECONDS - started)) s"
