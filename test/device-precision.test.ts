// The device and precision options on a machine without a GPU: bf16 autocast on the CPU, what CUDA-only options
// say here, the device facts (memory(), pin(), Module.device), stopping a run by signal and resuming it, and
// the progress line's device memory. The CUDA side runs in scripts/device's check (test/cuda/).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BYOL } from '../lib/byol.js';
import { listCheckpoints } from '../lib/checkpoint.js';
import { SGD } from '../lib/optim.js';
import { createProgress } from '../lib/progress.js';
import { cuda, memory } from '../lib/runtime.js';
import { manualSeed, rand, tensor } from '../lib/tensor.js';
import { train } from '../lib/trainer.js';
import { byol } from './fixtures/run-cli.js';
import { tinyEncoder } from './fixtures/tiny-encoder.js';
import { tinyRun } from './fixtures/tiny-run.js';

const plainViews = { crop: false, flipProb: 0, jitterProb: 0, grayscaleProb: 0, blurProb: 0, solarizeProb: 0 };
const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'byol-device-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function learnerIn(precision: 'fp32' | 'bf16'): BYOL {
  manualSeed(3);
  return new BYOL(tinyEncoder(), {
    imageSize: 16,
    projectionHiddenSize: 32,
    projectionSize: 16,
    decaySchedule: 'constant',
    augment1: plainViews,
    augment2: plainViews,
    seed: 1,
    precision,
  });
}

describe.skipIf(cuda.isAvailable())('precision and device on a CPU-only build', () => {
  it('bf16 trains on the CPU: a float32 loss near fp32 loss, float32 weights that move', async () => {
    const reduced = learnerIn('bf16');
    const full = learnerIn('fp32');
    expect(reduced.options.precision).toBe('bf16');
    expect(reduced.options.device).toBe('cpu');
    manualSeed(9);
    const batch = rand([4, 3, 16, 16]);
    const before = reduced.parameters()[0]!.dataSync().slice();
    const r = await reduced.step(batch, new SGD(reduced.parameters(), { lr: 0.1 }));
    const f = await full.step(batch, new SGD(full.parameters(), { lr: 0.1 }));
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(Math.abs(r.loss - f.loss)).toBeLessThan(0.05 * f.loss);
    expect(r.gradientsSkipped).toBe(false);
    expect(r.lossScale).toBeUndefined(); // no scaler outside fp16
    const after = reduced.parameters()[0]!;
    expect(after.dtype).toBe('float32');
    expect(Math.max(...Array.from(after.dataSync(), (x, i) => Math.abs(x - before[i]!)))).toBeGreaterThan(1e-4);
    expect(reduced.state.lossScale).toBeUndefined();
  });

  it('refuses fp16 and CUDA here, naming the option', () => {
    expect(() => new BYOL(tinyEncoder(), { imageSize: 16, decaySchedule: 'constant', precision: 'fp16' })).toThrow(
      /precision: 'fp16' needs a CUDA device/,
    );
    expect(() => new BYOL(tinyEncoder(), { imageSize: 16, decaySchedule: 'constant', precision: 'fp8' as 'fp16' })).toThrow(
      /precision: expected 'fp32', 'bf16' or 'fp16', received 'fp8'/,
    );
    expect(() => new BYOL(tinyEncoder(), { imageSize: 16, decaySchedule: 'constant', device: 'cuda' })).toThrow(
      /device: 'cuda' was asked for, but no CUDA device is available/,
    );
  });

  it('reports no device memory, pins to itself and places modules on the CPU', () => {
    expect(memory().devices).toEqual([]);
    const t = tensor([1, 2, 3]);
    const pinned = t.pin();
    expect(Array.from(pinned.dataSync())).toEqual([1, 2, 3]);
    expect(pinned.isPinned).toBe(false); // nothing to pin for without CUDA
    expect(tinyEncoder().device).toBe('cpu');
    expect(() => rand([2]).to('cuda:0')).toThrow(/no CUDA device is available/);
  });
});

describe('stopping a run by signal', () => {
  it('finishes the step in flight, checkpoints it, and a resume completes the run like an uninterrupted one', async () => {
    const uninterrupted = await train({ ...tinyRun(5), steps: 8, progress: 'none' });
    const dir = await tempDir();
    const controller = new AbortController();
    const first = await train({
      ...tinyRun(5),
      steps: 8,
      checkpointDir: dir,
      checkpointEvery: 100,
      progress: 'none',
      signal: controller.signal,
      onStep: (s) => {
        if (s.step === 3) controller.abort(); // e.g. Ctrl-C during step 3's logging
      },
    });
    expect(first.stoppedEarly).toBe(true);
    expect(first.steps).toBe(3);
    expect((await listCheckpoints(dir)).map((p) => p.split('/').at(-1))).toEqual(['step-000000003']);
    expect(first.encoderPath).toBe(join(dir, 'encoder.safetensors'));
    const resumed = await train({ ...tinyRun(77), steps: 8, checkpointDir: dir, resume: true, progress: 'none' });
    expect(resumed.resumedFrom).toBe(3);
    expect(resumed.stoppedEarly).toBe(false);
    resumed.losses.forEach((loss, i) => expect(Math.abs(loss - uninterrupted.losses[i]!)).toBeLessThan(1e-5));
  });

  it('an already-aborted signal still trains one step (a run always leaves a checkpoint to resume)', async () => {
    const dir = await tempDir();
    const result = await train({ ...tinyRun(2), steps: 5, checkpointDir: dir, progress: 'none', signal: AbortSignal.abort() });
    expect(result.steps).toBe(1);
    expect(result.stoppedEarly).toBe(true);
    expect(await listCheckpoints(dir)).toHaveLength(1);
  });
});

describe('byol train --time-limit, --precision, --device', () => {
  it('stops by the time limit with a checkpoint, and records the precision in config.json', async () => {
    const out = join(await tempDir(), 'run');
    const run = await byol(
      'train', '--dataset', 'fashion-mnist', '--arch', 'resnet18', '--small-stem', '--image-size', '16', '--batch-size', '8',
      '--views', 'small-gray', '--steps', '100000', '--time-limit', '2', '--precision', 'bf16', '--hidden-size', '64',
      '--projection-size', '16', '--progress', 'none', '--out', out,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/on cpu in bf16/);
    expect(run.stderr).toMatch(/stopped at step \d+ of 100000 by the time limit; checkpoint \S+step-\d+; continue with: byol train --resume --out /);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as { precision?: string };
    expect(config.precision).toBe('bf16');
    expect(await listCheckpoints(join(out, 'checkpoints'))).toHaveLength(1);
  });

  it('rejects a malformed --device before loading anything', async () => {
    const run = await byol('train', '--dataset', 'fashion-mnist', '--steps', '1', '--device', 'gpu0', '--out', join(await tempDir(), 'x'));
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/--device <name>' argument 'gpu0' is invalid. expected cpu, cuda or cuda:N/);
  });
});

describe('progress lines', () => {
  it('show the device memory when there is one', () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((m: string) => void lines.push(m));
    try {
      const progress = createProgress('lines', 1, 0);
      const fields = { epoch: 0, loss: 1, lr: 0.1, tau: 0.99, imagesPerSecond: 1000, collapse: 0.06 };
      progress.update(1, { ...fields, deviceMemory: { allocatedBytes: 3 * 2 ** 30, reservedBytes: 5.5 * 2 ** 30, peakAllocatedBytes: 4 * 2 ** 30 } });
      expect(lines[0]).toMatch(/gpu 3\.0 GiB \(reserved 5\.5, peak 4\.0\)/);
    } finally {
      spy.mockRestore();
    }
  });
});
