// The training loop: BYOL steps over a batch source with a learning-rate schedule, progress, a collapse monitor,
// per-phase timings, atomic checkpoints and exact resume, and the trained encoder saved at the end.
import { join } from 'node:path';
import { BYOL, BYOLError, type StepResult, type StepTimings } from './byol.js';
import { checkpointName, checkpointStep, listCheckpoints, loadCheckpoint, pruneCheckpoints, saveCheckpoint, type TrainerPosition } from './checkpoint.js';
import type { BatchSource } from './data/index.js';
import { DistributedError, type ProcessGroup } from './distributed/process-group.js';
import type { Optimizer } from './optim.js';
import { createProgress, type ProgressMode } from './progress.js';
import { deviceMemory, type DeviceMemoryInfo } from './runtime.js';
import type { Schedule } from './schedule.js';
import { describe } from './tensor.js';

export interface TrainOptions {
  /**
   * The learner. Distributed over a process group (`learner.distribute(group)`), every rank runs `train` with
   * its own share of the data (a Loader with `shard`); only rank 0 writes checkpoints and the encoder, and a
   * resume loads the checkpoint rank 0 chose on every rank (the run folder must be readable everywhere).
   */
  learner: BYOL;
  data: BatchSource;
  optimizer: Optimizer;
  /** Number of epochs (each `data.batchesPerEpoch` optimizer steps), or `steps` instead. */
  epochs?: number;
  steps?: number;
  /** Learning rate per optimizer step (0-based). Default: the optimizer's lr throughout. */
  schedule?: Schedule;
  /** Micro-batches per optimizer step (gradient accumulation). Default 1. */
  accumulate?: number;
  /** Clip the gradients' global L2 norm before each optimizer step. Default: no clipping. */
  maxGradNorm?: number;
  /** Where checkpoints go; none are written without it. */
  checkpointDir?: string;
  /** Optimizer steps between checkpoints. Default: once per epoch. The last step always checkpoints. */
  checkpointEvery?: number;
  /** Complete checkpoints kept. Default 2. */
  keepCheckpoints?: number;
  /** Continue from the latest complete checkpoint in checkpointDir (none there: start fresh). */
  resume?: boolean;
  /** Where the trained encoder is saved (safetensors, torchvision keys). Default checkpointDir/encoder.safetensors. */
  encoderPath?: string;
  /**
   * Optimizer steps between reads of the loss and collapse monitor (progress, onStep, the collapse warning).
   * Each read waits for the device, so on a GPU a larger value lets it run ahead; every step's loss is still
   * recorded. Default 1 (on the CPU a read costs nothing).
   */
  logEvery?: number;
  /** Called after every logged optimizer step (every step with the default logEvery of 1). */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** 'auto' (default): a bar on a terminal, log lines otherwise. */
  progress?: ProgressMode;
  /**
   * Stops the run early when it aborts (`AbortSignal.timeout(ms)` for a time budget, an AbortController for
   * Ctrl-C): the step in flight finishes, a checkpoint is written (with checkpointDir) and the encoder saved, and
   * the result has `stoppedEarly: true`; `resume` continues from there. Data-parallel: rank 0's signal decides for
   * every rank (a small broadcast after each step), so give every rank one or none.
   */
  signal?: AbortSignal;
}

export interface StepInfo {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  tau: number;
  /** Mean per-dimension std of the normalised online projections: ~1/sqrt(d) healthy, -> 0 collapsed. */
  collapse: number;
  imagesPerSecond: number;
  /** Milliseconds per phase; `data` is the time spent waiting for the batch. */
  timings: StepTimings & { data: number };
  /** Training on CUDA: the device's memory when this step was logged. */
  deviceMemory?: DeviceMemoryInfo;
}

export interface TrainResult {
  /** Optimizer steps done in total (including those before a resume). */
  steps: number;
  losses: number[];
  /** The step this run started from (0 unless resumed). */
  resumedFrom: number;
  lastCheckpoint?: string;
  encoderPath?: string;
  /** The signal stopped the run before its last step. */
  stoppedEarly: boolean;
}

