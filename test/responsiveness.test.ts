// The event loop keeps turning while a long job runs on the executor (this file runs in its own fork).
import { expect, it } from 'vitest';
import { randn } from '../lib/index.js';
import { allowedGap, idleTimerGaps, timerGapsDuring } from './fixtures/event-loop.js';

it('a 10 ms timer keeps firing while a long matmul job runs', async () => {
  const a = randn([1200, 1200]);
  const idle = await idleTimerGaps(500);
  const { gaps, elapsed } = await timerGapsDuring(async () => {
    const start = performance.now();
    let product = await a.matmul(a);
    while (performance.now() - start < 1500) product = await product.matmul(a);
  });
  // Jobs ran for ~1.5 s; a blocked loop would show one gap of that size and almost no ticks.
  expect(elapsed).toBeGreaterThan(1000);
  expect(gaps.length).toBeGreaterThan(elapsed / 10 / 4);
  // Against the machine's own lateness measured just before (a loaded machine delays idle timers too).
  expect(Math.max(...gaps), `idle gaps up to ${Math.max(...idle).toFixed(0)} ms`).toBeLessThan(allowedGap(idle));
  expect(Math.max(...gaps)).toBeLessThan(elapsed / 4); // a blocked loop's one gap is as long as the work
});
