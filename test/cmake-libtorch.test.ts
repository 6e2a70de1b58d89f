// Configure-time LibTorch lookup (cmake/FindLibTorchLocations.cmake), configure only, no compile: each documented
// way to name a LibTorch (BYOL_PYTHON, LIBTORCH, Torch_DIR) takes that LibTorch and nothing of a second one put
// in CMAKE_PREFIX_PATH as a decoy, which a plain find_library() would prefer; a missing or too old LibTorch stops
// with a message that says where it looked and what to do.
//
// The named LibTorch is the CPU wheel of PyTorch 2.13.0 in .byol/venv-torch-2.13 (made here when missing:
// `python3 -m venv` + `pip install torch==2.13.0`); the decoy is the torch the addon is built with (2.14.1).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { python } from './python.js';

const ROOT = join(import.meta.dirname, '..');
const VENV = join(ROOT, '.byol', 'venv-torch-2.13');
const VENV_PYTHON = join(VENV, 'bin', 'python');

interface Torch {
  version: string;
  root: string;
}

/** torch's version and folder as `py` imports it, or the reason it cannot. */
function torchOf(py: string): Torch | string {
  const r = spawnSync(py, ['-W', 'ignore', '-c', 'import json, os, torch; print(json.dumps({"version": torch.__version__, "root": os.path.dirname(torch.__file__)}))'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return `${py} cannot import torch: ${(r.error?.message ?? r.stderr).trim().split('\n').pop()}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Torch;
}

/** The 2.13 venv, made if missing (about 1-2 minutes), or why it could not be. */
function venv213(): Torch | string {
  if (!existsSync(VENV_PYTHON)) {
    const made = spawnSync('bash', ['-c', `python3 -m venv "${VENV}" && "${VENV}/bin/pip" install --quiet --disable-pip-version-check torch==2.13.0`], {
      encoding: 'utf8',
      timeout: 400_000,
    });
    if (made.status !== 0) {
      rmSync(VENV, { recursive: true, force: true });
      return `could not make ${VENV} (python3 -m venv, pip install torch==2.13.0): ${(made.error?.message ?? made.stderr).trim().slice(-500)}`;
    }
  }
  const torch = torchOf(VENV_PYTHON);
  if (typeof torch === 'string') return torch;
  if (!torch.version.startsWith('2.13.')) return `${VENV_PYTHON} has torch ${torch.version}, expected 2.13`;
  return torch;
}

let named: Torch | undefined;
let decoy: Torch | undefined;
let skipReason = '';
const folders: string[] = [];

beforeAll(() => {
  const which = spawnSync('bash', ['-c', 'command -v cmake && command -v ninja'], { encoding: 'utf8' });
  if (which.status !== 0) {
    skipReason = 'cmake or ninja is not on PATH';
    return;
  }
  const d = torchOf(python);
  const n = venv213();
  if (typeof d === 'string') skipReason = `no decoy LibTorch: ${d}`;
  else if (typeof n === 'string') skipReason = n;
  else if (realpathSync(d.root) === realpathSync(n.root)) skipReason = `the decoy (${python}) is the same torch as ${VENV_PYTHON}`;
  else [named, decoy] = [n, d];
  if (skipReason) console.warn(`skipping the configure tests with a decoy: ${skipReason}`);
}, 420_000);

afterAll(() => {
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

interface Configured {
  code: number | null;
  output: string;
  dir: string;
}

/** `cmake -G Ninja` into a fresh folder, with none of the LibTorch variables of this process's environment. */
function configure(args: string[], env: NodeJS.ProcessEnv = {}): Configured {
  const dir = mkdtempSync(join(tmpdir(), 'byol-cmake-libtorch-'));
  folders.push(dir);
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ['LIBTORCH', 'Torch_DIR', 'BYOL_PYTHON', 'CMAKE_PREFIX_PATH', 'CMAKE_JS_INC']) delete clean[key];
  const r = spawnSync('cmake', ['-G', 'Ninja', '-S', ROOT, '-B', dir, '-DBYOL_BUILD_TESTS=OFF', ...args], {
    env: { ...clean, ...env },
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { code: r.status, output: `${r.stdout}${r.stderr}${r.error ? r.error.message : ''}`, dir };
}

/** The `byol-torch: LibTorch X from ...` status line: version and source. */
function reported(output: string): { version: string; source: string } | undefined {
  const m = /byol-torch: LibTorch (\S+) from ([^\n]+)/.exec(output);
  return m ? { version: m[1]!, source: m[2]!.trim() } : undefined;
}

/** Every command ninja would run for the addon (compiles and the link), and the link command alone. */
function addonCommands(dir: string): { all: string; link: string } {
  const r = spawnSync('ninja', ['-C', dir, '-t', 'commands', 'byol_addon'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const link = r.stdout.split('\n').find((l) => /-o byol_torch\.node\b/.test(l));
  expect(link, 'no link command of byol_torch.node').toBeDefined();
  return { all: r.stdout, link: link! };
}

/** The LibTorch libraries a link command names (absolute .so paths of torch, c10, shm, caffe2). */
function torchLibraries(link: string): string[] {
  return link
    .split(/\s+/)
    .flatMap((token) => token.split(/[,:"]/))
    .filter((p) => p.startsWith('/') && /\/lib(torch|c10|shm|caffe2)[^/]*\.so(\.[\d.]+)?$/.test(p));
}

function cached(dir: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:[A-Z]+=(.*)$`, 'm').exec(readFileSync(join(dir, 'CMakeCache.txt'), 'utf8'));
  return m?.[1];
}

/** The configure took the named LibTorch, and the addon's commands use nothing of the decoy. */
function expectOnlyNamed(c: Configured, source: string): void {
  expect(c.code, c.output.slice(-3000)).toBe(0);
  expect(reported(c.output)).toEqual({ version: named!.version.split('+')[0], source });
  const { all, link } = addonCommands(c.dir);
  const libraries = torchLibraries(link);
  expect(libraries.map((l) => l.replace(/.*\//, ''))).toEqual(expect.arrayContaining(['libtorch.so', 'libc10.so', 'libtorch_cpu.so']));
  const root = realpathSync(named!.root);
  for (const library of libraries) expect(realpathSync(library).startsWith(`${root}/`), library).toBe(true);
  // Not one header folder, library or run-time path of the decoy, in any compile or in the link.
  expect(all).not.toContain(decoy!.root);
  // The addon finds that LibTorch at run time: its lib/ is in the run-time path.
  const rpath = /-Wl,-rpath,"?([^" ]*)/.exec(link)?.[1] ?? '';
  expect(rpath.split(':'), link).toContain(`${named!.root}/lib`);
  for (const name of ['TORCH_LIBRARY', 'c10_LIBRARY']) {
    const value = cached(c.dir, name);
    expect(value, name).toBeDefined();
    expect(realpathSync(value!).startsWith(`${root}/`), `${name}=${value}`).toBe(true);
  }
}

const needs = (ctx: TestContext) => {
  if (skipReason) ctx.skip(skipReason);
};

describe('naming the LibTorch, with a second one (2.14.1) in CMAKE_PREFIX_PATH as a decoy', () => {
  it('BYOL_PYTHON=<a 2.13 venv python> takes that Python\'s torch', (ctx) => {
    needs(ctx);
    const c = configure([`-DCMAKE_PREFIX_PATH=${decoy!.root}`], { BYOL_PYTHON: VENV_PYTHON });
    expectOnlyNamed(c, `PyTorch of ${VENV_PYTHON}: ${named!.root}`);
  });

  it('LIBTORCH=<its torch folder> takes that folder', (ctx) => {
    needs(ctx);
    const c = configure([`-DCMAKE_PREFIX_PATH=${decoy!.root}`], { LIBTORCH: named!.root });
    expectOnlyNamed(c, `LIBTORCH: ${named!.root}`);
  });

  it('-DLIBTORCH=<its torch folder> wins over BYOL_PYTHON naming the decoy', (ctx) => {
    needs(ctx);
    const c = configure([`-DCMAKE_PREFIX_PATH=${decoy!.root}`, `-DLIBTORCH=${named!.root}`], { BYOL_PYTHON: python });
    expectOnlyNamed(c, `LIBTORCH: ${named!.root}`);
  });

  it('-DTorch_DIR=<its share/cmake/Torch> takes the LibTorch above it', (ctx) => {
    needs(ctx);
    const torchDir = join(named!.root, 'share', 'cmake', 'Torch');
    const c = configure([`-DCMAKE_PREFIX_PATH=${decoy!.root}`, `-DTorch_DIR=${torchDir}`]);
    expectOnlyNamed(c, `Torch_DIR: ${torchDir}`);
  });
});

describe('no usable LibTorch', () => {
  /** A PATH whose python3 has no torch, so that the Python step of the lookup finds nothing here either. */
  function pathWithoutTorch(): string {
    const bin = mkdtempSync(join(tmpdir(), 'byol-no-torch-bin-'));
    folders.push(bin);
    writeFileSync(join(bin, 'python3'), '#!/bin/sh\necho "ModuleNotFoundError: No module named torch" >&2\nexit 1\n');
    chmodSync(join(bin, 'python3'), 0o755);
    return `${bin}:${process.env.PATH}`;
  }

  it('LIBTORCH=/nonexistent and nothing else: "LibTorch was not found", every place tried, what to do', () => {
    const c = configure([], { LIBTORCH: '/nonexistent', PATH: pathWithoutTorch() });
    expect(c.code).not.toBe(0);
    // CMake reflows a message (indents, sentence spacing): compared with every run of white space as one space.
    const text = c.output.replace(/\s+/g, ' ');
    expect(text).toContain('byol-torch: LibTorch was not found. Places tried, in order:');
    expect(text).toContain('- LIBTORCH: /nonexistent (no share/cmake/Torch/TorchConfig.cmake there)');
    expect(text).toContain('- Torch_DIR: not set');
    expect(text).toContain('- PyTorch of python3: cannot import torch');
    expect(text).toContain("- system packages (CMake's default search paths)");
    expect(text).toContain('Get LibTorch 2.4 or newer in one of these ways:');
    expect(text).toContain('export LIBTORCH=/path/to/libtorch');
    expect(reported(c.output)).toBeUndefined();
  });

  it('a LibTorch older than 2.4 (LIBTORCH at a 1.13.1 CMake config) is refused naming its version and the minimum', () => {
    // A stand-in with only the CMake package files of LibTorch 1.13.1: the version check comes before any use.
    const old = mkdtempSync(join(tmpdir(), 'byol-libtorch-1.13-'));
    folders.push(old);
    const cmakeDir = join(old, 'share', 'cmake', 'Torch');
    mkdirSync(cmakeDir, { recursive: true });
    writeFileSync(join(cmakeDir, 'TorchConfigVersion.cmake'), 'set(PACKAGE_VERSION "1.13.1")\nset(PACKAGE_VERSION_COMPATIBLE TRUE)\n');
    writeFileSync(join(cmakeDir, 'TorchConfig.cmake'), 'set(TORCH_FOUND TRUE)\nset(TORCH_LIBRARIES "")\n');
    const c = configure([], { LIBTORCH: old, PATH: pathWithoutTorch() });
    expect(c.code).not.toBe(0);
    const text = c.output.replace(/\s+/g, ' ');
    expect(text).toContain(`byol-torch: LIBTORCH: ${old} is LibTorch 1.13.1; byol-torch needs 2.4 or newer (pip install torch, or point LIBTORCH at a newer LibTorch)`);
  });
});
