// The Node.js releases the package supports (README, "Node.js releases"): each one, in child processes, loads the
// built package, round-trips a tensor, takes two BYOL steps of a ResNet, runs `byol train` end to end, keeps RSS
// flat over a loop that never yields, and uses the addon from worker threads; and every child then exits by
// itself, with code 0, within seconds of its work ending. The addon is an experimental Node-API module (for
// finalizers inside GC) and tears down its thread-safe function in an environment cleanup hook: this matrix is
// where each release proves both. The releases come as devDependencies (node22, node24, node26); the machine's
// own Node is a fourth column.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from './fixtures/run-cli.js';

const root = join(import.meta.dirname, '..');
const CHILD = join(import.meta.dirname, 'fixtures', 'node-matrix-child.mjs');
const MARKER = 'NODE_MATRIX_DONE ';
/** From the end of a child's work to its exit: a clean teardown takes well under a second. */
const EXIT_WITHIN_MS = 5_000;
/** Past the end of the work, a child still running is killed (and fails) after this long. */
const KILL_AFTER_MS = 15_000;

const tested = [22, 24, 26].map((major) => ({ name: `node${major}`, bin: join(root, 'node_modules', `node${major}`, 'bin', 'node'), major }));
// The Node this suite runs on (the machine's own: setup removes the node22 package's link from node_modules/.bin).
const own = { bin: process.execPath, version: process.versions.node };
const releases = [
  ...tested,
  ...(!tested.some((r) => own.version.startsWith(`${r.major}.`))
    ? [{ name: `node ${own.version} (${own.bin})`, bin: own.bin, major: Number(own.version.split('.')[0]) }]
    : []),
];

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The child's results (its marker line), when it printed them. */
  result?: Record<string, unknown> & { at: number; node: string };
  /** Milliseconds from the end of the work (the marker) to the exit. */
  exitMs?: number;
  killed?: string;
}

/**
 * Runs `bin args` and waits for its exit, within `limitMs` overall and KILL_AFTER_MS past the end of its work.
 * The work's end is the child's marker line (with its own timestamp), or the first stdout line matching `endLine`.
 */
function runChild(bin: string, args: string[], { limitMs, endLine }: { limitMs: number; endLine?: RegExp }): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OMP_NUM_THREADS: '1', OMP_WAIT_POLICY: 'PASSIVE' },
    });
    let stdout = '';
    let stderr = '';
    let workEndedAt: number | undefined;
    let result: Ended['result'];
    let killed: string | undefined;
    const kill = (why: string) => {
      killed = why;
      child.kill('SIGKILL');
    };
    const overall = setTimeout(() => kill(`ran past ${limitMs} ms in all`), limitMs);
    let afterWork: NodeJS.Timeout | undefined;
    const workEnded = (at: number) => {
      if (workEndedAt !== undefined) return;
      workEndedAt = at;
      afterWork = setTimeout(() => kill(`still running ${KILL_AFTER_MS} ms after its work ended`), KILL_AFTER_MS);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      for (const line of stdout.split('\n').slice(0, -1)) {
        if (line.startsWith(MARKER) && result === undefined) {
          result = JSON.parse(line.slice(MARKER.length)) as Ended['result'];
          workEnded(result!.at);
        } else if (endLine?.test(line)) {
          workEnded(Date.now());
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const exitedAt = Date.now();
      clearTimeout(overall);
      clearTimeout(afterWork);
      // 'close' (all output read) can come after 'exit': wait for it before reading the last lines.
      child.on('close', () => {
        resolve({ code, signal, stdout, stderr, result, killed, exitMs: workEndedAt === undefined ? undefined : exitedAt - workEndedAt });
      });
    });
  });
}

/** The clean-exit assertion every child makes: its work ended, then it exited by itself, with 0, promptly. */
function expectCleanExit(r: Ended, what: string): void {
  const context = `${what}: exit code ${r.code}, signal ${r.signal}${r.killed ? `, killed: ${r.killed}` : ''}\nstderr:\n${r.stderr.slice(-3000)}`;
  expect(r.killed, context).toBeUndefined();
  expect(r.exitMs, `${what}: its work never ended (no marker)\n${context}`).toBeTypeOf('number');
  expect(r.code, context).toBe(0);
  expect(r.exitMs!, `${what}: ms from the end of its work to its exit`).toBeLessThan(EXIT_WITHIN_MS);
}

