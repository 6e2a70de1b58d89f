// Writes the seed corpora of the native fuzz targets: test/fuzz/corpus/<target>/seed-*, a few small valid files
// and edge cases per target, from which libFuzzer mutates and which `npm test` replays (test/native/
// fuzz_corpus_test.cc). Deterministic: running it again rewrites the same bytes. Regression inputs (crashes
// and broken properties that fuzzing found, named regression-*) are added by hand and left alone here.
//
//     node test/fuzz/make-corpus.mjs
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), 'corpus');
const ITEM_SIZE = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Bytes 1, 2, 3, ... (mod 251): recognisable, and never all zero. */
function pattern(length) {
  return Buffer.from(Array.from({ length }, (_, i) => (i % 251) + 1));
}

/** A JSON header text framed as safetensors: 8-byte little-endian length, then the text. */
function framed(headerText, data = Buffer.alloc(0)) {
  const header = Buffer.from(headerText, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([length, header, data]);
}

/**
 * A safetensors file of `tensors` ([name, dtype, shape, data?] in data order; data defaults to the pattern, BOOL
 * to 0/1) and `metadata`, its header padded with spaces to 8 bytes as serializeSafetensors writes it.
 */
function safetensors(tensors, metadata) {
  const header = {};
  if (metadata) header.__metadata__ = metadata;
  const blobs = [];
  let offset = 0;
  for (const [name, dtype, shape, given] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * ITEM_SIZE[dtype];
    const data = given ?? (dtype === 'BOOL' ? Buffer.from(Array.from({ length: bytes }, (_, i) => i % 2)) : pattern(bytes));
    if (data.length !== bytes) throw new Error(`${name}: ${data.length} bytes given, ${bytes} needed`);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    blobs.push(data);
    offset += bytes;
  }
  let text = JSON.stringify(header);
  while ((8 + text.length) % 8 !== 0) text += ' ';
  return framed(text, Buffer.concat(blobs));
}

function f32(values) {
  const out = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => out.writeFloatLE(v, 4 * i));
  return out;
}

function f64(values) {
  const out = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => out.writeDoubleLE(v, 8 * i));
  return out;
}

// ---- json: the header JSON reader ---------------------------------------------------------------------------
const nested = (depth) => '['.repeat(depth) + ']'.repeat(depth);
const json = {
  'empty-object': '{}',
  'header': '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}',
  'escapes': '["a\\"\\\\\\/\\b\\f\\n\\r\\t","\\u00e9\\u20ac\\ud83d\\ude00","caf\u00e9 \u20ac"]',
  'numbers': '[0,-0,12,1.5,-2.25e10,3E-3,9007199254740993,1e400]',
  'literals': ' {"t": true, "f": false, "n": null, "o": {}, "a": []} \n',
  'deepest-accepted': nested(33),
  'too-deep': nested(34),
  'duplicate-key': '{"a":1,"a":2}',
  'trailing-comma': '[1,2,]',
  'lone-surrogate': '["\\ud800"]',
  'control-character': '["a\tb"]',
  'trailing-garbage': '{} x',
};

