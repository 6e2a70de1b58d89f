// A test a toy cannot pass: BYOL training must make the encoder's features better for a task it never saw
// labels of, while the collapse monitor stays healthy (a falling loss alone proves nothing).
import { expect, it } from 'vitest';
import { BYOL } from '../lib/byol.js';
import { tensorBatches } from '../lib/data/index.js';
import { adaptiveAvgPool2d, batchNorm2d, conv2d, flatten, maxPool2d, relu, sequential } from '../lib/nn.js';
import { SGD } from '../lib/optim.js';
import { manualSeed, type Tensor } from '../lib/tensor.js';
import { train } from '../lib/trainer.js';
import { makeShapes } from './fixtures/shapes.js';

/** k-nearest-neighbour accuracy (cosine similarity, majority vote) of the learner's representations. */
async function knnAccuracy(learner: BYOL, trainSet: { images: Tensor; labels: number[] }, testSet: { images: Tensor; labels: number[] }, k = 5) {
  const features = async (x: Tensor) => (await learner.embed(x)).representation.normalize(1);
  const a = await features(trainSet.images);
  const b = await features(testSet.images);
  const similarity = (await b.matmul(a.transpose(0, 1))).dataSync();
  const n = trainSet.labels.length;
  let correct = 0;
  testSet.labels.forEach((label, i) => {
    const nearest = Array.from(similarity.subarray(i * n, (i + 1) * n), (s, j) => [Number(s), j] as const)
      .sort((p, q) => q[0] - p[0])
      .slice(0, k);
    const votes = [0, 0, 0];
    for (const [, j] of nearest) votes[trainSet.labels[j]]++;
    if (votes.indexOf(Math.max(...votes)) === label) correct++;
  });
  return correct / testSet.labels.length;
}

it('BYOL raises held-out kNN accuracy above the same encoder at random init, without collapse', async () => {
  manualSeed(0);
  const net = sequential(
    conv2d({ inChannels: 3, outChannels: 16, kernelSize: 3, padding: 1 }), batchNorm2d(16), relu(), maxPool2d(2),
    conv2d({ inChannels: 16, outChannels: 32, kernelSize: 3, padding: 1 }), batchNorm2d(32), relu(), maxPool2d(2),
    conv2d({ inChannels: 32, outChannels: 64, kernelSize: 3, padding: 1 }), batchNorm2d(64), relu(),
    adaptiveAvgPool2d(1), flatten(),
  ); // prettier-ignore
  const view = { size: 32, scale: [0.3, 1] as const, blurProb: 0, solarizeProb: 0, normalize: false };
  const steps = 150;
  const learner = new BYOL(net, {
    imageSize: 32, projectionHiddenSize: 256, projectionSize: 64, totalSteps: steps, movingAverageDecay: 0.99,
    augment1: view, augment2: view, seed: 1,
  }); // prettier-ignore
  const trainSet = makeShapes(600, 1);
  const testSet = makeShapes(300, 2);
  const atRandomInit = await knnAccuracy(learner, trainSet, testSet);
  const collapse: number[] = [];
  await train({
    learner,
    data: tensorBatches(trainSet.images, { batchSize: 32, seed: 3 }),
    optimizer: new SGD(learner.namedParameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 }),
    steps,
    progress: 'none',
    onStep: (s) => void collapse.push(s.collapse),
  });
  const afterTraining = await knnAccuracy(learner, trainSet, testSet);
  expect(afterTraining).toBeGreaterThan(atRandomInit + 0.1);
  expect(Math.min(...collapse)).toBeGreaterThan(0.5 / Math.sqrt(64)); // healthy is about 1/sqrt(64) = 0.125
}, 300_000);
