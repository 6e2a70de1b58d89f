// End to end, as users run it: `byol train` (the CLI: Fashion-MNIST from Debian's package, the Loader, native
// per-image augmentation, learner.step, metrics.jsonl) against byol-pytorch's own loop (byol_pytorch_loop.py: its
// README's loop, its per-batch torchvision augmentation) on the same images, image size, batch and optimizer.
// Whole processes, alternated ours / theirs / ... for --rounds rounds, each alone with its own defaults (no thread
// count, no OMP_WAIT_POLICY forced); medians over rounds.
//
//   ours         node dist/cli/main.js train --dataset fashion-mnist --arch A --image-size S --batch-size B
//                --steps N --optimizer adam --lr LR --weight-decay 0 --views byol-pytorch --progress none --out TMP
//                images/s = images / summed step time of metrics.jsonl's rows after --skip (each row's
//                imagesPerSecond is its step's: waiting for the batch, views, forward, backward, Adam, EMA);
//                beside it the library call alone: images / summed phase timings (augment..ema) of those rows
//   bp-0.8       python byol_pytorch_loop.py (byol-pytorch 0.8.x: heads as ours), PyTorch's default threads
//   bp-0.9       the same with 0.9.1's default simplicial-embedding projector
//   bp-0.8@N     bp-0.8 with torch.set_num_threads(N), N = our thread count (PyTorch defaults to 1 thread here)
// ours reads Fashion-MNIST as 1 channel (1-channel ResNet stem), byol-pytorch's default augmentation needs 3
// (the loop repeats the gray channel): ~2% more multiply-adds in their conv1 at 64 px.
// Share of the oneDNN GEMM peak: byol_step.py --peak --threads N each round; FLOPs per image of our step from
// byol_step.py --macs (2 x multiply-adds x 2 views x (3 online + 1 target) passes).
//
//   node scripts/bench/train_e2e.mjs [--arch resnet50] [--image-size 64] [--batch-size 16] [--lr 3e-4]
//        [--steps 14] [--skip 4] [--rounds 3] [--sides ours,bp-0.8,bp-0.9,bp-0.8@N]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonPath } from './python-side.mjs';
import { arg, median, cell } from './cli.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const archName = arg('arch', 'resnet50'), size = Number(arg('image-size', 64)), batch = Number(arg('batch-size', 16));
const lr = Number(arg('lr', 3e-4)), steps = Number(arg('steps', 14)), skip = Number(arg('skip', 4));
const rounds = Number(arg('rounds', 3));
const sides = arg('sides', 'ours,bp-0.8,bp-0.9,bp-0.8@N').split(',');
const python = pythonPath();
const PHASES = ['augment', 'forward', 'backward', 'optimizer', 'ema'];
if (skip >= steps) throw new RangeError('skip: expected fewer than --steps');

const run = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', cwd: root, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 });
const lastJson = (out) => JSON.parse(out.trim().split('\n').at(-1));

const ourThreads = Number(run(process.execPath, ['--input-type=module', '-e',
  "const m = await import('./dist/index.js'); console.log(m.getNumThreads())"]).trim());
const macs = lastJson(run(python, [join(here, 'byol_step.py'), '--macs', '--arch', archName, '--channels', '1', '--size', String(size)])).macs;
const flopsPerImage = 2 * 2 * (3 * (macs.encoder + macs.projector + macs.predictor) + macs.encoder + macs.projector);

