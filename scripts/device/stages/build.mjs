// Stage 'build': the addon against the machine's PyTorch LibTorch, with plain CMake (no cmake-js there), then the
// proof that dist/ loads that very binary and what it sees.
//
// cmake-js would pass CMAKE_JS_INC (Node's C headers and node-addon-api's), CMAKE_JS_SRC and CMAKE_JS_LIB (both
// empty on Linux); here CMAKE_JS_INC points at the packed node-api-headers and node-addon-api. CMakeLists.txt also
// runs `node -p "require('node-addon-api').include_dir"`, which the unpacked Node answers. LibTorch is named as on
// a development machine (scripts/setup.sh): LIBTORCH = the torch folder of BYOL_PYTHON, which
// cmake/FindLibTorchLocations.cmake takes before anything else and checks every library against; a CUDA LibTorch
// then finds nvcc and the wheel's CUDA libraries itself (cmake/LibTorchCuda.cmake), and the GPUs compiled for
// are CMakeLists.txt's default (90: H100/H200). No CMake CUDA variable is set here.
//
// GPU: configure and build into build-device/ (kept between calls on a warm machine: a rerun rebuilds only what
// changed); `ninja -k 0` keeps going so that every compile error shows in one pass. Then BYOL_TORCH_BINARY points
// every later stage at build-device/byol_torch.node.
// Dry run: the same configure command line into a temporary folder, against this machine's LibTorch, no build;
// the addon is the one the dry run is given (BYOL_DEVICE_PREBUILT_ADDON, set by dry-run.mjs: BYOL_TORCH_BINARY or
// build/Release).
// BYOL_DEVICE_PREBUILT_ADDON on the GPU: no configure and no build, that addon instead (a rerun whose build is known
// good; or, here, a run of the GPU forms of the other stages against the CPU addon, to see how they fail).
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StageFailure } from '../run-stages.mjs';

/** The first file named `name` under `dir`, breadth first (undefined if none). */
function findFile(dir, name) {
  const queue = [dir];
  while (queue.length) {
    const current = queue.shift();
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      if (entry.isFile() && entry.name === name) return join(current, name);
      if (entry.isDirectory() && entry.name !== 'CMakeFiles') queue.push(join(current, entry.name));
    }
  }
  return undefined;
}

/** Compiler and linker errors of a build log: what to fix, without the noise around it. */
function errorLines(output, max = 30) {
  const lines = output.split('\n').filter((l) => /\berror\b|FAILED:|undefined reference|CMake Error/.test(l));
  return [...new Set(lines)].slice(0, max);
}

async function pythonFacts(ctx) {
  const script =
    'import json, os, torch; print(json.dumps({"root": os.path.dirname(torch.__file__), "torch": torch.__version__, ' +
    '"cuda": torch.version.cuda, "gpus": torch.cuda.device_count() if torch.cuda.is_available() else 0, ' +
    '"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}))';
  const r = ctx.check(await ctx.python(['-c', script], { timeoutSeconds: 60, label: 'python: torch facts' }), `${ctx.state.env.BYOL_PYTHON} -c "import torch"`);
  return JSON.parse(r.output.trim().split('\n').pop());
}

/** Loads dist/ with the chosen addon in a fresh Node and reports what it sees. */
async function loadProbe(ctx) {
  const code =
    `const m = await import(${JSON.stringify(join(ctx.root, 'dist', 'index.js'))});` +
    'console.log(JSON.stringify({ path: m.addonPath(), info: m.libtorchInfo(), gpus: m.cuda.deviceCount() }));';
  const r = ctx.check(await ctx.node(['--input-type=module', '-e', code], { timeoutSeconds: 60, label: 'load probe' }), 'loading dist/ with the addon');
  return JSON.parse(r.output.trim().split('\n').pop());
}

/** cmake's configure into `buildDir`, with what cmake-js would otherwise pass; fails the stage on an error. */
async function configure(ctx, torch, buildDir) {
  const { root, state } = ctx;
  const args = [
    ...(existsSync(join(buildDir, 'CMakeCache.txt')) ? [] : ['-G', 'Ninja']),
    '-S', root, '-B', buildDir,
    '-DCMAKE_BUILD_TYPE=Release',
    `-DLIBTORCH=${torch.root}`,
    '-DBYOL_BUILD_TESTS=ON',
    `-DCMAKE_JS_INC=${join(root, 'node_modules', 'node-api-headers', 'include')};${join(root, 'node_modules', 'node-addon-api')}`,
    '-DCMAKE_JS_SRC=',
    '-DCMAKE_JS_LIB=',
  ];
  const r = await ctx.run('cmake', args, { label: 'cmake configure' });
  ctx.figures['configure s'] = r.seconds.toFixed(1);
  const found = /byol-torch: LibTorch (\S+) from ([^\n]+)/.exec(r.output);
  if (found) ctx.figures.LibTorch = `${found[1]} (${found[2].trim()})`;
  // The project's own configure messages (LibTorch found, CUDA kernels, Gloo, NCCL, GoogleTest): what is built.
  for (const line of new Set(r.output.split('\n').filter((l) => /byol-torch: /.test(l)))) ctx.note(line.replace(/^.*?byol-torch: /, ''));
  state.gtestMissing = /GoogleTest not found/.test(r.output);
  if (r.code !== 0) {
    for (const line of errorLines(r.output)) ctx.print(line);
    ctx.check(r, 'cmake configure');
  }
}

