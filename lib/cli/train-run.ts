// `byol train`: one BYOL pretraining run in a run folder.
//   RUN_DIR/config.json        the run's settings (what --resume continues, what eval/embed read)
//   RUN_DIR/metrics.jsonl      one line per optimizer step: loss, lr, tau, collapse, images/s, timings
//   RUN_DIR/checkpoints/       step-N checkpoints (atomic), the last two kept
//   RUN_DIR/encoder.safetensors  the trained encoder, torchvision's key names
//   RUN_DIR/loss.png           the loss curve with the collapse monitor and lr
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic.js';
import { BYOL } from '../byol.js';
import { Loader } from '../data/loader.js';
import { MetricsWriter, readMetrics } from '../metrics.js';
import { resnet } from '../nn.js';
import { Adam, LARS, SGD, excludeBiasAndNorm, type NamedParameters, type Optimizer } from '../optim.js';
import type { Precision } from '../native.js';
import type { ProgressMode } from '../progress.js';
import { manualSeed, type Device } from '../tensor.js';
import { initProcessGroup, type ProcessGroup } from '../distributed/process-group.js';
import { readLaunchEnv } from '../distributed/launch-env.js';
import { warmupCosine, type Schedule } from '../schedule.js';
import { train } from '../trainer.js';
import { ARCHITECTURES, OPTIMIZERS, PRECISIONS, VIEW_PRESETS, type ArchitectureName, type DatasetName, type OptimizerName, type ViewPreset } from './choices.js';
import { openDataset, selectionChannels } from './datasets.js';
import { viewPair } from './views.js';

export { OPTIMIZERS, TRAIN_DEFAULTS, type OptimizerName } from './choices.js';

/** Everything that determines a run; saved as config.json. */
export interface TrainConfig {
  data?: string;
  dataset?: DatasetName;
  dataRoot?: string;
  /** Channels image folders are decoded to (built-in datasets have their own). */
  channels?: 1 | 3;
  strict?: boolean;
  arch: ArchitectureName;
  smallStem: boolean;
  imageSize: number;
  batchSize: number;
  /** Exactly one of epochs and steps. */
  epochs?: number;
  steps?: number;
  optimizer: OptimizerName;
  /**
   * Peak learning rate: the rate at the end of the linear warm-up, before the cosine decay to 0. Used as given,
   * not scaled by the batch size (learningRateSchedule says why).
   */
  lr: number;
  /** Weight decay of every parameter but biases and BatchNorm weights/biases (makeOptimizer). */
  weightDecay: number;
  /** LARS's trust coefficient eta (update = lr * eta * |w| / |g|). Default 1e-3 (the paper). */
  trustCoefficient?: number;
  /** Linear warm-up steps. Default: 5% of the run. */
  warmupSteps?: number;
  /** tau_base of the target's EMA (cosine schedule to 1). */
  tau: number;
  /** Projector/predictor sizes; absent: the learner's defaults. */
  projectionSize?: number;
  hiddenSize?: number;
  views: ViewPreset;
  seed: number;
  /** Optimizer steps between checkpoints. Default: once per epoch, at most every 500 steps. */
  checkpointEvery?: number;
  /** The networks' compute type in training (absent: fp32). */
  precision?: Precision;
}

export interface TrainRunOptions {
  out: string;
  /**
   * Data-parallel settings, used when this process is a worker of a process group (the torchrun variables
   * RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT are set, by torchrun or `byol train --nproc-per-node`).
   */
  distributed?: { timeoutSeconds?: number; syncBatchNorm?: boolean };
  resume?: boolean;
  /**
   * Where to train: 'cpu' (default), 'cuda' or 'cuda:N'. Not part of the run: a run may resume elsewhere. In a
   * data-parallel run 'cuda' means each worker's own GPU, cuda:LOCAL_RANK.
   */
  device?: Device;
  /** Stop after this many seconds of training (checkpoint and encoder saved; --resume continues). */
  timeLimitSeconds?: number;
  /** Stops the run early as the time limit does (the CLI's Ctrl-C / SIGTERM). */
  signal?: AbortSignal;
  progress?: ProgressMode;
  /** Steps between reads of the loss (progress, metrics.jsonl rows). Default 1. */
  logEvery?: number;
  /** Where messages go (default: stderr). */
  log?: (message: string) => void;
}

export interface TrainSummary {
  out: string;
  /** This process's rank (0 in a single-process run): only rank 0 writes the run folder and reports. */
  rank: number;
  worldSize: number;
  steps: number;
  resumedFrom: number;
  encoderPath: string;
  metricsPath: string;
  plotPath: string;
  finalLoss: number;
  seconds: number;
  imagesPerSecond: number;
  /** The time limit ended the run before its last step. */
  stoppedEarly: boolean;
  /** Where it trained, e.g. 'cpu' or 'cuda:0'. */
  device: string;
}

