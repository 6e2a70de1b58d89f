// Data-parallel training on this machine: 2 worker processes x 1 thread against 1 process x 2 threads, the
// BYOL step of ResNet-50 at 64 px (global batch 16, Adam), each configuration a whole set of processes run
// alone and alternated over --rounds; beside PyTorch's own 2-process step (DDP over Gloo, local BatchNorm) in the
// same run. Then the all-reduce bandwidth: the step's bucketed gradient average against one flat all-reduce of
// the same bytes. Ranks get the torchrun variables by hand (as `byol train --nproc-per-node` sets them) and
// OMP_NUM_THREADS = cores / workers, as `byol train --nproc-per-node` and torchrun give them (both sides read it).
//
//   npx tsc -p tsconfig.json && node scripts/bench/data_parallel.mjs [--rounds 3] [--batch 16] [--iters 5]
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../dist/cli/launch.js';
import { pythonPath } from './python-side.mjs';
import { arg, cell, median } from './cli.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(arg('rounds', 3));
const common = ['--batch', arg('batch', '16'), '--size', '64', '--warmup', '2', '--iters', arg('iters', '5')];
const cores = availableParallelism();

/** Runs `world` processes of [command, ...args] (one rank each when world > 1); resolves with rank 0's JSON. */
async function runGroup(world, command, args, threadsEach) {
  const port = await freePort('127.0.0.1');
  const children = Array.from({ length: world }, (_, rank) => {
    const env = { ...process.env };
    if (world > 1) Object.assign(env, { RANK: String(rank), WORLD_SIZE: String(world), LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: String(world), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) });
    if (threadsEach) env.OMP_NUM_THREADS = String(threadsEach);
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    return new Promise((resolve, reject) =>
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} (rank ${rank}) exited ${code}`)))),
    );
  });
  const outputs = await Promise.all(children);
  return JSON.parse(outputs[0].trim().split('\n').at(-1));
}

const ours = (extra) => [join(here, 'dp_step.mjs'), ...common, ...extra];
const ROWS = [
  { label: 'ours, 1 process x 2 threads', run: () => runGroup(1, process.execPath, ours([])) },
  { label: 'ours, 2 processes x 1 thread, synchronised BN', run: () => runGroup(2, process.execPath, ours([]), Math.max(1, Math.floor(cores / 2))) },
  { label: 'ours, 2 processes x 1 thread, local BN', run: () => runGroup(2, process.execPath, ours(['--local-bn']), Math.max(1, Math.floor(cores / 2))) },
  { label: 'PyTorch DDP (Gloo), 2 processes x 1 thread, local BN', run: () => runGroup(2, pythonPath(), [join(here, 'byol_ddp.py'), ...common], Math.max(1, Math.floor(cores / 2))) },
];

console.log(`# Data-parallel BYOL step, ResNet-50 64 px, global batch ${arg('batch', '16')}, Adam; ${rounds} rounds alternated; ${cores} cores; load ${loadavg()[0].toFixed(2)}`);
const results = ROWS.map(() => []);
for (let r = 0; r < rounds; r++) {
  for (const [i, row] of ROWS.entries()) {
    const result = await row.run();
    results[i].push(result);
    console.log(`round ${r + 1}: ${row.label}: ${cell(result.imagesPerSecond, 2)} img/s${result.allReduceMs !== undefined ? `, all-reduce ${cell(result.allReduceMs)} ms/step` : ''}`);
  }
}
const base = median(results[0].map((x) => x.imagesPerSecond));
console.log('\n| configuration | threads/process | images/s (median of rounds) | vs 1 process | all-reduce ms/step | MB all-reduced/step |');
console.log('|---|---|---|---|---|---|');
for (const [i, row] of ROWS.entries()) {
  const ips = median(results[i].map((x) => x.imagesPerSecond));
  const ar = results[i][0].allReduceMs === undefined ? null : median(results[i].map((x) => x.allReduceMs));
  const mb = results[i][0].bytesPerStep === undefined ? null : median(results[i].map((x) => x.bytesPerStep)) / 1e6;
  console.log(`| ${row.label} | ${results[i][0].threads} | ${cell(ips, 2)} | ${cell(ips / base, 2)}x | ${cell(ar)} | ${cell(mb)} |`);
}

const bandwidth = [];
for (let r = 0; r < rounds; r++) bandwidth.push(await runGroup(2, process.execPath, ours(['--bandwidth']), Math.max(1, Math.floor(cores / 2))));
const b = (k) => median(bandwidth.map((x) => x[k]));
console.log(`\nAll-reduce of the learner's gradients (${cell(bandwidth[0].bytes / 1e6)} MB float32, 2 ranks, loopback), median of ${rounds} runs:`);
console.log('| path | ms | GB/s (bytes / time) |');
console.log('|---|---|---|');
console.log(`| bucketed (25 MiB buckets, in place, then the 1/W pass; the step itself pre-divides its loss instead) | ${cell(b('bucketedMs'))} | ${cell(b('bucketedGBs'), 2)} |`);
console.log(`| one flat Gloo all-reduce of the same bytes | ${cell(b('flatMs'))} | ${cell(b('flatGBs'), 2)} |`);
