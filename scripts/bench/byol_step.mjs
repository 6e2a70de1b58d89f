// The whole BYOL training step, byol-torch vs eager PyTorch Python on the same LibTorch and thread count:
// ResNet-50 encoder, projector/predictor MLP 2048-4096-256, Adam lr 3e-4, EMA of the target.
//
//   ours          `learner.step(images, adam)`: views, forward (both views in one batch, BatchNorm per view),
//                 backward, Adam step, EMA. With pre-augmented views (identity view transforms handing back
//                 the same two fixed views, as the Python side) and with the full per-image native
//                 augmentation of both views (BYOL's t / t' from uint8 or float images).
//   (a) torch     byol-pytorch's way (scripts/bench/byol_step.py): views concatenated (BatchNorm over both),
//                 contiguous, per-parameter Python EMA loop. Pre-augmented views.
//   (b) torch     the same algorithm as ours: each view its own pass (BatchNorm per view); pre-augmented views.
//
// Two modes:
//   side by side (default)  both sides in one run, alternating STEP BY STEP (Python runs as a child server) so
//                 they see the same machine load; each figure is the median of the iterations. Only here is
//                 OMP_WAIT_POLICY=PASSIVE set (for both processes, unless you set it): two processes taking
//                 turns on the same cores would otherwise lose CPU to each other's spinning OpenMP threads.
//                 It slows eager PyTorch's many small ops (15-25% here), so the whole-process comparison
//                 (step_processes.mjs, built on the one-shot modes) is the one that measures sides as users run them.
//                 The fp32 matmul peak (best 1024³ GEMM in oneDNN, and torch.mm's BLAS) is measured between the
//                 steps; FLOPs of a step = 2 × multiply-adds × 2 views × (3 online + 1 target) forward passes.
//                 Then the scaling: images/s and peak RSS of one process per configuration (ours and (b)), batch
//                 8..64 at 64 px and 32..96 px at batch 16, each process with the caller's environment.
//   one-shot (--one) one configuration of ours in this process, nothing forced (threads and OMP settings are
//                 the library's and the user's defaults); warm-up + measured steps; prints one JSON line:
//                 images/s (median step), CPU ms per image, per-phase median timings, last loss, threads, peak RSS.
//                 Options: --arch resnet18|resnet50 --channels 1|3 --hidden N --proj N --lr X
//                 --views premade|augment --augment-views byol|byol-pytorch|small-gray --input uint8|float
//                 --format contiguous|channels_last --batch --size --warmup --iters.
// Not a test. Run after building the addon and the TypeScript:
//   npx tsc -p tsconfig.json && node scripts/bench/byol_step.mjs [--batch 16] [--size 64] [--iters 3] [--warmup 1] [--no-scaling]
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { pythonPath, startPythonSide } from './python-side.mjs';
import { arg, median } from './cli.mjs';

const oneShot = process.argv.includes('--one');
// The caller's environment, before the side-by-side mode changes it: what the scaling processes get.
const callerEnv = { ...process.env };
// Side by side, both processes alternate on the same cores, so OpenMP threads that spin-wait after each
// parallel region (libgomp's default) would steal the other side's CPU (see models.mjs). Passive waiting for
// both unless set otherwise; libgomp reads it when LibTorch loads, hence the dynamic import. The Python child
// inherits it. One-shot processes run alone and keep the user's defaults.
if (!oneShot) process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
const { Adam, BYOL, byolPytorchDefault, byolView1, byolView2, getNumThreads, libtorchInfo, rand, resnet, tensor } =
  await import('../../dist/index.js');
// Peak RSS of this process image: VmHWM (getrusage's maxrss is carried over exec from the parent on Linux).
const peakRssMiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;

const here = dirname(fileURLToPath(import.meta.url));
const batch = Number(arg('batch', 16)), size = Number(arg('size', 64));
const iters = Number(arg('iters', 3)), warmup = Number(arg('warmup', 1));
const threads = getNumThreads();
const python = pythonPath();
const PHASES = ['augment', 'forward', 'backward', 'optimizer', 'ema'];

