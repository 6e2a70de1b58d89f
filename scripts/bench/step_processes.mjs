// The whole BYOL step, each configuration a WHOLE PROCESS run alone, with each side's own defaults (no thread
// count, no OMP_WAIT_POLICY forced on either side: what a user gets), processes alternated A B C ... A B C ...
// for --rounds rounds; each process reports the median of its steps, the table the median over rounds.
//
//   ours      node byol_step.mjs --one ...   `learner.step(images, adam)`; pre-augmented views (two fixed
//             views from JS functions) or the native per-image augmentation from uint8 images
//   (a)       python byol_step.py --one a    byol-pytorch's way: views cat'd in one batch, Python EMA loop
//   (b)       python byol_step.py --one b_contiguous   the same algorithm as ours in eager PyTorch
//   (a)/(b) @ N threads: the same with torch.set_num_threads(N), N = our thread count: PyTorch's default on
//             these machines is 1 thread (LibTorch's one thread per physical core), ours every core the
//             process may use, so the default rows compare defaults and these rows compare the code
//
// Groups (--groups, default both):
//   r50  ResNet-50, 64 px, batch 16, heads 2048-4096-256, Adam 3e-4 (byol_step's configuration)
//   r18  ResNet-18, 1 channel, 32 px, batch 64, heads 512-1024-128, Adam 1e-3 (the demo's step; ours with the
//        demo's small-gray views)
// Each round also runs `byol_step.py --peak --threads N` (best single fp32 1024³ GEMM as a oneDNN 1x1
// convolution, N = our threads) for the share of peak, and the FLOPs per image come from byol_step.py --macs:
// 2 x multiply-adds x 2 views x (3 online + 1 target) forward passes.
//
//   node scripts/bench/step_processes.mjs [--groups r50,r18] [--rounds 3] [--iters N] [--warmup N] [--precision fp32|bf16]
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonPath } from './python-side.mjs';
import { arg, median, cell } from './cli.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(arg('rounds', 3));
const groups = arg('groups', 'r50,r18').split(',');
const python = pythonPath();
// --precision bf16: both sides under autocast (ours: BYOLOptions.precision; PyTorch: torch.autocast), float32
// weights, optimizer state and loss on both.
const precision = arg('precision', 'fp32');
const PHASES = ['augment', 'forward', 'backward', 'optimizer', 'ema'];

const GROUPS = {
  r50: {
    title: 'ResNet-50, 64 px, batch 16, projector/predictor 2048-4096-256, Adam lr 3e-4',
    model: { arch: 'resnet50', channels: 3, hidden: 4096, proj: 256, lr: 3e-4, batch: 16, size: 64 },
    warmup: 2, iters: 5,
    rows: [
      { label: 'ours, pre-augmented views', side: 'ours', args: ['--views', 'premade'] },
      { label: 'ours, + native augmentation (byol views) from uint8', side: 'ours', args: ['--views', 'augment', '--augment-views', 'byol', '--input', 'uint8'] },
      { label: '(a) byol-pytorch way, PyTorch default threads', side: 'torch', variant: 'a' },
      { label: '(b) torch same algorithm, PyTorch default threads', side: 'torch', variant: 'b_contiguous' },
      { label: '(a) byol-pytorch way, set_num_threads(ours)', side: 'torch', variant: 'a', sameThreads: true },
      { label: '(b) torch same algorithm, set_num_threads(ours)', side: 'torch', variant: 'b_contiguous', sameThreads: true },
    ],
  },
  r18: {
    title: "ResNet-18 (1 channel), 32 px, batch 64, projector/predictor 512-1024-128, Adam lr 1e-3 (the demo's step)",
    model: { arch: 'resnet18', channels: 1, hidden: 1024, proj: 128, lr: 1e-3, batch: 64, size: 32 },
    warmup: 3, iters: 8,
    rows: [
      { label: 'ours, pre-augmented views', side: 'ours', args: ['--views', 'premade'] },
      { label: "ours, + native augmentation (the demo's small-gray views) from uint8", side: 'ours', args: ['--views', 'augment', '--augment-views', 'small-gray', '--input', 'uint8'] },
      { label: '(a) byol-pytorch way, PyTorch default threads', side: 'torch', variant: 'a' },
      { label: '(a) byol-pytorch way, set_num_threads(ours)', side: 'torch', variant: 'a', sameThreads: true },
    ],
  },
};

function runJson(cmd, args) {
  const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').at(-1));
}
const modelArgs = (m) => ['--arch', m.arch, '--channels', String(m.channels), '--hidden', String(m.hidden), '--proj', String(m.proj),
  '--lr', String(m.lr), '--batch', String(m.batch), '--size', String(m.size), '--precision', precision];

