// `byol train --nproc-per-node N`: the local launcher, like `torchrun --standalone` (and torchrun's static
// multi-node launch with --nnodes/--node-rank/--master-addr/--master-port). It starts N copies of the training
// command with the torchrun variables set (see ../distributed/launch-env.ts), waits for them, and when one
// fails stops the rest, so a dead rank never leaves the others blocked in a collective.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism, constants } from 'node:os';
import { launchEnvOf } from '../distributed/launch-env.js';

export interface LaunchOptions {
  /** Worker processes on this node (--nproc-per-node). */
  nprocPerNode: number;
  /** Nodes in the job (--nnodes). Default 1. */
  nnodes?: number;
  /** This node's index in [0, nnodes) (--node-rank). Default 0. */
  nodeRank?: number;
  /** Host of the rendezvous store, hosted by global rank 0 (--master-addr). Default '127.0.0.1'; required when nnodes > 1. */
  masterAddr?: string;
  /** Its port (--master-port). Default: a free port on masterAddr when nnodes is 1; required when nnodes > 1. */
  masterPort?: number;
  /**
   * What each worker runs: [executable, ...args]. The CLI passes
   * [process.execPath, <dist/cli/main.js>, 'train', ...the user's arguments without the launcher flags].
   */
  command: string[];
  /**
   * Intra-op threads per worker, passed as OMP_NUM_THREADS (as torchrun does; byol-torch and PyTorch read it). Default: the cores divided among the local workers,
   * max(1, floor(os.availableParallelism() / nprocPerNode)), so N workers do not oversubscribe the CPU.
   */
  threadsPerWorker?: number;
  /** Seconds between SIGTERM and SIGKILL when stopping the other workers after a failure. Default 10. */
  graceSeconds?: number;
  /** Where the launcher's own messages go. Default: stderr. */
  log?: (message: string) => void;
  /** The environment workers inherit (the torchrun variables are added to it). Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The flags the launcher consumes; the workers get the user's arguments without them. */
export const LAUNCHER_FLAGS = ['--nproc-per-node', '--nnodes', '--node-rank', '--master-addr', '--master-port'] as const;

/** `argv` without the launcher flags and their values, in both the `--flag value` and `--flag=value` forms. */
export function withoutLauncherFlags(argv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if ((LAUNCHER_FLAGS as readonly string[]).includes(arg)) i++; // skip its value too
    else if (!LAUNCHER_FLAGS.some((flag) => arg.startsWith(`${flag}=`))) kept.push(arg);
  }
  return kept;
}

/**
 * A port that was free on `host` a moment ago: the kernel picks it for a listener on port 0, which is then
 * closed. Another process could take it before rank 0 binds it; torchrun's standalone mode takes the same risk.
 */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error) => reject(new Error(`--master-addr: cannot listen on ${host} to find a free port: ${error.message}`)));
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface Worker {
  rank: number;
  child: ChildProcess;
  running: boolean;
}

/**
 * Starts the local workers and waits for them all. Resolves to the exit code the launcher should use: 0 when
 * every worker exited 0; else the first failed worker's code (1 when it was killed by a signal), or 128 + the
 * signal number when the launcher itself was interrupted.
 */
