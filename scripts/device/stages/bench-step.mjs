// Stage 'bench-step': the BYOL training step, three ways, one after another on the same GPU in one run:
//   ours          scripts/bench/gpu_step.mjs: `learner.step(images, adam)` (per-image views made on the GPU inside the
//                 step, both views, forward, backward, Adam, EMA), channels-last, bf16
//   same algorithm in PyTorch eager: scripts/bench/byol_step.py --one b_channels_last (each view its own
//                 BatchNorm pass, _foreach EMA) under bf16 autocast; pre-augmented views, so it does less work
//   byol-pytorch's way: scripts/bench/byol_pytorch_loop.py --synthetic (lucidrains/byol-pytorch rewritten: its
//                 batch-wide torchvision augmentation, both views in one batch, per-parameter EMA) under bf16 autocast
// Goals: ours >= 1,000 images/s and >= 1.3x byol-pytorch's way. Each run has its own time limit; one failing
// leaves the others' figures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOALS } from '../plan.mjs';
import { StageFailure, needsAddon } from '../run-stages.mjs';

const fixed = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

export default {
  needs: needsAddon,
  async run(ctx) {
    const { common, ours, eager, byolPytorch } = ctx.plan.step;
    const device = ctx.mode === 'gpu' ? 'cuda' : 'cpu';
    const bench = (file) => join(ctx.root, 'scripts', 'bench', file);
    const failures = [];
    const figure = async (label, command, timeout, jsonFile) => {
      const r = await command({ timeoutSeconds: timeout, label });
      if (r.code !== 0) {
        failures.push(`${label}: ${r.timedOut ? 'time limit' : `exit ${r.code ?? r.signal}`}`);
        ctx.print(`${label} failed:\n${r.output.trim().split('\n').slice(-12).join('\n')}`);
        return undefined;
      }
      return JSON.parse(readFileSync(jsonFile, 'utf8'));
    };

    const oursJson = join(ctx.work, 'bench-step-ours.json');
    const a = await figure('ours (gpu_step.mjs)', (o) => ctx.node([bench('gpu_step.mjs'), '--device', device, '--arch', common.arch,
      '--size', `${common.size}`, '--batch', `${common.batch}`, '--precision', common.precision, '--format', ours.format,
      '--hidden', `${common.hidden}`, '--proj', `${common.proj}`, '--warmup', `${ours.warmup}`, '--steps', `${ours.steps}`,
      '--rounds', `${ours.rounds}`, '--json', oursJson], o), ours.timeout, oursJson);

    const eagerJson = join(ctx.work, 'bench-step-eager.json');
    const b = await figure('PyTorch eager, same algorithm (byol_step.py)', (o) => ctx.python([bench('byol_step.py'), '--one', eager.variant,
      '--device', device, '--precision', common.precision, '--arch', common.arch, '--batch', `${common.batch}`, '--size', `${common.size}`,
      '--hidden', `${common.hidden}`, '--proj', `${common.proj}`, '--warmup', `${eager.warmup}`, '--iters', `${eager.iters}`,
      '--rounds', `${eager.rounds}`, '--json-out', eagerJson], o), eager.timeout, eagerJson);

    const loopJson = join(ctx.work, 'bench-step-byol-pytorch.json');
    const c = await figure("byol-pytorch's way (byol_pytorch_loop.py)", (o) => ctx.python([bench('byol_pytorch_loop.py'), '--synthetic',
      '--device', device, '--precision', common.precision, '--arch', common.arch, '--image-size', `${common.size}`,
      '--batch-size', `${common.batch}`, '--steps', `${byolPytorch.steps}`, '--skip', `${byolPytorch.skip}`, '--json-out', loopJson], o),
    byolPytorch.timeout, loopJson);

    const oursRate = a?.imagesPerSecond;
    Object.assign(ctx.figures, {
      setup: `${common.arch} ${common.size} px batch ${common.batch} ${common.precision}`,
      'ours img/s': fixed(oursRate),
      'eager img/s': fixed(b?.imagesPerSecond),
      'byol-pytorch img/s': fixed(c?.imagesPerSecond),
      'ours/eager': fixed(oursRate / b?.imagesPerSecond, 2),
      'ours/byol-pytorch': fixed(oursRate / c?.imagesPerSecond, 2),
    });
    ctx.goal('ours images/s', `>= ${GOALS.stepImagesPerSecond}`, fixed(oursRate), oursRate === undefined ? null : oursRate >= GOALS.stepImagesPerSecond);
    const ratio = oursRate / c?.imagesPerSecond;
    ctx.goal('ours / byol-pytorch', `>= ${GOALS.stepVsByolPytorch}x`, Number.isFinite(ratio) ? `${fixed(ratio, 2)}x` : 'n/a', Number.isFinite(ratio) ? ratio >= GOALS.stepVsByolPytorch : null);
    if (failures.length) throw new StageFailure(failures.join('; '));
  },
};
