// The fixed cost of one `learner.step` beyond its math: a tiny encoder on tiny images, so that the step is mostly
// overhead (argument checks, job hand-offs to the executor and back, JS promises, reading results).
//
//   encoder  sequential(conv2d 3->8 k3 p1, batchNorm2d(8), relu, conv2d 8->8 k3 p1, adaptiveAvgPool2d(1), flatten)
//   learner  BYOL, 16 px, projector/predictor 8 -> 32 -> 16, constant tau 0.99; Adam lr 3e-4; batch of 4
//   views    'native' (default): the learner's own augmentation options (byolView1/2), per image, natively;
//            'premade': two fixed views handed back by JS functions (no augmentation work)
//
// Two loops of --steps steps each (after --warmup): `await learner.step(x, adam)` alone, and the same reading
// `r.loss` after each step (as a loop that logs every step). Per step: wall clock (median), the sum of the
// step's own phase timings (StepResult.timings: augment, forward, backward, optimizer, ema; median), and
// overhead = wall - phases (median of the per-step differences). Where the build has native.executorStats()
// ({ jobs, drains }), executor jobs and drains per step; else n/a.
//
// The phases are measured where the build measures them: the newer build times each phase inside its one
// native job, so wall - phases is everything around the math; the older build (f311b99) times augment,
// optimizer and ema in JS around their own jobs (round trips included), so there wall - phases is a lower
// bound of the overhead. The comparison mode's "wall" columns compare the builds directly: same math, same sizes.
//
//   node scripts/bench/overhead.mjs [--dist dist] [--steps 400] [--warmup 50] [--views native|premade] [--json]
//   node scripts/bench/overhead.mjs --compare /work/wt-base/dist dist [--rounds 3] [...]   (whole processes,
//        alternated before/after/before/after..., medians over the rounds)
// Nothing is forced: threads and OpenMP settings are the library's and the user's defaults.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { arg, median } from './cli.mjs';

const steps = Number(arg('steps', 400)), warmup = Number(arg('warmup', 50));
const views = arg('views', 'native');
const PHASES = ['augment', 'forward', 'backward', 'optimizer', 'ema'];

async function measure(dist) {
  const lib = await import(pathToFileURL(resolve(dist, 'index.js')).href);
  const { native } = await import(pathToFileURL(resolve(dist, 'native.js')).href);
  const { Adam, BYOL, adaptiveAvgPool2d, batchNorm2d, conv2d, flatten, getNumThreads, rand, relu, sequential } = lib;
  const stats = typeof native.executorStats === 'function' ? () => native.executorStats() : undefined;

  lib.manualSeed?.(0);
  const net = sequential(
    conv2d({ inChannels: 3, outChannels: 8, kernelSize: 3, padding: 1 }),
    batchNorm2d(8),
    relu(),
    conv2d({ inChannels: 8, outChannels: 8, kernelSize: 3, padding: 1 }),
    adaptiveAvgPool2d(1),
    flatten(),
  );
  const batch = 4, size = 16;
  const v1 = rand([batch, 3, size, size]), v2 = rand([batch, 3, size, size]);
  const premade = views === 'premade' ? { augment1: async () => v1.clone(), augment2: async () => v2.clone() } : {};
  const learner = new BYOL(net, {
    imageSize: size, projectionSize: 16, projectionHiddenSize: 32, decaySchedule: 'constant', movingAverageDecay: 0.99,
    seed: 1, ...premade,
  });
  const optimizer = new Adam(learner.parameters(), { lr: 3e-4 });
  const x = rand([batch, 3, size, size]);

  async function loop(n, readLoss) {
    const walls = [], phases = [], overheads = [], each = Object.fromEntries(PHASES.map((k) => [k, []]));
    const s0 = stats?.();
    const t0 = performance.now();
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const r = await learner.step(x, optimizer);
      if (readLoss) loss = r.loss;
      const wall = performance.now() - t;
      const sum = PHASES.reduce((acc, k) => acc + r.timings[k], 0);
      walls.push(wall);
      phases.push(sum);
      for (const k of PHASES) each[k].push(r.timings[k]);
      overheads.push(wall - sum);
    }
    const total = performance.now() - t0;
    const s1 = stats?.();
    return {
      stepsPerSecond: (1000 * n) / total,
      msPerStep: median(walls),
      phasesMs: median(phases),
      overheadMs: median(overheads),
      jobsPerStep: s1 ? (s1.jobs - s0.jobs) / n : null,
      drainsPerStep: s1 ? (s1.drains - s0.drains) / n : null,
      loss: readLoss ? loss : null,
      phaseMedians: Object.fromEntries(PHASES.map((k) => [k, median(each[k])])),
    };
  }
  await loop(warmup, true);
  const plain = await loop(steps, false);
  const reading = await loop(steps, true);
  return { dist: resolve(dist), threads: getNumThreads(), views, steps, executorStats: Boolean(stats), plain, reading };
}

