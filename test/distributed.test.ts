// Data-parallel training on c10d/Gloo, over loopback, with real processes: two ranks at batch b/2 against one
// process at batch b (synchronised BatchNorm equal, local BatchNorm different), a run under torchrun, the
// launcher (`byol train --nproc-per-node 2`), a worker killed mid-run and the resume in the other world size,
// and the rendezvous errors. Every process is bounded in time; ports are free ones chosen here.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../lib/cli/launch.js';
import { DistributedError, initProcessGroup } from '../lib/distributed/process-group.js';
import { loadTensors } from '../lib/serialize.js';
import type { Tensor } from '../lib/tensor.js';
import { compileReadmeScript } from './fixtures/readme-script.js';
import { torchrun } from './python.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const WORKER = join(ROOT, 'test', 'fixtures', 'dp-worker.mjs');
// torchrun of the torch the addon links (beside BYOL_PYTHON), not whatever torchrun is on PATH.
const hasTorchrun = spawnSync(torchrun, ['--help'], { stdio: 'ignore' }).status === 0;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byol-dist-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

/** Runs a process to its end (killed after `timeoutMs`), keeping its output. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = dir, timeoutMs = 90_000): { child: ChildProcess; done: Promise<Exit> } {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<Exit>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, done };
}

/** `world` ranks by hand (the torchrun variables set here), each running `args` with node. */
async function ranks(world: number, args: string[], env: NodeJS.ProcessEnv = {}, cwd = dir) {
  const port = await freePort('127.0.0.1');
  return Array.from({ length: world }, (_, rank) =>
    run(process.execPath, args, { RANK: String(rank), WORLD_SIZE: String(world), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), ...env }, cwd),
  );
}

async function expectSuccess(exits: Promise<Exit>[]): Promise<void> {
  for (const exit of await Promise.all(exits)) expect(exit.code, exit.stderr).toBe(0);
}

/** Largest difference over every float tensor (relative to the tensor's scale when above 1) and the losses. */
async function difference(a: string, b: string): Promise<{ worst: number; where: string; losses: [number[], number[]] }> {
  const [x, y] = await Promise.all([loadTensors(a), loadTensors(b)]);
  let worst = 0;
  let where = '';
  const values = (t: Tensor) => t.dataSync() as Float32Array;
  for (const [name, t] of x.tensors) {
    if (t.dtype !== 'float32') continue;
    const u = values(y.tensors.get(name)!);
    const v = values(t);
    let scale = 1;
    let gap = 0;
    for (let i = 0; i < v.length; i++) {
      scale = Math.max(scale, Math.abs(u[i]!));
      gap = Math.max(gap, Math.abs(v[i]! - u[i]!));
    }
    if (gap / scale > worst) [worst, where] = [gap / scale, name];
  }
  const losses: [number[], number[]] = [JSON.parse(x.metadata.losses!), JSON.parse(y.metadata.losses!)];
  losses[0].forEach((l, i) => {
    if (Math.abs(l - losses[1][i]!) > worst) [worst, where] = [Math.abs(l - losses[1][i]!), `loss of step ${i + 1}`];
  });
  return { worst, where, losses };
}

describe('two ranks at batch b/2 against one process at batch b (3 BYOL steps, ResNet-18, float32)', () => {
  let one: string;
  beforeAll(async () => {
    one = join(dir, 'one.safetensors');
    await expectSuccess([run(process.execPath, [WORKER], { OUT: one }).done]);
  }, 120_000);

  it('are equal within 1e-5 with synchronised BatchNorm: losses, online and target weights, BatchNorm buffers', async () => {
    const out = join(dir, 'sync.safetensors');
    await expectSuccess((await ranks(2, [WORKER], { OUT: out })).map((r) => r.done));
    const { worst, where, losses } = await difference(out, one);
    expect(worst, `largest difference at ${where}`).toBeLessThan(1e-5);
    // The three steps trained: the loss moved far more than the tolerance.
    expect(losses[1][0]! - losses[1][2]!).toBeGreaterThan(0.05);
  }, 120_000);

  it('differ with local BatchNorm (each rank normalises its half): the comparison can fail', async () => {
    const out = join(dir, 'local.safetensors');
    await expectSuccess((await ranks(2, [WORKER], { OUT: out, SYNC_BN: '0' })).map((r) => r.done));
    expect((await difference(out, one)).worst).toBeGreaterThan(1e-3);
  }, 120_000);

  it.skipIf(!hasTorchrun)(`are equal when torchrun starts the ranks (its agent hosts the store)${hasTorchrun ? '' : `: skipped, no ${torchrun}`}`, async () => {
    const out = join(dir, 'torchrun.safetensors');
    const port = await freePort('127.0.0.1');
    const { done } = run(torchrun, ['--nproc-per-node', '2', '--master-port', String(port), '--no-python', process.execPath, WORKER], { OUT: out });
    await expectSuccess([done]);
    expect((await difference(out, one)).worst).toBeLessThan(1e-5);
  }, 120_000);
});

