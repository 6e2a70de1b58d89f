// Lifetimes at the JS boundary: what a job uses stays alive until it ends, whatever JS drops meanwhile; two
// learners may step at once; a failing job leaves the executor working; exiting with jobs pending ends cleanly.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BYOL, type StepResult } from '../lib/byol.js';
import { SGD } from '../lib/optim.js';
import { manualSeed, rand, type Tensor } from '../lib/tensor.js';
import { tinyEncoder } from './fixtures/tiny-encoder.js';

const gc = (globalThis as { gc?: () => void }).gc!;
const plainViews = { crop: false, flipProb: 0, jitterProb: 0, grayscaleProb: 0, blurProb: 0, solarizeProb: 0 };

function makeLearner(seed: number): BYOL {
  manualSeed(seed);
  return new BYOL(tinyEncoder(), {
    imageSize: 16, projectionHiddenSize: 32, projectionSize: 16, decaySchedule: 'constant', augment1: plainViews, augment2: plainViews, seed: 1,
  });
}

describe('lifetimes', () => {
  it('a step in flight survives JS dropping the learner, its net, the optimizer and the batch', async () => {
    const reference = makeLearner(4);
    manualSeed(5);
    const batch = rand([4, 3, 16, 16]);
    const expected = (await reference.step(batch, new SGD(reference.parameters(), { lr: 0.1 }))).loss;

    let pending: Promise<StepResult>;
    (() => {
      const learner = makeLearner(4);
      manualSeed(5);
      const images = rand([4, 3, 16, 16]);
      pending = learner.step(images, new SGD(learner.parameters(), { lr: 0.1 }));
      images.dispose(); // disposed while the job holds it
    })();
    for (let i = 0; i < 3; i++) gc(); // the learner, net and optimizer are unreachable from JS now
    const result = await pending!;
    expect(result.loss).toBeCloseTo(expected, 6);
  });

  it('two learners stepping at once give what they give one after the other', async () => {
    manualSeed(7);
    const batch = rand([4, 3, 16, 16]);
    const sequential: number[] = [];
    for (const seed of [1, 2]) {
      const l = makeLearner(seed);
      const opt = new SGD(l.parameters(), { lr: 0.1 });
      for (let i = 0; i < 3; i++) sequential.push((await l.step(batch, opt)).loss);
    }
    const [a, b] = [makeLearner(1), makeLearner(2)];
    const [optA, optB] = [new SGD(a.parameters(), { lr: 0.1 }), new SGD(b.parameters(), { lr: 0.1 })];
    const concurrent = await Promise.all([a, b].map(async (l, i) => {
      const losses: number[] = [];
      for (let s = 0; s < 3; s++) losses.push((await l.step(batch, i === 0 ? optA : optB)).loss);
      return losses;
    }));
    concurrent.flat().forEach((loss, i) => expect(loss).toBeCloseTo(sequential[i]!, 6));
  });

  it('a job that throws rejects its own promise and the next job runs', async () => {
    const learner = makeLearner(3);
    const opt = new SGD(learner.parameters(), { lr: 0.1 });
    const bad: Tensor = rand([4, 3, 16, 16, 2]); // 5-d: the views cannot be made
    await expect(learner.step(bad, opt)).rejects.toThrow(/images|expected/);
    const good = await learner.step(rand([4, 3, 16, 16]), opt);
    expect(Number.isFinite(good.loss)).toBe(true);
  });

  it('process.exit with steps queued and one running ends with its code, promptly and without a crash', async () => {
    const started = performance.now();
    const r = await promisify(execFile)(process.execPath, [join(import.meta.dirname, 'fixtures', 'exit-with-jobs.mjs'), '7']).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).not.toMatch(/malloc|corrupt|Segmentation|Aborted|terminate/i);
    expect(performance.now() - started).toBeLessThan(30_000);
  }, 60_000);
});
