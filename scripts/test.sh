#!/usr/bin/env bash
# The whole suite: GoogleTest over native/core, vitest over lib/, then the packaging test. Run through `npm test`
# (setup first).
set -euo pipefail
cd "$(dirname "$0")/.."
export BYOL_PYTHON="${BYOL_PYTHON:-$(cat .byol/python)}"
start=$SECONDS
echo "== native tests (GoogleTest via ctest)"
(cd build && ctest --output-on-failure)
echo "== TypeScript tests (vitest)"
npx vitest run
echo "== packaging test (scripts/pack-smoke.sh: npm pack, offline install without a compiler, a training script)"
bash scripts/pack-smoke.sh
echo "test suite took $((SECONDS - start)) s"
