// The event loop stays responsive while training (this file runs in its own fork).
import { expect, it } from 'vitest';
import { BYOL, SGD, rand, resnet18 } from '../lib/index.js';

it('a 10 ms timer never waits more than 100 ms during training steps', async () => {
  const learner = new BYOL(resnet18({ classifier: false }), { imageSize: 32, projectionHiddenSize: 256, decaySchedule: 'constant' });
  const optimizer = new SGD(learner.parameters(), { lr: 0.01, momentum: 0.9 });
  const images = rand([8, 3, 40, 40]);
  await learner.step(images, optimizer); // warm-up outside the measurement
  const gaps: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }, 10);
  const start = performance.now();
  let steps = 0;
  while (performance.now() - start < 2000) {
    await learner.step(images, optimizer);
    steps++;
  }
  clearInterval(timer);
  expect(steps).toBeGreaterThan(1);
  expect(gaps.length).toBeGreaterThan(50);
  expect(Math.max(...gaps)).toBeLessThan(100);
});