function randomImages(b, c, s, dtype) {
  if (dtype === 'uint8') {
    const data = new Uint8Array(b * c * s * s);
    for (let i = 0; i < data.length; i++) data[i] = (Math.random() * 256) | 0;
    return tensor(data, { shape: [b, c, s, s] });
  }
  return rand([b, c, s, s]);
}

/** The two views of a named preset (as `byol train --views`). */
function viewPreset(name, s) {
  switch (name) {
    case 'byol':
      return [byolView1(s), byolView2(s)];
    case 'byol-pytorch':
      return [byolPytorchDefault(s), byolPytorchDefault(s)];
    case 'small-gray': { // lib/cli/views.ts, the demo's views
      const common = { interpolation: 'bilinear', scale: [0.2, 1], brightness: 0.4, contrast: 0.4, jitterProb: 0.8 };
      return [byolView1(s, { ...common, blurProb: 0.5 }), byolView2(s, { ...common, blurProb: 0.1, solarizeProb: 0.2 })];
    }
    default:
      throw new RangeError(`augment-views: expected byol, byol-pytorch or small-gray, received ${name}`);
  }
}

/**
 * A learner, its optimizer and its input. views: 'premade' (fixed views, no augmentation) or 'augment' (the
 * native per-image augmentation of `augmentViews`).
 */
function makeOurs({ format = 'contiguous', views, b = batch, s = size, arch = 'resnet50', channels = 3, hidden = 4096, proj = 256,
  augmentViews = 'byol', lr = 3e-4, precision = 'fp32' }) {
  const net = resnet(Number(arch.slice('resnet'.length)), { inChannels: channels });
  if (format === 'channels_last') net.channelsLast();
  const v1 = rand([b, channels, s, s]), v2 = rand([b, channels, s, s]);
  const [augment1, augment2] = views === 'premade'
    ? [async () => v1.clone(), async () => v2.clone()]
    : viewPreset(augmentViews, s);
  const learner = new BYOL(net, {
    imageSize: s, channels, projectionSize: proj, projectionHiddenSize: hidden,
    decaySchedule: 'constant', movingAverageDecay: 0.99, seed: 1, augment1, augment2, precision,
  });
  const optimizer = new Adam(learner.parameters(), { lr });
  return { learner, optimizer, inputs: { uint8: randomImages(b, channels, s, 'uint8'), float: randomImages(b, channels, s, 'float') } };
}

async function ourStep(setup, input = 'float') {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await setup.learner.step(setup.inputs[input], setup.optimizer);
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6, loss: r.loss, timings: r.timings };
}

// --- one-shot mode: one configuration, alone in this process, prints JSON ------------------------------
if (oneShot) {
  const setup = makeOurs({
    format: arg('format', 'contiguous'), views: arg('views', 'premade'), arch: arg('arch', 'resnet50'),
    channels: Number(arg('channels', 3)), hidden: Number(arg('hidden', 4096)), proj: Number(arg('proj', 256)),
    augmentViews: arg('augment-views', 'byol'), lr: Number(arg('lr', 3e-4)), precision: arg('precision', 'fp32'),
  });
  const input = arg('input', 'float');
  for (let i = 0; i < warmup; i++) await ourStep(setup, input);
  const samples = [];
  for (let i = 0; i < iters; i++) samples.push(await ourStep(setup, input));
  const wall = median(samples.map((x) => x.wall)), cpu = median(samples.map((x) => x.cpu));
  console.log(JSON.stringify({
    threads, libtorch: libtorchInfo().libtorch, ompWaitPolicy: process.env.OMP_WAIT_POLICY ?? null,
    imagesPerSecond: batch / wall, cpuMsPerImage: (1000 * cpu) / batch, loss: samples.at(-1).loss,
    walls: samples.map((x) => x.wall),
    timings: Object.fromEntries(PHASES.map((k) => [k, median(samples.map((x) => x.timings[k]))])),
    maxRssMiB: peakRssMiB(),
  }));
  process.exit(0);
}

// --- the side-by-side run -------------------------------------------------------------------------------
const torchSide = startPythonSide(join(here, 'byol_step.py'), ['--threads', String(threads), '--batch', String(batch),
  '--size', String(size)]);
