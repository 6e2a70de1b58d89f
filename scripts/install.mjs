// The package's npm "install" script.
//   - In a checkout of the repository (.git or scripts/setup.sh next to package.json): does nothing; setup.sh builds the
//     addon (so `npm ci` never starts a build that setup would repeat).
//   - In an installed package: when the binary that lib/native.ts would load (a local build/, else the prebuilt
//     prebuilds/linux-x64/byol-torch.napi.glibc.node, or BYOL_TORCH_BINARY) loads, it is done: no compiler needed.
//     Otherwise it builds from the shipped sources with cmake-js (into build/, which node-gyp-build then prefers).
//     With no LibTorch to build against, it fails with a message listing each way to get one.
//   - `npm rebuild byol-torch --build-from-source` (or BYOL_TORCH_BUILD_FROM_SOURCE=1) skips the prebuild;
//     BYOL_TORCH_CMAKE_ARGS adds cmake-js arguments (e.g. --CDLIBTORCH=/opt/libtorch).
// Plain Node (no dependencies) so that it runs before anything else of the package is usable.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (line) => console.log(`byol-torch: ${line}`);
const fail = (text) => {
  console.error(`byol-torch: ${text}`);
  process.exit(1);
};

// The torch the prebuilt binary is built against (scripts/prebuild.sh records it next to the binary).
let prebuilt = { libtorch: '', cuda: '' };
try {
  prebuilt = JSON.parse(readFileSync(join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'libtorch.json'), 'utf8'));
} catch {
  // no prebuilt binary for this platform
}
const pipTorch = `pip install torch${prebuilt.libtorch ? `==${prebuilt.libtorch}` : ''}`;
const PREBUILT_WAY = prebuilt.libtorch
  ? `\`${pipTorch}\` runs the prebuilt binary (no compiler needed): it is built against torch ${prebuilt.libtorch}` +
    `${prebuilt.cuda ? `,\n    the CUDA ${prebuilt.cuda} build that pip installs on Linux (it runs without a GPU too)` : ''}, found at load ` +
    'time through BYOL_PYTHON\n    (a Python interpreter), else LIBTORCH (a LibTorch folder), else the python3 on PATH'
  : 'no prebuilt binary for this platform: build from source';

const LIBTORCH_WAYS =
  'Get LibTorch in one of these ways, then run `npm rebuild byol-torch`:\n' +
  `  - ${PREBUILT_WAY}\n` +
  '  - a PyTorch install of another release (pip install torch==X) to build against, found through python3 or the\n' +
  '    interpreter in BYOL_PYTHON (needs cmake and g++; a CUDA torch needs nvcc too)\n' +
  '  - a LibTorch folder (unpacked from pytorch.org\'s LibTorch archive, CPU or CUDA): export LIBTORCH=/path/to/libtorch\n' +
  '  - a folder holding TorchConfig.cmake: export Torch_DIR=/path/to/share/cmake/Torch';

if (existsSync(join(root, '.git')) || existsSync(join(root, 'scripts', 'setup.sh'))) {
  // npm ci / npm install in the repository (a clone, or a copy without .git: setup.sh is never shipped in the
  // package): scripts/setup.sh makes the one build, with the native tests.
  process.exit(0);
}

/** Imports the package in a child process; returns the binary it loaded, or the NativeLoadError's message. */
function tryLoad(explicit = false) {
  const env = { ...process.env };
  if (!explicit) delete env.BYOL_TORCH_BINARY;
  const index = pathToFileURL(join(root, 'dist', 'index.js')).href;
  const child = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `const m = await import(${JSON.stringify(index)}); console.log(m.addonPath());`],
    { encoding: 'utf8', env },
  );
  if (child.status === 0) return { ok: true, path: child.stdout.trim().split('\n').pop() };
  return { ok: false, message: (child.stderr || child.stdout || `exit ${child.status}`).trim() };
}

/** The NativeLoadError text out of a child's stderr (from "byol-torch:" on, without the stack). */
const loadMessage = (stderr) => {
  const start = stderr.indexOf('byol-torch: the native addon');
  const text = start >= 0 ? stderr.slice(start) : stderr;
  return text.split('\n').filter((line) => !/^\s+at /.test(line) && !/^Node\.js v/.test(line)).join('\n').trim();
};

