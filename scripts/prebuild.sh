#!/usr/bin/env bash
# `npm run prebuild` (also run by `prepack`): the prebuilt binary that goes into the package tarball.
# Reuses the build that scripts/setup.sh makes (build/Release/byol_torch.node, incremental: no second full
# build), strips it and copies it under prebuildify's name, which node-gyp-build resolves when build/ is absent:
#   prebuilds/linux-x64/byol-torch.napi.glibc.node   (<package name>.napi.<libc>.node, as `prebuildify --napi
#   --tag-libc --strip` names it)
# prebuildify itself is not run: it always builds through `node-gyp rebuild` (binding.gyp), and this addon builds
# with cmake-js (LibTorch's CMake package config).
# The binary is built against the system LibTorch (Debian 12's libtorch 1.13, CPU); it needs that LibTorch's
# runtime (libtorch1.13) wherever it runs. Prebuilds are never committed (.gitignore lists prebuilds/).
set -euo pipefail
cd "$(dirname "$0")/.."

[[ "${BYOL_PREBUILD_SKIP_SETUP:-0}" == 1 ]] || bash scripts/setup.sh

addon=build/Release/byol_torch.node
[[ -f $addon ]] || { echo "prebuild: $addon is missing (scripts/setup.sh builds it)" >&2; exit 1; }
platform=$(node -p 'process.platform + "-" + process.arch')
if [[ $platform != linux-x64 ]]; then
  echo "prebuild: prebuilt binaries are made for linux-x64 only (this is $platform)" >&2
  exit 1
fi

# Only a CPU build against LibTorch 1.13 is shipped: that is what the README promises it runs on.
needed=$(readelf -d "$addon" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if ! grep -qx 'libtorch_cpu.so.1.13' <<<"$needed" || grep -q 'cuda' <<<"$needed"; then
  echo "prebuild: $addon is not a CPU build against LibTorch 1.13 (it needs: $(echo $needed)); not shipping it" >&2
  exit 1
fi

name=$(node -p 'require("./package.json").name.replace(/\//g, "+")')
out=prebuilds/$platform
dest=$out/$name.napi.glibc.node
rm -rf prebuilds
mkdir -p "$out"
strip --strip-unneeded -o "$dest" "$addon"

# node-gyp-build must resolve this file when there is no build/ (as in an installed tarball).
resolved=$(PREBUILDS_ONLY=1 node -p 'require("node-gyp-build").resolve(".")')
if [[ $(realpath "$resolved") != $(realpath "$dest") ]]; then
  echo "prebuild: node-gyp-build resolves $resolved, not $dest" >&2
  exit 1
fi
# It loads (against the system LibTorch).
node -e 'process.dlopen({ exports: {} }, require("path").resolve(process.argv[1]))' "$dest"
echo "prebuild: $dest ($(du -k "$dest" | cut -f1) KiB, from $(du -k "$addon" | cut -f1) KiB unstripped)"
