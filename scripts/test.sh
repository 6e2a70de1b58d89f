#!/usr/bin/env bash
# The whole suite: GoogleTest over native/core, then vitest over lib/. Run through `npm test` (setup first).
set -euo pipefail
cd "$(dirname "$0")/.."
export BYOL_PYTHON="${BYOL_PYTHON:-$(cat .byol/python)}"
start=$SECONDS
echo "== native tests (GoogleTest via ctest)"
(cd build && ctest --output-on-failure)
echo "== TypeScript tests (vitest)"
npx vitest run
echo "test suite took $((SECONDS - start)) s"