const started = Date.now();
const load0 = loadavg();
const header = [
  `BYOL step, whole processes alternated, ${rounds} round(s), each process alone with its defaults; ` +
    `OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? 'unset'}, OMP_NUM_THREADS=${process.env.OMP_NUM_THREADS ?? 'unset'}; python ${python}; precision ${precision}`,
];
console.log(header.join('\n'));
let ourThreads;
for (const name of groups) {
  const g = GROUPS[name];
  if (!g) throw new RangeError(`groups: expected r50 and/or r18, received ${name}`);
  const warmup = Number(arg('warmup', g.warmup)), iters = Number(arg('iters', g.iters));
  const common = [...modelArgs(g.model), '--warmup', String(warmup), '--iters', String(iters)];
  const macsInfo = runJson(python, [join(here, 'byol_step.py'), '--macs', ...modelArgs(g.model)]);
  const macs = macsInfo.macs;
  const online = macs.encoder + macs.projector + macs.predictor, target = macs.encoder + macs.projector;
  const flopsPerImage = 2 * 2 * (3 * online + target);
  const samples = g.rows.map(() => []);
  const peaks = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < g.rows.length; i++) {
      const row = g.rows[i];
      let result;
      if (row.side === 'ours') {
        result = runJson(process.execPath, [join(here, 'byol_step.mjs'), '--one', ...common, ...row.args]);
        ourThreads = result.threads;
      } else {
        const threads = row.sameThreads ? ['--threads', String(ourThreads ?? 2)] : [];
        result = runJson(python, [join(here, 'byol_step.py'), '--one', row.variant, ...threads, ...common]);
      }
      samples[i].push(result);
      process.stderr.write(`${name} round ${r + 1}: ${row.label}: ${cell(result.imagesPerSecond, 2)} img/s (${result.threads} threads)\n`);
    }
    peaks.push(runJson(python, [join(here, 'byol_step.py'), '--peak', '--threads', String(ourThreads ?? 2), '--peak-rounds', '2']));
  }
  const peak = Math.max(...peaks.map((p) => p.onednn));
  const stats = g.rows.map((row, i) => {
    const ips = samples[i].map((s) => s.imagesPerSecond);
    return {
      row, ips: median(ips), min: Math.min(...ips), max: Math.max(...ips), threads: samples[i][0].threads,
      cpuMs: median(samples[i].map((s) => s.cpuMsPerImage)), loss: samples[i].at(-1).loss,
      rss: median(samples[i].map((s) => s.maxRssMiB)),
      timings: row.side === 'ours' ? Object.fromEntries(PHASES.map((k) => [k, median(samples[i].map((s) => s.timings[k]))])) : undefined,
    };
  });
  const lines = [
    '',
    `${g.title}; per process ${warmup} warm-up + median of ${iters} steps; medians over ${rounds} rounds`,
    `forward multiply-adds per image: encoder ${cell(macs.encoder / 1e6)} M, projector ${cell(macs.projector / 1e6)} M, predictor ` +
      `${cell(macs.predictor / 1e6)} M; FLOPs per image of a step ${cell(flopsPerImage / 1e9, 3)} G`,
    `oneDNN GEMM peak (fp32 1024³ as a 1x1 conv, ${ourThreads} threads): best ${cell(peak)} GFLOP/s; per round ${peaks.map((p) => cell(p.onednn, 0)).join(', ')}; ` +
      `torch.mm ${cell(Math.max(...peaks.map((p) => p.mm)))} GFLOP/s`,
    '',
    '| step | threads | img/s | (min-max over rounds) | cpu-ms/img | GFLOP/s | % of oneDNN peak | peak RSS MiB | loss |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of stats) {
    const gf = (s.ips * flopsPerImage) / 1e9;
    lines.push(`| ${s.row.label} | ${s.threads} | ${cell(s.ips, 2)} | ${cell(s.min, 2)}-${cell(s.max, 2)} | ${cell(s.cpuMs, 0)} | ${cell(gf)} | ` +
      `${cell((100 * gf) / peak)}% | ${cell(s.rss, 0)} | ${cell(s.loss, 3)} |`);
  }
  const ours = stats[0];
  const ratio = (label) => {
    const other = stats.find((s) => s.row.label === label);
    return other ? `${cell(ours.ips / other.ips, 2)}x` : 'n/a';
  };
  lines.push('');
  lines.push(`ours (pre-augmented) / (a) default threads ${ratio('(a) byol-pytorch way, PyTorch default threads')}, ` +
    `/ (a) same threads ${ratio('(a) byol-pytorch way, set_num_threads(ours)')}, ` +
    `/ (b) default threads ${ratio('(b) torch same algorithm, PyTorch default threads')}, ` +
    `/ (b) same threads ${ratio('(b) torch same algorithm, set_num_threads(ours)')}; ` +
    `ours with augmentation / (a) default threads ${cell(stats[1].ips / stats.find((s) => s.row.variant === 'a').ips, 2)}x`);
  lines.push('');
  lines.push('| ours: phase medians (ms) | augment | forward | backward | optimizer | ema | sum | step wall | rest (wall - sum) |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const shares = [];
  for (const s of stats.filter((x) => x.timings)) {
    const sum = PHASES.reduce((acc, k) => acc + s.timings[k], 0);
    const wall = (1000 * g.model.batch) / s.ips;
    lines.push(`| ${s.row.label} | ${PHASES.map((k) => cell(s.timings[k])).join(' | ')} | ${cell(sum)} | ${cell(wall)} | ${cell(wall - sum)} |`);
    shares.push(`${s.row.label}: ${PHASES.map((k) => `${k} ${cell((100 * s.timings[k]) / wall)}%`).join(', ')}, rest ${cell((100 * (wall - sum)) / wall)}%`);
  }
  lines.push('');
  lines.push(...shares.map((x) => `shares of the step: ${x}`));
  console.log(lines.join('\n'));
}
const tail = `machine load average (1/5/15 min) at start ${load0.map((l) => l.toFixed(1)).join(' / ')}, at end ` +
  `${loadavg().map((l) => l.toFixed(1)).join(' / ')}; ${((Date.now() - started) / 60000).toFixed(1)} min`;
console.log(`\n${tail}`);
