// Argument checks shared by the readers.
import { describe } from '../tensor.js';

/** Checks indices for `get`: integers in [0, size). */
export function checkIndices(indices: ArrayLike<number>, size: number): number[] {
  if (indices === null || typeof indices !== 'object' || typeof indices.length !== 'number')
    throw new TypeError(`indices: expected an array of image indices, received ${describe(indices)}`);
  const list = Array.from(indices);
  for (let k = 0; k < list.length; k++) {
    const i = list[k];
    if (!Number.isInteger(i) || i < 0 || i >= size)
      throw new RangeError(`indices[${k}]: expected an integer in [0, ${size - 1}], received ${describe(i)}`);
  }
  return list;
}
