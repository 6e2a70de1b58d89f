// Building the encoder a weights file holds, and the settings of the run that wrote it.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { resnet, type ResNet } from '../nn.js';
import { manualSeed } from '../tensor.js';
import {
  architectureName,
  describeArchitecture,
  weightsArchitecture,
  type ArchitectureName,
  type ResNetArchitecture,
} from './architecture.js';

/** An encoder of `architecture` without classifier: random (seeded) weights, or those of `weights`. */
export async function buildEncoder(architecture: ResNetArchitecture, options: { weights?: string; seed?: number } = {}): Promise<ResNet> {
  if (options.seed !== undefined) manualSeed(options.seed);
  const net = resnet(architecture.depth, { inChannels: architecture.inChannels, smallStem: architecture.smallStem, classifier: false });
  if (options.weights) {
    // A file with the fc classifier still holds a whole encoder: its fc keys are the only ones allowed to be extra.
    const result = await net.load(options.weights, { strict: !architecture.classifier });
    const unexpected = result.unexpected.filter((k) => !k.startsWith('fc.'));
    if (result.missing.length > 0 || unexpected.length > 0)
      throw new Error(`weights: ${options.weights} does not fit ${describeArchitecture(architecture)}: missing ${result.missing.join(', ')}; unexpected ${unexpected.join(', ')}`);
  }
  return net;
}

/**
 * The architecture of `weights`; when the user named one (--arch), it must be the file's, and the error names
 * both.
 */
export async function resolveArchitecture(weights: string, asked?: ArchitectureName): Promise<ResNetArchitecture> {
  const found = await weightsArchitecture(weights);
  if (asked !== undefined && architectureName(found) !== asked)
    throw new Error(`weights: ${weights} holds a ${describeArchitecture(found)} encoder, but --arch asks for ${asked}`);
  return found;
}

/** The image size of the run that wrote `weights` (its folder's config.json), when there is one. */
export async function runImageSize(weights: string): Promise<number | undefined> {
  const text = await readFile(join(dirname(weights), 'config.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const size = (JSON.parse(text) as { imageSize?: unknown }).imageSize;
    return Number.isInteger(size) ? (size as number) : undefined;
  } catch {
    return undefined;
  }
}
