// ResNet-50 speed, byol-torch vs torchvision in PyTorch Python on the same LibTorch and thread count:
// training steps (forward + backward, batch 32, 64 px) and inference (no grad), contiguous and channels-last.
// The two sides alternate step by step (Python runs as a child server), so both see the same machine load;
// each figure is the median over the iterations. On a busy machine wall-clock rates mostly measure the
// load; the CPU seconds per image (all threads of each process) are the steadier comparison. Not a test. Run after building the addon and the TypeScript:
//   npx tsc -p tsconfig.json && node scripts/bench/models.mjs [--iters 5] [--warmup 1] [--batch 32] [--size 64]
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPythonSide } from './python-side.mjs';
import { median } from './cli.mjs';

// Both processes alternate on the same cores, so OpenMP threads that spin-wait after each parallel region
// (libgomp's default) would steal the other side's CPU and skew the comparison (measured here with the
// default: torchvision's side used up to 4x the CPU per image of ours; with passive waiting, the same). Passive waiting, unless set otherwise, for both; libgomp reads it when
// the addon loads, hence the dynamic import below.
process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
const { getNumThreads, libtorchInfo, noGrad, randn, resnet50 } = await import('../../dist/index.js');

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const batch = arg('batch', 32), size = arg('size', 64), iters = arg('iters', 5), warmup = arg('warmup', 1);
const threads = getNumThreads();

// --- the PyTorch side: a child answering one timed step per line ---------------------------------------
const torchSide = startPythonSide(join(here, 'models_torch.py'), ['--threads', String(threads), '--batch', String(batch),
  '--size', String(size)]);
const theirSetup = JSON.parse(await torchSide.nextLine());
async function theirStep(work, fmt) {
  const [wall, cpu] = (await torchSide.ask(`${work} ${fmt}`)).split(' ').map(Number);
  return { wall, cpu };
}

// --- our side ------------------------------------------------------------------------------------------
const models = {};
for (const fmt of ['contiguous', 'channels_last']) {
  const model = resnet50({ hiddenLayer: 'fc' });  // the whole network, as torchvision's forward
  let x = randn([batch, 3, size, size]);
  if (fmt === 'channels_last') {
    model.channelsLast();
    x = x.channelsLast();
  }
  models[fmt] = { model, x, params: model.parameters() };
}
async function ourStep(work, fmt) {
  const { model, x, params } = models[fmt];
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  if (work === 'train') {
    model.train();
    for (const p of params) p.grad?.zeroGrad();
    const y = await model.forward(x);
    const loss = y.mean();
    await loss.backward();
    y.dispose();
    loss.dispose();
  } else {
    model.eval();
    const y = await noGrad(() => model.forward(x));
    y.dispose();
  }
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

const results = {};
for (const work of ['train', 'infer']) {
  for (const fmt of ['contiguous', 'channels_last']) {
    for (let i = 0; i < warmup; i++) {
      await ourStep(work, fmt);
      await theirStep(work, fmt);
    }
    const mine = [], theirs = [];
    for (let i = 0; i < iters; i++) {
      mine.push(await ourStep(work, fmt));
      theirs.push(await theirStep(work, fmt));
    }
    results[`${work}_${fmt}`] = {
      ours: batch / median(mine.map((m) => m.wall)),
      torch: batch / median(theirs.map((m) => m.wall)),
      oursCpu: median(mine.map((m) => m.cpu)) / batch,
      torchCpu: median(theirs.map((m) => m.cpu)) / batch,
    };
  }
}
torchSide.quit();

const info = libtorchInfo();
console.log(`ResNet-50, batch ${batch}, ${size} px, ${threads} thread(s); median of ${iters} alternating iterations after ${warmup} warm-up`);
console.log(`byol-torch on LibTorch ${info.libtorch}; torchvision on PyTorch ${theirSetup.torch} with ${theirSetup.threads} thread(s); ` +
  `OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY}`);
console.log(`machine load average (1/5/15 min) at the end: ${loadavg().map((l) => l.toFixed(1)).join(' / ')}\n`);
const pad = (s, n) => String(s).padEnd(n);
console.log(`${pad('work', 17)}${pad('format', 15)}${pad('ours img/s', 12)}${pad('torch img/s', 13)}${pad('ours/torch', 12)}` +
  `${pad('ours cpu-ms/img', 17)}${pad('torch cpu-ms/img', 18)}speed by cpu`);
const names = { train: 'train (fwd+bwd)', infer: 'inference' };
for (const [key, r] of Object.entries(results)) {
  const [work, ...rest] = key.split('_');
  console.log(`${pad(names[work], 17)}${pad(rest.join('-'), 15)}${pad(r.ours.toFixed(1), 12)}${pad(r.torch.toFixed(1), 13)}` +
    `${pad(`${(r.ours / r.torch).toFixed(2)}x`, 12)}${pad((r.oursCpu * 1000).toFixed(0), 17)}${pad((r.torchCpu * 1000).toFixed(0), 18)}` +
    `${(r.torchCpu / r.oursCpu).toFixed(2)}x`);
}
const ratio = (work, side) => (results[`${work}_channels_last`][side] / results[`${work}_contiguous`][side]).toFixed(2);
const cpuRatio = (work, side) => (results[`${work}_contiguous`][side] / results[`${work}_channels_last`][side]).toFixed(2);
console.log(`\nchannels-last speed-up over contiguous (wall / by cpu): train ours ${ratio('train', 'ours')}x / ` +
  `${cpuRatio('train', 'oursCpu')}x, torch ${ratio('train', 'torch')}x / ${cpuRatio('train', 'torchCpu')}x; ` +
  `inference ours ${ratio('infer', 'ours')}x / ${cpuRatio('infer', 'oursCpu')}x, torch ${ratio('infer', 'torch')}x / ${cpuRatio('infer', 'torchCpu')}x`);
console.log('goals: ours/torch >= 1.0 per format; channels-last/contiguous >= 1.1 for training (ours)');
