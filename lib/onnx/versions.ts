// The ONNX versions an exported model declares. No imports: the command line reads these without loading
// LibTorch.
//
// The graph uses Conv, BatchNormalization, Relu, MaxPool, Add, GlobalAveragePool, Flatten, Sub and Div, whose
// behaviour for float32 inference is the same at every opset from 13 on (later versions only add types or
// training outputs). 17 is the newest opset of IR version 8, which Debian 12's onnx 1.12 checker validates and
// every onnxruntime since 1.12 runs; a higher opset would need a newer IR version and buy nothing here.

/** Lowest opset `exportOnnx` writes (Flatten-13 and the BatchNormalization of opsets 9-15 agree from here). */
export const MIN_OPSET = 13;
/** Highest opset `exportOnnx` writes: the newest one of IR version 8. */
export const MAX_OPSET = 17;
/** The default: the newest one every checker and runtime we test accepts. */
export const DEFAULT_OPSET = 17;
/** ONNX IR version 8 (onnx 1.10-1.13): what opsets 13-17 belong to. */
export const IR_VERSION = 8;