const theirSetup = JSON.parse(await torchSide.nextLine());
async function theirStep(variant) {
  const [wall, cpu, loss] = (await torchSide.ask(variant)).split(' ').map(Number);
  return { wall, cpu, loss };
}
async function peak() {
  const [mm, onednn] = (await torchSide.ask('peak')).split(' ').map(Number);
  return { mm, onednn };
}

const ours = {
  contiguous: makeOurs({ format: 'contiguous', views: 'premade' }),
  channels_last: makeOurs({ format: 'channels_last', views: 'premade' }),
  augment: makeOurs({ format: 'contiguous', views: 'augment' }),
};
// [label, side, run]; ours and theirs alternate inside each round.
const rows = [
  ['ours, contiguous, pre-augmented views', 'ours', () => ourStep(ours.contiguous)],
  ['ours, channels-last, pre-augmented views', 'ours', () => ourStep(ours.channels_last)],
  ['ours, contiguous, + augmentation from uint8', 'ours', () => ourStep(ours.augment, 'uint8')],
  ['ours, contiguous, + augmentation from float', 'ours', () => ourStep(ours.augment, 'float')],
  ['(a) byol-pytorch way, cat views, contiguous', 'torch', () => theirStep('a')],
  ['(b) torch same algorithm, contiguous', 'torch', () => theirStep('b_contiguous')],
  ['(b) torch same algorithm, channels-last', 'torch', () => theirStep('b_channels_last')],
];
const samples = rows.map(() => []);
const peaks = [await peak()];
for (let round = 0; round < warmup + iters; round++) {
  for (let i = 0; i < rows.length; i++) {
    const r = await rows[i][2]();
    if (round >= warmup) samples[i].push(r);
  }
  peaks.push(await peak());
}
torchSide.quit();

const macs = theirSetup.macs;
const onlineMacs = macs.encoder + macs.projector + macs.predictor, targetMacs = macs.encoder + macs.projector;
const flopsPerImage = 2 * 2 * (3 * onlineMacs + targetMacs);
const peakGflops = Math.max(...peaks.map((p) => p.onednn)), mmGflops = Math.max(...peaks.map((p) => p.mm));
const info = libtorchInfo();
const pad = (s, n) => String(s).padEnd(n);
const fmt = (x, d = 1) => x.toFixed(d);

const out = [];
out.push(`BYOL step, ResNet-50, batch ${batch}, ${size} px, ${threads} thread(s), CPU; median of ${iters} alternating iterations after ${warmup} warm-up`);
out.push(`byol-torch on LibTorch ${info.libtorch}; PyTorch ${theirSetup.torch} / torchvision ${theirSetup.torchvision}, ${theirSetup.threads} thread(s)`);
out.push(`forward multiply-adds per image (hook count, Conv2d + Linear): encoder ${fmt(macs.encoder / 1e6)} M, projector ${fmt(macs.projector / 1e6)} M, predictor ${fmt(macs.predictor / 1e6)} M`);
out.push(`FLOPs per image of a step = 2 x 2 views x (3 x online ${fmt(onlineMacs / 1e6)} M + target ${fmt(targetMacs / 1e6)} M) = ${fmt(flopsPerImage / 1e9, 2)} GFLOP`);
out.push(`fp32 matmul peak, ${threads} thread(s), best single 1024³ product of 8 x ${peaks.length} in this run: ${fmt(peakGflops)} GFLOP/s as a oneDNN GEMM (1x1 conv; per round: ${peaks.map((p) => fmt(p.onednn, 0)).join(', ')}); ` +
  `torch.mm (libblas.so.3: OpenBLAS where libopenblas0-openmp is installed, else the reference BLAS): ${fmt(mmGflops)} GFLOP/s. Shares below are of the oneDNN figure.`);
