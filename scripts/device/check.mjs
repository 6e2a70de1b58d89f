#!/usr/bin/env node
// The GPU check (see scripts/device/README.md).
//
//   node scripts/device/check.mjs [--out DIR] [--stages a,b] [--budget S]   the stages, on the GPU machine (check.sh
//                                                                           unpacks .device/ first and calls this)
//   node scripts/device/check.mjs --dry ...                                the same stages in their CPU form
//                                                                           (what the dry run runs in its copy)
//   node scripts/device/check.mjs --cpu [--out DIR] [--keep]               the dry run here: pack, copy the tree and
//                                                                           .device/ to a temporary folder, run
//                                                                           check.sh --dry there
// Exit status: 0 when every stage ended ok or was skipped for a stated reason, 1 when one failed or ran out of time;
// goals missed are reported, not failures (a benchmark is not a test).
import { resolve } from 'node:path';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STAGES } from './plan.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const argv = process.argv.slice(2);
const value = (name) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  if (i + 1 >= argv.length) throw new RangeError(`--${name}: expected a value`);
  return argv[i + 1];
};

const out = resolve(value('out') ?? process.env.OUT ?? join(root, 'device-out'));
const only = value('stages')?.split(',');
const unknown = only?.filter((s) => !STAGES.includes(s));
if (unknown?.length) throw new RangeError(`--stages: expected names from ${STAGES.join(', ')}, received ${unknown.join(', ')}`);
const budget = value('budget');
const budgetSeconds = budget === undefined ? undefined : Number(budget);
if (budgetSeconds !== undefined && !(budgetSeconds > 0)) throw new RangeError(`--budget: expected seconds > 0, received ${budget}`);

let failed;
if (argv.includes('--cpu')) {
  const { dryRunHere } = await import('./dry-run.mjs');
  const forward = [...(only ? ['--stages', only.join(',')] : []), ...(budget !== undefined ? ['--budget', budget] : [])];
  failed = await dryRunHere({ root, out, keep: argv.includes('--keep'), forward });
} else {
  const { runStages } = await import('./run-stages.mjs');
  const results = await runStages({ root, out, mode: argv.includes('--dry') ? 'dry' : 'gpu', only, budgetSeconds });
  failed = results.stages.some((s) => s.status === 'failed' || s.status === 'timeout');
}
process.exitCode = failed ? 1 : 0;
