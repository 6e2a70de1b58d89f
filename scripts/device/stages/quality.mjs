// Stage 'quality': does BYOL on the GPU learn something in a few minutes? `byol train` on the Fashion-MNIST subset
// for a fixed time (--time-limit; the run folder in a temporary place: its checkpoint is too big to send back), then
// `byol eval` of its encoder against a random-init encoder of the same architecture through the same pipeline
// (linear probe and kNN). Goals: linear probe >= 88% and above random init. The run's config.json, metrics.jsonl and
// loss.png, and the evaluation's JSON, are kept in the logs' quality/ folder.
//
// The CLI flags --device, --precision and --time-limit are read from `byol train --help` / `byol eval --help`:
// on the GPU a missing one fails the stage (the run would not be what it claims); in the dry run the stage trains
// without it and says so.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GOALS } from '../plan.mjs';
import { StageFailure, needsAddon } from '../run-stages.mjs';

/** The long options a `byol` subcommand's --help lists. */
async function optionsOf(ctx, main, command) {
  const r = ctx.check(await ctx.node([main, command, '--help'], { timeoutSeconds: 30, label: `byol ${command} --help` }), `byol ${command} --help`);
  return new Set(r.output.match(/--[a-z][a-z-]*/g));
}

const percent = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(2)}%` : 'n/a');

export default {
  needs: needsAddon,
  async run(ctx) {
    const q = ctx.plan.quality;
    const main = join(ctx.root, 'dist', 'cli', 'main.js');
    const data = ctx.state.env.BYOL_DEVICE_DATA_ROOT ?? join(ctx.root, '.device', 'fashion-mnist');
    const trainOptions = await optionsOf(ctx, main, 'train');
    const evalOptions = await optionsOf(ctx, main, 'eval');
    // The training's share of the stage: what is left after start-up and the evaluation, at most q.trainSeconds.
    const trainSeconds = Math.floor(Math.min(q.trainSeconds, ctx.secondsLeft() - q.startupSeconds - q.evalSeconds));
    if (trainSeconds < 5) throw new StageFailure(`only ${ctx.secondsLeft().toFixed(0)} s left: no time to train and evaluate`, { status: 'timeout' });
    const wanted = [['--device', q.device], ['--precision', q.precision], ['--time-limit', `${trainSeconds}`]];
    const missing = wanted.filter(([flag]) => !trainOptions.has(flag)).map(([flag]) => flag);
    if (missing.length && ctx.mode === 'gpu') {
      throw new StageFailure(`byol train in dist/ has no ${missing.join(', ')}: it cannot train on the GPU for a fixed time`);
    }
    if (missing.length) ctx.note(`byol train in dist/ has no ${missing.join(', ')} yet: the dry run trains without ${missing.length > 1 ? 'them' : 'it'}`);
    const given = wanted.filter(([flag]) => trainOptions.has(flag)).flat();

    const run = mkdtempSync(join(tmpdir(), 'byol-device-quality-'));
    try {
      // The training gets its time limit plus start-up and saving; the evaluation keeps its share.
      const trainTimeout = Math.max(trainSeconds, ctx.secondsLeft() - q.evalSeconds);
      const train = ctx.check(
        await ctx.node([main, 'train', '--dataset', 'fashion-mnist', '--data-root', data, ...q.train, ...given, '--progress', 'lines', '--out', run], {
          timeoutSeconds: trainTimeout, label: 'byol train',
        }),
        'byol train',
      );
      const summary = /trained (\d+) steps .* in (\d+) s, ([\d.]+) images\/s, final loss ([-\d.naNIf]+)/.exec(train.output);
      if (!summary) throw new StageFailure('byol train: expected its summary line "trained N steps ... images/s, final loss L"');
      Object.assign(ctx.figures, { 'time limit s': trainSeconds, steps: Number(summary[1]), 'train s': Number(summary[2]), 'train img/s': Number(summary[3]), 'final loss': summary[4] });
      const kept = join(ctx.work, 'quality');
      mkdirSync(kept, { recursive: true });
      for (const f of ['config.json', 'metrics.jsonl', 'loss.png']) if (existsSync(join(run, f))) copyFileSync(join(run, f), join(kept, f));

      const evalJson = join(kept, 'eval.json');
      const onDevice = evalOptions.has('--device') ? ['--device', q.device] : q.evalWithoutDevice;
      if (!evalOptions.has('--device')) ctx.note(`byol eval has no --device: features on the CPU (${q.evalWithoutDevice.join(' ') || 'all images'})`);
      ctx.check(
        await ctx.node([main, 'eval', '--weights', join(run, 'encoder.safetensors'), '--dataset', 'fashion-mnist', '--data-root', data,
          ...q.eval, ...onDevice, '--json', evalJson], { label: 'byol eval' }),
        'byol eval',
      );
      const report = JSON.parse(readFileSync(evalJson, 'utf8'));
      const byol = report.rows.find((r) => r.name === 'BYOL');
      const random = report.rows.find((r) => r.name === 'random init');
      if (!byol || !random) throw new StageFailure(`byol eval: expected rows 'BYOL' and 'random init' in ${evalJson}`);
      Object.assign(ctx.figures, {
        'linear probe': percent(byol.linear.mean),
        kNN: percent(byol.knn.mean),
        'random init linear': percent(random.linear.mean),
        'random init kNN': percent(random.knn.mean),
        'eval images': `${report.trainImages} train / ${report.testImages} test`,
      });
      ctx.goal('linear probe', `>= ${GOALS.linearProbe * 100}%`, percent(byol.linear.mean), byol.linear.mean >= GOALS.linearProbe);
      ctx.goal('linear probe above random init', `> ${percent(random.linear.mean)}`, percent(byol.linear.mean), byol.linear.mean > random.linear.mean);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  },
};