export class TrainingError extends Error {
  override name = 'TrainingError';
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const { learner, data, optimizer } = options;
  if (!(learner instanceof BYOL)) throw new TypeError(`learner: expected a BYOL learner, received ${describe(learner)}`);
  if (typeof data?.batch !== 'function' || !(data.batchesPerEpoch >= 1))
    throw new TypeError(`data: expected a BatchSource (batchesPerEpoch, batch(epoch, index)), received ${describe(data)}`);
  const accumulate = options.accumulate ?? 1;
  if (!Number.isInteger(accumulate) || accumulate < 1)
    throw new RangeError(`accumulate: expected a positive integer, received ${describe(accumulate)}`);
  const stepsPerEpoch = Math.floor(data.batchesPerEpoch / accumulate);
  if (stepsPerEpoch < 1)
    throw new RangeError(`accumulate: expected at most ${data.batchesPerEpoch} (the batches per epoch), received ${accumulate}`);
  const totalSteps = resolveSteps(options, stepsPerEpoch);
  const checkpointEvery = options.checkpointEvery ?? stepsPerEpoch;
  if (!Number.isInteger(checkpointEvery) || checkpointEvery < 1)
    throw new RangeError(`checkpointEvery: expected a positive integer, received ${describe(checkpointEvery)}`);
  const keep = options.keepCheckpoints ?? 2;
  const logEvery = options.logEvery ?? 1;
  if (!Number.isInteger(logEvery) || logEvery < 1)
    throw new RangeError(`logEvery: expected a positive integer, received ${describe(logEvery)}`);
  const baseLr = optimizer.lr;
  const schedule = options.schedule ?? (() => baseLr);

  const group = learner.processGroup;
  // One writer: the only rank that writes checkpoints and the encoder.
  const writer = !group || group.rank === 0;
  let position: TrainerPosition = { step: 0, epoch: 0, batch: 0, losses: [] };
  let lastCheckpoint: string | undefined;
  if (options.resume) {
    if (!options.checkpointDir) throw new RangeError('resume: needs checkpointDir');
    const latest = await chooseCheckpoint(options.checkpointDir, group);
    if (latest) {
      position = await loadCheckpoint(latest, learner, optimizer);
      lastCheckpoint = latest;
      // A run saved with another number of ranks may end an epoch a batch earlier or later.
      if (position.batch >= stepsPerEpoch * accumulate) position = { ...position, epoch: position.epoch + 1, batch: 0 };
    }
    // Every rank loaded the same files; rank 0's state is broadcast anyway, so the ranks are bit-identical.
    if (group) await learner.distribute(group, { optimizer });
  }
  const resumedFrom = position.step;
  const projectionSize = learner.options.projectionSize;
  const collapseFloor = 0.2 / Math.sqrt(projectionSize);
  let warnedCollapse = false;

  const onDevice = learner.options.device.startsWith('cuda');
  // Whether to stop after this step: the signal here, or rank 0's in a process group.
  const stopRequested = async (): Promise<boolean> => {
    if (!options.signal) return false;
    if (!group) return options.signal.aborted;
    const [stop] = await group.broadcast([options.signal.aborted ? 1 : 0]);
    return stop === 1;
  };
  let stoppedEarly = false;

