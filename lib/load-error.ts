// Turns a failed load of the native addon into one readable message: what was looked for, why it failed (one
// line), and what to do. Loads nothing itself (lib/native.ts is the only file that loads the addon); kept apart
// so that tests and the install script can classify real dlopen messages without a working addon.

/** What went wrong, from the loader's message. */
export type LoadFailureKind =
  | 'not-found' // no binary at the path(s) looked at
  | 'not-a-binary' // the file is not a shared object (ELF) at all
  | 'wrong-platform' // a binary for another OS, architecture or word size
  | 'missing-library' // a shared library it needs (libtorch_cpu.so.1.13, ...) is not installed
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

const firstLine = (message: string): string =>
  message
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line.length > 0) ?? message;

/** Classifies a loader message (from `process.dlopen`, `require` or node-gyp-build). */
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

export interface LoadErrorContext {
  /** The binary paths tried, or the folder node-gyp-build searched. */
  tried: string[];
  /** How the path was chosen: 'BYOL_TORCH_BINARY' or 'node-gyp-build'. */
  via: 'BYOL_TORCH_BINARY' | 'node-gyp-build';
  /** The LibTorch version the package's binaries are built for. */
  libtorch: string;
}

/** The full message of a NativeLoadError: looked for, reason, what to do. */
export function formatLoadError(message: string, context: LoadErrorContext): string {
  const failure = classifyLoadFailure(message);
  const { libtorch } = context;
  const what: string[] = [];
  const rebuild =
    '`npm rebuild byol-torch --build-from-source` (needs cmake, g++ and LibTorch: the system package ' +
    'libtorch-dev, a LibTorch folder in LIBTORCH, or a PyTorch install)';
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
    case 'missing-library':
      what.push(
        `install the LibTorch ${libtorch} runtime: on Debian 12 \`apt-get install libtorch${libtorch}\` (no compiler needed)`,
        `or build against the LibTorch you have: ${rebuild}`,
        'or put the folder holding the library on LD_LIBRARY_PATH',
      );
      break;
    case 'glibc-too-old':
      what.push(
        'this system\'s C/C++ runtime is older than Debian 12\'s, which the prebuilt binary needs (glibc 2.34+)',
        `build from source here: ${rebuild}`,
      );
      break;
    case 'library-version':
      what.push(
        `the LibTorch found is not the one the binary was built for (${libtorch}): install libtorch${libtorch}, ` +
          `or rebuild against yours: ${rebuild}`,
        'or point BYOL_TORCH_BINARY at a byol_torch.node built for that LibTorch (e.g. a CUDA build)',
      );
      break;
    default:
      what.push(`rebuild the addon: ${rebuild}`);
  }
  what.push('in a checkout of the repository: `npm run setup` installs LibTorch and builds the addon');
  const looked = context.tried.map((path) => `  ${path}`).join('\n');
  return (
    `byol-torch: the native addon could not be loaded (${failure.kind}).\n` +
    `Looked for (${context.via}):\n${looked}\n` +
    `Reason: ${failure.reason}\n` +
    `What to do:\n${what.map((line) => `  - ${line}`).join('\n')}`
  );
}
