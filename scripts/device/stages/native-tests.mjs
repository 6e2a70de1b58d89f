// Stage 'native-tests': the GoogleTest binary of native/core, when the build made one, on its CUDA tests
// (plan.native.filter: the CPU-vs-CUDA EMA and augmentation checks and device parsing). The GPU machine most likely
// has no GoogleTest (no network to fetch it): the configure then leaves the binary out and this stage says so;
// the node:test CUDA tests cover the same paths through the addon.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { needsAddon } from '../run-stages.mjs';

export default {
  needs(state, mode) {
    if (mode === 'dry') return 'configure-only build in the dry run: no native test binary';
    if (needsAddon(state, mode)) return needsAddon(state, mode);
    if (process.env.BYOL_DEVICE_PREBUILT_ADDON) return 'no build in this run (BYOL_DEVICE_PREBUILT_ADDON)';
    if (!state.gtestBinary) {
      return state.gtestMissing
        ? 'GoogleTest not found by the configure (find_package(GTest CONFIG)): byol_core_tests not built; test/cuda covers the CUDA path'
        : 'the build made no byol_core_tests binary';
    }
    return null;
  },
  async run(ctx) {
    const report = join(ctx.work, 'native-tests.json');
    const r = await ctx.run(ctx.state.gtestBinary, [`--gtest_filter=${ctx.plan.native.filter}`, `--gtest_output=json:${report}`], {
      label: 'byol_core_tests',
    });
    if (existsSync(report)) {
      const j = JSON.parse(readFileSync(report, 'utf8'));
      const skipped = j.testsuites.flatMap((s) => s.testsuite).filter((t) => t.result === 'SKIPPED').length;
      Object.assign(ctx.figures, { filter: ctx.plan.native.filter, tests: j.tests, failures: j.failures, skipped });
      ctx.goal('native CUDA tests pass', 'all', `${j.tests - j.failures - skipped} of ${j.tests}`, j.failures === 0 && skipped === 0 && j.tests > 0);
    }
    ctx.check(r, 'byol_core_tests');
  },
};
