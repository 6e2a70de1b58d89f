// Ctrl-C and SIGTERM during `byol train` (lib/cli/interrupt.ts): the first signal ends the step in flight, writes a
// checkpoint and the encoder, prints the resume command and exits 130 / 143; a second exits at once and the run
// still resumes from its last complete checkpoint. Tested by signalling a real `byol train` child process.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listCheckpoints } from '../lib/checkpoint.js';
import { byol, CLI } from './fixtures/run-cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const runFolder = async () => {
  const d = await mkdtemp(join(tmpdir(), 'byol-interrupt-'));
  dirs.push(d);
  return join(d, 'run');
};

// A small, slow-enough run: 2,000 steps (a progress line every 20), a checkpoint only at the end (so any checkpoint seen comes from the signal).
const trainArgs = (out: string) => [
  'train', '--dataset', 'fashion-mnist', '--arch', 'resnet18', '--small-stem', '--image-size', '16', '--batch-size', '8',
  '--views', 'small-gray', '--hidden-size', '64', '--projection-size', '16', '--steps', '2000', '--checkpoint-every', '2000',
  '--progress', 'lines', '--out', out,
];

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Milliseconds from the first signal sent to the exit. */
  afterSignalMs: number;
}

/** Starts `byol train`, sends `signals` (spaced by `gapMs`) once it has logged `afterSteps` steps, and waits for the exit. */
function trainAndSignal(out: string, signals: NodeJS.Signals[], { afterSteps = 2, gapMs = 0 } = {}): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...trainArgs(out)], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
    let stderr = '';
    let sentAt = 0;
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const steps = stderr.match(/^step \d+\//gm)?.length ?? 0;
      if (sentAt === 0 && steps >= afterSteps) {
        sentAt = performance.now();
        signals.forEach((s, i) => setTimeout(() => child.kill(s), i * gapMs));
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stderr, afterSignalMs: performance.now() - sentAt });
    });
  });
}

describe('byol train interrupted', () => {
  it('Ctrl-C: finishes the step, checkpoints, prints the resume command, exits 130; --resume continues', async () => {
    const out = await runFolder();
    const ended = await trainAndSignal(out, ['SIGINT']);
    expect(ended.code, ended.stderr).toBe(130);
    expect(ended.stderr).toMatch(/SIGINT: finishing the current step and writing a checkpoint/);
    const stopped = /stopped at step (\d+) of 2000 on request; checkpoint (\S+); continue with: byol train --resume --out (\S+)/.exec(ended.stderr);
    expect(stopped, ended.stderr).not.toBeNull();
    const step = Number(stopped![1]);
    expect(stopped![3]).toBe(out);
    const checkpoints = await listCheckpoints(join(out, 'checkpoints'));
    expect(checkpoints.map((p) => p.split('/').at(-1))).toEqual([`step-${String(step).padStart(9, '0')}`]);
    expect(existsSync(join(out, 'encoder.safetensors'))).toBe(true);

    const resumed = await byol('train', '--resume', '--out', out, '--time-limit', '1', '--progress', 'none');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`from step ${step}\\)`));
  }, 180_000);

  it('SIGTERM: the same, exit code 143', async () => {
    const out = await runFolder();
    const ended = await trainAndSignal(out, ['SIGTERM']);
    expect(ended.code, ended.stderr).toBe(143);
    expect(await listCheckpoints(join(out, 'checkpoints'))).toHaveLength(1);
  }, 180_000);

  it('a second Ctrl-C exits at once; what is on disk still resumes', async () => {
    const out = await runFolder();
    const ended = await trainAndSignal(out, ['SIGINT', 'SIGINT'], { gapMs: 50 });
    expect(ended.code, ended.stderr).toBe(130);
    expect(ended.stderr).toMatch(/SIGINT again: stopping now/);
    // Whatever the second signal interrupted, only complete checkpoints are listed, and a resume (from one, or
    // from the start when none was complete) runs.
    const checkpoints = await listCheckpoints(join(out, 'checkpoints')).catch(() => []);
    expect(checkpoints.length).toBeLessThanOrEqual(1);
    const resumed = await byol('train', '--resume', '--out', out, '--time-limit', '1', '--progress', 'none');
    expect(resumed.code, resumed.stderr).toBe(0);
  }, 180_000);
});
