// The launcher side of distributed training: the torchrun variables (read, checked, written), and
// launchWorkers with small fake workers (node scripts) that report what they were given, fail, ignore SIGTERM,
// or wait for the launcher's Ctrl-C. No training and no native addon: these run in seconds.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchWorkers, withoutLauncherFlags } from '../lib/cli/launch.js';
import { launchEnvOf, readLaunchEnv } from '../lib/distributed/launch-env.js';

const DIST = join(import.meta.dirname, '..', 'dist');
const CLI = join(DIST, 'cli', 'main.js');

const base = { RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500' };

describe('readLaunchEnv', () => {
  it('is undefined without RANK and WORLD_SIZE (a single-process run)', () => {
    expect(readLaunchEnv({ MASTER_ADDR: 'x', LOCAL_RANK: '0' })).toBeUndefined();
  });

  it('reads what torchrun sets, with the documented defaults', () => {
    expect(readLaunchEnv(base)).toEqual({
      rank: 1, worldSize: 2, localRank: 1, localWorldSize: 2, masterAddr: '127.0.0.1', masterPort: 29500, useAgentStore: false, restartCount: 0,
    });
    const agent = { ...base, RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', TORCHELASTIC_USE_AGENT_STORE: 'True', TORCHELASTIC_RESTART_COUNT: '2' };
    expect(readLaunchEnv(agent)).toMatchObject({ rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2, useAgentStore: true, restartCount: 2 });
  });

  it.each([
    [{ RANK: '5' }, 'RANK: expected an integer in [0, WORLD_SIZE=2), received "5"'],
    [{ RANK: '-1' }, 'RANK: expected an integer in [0, WORLD_SIZE=2), received "-1"'],
    [{ RANK: undefined }, 'RANK: expected an integer in [0, WORLD_SIZE=2), received nothing'],
    [{ WORLD_SIZE: '0' }, 'WORLD_SIZE: expected an integer >= 1, received "0"'],
    [{ WORLD_SIZE: undefined }, 'WORLD_SIZE: expected an integer >= 1, received nothing'],
    [{ WORLD_SIZE: '2.5' }, 'WORLD_SIZE: expected an integer >= 1, received "2.5"'],
    [{ LOCAL_WORLD_SIZE: '3' }, 'LOCAL_WORLD_SIZE: expected an integer in [1, WORLD_SIZE=2], received "3"'],
    [{ LOCAL_RANK: '2' }, 'LOCAL_RANK: expected an integer in [0, LOCAL_WORLD_SIZE=2), received "2"'],
    [{ MASTER_ADDR: '' }, 'MASTER_ADDR: expected a host name or address, received ""'],
    [{ MASTER_ADDR: undefined }, 'MASTER_ADDR: expected a host name or address, received nothing'],
    [{ MASTER_PORT: 'x' }, 'MASTER_PORT: expected a port number (1-65535), received "x"'],
    [{ MASTER_PORT: '65536' }, 'MASTER_PORT: expected a port number (1-65535), received "65536"'],
    [{ TORCHELASTIC_USE_AGENT_STORE: 'yes' }, 'TORCHELASTIC_USE_AGENT_STORE: expected "True" or "False" (as torchrun writes it), received "yes"'],
    [{ TORCHELASTIC_RESTART_COUNT: 'one' }, 'TORCHELASTIC_RESTART_COUNT: expected an integer >= 0, received "one"'],
  ])('rejects %j with a RangeError naming the variable', (change, message) => {
    const env: NodeJS.ProcessEnv = { ...base, ...change };
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    expect(() => readLaunchEnv(env)).toThrow(RangeError);
    expect(() => readLaunchEnv(env)).toThrow(message);
  });

  it('reads back what launchEnvOf writes', () => {
    const options = { rank: 5, worldSize: 8, localRank: 1, localWorldSize: 4, masterAddr: 'node0.example', masterPort: 1234 };
    const vars = launchEnvOf(options);
    expect(readLaunchEnv(vars)).toEqual({ ...options, useAgentStore: false, restartCount: 0 });
    expect(vars).toMatchObject({ GROUP_RANK: '1', TORCHELASTIC_USE_AGENT_STORE: 'False', TORCHELASTIC_RESTART_COUNT: '0' });
    expect(() => launchEnvOf({ ...options, rank: 8 })).toThrow('RANK: expected an integer in [0, WORLD_SIZE=8), received "8"');
  });
});

describe('withoutLauncherFlags', () => {
  it('drops the launcher flags and their values in both forms, and keeps everything else', () => {
    const argv = [
      '--nproc-per-node', '2', '--data', 'd', '--nnodes=1', '--node-rank', '0', '--master-addr=host', '--master-port', '29500',
      '--out', 'run', '--threads', '3', '--dist-timeout=60', '--local-bn',
    ];
    expect(withoutLauncherFlags(argv)).toEqual(['--data', 'd', '--out', 'run', '--threads', '3', '--dist-timeout=60', '--local-bn']);
    expect(withoutLauncherFlags(['--nproc-per-node'])).toEqual([]);
    expect(withoutLauncherFlags(['--nproc-per-nodes=2'])).toEqual(['--nproc-per-nodes=2']);
  });
});

describe('launchWorkers', () => {
  let dir: string;
  const logs: string[] = [];
  const log = (message: string) => logs.push(message);

  /** A worker script in the temp dir; `body` runs with `env` (process.env), `dir` and `pidFile`/`waitFor` helpers. */
  async function script(name: string, body: string): Promise<string[]> {
    const file = join(dir, `${name}.mjs`);
    await writeFile(
      file,
      `import { existsSync, writeFileSync } from 'node:fs';
       const env = process.env, dir = ${JSON.stringify(dir)};
       const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
       const waitFor = async (file) => { while (!existsSync(file)) await sleep(20); };
       ${body}`,
    );
    return [process.execPath, file];
  }
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const pidOf = async (name: string) => Number(await readFile(join(dir, name), 'utf8'));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'byol-launch-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts each worker with its rank, the world size, a shared free port and its share of the cores', async () => {
    const command = await script(
      'report',
      `writeFileSync(dir + '/report' + env.RANK + '.json', JSON.stringify({ rank: env.RANK, worldSize: env.WORLD_SIZE, localRank: env.LOCAL_RANK,
         threads: env.OMP_NUM_THREADS, port: env.MASTER_PORT, addr: env.MASTER_ADDR, argv: process.argv.slice(2) }));`,
    );
    const code = await launchWorkers({ nprocPerNode: 2, command: [...command, 'train', '--out', 'x'], log });
    expect(code).toBe(0);
    const reports = await Promise.all([0, 1].map(async (r) => JSON.parse(await readFile(join(dir, `report${r}.json`), 'utf8'))));
    const threads = String(Math.max(1, Math.floor(availableParallelism() / 2)));
    expect(reports.map((r) => [r.rank, r.worldSize, r.localRank, r.threads, r.addr])).toEqual([
      ['0', '2', '0', threads, '127.0.0.1'],
      ['1', '2', '1', threads, '127.0.0.1'],
    ]);
    expect(reports[0].port).toBe(reports[1].port);
    expect(Number(reports[0].port)).toBeGreaterThan(0);
    expect(reports[0].argv).toEqual(['train', '--out', 'x']);
  }, 20_000);

  it('gives global ranks from --node-rank on a node of a multi-node run', async () => {
    const command = await script('node1', `writeFileSync(dir + '/node1-' + env.LOCAL_RANK, [env.RANK, env.WORLD_SIZE, env.GROUP_RANK, env.MASTER_PORT].join(' '));`);
    const code = await launchWorkers({ nprocPerNode: 2, nnodes: 3, nodeRank: 1, masterAddr: '10.0.0.1', masterPort: 29500, threadsPerWorker: 1, command, log });
    expect(code).toBe(0);
    expect(await readFile(join(dir, 'node1-0'), 'utf8')).toBe('2 6 1 29500');
    expect(await readFile(join(dir, 'node1-1'), 'utf8')).toBe('3 6 1 29500');
  }, 20_000);

  it('stops the other workers and fails when one is killed by SIGKILL', async () => {
    logs.length = 0;
    const command = await script(
      'sigkill',
      `if (env.RANK === '0') { writeFileSync(dir + '/sigkill-pid0', String(process.pid)); await sleep(60_000); }
       else { await waitFor(dir + '/sigkill-pid0'); process.kill(process.pid, 'SIGKILL'); }`,
    );
    const started = Date.now();
    const code = await launchWorkers({ nprocPerNode: 2, command, log });
    expect(code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(logs.join('\n')).toMatch(/worker rank 1 \(pid \d+\) was killed by SIGKILL; stopping the other workers/);
    expect(alive(await pidOf('sigkill-pid0'))).toBe(false);
  }, 20_000);

  it("passes on a worker's exit code, and SIGKILLs a worker that ignores SIGTERM after graceSeconds", async () => {
    logs.length = 0;
    const command = await script(
      'stubborn',
      `if (env.RANK === '0') { process.on('SIGTERM', () => {}); writeFileSync(dir + '/stubborn-pid0', String(process.pid)); await sleep(60_000); }
       else { await waitFor(dir + '/stubborn-pid0'); process.exit(3); }`,
    );
    const started = Date.now();
    const code = await launchWorkers({ nprocPerNode: 2, command, graceSeconds: 1, log });
    const seconds = (Date.now() - started) / 1000;
    expect(code).toBe(3);
    expect(logs.join('\n')).toMatch(/worker rank 1 \(pid \d+\) exited with code 3; stopping the other workers/);
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(seconds).toBeLessThan(8);
    expect(alive(await pidOf('stubborn-pid0'))).toBe(false);
  }, 20_000);

  it('fails, naming the worker, when the command cannot start', async () => {
    logs.length = 0;
    const code = await launchWorkers({ nprocPerNode: 2, command: [join(dir, 'no-such-program')], log });
    expect(code).toBe(1);
    expect(logs.join('\n')).toMatch(/worker rank \d could not be started \(.*ENOENT/);
  }, 20_000);

  it.each([
    [{ nprocPerNode: 0 }, '--nproc-per-node: expected an integer >= 1, received 0'],
    [{ nnodes: 1.5 }, '--nnodes: expected an integer >= 1, received 1.5'],
    [{ nnodes: 2, nodeRank: 2, masterAddr: 'h', masterPort: 1 }, '--node-rank: expected an integer in [0, --nnodes=2), received 2'],
    [{ nnodes: 2, masterPort: 29500 }, '--master-addr: required with --nnodes 2'],
    [{ nnodes: 2, masterAddr: 'h' }, '--master-port: required with --nnodes 2'],
    [{ masterAddr: '' }, '--master-addr: expected a host name or address, received ""'],
    [{ masterPort: 70000 }, '--master-port: expected a port number (1-65535), received 70000'],
    [{ threadsPerWorker: 0 }, '--threads: expected an integer >= 1, received 0'],
    [{ command: [] }, 'command: expected [executable, ...args]'],
  ])('rejects %j naming the flag', async (change, message) => {
    await expect(launchWorkers({ nprocPerNode: 1, command: [process.execPath, '-e', ''], log, ...change })).rejects.toThrow(message);
  });

  it('passes a Ctrl-C on to the workers, waits for them, and exits 130', async () => {
    expect(existsSync(join(DIST, 'cli', 'launch.js')), 'dist/ is stale: run npx tsc -p tsconfig.json').toBe(true);
    const worker = await script(
      'interrupt',
      `let signals = 0;
       process.on('SIGINT', async () => { signals++; await sleep(300); writeFileSync(dir + '/interrupt-' + env.RANK, String(signals)); process.exit(0); });
       writeFileSync(dir + '/interrupt-ready' + env.RANK, '');
       await sleep(60_000);`,
    );
    const launcher = `import { launchWorkers } from ${JSON.stringify(join(DIST, 'cli', 'launch.js'))};
      process.exitCode = await launchWorkers({ nprocPerNode: 2, command: ${JSON.stringify(worker)} });`;
    // The launcher leads its own process group, as a shell's foreground job does; Ctrl-C signals that whole group.
    const child = spawn(process.execPath, ['--input-type=module', '-e', launcher], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    while (!existsSync(join(dir, 'interrupt-ready0')) || !existsSync(join(dir, 'interrupt-ready1'))) await new Promise((r) => setTimeout(r, 20));
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('received SIGINT; passing it to the workers');
    // Each worker handled the SIGINT and was waited for (it wrote its file 300 ms later, then exited).
    expect(await readFile(join(dir, 'interrupt-0'), 'utf8')).toBe('1');
    expect(await readFile(join(dir, 'interrupt-1'), 'utf8')).toBe('1');
  }, 20_000);
});

describe('byol train (built CLI in dist/)', () => {
  async function byol(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stderr: string }> {
    try {
      await promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
      return { code: 0, stderr: '' };
    } catch (error) {
      return error as { code: number; stderr: string };
    }
  }

  it('refuses to launch from inside a worker, and a multi-node launch without --master-port', async () => {
    const nested = await byol({ RANK: '0', WORLD_SIZE: '2' }, 'train', '--nproc-per-node', '2', '--out', 'unused');
    expect(nested.code).toBe(1);
    expect(nested.stderr).toContain('byol train: error: --nproc-per-node: this process is already a worker (RANK=0, WORLD_SIZE=2');
    const port = await byol({}, 'train', '--nnodes', '2', '--node-rank', '1', '--master-addr', 'node0', '--out', 'unused');
    expect(port.code).toBe(1);
    expect(port.stderr).toContain('byol train: error: --master-port: required with --nnodes 2');
  }, 20_000);

  it('lists the launcher and distributed flags in --help', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'train', '--help']);
    for (const flag of ['--nproc-per-node <n>', '--nnodes <n>', '--node-rank <n>', '--master-addr <host>', '--master-port <port>', '--dist-timeout <seconds>', '--local-bn']) {
      expect(stdout).toContain(flag);
    }
  }, 20_000);
});
