// An ONNX ModelProto around a graph, encoded with onnx-proto (protobufjs): the IR version and opset, who wrote
// it, and string metadata (metadata_props) for the input contract.
import { createRequire } from 'node:module';
import { onnx, type OnnxTypes } from './proto.js';
import { checkProtobufSize } from './size-limit.js';
import { IR_VERSION } from './versions.js';

const packageVersion = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export interface ModelOptions {
  opset: number;
  /** metadata_props, in order. */
  metadata: Record<string, string>;
  docString: string;
}

/** The encoded model file. The size is checked before encoding (weights) and after (the whole message). */
export function encodeModel(graph: OnnxTypes.IGraphProto, weightBytes: number, options: ModelOptions): Uint8Array {
  checkProtobufSize(weightBytes);
  const model: OnnxTypes.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: options.opset }],
    producerName: 'byol-torch',
    producerVersion: packageVersion,
    docString: options.docString,
    graph,
    metadataProps: Object.entries(options.metadata).map(([key, value]) => ({ key, value })),
  };
  const bytes = onnx.ModelProto.encode(model).finish();
  checkProtobufSize(bytes.length);
  return bytes;
}
