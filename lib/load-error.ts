// Turns a failed load of the native addon into one readable message: what was looked for, why it failed (one
// line), and what to do. Loads nothing itself (lib/native.ts is the only file that loads the addon); kept apart
// so that tests and the install script can classify real dlopen messages without a working addon.

/** What went wrong, from the loader's message or from the check of the torch found. */
export type LoadFailureKind =
  | 'not-found' // no binary at the path(s) looked at
  | 'not-a-binary' // the file is not a shared object (ELF) at all
  | 'wrong-platform' // a binary for another OS, architecture or word size
  | 'missing-library' // a shared library it needs (libtorch.so, libcudart.so.13, ...) was not found
  | 'torch-not-found' // the prebuilt binary: no torch found (BYOL_PYTHON, LIBTORCH, python3), and it did not load without
  | 'torch-version' // the prebuilt binary: the torch found is another release than the one it is built against
  | 'torch-cpu-only' // the prebuilt binary is the CUDA build; the torch found is a CPU-only build of that release
  | 'torch-cuda-version' // the prebuilt binary is the CUDA build; the torch found is that release for another CUDA
  | 'glibc-too-old' // the system's C or C++ runtime is older than the one it was built against
  | 'library-version' // a library was found but is another version (an undefined or versioned symbol)
  | 'other';

export interface LoadFailure {
  kind: LoadFailureKind;
  /** The one-line reason, from the loader's message. */
  reason: string;
  /** The shared library that could not be found, for 'missing-library'. */
  library?: string;
}

/** The torch the prebuilt binary is built against, as scripts/prebuild.sh recorded it next to the binary. */
export interface PrebuildTorch {
  /** torch's release, e.g. '2.14.1'. */
  libtorch: string;
  /** The CUDA release of that torch build ('13.0'), or null for a CPU build. */
  cuda: string | null;
}

/** A torch installation found at load time: a LibTorch root (pip's site-packages/torch, or a LibTorch folder). */
export interface TorchInstall {
  /** The folder holding lib/libtorch.so. */
  root: string;
  /** Its version as torch.__version__ spells it, e.g. '2.14.1+cu130'. */
  version: string;
  /** How it was found: 'BYOL_PYTHON=/venv/bin/python', 'LIBTORCH=/opt/libtorch', 'python3 on PATH (/usr/bin/python3)'. */
  via: string;
  /** It has CUDA libraries (lib/libtorch_cuda.so). */
  cuda: boolean;
  /** The interpreter whose torch package it is, when found through a Python. */
  python?: string;
  /** The CUDA release it is built for ('13.0'), when known. */
  cudaRelease?: string;
}

/** Where torch was looked for, one line per place in order, and what was found. */
export interface TorchSearch {
  found?: TorchInstall;
  tried: string[];
}

const firstLine = (message: string): string =>
  message
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line.length > 0) ?? message;

