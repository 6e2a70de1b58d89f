// Benchmark of lib/augment.ts: both BYOL views (byolView1 / byolView2 at 96 px, bicubic) of a batch of
// 256 uint8 NHWC images on the CPU, in images/s, side by side in one run with
//   - torchvision.transforms applied image by image in PyTorch Python (each image its own draw),
//   - the same transforms applied once to the whole batch tensor (one draw per batch, like byol-pytorch),
//   - byol-torch with perImage: false (one draw per batch),
// each at the same thread count. Goal: byol-torch per image >= 5x torchvision per image.
//
//   npm run build:ts && node scripts/bench/augment.mjs [--batch 256] [--size 96] [--threads 1,2] [--repeats R]
// Each thread count runs both libraries; the goal compares each library at its best thread count.
// Needs the addon in build/Release and a Python with torchvision (BYOL_PYTHON, default: setup's .byol/python).
//
// On a GPU: --device cuda (scripts/device/check.sh) compares byol-torch's per-image views of the same batch on the
// GPU (images already there, a read of the result ending each repeat) with the CPU path at its default threads,
// goal GPU >= 20x CPU per image (--baseline cpu, the default with a device; --baseline cpu --device cpu is the
// dry run of that comparison). --json FILE writes the figures.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonPath } from './python-side.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const lib = await import(join(root, 'dist', 'index.js'));
const { augment, byolView1, byolView2, tensor, setNumThreads, getNumThreads } = lib;

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const batch = arg('batch', 256);
const size = arg('size', 96);
const threadArg = process.argv.indexOf('--threads');
const threadList = threadArg >= 0 ? process.argv[threadArg + 1].split(',').map(Number) : [...new Set([1, getNumThreads()])];
const repeats = arg('repeats', 5);
const named = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const device = named('device', 'cpu');
const baseline = named('baseline', device === 'cpu' ? 'torchvision' : 'cpu');
const jsonFile = named('json');
if (!['torchvision', 'cpu'].includes(baseline)) throw new RangeError(`--baseline: expected torchvision or cpu, received ${baseline}`);

const data = new Uint8Array(batch * size * size * 3);
let s = 1;
for (let i = 0; i < data.length; i++) {
  s = (s * 1103515245 + 12345) >>> 0;
  data[i] = s >>> 24;
}
const images = tensor(data, { shape: [batch, size, size, 3], dtype: 'uint8' });

async function ours(perImage, on = images) {
  const v1 = byolView1(size, { perImage });
  const v2 = byolView2(size, { perImage });
  let seed = 0;
  const run = async () => {
    const a = await augment(on, v1, { seed: seed++ });
    const b = await augment(on, v2, { seed: seed++ });
    // On a GPU the promise settles when the work is queued; reading a value waits for it (both views: one stream).
    if (on.device !== 'cpu') b.sum().item();
    a.dispose();
    b.dispose();
  };
  await run(); // warm-up
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    await run();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return batch / best;
}

function torchvision(threads) {
  const python = pythonPath();
  const script = join(root, 'scripts', 'bench', 'augment_torchvision.py');
  const out = spawnSync(
    python,
    [script, '--batch', String(batch), '--size', String(size), '--threads', String(threads), '--repeats', '2', '--json'],
    { encoding: 'utf8' },
  );
  if (out.status !== 0) throw new Error(`${python} ${script} failed:\n${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

/** byol-torch on `device` against byol-torch on the CPU, per image, same batch. */
async function deviceVsCpu() {
  const onDevice = images.to(device);
  // Each side twice, the better counts (as the torchvision comparison below does for byol-torch).
  const cpuRate = Math.max(await ours(true), await ours(true));
  const deviceRate = Math.max(await ours(true, onDevice), await ours(true, onDevice));
  const ratio = deviceRate / cpuRate;
  console.log(`both BYOL views, ${batch} uint8 images ${size}x${size}x3 -> float32 NCHW, per-image draws; best of ${repeats} repeats`);
  console.log(`| pipeline | images/s |\n|---|---:|\n| byol-torch on ${device} | ${deviceRate.toFixed(1)} |\n` +
    `| byol-torch on the CPU (${getNumThreads()} threads) | ${cpuRate.toFixed(1)} |`);
  console.log(`\ngoal: ${device} >= 20x the CPU per image: ${ratio.toFixed(1)}x, ${ratio >= 20 ? 'met' : 'MISSED'}`);
  if (jsonFile) {
    writeFileSync(jsonFile, `${JSON.stringify({ device, batch, size, repeats, cpuThreads: getNumThreads(), deviceImagesPerSecond: deviceRate,
      cpuImagesPerSecond: cpuRate, ratio }, null, 2)}\n`);
  }
}
if (baseline === 'cpu') {
  await deviceVsCpu();
  process.exit(0);
}

const load0 = loadavg()[0];
const rows = [];
let worst = Infinity;
for (const t of threadList) {
  setNumThreads(t);
  const perImageA = await ours(true);
  const tv = torchvision(t);
  const batchWide = await ours(false);
  const perImage = Math.max(perImageA, await ours(true));
  rows.push([t, 'byol-torch, per image (augment)', perImage, tv]);
  rows.push([t, 'byol-torch, one draw per batch (perImage: false)', batchWide, tv]);
  rows.push([t, `torchvision ${tv.torch}, per image (Python loop)`, tv['per-image'], tv]);
  rows.push([t, 'torchvision, one draw per batch (whole-batch tensor)', tv['batch-wide'], tv]);
  worst = Math.min(worst, perImage / tv['per-image']);
}
const load1 = loadavg()[0];
const bestTorchvision = Math.max(...rows.filter((r) => r[1].includes('torchvision') && r[1].includes('per image')).map((r) => r[2]));
const bestOurs = Math.max(...rows.filter((r) => r[1] === 'byol-torch, per image (augment)').map((r) => r[2]));

console.log(`both BYOL views, ${batch} uint8 images ${size}x${size}x3 -> float32 NCHW, CPU`);
console.log(`(load average ${load0.toFixed(1)} before, ${load1.toFixed(1)} after; best of ${repeats} / 2 repeats)\n`);
console.log('| threads | pipeline | images/s | vs torchvision per image, same threads |');
console.log('|---:|---|---:|---:|');
for (const [t, name, rate, tv] of rows) {
  console.log(`| ${t} | ${name} | ${rate.toFixed(1)} | ${(rate / tv['per-image']).toFixed(1)}x |`);
}
const ratio = bestOurs / bestTorchvision;
console.log(
  `\ngoal: byol-torch per image >= 5x torchvision per image (best thread count of each): ` +
    `${bestOurs.toFixed(1)} / ${bestTorchvision.toFixed(1)} = ${ratio.toFixed(1)}x, ${ratio >= 5 ? 'met' : 'MISSED'}` +
    ` (worst same-thread ratio ${worst.toFixed(1)}x)`,
);
if (jsonFile) {
  writeFileSync(jsonFile, `${JSON.stringify({ device, batch, size, repeats, bestOurs, bestTorchvision, ratio, worstSameThreadRatio: worst,
    rows: rows.map(([t, name, rate]) => ({ threads: t, pipeline: name, imagesPerSecond: rate })) }, null, 2)}\n`);
}
