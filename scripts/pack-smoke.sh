#!/usr/bin/env bash
# The packaging test (run by scripts/test.sh, so by `npm test`): the npm package as a user gets it.
#   1. `npm pack` (prepack = scripts/prebuild.sh: setup's incremental build, stripped into prebuilds/).
#   2. The tarball holds dist/ with types, prebuilds/ (the binary, the LibTorch preloader, the record of the torch
#      it is built against), README, LICENSE, package.json, the install script and every source a source build
#      needs (CMakeLists.txt, cmake/, each file native/*/sources.cmake lists, native/loader), and no tests, no
#      build/ tree, no source maps.
#   3. In a fresh temporary folder, with no compiler on PATH (only node, npm and a few core utilities) and no
#      network (a network namespace without interfaces, `unshare -n`), `npm install --offline` of the tarball
#      from the npm cache that `npm ci` primed. The consumer's package-lock.json pins the repository's locked
#      versions of the package's dependencies, so that nothing newer than what `npm ci` cached is asked for.
#   4. There: a TypeScript script, compiled with the repository's tsc against the package's types, runs two BYOL
#      steps and an embed under each Node release (the machine's node, and the node22/24/26 binaries of the
#      devDependencies, each with a time limit), and reports which binary it loaded: it must be the one under
#      prebuilds/, run against the pip torch of .byol/venv (the release it is built against), found each of the
#      three ways: python3 on PATH, LIBTORCH, BYOL_PYTHON. With another torch (a venv with the CPU-only torch
#      2.13.0, made once in .byol/venv-torch-2.13), a CPU-only build of the right release (a stand-in LibTorch
#      folder) and no torch at all, importing the package must throw the NativeLoadError that says what to do.
#      A source build forced there (no compiler) must fail saying what it needs.
#   5. The install script's source-build path with LibTorch hidden from CMake (CMAKE_DISABLE_FIND_PACKAGE_Torch):
#      it must fail with the message that lists each way to get LibTorch (configure only; seconds).
# Environment: BYOL_PACK_SMOKE_KEEP=1 keeps the temporary folder; BYOL_PACK_SMOKE_NO_UNSHARE=1 tries the fallback
# used where network namespaces are not allowed (the registry set to an unreachable address).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
start=$SECONDS
say() { echo "pack-smoke: $*"; }
die() { echo "pack-smoke: FAIL: $*" >&2; exit 1; }

# Another torch release, for the prebuilt binary's version check. Only its torch package is read (the check comes
# before anything is loaded), so it is installed without its dependencies; made once, kept in .byol/.
other_torch=2.13.0
other_venv=$repo/.byol/venv-torch-${other_torch%.*}
has_torch() { "$1" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)' 2>/dev/null; }
if ! has_torch "$other_venv/bin/python"; then
  t=$SECONDS
  mkdir -p "$repo/.byol"
  (
    flock 9
    if ! has_torch "$other_venv/bin/python"; then
      rm -rf "$other_venv"
      python3 -m venv "$other_venv"
      "$other_venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "torch==$other_torch"
    fi
  ) 9>"$repo/.byol/venv-torch.lock" || die "could not make $other_venv with torch $other_torch (pip)"
  say "made $other_venv (torch $other_torch, without its dependencies) in $((SECONDS - t)) s"
fi
venv_python=$(cat .byol/python)
torch_root=$("$venv_python" -c 'import importlib.util; print(importlib.util.find_spec("torch").submodule_search_locations[0])')

tmp=$(mktemp -d /tmp/byol-pack-smoke.XXXXXX)
if [[ "${BYOL_PACK_SMOKE_KEEP:-0}" == 1 ]]; then say "keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi

# --- 1. npm pack -----------------------------------------------------------------------------------------------
t=$SECONDS
npm pack --pack-destination "$tmp" --loglevel=error >"$tmp/pack.out" || die "npm pack failed: $(tail -20 "$tmp/pack.out")"
tgz=$(ls "$tmp"/byol-torch-*.tgz)
size=$(stat -c %s "$tgz")
say "packed $(basename "$tgz"): $((size / 1024)) KiB in $((SECONDS - t)) s"