// ---- safetensors files: the header parser and the file readers ------------------------------------------------
const safetensorsSeeds = {
  'one-tensor': safetensors([['weight', 'F32', [2, 3]]]),
  'every-dtype': safetensors(Object.keys(ITEM_SIZE).map((dtype, i) => [`t${i}`, dtype, [2]]), { format: 'pt' }),
  'scalar-and-empty': safetensors([
    ['scalar', 'F64', []],
    ['empty', 'F32', [0, 4]],
    ['after', 'I32', [1, 1, 2]],
  ]),
  'metadata-only': safetensors([], { format: 'pt', note: 'caf\u00e9' }),
  // Many BOOL bytes: a mutation of the data lands in one often (the reader must refuse what is not 0 or 1).
  'bool-mask': safetensors([['mask', 'BOOL', [8, 8]], ['caf\u00e9', 'U8', [2]]]),
  'empty-header': framed('{}'),
  'unpadded-header': framed('{"x":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}', pattern(3)),
  'gap': framed('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}', pattern(5)),
  'overlap': framed('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', pattern(3)),
  'truncated-data': safetensors([['weight', 'F32', [2, 3]]]).subarray(0, -4),
  'header-length-past-end': Buffer.concat([Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{}')]),
  'short-file': Buffer.from([2, 0, 0, 0]),
};

// ---- state_dict: loads into fuzz/state_dict_target.cc's TinyNet -------------------------------------------------
const tinyNet = (floatType = 'F32', { drop, extra, reshape, retype } = {}) => {
  const entries = [
    ['mask', 'BOOL', [2]],
    ['conv.weight', floatType, [2, 1, 3, 3]],
    ['bn.weight', floatType, [2]],
    ['bn.bias', floatType, [2]],
    ['bn.running_mean', floatType, [2]],
    ['bn.running_var', floatType, [2]],
    ['bn.num_batches_tracked', 'I64', []],
    ['head.weight', floatType, [3, 2]],
    ['head.bias', floatType, [3]],
  ]
    .filter(([name]) => name !== drop)
    .map(([name, dtype, shape]) => [name, name === retype ? 'I32' : dtype, name === reshape ? [shape.reduce((a, b) => a * b, 1)] : shape]);
  if (extra) entries.push([extra, 'F32', [1]]);
  return safetensors(entries, { format: 'pt' });
};
const stateDictSeeds = {
  'exact': tinyNet(),
  'float16': tinyNet('F16'),
  'bfloat16-and-float64': safetensors([
    ['mask', 'BOOL', [2]],
    ['conv.weight', 'BF16', [2, 1, 3, 3]],
    ['bn.weight', 'F64', [2], f64([1, -0])],
    ['bn.bias', 'F64', [2], f64([Number.NaN, Number.POSITIVE_INFINITY])],
    ['bn.running_mean', 'F32', [2], f32([0.5, -0.5])],
    ['bn.running_var', 'F32', [2], f32([1, 2])],
    ['bn.num_batches_tracked', 'U8', []],
    ['head.weight', 'F16', [3, 2]],
    ['head.bias', 'F32', [3]],
  ]),
  'missing-key': tinyNet('F32', { drop: 'bn.running_var' }),
  'unexpected-key': tinyNet('F32', { extra: 'fc.weight' }),
  'wrong-shape': tinyNet('F32', { reshape: 'head.weight' }),
  'int-for-float': tinyNet('F32', { retype: 'bn.bias' }),
  'empty': safetensors([]),
};

// ---- resnet_layout: the names and shapes inferResNet reads; data only where the shape has elements -----------
const resnetHeader = ({ bottleneck, blocks, conv1, fc }) => {
  const entries = [['conv1.weight', 'I8', conv1]];
  blocks.forEach((count, stage) => {
    for (let b = 0; b < count; b++) {
      entries.push([`layer${stage + 1}.${b}.conv1.weight`, 'F32', [0]]);
      if (bottleneck) entries.push([`layer${stage + 1}.${b}.conv3.weight`, 'F32', [0]]);
    }
  });
  if (fc) entries.push(['fc.weight', 'I8', fc]);
  return safetensors(entries);
};
const resnetSeeds = {
  'resnet18-small-stem': resnetHeader({ bottleneck: false, blocks: [2, 2, 2, 2], conv1: [64, 1, 3, 3] }),
  'resnet18-classifier': resnetHeader({ bottleneck: false, blocks: [2, 2, 2, 2], conv1: [64, 1, 3, 3], fc: [2, 512] }),
  'resnet34': resnetHeader({ bottleneck: false, blocks: [3, 4, 6, 3], conv1: [64, 1, 3, 3] }),
  'resnet50-imagenet-stem': resnetHeader({ bottleneck: true, blocks: [3, 4, 6, 3], conv1: [64, 1, 7, 7] }),
  'no-layout': resnetHeader({ bottleneck: false, blocks: [2, 2, 2, 1], conv1: [64, 1, 3, 3] }),
};

// ---- optimizer_state: for fuzz/optimizer_state_target.cc's parameters [2, 3] and [3] ---------------------------
const count = (n) => f64([n]);
const optimizerSeeds = {
  'adam': safetensors([
    ['steps', 'F64', [], count(5)],
    ['0.step', 'F64', [], count(5)],
    ['0.exp_avg', 'F32', [2, 3]],
    ['0.exp_avg_sq', 'F32', [2, 3]],
    ['1.step', 'F64', [], count(4)],
    ['1.exp_avg', 'F16', [3]],
    ['1.exp_avg_sq', 'F64', [3]],
  ], { kind: 'adam', lr: '0.001', steps: '5' }),
  'sgd': safetensors([
    ['steps', 'F64', [], count(2)],
    ['0.step', 'I64', [1], Buffer.from([2, 0, 0, 0, 0, 0, 0, 0])],
    ['0.momentum_buffer', 'F32', [2, 3]],
    ['1.momentum_buffer', 'BF16', [3]],
  ], { kind: 'sgd', lr: '0.1', steps: '2' }),
  'only-steps': safetensors([['steps', 'F64', [], count(0)]]),
  'half-adam': safetensors([['0.exp_avg', 'F32', [2, 3]]]),
  'index-out-of-range': safetensors([['2.step', 'F64', [], count(1)]]),
  'wrong-shape': safetensors([['1.momentum_buffer', 'F32', [2, 3]]]),
  'fractional-count': safetensors([['steps', 'F64', [], f64([1.5])]]),
};

const targets = {
  json: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, Buffer.from(v, 'utf8')])),
  safetensors_header: safetensorsSeeds,
  safetensors_file: safetensorsSeeds,
  state_dict: stateDictSeeds,
  resnet_layout: resnetSeeds,
  optimizer_state: optimizerSeeds,
};

for (const [target, seeds] of Object.entries(targets)) {
  const dir = join(CORPUS, target);
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) if (name.startsWith('seed-')) rmSync(join(dir, name));
  for (const [name, bytes] of Object.entries(seeds)) writeFileSync(join(dir, `seed-${name}`), bytes);
  console.log(`${target}: ${Object.keys(seeds).length} seeds`);
}
