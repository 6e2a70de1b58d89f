// One ONNX file holds at most what protobuf can encode. No onnx-proto import: the public API re-exports this
// file, and its declarations must type-check without protobufjs's (Long) types.

/**
 * protobuf cannot encode or parse a message of 2 GiB or more (sizes are signed 32-bit). ONNX puts larger weights
 * in external data files beside the model, which exportOnnx does not write.
 */
export const PROTOBUF_LIMIT_BYTES = 2 ** 31 - 1;

/** An export that cannot be written as asked (today: a model too large for one ONNX file). */
export class OnnxExportError extends Error {
  override name = 'OnnxExportError';
}

/** Refuses a model of `bytes` (estimated or exact) that protobuf cannot hold, before anything is written. */
export function checkProtobufSize(bytes: number): void {
  if (bytes > PROTOBUF_LIMIT_BYTES) {
    throw new OnnxExportError(
      `model: the ONNX file would be ${(bytes / 2 ** 30).toFixed(2)} GiB, over protobuf's 2 GiB limit for one file; ` +
        'weights in ONNX external data files are out of scope of exportOnnx: export a smaller network',
    );
  }
}
