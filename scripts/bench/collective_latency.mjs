// Latency of a small collective between two local processes: byol-torch's ProcessGroup (a job on the executor,
// then c10d's ProcessGroupGloo) against PyTorch's torch.distributed over ProcessGroupGloo, the same LibTorch and
// Gloo. Each side: 2 ranks, the torchrun variables set by hand, OMP_NUM_THREADS=1, 50 warm-up calls, then
// the mean of --calls all-reduces of 3 numbers. This is what each synchronised BatchNorm layer pays per step.
//   npx tsc -p tsconfig.json && node scripts/bench/collective_latency.mjs [--calls 500]
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../dist/cli/launch.js';
import { pythonPath } from './python-side.mjs';
import { arg } from './cli.mjs';

const calls = Number(arg('calls', 500));
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'byol-latency-'));
const ours = join(dir, 'ours.mjs');
writeFileSync(ours, `import { initProcessGroup } from ${JSON.stringify(join(root, 'dist', 'index.js'))};
const g = await initProcessGroup({ timeoutSeconds: 60 });
for (let i = 0; i < 50; i++) await g.allReduceSum([1, 2, 3]);
const t = performance.now();
for (let i = 0; i < ${calls}; i++) await g.allReduceSum([1, 2, 3]);
if (g.rank === 0) console.log((performance.now() - t) / ${calls});
`);
const torchScript = join(dir, 'torch_side.py');
writeFileSync(torchScript, `import time, torch, torch.distributed as dist
dist.init_process_group("gloo")
x = torch.zeros(3)
for _ in range(50): dist.all_reduce(x)
t = time.perf_counter()
for _ in range(${calls}): dist.all_reduce(x)
if dist.get_rank() == 0: print((time.perf_counter() - t) / ${calls} * 1000)
`);

async function ranks(command, script) {
  const port = await freePort('127.0.0.1');
  const outputs = await Promise.all([0, 1].map((rank) => new Promise((resolve, reject) => {
    const env = { ...process.env, RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), OMP_NUM_THREADS: '1' };
    const child = spawn(command, [script], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${script} rank ${rank} exited ${code}`))));
  })));
  return Number(outputs[0].trim());
}

const oursMs = await ranks(process.execPath, ours);
const torchMs = await ranks(pythonPath(), torchScript);
console.log(`| small all-reduce (3 numbers), 2 processes, ${calls} calls | ms per call |`);
console.log('|---|---|');
console.log(`| byol-torch ProcessGroup.allReduceSum (a job on the executor, then c10d ProcessGroupGloo) | ${oursMs.toFixed(3)} |`);
console.log(`| torch.distributed.all_reduce over ProcessGroupGloo | ${torchMs.toFixed(3)} |`);
