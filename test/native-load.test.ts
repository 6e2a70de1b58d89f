// The addon's load errors: one NativeLoadError that names what was looked for, the reason in one line and what
// to do, never a raw dlopen message alone. Real failures end to end in child processes (BYOL_TORCH_BINARY
// pointing at a missing file, a file that is not ELF, an addon whose shared library is missing or lacks a
// symbol), and the classification of the loader messages that cannot be produced here (old glibc, other arch).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyLoadFailure, formatLoadError } from '../lib/load-error.js';

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

    it('the library is not installed: names it and says to install the LibTorch runtime', () => {
      buildFake();
      const { name, message } = importWith(addon, { LD_LIBRARY_PATH: '' });
      expect(name).toBe('NativeLoadError');
      expect(message).toContain('(missing-library)');
      expect(message).toContain(`Looked for (BYOL_TORCH_BINARY):\n  ${addon}`);
      expect(message).toContain('Reason: libfaketorch.so.9: cannot open shared object file: No such file or directory');
      expect(message).toContain('apt-get install libtorch1.13');
      expect(message).toContain('npm rebuild byol-torch --build-from-source');
      expect(message).toContain('LD_LIBRARY_PATH');
    });

    it('another version of the library (a symbol it needs is missing)', () => {
      const { name, message } = importWith(addon, { LD_LIBRARY_PATH: other });
      expect(name).toBe('NativeLoadError');
      expect(message).toContain('(library-version)');
      expect(message).toMatch(/Reason: .*undefined symbol: torch_fake_data/);
      expect(message).toContain('not the one the binary was built for (1.13)');
      expect(message).toContain('BYOL_TORCH_BINARY');
    });
  });
});

describe('classifyLoadFailure on real loader messages', () => {
  const cases: [string, string, string | undefined][] = [
    ['libtorch_cpu.so.1.13: cannot open shared object file: No such file or directory', 'missing-library', 'libtorch_cpu.so.1.13'],
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
      const text = formatLoadError(message, { tried: ['/x/a.node'], via: 'node-gyp-build', libtorch: '1.13' });
      expect(text).toMatch(/^byol-torch: the native addon could not be loaded \(/);
      expect(text).toContain('Looked for (node-gyp-build):\n  /x/a.node');
      expect(text.split('\n').filter((line) => line.startsWith('Reason: '))).toHaveLength(1);
      expect(text).toMatch(/What to do:\n {2}- /);
    }
  });
});
