#!/usr/bin/env bash
# The GPU check, in one command.
#
# On a lent GPU machine (from the repository root, through the device tool, with carry [".device"]):
#     bash scripts/device/check.sh [--stages build,cuda-tests,...] [--budget SECONDS]
#   unpacks .device/ (made by scripts/device/pack.sh here): Node into a temporary folder on PATH, node_modules/
#   and dist/ into the tree; then scripts/device/check.mjs builds the addon against the machine's PyTorch LibTorch,
#   runs the CUDA tests, the GPU benchmarks and a short quality run, each stage under its own time limit, and
#   writes results.json, summary.md and logs.tar.gz under $OUT (./device-out when $OUT is unset; the tool sends
#   back 8 files at most, so every log and artefact travels in the one tarball), printing a table last.
#
# Here, on a CPU machine:
#     bash scripts/device/check.sh --cpu      (= node scripts/device/check.mjs --cpu)
#   the dry run: packs, copies the tree and .device/ to a temporary folder, and runs this script there with every
#   stage in its CPU form (configure-only build, tests that skip, benchmarks at tiny sizes, a few-second quality run)
#   against the addon it is given: BYOL_TORCH_BINARY when set, else build/Release/byol_torch.node.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ ${1:-} == --cpu ]]; then
  shift
  exec node scripts/device/check.mjs --cpu "$@"
fi

out=${OUT:-$PWD/device-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for part in node.xz node_modules.tar.xz dist.tar.xz manifest.json fashion-mnist; do
  if [[ ! -e .device/$part ]]; then
    echo "check.sh: expected .device/$part: run \`bash scripts/device/pack.sh\` on the CPU machine and carry .device" >&2
    exit 2
  fi
done
# This script replaces node_modules/ and dist/ with the packed ones: never in a developer's checkout.
if [[ -f node_modules/.package-lock.json ]]; then
  echo "check.sh: node_modules/ here is an npm install (a development checkout); run the dry run with --cpu, which works in a copy" >&2
  exit 2
fi

unpack_started=$(date +%s%N)
node_dir=$(mktemp -d "${TMPDIR:-/tmp}/byol-device-node.XXXXXX")
xz -dc .device/node.xz > "$node_dir/node"
chmod +x "$node_dir/node"
rm -rf node_modules dist
tar -xJf .device/node_modules.tar.xz
tar -xJf .device/dist.tar.xz
unpack_ms=$((($(date +%s%N) - unpack_started) / 1000000))
export PATH="$node_dir:$PATH" BYOL_DEVICE_NODE_DIR="$node_dir"
echo "unpacked Node $(node --version), node_modules/ and dist/ in ${unpack_ms} ms"
export BYOL_DEVICE_UNPACK_MS=$unpack_ms

export BYOL_PYTHON=${BYOL_PYTHON:-$(command -v python3 || true)}
# nvcc where CUDA installs it, when it is not on PATH (CMake's CUDA lookups and ours find it on PATH first).
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="$PATH:/usr/local/cuda/bin"
fi
export BYOL_DEVICE_DATA_ROOT=${BYOL_DEVICE_DATA_ROOT:-$PWD/.device/fashion-mnist}
status=0
node scripts/device/check.mjs --out "$out" "$@" || status=$?
rm -rf "$node_dir"
exit "$status"