const positiveInteger = (name: string, v: unknown): void => {
  if (!Number.isInteger(v) || (v as number) < 1) throw new RangeError(`${name}: expected a positive integer, received ${String(v)}`);
};
const nonNegative = (name: string, v: unknown): void => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`${name}: expected a number >= 0, received ${String(v)}`);
};

/** Checks a config before anything is created or written. */
export function checkTrainConfig(c: TrainConfig): void {
  if (!ARCHITECTURES.includes(c.arch)) throw new RangeError(`arch: expected one of ${ARCHITECTURES.join(', ')}, received ${JSON.stringify(c.arch)}`);
  if (!OPTIMIZERS.includes(c.optimizer))
    throw new RangeError(`optimizer: expected one of ${OPTIMIZERS.join(', ')}, received ${JSON.stringify(c.optimizer)}`);
  if (!VIEW_PRESETS.includes(c.views)) throw new RangeError(`views: expected one of ${VIEW_PRESETS.join(', ')}, received ${JSON.stringify(c.views)}`);
  if (c.channels !== undefined && c.channels !== 1 && c.channels !== 3) throw new RangeError(`channels: expected 1 or 3, received ${String(c.channels)}`);
  positiveInteger('image-size', c.imageSize);
  if (c.imageSize < 8) throw new RangeError(`image-size: expected at least 8, received ${c.imageSize}`);
  positiveInteger('batch-size', c.batchSize);
  if (c.batchSize < 2) throw new RangeError(`batch-size: expected at least 2 (BatchNorm needs two images per view), received ${c.batchSize}`);
  if ((c.epochs === undefined) === (c.steps === undefined)) throw new RangeError('epochs: expected exactly one of --epochs N and --steps N');
  if (c.epochs !== undefined) positiveInteger('epochs', c.epochs);
  if (c.steps !== undefined) positiveInteger('steps', c.steps);
  if (!(c.lr > 0) || !Number.isFinite(c.lr)) throw new RangeError(`lr: expected a positive number, received ${String(c.lr)}`);
  nonNegative('weight-decay', c.weightDecay);
  if (c.warmupSteps !== undefined) nonNegative('warmup-steps', c.warmupSteps);
  if (c.trustCoefficient !== undefined && !(c.trustCoefficient > 0 && Number.isFinite(c.trustCoefficient)))
    throw new RangeError(`lars-trust: expected a positive number, received ${String(c.trustCoefficient)}`);
  if (!(c.tau >= 0 && c.tau <= 1)) throw new RangeError(`tau: expected a number in [0, 1], received ${String(c.tau)}`);
  if (c.projectionSize !== undefined) positiveInteger('projection-size', c.projectionSize);
  if (c.hiddenSize !== undefined) positiveInteger('hidden-size', c.hiddenSize);
  if (!Number.isSafeInteger(c.seed) || c.seed < 0) throw new RangeError(`seed: expected an integer >= 0, received ${String(c.seed)}`);
  if (c.checkpointEvery !== undefined) positiveInteger('checkpoint-every', c.checkpointEvery);
  if (c.precision !== undefined && !PRECISIONS.includes(c.precision))
    throw new RangeError(`precision: expected one of ${PRECISIONS.join(', ')}, received ${JSON.stringify(c.precision)}`);
}

/** The device a worker trains on: 'cuda' means its own GPU in a data-parallel run (LOCAL_RANK). */
function workerDevice(device: Device | undefined, group: ProcessGroup | undefined): Device {
  if (device === undefined) return 'cpu';
  if (device === 'cuda' && group) return `cuda:${readLaunchEnv()?.localRank ?? 0}`;
  return device;
}

/**
 * The optimizer of a run. Weight decay skips biases and BatchNorm weights/biases (tensors of rank <= 1) for every
 * optimizer, as in the BYOL paper; LARS also leaves them out of its trust-ratio adaptation.
 */
export function makeOptimizer(c: Pick<TrainConfig, 'optimizer' | 'lr' | 'weightDecay' | 'trustCoefficient'>, params: NamedParameters): Optimizer {
  const exclude = excludeBiasAndNorm;
  switch (c.optimizer) {
    case 'lars':
      return new LARS(params, { lr: c.lr, momentum: 0.9, weightDecay: c.weightDecay, trustCoefficient: c.trustCoefficient ?? 1e-3, exclude });
    case 'sgd':
      return new SGD(params, { lr: c.lr, momentum: 0.9, weightDecay: c.weightDecay, exclude });
    case 'adam':
      return new Adam(params, { lr: c.lr, weightDecay: c.weightDecay, exclude });
  }
}

