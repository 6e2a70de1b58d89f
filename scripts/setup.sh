#!/usr/bin/env bash
# Brings a checkout to a runnable state, doing only what is missing (a second run does nothing):
#   1. system packages (apt, as root): the compiler, CMake, GoogleTest, Gloo's headers, the demo's data, ...
#   2. PyTorch (pip, in the venv .byol/venv, or the interpreter in BYOL_PYTHON), named in .byol/python
#   3. npm ci, when node_modules is missing or older than package-lock.json
#   4. the native build (cmake-js), when missing or older than its sources
#   5. the TypeScript build (dist/), when missing or older than lib/
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "setup: $*"; }
did_something=0

# --- 1. system packages ------------------------------------------------------------------------------------
# One line per package and why; later features append theirs.
packages=(
  cmake ninja-build g++          # the native build
  python3-venv                   # the project's PyTorch venv (step 2), where python3 is Debian's
  libgtest-dev                   # GoogleTest for test/native
  libgloo-dev                    # Gloo's headers: c10d's ProcessGroupGloo.hpp (data-parallel training) includes them;
                                 #   declarations only, PyTorch's own Gloo runs (CMakeLists.txt says why)
  dataset-fashion-mnist          # the demo's and the evaluation's real data (/usr/share/datasets/fashion-mnist)
  fonts-dejavu-core              # a font for the text of the loss plots (SVG rendered to PNG by sharp)
  python3-onnx                   # onnx.checker (onnx 1.12: IR 8, opset <= 17) validates the models byol export writes
  clang libclang-rt-14-dev       # npm run fuzz: clang 14 and its libFuzzer + ASan/UBSan runtimes (libclang_rt.fuzzer-x86_64.a)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    did_something=1
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: install them as root:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# --- 2. PyTorch: the LibTorch the addon links, and the Python side of tests and benchmarks ------------------
# BYOL_PYTHON: an interpreter whose torch (2.4 or newer) to build against and test with, used as it is.
# Otherwise a venv in .byol/venv with BYOL_TORCH_REQUIREMENT (default: the PyTorch release the prebuilt binary
# is made for, the CUDA build that `pip install torch` gives on Linux; it runs on CPU-only machines too).
# torch is installed without its dependencies, then given every one of them but the Python-only ones that
# LibTorch never loads (triton: torch.compile's GPU code generator; cuda-bindings: CUDA's Python bindings).
mkdir -p .byol
requirement=${BYOL_TORCH_REQUIREMENT:-"torch==2.14.1 torchvision==0.29.1"}
python_ok() { "$1" -c "import torch" 2>/dev/null; }
if [[ -n ${BYOL_PYTHON:-} ]]; then
  python_ok "$BYOL_PYTHON" || { echo "setup: BYOL_PYTHON=$BYOL_PYTHON cannot import torch" >&2; exit 1; }
  python=$(command -v "$BYOL_PYTHON")
else
  python=$PWD/.byol/venv/bin/python
  stamp=.byol/venv/.requirement
  if [[ ! -x $python || $(cat "$stamp" 2>/dev/null) != "$requirement" ]] || ! python_ok "$python"; then
    say "creating .byol/venv with $requirement (pip)"
    start=$SECONDS
    rm -rf .byol/venv
    python3 -m venv .byol/venv
    # One retry per request (pip's default is five, with back-off): an index that cannot be reached fails in
    # seconds, and pip goes on to the next index it is configured with. PIP_RETRIES overrides it.
    export PIP_RETRIES=${PIP_RETRIES:-1}
    pip() {
      .byol/venv/bin/pip install --disable-pip-version-check "$@" >>.byol/pip.log 2>&1 ||
        { tail -n 30 .byol/pip.log >&2; echo "setup: pip install $* failed (log: .byol/pip.log)" >&2; exit 1; }
    }
    : >.byol/pip.log
    # shellcheck disable=SC2086
    pip --no-deps $requirement
    deps=$("$python" - <<'PY'
import importlib.metadata as md
from pip._vendor.packaging.requirements import Requirement
skip = {"triton", "cuda-bindings"}
wanted = set()
for dist in ("torch", "torchvision"):
    try:
        requires = md.requires(dist) or []
    except md.PackageNotFoundError:
        continue
    for text in requires:
        r = Requirement(text)
        if r.name in skip or r.name in ("torch", "torchvision") or (r.marker and not r.marker.evaluate({"extra": ""})):
            continue
        wanted.add(str(r).split(";")[0].strip())
print("\n".join(sorted(wanted)))
PY
)
    mapfile -t deps <<<"$deps"
    pip "${deps[@]}" numpy pillow
    echo "$requirement" > "$stamp"
    say "PyTorch venv took $((SECONDS - start)) s"
    did_something=1
  fi
fi
if [[ $(cat .byol/python 2>/dev/null) != "$python" ]]; then
  echo "$python" > .byol/python
  say "Python with torch: $python ($("$python" -c 'import torch; print(torch.__version__)'))"
fi

# --- 3. npm packages -----------------------------------------------------------------------------------------
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "npm ci"
  # onnxruntime-node's postinstall would download CUDA provider libraries from NuGet on linux-x64; its documented
  # switch skips that (the CPU provider the tests use ships in the npm package).
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.package-lock.json
  did_something=1
fi
# The devDependencies node22/node24/node26 (npm's official Node binaries, for test/node-matrix.test.ts) each declare
# a `node` command, which npm links into node_modules/.bin: npm scripts and npx would then run on that release
# instead of this machine's Node. The matrix test calls each binary by its path; the link goes.
rm -f node_modules/.bin/node

# --- 4. the native build -------------------------------------------------------------------------------------
# Against the torch of .byol/python, named as LIBTORCH (which wins over any other way CMake could find one); a
# build folder made against another LibTorch is started afresh.
addon=build/Release/byol_torch.node
native_sources=(CMakeLists.txt cmake native test/native test/fuzz package.json)
torch_root=$("$python" -c "import os, torch; print(os.path.dirname(torch.__file__))")
if [[ -d build && $(cat build/.libtorch 2>/dev/null) != "$torch_root" ]]; then
  rm -rf build
fi
if [[ ! -f $addon || ! -f build/byol_core_tests ]] || [[ -n $(find "${native_sources[@]}" -newer "$addon" -print -quit) ]]; then
  say "building the native addon (cmake-js) against $torch_root"
  start=$SECONDS
  mkdir -p build
  echo "$torch_root" > build/.libtorch
  LIBTORCH=$torch_root npx cmake-js compile --out build --log-level error >/dev/null
  touch "$addon"
  say "native build took $((SECONDS - start)) s"
  did_something=1
fi

# --- 5. the TypeScript build ---------------------------------------------------------------------------------
if [[ ! -f dist/index.js ]] || [[ -n $(find lib tsconfig.json -newer dist/index.js -print -quit) ]]; then
  say "compiling TypeScript"
  npx tsc -p tsconfig.json
  touch dist/index.js
  did_something=1
fi

((did_something)) || say "everything is up to date"
