// 500 training steps keep RSS flat: nothing leaks per step (this file runs in its own fork).
import { expect, it } from 'vitest';
import { BYOL, SGD, memory, rand, resnet18 } from '../lib/index.js';

it('500 steps of a ResNet-18 (32 px, batch 4) keep RSS within 100 MB after warm-up', async () => {
  const learner = new BYOL(resnet18({ classifier: false }), { imageSize: 32, projectionHiddenSize: 256, decaySchedule: 'constant' });
  const optimizer = new SGD(learner.parameters(), { lr: 0.01, momentum: 0.9 });
  const images = rand([4, 3, 32, 32]);
  const rss = () => process.memoryUsage().rss;
  for (let i = 0; i < 50; i++) await learner.step(images, optimizer);
  const tensorsAfterWarmUp = memory().tensors;
  const start = rss();
  let peak = start;
  for (let i = 0; i < 500; i++) {
    await learner.step(images, optimizer);
    if (i % 25 === 0) peak = Math.max(peak, rss());
  }
  peak = Math.max(peak, rss());
  expect(peak - start).toBeLessThan(100 * 1024 * 1024);
  expect(memory().tensors).toBe(tensorsAfterWarmUp); // every step disposes what it creates
}, 600_000);
