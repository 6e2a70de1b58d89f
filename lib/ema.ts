// The target network's exponential moving average (BYOL): after every optimizer step,
//   target ← tau · target + (1 − tau) · online
// for every parameter, in place, in one native call (native/core/ema.h): one parallel vectorised pass on CPU,
// a multi-tensor kernel on CUDA, no allocation. The update runs off the JS thread and returns a Promise, like
// every heavy operation of byol-torch.
//
// Usage, as in byol-pytorch's `learner.update_moving_average()`:
//   const tau = ema.cosineTau(step, totalSteps, 0.996);
//   await ema.update(targetNetwork, onlineNetwork, tau);
import { native, type NativeTensor } from './native.js';
import type { Tensor } from './tensor.js';

/**
 * What `update` needs of a network: its parameters and (to copy BatchNorm statistics) its buffers, in the
 * same order for the target and the online copy. lib/nn's modules satisfy it.
 */
export interface EmaModule {
  parameters(): Iterable<Tensor>;
  buffers?(): Iterable<Tensor>;
}

export interface EmaUpdateOptions {
  /**
   * Also copy the online network's buffers (BatchNorm running mean and variance, batch counts) into the
   * target's. Default false, as in the paper: the target's BatchNorm keeps its own running statistics.
   * Needs modules, not tensor lists.
   */
  copyBuffers?: boolean;
}

/** A decay schedule: the tau to use after optimizer step `step` (0-based). */
export type TauSchedule = (step: number) => number;

/** Thrown when the two networks given to `update` do not have the same structure. */
export class EmaStructureError extends Error {
  override name = 'EmaStructureError';
}

function isModule(value: EmaModule | readonly Tensor[]): value is EmaModule {
  return !Array.isArray(value) && typeof (value as EmaModule).parameters === 'function';
}

function handles(tensors: Iterable<Tensor>): NativeTensor[] {
  return Array.from(tensors, (t) => t.handle);
}

/**
 * Updates every target tensor in place: target = tau · target + (1 − tau) · online, with tau in [0, 1]
 * (tau = 1 keeps the target exactly, tau = 0 copies the online values exactly). `target` and `online` are
 * both modules (their `parameters()`, paired in order) or both tensor lists. Pairs must agree in shape, dtype
 * (float32, float16, bfloat16 or float64) and device. Targets end with `requiresGrad` false.
 *
 * Everything is checked before anything is written: a rejected call leaves every target as it was.
 */
export async function update(
  target: EmaModule | readonly Tensor[],
  online: EmaModule | readonly Tensor[],
  tau: number,
  options: EmaUpdateOptions = {},
): Promise<void> {
  const copyBuffers = options.copyBuffers ?? false;
  if (typeof copyBuffers !== 'boolean') {
    throw new TypeError(`ema.update: copyBuffers: expected a boolean, received ${typeof copyBuffers}`);
  }
  if (isModule(target) !== isModule(online)) {
    throw new TypeError(
      'ema.update: expected two modules or two tensor lists, received ' +
        `${isModule(target) ? 'a module' : 'a tensor list'} and ${isModule(online) ? 'a module' : 'a tensor list'}`,
    );
  }
  if (!isModule(target) || !isModule(online)) {
    if (copyBuffers) {
      throw new TypeError('ema.update: copyBuffers needs modules (with buffers()); pass the networks, not tensor lists');
    }
    return native.emaUpdate(handles(target as readonly Tensor[]), handles(online as readonly Tensor[]), tau);
  }
  const targetParams = handles(target.parameters());
  const onlineParams = handles(online.parameters());
  if (targetParams.length !== onlineParams.length) {
    throw new EmaStructureError(
      `ema.update: the target network has ${targetParams.length} parameters and the online network ` +
        `${onlineParams.length}; expected the same architecture (make the target a copy of the online network)`,
    );
  }
  if (!copyBuffers) return native.emaUpdate(targetParams, onlineParams, tau);
  if (typeof target.buffers !== 'function' || typeof online.buffers !== 'function') {
    throw new TypeError('ema.update: copyBuffers: expected both networks to have buffers()');
  }
  const targetBuffers = handles(target.buffers());
  const onlineBuffers = handles(online.buffers());
  if (targetBuffers.length !== onlineBuffers.length) {
    throw new EmaStructureError(
      `ema.update: the target network has ${targetBuffers.length} buffers and the online network ` +
        `${onlineBuffers.length}; expected the same architecture`,
    );
  }
  return native.emaUpdate(targetParams, onlineParams, tau, targetBuffers, onlineBuffers);
}

/**
 * The paper's schedule: tau_k = 1 − (1 − base) · (cos(π k / K) + 1) / 2, from `base` at step 0 up to 1 at
 * step K = `totalSteps`. The paper uses base 0.996 (1000 epochs); DeepMind's presets 0.99 (100–300 epochs)
 * and 0.97 (40 epochs). The same function the learner's schedule runs (native/core/ema.h).
 */
export function cosineTau(step: number, totalSteps: number, base = 0.996): number {
  return native.cosineTau(step, totalSteps, base);
}

/** `cosineTau` as a schedule over `totalSteps` steps. */
export function cosineSchedule(totalSteps: number, base = 0.996): TauSchedule {
  cosineTau(0, totalSteps, base);  // checks the arguments now rather than at the first step
  return (step) => cosineTau(step, totalSteps, base);
}

/** A constant tau at every step; byol-pytorch's default is 0.99. */
export function constantSchedule(tau = 0.99): TauSchedule {
  native.checkUnitInterval('tau', tau);
  return () => tau;
}

/** Which CPU kernel build runs the update here: 'avx2' or 'default' (portable). */
export function cpuKernel(): 'avx2' | 'default' {
  return native.emaCpuKernel();
}
