// Is the image loader the bottleneck of training? Side by side, from one run on the same machine:
//   loader   imageFolder + Loader: decode (sharp/libvips) + resize to 64 px + C×H×W float batches of 64,
//            over a generated folder of JPEG and PNG images of mixed sizes (made here, in a temp dir)
//   trainer  BYOL steps (learner.step with the native augmentation, Adam), ResNet-18 and ResNet-50 at 64 px,
//            batch 64: the rate at which training consumes images
//   fed      ResNet-18 steps whose batches come from the Loader (prefetch 2, decoding while the step runs)
// Loader faster than the trainer by a wide margin = not the bottleneck. CPU time per image is process CPU
// (all threads: libvips, LibTorch, JS). Not a test. Build first (npx tsc -p tsconfig.json), then:
//   node scripts/bench/loader.mjs [--images 2400] [--steps 2] [--no-fed]
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { arg } from './cli.mjs';

process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
const { Adam, BYOL, Loader, byolView1, byolView2, getNumThreads, imageFolder, resnet18, resnet50 } = await import('../../dist/index.js');

const total = Number(arg('images', 2400));
const steps = Number(arg('steps', 2));
const fed = !process.argv.includes('--no-fed');
const size = 64, batch = 64;

const clock = () => ({ wall: performance.now(), cpu: process.cpuUsage() });
const since = (t0, images) => {
  const wall = (performance.now() - t0.wall) / 1000;
  const c = process.cpuUsage(t0.cpu);
  return { imagesPerSecond: images / wall, cpuMsPerImage: (c.user + c.system) / 1000 / images, wall };
};

// --- the folder: 10 classes, 60% JPEG / 40% PNG, 48..256 px sides, smooth colours + noise ----------------
const root = mkdtempSync(join(tmpdir(), 'byol-bench-loader-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
let state = 1;
const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
const t0 = performance.now();
const jobs = [];
for (let i = 0; i < total; i++) {
  const w = 48 + Math.floor(random() * 208), h = 48 + Math.floor(random() * 208);
  const raw = Buffer.alloc(w * h * 3);
  const base = [random() * 255, random() * 255, random() * 255], slope = random() * 2 - 1;
  for (let y = 0, p = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++, p++) raw[p] = Math.max(0, Math.min(255, base[c] + slope * (x + y) + (random() - 0.5) * 40));
  const dir = join(root, `class${i % 10}`);
  mkdirSync(dir, { recursive: true });
  const image = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
  const png = i % 5 < 2;
  jobs.push(png ? image.png().toFile(join(dir, `${i}.png`)) : image.jpeg({ quality: 90 }).toFile(join(dir, `${i}.jpg`)));
  if (jobs.length >= 16) await Promise.all(jobs.splice(0));
}
await Promise.all(jobs);
const generated = (performance.now() - t0) / 1000;

// --- loader -------------------------------------------------------------------------------------------------
const rows = [];
let t = clock();
const dataset = await imageFolder(root, { imageSize: size });
const scan = since(t, dataset.size);
rows.push({ name: 'loader: scan (readdir + header check of every file)', ...scan });
const loader = new Loader(dataset, { batchSize: batch, seed: 0, prefetch: 2 });
t = clock();
let seen = 0;
for await (const { images } of loader.epoch(0)) {
  seen += images.shape[0];
  images.dispose();
}
const load = since(t, seen);
rows.push({ name: `loader: decode + resize to ${size} px, batches of ${batch} (one epoch)`, ...load });
loader.dispose();

// --- trainer ------------------------------------------------------------------------------------------------
function learnerFor(make) {
  const net = make();
  // Bilinear crops: BYOL's bicubic crops overshoot below 0 next to black pixels, and the hue jitter then
  // gives NaN (reported; see README). Same cost either way.
  const learner = new BYOL(net, {
    imageSize: size,
    decaySchedule: 'constant',
    movingAverageDecay: 0.99,
    seed: 1,
    augment1: byolView1(size, { interpolation: 'bilinear' }),
    augment2: byolView2(size, { interpolation: 'bilinear' }),
  });
  const optimizer = new Adam(learner.parameters(), { lr: 3e-4 });
  return { learner, optimizer };
}
async function trainRate(name, make, source) {
  const { learner, optimizer } = learnerFor(make);
  const feed = new Loader(dataset, { batchSize: batch, seed: 1, prefetch: 2 });
  const first = await feed.batch(0, 0);
  await learner.step(first, optimizer); // warm-up
  let t1;
  if (source === 'fixed') {
    t1 = clock();
    for (let s = 0; s < steps; s++) await learner.step(first, optimizer);
  } else {
    // as the trainer does: ask for the next batch before the step, so the loader decodes during it
    let next = feed.batch(0, 1);
    t1 = clock();
    for (let s = 0; s < steps; s++) {
      const images = await next;
      if (s + 1 < steps) next = feed.batch(0, s + 2);
      await learner.step(images, optimizer);
      images.dispose();
    }
  }
  const rate = since(t1, steps * batch);
  first.dispose();
  feed.dispose();
  rows.push({ name, ...rate });
  return rate;
}
const r18 = await trainRate(`trainer: BYOL step, ResNet-18, ${size} px, batch ${batch}`, resnet18, 'fixed');
const r50 = await trainRate(`trainer: BYOL step, ResNet-50, ${size} px, batch ${batch}`, resnet50, 'fixed');
const r18fed = fed ? await trainRate(`fed: ResNet-18 steps, batches from the Loader`, resnet18, 'loader') : undefined;

// --- report -------------------------------------------------------------------------------------------------
const [l1, l5] = loadavg();
console.log(
  `\nLoader vs trainer, ${dataset.size} images (${total} generated in ${generated.toFixed(1)} s: 60% JPEG q90, 40% PNG, ` +
    `48-255 px sides), ${availableParallelism()} CPUs, LibTorch threads ${getNumThreads()}, ` +
    `libuv pool ${process.env.UV_THREADPOOL_SIZE ?? 4}, sharp ${sharp.versions.sharp}/libvips ${sharp.versions.vips}; ` +
    `${steps} timed step(s) after 1 warm-up; load average ${l1.toFixed(1)} / ${l5.toFixed(1)}\n`,
);
console.log('| stage | images/s | cpu-ms/image | loader ÷ this |');
console.log('|---|---:|---:|---:|');
for (const r of rows)
  console.log(
    `| ${r.name} | ${r.imagesPerSecond.toFixed(1)} | ${r.cpuMsPerImage.toFixed(1)} | ` +
      `${r.name.startsWith('loader') ? '' : (load.imagesPerSecond / r.imagesPerSecond).toFixed(1) + 'x'} |`,
  );
const slowest = Math.max(r18.imagesPerSecond, r50.imagesPerSecond);
console.log(
  `\nloader ${load.imagesPerSecond.toFixed(0)} img/s vs training at most ${slowest.toFixed(1)} img/s: ` +
    (load.imagesPerSecond > slowest
      ? `the loader is NOT the bottleneck (${(load.imagesPerSecond / slowest).toFixed(0)}x headroom over ResNet-18); ` +
        `decoding costs ${((load.cpuMsPerImage / (r18.cpuMsPerImage || 1)) * 100).toFixed(1)}% of a ResNet-18 step's CPU time per image`
      : 'the loader IS the bottleneck'),
);
if (r18fed)
  console.log(
    `ResNet-18 fed by the Loader: ${r18fed.imagesPerSecond.toFixed(1)} img/s, ` +
      `${((r18fed.imagesPerSecond / r18.imagesPerSecond) * 100).toFixed(0)}% of its rate on a fixed batch`,
  );
process.exit(0);
