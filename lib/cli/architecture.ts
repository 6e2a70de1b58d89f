// Which ResNet a weights file holds, read from its safetensors header alone (names and shapes, no tensor data):
// `byol eval` and `byol embed` build the right encoder without being told, and a mismatch names both sides.
// The header is parsed by the one safetensors parser (native/core/safetensors.h) and the network inferred from
// the layout table that also builds it (native/core/resnet.h). Importing this module loads the native addon:
// only embed and eval runs import it (lib/cli/main.ts imports those lazily; --help needs choices.ts only).
import { native } from '../native.js';
import type { ResNetDepth } from '../nn.js';
import { readSafetensorsHeader } from '../serialize.js';

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

export function architectureName(a: Pick<ResNetArchitecture, 'depth'>): ArchitectureName {
  return `resnet${a.depth}` as ArchitectureName;
}

export function describeArchitecture(a: ResNetArchitecture): string {
  return `${architectureName(a)} (${a.inChannels} input channel${a.inChannels === 1 ? '' : 's'}${a.smallStem ? ', small stem' : ''})`;
}

/** The torchvision ResNet whose state dict these names and shapes are, or undefined when they are no ResNet's. */
export function inferResNet(tensors: ReadonlyArray<{ name: string; shape: number[] }>): ResNetArchitecture | undefined {
  return native.inferResNet([...tensors]) ?? undefined;
}

/**
 * inferResNet of a file's header, with errors in the CLI's words that name the file: one that cannot be opened,
 * one that is not a safetensors file (and why), one that holds no ResNet.
 */
export async function weightsArchitecture(path: string): Promise<ResNetArchitecture> {
  let tensors: { name: string; shape: number[] }[];
  try {
    ({ tensors } = await readSafetensorsHeader(path));
  } catch (error) {
    // The parser's messages: "safetensors: cannot open|read '<path>': <why>" or "safetensors: <path>: <what is wrong>".
    const message = error instanceof Error ? error.message : String(error);
    const access = /^safetensors: (cannot (?:open|read) .*)$/s.exec(message);
    if (access) throw new Error(`weights: ${access[1]}`, { cause: error });
    const prefix = `safetensors: ${path}: `;
    const reason = message.startsWith(prefix) ? message.slice(prefix.length) : message;
    throw new Error(`weights: ${path} is not a safetensors file (${reason})`, { cause: error });
  }
  const architecture = inferResNet(tensors);
  if (!architecture)
    throw new Error(`weights: ${path} holds no torchvision ResNet state dict (expected conv1.weight and layer1..layer4 blocks)`);
  return architecture;
}
