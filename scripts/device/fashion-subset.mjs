// Writes the first N train and M test images (and labels) of Fashion-MNIST as gzipped IDX files that
// `byol train|eval --dataset fashion-mnist --data-root DIR` reads (lib/data/idx.ts: {train,t10k}-{images-idx3,
// labels-idx1}-ubyte.gz): the full set is 30 MB of gzip, too much beside Node in the 64 MiB the GPU machine is
// carried. The training file is shuffled by its makers, so a prefix keeps the classes balanced (printed).
// Skips the work when the folder already holds the same subset of the same source (subset.json).
//
//   node scripts/device/fashion-subset.mjs --source /usr/share/datasets/fashion-mnist --out .device/fashion-mnist \
//     --train 30000 --test 5000
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const source = arg('source', '/usr/share/datasets/fashion-mnist');
const out = arg('out', '.device/fashion-mnist');
const counts = { train: Number(arg('train', 30000)), t10k: Number(arg('test', 5000)) };
for (const [split, n] of Object.entries(counts)) {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${split === 't10k' ? 'test' : 'train'}: expected a positive integer, received ${n}`);
}

const FILES = [
  { split: 'train', kind: 'images', magic: 0x803 },
  { split: 'train', kind: 'labels', magic: 0x801 },
  { split: 't10k', kind: 'images', magic: 0x803 },
  { split: 't10k', kind: 'labels', magic: 0x801 },
];
const fileName = (f) => `${f.split}-${f.kind}-idx${f.kind === 'images' ? 3 : 1}-ubyte`;

function sourcePath(f) {
  for (const candidate of [join(source, `${fileName(f)}.gz`), join(source, fileName(f))]) if (existsSync(candidate)) return candidate;
  throw new Error(`${source}: expected ${fileName(f)}.gz or ${fileName(f)} (Debian: apt-get install dataset-fashion-mnist)`);
}

const wanted = {
  counts,
  sources: FILES.map((f) => {
    const path = sourcePath(f);
    const s = statSync(path);
    return { path, size: s.size, mtimeMs: s.mtimeMs };
  }),
};
const marker = join(out, 'subset.json');
if (existsSync(marker) && JSON.stringify(JSON.parse(readFileSync(marker, 'utf8')).wanted) === JSON.stringify(wanted)) {
  console.log(`${out}: up to date (${counts.train} train, ${counts.t10k} test images)`);
  process.exit(0);
}

mkdirSync(out, { recursive: true });
const written = [];
let labelHistogram = [];
for (const f of FILES) {
  const path = sourcePath(f);
  const raw = readFileSync(path);
  const bytes = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== f.magic) throw new Error(`${path}: expected IDX magic 0x${f.magic.toString(16)}, found 0x${magic.toString(16)}`);
  const rank = magic & 0xff;
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const n = counts[f.split];
  if (n > shape[0]) throw new RangeError(`${path}: holds ${shape[0]} items, ${n} were asked for`);
  const itemBytes = shape.slice(1).reduce((a, b) => a * b, 1);
  const header = Buffer.alloc(4 + 4 * rank);
  header.writeUInt32BE(magic, 0);
  header.writeUInt32BE(n, 4);
  shape.slice(1).forEach((d, i) => header.writeUInt32BE(d, 8 + 4 * i));
  const body = bytes.subarray(4 + 4 * rank, 4 + 4 * rank + n * itemBytes);
  if (f.kind === 'labels') {
    labelHistogram = Array.from({ length: 10 }, (_, c) => body.reduce((k, l) => k + (l === c ? 1 : 0), 0));
    console.log(`${f.split} labels per class: ${labelHistogram.join(' ')}`);
  }
  const target = join(out, `${fileName(f)}.gz`);
  writeFileSync(`${target}.partial`, gzipSync(Buffer.concat([header, body]), { level: 9 }));
  renameSync(`${target}.partial`, target);
  written.push(`${fileName(f)}.gz ${(statSync(target).size / 2 ** 20).toFixed(2)} MiB`);
}
writeFileSync(marker, `${JSON.stringify({ wanted }, null, 2)}\n`);
console.log(`${out}: ${counts.train} train, ${counts.t10k} test images: ${written.join(', ')}`);
