// Stage 'bench-augment': scripts/bench/augment.mjs --device cuda: both BYOL views of 256 uint8 96-px images, every
// image its own draw, on the GPU against the CPU path (all its threads), images per second. Goal: >= 20x.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOALS } from '../plan.mjs';
import { needsAddon } from '../run-stages.mjs';

export default {
  needs: needsAddon,
  async run(ctx) {
    const p = ctx.plan.augment;
    const json = join(ctx.work, 'bench-augment.json');
    ctx.check(
      await ctx.node([join(ctx.root, 'scripts', 'bench', 'augment.mjs'), '--device', ctx.mode === 'gpu' ? 'cuda' : 'cpu', '--baseline', 'cpu',
        '--batch', `${p.batch}`, '--size', `${p.size}`, '--repeats', `${p.repeats}`, '--json', json], { timeoutSeconds: p.timeout, label: 'augment.mjs' }),
      'scripts/bench/augment.mjs',
    );
    const f = JSON.parse(readFileSync(json, 'utf8'));
    Object.assign(ctx.figures, {
      setup: `${f.batch} x ${f.size} px`,
      [`${f.device} img/s`]: f.deviceImagesPerSecond.toFixed(0),
      [`CPU (${f.cpuThreads} threads) img/s`]: f.cpuImagesPerSecond.toFixed(0),
    });
    ctx.goal('GPU / CPU augmentation per image', `>= ${GOALS.augmentGpuOverCpu}x`, `${f.ratio.toFixed(1)}x`, f.ratio >= GOALS.augmentGpuOverCpu);
  },
};