/** `byol train` flags of a small, quick run on Fashion-MNIST. */
const smallRun = (out: string, steps: number) => [
  CLI, 'train', '--dataset', 'fashion-mnist', '--arch', 'resnet18', '--small-stem', '--image-size', '16', '--batch-size', '8',
  '--steps', String(steps), '--checkpoint-every', '2', '--projection-size', '16', '--hidden-size', '32', '--optimizer', 'sgd',
  '--lr', '0.05', '--progress', 'lines', '--out', out, '--dist-timeout', '30',
];

async function waitForCheckpoint(out: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const names = await readdir(join(out, 'checkpoints')).catch(() => [] as string[]);
    if (names.some((n) => /^step-\d+$/.test(n))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no checkpoint in ${out} after ${timeoutMs} ms`);
}

describe('byol train across processes', () => {
  it('--nproc-per-node 2 trains as one run: rank 0 writes the folder, every step logged once', async () => {
    const out = join(dir, 'launched');
    const { done } = run(process.execPath, [...smallRun(out, 4), '--nproc-per-node', '2']);
    const exit = await done;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toMatch(/2 ranks of 4 images \(synchronised BatchNorm\)/);
    expect(exit.stdout.match(/^trained 4 steps/gm)).toHaveLength(1);
    const rows = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    expect(rows.map((r) => JSON.parse(r).step)).toEqual([1, 2, 3, 4]);
    expect(existsSync(join(out, 'encoder.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'loss.png'))).toBe(true);
  }, 180_000);

  it('a killed worker makes the other exit naming it; the run resumes from the last checkpoint in one process', async () => {
    const out = join(dir, 'killed');
    const workers = await ranks(2, smallRun(out, 16));
    await waitForCheckpoint(out, 120_000);
    const started = Date.now();
    workers[1]!.child.kill('SIGKILL');
    const survivor = await workers[0]!.done;
    expect(survivor.code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000); // within --dist-timeout
    expect(survivor.stderr).toMatch(/rank 1 \(pid \d+\)/);

    const resumed = await run(process.execPath, [CLI, 'train', '--resume', '--out', out, '--progress', 'none']).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/^trained 16 steps \(from step [1-9]\d*\)/m);
  }, 240_000);

  it('a one-process run resumes in two processes', async () => {
    const out = join(dir, 'grown');
    const single = run(process.execPath, smallRun(out, 12));
    await waitForCheckpoint(out, 120_000);
    single.child.kill('SIGKILL');
    await single.done;
    const resumed = await run(process.execPath, [CLI, 'train', '--resume', '--out', out, '--progress', 'none', '--nproc-per-node', '2']).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/^trained 12 steps \(from step [1-9]\d*\)/m);
  }, 240_000);
});

it("the README's two-process script compiles and trains as two ranks", async () => {
  const project = await mkdtemp(join(tmpdir(), 'byol-readme-dp-'));
  try {
    const { js } = await compileReadmeScript('readme-dp-script', project);
    const workers = await ranks(2, [js], {}, project);
    const exits = await Promise.all(workers.map((w) => w.done));
    for (const exit of exits) expect(exit.code, exit.stderr).toBe(0);
    expect(exits[0]!.stdout).toMatch(/^rank 0 of 2: final loss \d+\.\d+/m);
    expect(exits[1]!.stdout).toBe('');
  } finally {
    await rm(project, { recursive: true, force: true });
  }
}, 180_000);

describe('joining a process group', () => {
  it('names a master port in use', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      await expect(initProcessGroup({ rank: 0, worldSize: 2, masterPort: port, timeoutSeconds: 5 })).rejects.toThrow(
        new RangeError(`masterPort: 127.0.0.1:${port} is already in use (another job or process holds it); choose a free --master-port`),
      );
    } finally {
      server.close();
    }
  });

  it('names an unreachable master after the timeout, as a DistributedError', async () => {
    const port = await freePort('127.0.0.1');
    const joining = initProcessGroup({ rank: 1, worldSize: 2, masterPort: port, timeoutSeconds: 1 });
    await expect(joining).rejects.toBeInstanceOf(DistributedError);
    await expect(joining).rejects.toThrow(`rank 1 cannot reach the rendezvous store at 127.0.0.1:${port} within 1 s`);
  });

  it('refuses bad options naming them', async () => {
    await expect(initProcessGroup({ rank: 2, worldSize: 2, masterPort: 29500 })).rejects.toThrow('rank: expected an integer in [0, 2), received 2');
    await expect(initProcessGroup({ rank: 0, worldSize: 2, masterPort: 70000 })).rejects.toThrow('masterPort: expected a port number in [1, 65535], received 70000');
    await expect(initProcessGroup({ rank: 0, worldSize: 2, timeoutSeconds: 0 })).rejects.toThrow('timeoutSeconds: expected a positive number, received number 0');
  });
});
