// `byol export`: the encoder a weights file holds as an ONNX model (lib/onnx), for onnxruntime. The
// architecture is read from the weights, the image size from the run's config.json beside them, as `byol embed`
// does, so the model takes exactly the images `byol embed` feeds its encoder.
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { resolveGraphOptions, type BatchNormMode, type OnnxExportOptions } from '../onnx/export-options.js';
import type { ArchitectureName } from './choices.js';

export interface ExportConfig {
  weights: string;
  out: string;
  arch?: ArchitectureName;
  imageSize?: number;
  dynamicBatch?: boolean;
  batchSize?: number;
  opset?: number;
  batchNorm?: BatchNormMode;
  includeNormalization?: boolean;
}

/** --out must be a .onnx file in an existing folder, and not a folder itself: checked before any work. */
async function checkOut(out: unknown): Promise<string> {
  if (typeof out !== 'string' || !out.endsWith('.onnx')) throw new RangeError(`out: expected a path ending in .onnx, received ${String(out)}`);
  const folder = dirname(resolve(out));
  const folderStat = await stat(folder).catch(() => undefined);
  if (!folderStat?.isDirectory()) throw new Error(`out: cannot write '${out}': the folder ${folder} does not exist`);
  if ((await stat(out).catch(() => undefined))?.isDirectory()) throw new Error(`out: cannot write '${out}': it is a folder`);
  return out;
}

export async function runExport(config: ExportConfig) {
  const out = await checkOut(config.out);
  // The options first, so a bad --opset answers before LibTorch and the weights are loaded.
  const options: Omit<OnnxExportOptions, 'imageSize'> = {
    ...(config.dynamicBatch ? { dynamicBatch: true } : {}),
    ...(config.batchSize !== undefined ? { batchSize: config.batchSize } : {}),
    ...(config.opset !== undefined ? { opset: config.opset } : {}),
    ...(config.batchNorm !== undefined ? { batchNorm: config.batchNorm } : {}),
    ...(config.includeNormalization ? { includeNormalization: true } : {}),
  };
  resolveGraphOptions(options);
  const { buildEncoder, resolveArchitecture, runImageSize } = await import('./encoder.js');
  const architecture = await resolveArchitecture(config.weights, config.arch);
  const imageSize = config.imageSize ?? (await runImageSize(config.weights));
  if (imageSize === undefined) throw new RangeError(`image-size: expected --image-size N (no config.json beside ${config.weights} says it)`);
  const net = await buildEncoder(architecture, { weights: config.weights });
  const { exportOnnx } = await import('../onnx/export.js');
  return exportOnnx(net, out, { ...options, imageSize });
}