# --- 2. what the tarball holds ---------------------------------------------------------------------------------
tar -tzf "$tgz" | sed 's|^package/||' | sort >"$tmp/files"
need=(package.json README.md LICENSE dist/index.js dist/index.d.ts dist/native.js dist/native.d.ts
  prebuilds/linux-x64/byol-torch.napi.glibc.node prebuilds/linux-x64/loader/byol_torch_preload.node
  prebuilds/linux-x64/libtorch.json native/loader/preload.cc scripts/install.mjs
  CMakeLists.txt cmake/FindLibTorchLocations.cmake
  native/core/sources.cmake native/binding/sources.cmake native/core/cuda.cmake native/core/pch.h)
# Every source the CMake lists name (native/core, native/binding) is shipped.
for list in native/core/sources.cmake native/binding/sources.cmake; do
  while read -r src; do need+=("$src"); done < <(grep -o 'native/[A-Za-z0-9_/.-]*\.\(cc\|cu\|h\)' "$list" | sort -u)
done
for f in "${need[@]}"; do grep -qx "$f" "$tmp/files" || die "the tarball lacks $f"; done
# Headers the sources include are shipped too (all of native/ is).
for f in native/core/*.h native/binding/*.h; do grep -qx "$f" "$tmp/files" || die "the tarball lacks $f"; done
if grep -E '^(test/|build|lib/|node_modules/|\.byol/|runs/|scripts/(bench|python|setup|test)|.*\.map$|.*\.tgz$)' "$tmp/files"; then
  die "the tarball holds files it must not (above)"
fi
grep -q '^dist/.*\.d\.ts$' "$tmp/files" || die "no type declarations in dist/"
say "tarball: $(wc -l <"$tmp/files") files, $((size / 1024)) KiB packed, $(( $(tar -xOzf "$tgz" | wc -c) / 1024 )) KiB unpacked:" \
  "dist $(grep -c '^dist/' "$tmp/files"), native $(grep -c '^native/' "$tmp/files"), prebuilds $(grep -c '^prebuilds/' "$tmp/files")," \
  "cmake $(grep -c '^cmake/' "$tmp/files"), other: $(grep -v -E '^(dist|native|prebuilds|cmake)/' "$tmp/files" | tr '\n' ' ')"
# The torch release the prebuilt binary is built against, as the tarball records it.
read -r expected_torch expected_cuda < <(tar -xOzf "$tgz" package/prebuilds/linux-x64/libtorch.json |
  node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(r.libtorch, r.cuda)')
say "the prebuilt binary is built against torch $expected_torch (CUDA $expected_cuda)"

# --- 3. a consumer project -------------------------------------------------------------------------------------
consumer=$tmp/consumer
mkdir -p "$consumer"
cp "$tgz" "$consumer/"
# package.json and a lock with the repository's locked versions of the package's (non-dev) dependencies.
node - "$repo/package-lock.json" "$consumer" "$(npm config get registry)" <<'EOF'
const fs = require('fs');
const [lockPath, dir, registry] = process.argv.slice(2);
const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
const packages = { '': { name: 'byol-smoke', version: '1.0.0' } };
for (const [key, entry] of Object.entries(lock.packages)) {
  if (!key.startsWith('node_modules/') || entry.dev || entry.devOptional) continue;
  // The tarball's URL, as `npm ci` fetched it: with `resolved` and `integrity` npm takes the tarball straight
  // from the cache (content-addressed), with no registry metadata (packuments) to look up.
  const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
  const resolved = entry.resolved ?? `${registry.replace(/\/$/, '')}/${name}/-/${name.split('/').pop()}-${entry.version}.tgz`;
  packages[key] = { ...entry, resolved };
}
const pkg = { name: 'byol-smoke', version: '1.0.0', private: true, type: 'module' };
fs.writeFileSync(`${dir}/package.json`, JSON.stringify(pkg, null, 2));
fs.writeFileSync(`${dir}/package-lock.json`, JSON.stringify({ name: 'byol-smoke', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));
EOF

cat >"$consumer/train.ts" <<'EOF'
// Two BYOL steps and an embed through the installed package and its types.
import { Adam, BYOL, addonPath, libtorchInfo, randn, resnet18, type StepResult, type Tensor } from 'byol-torch';

const encoder = resnet18({ classifier: false, smallStem: true });
const learner = new BYOL(encoder, { imageSize: 32, projectionSize: 32, projectionHiddenSize: 64, decaySchedule: 'constant', seed: 1 });
const optimizer = new Adam(learner.parameters(), { lr: 1e-3 });
const images: Tensor = randn([4, 3, 32, 32]);
const losses: number[] = [];
for (let step = 0; step < 2; step++) {
  const result: StepResult = await learner.step(images, optimizer);
  if (!Number.isFinite(result.loss)) throw new Error(`step ${step}: loss ${result.loss}`);
  losses.push(result.loss);
}
const { representation } = await learner.embed(images);
console.log(JSON.stringify({ node: process.version, addon: addonPath(), libtorch: libtorchInfo().libtorch, losses, embedding: representation.shape }));
EOF
cat >"$consumer/tsconfig.json" <<EOF
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true,
  "skipLibCheck": false, "types": ["node"], "typeRoots": ["$repo/node_modules/@types"] }, "files": ["train.ts"] }
EOF

# A PATH with node and npm but no compiler, cmake or make (and no python3).
sandbox_bin=$tmp/bin
mkdir -p "$sandbox_bin"
for tool in node npm npx sh bash env cat ls mkdir rm cp mv ln tar gzip grep sed dirname basename uname realpath readlink timeout; do
  path=$(command -v "$tool") || die "$tool is not installed"
  ln -s "$path" "$sandbox_bin/$tool"
done
npm_cache=$(npm config get cache)
# A python3 to put first on PATH there: the interpreter of .byol/venv, whose pip torch is the one the prebuilt binary
# is built against (a wrapper: a venv's interpreter is that venv only when started by its own path).
python_bin=$tmp/python-bin
mkdir -p "$python_bin"
printf '#!/bin/sh\nexec %q "$@"\n' "$venv_python" >"$python_bin/python3"
chmod +x "$python_bin/python3"

if [[ "${BYOL_PACK_SMOKE_NO_UNSHARE:-0}" != 1 ]] && unshare -n true 2>/dev/null; then
  isolate=(unshare -n)
  registry=$(npm config get registry)
  network="no network (unshare -n: a network namespace without interfaces)"
else
  isolate=()
  registry=http://127.0.0.1:9/
  network="network namespaces unavailable: npm_config_registry points at an unreachable address instead"
fi
say "installing offline; $network; PATH holds only: $(ls "$sandbox_bin" | tr '\n' ' ')(and python3 of .byol/venv, where said)"

cat >"$tmp/consumer.sh" <<'EOF'
# Runs in the consumer folder, with no compiler on PATH and no network.
set -euo pipefail
cd "$CONSUMER"
fail() { echo "pack-smoke: FAIL: $*" >&2; exit 1; }
for c in g++ gcc cc c++ clang cmake make ninja python3; do
  if command -v "$c" >/dev/null; then fail "$c is on PATH"; fi
done
# The install (its script loads the prebuilt binary in a child process) finds torch through python3 on PATH.
PATH=$PYTHON_BIN:$SANDBOX_BIN npm install --offline --no-audit --no-fund --foreground-scripts "./$TGZ" >install.log 2>&1 ||
  { cat install.log; exit 1; }
grep "^byol-torch:" install.log || true
grep -q "^byol-torch: using .*/prebuilds/linux-x64/byol-torch.napi.glibc.node" install.log ||
  { cat install.log; fail "the install script did not load the prebuilt binary"; }
