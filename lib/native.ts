// The only file that loads and types the raw addon. Everything else imports `native` from here.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkTorch,
  classifyLoadFailure,
  formatLoadError,
  type LoadFailure,
  type PrebuildTorch,
  type TorchInstall,
  type TorchSearch,
} from './load-error.js';

/** A dtype name as the JS API spells it. */
export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool' | 'float16' | 'bfloat16';
/** 'cpu', 'cuda' or 'cuda:N'. */
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
/** The typed array a dtype reads back as (float16/bfloat16 as Float32Array, bool as Uint8Array). */
export type HostArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** The raw native tensor handle (native/binding/tensor.cc). Wrapped by lib/tensor.ts's Tensor. */
export interface NativeTensor {
  shape(): number[];
  dtype(): DType;
  device(): string;
  numel(): number;
  isDisposed(): boolean;
  isContiguous(): boolean;
  isChannelsLast(): boolean;
  requiresGrad(): boolean;
  setRequiresGrad(flag: boolean): NativeTensor;
  grad(): NativeTensor | null;
  zeroGrad(): NativeTensor;
  backward(gradient?: NativeTensor): Promise<void>;
  toDevice(device: string): NativeTensor;
  toDtype(dtype: string): NativeTensor;
  pin(): NativeTensor;
  isPinned(): boolean;
  contiguous(): NativeTensor;
  channelsLast(): NativeTensor;
  data(): Promise<HostArray>;
  dataSync(): HostArray;
  item(): number;
  binary(op: 'add' | 'sub' | 'mul' | 'div' | 'pow', other: NativeTensor | number, inPlace: boolean): NativeTensor;
  unary(op: UnaryOp, inPlace: boolean): NativeTensor;
  reduce(op: 'sum' | 'mean', dims: number[] | undefined, keepDim: boolean): NativeTensor;
  clamp(min: number | undefined, max: number | undefined, inPlace: boolean): NativeTensor;
  normalize(p: number, dim: number, eps: number): NativeTensor;
  argmax(dim: number, keepDim: boolean): NativeTensor;
  matmul(other: NativeTensor): Promise<NativeTensor>;
  view(shape: number[]): NativeTensor;
  reshape(shape: number[]): NativeTensor;
  permute(dims: number[]): NativeTensor;
  transpose(dim0: number, dim1: number): NativeTensor;
  flatten(startDim: number, endDim: number): NativeTensor;
  unsqueeze(dim: number): NativeTensor;
  squeeze(dim?: number): NativeTensor;
  chunk(chunks: number, dim: number): NativeTensor[];
  select(dim: number, index: number): NativeTensor;
  slice(dim: number, start: number, end: number, step: number): NativeTensor;
  indexSelect(dim: number, index: NativeTensor): NativeTensor;
  clone(): NativeTensor;
  detach(): NativeTensor;
  copyFrom(source: NativeTensor): NativeTensor;
  fill(value: number): NativeTensor;
  dispose(): void;
}

export type UnaryOp = 'neg' | 'sqrt' | 'exp' | 'log' | 'abs' | 'relu' | 'sigmoid' | 'tanh';

export interface NativeInfo {
  libtorch: string;
  torchSource: string;
  cudaBuilt: boolean;
  cores: number;
  mkldnn: boolean;
  parallelInfo: string;
}

export interface NativeMemory {
  tensors: number;
  bytes: number;
  pendingJobs: number;
  hostAllocatedBytes: number;
  hostCachedBytes: number;
  devices: NativeDeviceMemory[];
}

export interface NativeDeviceMemory {
  device: string;
  allocatedBytes: number;
  reservedBytes: number;
  peakAllocatedBytes: number;
}

export interface NativeAddon {
  NativeTensor: new () => NativeTensor;
  fromData(data: HostArray, shape: number[], dtype: string): NativeTensor;
  full(shape: number[], value: number, dtype: string, device: string): NativeTensor;
  random(kind: 'rand' | 'randn', shape: number[], dtype: string, device: string): NativeTensor;
  arange(start: number, end: number, step: number, dtype: string, device: string): NativeTensor;
  cat(tensors: NativeTensor[], dim: number, stack: boolean): NativeTensor;
  manualSeed(seed: number): void;