const fmt = (x, d = 3) => (x === null || x === undefined ? 'n/a' : x.toFixed(d));
const row = (label, r) =>
  `| ${label} | ${fmt(r.stepsPerSecond, 1)} | ${fmt(r.msPerStep)} | ${fmt(r.phasesMs)} | ${fmt(r.overheadMs)} | ${fmt(r.jobsPerStep, 2)} | ${fmt(r.drainsPerStep, 2)} |`;
const HEADER = [
  '| build, loop | steps/s | ms/step (median) | native phases ms/step | overhead ms/step (wall - phases) | jobs/step | drains/step |',
  '|---|---:|---:|---:|---:|---:|---:|',
];

if (process.argv.includes('--compare')) {
  const i = process.argv.indexOf('--compare');
  const [before, after] = [process.argv[i + 1], process.argv[i + 2]];
  const rounds = Number(arg('rounds', 3));
  const self = fileURLToPath(import.meta.url);
  const load0 = loadavg();
  const results = { before: [], after: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [side, dist] of [['before', before], ['after', after]]) {
      const out = execFileSync(process.execPath, [self, '--dist', dist, '--steps', String(steps), '--warmup', String(warmup),
        '--views', views, '--json'], { encoding: 'utf8' });
      results[side].push(JSON.parse(out.trim().split('\n').at(-1)));
    }
  }
  const med = (list, loopName) => {
    const keys = ['stepsPerSecond', 'msPerStep', 'phasesMs', 'overheadMs', 'jobsPerStep', 'drainsPerStep'];
    return Object.fromEntries(keys.map((k) => [k, list[0][loopName][k] === null ? null : median(list.map((x) => x[loopName][k]))]));
  };
  const lines = [
    `learner.step fixed overhead: tiny encoder (2 convs, 8 channels), batch 4, 16 px, heads 8-32-16, Adam; ${views} views; ` +
      `${steps} steps per loop after ${warmup} warm-up; whole processes alternated before/after x ${rounds}, medians over rounds; ` +
      `threads ${results.after[0].threads} (before: ${results.before[0].threads}); OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? 'unset'}`,
    `before: ${resolve(before)}; after: ${resolve(after)}; load average at start ${load0.map((l) => l.toFixed(1)).join(' / ')}, ` +
      `at end ${loadavg().map((l) => l.toFixed(1)).join(' / ')}`,
    '',
    ...HEADER,
    row('before, step', med(results.before, 'plain')),
    row('after, step', med(results.after, 'plain')),
    row('before, step + read loss', med(results.before, 'reading')),
    row('after, step + read loss', med(results.after, 'reading')),
    '',
    `per round ms/step (step alone): before ${results.before.map((x) => fmt(x.plain.msPerStep)).join(', ')}; ` +
      `after ${results.after.map((x) => fmt(x.plain.msPerStep)).join(', ')}`,
  ];
  const phaseLine = (side) => {
    const list = results[side];
    return PHASES.map((k) => `${k} ${fmt(median(list.map((x) => x.plain.phaseMedians[k])))}`).join(', ');
  };
  lines.push(`phase medians, ms (step alone): before ${phaseLine('before')}; after ${phaseLine('after')}`);
  const b = med(results.before, 'plain'), a = med(results.after, 'plain');
  lines.push(`after - before, ms/step: ${fmt(a.msPerStep - b.msPerStep)} (step alone), ` +
    `${fmt(med(results.after, 'reading').msPerStep - med(results.before, 'reading').msPerStep)} (reading the loss); ` +
    `after's overhead beyond its phases: ${fmt(a.overheadMs)} ms/step (goal <= 1 ms), drains/step ${fmt(a.drainsPerStep, 2)} (goal 0)`);
  console.log(lines.join('\n'));
} else {
  const r = await measure(arg('dist', 'dist'));
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(r));
  } else {
    console.log(`learner.step fixed overhead, ${r.dist}: tiny encoder, batch 4, 16 px, ${r.views} views, ${r.steps} steps per loop, ` +
      `threads ${r.threads}, executorStats ${r.executorStats ? 'yes' : 'n/a'}; load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')}`);
    console.log(['', ...HEADER, row('step', r.plain), row('step + read loss', r.reading), '',
      `phase medians, ms (step alone): ${PHASES.map((k) => `${k} ${fmt(r.plain.phaseMedians[k])}`).join(', ')}`].join('\n'));
  }
}
