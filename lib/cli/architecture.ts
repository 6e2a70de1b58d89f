// Which ResNet a weights file holds, read from its safetensors header alone (names and shapes, no tensor data):
// `byol eval` and `byol embed` build the right encoder without being told, and a mismatch names both sides.
import { open } from 'node:fs/promises';
import type { ResNetDepth } from '../nn.js';

export interface ResNetArchitecture {
  depth: ResNetDepth;
  inChannels: number;
  smallStem: boolean;
  /** The file has the fc classifier's weights. */
  classifier: boolean;
  numClasses?: number;
}

import type { ArchitectureName } from './choices.js';
export { ARCHITECTURES, type ArchitectureName } from './choices.js';

// Blocks per stage and block kind of torchvision's ResNets.
const LAYOUTS: Record<string, ResNetDepth> = {
  'basic:2,2,2,2': 18,
  'basic:3,4,6,3': 34,
  'bottleneck:3,4,6,3': 50,
  'bottleneck:3,4,23,3': 101,
  'bottleneck:3,8,36,3': 152,
};

export function architectureName(a: Pick<ResNetArchitecture, 'depth'>): ArchitectureName {
  return `resnet${a.depth}` as ArchitectureName;
}

export function describeArchitecture(a: ResNetArchitecture): string {
  return `${architectureName(a)} (${a.inChannels} input channel${a.inChannels === 1 ? '' : 's'}${a.smallStem ? ', small stem' : ''})`;
}

/** Reads the tensor names and shapes of a safetensors file (its JSON header only). */
export async function readSafetensorsShapes(path: string): Promise<Map<string, number[]>> {
  const file = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`weights: cannot open ${path} (${error.code ?? error.message})`, { cause: error });
  });
  try {
    const { size } = await file.stat();
    const prefix = Buffer.alloc(8);
    await file.read(prefix, 0, 8, 0);
    const headerLength = Number(prefix.readBigUInt64LE(0));
    if (size < 8 || headerLength < 2 || headerLength > Math.min(size - 8, 100_000_000))
      throw new Error(`weights: ${path} is not a safetensors file (header length ${headerLength}, file size ${size})`);
    const header = Buffer.alloc(headerLength);
    await file.read(header, 0, headerLength, 8);
    let parsed: Record<string, { shape?: number[] }>;
    try {
      parsed = JSON.parse(header.toString('utf8'));
    } catch {
      throw new Error(`weights: ${path} is not a safetensors file (its header is not JSON)`);
    }
    const shapes = new Map<string, number[]>();
    for (const [name, entry] of Object.entries(parsed)) if (name !== '__metadata__' && Array.isArray(entry?.shape)) shapes.set(name, entry.shape);
    return shapes;
  } finally {
    await file.close();
  }
}

/** The torchvision ResNet whose state dict these names and shapes are, or undefined when they are no ResNet's. */
export function inferResNet(shapes: ReadonlyMap<string, number[]>): ResNetArchitecture | undefined {
  const conv1 = shapes.get('conv1.weight');
  if (!conv1 || conv1.length !== 4) return undefined;
  const kind = shapes.has('layer1.0.conv3.weight') ? 'bottleneck' : 'basic';
  const blocks = [1, 2, 3, 4].map((stage) => {
    let n = 0;
    while (shapes.has(`layer${stage}.${n}.conv1.weight`)) n++;
    return n;
  });
  const depth = LAYOUTS[`${kind}:${blocks.join(',')}`];
  if (!depth) return undefined;
  const fc = shapes.get('fc.weight');
  return {
    depth,
    inChannels: conv1[1]!,
    smallStem: conv1[2] === 3,
    classifier: fc !== undefined,
    ...(fc ? { numClasses: fc[0]! } : {}),
  };
}

/** inferResNet of a file, with an error naming the file when it holds no ResNet. */
export async function weightsArchitecture(path: string): Promise<ResNetArchitecture> {
  const architecture = inferResNet(await readSafetensorsShapes(path));
  if (!architecture)
    throw new Error(`weights: ${path} holds no torchvision ResNet state dict (expected conv1.weight and layer1..layer4 blocks)`);
  return architecture;
}
