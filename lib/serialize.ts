// Named tensors in safetensors files: the format PyTorch users share weights in (JSON header + raw
// little-endian data). Used for checkpoints and optimizer state; modules save themselves with Module.save.
import { native, type SafetensorsHeaderEntry } from './native.js';
import { Tensor } from './tensor.js';

/** Writes `tensors` (in order) and string `metadata` to `path` atomically: a temporary file, then a rename. */
export async function saveTensors(
  path: string,
  tensors: Record<string, Tensor> | ReadonlyArray<readonly [string, Tensor]>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const entries = Array.isArray(tensors) ? tensors : Object.entries(tensors);
  await native.saveTensors(
    path,
    entries.map(([name, t]) => {
      if (!(t instanceof Tensor)) throw new TypeError(`tensors: expected a Tensor for '${name}'`);
      return [name, t.handle];
    }),
    metadata,
  );
}

/** Reads a safetensors file; every key, shape, dtype and offset is checked, and a bad file is one clear error. */
export async function loadTensors(path: string): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  const out = await native.loadTensors(path);
  return { tensors: new Map(out.tensors.map(([name, h]) => [name, new Tensor(h)])), metadata: out.metadata };
}

export type { SafetensorsDType, SafetensorsHeaderEntry } from './native.js';

/**
 * The header of a safetensors file (tensor names, dtypes as the file spells them, shapes, data offsets, in data
 * order, and the metadata), read without the tensor data and checked as loadTensors checks it: a bad file is
 * one clear error naming it.
 */
export async function readSafetensorsHeader(path: string): Promise<{ tensors: SafetensorsHeaderEntry[]; metadata: Record<string, string> }> {
  return native.readSafetensorsHeader(path);
}
