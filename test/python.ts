// The Python the tests compare against: the interpreter whose torch package is the LibTorch the addon links.
// BYOL_PYTHON when set (scripts/test.sh sets it), else the one scripts/setup.sh names in .byol/python, else
// python3 on PATH. Its torchrun is the one installed beside it (the same torch).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

function namedPython(): string {
  if (process.env.BYOL_PYTHON) return process.env.BYOL_PYTHON;
  const file = join(ROOT, '.byol', 'python');
  const named = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  return named || 'python3';
}

/** The interpreter with the addon's torch (and torchvision, numpy). */
export const python = namedPython();

/** torchrun of that torch: beside the interpreter (a venv's bin/), or on PATH for a bare `python3`. */
export const torchrun = python.includes('/') ? join(dirname(python), 'torchrun') : 'torchrun';
