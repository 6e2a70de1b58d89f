// RSS growth over create/op/dispose cycles of small tensors, with byol-torch's caching host allocator and with
// LibTorch's default (glibc malloc), each in its own process. Run: npx tsc && node scripts/bench/host_allocator.mjs
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cycles = 10_000;

if (process.argv[2] === '--child') {
  const { tensor, setNumThreads } = await import('../../dist/index.js');
  setNumThreads(2);
  const data = new Float32Array(4096);
  const cycle = () => {
    const a = tensor(data, { shape: [64, 64] });
    const b = a.add(1);
    const c = b.mul(a);
    c.dispose();
    b.dispose();
    a.dispose();
  };
  for (let i = 0; i < 1000; i++) cycle();
  globalThis.gc();
  const start = process.memoryUsage().rss;
  const t = performance.now();
  for (let i = 0; i < cycles; i++) cycle();
  const ms = performance.now() - t;
  globalThis.gc();
  console.log(JSON.stringify({ grownMB: (process.memoryUsage().rss - start) / 1e6, usPerCycle: (ms * 1000) / cycles }));
} else {
  const self = fileURLToPath(import.meta.url);
  const run = (env) =>
    JSON.parse(execFileSync(process.execPath, ['--expose-gc', self, '--child'], { env: { ...process.env, ...env }, encoding: 'utf8' }));
  const ours = run({});
  const glibc = run({ BYOL_HOST_ALLOCATOR: '0' });
  console.log(`| allocator | RSS growth over ${cycles} cycles (MB) | µs per cycle |`);
  console.log('|---|---|---|');
  console.log(`| byol-torch caching host allocator | ${ours.grownMB.toFixed(1)} | ${ours.usPerCycle.toFixed(1)} |`);
  console.log(`| LibTorch default (glibc malloc) | ${glibc.grownMB.toFixed(1)} | ${glibc.usPerCycle.toFixed(1)} |`);
}
