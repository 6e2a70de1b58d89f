// What each stage of the GPU check runs and for how long, in its two forms: on the GPU machine ('gpu') and as the
// dry run on a CPU machine ('dry', the same scripts at tiny sizes, proving the command lines). One place to tune.
//
// Time: the device tool allows 10 minutes a command and 15 minutes of device time in all, machine start
// included. The stages' own limits sum to more than the budget on purpose (a stage that ends early leaves its time
// to the next); the budget is the hard stop: a stage never starts with less than its minimum left, and its limit
// is cut to what is left, so the table is always printed before the tool's limit.

/** The stages in order of value: each later one needs the addon the build stage makes. */
export const STAGES = ['bundle', 'build', 'cuda-tests', 'native-tests', 'bench-step', 'bench-ema', 'bench-augment', 'quality'];

export const GOALS = {
  stepImagesPerSecond: 1000,
  stepVsByolPytorch: 1.3,
  emaOfCopyBandwidth: 0.8,
  augmentGpuOverCpu: 20,
  linearProbe: 0.88,
};

const gpu = {
  budgetSeconds: 500,
  // seconds: [limit, minimum worth starting with]
  limits: {
    bundle: [15, 1],
    build: [300, 60],
    'cuda-tests': [90, 30],
    'native-tests': [45, 10],
    'bench-step': [120, 45],
    'bench-ema': [35, 15],
    'bench-augment': [30, 15],
    quality: [150, 75],
  },
  build: { configureOnly: false },
  tests: { concurrency: 4 },
  native: { filter: '*Cuda*:*CUDA*:Device.*' },
  step: {
    common: { arch: 'resnet50', size: 224, batch: 256, precision: 'bf16', hidden: 4096, proj: 256 },
    ours: { format: 'channels_last', warmup: 5, steps: 10, rounds: 3, timeout: 50 },
    eager: { variant: 'b_channels_last', warmup: 5, iters: 10, rounds: 3, timeout: 45 },
    byolPytorch: { steps: 25, skip: 5, timeout: 45 },
  },
  ema: { model: 'resnet50', rounds: 5, iters: 5, inner: 20, timeout: 30 },
  augment: { batch: 256, size: 96, repeats: 5, timeout: 25 },
  quality: {
    device: 'cuda',
    precision: 'bf16',
    // --time-limit: at most this, less when the budget is short, keeping time for start-up and the evaluation.
    trainSeconds: 75,
    startupSeconds: 20,
    evalSeconds: 45,
    // A first choice, not tuned on a GPU (none was available when it was written): the demo's best optimizer
    // (Adam 1e-3, tau 0.99, small-gray views) with the CIFAR-style stem that suits 28 px images, and a batch that
    // keeps an H200 busy. --steps bounds the schedule; --time-limit ends the run.
    train: ['--arch', 'resnet18', '--small-stem', '--image-size', '32', '--batch-size', '256', '--optimizer', 'adam', '--lr', '1e-3',
      '--weight-decay', '0', '--tau', '0.99', '--views', 'small-gray', '--warmup-steps', '100', '--steps', '20000',
      '--log-every', '50', '--checkpoint-every', '20000'],
    eval: ['--seeds', '1', '--batch-size', '1024'],
    // Without --device on eval, features are computed on the CPU: fewer images keep it inside the limit.
    evalWithoutDevice: ['--train-limit', '10000', '--test-limit', '2000'],
  },
};

const dry = {
  budgetSeconds: 300,
  limits: {
    bundle: [15, 1],
    build: [90, 10],
    'cuda-tests': [60, 10],
    'native-tests': [10, 1],
    'bench-step': [90, 10],
    'bench-ema': [60, 10],
    'bench-augment': [30, 5],
    quality: [90, 10],
  },
  build: { configureOnly: true },
  tests: { concurrency: 1 },
  native: { filter: '*Cuda*:*CUDA*:Device.*' },
  step: {
    common: { arch: 'resnet18', size: 32, batch: 4, precision: 'fp32', hidden: 64, proj: 32 },
    ours: { format: 'channels_last', warmup: 1, steps: 2, rounds: 2, timeout: 40 },
    eager: { variant: 'b_channels_last', warmup: 1, iters: 2, rounds: 2, timeout: 40 },
    byolPytorch: { steps: 3, skip: 1, timeout: 40 },
  },
  ema: { model: 'resnet18', rounds: 1, iters: 2, inner: 1, timeout: 50 },
  augment: { batch: 8, size: 32, repeats: 1, timeout: 25 },
  quality: {
    device: 'cpu',
    precision: 'fp32',
    trainSeconds: 5,
    startupSeconds: 10,
    evalSeconds: 30,
    train: ['--arch', 'resnet18', '--image-size', '32', '--batch-size', '8', '--optimizer', 'adam', '--lr', '1e-3',
      '--hidden-size', '64', '--projection-size', '32', '--views', 'small-gray', '--steps', '2', '--log-every', '1'],
    eval: ['--seeds', '1', '--batch-size', '100', '--train-limit', '200', '--test-limit', '100', '--probe-epochs', '3'],
    evalWithoutDevice: [],
  },
};

export const PLANS = { gpu, dry };
