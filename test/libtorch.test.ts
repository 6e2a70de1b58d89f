// The loaded binary is built on, and runs with, the torch of the Python the tests use (BYOL_PYTHON, else the one
// scripts/setup.sh names): libtorchInfo() against that Python's torch.__version__, torch.version.cuda and folder,
// and the LibTorch libraries this process mapped come from that folder.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { addonPath } from '../lib/native.js';
import { libtorchInfo } from '../lib/runtime.js';
import { python } from './python.js';

interface PythonTorch {
  version: string;
  cuda: string | null;
  root: string;
}

const probe = spawnSync(
  python,
  ['-W', 'ignore', '-c', 'import json, os, torch; print(json.dumps({"version": torch.__version__, "cuda": torch.version.cuda, "root": os.path.dirname(torch.__file__)}))'],
  { encoding: 'utf8' },
);
const torch = probe.status === 0 ? (JSON.parse(probe.stdout.trim().split('\n').pop()!) as PythonTorch) : undefined;
const why = `${python} cannot import torch (set BYOL_PYTHON, or run scripts/setup.sh): ${(probe.error?.message ?? probe.stderr).trim().split('\n').pop()}`;
if (!torch) console.warn(`skipping: ${why}`);

describe.skipIf(!torch)(`the addon's LibTorch is the torch of ${python}${torch ? '' : ` (skipped: ${why})`}`, () => {
  const info = libtorchInfo();

  it("reports torch.__version__ without its local part (+cu130, +cpu)", () => {
    expect(info.libtorch).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.libtorch).toBe(torch!.version.replace(/\+.*$/, ''));
  });

  it('is a CUDA build exactly when that torch is (torch.version.cuda)', () => {
    expect(info.cudaBuilt).toBe(torch!.cuda !== null);
  });

  it("names that torch's folder as where the build found it", () => {
    // e.g. "LIBTORCH: <site-packages>/torch" (scripts/setup.sh) or "PyTorch of <python>: <site-packages>/torch"
    const named = /: (\/.*)$/.exec(info.torchSource)?.[1];
    expect(named, info.torchSource).toBeDefined();
    const folder = named!.replace(/\/share\/cmake\/Torch\/?$/, ''); // a Torch_DIR source names share/cmake/Torch
    expect(realpathSync(folder)).toBe(realpathSync(torch!.root));
  });

  it.skipIf(!existsSync('/proc/self/maps'))("maps libc10 and libtorch_cpu from that folder's lib/", () => {
    expect(existsSync(addonPath())).toBe(true);
    const mapped = new Set(
      readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .map((line) => line.slice(line.indexOf('/')))
        .filter((path) => /\/lib(c10|torch_cpu|torch)\.so$/.test(path)),
    );
    const names = [...mapped].map((p) => p.replace(/.*\//, '')).sort();
    expect(names).toEqual(expect.arrayContaining(['libc10.so', 'libtorch_cpu.so']));
    const lib = realpathSync(`${torch!.root}/lib`);
    for (const path of mapped) expect(realpathSync(path).startsWith(`${lib}/`), path).toBe(true);
  });
});
