// Joining a data-parallel process group (PyTorch's c10d with Gloo, native/core/process_group.h): from the
// torchrun environment, or from explicit options. Every rank of a run joins the same group, then hands it to
// its learner (`BYOL.distribute`) before training.
import { native, type NativeProcessGroup } from '../native.js';
import { Tensor, describe } from '../tensor.js';
import { readLaunchEnv, type LaunchEnv } from './launch-env.js';

export interface ProcessGroupOptions {
  /** This process's rank in [0, worldSize). Default: from the torchrun variables (RANK, WORLD_SIZE, ...). */
  rank?: number;
  worldSize?: number;
  /** Where the ranks meet (a TCPStore). Default: MASTER_ADDR / MASTER_PORT. */
  masterAddr?: string;
  masterPort?: number;
  /** Rank among this machine's workers (default: the rank) and their number (default: worldSize). */
  localRank?: number;
  localWorldSize?: number;
  /**
   * Seconds a rendezvous or a collective may wait for the other ranks before failing (a lost or stuck rank).
   * Default 600.
   */
  timeoutSeconds?: number;
  /** The network interface Gloo uses. Default: GLOO_SOCKET_IFNAME, else loopback for a loopback master, else this host's name. */
  interface?: string;
}

/** Thrown when a collective cannot complete: a lost rank (named when it can be told), a timeout, an unreachable master. */
export class DistributedError extends Error {
  override name = 'DistributedError';
}

export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly localWorldSize: number;
  /** @internal */
  readonly native: NativeProcessGroup;

  private constructor(handle: NativeProcessGroup, localRank: number, localWorldSize: number) {
    this.native = handle;
    this.rank = handle.rank();
    this.worldSize = handle.worldSize();
    this.localRank = localRank;
    this.localWorldSize = localWorldSize;
  }

  /** Joins the group; resolves once every rank has joined (or rejects after the timeout, naming the address). */
  static async init(options: ProcessGroupOptions = {}): Promise<ProcessGroup> {
    if (typeof options !== 'object' || options === null) throw new TypeError(`options: expected an object, received ${describe(options)}`);
    const explicit = options.rank !== undefined || options.worldSize !== undefined;
    const env: LaunchEnv | undefined = explicit ? undefined : readLaunchEnv();
    if (!explicit && !env)
      throw new RangeError('rank: expected { rank, worldSize, masterAddr, masterPort } or the torchrun variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)');
    const rank = options.rank ?? env!.rank;
    const worldSize = options.worldSize ?? env!.worldSize;
    const timeoutSeconds = options.timeoutSeconds ?? 600;
    if (!(typeof timeoutSeconds === 'number' && timeoutSeconds > 0 && Number.isFinite(timeoutSeconds)))
      throw new RangeError(`timeoutSeconds: expected a positive number, received ${describe(timeoutSeconds)}`);
    const handle = await native
      .initProcessGroup({
        rank,
        worldSize,
        masterAddr: options.masterAddr ?? env?.masterAddr ?? '127.0.0.1',
        masterPort: options.masterPort ?? env?.masterPort ?? 29500,
        // torchrun's elastic agent hosts the store; its keys for this attempt live under this prefix.
        agentStore: env?.useAgentStore ?? false,
        storePrefix: env?.useAgentStore ? `/worker/attempt_${env.restartCount}` : '',
        interface: options.interface ?? process.env.GLOO_SOCKET_IFNAME ?? '',
        timeoutMs: Math.round(timeoutSeconds * 1000),
      })
      .catch(rethrowDistributed);
    return new ProcessGroup(handle, options.localRank ?? env?.localRank ?? rank, options.localWorldSize ?? env?.localWorldSize ?? worldSize);
  }

  /** Resolves once every rank has called it. */
  async barrier(): Promise<void> {
    await this.native.barrier().catch(rethrowDistributed);
  }

  /** Rank 0's numbers on every rank. */
  async broadcast(values: number[]): Promise<number[]> {
    return this.native.broadcast(values).catch(rethrowDistributed);
  }

  /** The element-wise sum of every rank's numbers. */
  async allReduceSum(values: number[]): Promise<number[]> {
    return this.native.allReduceSum(values).catch(rethrowDistributed);
  }

  /** The sum of every rank's `tensor`, in place (a contiguous CPU tensor). */
  async allReduce(tensor: Tensor): Promise<void> {
    if (!(tensor instanceof Tensor)) throw new TypeError(`tensor: expected a Tensor, received ${describe(tensor)}`);
    await this.native.allReduceTensor(tensor.handle).catch(rethrowDistributed);
  }

  /**
   * Each parameter's gradient replaced by its mean over the ranks, in 25 MiB flat buckets: what a distributed
   * learner's `step` does, for a loop written by hand (forward, backward, `averageGradients`, optimizer step).
   */
  async averageGradients(parameters: readonly Tensor[]): Promise<void> {
    if (!Array.isArray(parameters) || !parameters.every((p) => p instanceof Tensor))
      throw new TypeError(`parameters: expected an array of Tensors, received ${describe(parameters)}`);
    await this.native.averageGradients(parameters.map((p) => p.handle)).catch(rethrowDistributed);
  }

  /** Collectives so far: calls, bytes and milliseconds spent waiting in them. */
  stats(): { calls: number; bytes: number; milliseconds: number } {
    return this.native.stats();
  }
}

/** Joins a process group (see ProcessGroup.init). */
export function initProcessGroup(options: ProcessGroupOptions = {}): Promise<ProcessGroup> {
  return ProcessGroup.init(options);
}

/** The native DistributedError as this module's class (other errors unchanged). */
export function rethrowDistributed(error: unknown): never {
  if (error instanceof Error && error.name === 'DistributedError' && !(error instanceof DistributedError))
    throw new DistributedError(error.message, { cause: error });
  throw error;
}