const fromSource =
  process.env.npm_config_build_from_source === 'true' || process.env.BYOL_TORCH_BUILD_FROM_SOURCE === '1';

if (process.env.BYOL_TORCH_BINARY && !fromSource) {
  const loaded = tryLoad(true);
  if (loaded.ok) {
    say(`using BYOL_TORCH_BINARY=${loaded.path}`);
    process.exit(0);
  }
  fail(loadMessage(loaded.message));
}

let prebuildFailure = '';
if (!fromSource) {
  const loaded = tryLoad();
  if (loaded.ok) {
    say(`using ${loaded.path}`);
    process.exit(0);
  }
  prebuildFailure = loadMessage(loaded.message);
  say('no binary loads here (the reason below); building from source.');
  console.log(prebuildFailure.replace(/^/gm, '    '));
}

// --- the source build --------------------------------------------------------------------------------------
const onPath = (cmd) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, cmd)));
const compiler = ['c++', 'g++', 'clang++'].find(onPath);
if (!onPath('cmake') || !compiler) {
  fail(
    `building from source needs cmake and a C++17 compiler on PATH (found: ${
      [onPath('cmake') && 'cmake', compiler].filter(Boolean).join(', ') || 'neither'
    }).\n` +
      `Either make the prebuilt binary load (Linux x64, glibc 2.34+, and \`${pipTorch}\`: the reason it did not is\n` +
      'above), or install cmake and g++ and LibTorch, then `npm rebuild byol-torch`.\n' +
      LIBTORCH_WAYS,
  );
}

let cmakeJs;
try {
  cmakeJs = createRequire(join(root, 'package.json')).resolve('cmake-js/bin/cmake-js');
} catch {
  fail('cmake-js (a dependency of byol-torch) is not installed; reinstall the package with its dependencies.');
}

// Extra cmake-js arguments, e.g. BYOL_TORCH_CMAKE_ARGS="--CDLIBTORCH=/opt/libtorch --parallel 2".
const extraArgs = (process.env.BYOL_TORCH_CMAKE_ARGS ?? '').split(/\s+/).filter(Boolean);
const logFile = join(root, 'build', 'byol-torch-install.log');
mkdirSync(dirname(logFile), { recursive: true });
say(`building the addon with cmake-js (a few minutes; log: ${logFile})`);
const start = Date.now();
const build = spawnSync(
  process.execPath,
  [cmakeJs, 'compile', '--out', 'build', '--CDBYOL_BUILD_TESTS=OFF', '--log-level', 'warn', ...extraArgs],
  { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 },
);
const output = `${build.stdout ?? ''}\n${build.stderr ?? ''}`;
writeFileSync(logFile, output);
if (build.status !== 0) {
  const notFound = output.indexOf('byol-torch: LibTorch was not found');
  if (notFound >= 0) {
    // CMake's list of the places tried, up to its own list of ways (replaced by ours).
    const text = output.slice(notFound);
    const ways = text.indexOf('Get LibTorch');
    const places = [
      ...new Set(
        (ways >= 0 ? text.slice(0, ways) : text)
          .split('\n')
          .filter((line) => /^\s+- /.test(line))
          .map((line) => `  ${line.trim()}`),
      ),
    ];
    fail(
      `cannot build from source: LibTorch was not found. Places tried:\n${places.join('\n')}\n${LIBTORCH_WAYS}` +
        (prebuildFailure ? '\n(The prebuilt binary did not load either: see above.)' : ''),
    );
  }
  const tail = output.trim().split('\n').slice(-30).join('\n');
  fail(`the source build failed (cmake-js exit ${build.status}); the end of ${logFile}:\n${tail}`);
}

const loaded = tryLoad();
if (!loaded.ok) fail(`the source build finished but the addon does not load:\n${loadMessage(loaded.message)}`);
say(`built ${loaded.path} in ${Math.round((Date.now() - start) / 1000)} s`);
