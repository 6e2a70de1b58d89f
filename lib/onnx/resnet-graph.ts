// The eval-mode graph of a torchvision ResNet, built from its state dict (torchvision's key names): the stem,
// the residual stages, global average pooling and flatten, i.e. what the module's forward() returns with
// hiddenLayer 'avgpool'. BatchNorm uses the running statistics, folded into the convolutions or as
// BatchNormalization nodes; optionally the input normalisation runs first as Sub and Div nodes.
import { foldBatchNorm } from './fold-batch-norm.js';
import { GraphBuilder, type TensorValue } from './graph-builder.js';
import type { Normalization } from './normalization.js';

/** A state-dict entry as host values. */
export interface StateTensor {
  shape: readonly number[];
  values: Float32Array;
}
export type StateTensors = ReadonlyMap<string, StateTensor>;

/** torchvision's (and native/core's GroupBatchNorm's) BatchNorm eps: not stored in the state dict. */
export const BATCH_NORM_EPS = 1e-5;

export interface ResNetLayout {
  /** Bottleneck blocks (ResNet-50/101/152) or basic blocks (ResNet-18/34). */
  bottleneck: boolean;
  /** Blocks in layer1..layer4. */
  blocks: [number, number, number, number];
  /** 3x3 stride-1 conv1 and no max-pool. */
  smallStem: boolean;
  inChannels: number;
  /** Width of the representation (512 or 2048). */
  featureSize: number;
}

export interface ResNetGraphOptions {
  imageSize: number;
  /** A fixed batch size, or the name of a symbolic one ('batch'). */
  batch: number | string;
  foldBatchNorm: boolean;
  /** When given, the graph takes [0, 1] pixels and normalises them itself. */
  normalization?: Normalization;
}

export interface ResNetGraph {
  builder: GraphBuilder;
  layout: ResNetLayout;
  input: TensorValue;
  output: TensorValue;
}

export const INPUT_NAME = 'images';
export const OUTPUT_NAME = 'representation';

function tensorOf(weights: StateTensors, name: string): StateTensor {
  const t = weights.get(name);
  if (!t) throw new Error(`state dict: expected the tensor '${name}' of a torchvision ResNet, but it is missing`);
  return t;
}

/** The ResNet a state dict describes: block kind and counts from the keys, stem and widths from the shapes. */
export function resnetLayout(weights: StateTensors): ResNetLayout {
  const conv1 = tensorOf(weights, 'conv1.weight').shape;
  if (conv1.length !== 4 || (conv1[2] !== 3 && conv1[2] !== 7))
    throw new Error(`state dict: expected conv1.weight of shape [64, C, 7, 7] or [64, C, 3, 3], received [${conv1.join(', ')}]`);
  const bottleneck = weights.has('layer1.0.conv3.weight');
  const blocks = [1, 2, 3, 4].map((stage) => {
    let n = 0;
    while (weights.has(`layer${stage}.${n}.conv1.weight`)) n++;
    if (n === 0) throw new Error(`state dict: expected layer${stage}.0.conv1.weight of a torchvision ResNet, but it is missing`);
    return n;
  }) as [number, number, number, number];
  const lastConv = tensorOf(weights, `layer4.${blocks[3] - 1}.${bottleneck ? 'conv3' : 'conv2'}.weight`);
  return { bottleneck, blocks, smallStem: conv1[2] === 3, inChannels: conv1[1], featureSize: lastConv.shape[0] };
}

class ResNetGraphWriter {
  readonly builder = new GraphBuilder();

  constructor(
    private readonly weights: StateTensors,
    private readonly fold: boolean,
  ) {}

  private weight(name: string): StateTensor {
    return tensorOf(this.weights, name);
  }