  info(): NativeInfo;
  cudaDeviceCount(): number;
  getNumThreads(): number;
  setNumThreads(threads: number): void;
  isGradEnabled(): boolean;
  setGradEnabled(enabled: boolean): void;
  memory(): NativeMemory;
  /** Jobs submitted and synchronous drains since the addon loaded. */
  executorStats(): { jobs: number; drains: number };
  jobSettings(): Promise<{ gradEnabled: boolean; numThreads: number }>;
  releaseHostCache(): void;
  drain(): void;
  /** At process exit: drops queued jobs and waits up to `waitMs` for the running one, else ends the process now. */
  shutdown(waitMs: number, exitCode: number): void;
}

/** Thrown when the compiled addon cannot be loaded; says what was looked for and what to do. */
export class NativeLoadError extends Error {
  override name = 'NativeLoadError';
}

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The prebuilt binary's folder: prebuilds/linux-x64 (scripts/prebuild.sh). */
const prebuildDir = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
/** The LibTorch preloader (native/loader), next to the prebuilt binary and in a local build. */
const PRELOADER = join('loader', 'byol_torch_preload.node');
/** What scripts/prebuild.sh recorded next to the prebuilt binary: the torch it is built against. */
const PREBUILD_RECORD = 'libtorch.json';

let loadedFrom = '';

/**
 * Loads the addon. BYOL_TORCH_BINARY (a path to a byol_torch.node, e.g. one built against a CUDA LibTorch) wins;
 * otherwise node-gyp-build takes a local build (build/Release) when there is one, else the prebuilt binary
 * under prebuilds/<platform>-<arch>/.
 *
 * A local build finds its LibTorch through its own run-time path (the folder it was built against). The prebuilt
 * binary names no folder: its LibTorch libraries are found first (findTorch: BYOL_PYTHON, else LIBTORCH, else
 * python3), checked against the torch it is built against (prebuilds/<platform>-<arch>/libtorch.json), and
 * loaded into the process by full path (native/loader), so that the dynamic linker takes them for the binary's
 * sonames. Any other binary that fails for a missing library is retried once the same way. A failure throws one
 * NativeLoadError saying what was looked for and what to do (lib/load-error.ts).
 */
function loadAddon(): NativeAddon {
  const require = createRequire(import.meta.url);
  const explicit = process.env.BYOL_TORCH_BINARY;
  let tried: string[] = [explicit ? resolve(explicit) : packageRoot];
  let prebuild: PrebuildTorch | undefined;
  let torch: TorchSearch | undefined;
  const fail = (failure: string | LoadFailure, cause?: unknown): NativeLoadError =>
    new NativeLoadError(
      formatLoadError(failure, {
        tried,
        via: explicit ? 'BYOL_TORCH_BINARY' : 'node-gyp-build',
        prebuild: prebuild ?? readPrebuildRecord(prebuildDir),
        torch,
      }),
      { cause },
    );
  try {
    let path: string;
    if (explicit) {
      path = tried[0];
      if (!existsSync(path)) throw new Error(`ENOENT: no such file: ${path}`);
    } else {
      const load = require('node-gyp-build') as { resolve(dir: string): string };
      tried = [join(packageRoot, 'build', 'Release', '*.node'), join(prebuildDir, '*.node')];
      path = load.resolve(packageRoot);
      tried = [path];
    }
    const open = (): NativeAddon => {
      const module = { exports: {} };
      process.dlopen(module, path);
      loadedFrom = path;
      return module.exports as NativeAddon;
    };
    if (dirname(path) === prebuildDir) {
      prebuild = readPrebuildRecord(prebuildDir);
      torch = findTorch();
      if (torch.found) {
        const unusable = prebuild && checkTorch(torch.found, prebuild);
        if (unusable) throw fail(unusable);
        preloadTorch(torch.found, join(prebuildDir, PRELOADER));
      }
      // No torch found: it may still load where the dynamic linker finds LibTorch itself (LD_LIBRARY_PATH).
      return open();
    }
    try {
      return open();
    } catch (first) {
      if (classifyLoadFailure(String((first as Error)?.message)).kind !== 'missing-library') throw first;
      torch = findTorch();
      if (!torch.found) throw first;
      const preloader = [join(packageRoot, 'build', PRELOADER), join(prebuildDir, PRELOADER)].find((p) => existsSync(p));
      preloadTorch(torch.found, preloader ?? join(packageRoot, 'build', PRELOADER));
      return open();
    }
  } catch (cause) {
    if (cause instanceof NativeLoadError) throw cause;
    throw fail(cause instanceof Error ? cause.message : String(cause), cause);
  }
}

