#!/usr/bin/env bash
# Brings a checkout to a runnable state, doing only what is missing (a second run does nothing):
#   1. system packages (apt, as root): LibTorch, GoogleTest, the Python torch used by tests and benchmarks, ...
#   2. the Python interpreter that can `import torch`, resolved once into .byol/python
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
  libtorch-dev                   # LibTorch 1.13 (CPU): the library the addon links
  libgtest-dev                   # GoogleTest for test/native
  libgloo-dev                    # Gloo's headers: LibTorch's c10d ProcessGroupGloo (data-parallel training) compiles against them
  python3-torch python3-torchvision  # interop tests and Python baselines on the same LibTorch
  libsleef-dev                   # sleef.h, which at::vec's AVX2 headers need (the EMA kernel's AVX2 build)
  libopenblas0-openmp            # takes over libblas.so.3: LibTorch's Linear/mm run 12x faster than in the reference BLAS
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
    echo "setup: (elsewhere: LibTorch via LIBTORCH=/path/to/libtorch or a PyTorch install; GoogleTest; a Python with torch)" >&2
    exit 1
  fi
fi

# --- 2. a Python that can import torch ----------------------------------------------------------------------
mkdir -p .byol
if [[ ! -s .byol/python ]] || ! "$(cat .byol/python)" -c "import torch" 2>/dev/null; then
  found=""
  for py in "${BYOL_PYTHON:-}" /usr/bin/python3 python3; do
    [[ -n "$py" ]] || continue
    if "$py" -c "import torch, torchvision" 2>/dev/null; then found=$(command -v "$py"); break; fi
  done
  if [[ -z "$found" ]]; then
    echo "setup: no Python interpreter can import torch and torchvision (tried \$BYOL_PYTHON, /usr/bin/python3, python3)" >&2
    exit 1
  fi
  echo "$found" > .byol/python
  say "Python with torch: $found"
  did_something=1
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

# --- 4. the native build -------------------------------------------------------------------------------------
addon=build/Release/byol_torch.node
native_sources=(CMakeLists.txt cmake native test/native test/fuzz package.json)
if [[ ! -f $addon || ! -f build/byol_core_tests ]] || [[ -n $(find "${native_sources[@]}" -newer "$addon" -print -quit) ]]; then
  say "building the native addon (cmake-js)"
  start=$SECONDS
  npx cmake-js compile --out build --log-level error >/dev/null
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
