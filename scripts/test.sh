#!/usr/bin/env bash
# The whole suite: GoogleTest over native/core, vitest over lib/, then the packaging test. Run through `npm test`
# (setup first). Every stage runs even when an earlier one fails (they test different things); the exit status
# is non-zero when any failed, and the last line names them.
set -euo pipefail
cd "$(dirname "$0")/.."
export BYOL_PYTHON="${BYOL_PYTHON:-$(cat .byol/python)}"
start=$SECONDS
failed=()
echo "== native tests (GoogleTest via ctest)"
(cd build && ctest --output-on-failure) || failed+=("native tests (ctest)")
echo "== TypeScript tests (vitest)"
npx vitest run || failed+=("TypeScript tests (vitest)")
echo "== packaging test (scripts/pack-smoke.sh: npm pack, offline install without a compiler, a training script)"
bash scripts/pack-smoke.sh || failed+=("packaging test (scripts/pack-smoke.sh)")
echo "test suite took $((SECONDS - start)) s"
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
