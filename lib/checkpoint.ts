// Checkpoints of a BYOL run: everything needed to continue exactly where it stopped.
//
// A checkpoint is a folder `step-000123/` holding the online encoder, projector and predictor, the target
// encoder and projector (safetensors, torchvision key names for the encoders), the optimizer state
// (optimizer.safetensors) and state.json (trainer and learner position, written last). It is written as
// `step-000123.partial-<pid>/` and renamed when complete, so a run killed mid-write leaves the previous
// checkpoint as the latest complete one and a half-written folder that resume ignores and cleans up.
import { mkdir, readdir, readFile, rename, rm, open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { BYOL, BYOLState } from './byol.js';
import type { Optimizer } from './optim.js';
import { loadTensors, saveTensors } from './serialize.js';

/** The trainer's own position: what state.json holds besides the learner's. */
export interface TrainerPosition {
  /** Optimizer steps done. */
  step: number;
  /** The epoch and batch index the next step reads. */
  epoch: number;
  batch: number;
  /** Loss of each step so far (for the loss curve). */
  losses: number[];
}

interface StateFile {
  format: 1;
  trainer: TrainerPosition;
  learner: BYOLState;
}

const NAME = /^step-(\d+)$/;

/** The step of a checkpoint folder (its path or name), as checkpointName wrote it; undefined for other names. */
export function checkpointStep(path: string): number | undefined {
  const match = NAME.exec(basename(path));
  return match ? Number(match[1]) : undefined;
}

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(9, '0')}`;
}

/** Writes a complete checkpoint of `learner` and `optimizer` into `dir`/step-N, atomically. */
export async function saveCheckpoint(
  dir: string,
  learner: BYOL,
  optimizer: Optimizer,
  position: TrainerPosition,
  hooks: { beforeRename?: () => Promise<void> } = {},
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const final = join(dir, checkpointName(position.step));
  const partial = `${final}.partial-${process.pid}`;
  try {
    await writeCheckpointFiles(partial, learner, optimizer, position);
  } catch (cause) {
    // A full disk, a quota, an I/O error: the half-written folder goes; the checkpoints before it are untouched.
    await rm(partial, { recursive: true, force: true }).catch(() => undefined);
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new Error(`checkpoint: cannot write ${final} (${reason}); the earlier checkpoints in ${dir} are intact`, { cause });
  }
  await hooks.beforeRename?.();
  await rm(final, { recursive: true, force: true });
  await rename(partial, final);
  return final;
}

/** Every file of a checkpoint into `partial` (a fresh folder), the state last, synced. */
async function writeCheckpointFiles(partial: string, learner: BYOL, optimizer: Optimizer, position: TrainerPosition): Promise<void> {
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial);
  const m = learner.modules();
  await learner.net.save(join(partial, 'encoder.safetensors'));
  await m.projector.save(join(partial, 'projector.safetensors'));
  await m.predictor.save(join(partial, 'predictor.safetensors'));
  if (m.targetEncoder) await m.targetEncoder.save(join(partial, 'target_encoder.safetensors'));
  if (m.targetProjector) await m.targetProjector.save(join(partial, 'target_projector.safetensors'));
  const opt = optimizer.stateDict();
  try {
    await saveTensors(join(partial, 'optimizer.safetensors'), opt.tensors, {
      kind: opt.kind,
      lr: String(opt.lr),
      steps: String(opt.steps),
    });
  } finally {
    for (const t of Object.values(opt.tensors)) t.dispose();
  }
  const state: StateFile = { format: 1, trainer: position, learner: learner.state };
  const handle = await open(join(partial, 'state.json'), 'w');
  try {
    await handle.writeFile(JSON.stringify(state));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The complete checkpoints in `dir`, oldest first. */
export async function listCheckpoints(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => NAME.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/** Removes half-written checkpoint folders (left by a killed run) and all but the newest `keep` complete ones. */
export async function pruneCheckpoints(dir: string, keep: number): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names) if (/^step-\d+\.partial-\d+$/.test(n)) await rm(join(dir, n), { recursive: true, force: true });
  const complete = await listCheckpoints(dir);
  for (const path of complete.slice(0, Math.max(0, complete.length - keep))) await rm(path, { recursive: true, force: true });
}

/** A checkpoint whose state.json is missing, not JSON, or not what saveCheckpoint writes; the message names it. */
export class CheckpointFormatError extends Error {
  override name = 'CheckpointFormatError';
}

/**
 * The contents of a checkpoint's state.json, every field checked against what saveCheckpoint writes (counts are
 * non-negative integers; a loss is a number, or null where JSON.stringify wrote a non-finite one, read back as
 * NaN), so that a corrupt file fails here, naming itself, before anything is loaded or trained with its values.
 * Throws CheckpointFormatError. @internal exported for the tests.
 */
export function parseCheckpointState(text: string, file: string): StateFile {
  const fail = (why: string): never => {
    throw new CheckpointFormatError(`checkpoint ${file}: ${why}`);
  };
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (cause) {
    throw new CheckpointFormatError(`checkpoint ${file}: not valid JSON (${(cause as Error).message})`, { cause });
  }
  const object = (v: unknown, name: string): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(`${name}: expected an object, received ${shown(v)}`);
  const count = (o: Record<string, unknown>, key: string, name: string): number => {
    const v = o[key];
    return Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : fail(`${name}.${key}: expected a non-negative integer, received ${shown(v)}`);
  };
  const root = object(state, 'state.json');
  if (root.format !== 1) fail(`unknown format ${shown(root.format)} (expected 1)`);
  const trainer = object(root.trainer, 'trainer');
  if (!Array.isArray(trainer.losses)) fail(`trainer.losses: expected an array of numbers, received ${shown(trainer.losses)}`);
  const losses = (trainer.losses as unknown[]).map((loss, i) =>
    typeof loss === 'number' ? loss : loss === null ? Number.NaN : fail(`trainer.losses[${i}]: expected a number, received ${shown(loss)}`),
  );
  const position: TrainerPosition = {
    step: count(trainer, 'step', 'trainer'),
    epoch: count(trainer, 'epoch', 'trainer'),
    batch: count(trainer, 'batch', 'trainer'),
    losses,
  };
  const learnerState = object(root.learner, 'learner');
  const learner: BYOLState = {
    step: count(learnerState, 'step', 'learner'),
    viewBatches: count(learnerState, 'viewBatches', 'learner'),
    seed: count(learnerState, 'seed', 'learner'),
  };
  if (learnerState.lossScale !== undefined) {
    const lossScale = object(learnerState.lossScale, 'learner.lossScale');
    if (typeof lossScale.scale !== 'number' || !Number.isFinite(lossScale.scale) || lossScale.scale <= 0)
      fail(`learner.lossScale.scale: expected a positive number, received ${shown(lossScale.scale)}`);
    learner.lossScale = { scale: lossScale.scale as number, finiteSteps: count(lossScale, 'finiteSteps', 'learner.lossScale') };
  }
  return { format: 1, trainer: position, learner };
}

/** A value of a JSON document for a message, cut short. */
function shown(v: unknown): string {
  const text = v === undefined ? 'nothing' : JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** Loads a checkpoint folder into `learner` and `optimizer`; returns the trainer's position. */
export async function loadCheckpoint(path: string, learner: BYOL, optimizer: Optimizer): Promise<TrainerPosition> {
  const file = join(path, 'state.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new CheckpointFormatError(`checkpoint ${path}: state.json is missing or unreadable`, { cause });
  }
  // Checked whole before any module is touched: a corrupt state.json leaves the learner as it was.
  const state = parseCheckpointState(text, file);
  const m = learner.modules();
  await learner.net.load(join(path, 'encoder.safetensors'));
  await m.projector.load(join(path, 'projector.safetensors'));
  await m.predictor.load(join(path, 'predictor.safetensors'));
  if (m.targetEncoder) await m.targetEncoder.load(join(path, 'target_encoder.safetensors'));
  if (m.targetProjector) await m.targetProjector.load(join(path, 'target_projector.safetensors'));
  const { tensors, metadata } = await loadTensors(join(path, 'optimizer.safetensors'));
  optimizer.loadStateDict({
    kind: metadata.kind as ReturnType<Optimizer['stateDict']>['kind'],
    lr: Number(metadata.lr),
    steps: Number(metadata.steps),
    tensors: Object.fromEntries(tensors),
  });
  for (const t of tensors.values()) t.dispose();
  learner.setState(state.learner);
  return state.trainer;
}
