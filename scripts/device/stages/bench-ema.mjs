// Stage 'bench-ema': scripts/bench/ema.mjs on the GPU: byol-torch's ema.update over the ResNet-50 + projector
// parameter list (161 float32 tensors, 35 M values: read target, read online, write target) against a
// device-to-device copy_ of the same bytes, in Node and in PyTorch, as GB/s. Goal: >= 80% of the copy bandwidth.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOALS } from '../plan.mjs';
import { needsAddon } from '../run-stages.mjs';

export default {
  needs: needsAddon,
  async run(ctx) {
    const p = ctx.plan.ema;
    const json = join(ctx.work, 'bench-ema.json');
    const r = ctx.check(
      await ctx.node([join(ctx.root, 'scripts', 'bench', 'ema.mjs'), '--device', ctx.mode === 'gpu' ? 'cuda' : 'cpu', '--model', p.model,
        '--rounds', `${p.rounds}`, '--iters', `${p.iters}`, '--inner', `${p.inner}`, '--json', json], { timeoutSeconds: p.timeout, label: 'ema.mjs' }),
      'scripts/bench/ema.mjs',
    );
    ctx.print(r.output.split('\n').filter((l) => l.startsWith('|')).join('\n'));
    const f = JSON.parse(readFileSync(json, 'utf8'));
    Object.assign(ctx.figures, {
      params: `${f.model} + projector, ${(f.numel / 1e6).toFixed(1)} M`,
      'ours GB/s': f.oursGBps.toFixed(1),
      'copy GB/s': f.copyGBps.toFixed(1),
      'ours ms': f.ms.ours.toFixed(3),
      '_foreach/ours': `${f.foreachOverOurs.toFixed(2)}x`,
    });
    ctx.goal('EMA of copy bandwidth', `>= ${GOALS.emaOfCopyBandwidth * 100}%`, `${(f.fractionOfCopy * 100).toFixed(0)}%`, f.fractionOfCopy >= GOALS.emaOfCopyBandwidth);
  },
};
