// exportOnnx: a ResNet encoder as an ONNX model for onnxruntime and other runtimes. The model is the eval-mode
// network up to the representation `byol embed` writes (avgpool, flattened), with the weights as float32
// initializers, written atomically (an error leaves no file).
import { writeFileAtomic } from '../atomic.js';
import { ResNet } from '../nn.js';
import { describe } from '../tensor.js';
import { resolveExportOptions, type BatchNormMode, type OnnxExportOptions } from './export-options.js';
import { encodeModel } from './model-file.js';
import { resolveNormalization, type Normalization } from './normalization.js';
import { resnetGraph, resnetLayout, type ResNetLayout, type StateTensor } from './resnet-graph.js';
import { IR_VERSION } from './versions.js';

export interface OnnxValueInfo {
  name: string;
  /** Sizes; 'batch' is the symbolic batch size of a dynamicBatch model. */
  shape: Array<number | string>;
}

export interface OnnxExportResult {
  path: string;
  /** Size of the file. */
  bytes: number;
  opset: number;
  irVersion: number;
  /** e.g. 'resnet50'. */
  architecture: string;
  /** Nodes in the graph. */
  nodes: number;
  /** 'images': float32 NCHW. */
  input: OnnxValueInfo;
  /** 'representation': float32 [batch, featureSize]. */
  output: OnnxValueInfo;
  batchNorm: BatchNormMode;
  /** The normalisation the input needs (applied by the graph itself when normalizationInGraph). */
  normalization: Normalization;
  normalizationInGraph: boolean;
}

/** 'resnet50' from the block layout: each block has 2 (basic) or 3 (bottleneck) convs, plus conv1 and fc. */
function architectureOf(layout: ResNetLayout): string {
  const blocks = layout.blocks.reduce((a, b) => a + b, 0);
  return `resnet${2 + blocks * (layout.bottleneck ? 3 : 2)}`;
}

/** The state dict as host float32 values, without what the representation does not use (fc, BN counters). */
async function readStateDict(module: ResNet): Promise<Map<string, StateTensor>> {
  const weights = new Map<string, StateTensor>();
  for (const [name, t] of module.stateDict()) {
    try {
      if (name.endsWith('num_batches_tracked') || name.startsWith('fc.')) continue;
      const values = await t.data();
      if (!(values instanceof Float32Array)) throw new TypeError(`module: expected float32 weights, but ${name} is ${t.dtype}`);
      weights.set(name, { shape: t.shape, values });
    } finally {
      t.dispose();
    }
  }
  return weights;
}

interface ModelDescription {
  architecture: string;
  layout: ResNetLayout;
  input: OnnxValueInfo;
  output: OnnxValueInfo;
  normalization: Normalization;
  normalizationInGraph: boolean;
  batchNorm: BatchNormMode;
}

/** metadata_props: the input contract in words a serving script (or a person with Netron) can read. */
function metadataOf(d: ModelDescription): Record<string, string> {
  const size = d.input.shape[2];
  const channels = d.layout.inChannels;
  const pixels = `pixels in [0, 1] (${channels === 3 ? 'RGB' : `${channels} channel${channels === 1 ? '' : 's'}`}), the image resized to ${size} x ${size} (byol embed scales its short side to ${size} and crops the centre)`;
  return {
    architecture: d.architecture,
    in_channels: String(channels),
    small_stem: String(d.layout.smallStem),
    image_size: String(size),
    input: `${d.input.name}: float32 [${d.input.shape.join(', ')}], NCHW`,
    preprocessing: d.normalizationInGraph ? `${pixels}; the graph normalises them` : `${pixels}, then (x - mean) / std per channel`,
    normalization: d.normalizationInGraph ? 'in_graph' : 'by_caller',
    normalization_mean: JSON.stringify(d.normalization.mean),
    normalization_std: JSON.stringify(d.normalization.std),
    output: `${d.output.name}: float32 [${d.output.shape.join(', ')}], the avgpool output flattened (what byol embed writes)`,
    batch_norm: d.batchNorm,
  };
}

/**
 * Writes `module` (a ResNet without or with classifier; the fc layer is left out) to `path` as an ONNX model:
 * input 'images' float32 [N, C, imageSize, imageSize], output 'representation' float32 [N, featureSize], eval
 * mode (BatchNorm with its running statistics). The module is not changed.
 */
export async function exportOnnx(module: ResNet, path: string, options: OnnxExportOptions): Promise<OnnxExportResult> {
  if (!(module instanceof ResNet)) throw new TypeError(`module: expected a ResNet (resnet18() ... resnet152()), received ${describe(module)}`);
  if (typeof path !== 'string' || path === '') throw new TypeError(`path: expected a file path, received ${describe(path)}`);
  const o = resolveExportOptions(options);
  const info = module.describe();
  if (info.hiddenLayer !== 'avgpool')
    throw new RangeError(`module: expected hiddenLayer 'avgpool' (the model's output is the pooled representation), received '${info.hiddenLayer}'`);
  const minSize = info.minImageSize ?? 1;
  if (o.imageSize < minSize) throw new RangeError(`imageSize: expected at least ${minSize} for this ResNet's stem, received ${o.imageSize}`);

  const weights = await readStateDict(module);
  const normalization = resolveNormalization(resnetLayout(weights).inChannels, o.mean, o.std);
  const graph = resnetGraph(weights, {
    imageSize: o.imageSize,
    batch: o.batch,
    foldBatchNorm: o.batchNorm === 'folded',
    ...(o.includeNormalization ? { normalization } : {}),
  });
  const description: ModelDescription = {
    architecture: architectureOf(graph.layout),
    layout: graph.layout,
    input: { name: graph.input.name, shape: [...graph.input.shape] },
    output: { name: graph.output.name, shape: [...graph.output.shape] },
    normalization,
    normalizationInGraph: o.includeNormalization,
    batchNorm: o.batchNorm,
  };
  const { architecture, input, output } = description;
  const bytes = encodeModel(graph.builder.graph(`byol-torch ${architecture} encoder`, [graph.output]), graph.builder.weightBytes, {
    opset: o.opset,
    metadata: metadataOf(description),
    docString: `A ${architecture} encoder exported by byol-torch: ${input.name} -> ${output.name} (eval mode).`,
  });
  await writeFileAtomic(path, bytes, 'path');
  return {
    path,
    bytes: bytes.length,
    opset: o.opset,
    irVersion: IR_VERSION,
    architecture,
    nodes: graph.builder.nodeCount,
    input,
    output,
    batchNorm: o.batchNorm,
    normalization,
    normalizationInGraph: o.includeNormalization,
  };
}
