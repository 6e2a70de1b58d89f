// The addon's load errors: one NativeLoadError that names what was looked for, the reason in one line and what
// to do, never a raw dlopen message alone. Real failures end to end in child processes (BYOL_TORCH_BINARY
// pointing at a missing file, a file that is not ELF, an addon whose shared library is missing or lacks a
// symbol), the classification of real loader messages (some cannot be produced here: old glibc, other arch),
// and the check of the torch found against the one the prebuilt binary is built against, with the advice of
// each failure. The prebuilt binary's own path (torch found through BYOL_PYTHON, LIBTORCH or python3, another
// torch, a CPU-only torch, no torch) is tested end to end on the installed package by scripts/pack-smoke.sh.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkTorch, classifyLoadFailure, formatLoadError, type PrebuildTorch, type TorchInstall } from '../lib/load-error.js';

const root = resolve(import.meta.dirname, '..');
const distIndex = pathToFileURL(join(root, 'dist', 'index.js')).href;
const tmp = mkdtempSync(join(tmpdir(), 'byol-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Imports the package in a child with BYOL_TORCH_BINARY set; returns the error's name and message. */
function importWith(binary: string, env: NodeJS.ProcessEnv = {}): { name: string; message: string } {
  const script =
    `import(${JSON.stringify(distIndex)}).then(` +
    `(m) => console.log(JSON.stringify({ name: 'loaded', message: m.addonPath() })),` +
    `(e) => console.log(JSON.stringify({ name: e.name, message: e.message })))`;
  const out = execFileSync(process.execPath, ['-e', script], {
    env: { ...process.env, ...env, BYOL_TORCH_BINARY: binary },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { name: string; message: string };
}

const hasCompiler = spawnSync('cc', ['--version']).status === 0;

describe('loading the addon fails with one readable error', () => {
  it('a BYOL_TORCH_BINARY that does not exist', () => {
    const missing = join(tmp, 'nowhere', 'byol_torch.node');
    const { name, message } = importWith(missing);
    expect(name).toBe('NativeLoadError');
    expect(message).toContain(`Looked for (BYOL_TORCH_BINARY):\n  ${missing}`);
    expect(message).toMatch(/Reason: ENOENT/);
    expect(message).toContain('set it to a built byol_torch.node, or unset it');
  });

  it('a file that is not a shared object', () => {
    const garbage = join(tmp, 'garbage.node');
    writeFileSync(garbage, Buffer.from('this is not an ELF file, just some text that pretends to be one\n'.repeat(20)));
    const { name, message } = importWith(garbage);
    expect(name).toBe('NativeLoadError');
    expect(message).toContain('(not-a-binary)');
    expect(message).toContain(garbage);
    expect(message).toMatch(/Reason: .*invalid ELF header/);
    expect(message).toContain('npm rebuild byol-torch --build-from-source');
  });

  // A tiny addon that needs libfaketorch.so.9 (a data symbol, resolved at load time as LibTorch's vtables are).
  describe.runIf(hasCompiler)('an addon whose shared library is missing or another version', () => {
    const dir = join(tmp, 'fake');
    const other = join(dir, 'other');
    const addon = join(dir, 'addon.node');
    function buildFake(): void {
      mkdirSync(other, { recursive: true });
      writeFileSync(join(dir, 'lib.c'), 'int torch_fake_data = 1;\n');
      writeFileSync(join(other, 'lib.c'), 'int another_symbol = 1;\n');
      writeFileSync(join(dir, 'addon.c'), 'extern int torch_fake_data;\nint *byol_fake = &torch_fake_data;\n');
      for (const d of [dir, other]) {
        execFileSync('cc', ['-shared', '-fPIC', '-o', join(d, 'libfaketorch.so.9'), '-Wl,-soname,libfaketorch.so.9', join(d, 'lib.c')]);
      }
      symlinkSync('libfaketorch.so.9', join(dir, 'libfaketorch.so'));
      execFileSync('cc', ['-shared', '-fPIC', '-o', addon, join(dir, 'addon.c'), `-L${dir}`, '-lfaketorch']);
    }

    it('the library is missing and no torch is found: names it, where torch was looked for, how to get it', () => {
      buildFake();
      const { name, message } = importWith(addon, { LD_LIBRARY_PATH: '', BYOL_PYTHON: join(tmp, 'no-python') });
      expect(name).toBe('NativeLoadError');
      expect(message).toContain('(torch-not-found)');
      expect(message).toContain(`Looked for (BYOL_TORCH_BINARY):\n  ${addon}`);
      expect(message).toContain('Reason: libfaketorch.so.9: cannot open shared object file: No such file or directory');
      expect(message).toContain(`Torch, looked for in this order:\n  - BYOL_PYTHON=${join(tmp, 'no-python')}: not found\nWhat to do:`);
      expect(message).toMatch(/- install torch.*`pip install torch(==[\d.]+)?`; the package finds torch through BYOL_PYTHON/);
      expect(message).toContain('npm rebuild byol-torch --build-from-source');
      expect(message).toContain('LD_LIBRARY_PATH');
    });

    // BYOL_PYTHON names the repository's PyTorch (scripts/test.sh sets it): its libraries are loaded, the binary
    // is tried again and still lacks its own library, which is not torch's.
    it.runIf(process.env.BYOL_PYTHON)('the library is missing, torch is found and loaded: the library is not torch\'s', () => {
      const { name, message } = importWith(addon, { LD_LIBRARY_PATH: '' });
      expect(name).toBe('NativeLoadError');
      expect(message).toContain('(missing-library)');
      expect(message).toMatch(/Torch, looked for in this order:\n {2}- BYOL_PYTHON=.*: torch \d+\.\d+\.\d+\S* at \//);
      expect(message).toContain("- libfaketorch.so.9 is not one of torch's: install it, or put the folder holding it on LD_LIBRARY_PATH");
      expect(message).not.toContain('--force-reinstall');
    });

    it('another version of the library (a symbol it needs is missing)', () => {
      const { name, message } = importWith(addon, { LD_LIBRARY_PATH: other });
      expect(name).toBe('NativeLoadError');
      expect(message).toContain('(library-version)');
      expect(message).toMatch(/Reason: .*undefined symbol: torch_fake_data/);
      expect(message).toContain('the LibTorch found is not the one the binary was built for');
      expect(message).toContain('BYOL_TORCH_BINARY');
      expect(message).not.toContain('Torch, looked for'); // only a missing library makes it look for torch
    });
  });
});

const prebuild: PrebuildTorch = { libtorch: '2.14.1', cuda: '13.0' };
const site = '/venv/lib/python3.11/site-packages/torch';
const pipTorch = (version: string, cuda = true): TorchInstall => ({
  root: site,
  version,
  via: 'BYOL_PYTHON=/venv/bin/python',
  cuda,
  ...(cuda && /\+cu(\d+)(\d)$/.test(version) ? { cudaRelease: version.replace(/.*\+cu(\d+)(\d)$/, '$1.$2') } : {}),
});

describe('classifyLoadFailure on real loader messages', () => {
  // The prebuilt binary (PyTorch 2.14.1, CUDA 13.0) with nothing preloaded; with a CPU-only torch preloaded; the
  // local build (its run-time path names torch 2.14.1) with torch 2.13.0's libc10/libtorch_cpu preloaded; the
  // preloader on a CUDA torch whose nvidia-* packages are missing.
  const cases: [string, string, string | undefined][] = [
    ['libtorch.so: cannot open shared object file: No such file or directory', 'missing-library', 'libtorch.so'],
    ['libtorch_cuda.so: cannot open shared object file: No such file or directory', 'missing-library', 'libtorch_cuda.so'],
    ['/x/site-packages/torch/lib/libtorch_cuda.so: undefined symbol: _ZNK4c10d4Work10getTimeoutEv', 'library-version', undefined],
    [
      'cannot load /x/torch/lib/libtorch_cuda.so: libcusparse.so.12: cannot open shared object file: No such file or directory',
      'missing-library',
      'libcusparse.so.12',
    ],
    ['cannot load /x/torch/lib/libc10.so: /x/torch/lib/libc10.so: cannot open shared object file: No such file or directory', 'missing-library', 'libc10.so'],
    ['/x/prebuilds/linux-x64/byol-torch.napi.glibc.node: cannot open shared object file: No such file or directory', 'not-found', undefined],
    ["/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.34' not found (required by /x/byol-torch.napi.glibc.node)", 'glibc-too-old', undefined],
    ["/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.30' not found (required by /x/a.node)", 'glibc-too-old', undefined],
    ['/x/a.node: undefined symbol: _ZN3c1019UndefinedTensorImpl10_singletonE', 'library-version', undefined],
    ['/x/a.node: wrong ELF class: ELFCLASS32', 'wrong-platform', undefined],
    ['/x/a.node: invalid ELF header', 'not-a-binary', undefined],
    ['/x/a.node: file too short', 'not-a-binary', undefined],
    ['No native build was found for platform=darwin arch=arm64 runtime=node abi=115 uv=1 libc=glibc node=20.19.0\n    loaded from: /x\n', 'not-found', undefined],
    ["Cannot find module '/x/build/Release/byol_torch.node'", 'not-found', undefined],
  ];
  it.each(cases)('%s', (message, kind, library) => {
    const failure = classifyLoadFailure(message);
    expect(failure.kind).toBe(kind);
    expect(failure.library).toBe(library);
    expect(failure.reason).not.toContain('\n');
  });

  it('every message names the paths, one reason line and what to do', () => {
    for (const [message] of cases) {
      const text = formatLoadError(message, { tried: ['/x/a.node'], via: 'node-gyp-build', prebuild });
      expect(text).toMatch(/^byol-torch: the native addon could not be loaded \(/);
      expect(text).toContain('Looked for (node-gyp-build):\n  /x/a.node');
      expect(text.split('\n').filter((line) => line.startsWith('Reason: '))).toHaveLength(1);
      expect(text).toMatch(/What to do:\n {2}- /);
    }
  });
});

describe('the torch found against the one the prebuilt binary is built against', () => {
  it('the same release, the CUDA build: usable, whatever its local version part', () => {
    expect(checkTorch(pipTorch('2.14.1+cu130'), prebuild)).toBeUndefined();
    expect(checkTorch(pipTorch('2.14.1'), prebuild)).toBeUndefined(); // a LibTorch folder's TorchConfigVersion.cmake
    expect(checkTorch(pipTorch('2.14.1+cpu', false), { libtorch: '2.14.1', cuda: null })).toBeUndefined();
  });

  it('another release: names both, and both ways out', () => {
    const failure = checkTorch(pipTorch('2.13.0+cpu', false), prebuild)!;
    expect(failure.kind).toBe('torch-version');
    expect(failure.reason).toBe(
      'the torch found is 2.13.0+cpu (through BYOL_PYTHON=/venv/bin/python); the prebuilt binary is built ' +
        'against torch 2.14.1, and LibTorch has no stable ABI across releases',
    );
    const text = formatLoadError(failure, {
      tried: ['/x/prebuilds/linux-x64/byol-torch.napi.glibc.node'],
      via: 'node-gyp-build',
      prebuild,
      torch: {
        found: { ...pipTorch('2.13.0+cpu', false), python: '/venv/bin/python' },
        tried: [`BYOL_PYTHON=/venv/bin/python: torch 2.13.0+cpu at ${site}`],
      },
    });
    expect(text).toContain('byol-torch: the native addon could not be loaded (torch-version).');
    expect(text).toContain(`Torch, looked for in this order:\n  - BYOL_PYTHON=/venv/bin/python: torch 2.13.0+cpu at ${site}\n`);
    expect(text).toContain(
      '  - install that torch: `/venv/bin/python -m pip install torch==2.14.1`, or point BYOL_PYTHON at a Python ' +
        'that has it (or LIBTORCH at its site-packages/torch)\n',
    );
    expect(text).toContain('  - or build against yours: `npm rebuild byol-torch --build-from-source`');
  });

  it('a CPU-only torch of the right release where the prebuilt binary is the CUDA build', () => {
    const failure = checkTorch(pipTorch('2.14.1+cpu', false), prebuild)!;
    expect(failure.kind).toBe('torch-cpu-only');
    expect(failure.reason).toContain('a CPU-only build (no lib/libtorch_cuda.so); the prebuilt binary is the CUDA 13.0 build of torch 2.14.1');
    const text = formatLoadError(failure, { tried: ['/x/b.node'], via: 'node-gyp-build', prebuild });
    expect(text).toContain(
      '  - install the CUDA 13.0 build of torch 2.14.1 (it runs without a GPU too), PyPI\'s, not one from an index ' +
        'of other builds (CPU-only, other CUDA releases): `pip install --force-reinstall torch==2.14.1`\n',
    );
    expect(text).toContain('or build against yours (a CPU build): `npm rebuild byol-torch --build-from-source`');
  });

  it('the right release built for another CUDA', () => {
    const failure = checkTorch(pipTorch('2.14.1+cu126'), prebuild)!;
    expect(failure.kind).toBe('torch-cuda-version');
    expect(failure.reason).toContain('built for CUDA 12.6; the prebuilt binary is the CUDA 13.0 build of torch 2.14.1');
    const found = { ...pipTorch('2.14.1+cu126'), python: '/venv/bin/python' };
    expect(formatLoadError(failure, { tried: ['/x/b.node'], via: 'node-gyp-build', prebuild, torch: { found, tried: [] } })).toContain(
      '`/venv/bin/python -m pip install --force-reinstall torch==2.14.1`',
    );
  });

  it('no torch found: where it was looked for, in order, and each way to get one', () => {
    const text = formatLoadError('libtorch.so: cannot open shared object file: No such file or directory', {
      tried: ['/x/prebuilds/linux-x64/byol-torch.napi.glibc.node'],
      via: 'node-gyp-build',
      prebuild,
      torch: { tried: ['BYOL_PYTHON: not set', 'LIBTORCH: not set', 'python3 on PATH (/usr/bin/python3): No module named torch'] },
    });
    expect(text).toBe(
      [
        'byol-torch: the native addon could not be loaded (torch-not-found).',
        'Looked for (node-gyp-build):',
        '  /x/prebuilds/linux-x64/byol-torch.napi.glibc.node',
        'Reason: libtorch.so: cannot open shared object file: No such file or directory',
        'Torch, looked for in this order:',
        '  - BYOL_PYTHON: not set',
        '  - LIBTORCH: not set',
        '  - python3 on PATH (/usr/bin/python3): No module named torch',
        'What to do:',
        '  - install torch 2.14.1, the CUDA 13.0 build that pip installs on Linux (it runs without a GPU too): ' +
          '`pip install torch==2.14.1`; the package finds torch through BYOL_PYTHON (a Python interpreter), else ' +
          'LIBTORCH (a LibTorch folder: lib/, include/, share/), else the python3 on PATH',
        '  - or point BYOL_PYTHON at a Python that has torch 2.14.1, or LIBTORCH at a LibTorch folder of torch 2.14.1',
        '  - or build against the torch you have: `npm rebuild byol-torch --build-from-source` (needs cmake, g++ and ' +
          'LibTorch: a PyTorch install found through BYOL_PYTHON or python3, or a LibTorch folder in LIBTORCH; a CUDA torch needs nvcc too)',
        '  - or put the folder holding the library on LD_LIBRARY_PATH',
        '  - in a checkout of the repository: `npm run setup` installs PyTorch and builds the addon',
      ].join('\n'),
    );
  });

  it("a torch found that lacks one of its CUDA libraries (pip install --no-deps): reinstall it with them", () => {
    const message =
      'cannot load /tmp/t/lib/libtorch_cuda.so: libcusparse.so.12: cannot open shared object file: No such file or directory';
    const found = { ...pipTorch('2.14.1+cu130'), root: '/tmp/t', via: 'LIBTORCH=/tmp/t' };
    const text = formatLoadError(message, { tried: ['/x/b.node'], via: 'node-gyp-build', prebuild, torch: { found, tried: [] } });
    expect(text).toContain('(missing-library)');
    expect(text).toContain(
      '  - the torch found (2.14.1+cu130 at /tmp/t) lacks libcusparse.so.12, one of its own or its CUDA libraries: ' +
        'reinstall it with its dependencies, `pip install --force-reinstall torch==2.14.1`',
    );
  });

  it('without a prebuilt binary (a local build) the advice names no release', () => {
    const text = formatLoadError('libtorch.so: cannot open shared object file: No such file or directory', {
      tried: ['/x/build/Release/byol_torch.node'],
      via: 'node-gyp-build',
    });
    expect(text).toContain('(missing-library)');
    expect(text).toContain('`pip install torch`;');
    expect(text).not.toMatch(/torch==|undefined/);
  });
});