/** The torch the prebuilt binary is built against, as scripts/prebuild.sh recorded it; undefined without one. */
function readPrebuildRecord(dir: string): PrebuildTorch | undefined {
  try {
    const record = JSON.parse(readFileSync(join(dir, PREBUILD_RECORD), 'utf8')) as Partial<PrebuildTorch>;
    if (typeof record.libtorch !== 'string') return undefined;
    return { libtorch: record.libtorch, cuda: typeof record.cuda === 'string' && record.cuda ? record.cuda : null };
  } catch {
    return undefined;
  }
}

/**
 * Finds the torch to load, in this order: the interpreter in BYOL_PYTHON, the LibTorch folder in LIBTORCH, the
 * python3 on PATH. One that is set but unusable ends the search (it was asked for). A Python is asked where its
 * torch package is without importing it (find_spec: ~20 ms, where `import torch` takes seconds); the version is
 * read from the folder.
 */
function findTorch(): TorchSearch {
  const tried: string[] = [];
  const done = (line: string, found?: TorchInstall): TorchSearch => {
    tried.push(line);
    return { found, tried };
  };
  const python = process.env.BYOL_PYTHON;
  if (python) return torchOfPython(python, `BYOL_PYTHON=${python}`, done);
  tried.push('BYOL_PYTHON: not set');
  const libtorch = process.env.LIBTORCH;
  if (libtorch) return torchAt(resolve(libtorch), `LIBTORCH=${libtorch}`, done);
  tried.push('LIBTORCH: not set');
  return torchOfPython('python3', 'python3 on PATH', done);
}

type Done = (line: string, found?: TorchInstall) => TorchSearch;

const FIND_TORCH_PY =
  'import importlib.util, sys\n' +
  'print(sys.executable, flush=True)\n' +
  'spec = importlib.util.find_spec("torch")\n' +
  'if spec is None or not spec.submodule_search_locations: sys.exit("No module named torch")\n' +
  'print(list(spec.submodule_search_locations)[0])\n';

function torchOfPython(python: string, via: string, done: Done): TorchSearch {
  const child = spawnSync(python, ['-c', FIND_TORCH_PY], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.error) {
    const code = (child.error as NodeJS.ErrnoException).code;
    return done(`${via}: ${code === 'ENOENT' ? 'not found' : child.error.message}`);
  }
  const lines = child.stdout.trim().split('\n');
  const named = python === 'python3' && lines[0] ? `${via} (${lines[0]})` : via;
  if (child.status !== 0 || lines.length < 2) {
    const why = child.stderr.trim().split('\n').pop() || `exit status ${child.status}`;
    return done(`${named}: ${why}`);
  }
  const search = torchAt(lines[1], named, done);
  if (search.found && lines[0]) search.found.python = lines[0];
  return search;
}

/** A LibTorch root: pip's site-packages/torch, or a LibTorch folder (pytorch.org's archive). */
function torchAt(root: string, via: string, done: Done): TorchSearch {
  if (!existsSync(join(root, 'lib', 'libtorch.so'))) return done(`${via}: ${root} holds no lib/libtorch.so`);
  const version = torchVersionAt(root);
  if (!version) {
    return done(`${via}: ${root}: no version found (version.py, build-version, share/cmake/Torch/TorchConfigVersion.cmake)`);
  }
  const cuda = existsSync(join(root, 'lib', 'libtorch_cuda.so'));
  const found: TorchInstall = { root, version, via, cuda };
  const cudaRelease = cuda ? torchCudaAt(root, version) : undefined;
  if (cudaRelease) found.cudaRelease = cudaRelease;
  return done(`${via}: torch ${version} at ${root}`, found);
}

/** torch.__version__ from the files of a LibTorch root, without Python. */
function torchVersionAt(root: string): string | undefined {
  const read = (file: string, pattern: RegExp): string | undefined => {
    try {
      return pattern.exec(readFileSync(join(root, file), 'utf8'))?.[1];
    } catch {
      return undefined;
    }
  };
  return (
    read('version.py', /^__version__\s*=\s*['"]([^'"]+)['"]/m) ?? // pip's torch package
    read('build-version', /^\s*(\S+)/) ?? // pytorch.org's LibTorch archive
    read(join('share', 'cmake', 'Torch', 'TorchConfigVersion.cmake'), /set\(PACKAGE_VERSION "([^"]+)"\)/)
  );
}

