// The CUDA build on a machine without a GPU (what `pip install torch` gives on Linux, and the default build here):
// it loads, says CUDA is compiled in and no device is present, trains on the CPU (a BYOL step, and a data-parallel
// step of two ranks over loopback, whose NCCL group is never made), and every request for a CUDA device fails with
// an Error naming the device and saying that no GPU is present, never a crash. Skipped, saying so, for a CPU build
// and where a GPU is present (test/cuda/ covers that machine).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BYOL } from '../lib/byol.js';
import { freePort } from '../lib/cli/launch.js';
import { resnet } from '../lib/nn.js';
import { SGD } from '../lib/optim.js';
import { cuda, libtorchInfo, memory } from '../lib/runtime.js';
import { loadTensors } from '../lib/serialize.js';
import { manualSeed, rand, tensor, zeros } from '../lib/tensor.js';
import { tinyEncoder } from './fixtures/tiny-encoder.js';

const ROOT = join(import.meta.dirname, '..');
const WORKER = join(ROOT, 'test', 'fixtures', 'dp-worker.mjs');
const info = libtorchInfo();
const skip = !info.cudaBuilt ? `the addon's LibTorch ${info.libtorch} is a CPU build` : cuda.deviceCount() > 0 ? `${cuda.deviceCount()} GPUs are present` : '';
if (skip) console.warn(`skipping the CUDA-build-without-GPU tests: ${skip}`);

const NO_GPU = `no CUDA device is available (this LibTorch was built with CUDA but sees no GPU); use 'cpu'`;
const plainViews = { crop: false, flipProb: 0, jitterProb: 0, grayscaleProb: 0, blurProb: 0, solarizeProb: 0 };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byol-cuda-build-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs node with `args` to its end (killed after `timeoutMs`), keeping its output. */
function node(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

describe.skipIf(!!skip)(`the CUDA build without a GPU${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('loads, reports CUDA compiled in and no device', () => {
    expect(info.cudaBuilt).toBe(true);
    expect(info.torchSource).toMatch(/torch/);
    expect(cuda.isAvailable()).toBe(false);
    expect(cuda.deviceCount()).toBe(0);
    expect(memory().devices).toEqual([]);
  });

  it('pins a tensor to itself (no device to copy to), as a CPU build does, rather than asking for a driver', () => {
    const pinned = tensor([1, 2, 3]).pin();
    expect(pinned.isPinned).toBe(false);
    expect(Array.from(pinned.dataSync() as Float32Array)).toEqual([1, 2, 3]);
  });

  it('runs BYOL steps on the CPU: finite losses, the online weights and the target (EMA) moved', async () => {
    manualSeed(3);
    const learner = new BYOL(tinyEncoder(), {
      imageSize: 16,
      projectionHiddenSize: 32,
      projectionSize: 16,
      decaySchedule: 'constant',
      movingAverageDecay: 0.9,
      augment1: plainViews,
      augment2: { ...plainViews, flipProb: 1 },
      seed: 1,
    });
    const online = () => learner.parameters().map((p) => Array.from(p.dataSync() as Float32Array));
    const target = () => learner.modules().targetEncoder!.parameters().map((p) => Array.from(p.dataSync() as Float32Array));
    const moved = (a: number[][], b: number[][]) => a.some((p, i) => p.some((x, j) => x !== b[i]![j]));
    const opt = new SGD(learner.parameters(), { lr: 0.1 });
    const first = await learner.step(rand([4, 3, 16, 16]), opt);
    const [online1, target1] = [online(), target()];
    const second = await learner.step(rand([4, 3, 16, 16]), opt);
    for (const result of [first, second]) {
      expect(Number.isFinite(result.loss)).toBe(true);
      expect(result.loss).toBeGreaterThan(0);
      expect(result.optimizerStepped).toBe(true);
    }
    expect(moved(online(), online1)).toBe(true);
    expect(moved(target(), target1)).toBe(true);
  });

  it('runs a data-parallel step on the CPU: two ranks over loopback (Gloo), synchronised BatchNorm', async () => {
    const out = join(dir, 'dp.safetensors');
    const port = await freePort('127.0.0.1');
    const env = { OUT: out, STEPS: '1', BATCH: '4', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), WORLD_SIZE: '2' };
    const exits = await Promise.all([0, 1].map((rank) => node([WORKER], { ...env, RANK: String(rank) })));
    for (const exit of exits) expect(exit.code, exit.stderr).toBe(0);
    const saved = await loadTensors(out);
    expect(saved.metadata.worldSize).toBe('2');
    const losses = JSON.parse(saved.metadata.losses!) as number[];
    expect(losses).toHaveLength(1);
    expect(Number.isFinite(losses[0])).toBe(true);
  }, 120_000);

  it("refuses a tensor on 'cuda' or 'cuda:0' with an Error naming the device and that no GPU is present", () => {
    const t = tensor([1, 2, 3]);
    expect(() => t.to('cuda')).toThrow(new RangeError(`device: 'cuda' was asked for, but ${NO_GPU}`));
    expect(() => t.to('cuda:0')).toThrow(new RangeError(`device: 'cuda:0' was asked for, but ${NO_GPU}`));
    expect(() => zeros([2], { device: 'cuda' })).toThrow(new RangeError(`device: 'cuda' was asked for, but ${NO_GPU}`));
    // The tensor is untouched and still usable.
    expect(Array.from(t.dataSync() as Float32Array)).toEqual([1, 2, 3]);
  });

  it("refuses a module and a BYOL learner on 'cuda' the same way, and the process goes on", async () => {
    expect(() => resnet(18, { smallStem: true, classifier: false }).to('cuda')).toThrow(new RangeError(`device: 'cuda' was asked for, but ${NO_GPU}`));
    expect(
      () =>
        new BYOL(tinyEncoder(), {
          imageSize: 16,
          projectionHiddenSize: 32,
          projectionSize: 16,
          decaySchedule: 'constant',
          device: 'cuda',
          augment1: plainViews,
          augment2: plainViews,
        }),
    ).toThrow(new RangeError(`device: 'cuda' was asked for, but ${NO_GPU}`));
    // Still alive and working on the CPU.
    const learner = new BYOL(tinyEncoder(), {
      imageSize: 16,
      projectionHiddenSize: 32,
      projectionSize: 16,
      decaySchedule: 'constant',
      augment1: plainViews,
      augment2: plainViews,
    });
    const result = await learner.step(rand([2, 3, 16, 16]), new SGD(learner.parameters(), { lr: 0.01 }));
    expect(Number.isFinite(result.loss)).toBe(true);
  });
});
