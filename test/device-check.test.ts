// The GPU check (scripts/device/) must not rot while no GPU is at hand: this runs its dry run, which packs .device/,
// copies what the runner would carry to a temporary folder and runs every stage there in its CPU form (Node
// from the bundle, a configure-only build, the CUDA tests skipping, the benchmarks at tiny sizes, a few-second
// train and eval), then checks the record it leaves. Takes about 1.5 minutes here once .device/ is packed; the
// first pack adds about 2 minutes (xz of the Node binary). The addon under test is the one BYOL_TORCH_BINARY names,
// else a copy of build/Release/byol_torch.node outside the tree, named by BYOL_TORCH_BINARY, so that the dry run is
// seen to check the build it is given.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

interface Goal {
  name: string;
  target: string;
  value: string;
  met: boolean | null;
  verdict: string;
}
interface Stage {
  name: string;
  status: 'ok' | 'failed' | 'timeout' | 'skipped';
  seconds: number;
  reason: string;
  figures: Record<string, string | number>;
  goals: Goal[];
}
interface Results {
  mode: string;
  seconds: number;
  budgetSeconds: number;
  stages: Stage[];
}

let out: string;
let addon: string;
let stdout = '';
let code: number | null = null;
let results: Results;
let expectedStages: string[];
let logs: string[];

beforeAll(async () => {
  expectedStages = ((await import('../scripts/device/plan.mjs')) as { STAGES: string[] }).STAGES;
  out = mkdtempSync(join(tmpdir(), 'byol-device-check-test-'));
  if (process.env.BYOL_TORCH_BINARY) addon = resolve(process.env.BYOL_TORCH_BINARY);
  else {
    addon = join(mkdtempSync(join(tmpdir(), 'byol-device-check-addon-')), 'byol_torch.node');
    copyFileSync(join(root, 'build', 'Release', 'byol_torch.node'), addon);
  }
  code = await new Promise<number | null>((done) => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'device', 'check.mjs'), '--cpu', '--out', out], {
      cwd: root,
      env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', BYOL_TORCH_BINARY: addon },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('close', done);
  });
  const file = join(out, 'results.json');
  if (!existsSync(file)) throw new Error(`the dry run left no results.json (exit ${code}):\n${stdout.slice(-4000)}`);
  results = JSON.parse(readFileSync(file, 'utf8')) as Results;
  logs = execFileSync('tar', ['-tzf', join(out, 'logs.tar.gz')], { encoding: 'utf8' }).split('\n').map((p) => p.replace(/^\.\//, ''));
}, 420_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
  if (addon && !process.env.BYOL_TORCH_BINARY) rmSync(join(addon, '..'), { recursive: true, force: true });
});

const stage = (name: string): Stage => {
  const s = results.stages.find((x) => x.name === name);
  if (!s) throw new Error(`results.json has no stage '${name}'`);
  return s;
};

