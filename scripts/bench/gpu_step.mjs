// Images/s of byol-torch's whole BYOL step on a GPU, as a user writes it:
//
//   const net = resnet50({ classifier: false }).to('cuda').channelsLast();
//   const learner = new BYOL(net, { imageSize: 224, precision: 'bf16', totalSteps });
//   await learner.step(images, optimizer);   // views (per image, on the GPU), forward, backward, Adam, EMA: one job
//
// Nothing is read back between steps (the step returns before the GPU is done); each round reads the last step's
// loss at its end, which waits for the GPU, so a round's wall time covers all of its steps' work. Warm-up steps
// first (cuDNN's algorithm choice, the caching allocator), then --rounds rounds of --steps steps; the figure is
// the median round. The other sides of the comparison are scripts/bench/byol_step.py (the same algorithm in
// PyTorch eager) and scripts/bench/byol_pytorch_loop.py (byol-pytorch's way); scripts/device/check.sh runs all three.
//
//   npm run build:ts && node scripts/bench/gpu_step.mjs [--device cuda] [--arch resnet50] [--size 224] [--batch 256]
//     [--precision bf16|fp16|fp32] [--format channels_last|contiguous] [--hidden 4096] [--proj 256] [--warmup 5]
//     [--steps 10] [--rounds 3] [--json FILE]
// Prints a line of text and one JSON line (also written to --json FILE).
import { writeFileSync } from 'node:fs';
import { arg, median } from './cli.mjs';

const { Adam, BYOL, addonPath, cuda, libtorchInfo, rand, resnet } = await import('../../dist/index.js').catch((cause) => {
  throw new Error('scripts/bench/gpu_step.mjs needs the TypeScript build: run `npm run build:ts` first', { cause });
});

const device = arg('device', 'cuda');
const arch = arg('arch', 'resnet50');
const size = Number(arg('size', 224));
const batch = Number(arg('batch', 256));
const precision = arg('precision', 'bf16');
const format = arg('format', 'channels_last');
const hidden = Number(arg('hidden', 4096));
const proj = Number(arg('proj', 256));
const warmup = Number(arg('warmup', 5));
const steps = Number(arg('steps', 10));
const rounds = Number(arg('rounds', 3));
const jsonFile = arg('json');

const depth = Number(/^resnet(\d+)$/.exec(arch)?.[1]);
if (!Number.isInteger(depth)) throw new RangeError(`--arch: expected resnet18, resnet34, resnet50, resnet101 or resnet152, received ${arch}`);
if (!['channels_last', 'contiguous'].includes(format)) throw new RangeError(`--format: expected channels_last or contiguous, received ${format}`);
for (const [name, v] of Object.entries({ size, batch, steps, rounds })) {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${name}: expected a positive integer, received ${v}`);
}
if (device.startsWith('cuda') && !cuda.isAvailable()) {
  const info = libtorchInfo();
  throw new Error(`--device ${device}: no CUDA device (LibTorch ${info.libtorch}${info.cudaBuilt ? ' with CUDA sees no GPU' : ' is a CPU build'}; addon ${addonPath()})`);
}

// classifier: false, as the PyTorch sides' fc = Identity: the representation is avgpool's output either way.
const net = resnet(depth, { classifier: false }).to(device);
if (format === 'channels_last') net.channelsLast();
const learner = new BYOL(net, {
  imageSize: size,
  precision,
  projectionSize: proj,
  projectionHiddenSize: hidden,
  totalSteps: warmup + steps * rounds,
  seed: 1,
});
const optimizer = new Adam(learner.parameters(), { lr: 3e-4 });
// Source images at the views' size: the views' random resized crops resample them (as byol-pytorch's do).
const images = rand([batch, 3, size, size], { device });

let last;
for (let i = 0; i < warmup; i++) last = await learner.step(images, optimizer);
let loss = last?.loss; // waits for the warm-up to finish on the device
const roundSeconds = [];
for (let r = 0; r < rounds; r++) {
  const started = performance.now();
  for (let i = 0; i < steps; i++) last = await learner.step(images, optimizer);
  loss = last.loss; // the synchronisation: the last step's loss, read from the device
  roundSeconds.push((performance.now() - started) / 1000);
}
const perRound = roundSeconds.map((s) => (batch * steps) / s);
const result = {
  side: 'byol-torch learner.step',
  device, arch, size, batch, precision, format, hidden, proj, warmup, steps, rounds,
  imagesPerSecond: median(perRound),
  roundImagesPerSecond: perRound,
  loss,
  lastTimingsMs: last.timings,
  libtorch: libtorchInfo().libtorch,
  addon: addonPath(),
};
if (!Number.isFinite(loss)) throw new Error(`the loss is ${loss} after ${warmup + steps * rounds} steps: the figures would mean nothing`);
console.log(`byol-torch step: ${arch} ${size} px, batch ${batch}, ${precision}, ${format} on ${device}: ${result.imagesPerSecond.toFixed(1)} images/s ` +
  `(median of ${rounds} rounds of ${steps} steps; loss ${loss.toFixed(4)})`);
console.log(JSON.stringify(result));
if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify(result, null, 2)}\n`);