  learner.train(true);
  const progress = createProgress(options.progress ?? 'auto', totalSteps, position.step);
  const advance = (p: { epoch: number; batch: number }) =>
    p.batch + 1 >= stepsPerEpoch * accumulate ? { epoch: p.epoch + 1, batch: 0 } : { epoch: p.epoch, batch: p.batch + 1 };
  let cursor = { epoch: position.epoch, batch: position.batch };
  let nextBatch = data.batch(cursor.epoch, cursor.batch);
  // Steps whose results are not read yet: read together at the next logged step or checkpoint.
  let unread: { micro: StepResult[]; info: Omit<StepInfo, 'loss' | 'collapse'> }[] = [];
  const stopped = (step: number, error: unknown): never => {
    // A non-finite loss, or a lost rank / timeout of a data-parallel run: say where to resume from.
    if (error instanceof BYOLError || error instanceof DistributedError)
      throw new TrainingError(
        `training stopped at step ${step}: ${error.message}. ` +
          (lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint}.` : 'No checkpoint was written yet.'),
        { cause: error },
      );
    throw error;
  };
  // Reads every unread step (the first read waits for the device; the rest are then ready), records the losses,
  // and reports the last one.
  const readUnread = async (): Promise<void> => {
    let last: StepInfo | undefined;
    for (const entry of unread) {
      let loss = 0;
      let collapse = 0;
      try {
        for (const r of entry.micro) {
          loss += r.loss / entry.micro.length;
          collapse = r.collapse;
        }
      } catch (error) {
        stopped(entry.info.step - 1, error);
      }
      position.losses.push(loss);
      last = { ...entry.info, loss, collapse };
    }
    unread = [];
    if (!last) return;
    if (onDevice) last.deviceMemory = deviceMemory(learner.options.device);
    progress.update(last.step, last);
    if (last.collapse < collapseFloor && !warnedCollapse) {
      warnedCollapse = true;
      progress.log(
        `warning: the online projections are collapsing at step ${last.step} (collapse monitor ` +
          `${last.collapse.toFixed(5)}, healthy about ${(1 / Math.sqrt(projectionSize)).toFixed(4)}); lower the learning rate`,
      );
    }
    await options.onStep?.(last);
  };
  try {
    while (position.step < totalSteps) {
      optimizer.lr = schedule(position.step);
      const started = performance.now();
      let tau = 0;
      let dataMs = 0;
      let images = 0;
      const micro: StepResult[] = [];
      const timings: StepTimings = { augment: 0, forward: 0, backward: 0, allReduce: 0, optimizer: 0, ema: 0 };
      for (let m = 0; m < accumulate; m++) {
        const t = performance.now();
        const batch = await nextBatch;
        dataMs += performance.now() - t;
        cursor = advance(cursor);
        const isLast = position.step + 1 >= totalSteps && m + 1 === accumulate;
        if (!isLast) nextBatch = data.batch(cursor.epoch, cursor.batch); // prefetch while this step runs
        try {
          images += batch.shape[0] ?? 0;
          const r = await learner.step(batch, optimizer, { accumulate, maxGradNorm: options.maxGradNorm });
          micro.push(r);
          tau = r.tau;
          for (const k of Object.keys(timings) as (keyof StepTimings)[]) timings[k] += r.timings[k];
        } catch (error) {
          stopped(position.step, error);
        } finally {
          batch.dispose();
        }
      }
      position = { step: position.step + 1, ...cursor, losses: position.losses };
      unread.push({
        micro,
        info: {
          step: position.step,
          epoch: position.epoch,
          lr: optimizer.lr,
          tau,
          // Every rank steps on as many images as this one: the throughput of the whole group.
          imagesPerSecond: (images * (group?.worldSize ?? 1) * 1000) / (performance.now() - started),
          timings: { ...timings, data: dataMs },
        },
      });
      if (position.step % logEvery === 0 || position.step === totalSteps) await readUnread();
      // Asked after this step's logging, so an abort from onStep stops right here.
      stoppedEarly = position.step < totalSteps && (await stopRequested());
      const checkpointNow =
        options.checkpointDir !== undefined && (position.step % checkpointEvery === 0 || position.step === totalSteps || stoppedEarly);
      if (checkpointNow || stoppedEarly) await readUnread(); // a checkpoint holds every loss up to its step
      if (checkpointNow && writer) {
        lastCheckpoint = await saveCheckpoint(options.checkpointDir!, learner, optimizer, position);
        await pruneCheckpoints(options.checkpointDir!, keep);
      }
      if (stoppedEarly) break;
    }
  } finally {
    progress.stop();
    // A prefetched batch nobody will use.
    if (position.step >= totalSteps || stoppedEarly) void nextBatch.then((b) => b.dispose(), () => undefined);
  }
  const encoderPath = options.encoderPath ?? (options.checkpointDir ? join(options.checkpointDir, 'encoder.safetensors') : undefined);
  if (encoderPath && writer) await learner.net.save(encoderPath);
  return { steps: position.step, losses: position.losses, resumedFrom, lastCheckpoint, encoderPath, stoppedEarly };
}

/**
 * The checkpoint a resume continues from: the latest complete one (half-written ones are removed first). With a
 * process group, rank 0 chooses and every rank loads that one.
 */
async function chooseCheckpoint(dir: string, group: ProcessGroup | undefined): Promise<string | undefined> {
  let latest: string | undefined;
  if (!group || group.rank === 0) {
    await pruneCheckpoints(dir, Number.MAX_SAFE_INTEGER); // drop half-written ones
    latest = (await listCheckpoints(dir)).at(-1);
  }
  if (!group) return latest;
  const [step] = await group.broadcast([latest ? checkpointStep(latest)! : -1]);
  if (step < 0) return undefined;
  const wanted = join(dir, checkpointName(step));
  if (!(await listCheckpoints(dir)).includes(wanted))
    throw new RangeError(
      `resume: rank ${group.rank} cannot find ${wanted}, the checkpoint rank 0 resumes from; every rank needs the run folder (a shared filesystem across machines)`,
    );
  return wanted;
}

function resolveSteps(options: TrainOptions, stepsPerEpoch: number): number {
  if ((options.epochs === undefined) === (options.steps === undefined))
    throw new RangeError('train: expected exactly one of epochs and steps');
  const n = options.steps ?? options.epochs! * stepsPerEpoch;
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`${options.steps !== undefined ? 'steps' : 'epochs'}: expected a positive integer, received ${describe(options.steps ?? options.epochs)}`);
  return n;
}
