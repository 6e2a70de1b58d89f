// Compiled (never run) by test/types.test.ts against the built declarations (dist/*.d.ts), as a user of the
// package would: right calls type-check with exact result types, wrong calls are rejected (each
// `@ts-expect-error` must see an error, or tsc fails on the unused directive).
import {
  Adam,
  BYOL,
  NativeLoadError,
  SGD,
  addonPath,
  augment,
  byolView1,
  exportOnnx,
  libtorchInfo,
  loadTensors,
  noGrad,
  randn,
  resnet18,
  resnet50,
  saveTensors,
  tensor,
  tidy,
  train,
  warmupCosine,
  type AugmentOptions,
  type BYOLOptions,
  type DType,
  type HostArray,
  type OnnxExportResult,
  type StepInfo,
  type StepResult,
  type Tensor,
  type TrainOptions,
  type TrainResult,
} from 'byol-torch';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | void {}

// Tensors: creation, dtypes, async heavy ops.
const x = tensor([[1, 2, 3]], { dtype: 'float32' });
const y = randn([2, 3]);
assertType<Equal<typeof x, Tensor>>();
assertType<Equal<ReturnType<Tensor['matmul']>, Promise<Tensor>>>();
assertType<Equal<ReturnType<Tensor['data']>, Promise<HostArray>>>();
assertType<Equal<ReturnType<Tensor['item']>, number>>();
assertType<Equal<typeof x.shape, number[]>>();
assertType<Equal<typeof x.dtype, DType>>();
// @ts-expect-error: not a dtype
tensor([1, 2], { dtype: 'float128' });
// @ts-expect-error: a shape is an array of numbers
randn('2x3');
// @ts-expect-error: matmul takes a Tensor
void y.matmul(3);
// @ts-expect-error: the result of matmul is a Promise, not a Tensor
const notAwaited: Tensor = y.matmul(x);
void notAwaited;

const kept = tidy(() => y.add(1));
assertType<Equal<typeof kept, Tensor>>();
const counted = noGrad(() => 42);
assertType<Equal<typeof counted, number>>();

// Models and the learner.
const encoder = resnet18({ classifier: false, smallStem: true });
// @ts-expect-error: an unknown option
resnet50({ classifer: false });
const options: BYOLOptions = { imageSize: 32, decaySchedule: 'constant', movingAverageDecay: 0.99 };
const learner = new BYOL(encoder, options);
// @ts-expect-error: imageSize is required
new BYOL(encoder, { decaySchedule: 'cosine' });
// @ts-expect-error: not a schedule name
new BYOL(encoder, { imageSize: 32, decaySchedule: 'linear' });
// @ts-expect-error: channels is 1 or 3
new BYOL(encoder, { imageSize: 32, channels: 2 });
const optimizer = new Adam(learner.parameters(), { lr: 3e-4 });
// @ts-expect-error: SGD needs its options (lr)
new SGD(learner.parameters());

async function steps(): Promise<void> {
  const result = await learner.step(y, optimizer);
  assertType<Equal<typeof result, StepResult>>();
  const loss: number = result.loss;
  const stepped: boolean = (await learner.step(y, optimizer, { accumulate: 2, maxGradNorm: 1 })).optimizerStepped;
  // @ts-expect-error: the loss is read-only
  result.loss = 1;
  void stepped;
  const { representation, projection } = await learner.embed(y, { projection: true });
  assertType<Equal<typeof representation, Tensor>>();
  assertType<Equal<typeof projection, Tensor | undefined>>();
  // @ts-expect-error: step needs an optimizer
  await learner.step(y);
  void loss;
}

// Augmentation.
const view: AugmentOptions = byolView1(32);
void augment(y, view, { seed: 1 });
// @ts-expect-error: not an interpolation
void augment(y, { interpolation: 'lanczos' });

// The training loop.
declare const data: TrainOptions['data'];
async function loop(): Promise<TrainResult> {
  return train({
    learner,
    data,
    optimizer,
    steps: 10,
    logEvery: 5,
    accumulate: 2,
    maxGradNorm: 1,
    schedule: warmupCosine({ baseLr: 0.2, batchSize: 256, warmupSteps: 2, totalSteps: 10 }),
    onStep: (info: StepInfo) => {
      const lr: number = info.lr;
      void lr;
    },
  });
}
// @ts-expect-error: the learner is required
void train({ data, optimizer, steps: 1 });

// Serialisation, runtime, load errors.
async function files(): Promise<void> {
  await saveTensors('/tmp/x.safetensors', { x }, { note: 'metadata is string to string' });
  const { tensors, metadata } = await loadTensors('/tmp/x.safetensors');
  assertType<Equal<typeof tensors, Map<string, Tensor>>>();
  assertType<Equal<typeof metadata, Record<string, string>>>();
  // @ts-expect-error: metadata values are strings
  await saveTensors('/tmp/y.safetensors', { x }, { step: 1 });
}
const where: string = addonPath();
const version: string = libtorchInfo().libtorch;
const error: Error = new NativeLoadError('message');
void [steps, loop, files, where, version, error];

// ONNX export: typed options, the result's shapes.
async function serve(): Promise<OnnxExportResult> {
  const result = await exportOnnx(resnet50({ classifier: false }), '/tmp/encoder.onnx', { imageSize: 64, dynamicBatch: true, batchNorm: 'nodes' });
  const inputShape: Array<number | string> = result.input.shape;
  void inputShape;
  // @ts-expect-error: batchNorm is 'folded' or 'nodes'
  await exportOnnx(resnet18(), '/tmp/x.onnx', { imageSize: 64, batchNorm: 'fused' });
  // @ts-expect-error: imageSize is required
  await exportOnnx(resnet18(), '/tmp/x.onnx', {});
  return result;
}
void serve;