const seen: Record<string, string[]> = {};
let runs: string;
beforeAll(async () => {
  runs = await mkdtemp(join(tmpdir(), 'byol-node-matrix-'));
});
afterAll(async () => {
  await rm(runs, { recursive: true, force: true });
  console.log(Object.entries(seen).map(([name, lines]) => `${name}: ${lines.join(', ')}`).join('\n'));
});

describe.each(releases)('$name', ({ name, bin, major }) => {
  const note = (line: string) => (seen[name] ??= []).push(line);
  const child = async (kase: string, limitMs: number, nodeArgs: string[] = []) => {
    const r = await runChild(bin, [...nodeArgs, CHILD, kase], { limitMs });
    expectCleanExit(r, `${name} ${kase}`);
    expect(r.result!.node).toMatch(new RegExp(`^v${major}\\.`));
    note(`${kase} exit ${r.exitMs} ms`);
    return r.result!;
  };

  it('is installed', () => {
    expect(existsSync(bin), `${bin} is missing: npm ci installs the tested releases (devDependencies node22, node24, node26)`).toBe(true);
  });

  it('loads the package and reports its LibTorch', async () => {
    const r = await child('load', 30_000);
    expect(r.libtorch).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.cores).toBeGreaterThanOrEqual(1);
  });

  it('round-trips a tensor', async () => {
    const r = await child('roundtrip', 30_000);
    expect(r).toMatchObject({ shape: [2, 2], squared: [1, 4, 9, 16], product: [7, 10, 15, 22] });
  });

  it('takes two BYOL steps of a small-stem ResNet-18', async () => {
    const r = (await child('byol', 60_000)) as unknown as { losses: number[]; step: number };
    expect(r.losses).toHaveLength(2);
    for (const loss of r.losses) expect(Number.isFinite(loss), `loss ${loss}`).toBe(true);
    expect(r.step).toBe(2);
  });

  it('keeps RSS flat over create / op / dispose cycles that never yield', async () => {
    const r = (await child('rss', 60_000, ['--expose-gc'])) as unknown as { rss: number[]; perRound: number; tensors: number };
    // MiB of growth per round of 10,000 cycles (the median round-to-round increment: node-matrix-child.mjs says why)
    expect(r.perRound, `RSS after each round (MiB): ${r.rss.map((x) => x.toFixed(1)).join(' ')}`).toBeLessThan(1);
    expect(r.tensors).toBeLessThan(10);
  });

  it('works in worker threads beside the main thread', async () => {
    const r = await child('worker', 30_000);
    expect(r).toMatchObject({
      before: [2, 3],
      after: [6, 8],
      finished: { squared: [1, 4, 9], productShape: [64, 64] },
      finishedCode: 0,
      terminatedCode: 1,
    });
  });

  it('runs `byol train --steps 2` end to end', async () => {
    const out = join(runs, `train-node${major}`); // one release per major
    const r = await runChild(bin, [
      CLI, 'train', '--dataset', 'fashion-mnist', '--views', 'small-gray', '--arch', 'resnet18', '--small-stem',
      '--image-size', '16', '--batch-size', '8', '--hidden-size', '32', '--projection-size', '16', '--steps', '2',
      '--progress', 'none', '--threads', '1', '--out', out,
    ], { limitMs: 90_000, endLine: /^trained 2 steps/ });
    expectCleanExit(r, `${name} byol train`);
    note(`train exit ${r.exitMs} ms`);
    expect((await readdir(out)).sort()).toEqual(['checkpoints', 'config.json', 'encoder.safetensors', 'loss.png', 'metrics.jsonl']);
    expect((await readdir(join(out, 'checkpoints'))).length).toBeGreaterThan(0);
  });
});