/** Classifies a loader message (from `process.dlopen`, `require`, node-gyp-build or the LibTorch preloader). */
export function classifyLoadFailure(message: string): LoadFailure {
  const reason = firstLine(message);
  const missing = /([^\s:/]+\.so[.\d]*): cannot open shared object file/.exec(message);
  if (missing && !/\.node: cannot open shared object file/.test(message)) {
    return { kind: 'missing-library', reason, library: missing[1] };
  }
  if (/No native build was found|Cannot find module|\.node: cannot open shared object file|ENOENT/.test(message)) {
    return { kind: 'not-found', reason };
  }
  if (/invalid ELF header|file too short|not a dynamic executable|ELF file data encoding/.test(message)) {
    return { kind: 'not-a-binary', reason };
  }
  if (/wrong ELF class|ELF file OS ABI invalid|cannot open shared object file: Exec format error|Exec format error|ELF file's phentsize/.test(message)) {
    return { kind: 'wrong-platform', reason };
  }
  if (/version `GLIBC(XX)?_[\d.]+' not found|version `CXXABI_[\d.]+' not found/.test(message)) {
    return { kind: 'glibc-too-old', reason };
  }
  if (/undefined symbol|version `[^']+' not found|symbol lookup error/.test(message)) {
    return { kind: 'library-version', reason };
  }
  return { kind: 'other', reason };
}

/** '2.14.1+cu130' -> '2.14.1': the release, which decides the ABI; the local part names the build variant. */
export const torchRelease = (version: string): string => version.split('+')[0];

/**
 * Whether the prebuilt binary can run against the torch found: undefined when it can, else why not
 * ('torch-version': another release; 'torch-cpu-only': the binary is the CUDA build, that torch has no CUDA).
 */
export function checkTorch(found: TorchInstall, prebuild: PrebuildTorch): LoadFailure | undefined {
  if (torchRelease(found.version) !== torchRelease(prebuild.libtorch)) {
    return {
      kind: 'torch-version',
      reason:
        `the torch found is ${found.version} (through ${found.via}); the prebuilt binary is built against torch ` +
        `${prebuild.libtorch}, and LibTorch has no stable ABI across releases`,
    };
  }
  if (prebuild.cuda && !found.cuda) {
    return {
      kind: 'torch-cpu-only',
      reason:
        `the torch found is ${found.version} (through ${found.via}), a CPU-only build (no lib/libtorch_cuda.so); the prebuilt ` +
        `binary is the CUDA ${prebuild.cuda} build of torch ${prebuild.libtorch} and needs libtorch_cuda.so`,
    };
  }
  const major = (release: string): string => release.split('.')[0];
  if (prebuild.cuda && found.cudaRelease && major(found.cudaRelease) !== major(prebuild.cuda)) {
    return {
      kind: 'torch-cuda-version',
      reason:
        `the torch found is ${found.version} (through ${found.via}), built for CUDA ${found.cudaRelease}; the prebuilt binary is ` +
        `the CUDA ${prebuild.cuda} build of torch ${prebuild.libtorch} and needs CUDA ${major(prebuild.cuda)}'s runtime`,
    };
  }
  return undefined;
}

export interface LoadErrorContext {
  /** The binary paths tried, or the folder node-gyp-build searched. */
  tried: string[];
  /** How the path was chosen: 'BYOL_TORCH_BINARY' or 'node-gyp-build'. */
  via: 'BYOL_TORCH_BINARY' | 'node-gyp-build';
  /** The torch the package's prebuilt binary is built against, when the package has one. */
  prebuild?: PrebuildTorch;
  /** Where torch was looked for, when it was (the prebuilt binary, or a binary missing a library). */
  torch?: TorchSearch;
}

/** Libraries of LibTorch itself and of the CUDA it comes with (pip's nvidia-* packages). */
const TORCH_LIBRARY = /^lib(torch|c10|caffe2|shm|gomp|cu|nv|nccl)/;

const HOW_FOUND =
  'the package finds torch through BYOL_PYTHON (a Python interpreter), else LIBTORCH (a LibTorch folder: lib/, ' +
  'include/, share/), else the python3 on PATH';

