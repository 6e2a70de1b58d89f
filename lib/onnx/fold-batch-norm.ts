// BatchNorm folded into the convolution before it, for the eval-mode graph: BatchNorm with running statistics
// is a per-channel affine map, y = (x - mean) * gamma / sqrt(var + eps) + beta, so conv-then-BN is one
// convolution with scaled weights and a bias:
//   W'[c] = W[c] * s[c],  b'[c] = beta[c] - mean[c] * s[c],  s[c] = gamma[c] / sqrt(var[c] + eps).
// The scale is computed in float64 and each folded value rounded to float32 once.

export interface BatchNormState {
  /** gamma */
  weight: Float32Array;
  /** beta */
  bias: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
  eps: number;
}

/** Folds `bn` into a bias-free convolution whose weight is `convWeight` ([outChannels, ...], row-major). */
export function foldBatchNorm(convWeight: Float32Array, bn: BatchNormState): { weight: Float32Array; bias: Float32Array } {
  const outChannels = bn.weight.length;
  for (const [name, values] of [['bias', bn.bias], ['runningMean', bn.runningMean], ['runningVar', bn.runningVar]] as const) {
    if (values.length !== outChannels) throw new RangeError(`batch norm ${name}: expected ${outChannels} values (one per channel), received ${values.length}`);
  }
  if (outChannels === 0 || convWeight.length % outChannels !== 0)
    throw new RangeError(`conv weight: expected a multiple of the batch norm's ${outChannels} channels, received ${convWeight.length} values`);
  const perChannel = convWeight.length / outChannels;
  const weight = new Float32Array(convWeight.length);
  const bias = new Float32Array(outChannels);
  for (let c = 0; c < outChannels; c++) {
    const scale = bn.weight[c] / Math.sqrt(bn.runningVar[c] + bn.eps);
    for (let k = c * perChannel; k < (c + 1) * perChannel; k++) weight[k] = convWeight[k] * scale;
    bias[c] = bn.bias[c] - bn.runningMean[c] * scale;
  }
  return { weight, bias };
}
