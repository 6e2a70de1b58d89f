// Learning-rate schedules: functions from the optimizer step (0-based) to the learning rate of that step.
//
//   const lrAt = warmupCosine({ baseLr: 0.2, batchSize: 4096, warmupSteps: 10 * stepsPerEpoch, totalSteps });
//   optimizer.lr = lrAt(step); await optimizer.step();

/** The learning rate of step `step` (0-based, the number of optimizer steps taken before this one). */
export type Schedule = (step: number) => number;

export interface WarmupCosineOptions {
  /** The learning rate for a batch of 256; the peak lr is baseLr * batchSize / 256 (the BYOL paper). */
  baseLr: number;
  /** Images per optimizer step (after gradient accumulation). */
  batchSize: number;
  /** Steps of linear warm-up from 0 to the peak (0 for none). The paper: 10 epochs. */
  warmupSteps: number;
  /** Steps of the whole run; the lr reaches 0 there and stays 0 after. */
  totalSteps: number;
}

/**
 * The BYOL paper's schedule (DeepMind's byol/utils/schedules.py): with peak = baseLr * batchSize / 256,
 *   step < warmupSteps:  lr = peak * step / warmupSteps
 *   otherwise:           lr = peak * (1 + cos(pi * min(step - warmupSteps, T) / T)) / 2,  T = totalSteps - warmupSteps
 */
export function warmupCosine(options: WarmupCosineOptions): Schedule {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`warmupCosine: options: expected an object, received ${String(options)}`);
  const { baseLr, batchSize, warmupSteps, totalSteps } = options;
  expectNumber('baseLr', baseLr, Number.isFinite(baseLr) && baseLr >= 0, 'a finite number >= 0');
  expectNumber('batchSize', batchSize, Number.isInteger(batchSize) && batchSize >= 1, 'an integer >= 1');
  expectNumber('warmupSteps', warmupSteps, Number.isInteger(warmupSteps) && warmupSteps >= 0, 'an integer >= 0');
  expectNumber(
    'totalSteps',
    totalSteps,
    Number.isInteger(totalSteps) && totalSteps > warmupSteps,
    `an integer > warmupSteps (${String(warmupSteps)})`,
  );
  const peak = (baseLr * batchSize) / 256;
  const decaySteps = totalSteps - warmupSteps;
  return (step: number): number => {
    checkStep('warmupCosine', step);
    if (step < warmupSteps) return (peak * step) / warmupSteps;
    const t = Math.min(step - warmupSteps, decaySteps);
    return (peak * (1 + Math.cos((Math.PI * t) / decaySteps))) / 2;
  };
}

/** The same learning rate at every step. */
export function constant(lr: number): Schedule {
  expectNumber('lr', lr, Number.isFinite(lr) && lr >= 0, 'a finite number >= 0');
  return (step: number): number => {
    checkStep('constant', step);
    return lr;
  };
}

function expectNumber(name: string, value: unknown, ok: boolean, expected: string): void {
  if (typeof value !== 'number') throw new TypeError(`${name}: expected ${expected}, received ${describeValue(value)}`);
  if (!ok) throw new RangeError(`${name}: expected ${expected}, received ${String(value)}`);
}

function checkStep(schedule: string, step: unknown): void {
  if (typeof step !== 'number' || !Number.isFinite(step) || step < 0)
    throw new RangeError(`${schedule}: step: expected a finite number >= 0, received ${describeValue(step)}`);
}

function describeValue(value: unknown): string {
  return typeof value === 'number' ? String(value) : value === undefined ? 'undefined' : `${typeof value} ${String(value)}`;
}
