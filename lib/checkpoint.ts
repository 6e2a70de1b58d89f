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
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial);
  const m = learner.modules();
  await learner.net.save(join(partial, 'encoder.safetensors'));
  await m.projector.save(join(partial, 'projector.safetensors'));
  await m.predictor.save(join(partial, 'predictor.safetensors'));
  if (m.targetEncoder) await m.targetEncoder.save(join(partial, 'target_encoder.safetensors'));
  if (m.targetProjector) await m.targetProjector.save(join(partial, 'target_projector.safetensors'));
  const opt = optimizer.stateDict();
  await saveTensors(join(partial, 'optimizer.safetensors'), opt.tensors, {
    kind: opt.kind,
    lr: String(opt.lr),
    steps: String(opt.steps),
  });
  for (const t of Object.values(opt.tensors)) t.dispose();
  const state: StateFile = { format: 1, trainer: position, learner: learner.state };
  const handle = await open(join(partial, 'state.json'), 'w');
  try {
    await handle.writeFile(JSON.stringify(state));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await hooks.beforeRename?.();
  await rm(final, { recursive: true, force: true });
  await rename(partial, final);
  return final;
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

/** Loads a checkpoint folder into `learner` and `optimizer`; returns the trainer's position. */
export async function loadCheckpoint(path: string, learner: BYOL, optimizer: Optimizer): Promise<TrainerPosition> {
  let state: StateFile;
  try {
    state = JSON.parse(await readFile(join(path, 'state.json'), 'utf8')) as StateFile;
  } catch (cause) {
    throw new Error(`checkpoint ${path}: state.json is missing or unreadable`, { cause });
  }
  if (state.format !== 1) throw new Error(`checkpoint ${path}: unknown format ${String(state.format)}`);
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
