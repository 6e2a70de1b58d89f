// EMA benchmark: byol-torch's ema.update over the ResNet-50 + projector parameter set against
//   (a) a per-tensor loop of the Tensor API's in-place ops from JS: t.mul_(tau).add_(s.mul(1 - tau))
//   (b) byol-pytorch's per-parameter Python loop: ma.data = old * beta + (1 - beta) * new
//   (c) torch._foreach_mul_ + torch._foreach_add_
//   (d) the machine's copy bandwidth: dst.copy_(src) over a buffer as large as the parameter set
// (b), (c) run in PyTorch (scripts/bench/ema_baseline.py) on the same LibTorch and thread count; the Node
// and Python measurements are interleaved round by round, and each figure is the median over all rounds.
//
// Run after the builds (npm run build:native && npm run build:ts):
//   node scripts/bench/ema.mjs [--rounds 5] [--iters 5] [--threads N] [--device cpu|cuda] [--inner K]
//     [--model resnet50|resnet18] [--json FILE]
// Python: $BYOL_PYTHON, else .byol/python, else python3.
// On a GPU (--device cuda, scripts/device/check.sh): each sample is the mean of --inner back-to-back calls
// (default 20 there, 1 on the CPU) between two synchronisations, since one update or copy of these 140 MB takes about
// as long as a synchronisation; (d) is then the faster device-to-device copy_ of the Node and the Python process.
// --json FILE writes the figures; --model resnet18 shrinks the parameter set (the dry run).
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPythonSide } from './python-side.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const lib = await import(join(root, 'dist', 'index.js')).catch((cause) => {
  throw new Error('scripts/bench/ema.mjs needs the TypeScript build: run `npm run build:ts` first', { cause });
});
const { ema, randn, zeros, getNumThreads, setNumThreads } = lib;

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const rounds = Number(flag('rounds', 5));
const iters = Number(flag('iters', 5));
const device = flag('device', 'cpu');
const inner = Number(flag('inner', device === 'cpu' ? 1 : 20));
const model = flag('model', 'resnet50');
const jsonFile = flag('json');
if (flag('threads')) setNumThreads(Number(flag('threads')));
const threads = getNumThreads();
const tau = 0.996;

// The Python side: one long-lived process answering "<method> <iterations>" with {"ms": [...]}.
const python = startPythonSide(join(root, 'scripts', 'bench', 'ema_baseline.py'), ['--threads', String(threads),
  '--tau', String(tau), '--device', device, '--model', model]);
async function pythonTimes(method, n) {
  return JSON.parse(await python.ask(`${method} ${n} ${inner}`)).ms;
}

const header = JSON.parse(await python.nextLine());
const { shapes, numel } = header;

// The same parameter set on the Node side.
const targets = shapes.map((s) => randn(s, { device }));
const sources = shapes.map((s) => randn(s, { device }));
const copySource = randn([numel], { device });
const copyTarget = zeros([numel], { device });
// On CUDA, reading one value waits for the stream; on CPU every job has finished when its promise settles.
const last = targets[targets.length - 1];
const sync = device === 'cpu' ? () => {} : () => last.sum().item();

async function nodeTimes(fn, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    sync();
    const start = performance.now();
    for (let k = 0; k < inner; k++) await fn();
    sync();
    times.push((performance.now() - start) / inner);
  }
  return times;
}

const ours = () => ema.update(targets, sources, tau);
const tensorLoop = () => {
  for (let i = 0; i < targets.length; i++) {
    const scaled = sources[i].mul(1 - tau);
    targets[i].mul_(tau).add_(scaled);
    scaled.dispose();
  }
};
const copy = () => {
  copyTarget.copy_(copySource);
};
// copy_ on one thread: on a loaded 2-core machine a second OpenMP thread can make copy_ slower, and (d) is the
// machine's copy bandwidth, so the faster of the two counts.
const copyOneThread = () => {
  setNumThreads(1);
  copyTarget.copy_(copySource);
  setNumThreads(threads);
};

// Warm-up: first touches of memory, thread pools, the Python allocator.
await nodeTimes(ours, 3);
await nodeTimes(tensorLoop, 2);
await nodeTimes(copy, 3);
await nodeTimes(copyOneThread, 2);
for (const m of ['byol', 'foreach', 'copy']) await pythonTimes(m, 2);