[ ! -e node_modules/byol-torch/build ] || fail "the install made a build/ folder"
node "$REPO/node_modules/typescript/bin/tsc" -p .

# The training script under each Node release, each finding the pip torch another way, each with a time limit (a
# process that trains and then does not exit fails here).
run() { # name way node-binary env-assignments...
  local name=$1 way=$2 node=$3 begin=$EPOCHREALTIME rc=0
  shift 3
  env "$@" timeout 60 "$node" train.js >"train-$name.out" 2>"train-$name.err" || rc=$?
  if ((rc == 124)) && grep -q '"losses"' "train-$name.out"; then
    fail "train.js under $name ($("$node" --version)) printed its result, then did not exit within 60 s"
  fi
  ((rc == 0)) || { cat "train-$name.err"; fail "train.js under $name ($("$node" --version); $*) exited $rc (124: timed out)"; }
  echo "pack-smoke: train.js under $("$node" --version), torch through $way: $(( (${EPOCHREALTIME/./} - ${begin/./}) / 1000 )) ms"
}
run node python3 node PATH="$PYTHON_BIN:$SANDBOX_BIN"
run node22 python3 "$REPO/node_modules/node22/bin/node" PATH="$PYTHON_BIN:$SANDBOX_BIN"
run node24 LIBTORCH "$REPO/node_modules/node24/bin/node" PATH="$SANDBOX_BIN" LIBTORCH="$TORCH_ROOT"
run node26 BYOL_PYTHON "$REPO/node_modules/node26/bin/node" PATH="$SANDBOX_BIN" BYOL_PYTHON="$VENV_PYTHON"
# The package's command (package.json "bin") is installed and answers.
PATH=$PYTHON_BIN:$SANDBOX_BIN ./node_modules/.bin/byol --help > byol-help.out || { cat byol-help.out; exit 1; }