export default {
  async run(ctx) {
    const { plan, state, root } = ctx;
    const torch = await pythonFacts(ctx);
    Object.assign(ctx.figures, { PyTorch: `${torch.torch}${torch.cuda ? ` (CUDA ${torch.cuda})` : ''}`, GPU: torch.gpu ?? 'none' });
    if (ctx.mode === 'gpu') {
      await ctx.run('nvidia-smi', ['-L'], { timeoutSeconds: 20 });
      await ctx.run('nvcc', ['--version'], { timeoutSeconds: 20 });
    }

    const prebuilt = process.env.BYOL_DEVICE_PREBUILT_ADDON;
    if (prebuilt && !existsSync(prebuilt)) throw new StageFailure(`BYOL_DEVICE_PREBUILT_ADDON: expected an addon at ${prebuilt}`);
    if (plan.build.configureOnly) {
      if (!prebuilt) throw new StageFailure('expected BYOL_DEVICE_PREBUILT_ADDON to name the addon built here (the dry run stands it in for the build)');
      const folder = mkdtempSync(join(tmpdir(), 'byol-device-configure-'));
      try {
        await configure(ctx, torch, folder);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
      ctx.note(`configure only (dry run): the command line and the LibTorch lookup are proven; the addon given stands in (${prebuilt})`);
      state.addon = prebuilt;
    } else if (prebuilt) {
      ctx.note(`BYOL_DEVICE_PREBUILT_ADDON: no build, using ${prebuilt}`);
      state.addon = prebuilt;
    } else {
      const buildDir = join(root, 'build-device');
      await configure(ctx, torch, buildDir);
      const build = await ctx.run('cmake', ['--build', buildDir, '--parallel', '--', '-k', '0'], { label: 'cmake --build' });
      ctx.figures['build s'] = build.seconds.toFixed(1);
      ctx.print(`build took ${build.seconds.toFixed(1)} s`);
      if (build.code !== 0) {
        const errors = errorLines(build.output);
        for (const line of errors) ctx.print(line);
        ctx.figures.errors = errors.length;
        ctx.check(build, 'cmake --build (ninja -k 0: every error above)');
      }
      // Plain CMake puts it at the top of the build folder (cmake-js would set an output folder of its own).
      state.addon = findFile(buildDir, 'byol_torch.node');
      if (!state.addon) throw new StageFailure(`expected byol_torch.node in ${buildDir} after the build`);
      state.gtestBinary = findFile(buildDir, 'byol_core_tests');
    }

    // Every later stage, and every process they start, loads this binary (lib/native.ts: BYOL_TORCH_BINARY wins).
    state.env.BYOL_TORCH_BINARY = state.addon;
    const probe = await loadProbe(ctx);
    if (probe.path !== state.addon) throw new StageFailure(`expected dist/ to load ${state.addon}, it loaded ${probe.path}`);
    // The stages after compare with, and the benchmarks run, BYOL_PYTHON's torch: the addon must be built on it.
    const release = torch.torch.replace(/\+.*$/, '');
    if (probe.info.libtorch !== release) {
      throw new StageFailure(
        `the addon ${probe.path} is built on LibTorch ${probe.info.libtorch} (${probe.info.torchSource}), but ${state.env.BYOL_PYTHON} has torch ` +
          `${torch.torch}: build it against that torch, or set BYOL_PYTHON to the Python whose torch it was built on`,
      );
    }
    Object.assign(ctx.figures, {
      addon: probe.path.startsWith(root) ? probe.path.slice(root.length + 1) : probe.path,
      'addon LibTorch': `${probe.info.libtorch}${probe.info.cudaBuilt ? ' with CUDA' : ' (CPU)'}`,
      'GPUs seen': probe.gpus,
    });
    state.cudaSeen = probe.info.cudaBuilt && probe.gpus > 0;
    ctx.goal('addon on a CUDA LibTorch sees the GPU', 'yes', state.cudaSeen ? 'yes' : 'no', state.cudaSeen);
    if (ctx.mode === 'gpu' && !state.cudaSeen) {
      throw new StageFailure(`the addon (LibTorch ${probe.info.libtorch}, ${probe.info.cudaBuilt ? 'CUDA build' : 'CPU build'}) sees ${probe.gpus} GPUs`);
    }
  },
};
