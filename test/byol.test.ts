// The BYOL learner: the method's invariants on small networks (fast on 2 cores).
import { describe, expect, it } from 'vitest';
import { BYOL, BYOLError } from '../lib/byol.js';
import { manualSeed, rand, tensor, Tensor } from '../lib/index.js';
import { SGD } from '../lib/optim.js';
import { resnet18 } from '../lib/nn.js';
import { tinyEncoder } from './fixtures/tiny-encoder.js';

const plainViews = { crop: false, flipProb: 0, jitterProb: 0, grayscaleProb: 0, blurProb: 0, solarizeProb: 0 };
const values = (t: Tensor) => Array.from(t.dataSync(), Number);

/** Plain SGD without momentum (p -= lr * g): the tests control the update exactly. */
const plainSGD = (learner: BYOL, lr: number) => new SGD(learner.parameters(), { lr });

describe('BYOL learner', () => {
  it('trains: finite loss, healthy collapse monitor, and the target gets no gradients', async () => {
    manualSeed(1);
    const learner = new BYOL(tinyEncoder(), { imageSize: 16, projectionHiddenSize: 32, projectionSize: 16, totalSteps: 10, seed: 7 });
    expect(learner.representationSize).toBe(8);
    const opt = plainSGD(learner, 0.05);
    const images = rand([6, 3, 20, 20]);
    const result = await learner.step(images, opt);
    expect(Number.isFinite(result.loss)).toBe(true);
    expect(result.loss).toBeGreaterThanOrEqual(0);
    expect(result.loss).toBeLessThanOrEqual(8);
    expect(result.collapse).toBeGreaterThan(0.01);
    expect(result.tau).toBeCloseTo(0.996, 12);
    expect(Object.keys(result.timings)).toEqual(['augment', 'forward', 'backward', 'allReduce', 'optimizer', 'ema']);
    for (const [name, t] of learner.native.parameters('target')) {
      const target = new Tensor(t);
      expect(target.requiresGrad, name).toBe(false);
      expect(target.grad, name).toBeNull();
    }
    expect(learner.parameters().length).toBe(learner.namedParameters().length);
    expect(learner.namedParameters().map(([n]) => n.split('.')[0])).toEqual(
      expect.arrayContaining(['encoder', 'projector', 'predictor']),
    );
  });

  it('after k steps with known tau the target is the EMA of the online weights (1e-6)', async () => {
    manualSeed(2);
    const learner = new BYOL(tinyEncoder(), {
      imageSize: 16,
      projectionHiddenSize: 32,
      projectionSize: 16,
      decaySchedule: 'cosine',
      movingAverageDecay: 0.9,
      totalSteps: 4,
      augment1: plainViews,
      augment2: plainViews,
      seed: 3,
    });
    const opt = plainSGD(learner, 0.1);
    const online = () => learner.native.parameters('emaSources').map(([, h]) => values(new Tensor(h)));
    const target = () => learner.native.parameters('target').map(([, h]) => values(new Tensor(h)));
    let expected = online(); // the target starts as a copy
    expect(target()).toEqual(expected);
    for (let k = 0; k < 4; k++) {
      const tau = 1 - (1 - 0.9) * (Math.cos((Math.PI * k) / 4) + 1) / 2;
      expect(learner.tau).toBeCloseTo(tau, 12);
      await learner.step(rand([4, 3, 16, 16]), opt);
      const now = online();
      expected = expected.map((t, i) => t.map((x, j) => tau * x + (1 - tau) * now[i][j]));
      const got = target();
      let worst = 0;
      got.forEach((t, i) => t.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - expected[i][j])))));
      expect(worst).toBeLessThan(1e-6);
    }
    expect(learner.state.step).toBe(4);
  });

  it('the byol-pytorch loop: forward gives a loss with a graph to backpropagate', async () => {
    const learner = new BYOL(tinyEncoder(), { imageSize: 16, projectionHiddenSize: 32, decaySchedule: 'constant' });
    const loss = await learner.forward(rand([4, 3, 16, 16]));
    expect(loss.shape).toEqual([]);
    expect(loss.requiresGrad).toBe(true);
    await loss.backward();
    const grads = learner.parameters().map((p) => p.grad);
    expect(grads.every((g) => g !== null)).toBe(true);
    await learner.updateMovingAverage();
    expect(learner.state.step).toBe(1);
  });

  it('embeds in eval mode and keeps the training flag', async () => {
    const net = resnet18({ smallStem: true, classifier: false });
    const learner = new BYOL(net, { imageSize: 16, projectionHiddenSize: 32, decaySchedule: 'constant' });
    expect(learner.representationSize).toBe(512);
    const { representation, projection } = await learner.embed(rand([3, 3, 16, 16]), { projection: true });
    expect(representation.shape).toEqual([3, 512]);
    expect(projection!.shape).toEqual([3, 256]);
    expect(net.training).toBe(true);
  });

  it('SimSiam variant: no target network, target = online under stop-gradient', async () => {
    const learner = new BYOL(tinyEncoder(), { imageSize: 16, projectionHiddenSize: 32, useMomentum: false });
    expect(learner.native.parameters('target')).toEqual([]);
    const result = await learner.step(rand([4, 3, 16, 16]), plainSGD(learner, 0.01));
    expect(Number.isFinite(result.loss)).toBe(true);
  });

  it('refuses bad input before any work', async () => {
    expect(() => new BYOL(tinyEncoder(), { imageSize: 16 })).toThrow(
      /totalSteps: the cosine decay schedule needs the run's number of steps/,
    );
    expect(() => new BYOL(resnet18(), { imageSize: 16, channels: 1, decaySchedule: 'constant' })).toThrow(/channel/);
    expect(() => new BYOL(tinyEncoder(), { imageSize: 0, decaySchedule: 'constant' })).toThrow(
      new RangeError('imageSize: expected an integer in [1, 4096], received 0'),
    );
    expect(() => new BYOL({} as never, { imageSize: 16 })).toThrow(/net: expected a Module/);
    const learner = new BYOL(tinyEncoder(), { imageSize: 16, projectionHiddenSize: 32, decaySchedule: 'constant' });
    await expect(learner.step(rand([1, 3, 16, 16]), plainSGD(learner, 0))).rejects.toThrow(/N >= 2/);
    await expect(learner.step(tensor([1, 2]), plainSGD(learner, 0))).rejects.toThrow();
    await expect(learner.step(rand([2, 3, 16, 16]), { step: async () => undefined } as never)).rejects.toThrow(
      /optimizer: expected one of byol-torch's optimizers/,
    );
    await expect(learner.step(rand([2, 3, 16, 16]), plainSGD(learner, 0), { accumulate: 0 })).rejects.toThrow(
      /accumulate: expected a positive integer/,
    );
    expect(BYOLError).toBeDefined();
  });
});
