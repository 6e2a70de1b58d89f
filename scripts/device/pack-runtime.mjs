// Archives what Node needs on the GPU machine into .device/ as two xz tarballs, each rebuilt only when its
// content changed (pack.sh runs often; xz over ~37 MB of packages takes ~20 s on 2 cores):
//   .device/node_modules.tar.xz  the packages of runtime-packages.mjs (changes rarely: keyed on paths, sizes, mtimes)
//   .device/dist.tar.xz          the compiled TypeScript (changes often, small: keyed on content)
// Left out of both: source maps, TypeScript declarations, Markdown, and protobufjs's code generator (cli/, 20 MB
// with its own node_modules): nothing loads them at run time.
//
//   node scripts/device/pack-runtime.mjs [--out .device]
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimePackages } from './runtime-packages.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outArg = process.argv.indexOf('--out');
const out = join(root, outArg >= 0 ? process.argv[outArg + 1] : '.device');

const EXCLUDED_FILE = /(\.map|\.d\.ts|\.d\.mts|\.d\.cts|\.md)$/i;
const EXCLUDED_DIR = new Set(['node_modules/protobufjs/cli']);

/** Files (and symlinks) under `dir`, relative to the repo root, without the exclusions above. */
function* files(dir) {
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!EXCLUDED_DIR.has(path)) yield* files(path);
    } else if (!EXCLUDED_FILE.test(entry.name)) {
      yield path;
    }
  }
}

function sha256(parts) {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}

const statePath = join(out, 'pack-state.json');
const state = existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')) : {};

/** Writes out/name.tar.xz from `list` unless `key` matches the last archive's. */
function archive(name, list, key) {
  const target = join(out, `${name}.tar.xz`);
  if (state[name] === key && existsSync(target)) {
    console.log(`${name}.tar.xz: up to date (${list.length} files, ${(statSync(target).size / 2 ** 20).toFixed(1)} MiB)`);
    return;
  }
  const started = performance.now();
  const listFile = join(out, `${name}.files`);
  writeFileSync(listFile, list.map((f) => `${f}\0`).join(''));
  const partial = `${target}.partial`;
  // tar reads the NUL-separated list (no directory recursion: the exclusions are applied above, in one place).
  execFileSync('bash', ['-c', 'set -o pipefail; tar --null -C "$1" -cf - -T "$2" | xz -T2 -6 > "$3"', 'pack', root, listFile, partial], {
    stdio: 'inherit',
  });
  renameSync(partial, target);
  rmSync(listFile);
  state[name] = key;
  writeFileSync(statePath, `${JSON.stringify(state, null, 2)}\n`);
  const seconds = (performance.now() - started) / 1000;
  console.log(`${name}.tar.xz: ${list.length} files, ${(statSync(target).size / 2 ** 20).toFixed(1)} MiB (${seconds.toFixed(1)} s)`);
}

const { packages } = runtimePackages();
const moduleFiles = packages.flatMap((p) => [...files(p.dir)]);
// Installed packages change only through npm, which rewrites what it touches: paths, sizes and mtimes suffice.
archive('node_modules', moduleFiles, sha256(moduleFiles.map((f) => {
  const s = lstatSync(join(root, f));
  return `${f} ${s.size} ${s.mtimeMs}`;
})));

const distFiles = [...files('dist')];
// tsc rewrites every output on each build, so dist/ is keyed on content.
archive('dist', distFiles, sha256(distFiles.flatMap((f) => [f, readFileSync(join(root, f))])));

console.log(`packages carried (${packages.length}): ${packages.map((p) => relative('node_modules', p.dir)).join(', ')}`);