# A torch the prebuilt binary cannot run on, or none: importing the package throws a NativeLoadError saying what to do.
import_error() { # out-file env-assignments...
  local out=$1
  shift
  env "$@" node -e 'import("byol-torch").then(() => { console.log("loaded"); process.exit(3); },
    (e) => console.log(`${e.name}: ${e.message}`))' >"$out" 2>&1 || { cat "$out"; fail "importing byol-torch ($*) loaded or crashed"; }
}
expect() { # file text...
  local file=$1 text
  shift
  for text in "$@"; do grep -qF -- "$text" "$file" || { cat "$file"; fail "$file lacks '$text'"; }; done
}
import_error other-torch.out BYOL_PYTHON="$OTHER_PYTHON"
expect other-torch.out "NativeLoadError: byol-torch: the native addon could not be loaded (torch-version)" \
  "the torch found is $OTHER_TORCH+cpu" "built against torch $EXPECTED_TORCH" \
  "install that torch: \`$OTHER_PYTHON -m pip install torch==$EXPECTED_TORCH\`" \
  "npm rebuild byol-torch --build-from-source"
mkdir -p cpu-torch/lib && : >cpu-torch/lib/libtorch.so && echo "$EXPECTED_TORCH+cpu" >cpu-torch/build-version
import_error cpu-torch.out LIBTORCH="$PWD/cpu-torch"
expect cpu-torch.out "(torch-cpu-only)" "no lib/libtorch_cuda.so" "the CUDA $EXPECTED_CUDA build of torch $EXPECTED_TORCH" \
  "pip install --force-reinstall torch==$EXPECTED_TORCH" "npm rebuild byol-torch --build-from-source"
import_error no-torch.out
expect no-torch.out "(torch-not-found)" "BYOL_PYTHON: not set" "LIBTORCH: not set" "python3 on PATH: not found" \
  "pip install torch==$EXPECTED_TORCH" "or point BYOL_PYTHON at a Python that has torch $EXPECTED_TORCH, or LIBTORCH at" \
  "npm rebuild byol-torch --build-from-source"