export async function launchWorkers(options: LaunchOptions): Promise<number> {
  const o = await resolveOptions(options);
  const log = options.log ?? ((message: string) => process.stderr.write(`${message}\n`));
  const worldSize = o.nnodes * o.nprocPerNode;
  const workers: Worker[] = [];
  for (let localRank = 0; localRank < o.nprocPerNode; localRank++) {
    const rank = o.nodeRank * o.nprocPerNode + localRank;
    const vars = launchEnvOf({ rank, worldSize, localRank, localWorldSize: o.nprocPerNode, masterAddr: o.masterAddr, masterPort: o.masterPort });
    // Each worker leads its own process group (as torchrun does): a Ctrl-C on the terminal reaches only the
    // launcher, which passes it on once, and stopping a worker also stops anything it started.
    const child = spawn(o.command[0]!, o.command.slice(1), {
      stdio: 'inherit',
      detached: true,
      env: { ...o.env, ...vars, OMP_NUM_THREADS: String(o.threadsPerWorker) },
    });
    workers.push({ rank, child, running: true });
  }

  return new Promise<number>((resolve) => {
    let exitCode: number | undefined; // set by the first failure or interruption; later exits keep it
    let interrupts = 0;
    let killTimer: NodeJS.Timeout | undefined;
    const signalAll = (signal: NodeJS.Signals) => {
      for (const w of workers) if (w.running) signalGroup(w.child, signal);
    };

    const onSignal = (signal: NodeJS.Signals) => {
      interrupts++;
      if (interrupts === 1) {
        exitCode ??= 128 + constants.signals[signal];
        log(`byol train: received ${signal}; passing it to the workers and waiting for them (send it again to kill them)`);
        signalAll(signal);
      } else {
        log(`byol train: received ${signal} again; killing the workers`);
        signalAll('SIGKILL');
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    const exited = (w: Worker, code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (!w.running) return; // 'error' and 'exit' may both come for one worker
      w.running = false;
      if ((code !== 0 || error) && exitCode === undefined) {
        exitCode = code !== null && code !== 0 ? code : 1;
        const how = error ? `could not be started (${error.message})` : signal ? `was killed by ${signal}` : `exited with code ${code}`;
        log(`byol train: worker rank ${w.rank}${w.child.pid ? ` (pid ${w.child.pid})` : ''} ${how}; stopping the other workers`);
        signalAll('SIGTERM');
        killTimer = setTimeout(() => signalAll('SIGKILL'), o.graceSeconds * 1000);
      }
      if (workers.every((other) => !other.running)) {
        clearTimeout(killTimer);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        resolve(exitCode ?? 0);
      }
    };
    for (const w of workers) {
      w.child.once('exit', (code, signal) => exited(w, code, signal));
      w.child.once('error', (error) => exited(w, null, null, error));
    }
  });
}

/** Signals a worker's process group; a group that is already gone is not an error. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (process.platform === 'win32') child.kill(signal);
    else process.kill(-child.pid, signal);
  } catch {
    // ESRCH: it exited between its last event and now.
  }
}

type ResolvedOptions = Required<Omit<LaunchOptions, 'log'>>;

async function resolveOptions(options: LaunchOptions): Promise<ResolvedOptions> {
  const { nprocPerNode, nnodes = 1, nodeRank = 0, masterAddr = '127.0.0.1', graceSeconds = 10, command } = options;
  positiveInteger('--nproc-per-node', nprocPerNode);
  positiveInteger('--nnodes', nnodes);
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes) {
    throw new RangeError(`--node-rank: expected an integer in [0, --nnodes=${nnodes}), received ${nodeRank}`);
  }
  if (typeof masterAddr !== 'string' || !/^\S+$/.test(masterAddr)) {
    throw new RangeError(`--master-addr: expected a host name or address, received ${JSON.stringify(masterAddr)}`);
  }
  if (nnodes > 1 && options.masterAddr === undefined) {
    throw new RangeError(`--master-addr: required with --nnodes ${nnodes}: the address of node 0, reachable from every node`);
  }
  if (nnodes > 1 && options.masterPort === undefined) {
    throw new RangeError(`--master-port: required with --nnodes ${nnodes}: the same free port on every node (torchrun uses 29500)`);
  }
  const masterPort = options.masterPort ?? (await freePort(masterAddr));
  if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535) {
    throw new RangeError(`--master-port: expected a port number (1-65535), received ${masterPort}`);
  }
  const threadsPerWorker = options.threadsPerWorker ?? Math.max(1, Math.floor(availableParallelism() / nprocPerNode));
  positiveInteger('--threads', threadsPerWorker);
  if (!(graceSeconds >= 0)) throw new RangeError(`graceSeconds: expected a number >= 0, received ${graceSeconds}`);
  if (!Array.isArray(command) || command.length === 0 || command.some((part) => typeof part !== 'string')) {
    throw new TypeError('command: expected [executable, ...args], a non-empty array of strings');
  }
  return { nprocPerNode, nnodes, nodeRank, masterAddr, masterPort, command, threadsPerWorker, graceSeconds, env: options.env ?? process.env };
}

function positiveInteger(flag: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${flag}: expected an integer >= 1, received ${value}`);
}
