// Running out of resources: a batch too large for memory is a clear error naming the batch and image size, not a
// crash, and the process goes on; a checkpoint write that fails (a full disk, simulated with a file size limit)
// leaves the earlier checkpoints whole and resumable. Each case runs in a child process under a ulimit.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const fixtures = join(import.meta.dirname, 'fixtures');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Runs `node script args` under `ulimit` settings (a shell's -v / -f); returns its exit code and JSON output. */
async function underLimit(limit: string, script: string, args: string[]): Promise<{ code: number; out: Record<string, unknown>; stderr: string }> {
  const command = `${limit ? `ulimit ${limit}; ` : ''}exec "$0" "$@"`;
  try {
    const { stdout, stderr } = await run('bash', ['-c', command, process.execPath, join(fixtures, script), ...args], { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
    return { code: 0, out: JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    const last = e.stdout?.trim().split('\n').at(-1);
    return { code: e.code, out: last?.startsWith('{') ? (JSON.parse(last) as Record<string, unknown>) : {}, stderr: e.stderr };
  }
}

describe('resources', () => {
  it('a batch too large for memory: RangeError naming the batch and the view size; the process goes on', async () => {
    // 8 GiB of address space: LibTorch and Node start in it, 64 views of 512 px through ResNet-18 do not fit.
    const r = await underLimit('-v 8388608', 'oom-step.mjs', ['64', '512']);
    expect(r.code, r.stderr).toBe(0);
    const failure = r.out.failure as { name: string; message: string } | null;
    expect(failure, JSON.stringify(r.out)).not.toBeNull();
    expect(failure!.name).toBe('RangeError');
    expect(failure!.message).toMatch(/^batch: 64 images with views of 512x512 px need more memory than cpu has \(/);
    expect(failure!.message).toMatch(/lower the batch size \(--batch-size\) or the image size \(--image-size\)$/);
    expect(Number.isFinite(r.out.afterLoss)).toBe(true); // a later, smaller step still trains
  }, 120_000);

  it('a checkpoint write failing (disk full) leaves the earlier checkpoint intact and resumable', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'byol-diskfull-')), 'checkpoints');
    dirs.push(dir);
    const first = await underLimit('', 'checkpoint-phase.mjs', [dir, '2']);
    expect(first.code, first.stderr).toBe(0);
    // Files may not grow past 1 KiB now: the next checkpoint's first weights file fails with EFBIG.
    const full = await underLimit('-f 1', 'checkpoint-phase.mjs', [dir, '4']);
    expect(full.code, full.stderr).toBe(1);
    expect(full.out.message).toMatch(new RegExp(`^checkpoint: cannot write ${dir}/step-000000003 \\(.*(too large|EFBIG).*\\); the earlier checkpoints in ${dir} are intact$`, 'i'));
    expect((full.out.checkpoints as string[]).map((p) => p.split('/').at(-1))).toEqual(['step-000000001', 'step-000000002']);
    expect((await readdir(dir)).filter((n) => n.includes('partial'))).toEqual([]); // the half-written folder went
    const resumed = await underLimit('', 'checkpoint-phase.mjs', [dir, '4']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.out).toMatchObject({ ok: true, steps: 4, resumedFrom: 2 });
  }, 120_000);
});
