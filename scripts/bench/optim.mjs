// Benchmark: one optimizer step over ResNet-50 + BYOL projector/predictor parameters (~37M floats), byol-torch
// (one native job per step) against torch.optim in Python on the same LibTorch and thread count, in one run.
// Also the floor set by the machine's copy bandwidth, measured here: each step must read and write the bytes
// listed (SGD: p, g, buf read + p, buf written = 5 floats/param; Adam: p, g, m, v read + p, m, v written = 7).
//
//   npx tsc -p tsconfig.json && node scripts/bench/optim.mjs [threads] [repeats]
import { spawnSync } from 'node:child_process';
import { Adam, AdamW, LARS, SGD, getNumThreads, randn, setNumThreads, tensor } from '../../dist/index.js';
import { pythonPath } from './python-side.mjs';

const threads = Number(process.argv[2] ?? getNumThreads());
const repeats = Number(process.argv[3] ?? 10);
setNumThreads(threads);
const python = pythonPath();

const run = spawnSync(python, ['scripts/bench/optim.py', String(threads), String(repeats)], {
  encoding: 'utf8',
  maxBuffer: 1 << 26,
});
if (run.status !== 0) throw new Error(`optim.py failed:\n${run.stderr}`);
const torch = JSON.parse(run.stdout);

const params = torch.shapes.map((shape) => randn(shape).requiresGrad_());
// grads = random: backward of sum(p * c) gives p.grad = c.
let loss;
for (const p of params) {
  const term = p.mul(randn(p.shape)).sum();
  loss = loss ? loss.add(term) : term;
}
await loss.backward();
const numel = params.reduce((n, p) => n + p.numel, 0);

async function timeSteps(opt) {
  await opt.step();
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await opt.step();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

// Copy bandwidth: a 256 MB copy_ (read + write) on the same threads.
const src = randn([64 * 1024 * 1024]);
const dst = randn([64 * 1024 * 1024]);
const copies = [];
for (let i = 0; i < 5; i++) {
  const start = performance.now();
  dst.copy_(src);
  copies.push(performance.now() - start);
}
copies.sort((a, b) => a - b);
const bandwidth = (2 * 4 * 64 * 1024 * 1024) / (copies[2] / 1e3); // bytes/s
src.dispose();
dst.dispose();
const floorMs = (floatsPerParam) => ((floatsPerParam * 4 * numel) / bandwidth) * 1e3;

const ours = {
  sgd: await timeSteps(new SGD(params, { lr: 0.1, momentum: 0.9, weightDecay: 1e-6 })),
  adam: await timeSteps(new Adam(params, { lr: 3e-4 })),
  adamw: await timeSteps(new AdamW(params, { lr: 3e-4 })),
  lars: await timeSteps(new LARS(params, { lr: 0.2, weightDecay: 1.5e-6 })),
};

const rows = [
  ['SGD momentum 0.9, wd', ours.sgd, torch.ms.sgd, torch.ms.sgd_foreach, floorMs(5)],
  ['Adam', ours.adam, torch.ms.adam, torch.ms.adam_foreach, floorMs(7)],
  ['AdamW', ours.adamw, torch.ms.adamw, null, floorMs(7)],
  ['LARS (BYOL)', ours.lars, torch.ms.lars, null, floorMs(6)],
];
const f = (x) => (x === null ? '-' : x.toFixed(1));
console.log(
  `optimizer step over ${params.length} tensors, ${(numel / 1e6).toFixed(1)}M floats; ${threads} thread(s); ` +
    `torch ${torch.torch}; copy bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s; median of ${repeats}`,
);
console.log('| step | byol-torch ms | torch.optim ms (for-loop) | torch.optim ms (foreach) | ratio vs for-loop | bandwidth floor ms |');
console.log('|---|---|---|---|---|---|');
for (const [name, o, t, tf, floor] of rows) {
  console.log(`| ${name} | ${f(o)} | ${f(t)} | ${f(tf)} | ${(t / o).toFixed(2)}x | ${f(floor)} |`);
}
