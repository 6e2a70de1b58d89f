// The demo's tuning runs (README "The demo" and scripts/experiments/README.md have their results): BYOL on
// Fashion-MNIST for a fixed number of steps, then linear probe + kNN of the trained encoder (and, with randomSeeds,
// of random-init encoders; with pixels, of the raw pixels) through the same pipeline as `byol eval`. One JSON
// object of overrides per run, e.g.
//   npx tsc -p tsconfig.json && node scripts/experiments/fashion.mjs '{"name":"B","steps":400,"batchSize":64,"optimizer":"adam","lr":1e-3,"warmupSteps":40,"weightDecay":0}'
// valSplit N (e.g. 10000): N training images, a fixed seeded draw, are held out as the validation split that
// settings are chosen on: pretraining and the probe use the other 60,000 - N, and the scores are on the held-out
// images (the test split then only reports, with "report": true).
import { BYOL, LARS, SGD, Adam, fashionMnist, resnet18, warmupCosine, train, evaluateEncoder, evaluatePixels, manualSeed } from '../../dist/index.js';
import { permutation } from '../../dist/data/batches.js';

const cfg = {
  name: 'run', steps: 200, batchSize: 128, imageSize: 32, smallStem: false, seed: 0,
  optimizer: 'lars', lr: 1.0, weightDecay: 1e-6, warmupSteps: 20,
  tau: 0.99, hidden: 1024, proj: 128,
  view1: {}, view2: {}, evalTrain: 10000, randomSeeds: [], pixels: false, valSplit: 0, report: false,
  ...JSON.parse(process.argv[2] ?? '{}'),
};
/** The images `indices` of `dataset`, as a dataset. */
const subset = (dataset, indices) => ({
  size: indices.length, imageShape: dataset.imageShape, classes: dataset.classes,
  labels: Int32Array.from(indices, (i) => dataset.labels[i]),
  get: (which) => dataset.get(Array.from(which, (i) => indices[i])),
});
const fullTrain = await fashionMnist({ split: 'train' });
const held = cfg.valSplit > 0 ? permutation(fullTrain.size, 20261206, 0) : undefined;
// train60k: what pretraining and the probe see; test10k: what the scores are on (validation unless report).
const train60k = held ? subset(fullTrain, held.subarray(cfg.valSplit)) : fullTrain;
const test10k = held && !cfg.report ? subset(fullTrain, held.subarray(0, cfg.valSplit)) : await fashionMnist({ split: 'test' });
const scoredOn = held && !cfg.report ? `validation (${cfg.valSplit} held-out train images)` : 'test';
const evalOptions = { imageSize: cfg.imageSize, trainLimit: cfg.evalTrain, linear: { epochs: 100, seed: 0 } };
const log = (o) => console.log(JSON.stringify({ name: cfg.name, scoredOn, ...o }));

if (cfg.pixels) {
  const t = performance.now();
  const s = await evaluatePixels(train60k, test10k, evalOptions);
  log({ kind: 'pixels', linear: s.linear.testAccuracy, knn: s.knn, evalSeconds: (performance.now() - t) / 1000 });
}

for (const seed of cfg.randomSeeds) {
  manualSeed(seed);
  const net = resnet18({ inChannels: 1, classifier: false, smallStem: cfg.smallStem });
  const t = performance.now();
  const s = await evaluateEncoder(net, train60k, test10k, evalOptions);
  log({ kind: 'random', seed, linear: s.linear.testAccuracy, knn: s.knn, evalSeconds: (performance.now() - t) / 1000 });
}
if (cfg.steps > 0) {
  manualSeed(cfg.seed);
  const net = resnet18({ inChannels: 1, classifier: false, smallStem: cfg.smallStem });
  const view = (v, base) => ({ ...base, ...v });
  const v1 = view(cfg.view1, { size: cfg.imageSize, interpolation: 'bilinear', scale: [0.2, 1], brightness: 0.4, contrast: 0.4, jitterProb: 0.8, blurProb: 0.5, solarizeProb: 0 });
  const v2 = view(cfg.view2, { size: cfg.imageSize, interpolation: 'bilinear', scale: [0.2, 1], brightness: 0.4, contrast: 0.4, jitterProb: 0.8, blurProb: 0.1, solarizeProb: 0.2 });
  const learner = new BYOL(net, {
    imageSize: cfg.imageSize, channels: 1, projectionHiddenSize: cfg.hidden, projectionSize: cfg.proj,
    movingAverageDecay: cfg.tau, totalSteps: cfg.steps, augment1: v1, augment2: v2, seed: cfg.seed + 1,
  });
  const params = learner.namedParameters();
  const optimizer = cfg.optimizer === 'lars' ? new LARS(params, { lr: cfg.lr, momentum: 0.9, weightDecay: cfg.weightDecay, trustCoefficient: cfg.trust ?? 1e-3 })
    : cfg.optimizer === 'sgd' ? new SGD(params, { lr: cfg.lr, momentum: 0.9, weightDecay: cfg.weightDecay })
    : new Adam(params, { lr: cfg.lr, weightDecay: cfg.weightDecay });
  const schedule = warmupCosine({ baseLr: cfg.lr, batchSize: 256, warmupSteps: cfg.warmupSteps, totalSteps: cfg.steps });
  const per = Math.floor(train60k.size / cfg.batchSize);
  const data = { batchesPerEpoch: per, async batch(epoch, index) {
    const order = permutation(train60k.size, cfg.seed, epoch).subarray(index * cfg.batchSize, (index + 1) * cfg.batchSize);
    return (await train60k.get(order)).images; } };
  const t = performance.now();
  let last = 0;
  await train({ learner, data, optimizer, steps: cfg.steps, schedule, progress: 'none',
    onStep: (i) => { if (i.step % 50 === 0 || i.step === cfg.steps) log({ step: i.step, loss: +i.loss.toFixed(4), collapse: +i.collapse.toFixed(4), ips: Math.round(i.imagesPerSecond), min: +((performance.now() - t) / 60000).toFixed(2) }); } });
  const trainSeconds = (performance.now() - t) / 1000;
  const e = performance.now();
  const s = await evaluateEncoder(net, train60k, test10k, evalOptions);
  log({ kind: 'byol', linear: s.linear.testAccuracy, knn: s.knn, trainSeconds, evalSeconds: (performance.now() - e) / 1000, cfg });
}
