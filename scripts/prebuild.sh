#!/usr/bin/env bash
# `npm run prebuild` (also run by `prepack`): the prebuilt binary that goes into the package tarball.
# Reuses the build that scripts/setup.sh makes (build/Release/byol_torch.node, incremental: no second full
# build), strips it and copies it under prebuildify's name, which node-gyp-build resolves when build/ is absent:
#   prebuilds/linux-x64/byol-torch.napi.glibc.node   (<package name>.napi.<libc>.node, as `prebuildify --napi
#                                                     --tag-libc --strip` names it)
#   prebuilds/linux-x64/loader/byol_torch_preload.node  the LibTorch preloader (native/loader), no LibTorch in it
#   prebuilds/linux-x64/libtorch.json                 the torch it is built against, from libtorchInfo()
# prebuildify itself is not run: it always builds through `node-gyp rebuild` (binding.gyp), and this addon builds
# with cmake-js (LibTorch's CMake package config).
#
# The binary is built against the default torch of scripts/setup.sh (the CUDA build of the PyTorch release that
# `pip install torch` gives on Linux): LibTorch has no stable ABI across releases, so one prebuilt binary serves one
# release. Its run-time path is cut to $ORIGIN (the build machine's folders mean nothing elsewhere): at load time
# lib/native.ts finds the user's torch (BYOL_PYTHON, LIBTORCH, python3), checks its version against libtorch.json and
# loads its libraries before the binary. Prebuilds are never committed (.gitignore lists prebuilds/).
set -euo pipefail
cd "$(dirname "$0")/.."

[[ "${BYOL_PREBUILD_SKIP_SETUP:-0}" == 1 ]] || bash scripts/setup.sh

addon=build/Release/byol_torch.node
preloader=build/loader/byol_torch_preload.node
for f in "$addon" "$preloader"; do
  [[ -f $f ]] || { echo "prebuild: $f is missing (scripts/setup.sh builds it)" >&2; exit 1; }
done
platform=$(node -p 'process.platform + "-" + process.arch')
if [[ $platform != linux-x64 ]]; then
  echo "prebuild: prebuilt binaries are made for linux-x64 only (this is $platform)" >&2
  exit 1
fi

# Only a build against the default torch (setup.sh's requirement), its CUDA build, is shipped: that is what the
# README promises and what `pip install torch==<that release>` gives users.
default=$(sed -n 's/^requirement=\${BYOL_TORCH_REQUIREMENT:-"torch==\([^ "]*\).*/\1/p' scripts/setup.sh)
[[ -n $default ]] || { echo "prebuild: cannot read the default torch release from scripts/setup.sh" >&2; exit 1; }
built=$(node --input-type=module -e 'const m = await import("./dist/index.js"); console.log(m.libtorchInfo().libtorch)')
torch_root=$(cat build/.libtorch 2>/dev/null || true)
torch_version=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$torch_root/version.py" 2>/dev/null || true)
cuda=$(sed -n "s/^cuda[^=]*= '\([0-9.]*\)'/\1/p" "$torch_root/version.py" 2>/dev/null || true)
needed=$(readelf -d "$addon" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if [[ $built != "$default" ]] || ! grep -qx 'libtorch_cuda.so' <<<"$needed" || [[ -z $cuda ]]; then
  echo "prebuild: $addon is not the CUDA build against the default torch $default (built against torch $built" \
    "from ${torch_root:-?}, CUDA ${cuda:-none}; it needs: $(echo $needed)); not shipping it" >&2
  exit 1
fi

name=$(node -p 'require("./package.json").name.replace(/\//g, "+")')
out=prebuilds/$platform
dest=$out/$name.napi.glibc.node
rm -rf prebuilds
mkdir -p "$out/loader"
strip --strip-unneeded -o "$dest" "$addon"
strip --strip-unneeded -o "$out/loader/byol_torch_preload.node" "$preloader"

# The run-time path becomes $ORIGIN alone (the build's names this machine's torch and nvidia-* folders; at load
# time lib/native.ts preloads the user's torch instead). CMake's own ELF editor does it, as `cmake --install` would.
cmake -DFILE="$dest" -DRUNPATH='$ORIGIN' -P cmake/SetRunPath.cmake
runpath=$(readelf -d "$dest" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
[[ $runpath == '$ORIGIN' ]] || { echo "prebuild: $dest has run-time path '$runpath', expected \$ORIGIN" >&2; exit 1; }

# What it is built against, for lib/native.ts's check at load time.
cat >"$out/libtorch.json" <<EOF
{
  "libtorch": "$built",
  "torchVersion": "$torch_version",
  "cuda": "$cuda",
  "needed": [$(printf '"%s", ' $needed | sed 's/, $//')]
}
EOF
node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$out/libtorch.json"

# node-gyp-build must resolve this file when there is no build/ (as in an installed tarball).
resolved=$(PREBUILDS_ONLY=1 node -p 'require("node-gyp-build").resolve(".")')
if [[ $(realpath "$resolved") != $(realpath "$dest") ]]; then
  echo "prebuild: node-gyp-build resolves $resolved, not $dest" >&2
  exit 1
fi
# It loads as an installed package loads it: the torch of .byol/python found through BYOL_PYTHON and preloaded
# (lib/native.ts), and runs an op; and without a torch to preload it does not load (nothing else names one).
check='const m = await import("./dist/index.js");
if (m.addonPath() !== process.argv[1]) throw new Error(`loaded ${m.addonPath()}, not ${process.argv[1]}`);
if (!Number.isFinite(m.randn([2, 3]).sum().item())) throw new Error("randn().sum() is not finite");'
PREBUILDS_ONLY=1 BYOL_PYTHON=$(cat .byol/python) node --input-type=module -e "$check" "$PWD/$dest" >/dev/null
if no_torch=$(env -u LD_LIBRARY_PATH PREBUILDS_ONLY=1 BYOL_PYTHON=/nonexistent/python node --input-type=module -e "$check" "$PWD/$dest" 2>&1); then
  echo "prebuild: $dest loaded with no torch to preload" >&2
  exit 1
fi
grep -q '(torch-not-found)' <<<"$no_torch" || { echo "prebuild: without a torch, not the expected error:" >&2; echo "$no_torch" >&2; exit 1; }
echo "prebuild: $dest ($(du -k "$dest" | cut -f1) KiB, from $(du -k "$addon" | cut -f1) KiB unstripped; torch $built," \
  "CUDA $cuda; preloader $(du -k "$out/loader/byol_torch_preload.node" | cut -f1) KiB)"