export interface RunSchedule {
  /** The learning rate of each optimizer step (0-based). */
  schedule: Schedule;
  /** The rate at the end of the warm-up: the run's --lr. */
  peakLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * The run's learning rate: linear warm-up from 0 over `warmupSteps` (default 5% of the run) to the peak `lr`,
 * then cosine decay to 0 at `totalSteps`.
 *
 * `lr` is the peak itself, not the paper's base rate scaled by batch/256. That scaling is LARS's (and SGD's)
 * recipe; Adam, which byol-pytorch users bring with lr 3e-4, does not follow it, and one option should mean one
 * thing for every optimizer. The rate typed is the rate used and the rate config.json records, whatever the
 * batch size or number of ranks, and the config.json of an earlier run (what --resume reads) keeps its meaning.
 * For the paper's LARS rate pass base x batch/256 (e.g. 0.2 x 64/256 = 0.05).
 */
export function learningRateSchedule(c: Pick<TrainConfig, 'lr' | 'warmupSteps'>, totalSteps: number): RunSchedule {
  if (c.warmupSteps !== undefined && c.warmupSteps >= totalSteps)
    throw new RangeError(`warmup-steps: expected fewer than the run's ${totalSteps} steps, received ${c.warmupSteps}`);
  const warmupSteps = c.warmupSteps ?? Math.min(Math.round(0.05 * totalSteps), totalSteps - 1);
  // warmupCosine peaks at baseLr x batchSize / 256: a batch of 256 makes its peak lr itself.
  const schedule = warmupCosine({ baseLr: c.lr, batchSize: 256, warmupSteps, totalSteps });
  return { schedule, peakLr: c.lr, warmupSteps, totalSteps };
}

/** Reads RUN_DIR/config.json. */
export async function readRunConfig(out: string): Promise<TrainConfig> {
  const path = join(out, 'config.json');
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`resume: cannot read ${path} (${error.code ?? error.message}); is ${out} a byol run folder?`, { cause: error });
  });
  try {
    return JSON.parse(text) as TrainConfig;
  } catch (error) {
    throw new Error(`resume: ${path} is not valid JSON`, { cause: error });
  }
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  return readdir(dir).then((entries) => entries.length === 0, () => true);
}

/** Why `out` cannot take this run (a new run needs an empty or missing folder), or undefined. */
async function checkRunFolder(out: string, resume: boolean): Promise<Error | undefined> {
  if (resume || (await isEmptyOrMissing(out))) return undefined;
  return new Error(`out: ${out} already holds files; pass --resume to continue that run, or choose another --out`);
}

/** The process group of a data-parallel worker (the torchrun variables are set); undefined for a single process. */
async function joinGroup(settings: TrainRunOptions['distributed']): Promise<ProcessGroup | undefined> {
  if (!readLaunchEnv()) return undefined;
  return initProcessGroup({ timeoutSeconds: settings?.timeoutSeconds ?? 600 });
}

