// One process of the data-parallel benchmark (scripts/bench/data_parallel.mjs runs it): byol-torch's BYOL step,
// ResNet-50, 64 px, projector/predictor 2048-4096-256, Adam 3e-4, pre-augmented views (two fixed views, as the
// PyTorch side), in one process or as one rank of a group (the torchrun variables set). The global batch is
// split equally over the ranks. Rank 0 prints one JSON line: images/s of the whole group (median step), the
// median all-reduce milliseconds per step, all-reduced bytes per step, threads.
//   --batch 16 --size 64 --warmup 2 --iters 5 --local-bn
//   --bandwidth: instead of steps, the learner's gradients averaged over the ranks in 25 MiB buckets (the
//                step's path) against one all-reduce of a flat tensor of the same bytes; median of --iters.
import { BYOL, Adam, getNumThreads, initProcessGroup, rand, readLaunchEnv, resnet, zeros } from '../../dist/index.js';
import { arg, median } from './cli.mjs';

const batch = Number(arg('batch', 16));
const size = Number(arg('size', 64));
const warmup = Number(arg('warmup', 2));
const iters = Number(arg('iters', 5));
const group = readLaunchEnv() ? await initProcessGroup({ timeoutSeconds: 300 }) : undefined;
const world = group?.worldSize ?? 1;
const share = batch / world;

const v1 = rand([share, 3, size, size]);
const v2 = rand([share, 3, size, size]);
// Fresh copies per step (the learner disposes the views it is handed back).
const fixed = (view) => async () => view.mul(1);
const learner = new BYOL(resnet(50, { classifier: false }), {
  imageSize: size,
  decaySchedule: 'constant',
  movingAverageDecay: 0.99,
  augment1: fixed(v1),
  augment2: fixed(v2),
});
const optimizer = new Adam(learner.parameters(), { lr: 3e-4 });
if (group) await learner.distribute(group, { optimizer, syncBatchNorm: !process.argv.includes('--local-bn') });

const report = (o) => {
  if ((group?.rank ?? 0) === 0) process.stdout.write(`${JSON.stringify({ world, threads: getNumThreads(), ...o })}\n`);
};

if (process.argv.includes('--bandwidth')) {
  const params = learner.parameters();
  const numel = params.reduce((n, p) => n + p.numel, 0);
  const flat = zeros([numel]);
  const time = async (fn) => {
    const ms = [];
    for (let i = 0; i < warmup + iters; i++) {
      await group.barrier();
      const t = performance.now();
      await fn();
      if (i >= warmup) ms.push(performance.now() - t);
    }
    return median(ms);
  };
  const bucketedMs = await time(() => group.averageGradients(params));
  const flatMs = await time(() => group.allReduce(flat));
  const gb = (numel * 4) / 1e9;
  report({ bytes: numel * 4, bucketedMs, flatMs, bucketedGBs: gb / (bucketedMs / 1000), flatGBs: gb / (flatMs / 1000) });
} else {
  const images = rand([share, 3, size, size]);
  const stepMs = [];
  const allReduceMs = [];
  const phases = {};
  const before = group?.stats();
  for (let i = 0; i < warmup + iters; i++) {
    const t = performance.now();
    const r = await learner.step(images, optimizer);
    void r.loss;
    if (i >= warmup) {
      stepMs.push(performance.now() - t);
      allReduceMs.push(r.timings.allReduce);
      for (const [k, v] of Object.entries(r.timings)) (phases[k] ??= []).push(v);
    }
  }
  const after = group?.stats();
  const steps = warmup + iters;
  report({
    imagesPerSecond: (batch * 1000) / median(stepMs),
    stepMs: median(stepMs),
    allReduceMs: median(allReduceMs),
    phasesMs: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(median(v))])),
    bytesPerStep: group ? (after.bytes - before.bytes) / steps : 0,
    collectivesPerStep: group ? (after.calls - before.calls) / steps : 0,
  });
}
