// Serving speed of an exported encoder: ResNet-50 inference in onnxruntime-node (CPU provider, its default
// threads and options) against byol-torch's own embedding path (extractFeatures, the function `byol embed`
// runs: resize/normalise with augment(), then the encoder in eval mode without gradients), on the same [0, 1]
// images, at batch 1 and batch 64. The ONNX models normalise in the graph (--include-normalization), so both
// sides take the same pixels. Two ONNX models: BatchNorm folded into the convolutions (the default) and as
// BatchNormalization nodes, each with onnxruntime's graph optimisations on (its default) and off. The
// configurations alternate within each round, several rounds, medians; one process, so every side sees the
// same machine load. Not a test. Run after building the addon and dist/:
//   npx tsc -p tsconfig.json && node scripts/bench/onnx.mjs [--size 224] [--rounds 5] [--batch 64] [--singles 8]
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cell, median } from './cli.mjs';

// libgomp's default spin-wait after each parallel region would steal the cores from onnxruntime's threads
// when the two sides alternate in one process; libgomp reads this when the addon loads (dynamic import below).
process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
const ort = await import('onnxruntime-node');
const { exportOnnx, extractFeatures, getNumThreads, manualSeed, rand, resnet50, tensorDataset } = await import('../../dist/index.js');

const size = Number(arg('size', 224));
const rounds = Number(arg('rounds', 5));
const batch = Number(arg('batch', 64));
const singles = Number(arg('singles', 8)); // batch-1 calls per round and side

const dir = await mkdtemp(join(tmpdir(), 'byol-bench-onnx-'));
try {
  manualSeed(0);
  const net = resnet50({ classifier: false });
  // onnxruntime folds Conv + BatchNormalization itself when it loads a model (its graph optimisations, on by
  // default), so both exports should run alike there; with those optimisations off, what the export's folding
  // buys a runtime that does not fuse shows.
  const models = {};
  for (const batchNorm of ['folded', 'nodes']) {
    const path = join(dir, `${batchNorm}.onnx`);
    await exportOnnx(net, path, { imageSize: size, dynamicBatch: true, includeNormalization: true, batchNorm });
    for (const optimization of ['all', 'disabled']) {
      const t0 = performance.now();
      const session = await ort.InferenceSession.create(path, optimization === 'all' ? {} : { graphOptimizationLevel: 'disabled' });
      const name = `onnxruntime-node, BatchNorm ${batchNorm === 'folded' ? 'folded (default)' : 'as BatchNormalization nodes'}` +
        (optimization === 'all' ? '' : ', graph optimisations off');
      models[name] = { session, loadMs: performance.now() - t0 };
    }
  }
  const images = rand([batch, 3, size, size]);
  const pixels = await images.data();
  const perImage = 3 * size * size;

  // One timed call of each side on `n` images (the first n of the batch); returns seconds.
  const sides = {
    'byol-torch (extractFeatures)': async (n) => {
      const subset = n === batch ? images : images.slice(0, 0, n);
      const t0 = performance.now();
      const { features } = await extractFeatures(net, tensorDataset(subset), { imageSize: size, batchSize: n });
      await features.data(); // the values on the host, as onnxruntime returns them
      const seconds = (performance.now() - t0) / 1000;
      features.dispose();
      if (subset !== images) subset.dispose();
      return seconds;
    },
    ...Object.fromEntries(
      Object.entries(models).map(([name, { session }]) => [
        name,
        async (n) => {
          const input = new ort.Tensor('float32', pixels.subarray(0, n * perImage), [n, 3, size, size]);
          const t0 = performance.now();
          const { representation } = await session.run({ images: input });
          const seconds = (performance.now() - t0) / 1000;
          representation.dispose();
          return seconds;
        },
      ]),
    ),
  };

  // Warm-up: one call per side and batch size (first-call allocations, oneDNN primitive creation).
  for (const run of Object.values(sides)) {
    await run(1);
    await run(batch);
  }
  const rates = Object.fromEntries(Object.keys(sides).flatMap((name) => [[`${name}|1`, []], [`${name}|${batch}`, []]]));
  const load0 = loadavg();
  const start = performance.now();
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(sides)) {
      rates[`${name}|${batch}`].push(batch / (await run(batch)));
      let seconds = 0;
      for (let i = 0; i < singles; i++) seconds += await run(1);
      rates[`${name}|1`].push(singles / seconds);
    }
  }
  const minutes = (performance.now() - start) / 60_000;
  const load1 = loadavg();

  console.log(
    `ResNet-50 encoder inference, ${size} px, random weights; ${rounds} rounds (sides alternated within each), medians; ` +
      `batch ${batch}: one call per round, batch 1: ${singles} calls per round; byol-torch ${getNumThreads()} threads ` +
      `(OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY}), onnxruntime-node ${ort.env.versions.node} CPU provider, default threads; ` +
      `session creation: ${Object.entries(models).map(([name, { loadMs }]) => `${name.replace('onnxruntime-node, ', '')} ${loadMs.toFixed(0)} ms`).join(', ')}; ` +
      `load average ${load0[0].toFixed(1)} -> ${load1[0].toFixed(1)}; ${minutes.toFixed(1)} min timed`,
  );
  console.log('\n| side | batch | images/s (median) | min-max over rounds | vs byol-torch |\n|---|---:|---:|---:|---:|');
  for (const n of [1, batch]) {
    const ours = median(rates[`byol-torch (extractFeatures)|${n}`]);
    for (const name of Object.keys(sides)) {
      const xs = rates[`${name}|${n}`];
      console.log(`| ${name} | ${n} | ${cell(median(xs))} | ${cell(Math.min(...xs))}-${cell(Math.max(...xs))} | ${cell(median(xs) / ours, 2)}x |`);
    }
  }
  for (const { session } of Object.values(models)) await session.release();
  images.dispose();
} finally {
  await rm(dir, { recursive: true, force: true });
}
