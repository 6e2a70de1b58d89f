// The command line's named choices and defaults. No imports: `byol --help` and argument errors answer without
// loading LibTorch (the modules doing the work are imported when a command runs).
export const ARCHITECTURES = ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152'] as const;
export type ArchitectureName = (typeof ARCHITECTURES)[number];

export const DATASETS = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100'] as const;
export type DatasetName = (typeof DATASETS)[number];

export const OPTIMIZERS = ['lars', 'adam', 'sgd'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export const PRECISIONS = ['fp32', 'bf16', 'fp16'] as const;
export type PrecisionName = (typeof PRECISIONS)[number];

export const VIEW_PRESETS = ['byol', 'byol-pytorch', 'small-gray'] as const;
export type ViewPreset = (typeof VIEW_PRESETS)[number];

// Projection and hidden sizes are not here: absent, they take the learner's defaults (native/core/learner.h).
export const TRAIN_DEFAULTS = {
  arch: 'resnet50' as ArchitectureName,
  smallStem: false,
  imageSize: 64,
  batchSize: 64,
  optimizer: 'lars' as OptimizerName,
  lr: 0.2,
  weightDecay: 1.5e-6,
  tau: 0.99,
  views: 'byol' as ViewPreset,
  seed: 0,
};
