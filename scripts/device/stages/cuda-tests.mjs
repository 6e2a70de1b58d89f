// Stage 'cuda-tests': test/cuda/*.test.mjs with Node's own runner (`node --test`: no vitest on the GPU machine),
// against the compiled dist/ and the addon of the build stage. A spec report goes to the stage log, a TAP report
// to $OUT/cuda-tests.tap, whose summary and skip reasons are the stage's figures. Without CUDA every test skips
// and says why; the stage is then ok (nothing failed) and its goal needs a GPU.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StageFailure, needsAddon } from '../run-stages.mjs';

/** The summary counts and the distinct skip reasons of a TAP report by node:test. */
export function parseTap(tap) {
  const count = (key) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(tap)?.[1] ?? NaN);
  const reasons = [...new Set([...tap.matchAll(/^\s*ok \d+ - .* # SKIP ?(.*)$/gm)].map((m) => m[1].trim()))];
  const failures = [...tap.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1].trim());
  return { tests: count('tests'), pass: count('pass'), fail: count('fail'), skipped: count('skipped'), cancelled: count('cancelled'), reasons, failures };
}

export default {
  needs: needsAddon,
  async run(ctx) {
    const dir = join(ctx.root, 'test', 'cuda');
    const files = readdirSync(dir).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => join('test', 'cuda', f));
    if (files.length === 0) throw new StageFailure(`expected test files in ${dir}`);
    const tapFile = join(ctx.work, 'cuda-tests.tap');
    const r = await ctx.node(
      ['--test', `--test-concurrency=${ctx.plan.tests.concurrency}`, '--test-reporter=spec', '--test-reporter-destination=stdout',
        '--test-reporter=tap', `--test-reporter-destination=${tapFile}`, ...files],
      { label: 'node --test test/cuda' },
    );
    let tap;
    try {
      tap = readFileSync(tapFile, 'utf8');
    } catch {
      ctx.check(r, 'node --test');
      throw new StageFailure(`expected a TAP report in ${tapFile}`);
    }
    const t = parseTap(tap);
    Object.assign(ctx.figures, { files: files.length, tests: t.tests, pass: t.pass, fail: t.fail, skipped: t.skipped });
    if (t.reasons.length) ctx.figures['skipped because'] = t.reasons.join(' / ');
    const ran = t.tests > 0 && t.fail === 0 && t.cancelled === 0 && t.skipped === 0 && t.pass === t.tests;
    ctx.goal('every CUDA test ran and passed', `${t.tests} of ${t.tests}`, `${t.pass} passed, ${t.skipped} skipped`, ran);
    if (t.failures.length) ctx.print(`failed: ${t.failures.join('; ')}`);
    ctx.check(r, `node --test (${t.fail} failed${t.failures.length ? `: ${t.failures.join('; ')}` : ''})`);
    if (!(t.tests > 0)) throw new StageFailure('expected the TAP summary to count at least one test');
    // A skip must say why: a silent skip would read as a pass. On the GPU machine nothing may skip.
    if (t.skipped > 0 && t.reasons.some((reason) => reason === '')) throw new StageFailure('a test skipped without saying why');
    if (ctx.mode === 'gpu' && t.skipped > 0) throw new StageFailure(`${t.skipped} tests skipped on the GPU machine: ${t.reasons.join(' / ')}`);
  },
};