function ours() {
  const out = mkdtempSync(join(tmpdir(), 'byol-e2e-'));
  try {
    const t0 = performance.now();
    run(process.execPath, [join(root, 'dist', 'cli', 'main.js'), 'train', '--dataset', 'fashion-mnist', '--arch', archName,
      '--image-size', String(size), '--batch-size', String(batch), '--steps', String(steps), '--optimizer', 'adam',
      '--lr', String(lr), '--weight-decay', '0', '--views', 'byol-pytorch', '--progress', 'none', '--out', out]);
    const processSeconds = (performance.now() - t0) / 1000;
    const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).slice(skip);
    const stepMs = rows.map((r) => (1000 * batch) / r.imagesPerSecond);
    const phaseMs = rows.map((r) => PHASES.reduce((acc, k) => acc + r.ms[k], 0));
    const sum = (xs) => xs.reduce((a, b) => a + b, 0);
    return {
      imagesPerSecond: (1000 * batch * rows.length) / sum(stepMs),
      libraryImagesPerSecond: (1000 * batch * rows.length) / sum(phaseMs),
      threads: ourThreads,
      stepMs: median(stepMs),
      // means over the rows, so that the phases and the rest add up to the mean step
      phases: Object.fromEntries([...PHASES, 'data'].map((k) => [k, sum(rows.map((r) => r.ms[k] ?? 0)) / rows.length])),
      meanStepMs: sum(stepMs) / rows.length,
      loss: rows.at(-1).loss,
      processSeconds,
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function theirs(version, threads) {
  const t0 = performance.now();
  const r = lastJson(run(python, [join(here, 'byol_pytorch_loop.py'), '--arch', archName, '--image-size', String(size),
    '--batch-size', String(batch), '--steps', String(steps), '--skip', String(skip), '--lr', String(lr), '--version', version,
    ...(threads ? ['--threads', String(threads)] : [])]));
  const measured = r.seconds.slice(skip);
  return { imagesPerSecond: r.imagesPerSecond, threads: r.threads, stepMs: 1000 * median(measured), loss: r.losses.at(-1),
    processSeconds: (performance.now() - t0) / 1000 };
}

const SIDES = {
  ours: { label: '`byol train` (ours)', fn: ours },
  'bp-0.8': { label: "byol-pytorch's loop (0.8.x heads), PyTorch default threads", fn: () => theirs('0.8') },
  'bp-0.9': { label: "byol-pytorch's loop (0.9.1 default: simplicial embedding), PyTorch default threads", fn: () => theirs('0.9') },
  'bp-0.8@N': { label: `byol-pytorch's loop (0.8.x heads), set_num_threads(${ourThreads})`, fn: () => theirs('0.8', ourThreads) },
};

const load0 = loadavg();
const started = Date.now();
console.log(`byol train vs byol-pytorch's loop, end to end: ${archName}, ${size} px, batch ${batch}, Adam lr ${lr}, Fashion-MNIST; ` +
  `${steps} steps per process, the first ${skip} left out; whole processes alternated x ${rounds}, medians over rounds; ` +
  `OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? 'unset'}, OMP_NUM_THREADS=${process.env.OMP_NUM_THREADS ?? 'unset'}; python ${python}`);
const samples = Object.fromEntries(sides.map((s) => [s, []]));
const peaks = [];
for (let r = 0; r < rounds; r++) {
  for (const s of sides) {
    if (!SIDES[s]) throw new RangeError(`sides: unknown ${s}; expected ${Object.keys(SIDES).join(', ')}`);
    const x = SIDES[s].fn();
    samples[s].push(x);
    process.stderr.write(`round ${r + 1}: ${s}: ${cell(x.imagesPerSecond, 2)} img/s (${x.threads} threads, process ${cell(x.processSeconds)} s)\n`);
  }
  peaks.push(lastJson(run(python, [join(here, 'byol_step.py'), '--peak', '--threads', String(ourThreads), '--peak-rounds', '2'])).onednn);
}
const peak = Math.max(...peaks);

const lines = [
  `FLOPs per image of our step: ${cell(flopsPerImage / 1e9, 3)} G (${archName}, 1 channel, heads ${archName === 'resnet18' || archName === 'resnet34' ? 512 : 2048}-4096-256); oneDNN GEMM peak at ${ourThreads} threads: ` +
    `best ${cell(peak)} GFLOP/s (per round ${peaks.map((p) => cell(p, 0)).join(', ')})`,
  '',
  '| run | threads | img/s | (min-max over rounds) | step ms (median) | process s | last loss |',
  '|---|---:|---:|---:|---:|---:|---:|',
];
const med = {};
for (const s of sides) {
  const xs = samples[s];
  const ips = xs.map((x) => x.imagesPerSecond);
  med[s] = median(ips);
  lines.push(`| ${SIDES[s].label} | ${xs[0].threads} | ${cell(med[s], 2)} | ${cell(Math.min(...ips), 2)}-${cell(Math.max(...ips), 2)} | ` +
    `${cell(median(xs.map((x) => x.stepMs)), 0)} | ${cell(median(xs.map((x) => x.processSeconds)))} | ${cell(xs.at(-1).loss, 3)} |`);
}
if (samples.ours) {
  const o = samples.ours;
  const lib = median(o.map((x) => x.libraryImagesPerSecond));
  lines.push(`| learner.step alone (phases of the same byol train rows) | ${ourThreads} | ${cell(lib, 2)} | | | | |`);
  lines.push('');
  const others = sides.filter((s) => s !== 'ours').map((s) => `/ ${s} ${cell(med.ours / med[s], 2)}x`);
  lines.push(`byol train ${others.join(', ')} (goal >= 1.25x byol-pytorch's loop); byol train at ${cell((100 * med.ours * flopsPerImage) / 1e9 / peak)}% ` +
    `of the oneDNN GEMM peak, learner.step alone at ${cell((100 * lib * flopsPerImage) / 1e9 / peak)}% (goal >= 40%)`);
  const mid = [...o].sort((a, b) => a.imagesPerSecond - b.imagesPerSecond)[Math.floor(o.length / 2)]; // the median round
  const ph = mid.phases;
  const wall = mid.meanStepMs;
  const known = [...PHASES, 'data'].reduce((acc, k) => acc + ph[k], 0);
  lines.push('');
  lines.push('| byol train: step phases, ms (means over the rows of the median round) | data wait | augment | forward | backward | optimizer | ema | rest | step |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  lines.push(`| ms | ${['data', ...PHASES].map((k) => cell(ph[k])).join(' | ')} | ${cell(wall - known)} | ${cell(wall)} |`);
  lines.push(`| share | ${['data', ...PHASES].map((k) => `${cell((100 * ph[k]) / wall)}%`).join(' | ')} | ${cell((100 * (wall - known)) / wall)}% | 100% |`);
}
lines.push('');
lines.push(`machine load average (1/5/15 min) at start ${load0.map((l) => l.toFixed(1)).join(' / ')}, at end ${loadavg().map((l) => l.toFixed(1)).join(' / ')}; ` +
  `${((Date.now() - started) / 60000).toFixed(1)} min`);
console.log(lines.join('\n'));
