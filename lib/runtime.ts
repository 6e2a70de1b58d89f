// Process-wide settings and facts: threads, grad mode, CUDA, memory, and the tidy() scope.
import { native, type NativeInfo } from './native.js';
import { closeScope, openScope } from './scope.js';
import { Tensor } from './tensor.js';

/** LibTorch's version and build facts. */
export function libtorchInfo(): NativeInfo {
  return native.info();
}

export const cuda = {
  /** True when this LibTorch was built with CUDA and sees at least one GPU. */
  isAvailable(): boolean {
    return native.cudaDeviceCount() > 0;
  },
  deviceCount(): number {
    return native.cudaDeviceCount();
  },
};

/** Intra-op threads used by synchronous ops and by every job started from now on. Default: all cores. */
export function getNumThreads(): number {
  return native.getNumThreads();
}
export function setNumThreads(threads: number): void {
  native.setNumThreads(threads);
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

/**
 * Runs `fn` with gradient tracking off (like `with torch.no_grad()`), sync or async. Jobs started inside
 * carry the setting to the executor. The setting is process-wide while `fn` runs, as in PyTorch where it is
 * per thread: other code running during an `await` inside `fn` sees it too.
 */
export function noGrad<T>(fn: () => T): T {
  const previous = native.isGradEnabled();
  native.setGradEnabled(false);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    native.setGradEnabled(previous);
    throw error;
  }
  if (isPromiseLike(result)) {
    return (result as unknown as Promise<unknown>).finally(() => native.setGradEnabled(previous)) as T;
  }
  native.setGradEnabled(previous);
  return result;
}

/**
 * Runs `fn` and disposes every tensor it created, except those it returns (a Tensor, or Tensors inside
 * returned arrays and plain objects), which move to the enclosing tidy scope. Accepts async functions.
 */
export function tidy<T>(fn: () => T): T {
  const scope = openScope();
  let result: T;
  try {
    result = fn();
  } catch (error) {
    closeScope(scope, new Set());
    throw error;
  }
  if (isPromiseLike(result)) {
    return (result as unknown as Promise<unknown>).then(
      (value) => {
        closeScope(scope, tensorsIn(value));
        return value;
      },
      (error: unknown) => {
        closeScope(scope, new Set());
        throw error;
      },
    ) as T;
  }
  closeScope(scope, tensorsIn(result));
  return result;
}

export interface MemoryInfo {
  /** Live JS tensors (not disposed, not yet collected). */
  tensors: number;
  /** Host bytes they hold, counted once per storage (views share). */
  bytes: number;
  /** Jobs queued or running on the executor. */
  pendingJobs: number;
  /** CPU tensor memory handed out by byol-torch's caching host allocator (all tensors, not only JS ones). */
  hostAllocatedBytes: number;
  /** Freed CPU tensor memory kept for reuse (limit: BYOL_HOST_CACHE_MB, default 1024). */
  hostCachedBytes: number;
  /** Each CUDA device's caching allocator (empty without CUDA). */
  devices: DeviceMemoryInfo[];
}

export interface DeviceMemoryInfo {
  /** 'cuda:N' */
  device: string;
  /** Held by live tensors. */
  allocatedBytes: number;
  /** Held by the caching allocator: allocated plus cached for reuse (what nvidia-smi shows, less the context). */
  reservedBytes: number;
  /** The most allocated at once since the process started. */
  peakAllocatedBytes: number;
}

/** The memory figures of `device` ('cuda', 'cuda:N'), or undefined for the CPU or a device not present. */
export function deviceMemory(device: string): DeviceMemoryInfo | undefined {
  const name = device === 'cuda' ? 'cuda:0' : device;
  return memory().devices.find((entry) => entry.device === name);
}

export function memory(): MemoryInfo {
  return native.memory();
}

/**
 * Jobs submitted to the native executor and synchronous drains (waits for it) since the addon loaded: a training
 * step is one job and no drain, which tests and profiling can check.
 */
export function executorStats(): { jobs: number; drains: number } {
  return native.executorStats();
}

/** Returns the host allocator's cached (freed, kept for reuse) tensor memory to the OS. */
export function releaseHostCache(): void {
  native.releaseHostCache();
}

function isPromiseLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function tensorsIn(value: unknown, found = new Set<Tensor>(), depth = 0): Set<Tensor> {
  if (value instanceof Tensor) found.add(value);
  else if (depth < 8 && Array.isArray(value)) for (const v of value) tensorsIn(v, found, depth + 1);
  else if (depth < 8 && value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) tensorsIn(v, found, depth + 1);
  return found;
}
