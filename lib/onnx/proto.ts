// The ONNX protobuf schema, from onnx-proto (protobufjs static code generated from onnx.proto; a CommonJS
// module, hence the default import). Only lib/onnx imports it, and no public type mentions it.
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type { onnx as OnnxTypes } from 'onnx-proto';
