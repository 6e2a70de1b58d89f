#!/usr/bin/env bash
# `npm run fuzz`: fuzzes every reader of untrusted bytes, then prints executions and findings per target.
#   1. builds the libFuzzer harnesses (test/fuzz/CMakeLists.txt: clang, ASan + UBSan) into build-fuzz/, once,
#      then incrementally;
#   2. runs each native target for FUZZ_SECONDS (default 60), starting from its committed corpus
#      test/fuzz/corpus/<target>/ plus what earlier runs found interesting (build-fuzz/corpus/<target>/, kept);
#      a finding (crash, broken property, sanitizer report, hang over 10 s, over 2 GB of memory) is written to
#      build-fuzz/findings/<target>/ and the target goes on fuzzing for the rest of its time; a committed
#      regression input that still fails (its bug is open) is left out of the seeds and named;
#   3. runs the JS readers' property tests (test/fuzz-*.test.ts) with FUZZ_RUNS runs per property (default
#      2000; `npm test` runs them with 100 to 1000) and a fresh seed (FUZZ_SEED to repeat one).
# Environment: FUZZ_SECONDS, FUZZ_TARGETS (space-separated native targets; default all), FUZZ_RUNS, FUZZ_SEED,
# FUZZ_BUILD_DIR (default build-fuzz), FUZZ_SKIP_JS=1 / FUZZ_SKIP_NATIVE=1.
# A finding becomes a regression input: copy it to test/fuzz/corpus/<target>/regression-<what>, and `npm test`
# replays it (test/native/fuzz_corpus_test.cc) once the bug is fixed.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
all_targets=(json safetensors_header safetensors_file state_dict resnet_layout optimizer_state)
read -r -a targets <<< "${FUZZ_TARGETS:-${all_targets[*]}}"
summary=()
status=0

if [[ ${FUZZ_SKIP_NATIVE:-0} != 1 ]]; then
  if ! command -v clang++ >/dev/null; then
    echo "fuzz: clang++ not found; install Debian's clang and the libFuzzer runtime (as root: bash scripts/setup.sh, or" >&2
    echo "fuzz:   apt-get install clang libclang-rt-14-dev); FUZZ_SKIP_NATIVE=1 runs the JS property tests alone" >&2
    exit 1
  fi
  if [[ ! -f $build/build.ninja ]]; then
    echo "== configuring $build (clang, libFuzzer, ASan + UBSan)"
    CXX=clang++ cmake -S test/fuzz -B "$build" -G Ninja -DCMAKE_BUILD_TYPE= >/dev/null
  fi
  echo "== building the harnesses (the first build takes about 4 minutes on 2 cores)"
  cmake --build "$build"

  for target in "${targets[@]}"; do
    harness=$build/${target}_fuzz
    [[ -x $harness ]] || { echo "fuzz: no harness $harness (targets: ${all_targets[*]})" >&2; exit 1; }
    corpus=$build/corpus/$target seeds=$build/seeds/$target findings=$build/findings/$target log=$build/logs/$target.log
    rm -rf "$seeds"
    mkdir -p "$corpus" "$seeds" "$findings" "$(dirname "$log")"
    : > "$log"
    # A regression input of a bug still open would stop every run as soon as libFuzzer loads it: it is left out of
    # the seeds and named in the summary.
    open=()
    for input in "test/fuzz/corpus/$target"/*; do
      if [[ $(basename "$input") == regression-* ]] && ! "$harness" "$input" >>"$log" 2>&1; then
        open+=("$(basename "$input")")
      else
        cp "$input" "$seeds/"
      fi
    done
    : > "$log"
    before=$(find "$findings" -type f | wc -l)
    echo "== $target: fuzzing for $seconds s (log: $log)"
    executions=0 stopped=0 start=$SECONDS
    # One libFuzzer run until the time is up or a finding stops it; after a finding, a new run for the rest.
    while ((SECONDS - start < seconds)); do
      left=$((seconds - (SECONDS - start)))
      rc=0
      "$harness" "$corpus" "$seeds" -max_total_time="$left" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$findings/" >"$log.run" 2>&1 || rc=$?
      runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log.run" | tail -1)
      executions=$((executions + ${runs:-0}))
      cat "$log.run" >>"$log" && rm "$log.run"
      ((rc == 0)) && break
      stopped=$((stopped + 1))
      # An input of the working corpus that now fails (a property added since) would stop every later run at
      # load: libFuzzer names its finding after the content's SHA-1, as it names corpus files; drop it there.
      for finding in "$findings"/*; do rm -f "$corpus/$(basename "$finding" | sed -E 's/^[a-z-]+-//')"; done
      ((SECONDS - start >= seconds - 3)) && break  # too little time left for LibTorch to start again
    done
    found=$(( $(find "$findings" -type f | wc -l) - before ))
    ((stopped == 0 && ${#open[@]} == 0)) || status=1
    summary+=("$(printf '%-18s %9s executions in %3d s; %d run(s) stopped by a finding, %d new input(s) in %s' "$target" \
      "$executions" $((SECONDS - start)) "$stopped" "$found" "$findings")")
    # What stopped the runs, once each with its count (numbers as N): a broken property, an escaped exception, a
    # sanitizer report.
    kinds=$(grep -hoE 'what\(\): +.*|SUMMARY: [A-Za-z]+Sanitizer: [^ ]+.*|ERROR: libFuzzer: (timeout|out-of-memory)[^(]*' "$log" |
      sed -E 's/^what\(\): +//; s/(^|[ ,[(])[0-9]+/\1N/g' | cut -c1-150 | sort | uniq -c | sort -rn || true)
    [[ -z $kinds ]] || summary+=("$(sed 's/^ */                     /' <<< "$kinds")")
    ((${#open[@]} == 0)) || summary+=("                     still failing (open bugs, left out of the seeds): ${open[*]}")
  done
fi

if [[ ${FUZZ_SKIP_JS:-0} != 1 ]]; then
  runs=${FUZZ_RUNS:-2000}
  seed=${FUZZ_SEED:-$RANDOM$RANDOM}
  echo "== JS readers: property tests with $runs runs per property, seed $seed"
  start=$SECONDS
  if FUZZ_RUNS=$runs FUZZ_SEED=$seed npx vitest run test/fuzz-*.test.ts; then
    summary+=("$(printf '%-20s %s runs per property, seed %s: all properties held (%d s)' JS "$runs" "$seed" $((SECONDS - start)))")
  else
    summary+=("$(printf '%-20s %s runs per property, seed %s: FAILED; vitest printed the counterexample (FUZZ_SEED=%s repeats it)' \
      JS "$runs" "$seed" "$seed")")
    status=1
  fi
fi

echo
echo "== fuzzing summary"
printf '%s\n' "${summary[@]}"
exit $status