/** Runs (or, with resume, continues) a BYOL pretraining run in `options.out`. */
export async function runTrain(config: TrainConfig, options: TrainRunOptions): Promise<TrainSummary> {
  const out = options.out;
  if (typeof out !== 'string' || out.length === 0) throw new RangeError('out: expected a run folder (--out RUN_DIR)');
  // A worker of a data-parallel run joins its group first: the ranks then agree on every check below.
  const group = await joinGroup(options.distributed);
  const writer = !group || group.rank === 0;
  const log = writer ? (options.log ?? ((m: string) => process.stderr.write(`${m}\n`))) : () => undefined;
  const refusal = writer ? await checkRunFolder(out, options.resume ?? false) : undefined;
  if (group) {
    // Rank 0 alone looks at the folder (the others would see the config.json it writes); all stop together.
    const [refused] = await group.broadcast([refusal ? 1 : 0]);
    if (refused) throw refusal ?? new Error(`out: rank 0 refused the run folder ${out} (see its message)`);
  } else if (refusal) {
    throw refusal;
  }
  if (options.resume) config = await readRunConfig(out);
  checkTrainConfig(config);
  const worldSize = group?.worldSize ?? 1;
  if (config.batchSize % worldSize !== 0 || config.batchSize / worldSize < 2)
    throw new RangeError(
      `batch-size: expected a multiple of the ${worldSize} ranks with at least 2 images per rank (the batch is split equally), received ${config.batchSize}`,
    );

  const channels = selectionChannels(config);
  const selection = { ...config, channels };
  const dataset = await openDataset(selection, 'train');
  // --batch-size is the global batch: each rank takes its equal share of every epoch's shuffled order.
  const data = new Loader(dataset, {
    batchSize: config.batchSize / worldSize,
    seed: config.seed,
    shuffle: true,
    dropLast: true,
    shard: { rank: group?.rank ?? 0, worldSize },
  });
  const totalSteps = config.steps ?? config.epochs! * data.batchesPerEpoch;
  const lr = learningRateSchedule(config, totalSteps);

  manualSeed(config.seed);
  const depth = Number(config.arch.slice('resnet'.length)) as 18 | 34 | 50 | 101 | 152;
  const net = resnet(depth, { inChannels: channels, smallStem: config.smallStem, classifier: false });
  const [augment1, augment2] = viewPair(config.views, config.imageSize);
  const device = workerDevice(options.device, group);
  const learner = new BYOL(net, {
    device,
    precision: config.precision ?? 'fp32',
    imageSize: config.imageSize,
    channels,
    projectionSize: config.projectionSize,
    projectionHiddenSize: config.hiddenSize,
    movingAverageDecay: config.tau,
    totalSteps,
    augment1,
    augment2,
    seed: config.seed + 1,
  });
  const optimizer = makeOptimizer(config, learner.namedParameters());
  if (group) await learner.distribute(group, { optimizer, syncBatchNorm: options.distributed?.syncBatchNorm ?? true });

  if (writer) {
    await mkdir(out, { recursive: true });
    if (!options.resume) await writeFileAtomic(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, 'config');
  }
  const checkpointDir = join(out, 'checkpoints');
  const metricsPath = join(out, 'metrics.jsonl');
  const encoderPath = join(out, 'encoder.safetensors');
  const plotPath = join(out, 'loss.png');
  log(
    `byol train: ${config.arch} on ${config.dataset ?? config.data} (${dataset.size} images, ${channels} channel${channels === 1 ? '' : 's'}), ` +
      `${totalSteps} steps of ${config.batchSize} at ${config.imageSize} px, ${config.optimizer} peak lr ${lr.peakLr} (warm-up ${lr.warmupSteps} steps, cosine to 0), tau ${config.tau}, ` +
      `on ${learner.options.device} in ${learner.options.precision}` +
      (group ? `, ${worldSize} ranks of ${config.batchSize / worldSize} images (${options.distributed?.syncBatchNorm === false ? 'local' : 'synchronised'} BatchNorm)` : ''),
  );

  const stops = [
    ...(options.timeLimitSeconds !== undefined ? [AbortSignal.timeout(options.timeLimitSeconds * 1000)] : []),
    ...(options.signal ? [options.signal] : []),
  ];
  const stopSignal = stops.length > 1 ? AbortSignal.any(stops) : stops[0];
  const started = performance.now();
  let metrics: MetricsWriter | undefined;
  const result = await train({
    learner,
    data,
    optimizer,
    steps: totalSteps,
    schedule: lr.schedule,
    checkpointDir,
    checkpointEvery: config.checkpointEvery ?? Math.min(data.batchesPerEpoch, 500),
    resume: options.resume ?? false,
    encoderPath,
    progress: writer ? (options.progress ?? 'auto') : 'none',
    logEvery: options.logEvery ?? 1,
    ...(stopSignal ? { signal: stopSignal } : {}),
    onStep: async (info) => {
      if (!writer) return;
      // Opened at the first step this run makes: rows a stopped run wrote after its last checkpoint go.
      metrics ??= await MetricsWriter.open(metricsPath, { resumeAt: info.step });
      await metrics.write({
        step: info.step,
        epoch: info.epoch,
        loss: info.loss,
        lr: info.lr,
        tau: info.tau,
        collapse: info.collapse,
        imagesPerSecond: info.imagesPerSecond,
        ms: info.timings,
      });
    },
  }).finally(() => metrics?.close());
  const seconds = (performance.now() - started) / 1000;
  if (writer) {
    if (result.stoppedEarly) {
      const why = options.signal?.aborted ? 'on request' : 'by the time limit';
      log(`byol train: stopped at step ${result.steps} of ${totalSteps} ${why}; checkpoint ${result.lastCheckpoint ?? '(none)'}; continue with: byol train --resume --out ${out}`);
    }
    const rows = await readMetrics(metricsPath);
    // The plot's renderer (vega + sharp) loads only here: a run without it still trains and saves.
    const { writeLossPlot } = await import('../plot.js');
    await writeLossPlot(plotPath, rows, { title: `BYOL ${config.arch} on ${config.dataset ?? 'images'}: training loss` });
  }
  return {
    out,
    rank: group?.rank ?? 0,
    worldSize,
    steps: result.steps,
    resumedFrom: result.resumedFrom,
    encoderPath,
    metricsPath,
    plotPath,
    finalLoss: result.losses.at(-1) ?? Number.NaN,
    seconds,
    imagesPerSecond: ((result.steps - result.resumedFrom) * config.batchSize) / seconds,
    stoppedEarly: result.stoppedEarly,
    device: learner.options.device,
  };
}
