// What one call of the device tool carries, against its limit: the working tree as the tool copies it (tracked
// files plus untracked files git does not ignore) and the ignored folder named in `carry` (.device/). The limit is
// 64 MiB for both together; the bundle must leave MARGIN free, since the tree grows between a pack and a run.
//
//   node scripts/device/bundle-size.mjs                 prints the sizes; exit status 1 when over the limit
//   node scripts/device/bundle-size.mjs --manifest      also writes .device/manifest.json (what was packed, when)
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LIMIT_BYTES = 64 * 2 ** 20;
export const MARGIN_BYTES = 4 * 2 ** 20;
const MiB = (bytes) => (bytes / 2 ** 20).toFixed(1);

function gitFiles() {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  return [...new Set(out.split('\0').filter(Boolean))];
}

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

/** Sizes of the tree and of .device/ (its top-level entries), in bytes. */
export function measureBundle(deviceDir = join(root, '.device')) {
  let treeBytes = 0;
  let treeFiles = 0;
  for (const file of gitFiles()) {
    // A tracked file deleted in the working tree is not carried.
    const s = existsSync(join(root, file)) ? lstatSync(join(root, file)) : null;
    if (s && !s.isDirectory()) {
      treeBytes += s.size;
      treeFiles++;
    }
  }
  const parts = {};
  if (existsSync(deviceDir)) {
    for (const entry of readdirSync(deviceDir, { withFileTypes: true })) {
      const path = join(deviceDir, entry.name);
      const files = entry.isDirectory() ? [...walk(path)] : [path];
      parts[entry.name] = files.reduce((sum, f) => sum + lstatSync(f).size, 0);
    }
  }
  const deviceBytes = Object.values(parts).reduce((a, b) => a + b, 0);
  const totalBytes = treeBytes + deviceBytes;
  return {
    treeBytes, treeFiles, deviceBytes, parts, totalBytes,
    limitBytes: LIMIT_BYTES, marginBytes: MARGIN_BYTES,
    withinLimit: totalBytes <= LIMIT_BYTES - MARGIN_BYTES,
  };
}

export function formatBundle(b) {
  const lines = [`working tree: ${MiB(b.treeBytes)} MiB (${b.treeFiles} files)`];
  for (const [name, bytes] of Object.entries(b.parts).sort((x, y) => y[1] - x[1])) lines.push(`.device/${name}: ${MiB(bytes)} MiB`);
  lines.push(
    `carried in all: ${MiB(b.totalBytes)} MiB of ${MiB(b.limitBytes)} MiB ` +
      `(must stay under ${MiB(b.limitBytes - b.marginBytes)} MiB, leaving ${MiB(b.marginBytes)} MiB for the tree to grow): ` +
      (b.withinLimit ? 'ok' : 'TOO BIG'),
  );
  return lines.join('\n');
}

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let b = measureBundle();
  if (process.argv.includes('--manifest')) {
    const manifest = {
      packedAt: new Date().toISOString(),
      commit: git(['rev-parse', 'HEAD']),
      changedFiles: git(['status', '--porcelain']).split('\n').filter(Boolean).length,
      node: process.version,
      bundle: b,
    };
    writeFileSync(join(root, '.device', 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    b = measureBundle(); // with the manifest itself
  }
  console.log(formatBundle(b));
  if (!b.withinLimit) {
    console.error(
      `bundle-size: expected at most ${MiB(b.limitBytes - b.marginBytes)} MiB (the device tool carries ${MiB(b.limitBytes)} MiB per call, ` +
        `working tree included), measured ${MiB(b.totalBytes)} MiB; carry fewer images (BYOL_DEVICE_TRAIN_IMAGES) or packages`,
    );
    process.exit(1);
  }
}
