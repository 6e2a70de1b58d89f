// byol-torch: BYOL self-supervised training for TypeScript on LibTorch.
export {
  Tensor,
  tensor,
  zeros,
  ones,
  full,
  rand,
  randn,
  arange,
  cat,
  stack,
  manualSeed,
  type CreateOptions,
  type TensorOptions,
  type NestedArray,
  type DType,
  type Device,
  type HostArray,
} from './tensor.js';
export {
  cuda,
  getNumThreads,
  setNumThreads,
  isGradEnabled,
  noGrad,
  tidy,
  memory,
  executorStats,
  libtorchInfo,
  releaseHostCache,
  deviceMemory,
  type MemoryInfo,
  type DeviceMemoryInfo,
} from './runtime.js';
export { NativeLoadError, addonPath, type Precision } from './native.js';
export * from './nn.js';
export * as ema from './ema.js';
export {
  augment,
  makeAugmenter,
  toTransform,
  callSeed,
  validateAugmentOptions,
  byolView1,
  byolView2,
  byolPytorchDefault,
  type AugmentOptions,
  type AugmentCallOptions,
  type BatchTransform,
  type ViewSpec,
  type Interpolation,
  type ImageLayout,
} from './augment.js';
export { SGD, Adam, AdamW, LARS, excludeBiasAndNorm, type Optimizer, type OptimizerKind, type OptimizerStateDict, type Parameters, type NamedParameters, type ExcludeFn, type SGDOptions, type AdamOptions, type LARSOptions } from './optim.js';
export { warmupCosine, constant, type Schedule, type WarmupCosineOptions } from './schedule.js';
export { BYOL, BYOLError, type DistributeOptions, type BYOLOptions, type BYOLState, type StepResult, type StepTimings, type StepOptimizer, type StepOptions } from './byol.js';
export { ProcessGroup, DistributedError, initProcessGroup, type ProcessGroupOptions } from './distributed/process-group.js';
export { readLaunchEnv, type LaunchEnv } from './distributed/launch-env.js';
export { train, TrainingError, type TrainOptions, type TrainResult, type StepInfo } from './trainer.js';
export * from './data/index.js';
export { saveCheckpoint, loadCheckpoint, listCheckpoints, type TrainerPosition } from './checkpoint.js';
export { saveTensors, loadTensors } from './serialize.js';
export * from './evaluate.js';
export { writeLossPlot, renderLossPlotSvg, type LossPlotOptions, type LossPlotResult, type PlotPanel } from './plot.js';
export { readMetrics, MetricsWriter, MetricsFormatError, type MetricsRow, type MetricsWriterOptions } from './metrics.js';
export { writeNpy, readNpy, NpyFormatError, type NpyArray } from './npy.js';
export { exportOnnx, type OnnxExportResult, type OnnxValueInfo } from './onnx/export.js';
export { type OnnxExportOptions, type BatchNormMode } from './onnx/export-options.js';
export { OnnxExportError, PROTOBUF_LIMIT_BYTES } from './onnx/size-limit.js';
export { embeddingNormalization, type Normalization } from './onnx/normalization.js';
