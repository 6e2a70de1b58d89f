#!/usr/bin/env bash
# The packaging test (run by scripts/test.sh, so by `npm test`): the npm package as a user gets it.
#   1. `npm pack` (prepack = scripts/prebuild.sh: setup's incremental build, stripped into prebuilds/).
#   2. The tarball holds dist/ with types, prebuilds/, README, LICENSE, package.json, the install script and
#      every source a source build needs (CMakeLists.txt, cmake/, each file native/*/sources.cmake lists), and no
#      tests, no build/ tree, no source maps.
#   3. In a fresh temporary folder, with no compiler on PATH (only node, npm and a few core utilities) and no
#      network (a network namespace without interfaces, `unshare -n`), `npm install --offline` of the tarball
#      from the npm cache that `npm ci` primed. The consumer's package-lock.json pins the repository's locked
#      versions of the package's dependencies, so that nothing newer than what `npm ci` cached is asked for.
#   4. There: a TypeScript script, compiled with the repository's tsc against the package's types, runs two BYOL
#      steps and an embed, and reports which binary it loaded: it must be the one under prebuilds/. A source
#      build forced there (no compiler) must fail saying what it needs.
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
  prebuilds/linux-x64/byol-torch.napi.glibc.node scripts/install.mjs CMakeLists.txt cmake/FindLibTorchLocations.cmake
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
console.log(JSON.stringify({ addon: addonPath(), libtorch: libtorchInfo().libtorch, losses, embedding: representation.shape }));
EOF
cat >"$consumer/tsconfig.json" <<EOF
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true,
  "skipLibCheck": false, "types": ["node"], "typeRoots": ["$repo/node_modules/@types"] }, "files": ["train.ts"] }
EOF

# A PATH with node and npm but no compiler, cmake or make.
sandbox_bin=$tmp/bin
mkdir -p "$sandbox_bin"
for tool in node npm npx sh bash env cat ls mkdir rm cp mv ln tar gzip grep sed dirname basename uname realpath readlink; do
  path=$(command -v "$tool") || die "$tool is not installed"
  ln -s "$path" "$sandbox_bin/$tool"
done
npm_cache=$(npm config get cache)

if [[ "${BYOL_PACK_SMOKE_NO_UNSHARE:-0}" != 1 ]] && unshare -n true 2>/dev/null; then
  isolate=(unshare -n)
  registry=$(npm config get registry)
  network="no network (unshare -n: a network namespace without interfaces)"
else
  isolate=()
  registry=http://127.0.0.1:9/
  network="network namespaces unavailable: npm_config_registry points at an unreachable address instead"
fi
say "installing offline; $network; PATH holds only: $(ls "$sandbox_bin" | tr '\n' ' ')"

t=$SECONDS
"${isolate[@]}" env -i HOME="$HOME" PATH="$sandbox_bin" TMPDIR="$tmp" LANG=C.UTF-8 \
  npm_config_cache="$npm_cache" npm_config_registry="$registry" \
  npm_config_update_notifier=false npm_config_audit=false npm_config_fund=false \
  REPO="$repo" TGZ="$(basename "$tgz")" \
  bash -euo pipefail -c '
    cd "'"$consumer"'"
    for c in g++ gcc cc c++ clang cmake make ninja; do
      if command -v "$c" >/dev/null; then echo "pack-smoke: FAIL: $c is on PATH" >&2; exit 1; fi
    done
    npm install --offline --no-audit --no-fund --foreground-scripts "./$TGZ" >install.log 2>&1 || { cat install.log; exit 1; }
    grep "^byol-torch:" install.log || true
    [ ! -e node_modules/byol-torch/build ] || { echo "pack-smoke: FAIL: the install made a build/ folder" >&2; exit 1; }
    node "$REPO/node_modules/typescript/bin/tsc" -p .
    node train.js > train.out
    # The package'"'"'s command (package.json "bin") is installed and answers.
    ./node_modules/.bin/byol --help > byol-help.out || { cat byol-help.out; exit 1; }
    # A source build forced here, with no compiler: the install script says what it needs instead.
    if BYOL_TORCH_BUILD_FROM_SOURCE=1 node node_modules/byol-torch/scripts/install.mjs > nocompiler.out 2>&1; then
      echo "pack-smoke: FAIL: a source build without a compiler succeeded" >&2; exit 1
    fi
    grep -q "building from source needs cmake and a C++17 compiler on PATH (found: neither)" nocompiler.out &&
      grep -q "apt-get install libtorch1.13" nocompiler.out || { cat nocompiler.out; exit 1; }
  ' || die "the offline install or the training script failed"
say "installed and ran in $((SECONDS - t)) s: $(cat "$consumer/train.out")"

# --- 4. the binary it loaded ------------------------------------------------------------------------------------
node - "$consumer" <<'EOF' || die "the loaded binary is not the prebuild"
const fs = require('fs');
const dir = process.argv[2];
const out = JSON.parse(fs.readFileSync(`${dir}/train.out`, 'utf8').trim().split('\n').pop());
const expected = fs.realpathSync(`${dir}/node_modules/byol-torch/prebuilds/linux-x64/byol-torch.napi.glibc.node`);
if (fs.realpathSync(out.addon) !== expected) throw new Error(`loaded ${out.addon}, expected ${expected}`);
if (out.losses.length !== 2 || JSON.stringify(out.embedding) !== '[4,512]') throw new Error(JSON.stringify(out));
EOF
say "the binary loaded is the prebuild"

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
for line in 'LibTorch was not found' 'apt-get install libtorch1.13' 'apt-get install libtorch-dev' 'export LIBTORCH=' \
  'pip install torch' 'LIBTORCH: not set'; do
  grep -qF "$line" "$tmp/nolibtorch.out" || { cat "$tmp/nolibtorch.out"; die "the no-LibTorch message lacks '$line'"; }
done
rm -rf "$pkg/build"
say "no LibTorch: the install script fails listing each way to get one ($((SECONDS - t)) s)"

say "passed in $((SECONDS - start)) s"