/** The CUDA release a CUDA torch is built for: version.py's `cuda`, else the version's +cuXYZ ('13.0'). */
function torchCudaAt(root: string, version: string): string | undefined {
  try {
    const fromPy = /^cuda\s*(?::[^=]*)?=\s*['"]([\d.]+)['"]/m.exec(readFileSync(join(root, 'version.py'), 'utf8'))?.[1];
    if (fromPy) return fromPy;
  } catch {
    // not a pip torch: a LibTorch folder
  }
  const local = /\+cu(\d+)(\d)$/.exec(version);
  return local ? `${local[1]}.${local[2]}` : undefined;
}

/**
 * Loads a torch's libraries into the process by full path, in dependency order, through the preloader (a
 * Node-API addon without LibTorch: Node unloads a library that registers no module, which would undo this).
 * Their own run-time paths find what they need (a pip torch's nvidia-* packages).
 */
function preloadTorch(found: TorchInstall, preloader: string): void {
  if (!existsSync(preloader)) throw new Error(`ENOENT: the LibTorch preloader is missing: ${preloader}`);
  const module = { exports: {} as { preload(paths: string[]): void } };
  process.dlopen(module, preloader);
  const names = found.cuda
    ? ['libc10.so', 'libc10_cuda.so', 'libtorch_cpu.so', 'libtorch_cuda.so', 'libtorch.so']
    : ['libc10.so', 'libtorch_cpu.so', 'libtorch.so'];
  module.exports.preload(names.map((name) => join(found.root, 'lib', name)));
}

/** The path of the native binary that was loaded: build/Release/..., prebuilds/... or BYOL_TORCH_BINARY. */
export function addonPath(): string {
  return loadedFrom;
}

export const native: NativeAddon = loadAddon();
// At exit (process.exit() included, which does not wait for the event loop), stop the executor before exit()
// destroys the static objects a running job uses: queued jobs are dropped, the job in flight gets 5 s.
process.once('exit', (code) => native.shutdown(5000, code));

// --- nn: modules (native/binding/module.cc) ------------------------------------------------------------

/** The raw native module handle. Wrapped by lib/nn.ts's Module. */
export interface NativeModule {
  forward(input: NativeTensor, groups?: number): Promise<NativeTensor>;
  namedParameters(): [string, NativeTensor][];
  namedBuffers(): [string, NativeTensor][];
  stateDict(): [string, NativeTensor][];
  train(mode?: boolean): NativeModule;
  isTraining(): boolean;
  to(device: string, options?: { channelsLast?: boolean }): NativeModule;
  channelsLast(): NativeModule;
  device(): string;
  clone(): NativeModule;
  freeze(frozen?: boolean): NativeModule;
  numParameters(trainableOnly?: boolean): number;
  save(path: string, dtype?: string): Promise<void>;
  load(path: string, strict?: boolean): Promise<{ missing: string[]; unexpected: string[] }>;
  describe(): NativeModuleInfo;
  setHiddenLayer(name: string): NativeModule;
}

export interface NativeModuleInfo {
  kind: string;
  training: boolean;
  channelsLast: boolean;
  repr: string;
  hiddenLayer?: string;
  layerNames?: string[];
  featureSize?: number;
  minImageSize?: number;
  inChannels?: number;
  inFeatures?: number;
  hiddenSize?: number;
  projectionSize?: number;
}

export type NativeModuleKind =
  | 'resnet'
  | 'mlp'
  | 'conv2d'
  | 'batchNorm1d'
  | 'batchNorm2d'
  | 'relu'
  | 'maxPool2d'
  | 'adaptiveAvgPool2d'
  | 'flatten'
  | 'linear'
  | 'sequential';

export interface NativeAddon {
  NativeLearner: new (
    encoder: NativeModule,
    options: NativeLearnerOptions,
    views?: [view1: object, view2: object],
  ) => NativeLearner;
  NativeModule: new () => NativeModule;
  createModule(kind: NativeModuleKind, options?: object): NativeModule;
}

/** One training step's outcome (native/core/learner.h StepOutcome). */
export interface NativeStepOutcome {
  /** CPU: the loss and the collapse monitor, already read (free there). */
  loss?: number;
  collapse?: number;
  /** On a device: float32 [loss, collapse] there, read only when needed (a GPU read synchronises). */
  metrics?: NativeTensor;
  optimizerStepped: boolean;
  tau: number;
  /** Optimizer steps (EMA updates) done before this one: the step's index. */
  step: number;
  /** CPU only: the loss was not finite and the update was skipped. */
  nonFiniteLoss: boolean;
  /** fp16: the unscaled gradients were not finite and the optimizer step was skipped. */
  gradientsSkipped: boolean;
  /** fp16: the loss scale of this micro-batch. */
  lossScale?: number;
  timings: { augment: number; forward: number; backward: number; allReduce: number; optimizer: number; ema: number };
}

export interface NativeStepOptions {
  accumulate?: number;
  maxGradNorm?: number;
}

/** The raw native BYOL learner (native/binding/learner.cc). Wrapped by lib/byol.ts's BYOL. */
export interface NativeLearner {
  /** The whole step as one job, views made natively with the constructor's view options. */
  step(images: NativeTensor, seed1: number, seed2: number, optimizer: NativeOptimizer, options?: NativeStepOptions): Promise<NativeStepOutcome>;
  /** The same with views made by the caller. */
  stepViews(view1: NativeTensor, view2: NativeTensor, optimizer: NativeOptimizer, options?: NativeStepOptions): Promise<NativeStepOutcome>;
  forward(view1: NativeTensor, view2: NativeTensor): Promise<{ loss: NativeTensor; collapse: number }>;
  /** The EMA of the target as one job; resolves with the tau used. */
  updateMovingAverage(): Promise<number>;
  tau(): number;
  emaUpdates(): number;
  setEmaUpdates(updates: number): void;
  options(): NativeResolvedLearnerOptions;
  embed(images: NativeTensor, projection: boolean): Promise<{ representation: NativeTensor; projection?: NativeTensor }>;
  parameters(which: 'online' | 'target' | 'emaSources'): [string, NativeTensor][];
  train(mode: boolean): void;
  modules(): { projector: NativeModule; predictor: NativeModule; targetEncoder?: NativeModule; targetProjector?: NativeModule };
  representationSize(): number;
  /** fp16: the loss scaler's state; undefined without one. */
  lossScaler(): { scale: number; finiteSteps: number } | undefined;
  setLossScaler(scale: number, finiteSteps: number): void;
  /** Rank 0's state on every rank, then data-parallel steps over `group` (collective). */
  distribute(group: NativeProcessGroup, optimizer: NativeOptimizer | undefined, options?: { syncBatchNorm?: boolean; bucketBytes?: number }): Promise<void>;
}

/** What the learner takes; absent fields get core's defaults (native/core/learner.h LearnerOptions). */
export interface NativeLearnerOptions {
  imageSize: number;
  channels?: number;
  projectionSize?: number;
  projectionHiddenSize?: number;
  useMomentum?: boolean;
  movingAverageDecay?: number;
  decaySchedule?: 'cosine' | 'constant';
  totalSteps?: number;
  copyBuffers?: boolean;
  precision?: Precision;
}

/** The networks' compute type in training (native/core/precision.h). */
export type Precision = 'fp32' | 'bf16' | 'fp16';

export type NativeResolvedLearnerOptions = Required<Omit<NativeLearnerOptions, 'totalSteps'>> & {
  totalSteps?: number;
  /** Where the learner trains: its encoder's device ('cpu', 'cuda:0', ...). */
  device: string;
};

// --- ema (native/binding/ema.cc) -------------------------------------------------------------------------
export interface NativeAddon {
  /** targets[i] = tau·targets[i] + (1 − tau)·sources[i] in place, then bufferTargets[i] ← bufferSources[i]. */
  emaUpdate(
    targets: NativeTensor[],
    sources: NativeTensor[],
    tau: number,
    bufferTargets?: NativeTensor[],
    bufferSources?: NativeTensor[],
  ): Promise<void>;
  emaCpuKernel(): 'avx2' | 'default';
  /** The paper's cosine tau schedule (native/core/ema.h). */
  cosineTau(step: number, totalSteps: number, base: number): number;
  /** Throws "<name>: expected a number in [0, 1], received <value>" unless value is in [0, 1]. */
  checkUnitInterval(name: string, value: number): void;
}

// --- augment (native/binding/augment.cc) -------------------------------------------------------------------
// Declaration merging adds the augmentation entry points to NativeAddon.
export interface NativeAddon {
  /** Options as lib/augment.ts's AugmentOptions; seed an integer in [0, 2^53 - 1]. */
  augment(images: NativeTensor, options: object | undefined, seed: number): Promise<NativeTensor>;
  /** Throws the error augment() would throw for these options. */
  validateAugmentOptions(options: object | undefined): void;
}

// --- optimizers (native/binding/optim.cc) -------------------------------------------------------------------

export type OptimizerKind = 'sgd' | 'adam' | 'adamw' | 'lars';

/** Hyperparameters as the native optimizer takes them (lib/optim.ts documents them and their defaults). */
export interface NativeOptimizerOptions {
  lr: number;
  weightDecay?: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  beta1?: number;
  beta2?: number;
  eps?: number;
  trustCoefficient?: number;
}

/** One core Optimizer (native/core/optim.h); steps run as jobs on the executor. */
export interface NativeOptimizer {
  step(lr?: number): Promise<void>;
  scaleGrads(factor: number): Promise<void>;
  clipGradNorm(maxNorm: number): Promise<number>;
  zeroGrad(setToNone?: boolean): void;
  lr(): number;
  setLr(lr: number): void;
  steps(): number;
  state(): Record<string, NativeTensor>;
  loadState(state: Record<string, NativeTensor>): void;
}

export interface NativeAddon {
  NativeOptimizer: new (
    kind: OptimizerKind,
    options: NativeOptimizerOptions,
    params: NativeTensor[],
    excluded: boolean[],
  ) => NativeOptimizer;
}

// --- data-parallel process groups (native/binding/distributed.cc) ------------------------------------------

export interface NativeProcessGroupOptions {
  rank: number;
  worldSize: number;
  masterAddr?: string;
  masterPort?: number;
  agentStore?: boolean;
  storePrefix?: string;
  storePath?: string;
  interface?: string;
  timeoutMs?: number;
}

/** A joined c10d process group (Gloo). Collectives run as jobs, in order with the training jobs. */
export interface NativeProcessGroup {
  rank(): number;
  worldSize(): number;
  barrier(): Promise<void>;
  broadcast(values: number[]): Promise<number[]>;
  allReduceSum(values: number[]): Promise<number[]>;
  stats(): { calls: number; bytes: number; milliseconds: number };
  allReduceTensor(tensor: NativeTensor): Promise<void>;
  averageGradients(parameters: NativeTensor[], bucketBytes?: number): Promise<void>;
}

export interface NativeAddon {
  initProcessGroup(options: NativeProcessGroupOptions): Promise<NativeProcessGroup>;
}

// --- serialize (native/binding/serialize.cc) ---------------------------------------------------------------
export interface NativeAddon {
  /** Writes named tensors as safetensors, atomically (temporary file, then rename). */
  saveTensors(path: string, tensors: [string, NativeTensor][], metadata?: Record<string, string>): Promise<void>;
  loadTensors(path: string): Promise<{ tensors: [string, NativeTensor][]; metadata: Record<string, string> }>;
}

// --- safetensors headers and the ResNet they describe (native/binding/serialize.cc) --------------------------

/** A tensor's dtype as a safetensors header spells it. */
export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** One tensor of a safetensors header; dataOffsets are [begin, end) bytes into the data section. */
export interface SafetensorsHeaderEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  dataOffsets: [number, number];
}