  /** Conv (no bias in torchvision's ResNets) followed by its BatchNorm, folded or as a node. */
  convBn(conv: string, bn: string, input: string, stride: number): string {
    const w = this.weight(`${conv}.weight`);
    const kernel = w.shape[2];
    const attributes = [
      { name: 'kernel_shape', ints: [kernel, w.shape[3]] },
      { name: 'strides', ints: [stride, stride] },
      { name: 'pads', ints: Array(4).fill(Math.floor(kernel / 2)) },
      { name: 'dilations', ints: [1, 1] },
      { name: 'group', int: 1 },
    ];
    const state = {
      weight: this.weight(`${bn}.weight`).values,
      bias: this.weight(`${bn}.bias`).values,
      runningMean: this.weight(`${bn}.running_mean`).values,
      runningVar: this.weight(`${bn}.running_var`).values,
      eps: BATCH_NORM_EPS,
    };
    const b = this.builder;
    if (this.fold) {
      const folded = foldBatchNorm(w.values, state);
      const weight = b.initializer(`${conv}.weight`, w.shape, folded.weight);
      const bias = b.initializer(`${conv}.bias`, [w.shape[0]], folded.bias);
      return b.node('Conv', conv, [input, weight, bias], attributes);
    }
    const convOut = b.node('Conv', conv, [input, b.initializer(`${conv}.weight`, w.shape, w.values)], attributes);
    const channels = [w.shape[0]];
    const params = [
      b.initializer(`${bn}.weight`, channels, state.weight),
      b.initializer(`${bn}.bias`, channels, state.bias),
      b.initializer(`${bn}.running_mean`, channels, state.runningMean),
      b.initializer(`${bn}.running_var`, channels, state.runningVar),
    ];
    return b.node('BatchNormalization', bn, [convOut, ...params], [{ name: 'epsilon', float: BATCH_NORM_EPS }]);
  }

  relu(name: string, input: string): string {
    return this.builder.node('Relu', name, [input]);
  }

  /** One residual block; the first block of layer2..4 halves the resolution (on conv2 in bottlenecks, as torchvision). */
  block(prefix: string, input: string, stride: number, bottleneck: boolean): string {
    const identity = this.weights.has(`${prefix}.downsample.0.weight`)
      ? this.convBn(`${prefix}.downsample.0`, `${prefix}.downsample.1`, input, stride)
      : input;
    let out: string;
    if (bottleneck) {
      out = this.relu(`${prefix}.relu1`, this.convBn(`${prefix}.conv1`, `${prefix}.bn1`, input, 1));
      out = this.relu(`${prefix}.relu2`, this.convBn(`${prefix}.conv2`, `${prefix}.bn2`, out, stride));
      out = this.convBn(`${prefix}.conv3`, `${prefix}.bn3`, out, 1);
    } else {
      out = this.relu(`${prefix}.relu1`, this.convBn(`${prefix}.conv1`, `${prefix}.bn1`, input, stride));
      out = this.convBn(`${prefix}.conv2`, `${prefix}.bn2`, out, 1);
    }
    return this.relu(`${prefix}.relu`, this.builder.node('Add', `${prefix}.add`, [out, identity]));
  }
}

/** The graph `images` [batch, C, S, S] -> `representation` [batch, featureSize] of the ResNet in `weights`. */
export function resnetGraph(weights: StateTensors, options: ResNetGraphOptions): ResNetGraph {
  const layout = resnetLayout(weights);
  const writer = new ResNetGraphWriter(weights, options.foldBatchNorm);
  const b = writer.builder;
  const input: TensorValue = { name: INPUT_NAME, shape: [options.batch, layout.inChannels, options.imageSize, options.imageSize] };
  let x = b.input(input);
  if (options.normalization) {
    const perChannel = [1, layout.inChannels, 1, 1];
    const mean = b.initializer('normalization.mean', perChannel, Float32Array.from(options.normalization.mean));
    const std = b.initializer('normalization.std', perChannel, Float32Array.from(options.normalization.std));
    x = b.node('Div', 'normalize.div', [b.node('Sub', 'normalize.sub', [x, mean]), std]);
  }
  x = writer.relu('relu', writer.convBn('conv1', 'bn1', x, layout.smallStem ? 1 : 2));
  if (!layout.smallStem) {
    x = b.node('MaxPool', 'maxpool', [x], [
      { name: 'kernel_shape', ints: [3, 3] },
      { name: 'strides', ints: [2, 2] },
      { name: 'pads', ints: [1, 1, 1, 1] },
    ]);
  }
  for (const [stage, count] of layout.blocks.entries()) {
    for (let i = 0; i < count; i++) x = writer.block(`layer${stage + 1}.${i}`, x, stage > 0 && i === 0 ? 2 : 1, layout.bottleneck);
  }
  x = b.node('GlobalAveragePool', 'avgpool', [x]);
  const output: TensorValue = { name: OUTPUT_NAME, shape: [options.batch, layout.featureSize] };
  b.node('Flatten', 'flatten', [x], [{ name: 'axis', int: 1 }], OUTPUT_NAME);
  return { builder: b, layout, input, output };
}