echo "pack-smoke: torch $OTHER_TORCH, a CPU-only torch $EXPECTED_TORCH, no torch: each a NativeLoadError saying what to do"

# A source build forced here, with no compiler: the install script says what it needs instead.
if BYOL_TORCH_BUILD_FROM_SOURCE=1 node node_modules/byol-torch/scripts/install.mjs > nocompiler.out 2>&1; then
  fail "a source build without a compiler succeeded"
fi
expect nocompiler.out "building from source needs cmake and a C++17 compiler on PATH (found: neither)" \
  "pip install torch==$EXPECTED_TORCH"
EOF

t=$SECONDS
"${isolate[@]}" env -i HOME="$HOME" PATH="$sandbox_bin" TMPDIR="$tmp" LANG=C.UTF-8 \
  npm_config_cache="$npm_cache" npm_config_registry="$registry" \
  npm_config_update_notifier=false npm_config_audit=false npm_config_fund=false \
  REPO="$repo" TGZ="$(basename "$tgz")" CONSUMER="$consumer" SANDBOX_BIN="$sandbox_bin" PYTHON_BIN="$python_bin" \
  VENV_PYTHON="$venv_python" TORCH_ROOT="$torch_root" OTHER_PYTHON="$other_venv/bin/python" OTHER_TORCH="$other_torch" \
  EXPECTED_TORCH="$expected_torch" EXPECTED_CUDA="$expected_cuda" \
  bash "$tmp/consumer.sh" || die "the offline install, the training script or a load error check failed"
say "installed and ran in $((SECONDS - t)) s: $(cat "$consumer/train-node.out")"

# --- 4. the binary it loaded ------------------------------------------------------------------------------------
node - "$consumer" "$expected_torch" <<'EOF' || die "the loaded binary is not the prebuild"
const fs = require('fs');
const [dir, torch] = process.argv.slice(2);
const expected = fs.realpathSync(`${dir}/node_modules/byol-torch/prebuilds/linux-x64/byol-torch.napi.glibc.node`);
for (const name of ['node', 'node22', 'node24', 'node26']) {
  const out = JSON.parse(fs.readFileSync(`${dir}/train-${name}.out`, 'utf8').trim().split('\n').pop());
  if (fs.realpathSync(out.addon) !== expected) throw new Error(`${name}: loaded ${out.addon}, expected ${expected}`);
  if (out.libtorch !== torch) throw new Error(`${name}: LibTorch ${out.libtorch}, expected ${torch}`);
  if (out.losses.length !== 2 || JSON.stringify(out.embedding) !== '[4,512]') throw new Error(JSON.stringify(out));
}
EOF
say "the binary loaded is the prebuild, against torch $expected_torch, under each Node release"

# --- 5. a source build with no LibTorch: the message --------------------------------------------------------
t=$SECONDS
pkg=$consumer/node_modules/byol-torch
set +e
(cd "$pkg" && env -u LIBTORCH -u Torch_DIR BYOL_PYTHON=/nonexistent/python BYOL_TORCH_BUILD_FROM_SOURCE=1 \
  BYOL_TORCH_CMAKE_ARGS="--CDCMAKE_DISABLE_FIND_PACKAGE_Torch=TRUE" PATH="/usr/bin:/bin" \
  node scripts/install.mjs) >"$tmp/nolibtorch.out" 2>&1
rc=$?
set -e
((rc != 0)) || die "the source build without LibTorch did not fail"
for line in 'LibTorch was not found' "pip install torch==$expected_torch" 'pip install torch==X' 'export LIBTORCH=' \
  'export Torch_DIR=' 'LIBTORCH: not set'; do
  grep -qF "$line" "$tmp/nolibtorch.out" || { cat "$tmp/nolibtorch.out"; die "the no-LibTorch message lacks '$line'"; }
done
rm -rf "$pkg/build"
say "no LibTorch: the install script fails listing each way to get one ($((SECONDS - t)) s)"

say "passed in $((SECONDS - start)) s"
