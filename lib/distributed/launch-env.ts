// The torchrun environment: the variables torchrun (or `byol train --nproc-per-node`) sets for each worker,
// read and checked in one place, so a worker started by hand with a typo fails naming the variable instead of
// hanging in the rendezvous.

/** Where this process sits in the process group, as torchrun describes it. */
export interface LaunchEnv {
  /** Global rank, in [0, worldSize). */
  rank: number;
  worldSize: number;
  /** Rank among the workers of this node, in [0, localWorldSize). */
  localRank: number;
  localWorldSize: number;
  /** Host of the TCPStore every rank meets at. */
  masterAddr: string;
  masterPort: number;
  /**
   * True under torchrun's elastic agent (TORCHELASTIC_USE_AGENT_STORE=True): the agent already hosts the TCPStore
   * on MASTER_PORT, so every rank joins it as a client, under the key prefix `/worker/attempt_<restartCount>`.
   * False (set by hand, or by `byol train --nproc-per-node`): rank 0 hosts the store.
   */
  useAgentStore: boolean;
  /** TORCHELASTIC_RESTART_COUNT: how many times the agent restarted the workers (names the store prefix). */
  restartCount: number;
}

/** The part of LaunchEnv a launcher chooses; the rest is fixed for a launch without an elastic agent. */
export type LaunchEnvOptions = Omit<LaunchEnv, 'useAgentStore' | 'restartCount'>;

const REQUIRED = 'a distributed worker needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (torchrun sets them all)';

/** Reads the torchrun variables; undefined when neither RANK nor WORLD_SIZE is set (a single-process run). */
export function readLaunchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv | undefined {
  if (env.RANK === undefined && env.WORLD_SIZE === undefined) return undefined;
  const worldSize = integer(env, 'WORLD_SIZE', 1, Infinity, 'an integer >= 1');
  const rank = integer(env, 'RANK', 0, worldSize - 1, `an integer in [0, WORLD_SIZE=${worldSize})`);
  const localWorldSize = integer(env, 'LOCAL_WORLD_SIZE', 1, worldSize, `an integer in [1, WORLD_SIZE=${worldSize}]`, String(worldSize));
  const localRank = integer(env, 'LOCAL_RANK', 0, localWorldSize - 1, `an integer in [0, LOCAL_WORLD_SIZE=${localWorldSize})`, String(rank));
  const masterAddr = env.MASTER_ADDR;
  if (masterAddr === undefined || !/^\S+$/.test(masterAddr)) {
    throw new RangeError(`MASTER_ADDR: expected a host name or address, ${received(masterAddr)}`);
  }
  const masterPort = integer(env, 'MASTER_PORT', 1, 65535, 'a port number (1-65535)');
  const agentStore = env.TORCHELASTIC_USE_AGENT_STORE ?? 'False';
  if (agentStore !== 'True' && agentStore !== 'False') {
    throw new RangeError(`TORCHELASTIC_USE_AGENT_STORE: expected "True" or "False" (as torchrun writes it), ${received(agentStore)}`);
  }
  const restartCount = integer(env, 'TORCHELASTIC_RESTART_COUNT', 0, Infinity, 'an integer >= 0', '0');
  return { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort, useAgentStore: agentStore === 'True', restartCount };
}

/**
 * The variables torchrun would set for one worker of a launch without an elastic agent (rank 0 hosts the store).
 * They are checked as the worker will check them, so a bad launch fails here, before any process starts.
 */
export function launchEnvOf(options: LaunchEnvOptions): Record<string, string> {
  const vars = {
    RANK: String(options.rank),
    LOCAL_RANK: String(options.localRank),
    WORLD_SIZE: String(options.worldSize),
    LOCAL_WORLD_SIZE: String(options.localWorldSize),
    // The node's rank: every node runs localWorldSize workers.
    GROUP_RANK: String(Math.floor(options.rank / options.localWorldSize)),
    MASTER_ADDR: options.masterAddr,
    MASTER_PORT: String(options.masterPort),
    TORCHELASTIC_USE_AGENT_STORE: 'False',
    TORCHELASTIC_RESTART_COUNT: '0',
  };
  readLaunchEnv(vars);
  return vars;
}

function integer(env: NodeJS.ProcessEnv, name: string, min: number, max: number, expected: string, fallback?: string): number {
  const text = env[name] ?? fallback;
  const value = text !== undefined && /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new RangeError(`${name}: expected ${expected}, ${received(text)}`);
  return value;
}

function received(text: string | undefined): string {
  return text === undefined ? `received nothing (${REQUIRED})` : `received ${JSON.stringify(text)}`;
}