const samples = { ours: [], tensorLoop: [], byol: [], foreach: [], copy: [], copy1: [], pyCopy: [] };
for (let r = 0; r < rounds; r++) {
  samples.ours.push(...(await nodeTimes(ours, iters)));
  samples.copy.push(...(await nodeTimes(copy, iters)));
  samples.copy1.push(...(await nodeTimes(copyOneThread, iters)));
  samples.byol.push(...(await pythonTimes('byol', iters)));
  samples.foreach.push(...(await pythonTimes('foreach', iters)));
  samples.pyCopy.push(...(await pythonTimes('copy', iters)));
  samples.tensorLoop.push(...(await nodeTimes(tensorLoop, Math.max(1, Math.ceil(iters / 2)))));
}
python.quit();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
const emaBytes = 3 * numel * 4; // read target, read source, write target (float32)
const copyBytes = 2 * numel * 4; // read source, write destination
const gbps = (bytes, t) => bytes / (t * 1e-3) / 1e9;
// The copy bandwidth: on the CPU the faster Node copy_ (all threads or one); on a device the faster of the Node and
// the Python device-to-device copy_ (the same bytes, the same kind of kernel).
const copyMs = device === 'cpu' ? Math.min(ms.copy, ms.copy1) : Math.min(ms.copy, ms.pyCopy);
const copyGbps = gbps(copyBytes, copyMs);

const mb = (copyBytes / 2 / 1e6).toFixed(0);
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
const rows = [
  ['byol-torch ema.update (' + ema.cpuKernel() + ' kernel)', ms.ours, emaBytes],
  ['(a) Tensor API loop from JS: t.mul_(tau).add_(s.mul(1-tau))', ms.tensorLoop, emaBytes],
  ['(b) byol-pytorch loop: ma.data = old*beta + (1-beta)*new', ms.byol, emaBytes],
  ['(c) torch._foreach_mul_ + _foreach_add_', ms.foreach, emaBytes],
  [device !== 'cpu' ? '(d) copy bandwidth: the faster device-to-device copy_ below' : threads > 1 ? '(d) copy bandwidth: the faster of the two Node copy_ lines below' : '(d) copy bandwidth: copy_ below', copyMs, copyBytes],
  [`    copy_ over ${mb} MB, ${plural(threads, 'thread')}, Node process`, ms.copy, copyBytes],
  ...(threads > 1 ? [[`    copy_ over ${mb} MB, 1 thread, Node process`, ms.copy1, copyBytes]] : []),
  [`    copy_ over ${mb} MB, ${plural(header.threads, 'thread')}, Python process`, ms.pyCopy, copyBytes],
];
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
console.log(`EMA of ${shapes.length} tensors, ${(numel / 1e6).toFixed(2)} M float32 (${model} incl. fc + projector ${model === 'resnet50' ? 2048 : 512}-4096-256)`);
console.log(`device ${device}, ${plural(threads, 'thread')}, LibTorch ${lib.libtorchInfo().libtorch}, PyTorch ${header.torch} (${plural(header.threads, 'thread')}), ` +
  `${rounds} rounds x ${iters} iterations interleaved, medians; load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log();
console.log(`| ${pad('method', 66)} | ${lpad('ms', 8)} | ${lpad('GB/s r+w', 8)} | ${lpad('ms / ours', 9)} |`);
console.log(`|${'-'.repeat(68)}|${'-'.repeat(10)}|${'-'.repeat(10)}|${'-'.repeat(11)}|`);
for (const [name, t, bytes] of rows) {
  console.log(`| ${pad(name, 66)} | ${lpad(t.toFixed(2), 8)} | ${lpad(gbps(bytes, t).toFixed(2), 8)} | ${lpad((t / ms.ours).toFixed(2), 9)} |`);
}
console.log();
const goal = (label, value, target, ok) => console.log(`${label}: ${value} (goal ${target}) ${ok ? 'met' : 'MISSED'}`);
const fraction = gbps(emaBytes, ms.ours) / copyGbps;
if (device === 'cpu') {
  goal('ours vs copy bandwidth (d)', `${(fraction * 100).toFixed(0)}%`, '>= 70%', fraction >= 0.7);
  goal('speed-up over byol-pytorch (b)', `${(ms.byol / ms.ours).toFixed(2)}x`, '>= 2.5x', ms.byol / ms.ours >= 2.5);
  goal('speed-up over _foreach (c)', `${(ms.foreach / ms.ours).toFixed(2)}x`, '> 1x', ms.foreach / ms.ours > 1);
} else {
  goal('ours vs device-to-device copy bandwidth', `${(fraction * 100).toFixed(0)}%`, '>= 80%', fraction >= 0.8);
}
if (jsonFile) {
  const figures = {
    device, model, threads, rounds, iters, inner, tensors: shapes.length, numel, ms,
    oursGBps: gbps(emaBytes, ms.ours), copyGBps: copyGbps, nodeCopyGBps: gbps(copyBytes, ms.copy), pythonCopyGBps: gbps(copyBytes, ms.pyCopy),
    fractionOfCopy: fraction, foreachOverOurs: ms.foreach / ms.ours, byolPytorchOverOurs: ms.byol / ms.ours,
  };
  writeFileSync(jsonFile, `${JSON.stringify(figures, null, 2)}\n`);
}