/** The full message of a NativeLoadError: looked for, reason, where torch was looked for, what to do. */
export function formatLoadError(message: string | LoadFailure, context: LoadErrorContext): string {
  const { prebuild, torch } = context;
  const failure = { ...(typeof message === 'string' ? classifyLoadFailure(message) : message) };
  if (failure.kind === 'missing-library' && torch && !torch.found) failure.kind = 'torch-not-found';
  const release = prebuild ? torchRelease(prebuild.libtorch) : undefined;
  const pip = `\`pip install torch${release ? `==${release}` : ''}\``;
  const built = prebuild
    ? `torch ${release}${prebuild.cuda ? `, the CUDA ${prebuild.cuda} build that pip installs on Linux (it runs without a GPU too)` : ', a CPU build'}`
    : 'torch';
  // pip for the Python whose torch was found, when it was found through one.
  const pipFor = (options: string): string => {
    const python = torch?.found?.python;
    return `\`${python ? `${python} -m pip` : 'pip'} install ${options}torch${release ? `==${release}` : ''}\``;
  };
  const wanted = release ? `torch ${release}` : 'the torch the binary is built against';
  const rebuild =
    '`npm rebuild byol-torch --build-from-source` (needs cmake, g++ and LibTorch: a PyTorch install found ' +
    'through BYOL_PYTHON or python3, or a LibTorch folder in LIBTORCH; a CUDA torch needs nvcc too)';
  const install = [
    `install ${built}: ${pip}; ${HOW_FOUND}`,
    `or point BYOL_PYTHON at a Python that has ${wanted}, or LIBTORCH at a LibTorch folder of ${wanted}`,
    `or build against the torch you have: ${rebuild}`,
  ];
  const what: string[] = [];
  switch (failure.kind) {
    case 'not-found':
      what.push(
        context.via === 'BYOL_TORCH_BINARY'
          ? 'BYOL_TORCH_BINARY names a file that does not exist: set it to a built byol_torch.node, or unset it'
          : `build the addon from source: ${rebuild}`,
      );
      break;
    case 'not-a-binary':
      what.push('the file is not a compiled addon (damaged or not a .node file): reinstall the package, or ' +
        `rebuild it: ${rebuild}`);
      break;
    case 'wrong-platform':
      what.push(`the prebuilt binary is for Linux x64 (glibc); on ${process.platform}-${process.arch} build from source: ${rebuild}`);
      break;
    case 'torch-not-found':
      what.push(...install, 'or put the folder holding the library on LD_LIBRARY_PATH');
      break;
    case 'missing-library':
      if (torch?.found && TORCH_LIBRARY.test(failure.library ?? '')) {
        what.push(
          `the torch found (${torch.found.version} at ${torch.found.root}) lacks ${failure.library}, one of its own ` +
            `or its CUDA libraries: reinstall it with its dependencies, \`pip install --force-reinstall ` +
            `torch==${torchRelease(torch.found.version)}\` (pip's CUDA build comes with the nvidia-* packages that hold them)`,
          `or build against the torch you have: ${rebuild}`,
        );
        what.push('or put the folder holding the library on LD_LIBRARY_PATH');
      } else if (torch?.found) {
        what.push(
          `${failure.library ?? 'the library'} is not one of torch's: install it, or put the folder holding it on LD_LIBRARY_PATH`,
          `or build against the torch you have: ${rebuild}`,
        );
      } else {
        what.push(...install, 'or put the folder holding the library on LD_LIBRARY_PATH');
      }
      break;
    case 'torch-version':
      what.push(
        `install that torch: ${pipFor('')}, or point BYOL_PYTHON at a Python that has it (or LIBTORCH at its ` +
          'site-packages/torch)',
        `or build against yours: ${rebuild}`,
      );
      break;
    case 'torch-cpu-only':
    case 'torch-cuda-version':
      what.push(
        `install the CUDA ${prebuild?.cuda ?? ''} build of torch ${release} (it runs without a GPU too), PyPI's, not ` +
          `one from an index of other builds (CPU-only, other CUDA releases): ${pipFor('--force-reinstall ')}`,
        `or build against yours${failure.kind === 'torch-cpu-only' ? ' (a CPU build)' : ''}: ${rebuild}`,
      );
      break;
    case 'glibc-too-old':
      what.push(
        'this system\'s C/C++ runtime is older than the one the prebuilt binary needs (glibc 2.34+, the libstdc++ of GCC 12)',
        `build from source here: ${rebuild}`,
      );
      break;
    case 'library-version':
      what.push(
        `the LibTorch found is not the one the binary was built for${release ? ` (torch ${release})` : ''}: ` +
          `install that one (${pip}), or rebuild against yours: ${rebuild}`,
        'or point BYOL_TORCH_BINARY at a byol_torch.node built for that LibTorch',
      );
      break;
    default:
      what.push(`rebuild the addon: ${rebuild}`);
  }
  what.push('in a checkout of the repository: `npm run setup` installs PyTorch and builds the addon');
  const looked = context.tried.map((path) => `  ${path}`).join('\n');
  const torchLines = torch
    ? `Torch, looked for in this order:\n${torch.tried.map((line) => `  - ${line}`).join('\n')}\n`
    : '';
  return (
    `byol-torch: the native addon could not be loaded (${failure.kind}).\n` +
    `Looked for (${context.via}):\n${looked}\n` +
    `Reason: ${failure.reason}\n` +
    torchLines +
    `What to do:\n${what.map((line) => `  - ${line}`).join('\n')}`
  );
}