/** A ResNet's build options as inferred from its state dict's names and shapes (native/core/resnet.h). */
export interface NativeResNetArchitecture {
  depth: 18 | 34 | 50 | 101 | 152;
  inChannels: number;
  smallStem: boolean;
  classifier: boolean;
  /** Only when classifier is true. */
  numClasses?: number;
}

export interface NativeAddon {
  /**
   * The header of a safetensors file, read without its tensor data and checked as loadTensors checks it;
   * tensors in data order. Rejects with an Error naming the file and what is wrong.
   */
  readSafetensorsHeader(path: string): Promise<{ tensors: SafetensorsHeaderEntry[]; metadata: Record<string, string> }>;
  /** The torchvision ResNet whose state dict these names and shapes are, or null. */
  inferResNet(tensors: { name: string; shape: number[] }[]): NativeResNetArchitecture | null;
}

// --- evaluation (native/binding/evaluation.cc) -------------------------------------------------------------
export interface NativeLinearProbeOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  seed?: number;
}

export interface NativeAddon {
  linearProbe(
    trainFeatures: NativeTensor,
    trainLabels: NativeTensor,
    testFeatures: NativeTensor,
    testLabels: NativeTensor,
    options: NativeLinearProbeOptions,
  ): Promise<{ trainAccuracy: number; testAccuracy: number; finalLoss: number }>;
  knnAccuracy(
    trainFeatures: NativeTensor,
    trainLabels: NativeTensor,
    testFeatures: NativeTensor,
    testLabels: NativeTensor,
    options: { k?: number; temperature?: number },
  ): Promise<number>;
}