describe('the GPU check, dry run on the CPU (scripts/device/check.mjs --cpu)', () => {
  it('exits 0 with every stage in order, each ran or skipped with a reason, none failed', () => {
    expect(code, stdout.slice(-4000)).toBe(0);
    expect(results.mode).toBe('dry');
    expect(results.stages.map((s) => s.name)).toEqual(expectedStages);
    for (const s of results.stages) {
      expect(['ok', 'skipped'], `${s.name}: ${s.status} ${s.reason}`).toContain(s.status);
      if (s.status === 'skipped') expect(s.reason.length, `${s.name} skipped without a reason`).toBeGreaterThan(10);
    }
    expect(results.seconds).toBeLessThan(results.budgetSeconds);
  });

  it('proves the bundle: Node from .device/, the subset complete, under the carry limit', () => {
    const bundle = stage('bundle');
    expect(bundle.status).toBe('ok');
    const [size] = bundle.goals;
    expect(size.name).toBe('carried size');
    expect(size.met).toBe(true);
    const mib = Number(/^([\d.]+) MiB$/.exec(size.value)?.[1]);
    expect(mib).toBeGreaterThan(20); // Node alone is ~21 MiB: a bundle without it would be a broken pack
    expect(mib).toBeLessThanOrEqual(60);
    expect(String(bundle.figures.data)).toMatch(/^Fashion-MNIST \d+ train \/ \d+ test$/);
  });

  it('configures the build from the same command line (LIBTORCH: the torch folder of BYOL_PYTHON) and loads dist/ with the addon it is given', () => {
    const build = stage('build');
    expect(build.status).toBe('ok');
    expect(Number(build.figures['configure s'])).toBeGreaterThan(0);
    expect(String(build.figures.LibTorch)).toMatch(/^\d+\.\d+\S* \(LIBTORCH: \/.*\/torch\)$/);
    // BYOL_TORCH_BINARY, not build/Release: the build given is the build checked.
    expect(build.figures.addon).toBe(addon);
    expect(build.figures['GPUs seen']).toBe(0);
    expect(build.goals[0].verdict).toBe('needs a GPU');
  });

  it('runs the CUDA tests with node --test: all skip, each saying why', () => {
    const tests = stage('cuda-tests');
    expect(tests.status).toBe('ok');
    expect(Number(tests.figures.tests)).toBeGreaterThanOrEqual(10);
    expect(tests.figures.skipped).toBe(tests.figures.tests);
    expect(tests.figures.fail).toBe(0);
    expect(String(tests.figures['skipped because'])).toMatch(/^no CUDA device: /);
    const tap = execFileSync('tar', ['-xzOf', join(out, 'logs.tar.gz'), './cuda-tests.tap'], { encoding: 'utf8' });
    expect(tap).toMatch(/# SKIP no CUDA device/);
  });

  it('runs every benchmark script at tiny sizes and leaves its goals to a GPU', () => {
    const figures: Record<string, string[]> = {
      'bench-step': ['ours img/s', 'eager img/s', 'byol-pytorch img/s'],
      'bench-ema': ['ours GB/s', 'copy GB/s'],
      'bench-augment': ['cpu img/s'],
    };
    for (const [name, keys] of Object.entries(figures)) {
      const s = stage(name);
      expect(s.status, `${name}: ${s.reason}`).toBe('ok');
      for (const key of keys) expect(Number(s.figures[key]), `${name}: ${key}`).toBeGreaterThan(0);
      expect(s.goals.length).toBeGreaterThan(0);
      for (const g of s.goals) expect(g.verdict, `${name}: ${g.name}`).toBe('needs a GPU');
    }
    expect(logs).toEqual(expect.arrayContaining(['bench-step-ours.json', 'bench-step-eager.json', 'bench-step-byol-pytorch.json', 'bench-ema.json']));
  });

  it('trains and evaluates for a few seconds, probe against random init', () => {
    const q = stage('quality');
    expect(q.status, q.reason).toBe('ok');
    expect(Number(q.figures.steps)).toBeGreaterThan(0);
    for (const key of ['linear probe', 'kNN', 'random init linear']) expect(String(q.figures[key])).toMatch(/^\d+\.\d\d%$/);
    expect(logs).toContain('quality/metrics.jsonl');
  });

  it('leaves three files in $OUT (8 at most come back from a GPU machine): every log and artefact in logs.tar.gz', () => {
    expect(readdirSync(out).sort()).toEqual(['logs.tar.gz', 'results.json', 'summary.md']);
    for (const s of results.stages.filter((x) => x.status !== 'skipped')) expect(logs).toContain(`${s.name}.log`);
  });

  it('prints the table last and writes it to summary.md', () => {
    const lines = stdout.trimEnd().split('\n');
    const header = lines.lastIndexOf('| stage | status | s | key figures | goals |');
    expect(header).toBeGreaterThan(0);
    const rows = lines.slice(header + 2).filter((l) => l.startsWith('| '));
    expect(rows.map((l) => l.split(' | ')[0].slice(2))).toEqual(expectedStages);
    expect(lines.at(-1)).toMatch(/^goals: \d+ of \d+ met, \d+ not judged \(need a GPU\); stages failed: none$/);
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('| stage | status | s | key figures | goals |');
  });
});

it('refuses a BYOL_TORCH_BINARY that names no file, naming it, before running any stage', () => {
  const missing = join(tmpdir(), 'byol-no-such-dir', 'byol_torch.node');
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'device', 'check.mjs'), '--cpu', '--out', join(tmpdir(), 'byol-device-check-unused')], {
    cwd: root,
    env: { ...process.env, BYOL_TORCH_BINARY: missing },
    encoding: 'utf8',
    timeout: 300_000,
  });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`check --cpu: BYOL_TORCH_BINARY: expected an addon at ${missing}`);
  expect(r.stdout).not.toContain('== copied');
}, 300_000);