out.push(`OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY}; machine load average (1/5/15 min) at the end: ${loadavg().map((l) => l.toFixed(1)).join(' / ')}`);
out.push('');
out.push('| step | img/s | cpu-ms/img | GFLOP/s | % of matmul peak | loss |');
out.push('|---|---:|---:|---:|---:|---:|');
const stats = rows.map(([label], i) => {
  const wall = median(samples[i].map((s) => s.wall)), cpu = median(samples[i].map((s) => s.cpu));
  return { label, ips: batch / wall, cpuMs: (cpu / batch) * 1000, loss: samples[i].at(-1).loss };
});
for (const s of stats) {
  const gf = (s.ips * flopsPerImage) / 1e9;
  out.push(`| ${s.label} | ${fmt(s.ips, 2)} | ${fmt(s.cpuMs, 0)} | ${fmt(gf)} | ${fmt((100 * gf) / peakGflops)}% | ${s.loss.toFixed(3)} |`);
}
const by = (prefix) => stats.find((s) => s.label.startsWith(prefix));
const bestOurs = Math.max(by('ours, contiguous, pre').ips, by('ours, channels-last').ips);
const bestB = Math.max(by('(b) torch same algorithm, contiguous').ips, by('(b) torch same algorithm, channels').ips);
const a = by('(a)').ips;
out.push('');
out.push(`best ours (pre-augmented) / best (b): ${fmt(bestOurs / bestB, 2)}x (goal >= 1.15x); / (a): ${fmt(bestOurs / a, 2)}x (goal > 1.0x, aim 1.3x); ` +
  `share of matmul peak: ${fmt((100 * bestOurs * flopsPerImage) / 1e9 / peakGflops)}% (aim 50%)`);
const cpuB = Math.min(by('(b) torch same algorithm, contiguous').cpuMs, by('(b) torch same algorithm, channels').cpuMs);
const cpuOurs = Math.min(by('ours, contiguous, pre').cpuMs, by('ours, channels-last').cpuMs);
out.push(`by CPU time per image: best ours / best (b) ${fmt(cpuB / cpuOurs, 2)}x, / (a) ${fmt(by('(a)').cpuMs / cpuOurs, 2)}x`);

// Where our step's time goes (medians of the learner's own timings).
out.push('');
out.push('| ours: phase medians (ms) | augment | forward | backward | optimizer | ema | augment share |');
out.push('|---|---:|---:|---:|---:|---:|---:|');
for (let i = 0; i < 4; i++) {
  const t = (k) => median(samples[i].map((s) => s.timings[k]));
  const total = ['augment', 'forward', 'backward', 'optimizer', 'ema'].reduce((acc, k) => acc + t(k), 0);
  out.push(`| ${rows[i][0]} | ${fmt(t('augment'))} | ${fmt(t('forward'))} | ${fmt(t('backward'))} | ${fmt(t('optimizer'))} | ${fmt(t('ema'))} | ${fmt((100 * t('augment')) / total)}% |`);
}
console.log(out.join('\n'));

// --- scaling: one process per configuration (so peak RSS is that configuration's) -----------------------
if (!process.argv.includes('--no-scaling')) {
  const configs = [[8, 64], [16, 64], [32, 64], [64, 64], [16, 32], [16, 96]];
  const sIters = arg('scaling-iters', '2');
  const lines2 = ['', `scaling (contiguous, pre-augmented views, 1 warm-up + median of ${sIters} steps, one process each, ` +
    `run one after the other with the caller's environment (OMP_WAIT_POLICY=${callerEnv.OMP_WAIT_POLICY ?? 'unset'}); ` +
    `peak RSS = the process's max resident set, models + optimizer state included)`, '',
    '| batch | px | ours img/s | (b) torch img/s | ours/(b) | ours peak RSS MiB | (b) peak RSS MiB |', '|---:|---:|---:|---:|---:|---:|---:|'];
  console.log(lines2.join('\n'));
  for (const [b, s] of configs) {
    const common = ['--batch', String(b), '--size', String(s), '--warmup', '1', '--iters', sIters];
    const mine = JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--one', ...common], { encoding: 'utf8', env: callerEnv }).trim().split('\n').at(-1));
    const theirs = JSON.parse(execFileSync(python, [join(here, 'byol_step.py'), '--threads', String(threads), '--one', 'b_contiguous', ...common], { encoding: 'utf8', env: callerEnv }).trim().split('\n').at(-1));
    console.log(`| ${b} | ${s} | ${fmt(mine.imagesPerSecond, 2)} | ${fmt(theirs.imagesPerSecond, 2)} | ${fmt(mine.imagesPerSecond / theirs.imagesPerSecond, 2)}x | ${fmt(mine.maxRssMiB, 0)} | ${fmt(theirs.maxRssMiB, 0)} |`);
  }
}
