// The training loop: exact resume, surviving a kill mid-checkpoint, failures that say what to do.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listCheckpoints } from '../lib/checkpoint.js';
import { tensorBatches } from '../lib/data/index.js';
import { BYOL } from '../lib/byol.js';
import { rand, full } from '../lib/tensor.js';
import { train, TrainingError } from '../lib/trainer.js';
import { tinyRun } from './fixtures/tiny-run.js';

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'byol-trainer-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('train', () => {
  it('resuming from the latest checkpoint reproduces the uninterrupted run (1e-5)', async () => {
    const a = tinyRun(5);
    const full12 = await train({ ...a, steps: 12, progress: 'none' });
    expect(full12.losses).toHaveLength(12);

    const dir = await tempDir();
    const b = tinyRun(5);
    const firstHalf = await train({ ...b, steps: 12, checkpointDir: dir, checkpointEvery: 5, progress: 'none', onStep: (s) => {
      if (s.step === 7) throw new Error('interrupted');
    } }).catch((e: Error) => e);
    expect((firstHalf as Error).message).toBe('interrupted');
    expect((await listCheckpoints(dir)).map((p) => p.split('/').at(-1))).toEqual(['step-000000005']);

    const c = tinyRun(99); // different init: everything must come from the checkpoint
    const resumed = await train({ ...c, steps: 12, checkpointDir: dir, checkpointEvery: 5, resume: true, progress: 'none' });
    expect(resumed.resumedFrom).toBe(5);
    expect(resumed.losses).toHaveLength(12);
    resumed.losses.forEach((loss, i) => expect(Math.abs(loss - full12.losses[i])).toBeLessThan(1e-5));
    expect(resumed.encoderPath).toBe(join(dir, 'encoder.safetensors'));
  });

  it('a run killed while writing a checkpoint resumes from the last complete one', async () => {
    const dir = await tempDir();
    const child = spawn(process.execPath, [join(__dirname, 'fixtures/train-child.mjs'), dir], { stdio: 'inherit' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // Wait for two complete checkpoints, then for a half-written one, and kill the process right there.
    const deadline = Date.now() + 60_000;
    let killedDuringWrite = false;
    while (Date.now() < deadline) {
      const names = await readdir(dir).catch(() => [] as string[]);
      const complete = names.filter((n) => /^step-\d+$/.test(n));
      if (complete.length >= 2 && names.some((n) => n.includes('.partial-'))) {
        child.kill('SIGKILL');
        killedDuringWrite = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await exited;
    expect(killedDuringWrite).toBe(true);
    const names = await readdir(dir);
    expect(names.some((n) => n.includes('.partial-'))).toBe(true); // the half-written folder is still there
    const latest = (await listCheckpoints(dir)).at(-1)!;
    const latestStep = Number(latest.match(/step-(\d+)$/)![1]);

    const { learner, optimizer, data } = tinyRun(0);
    const resumed = await train({ learner, optimizer, data, steps: latestStep + 1, checkpointDir: dir, resume: true, progress: 'none' });
    expect(resumed.resumedFrom).toBe(latestStep);
    expect(resumed.steps).toBe(latestStep + 1);
    expect((await readdir(dir)).some((n) => n.includes('.partial-'))).toBe(false); // cleaned up on resume
  });

  it('a NaN loss stops training with an error naming the step and the last good checkpoint', async () => {
    const dir = await tempDir();
    const { learner, optimizer } = tinyRun(1);
    const good = rand([8, 3, 16, 16]);
    const data = {
      batchesPerEpoch: 4,
      async batch(epoch: number, index: number) {
        return epoch === 0 && index === 3 ? full([4, 3, 16, 16], Number.NaN) : good.slice(0, 0, 4);
      },
    };
    const error = await train({ learner, optimizer, data, steps: 4, checkpointDir: dir, checkpointEvery: 2, progress: 'none' }).catch((e) => e);
    expect(error).toBeInstanceOf(TrainingError);
    expect(error.message).toMatch(/training stopped at step 3: the loss became NaN/);
    expect(error.message).toContain(join(dir, 'step-000000002'));
  });

  it('logEvery: reads every k steps, records every loss, and matches a run that reads every step', async () => {
    const everyStep = await train({ ...tinyRun(3), steps: 7, progress: 'none' });
    const seen: number[] = [];
    const { learner, optimizer, data } = tinyRun(3);
    const sparse = await train({ learner, optimizer, data, steps: 7, logEvery: 3, progress: 'none', onStep: (s) => void seen.push(s.step) });
    expect(seen).toEqual([3, 6, 7]); // every third step, and the last
    expect(sparse.losses).toHaveLength(7);
    sparse.losses.forEach((loss, i) => expect(loss).toBe(everyStep.losses[i]));
    await expect(train({ ...tinyRun(3), steps: 1, logEvery: 0, progress: 'none' })).rejects.toThrow(
      'logEvery: expected a positive integer, received number 0',
    );
  });

  it('accumulate and maxGradNorm reach the learner: k micro-batches per step, clipped updates', async () => {
    const losses: number[] = [];
    const { learner, optimizer, data } = tinyRun(4);
    const result = await train({ learner, optimizer, data, steps: 3, accumulate: 2, maxGradNorm: 1e-3, progress: 'none', onStep: (s) => void losses.push(s.loss) });
    expect(result.losses).toHaveLength(3);
    expect(learner.state.step).toBe(3); // one EMA update per optimizer step
    expect(learner.state.viewBatches).toBe(6); // two micro-batches each
    expect(optimizer.steps).toBe(3);
    expect(losses.every(Number.isFinite)).toBe(true);
  });

  it('refuses bad options before any work', async () => {
    const { learner, optimizer, data } = tinyRun(2);
    await expect(train({ learner, optimizer, data, progress: 'none' })).rejects.toThrow('train: expected exactly one of epochs and steps');
    await expect(train({ learner, optimizer, data, steps: 0, progress: 'none' })).rejects.toThrow('steps: expected a positive integer, received number 0');
    await expect(train({ learner: {} as BYOL, optimizer, data, steps: 1 })).rejects.toThrow(/learner: expected a BYOL learner/);
    await expect(train({ learner, optimizer, data, steps: 1, resume: true })).rejects.toThrow('resume: needs checkpointDir');
    expect(() => tensorBatches(rand([3, 3, 4, 4]), { batchSize: 4 })).toThrow('batchSize: expected at most the 3 images available, received 4');
  });
});
