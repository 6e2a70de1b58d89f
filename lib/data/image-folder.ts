// A folder of image files as a Dataset, laid out as torchvision's ImageFolder: one subfolder per class
// (root/cat/1.jpg, root/dog/2.png; sorted folder names are the classes), or images directly in root (an
// unlabelled dataset). JPEG, PNG and WebP, decoded and resized with sharp, whose work runs on libvips
// threads off the JS thread.
import { readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { extname, join, relative, resolve, sep } from 'node:path';
import sharp from 'sharp';
import { describe, tensor } from '../tensor.js';
import type { Batch, Dataset } from './dataset.js';
import { checkIndices } from './indices.js';

/** The file name extensions read (case-insensitive). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

export interface ImageFolderOptions {
  /** Every image is resized to imageSize × imageSize. */
  imageSize: number;
  /** 3 (RGB; greyscale images are repeated, alpha dropped) or 1 (greyscale). Default 3. */
  channels?: 1 | 3;
  /**
   * How an image that is not square becomes square: 'cover' scales its short side to imageSize and crops the
   * centre (torchvision's Resize(s) + CenterCrop(s)); 'fill' stretches it (Resize((s, s))); 'contain' scales
   * its long side and pads with black. Default 'cover'.
   */
  fit?: 'cover' | 'fill' | 'contain';
  /** Throw on the first unreadable image found by the scan instead of skipping it. Default false. */
  strict?: boolean;
  /** Receives the one warning about skipped images (and ignored files). Default console.warn. */
  onWarning?: (message: string) => void;
  /** Images decoded at the same time by one `get` (sharp jobs in flight). Default the number of CPUs, min 2. */
  concurrency?: number;
  /**
   * Decoded images kept in memory (as uint8, C×H×W bytes each), least recently requested dropped first (an
   * image's place is set when `get` asks for it, in the order of its indices, not when its decode finishes).
   * 0 turns the cache off. Worth it when the dataset fits: every epoch after the first then skips the decode.
   * Default 0.
   */
  cacheSize?: number;
}

export interface ImageFolderDataset extends Dataset {
  /** The root folder (absolute). */
  readonly root: string;
  /** Every image's file path (absolute), index = image index: by class, then by path within the class. */
  readonly paths: readonly string[];
  /** Files the scan could not read and skipped, with the reason. */
  readonly skipped: readonly { path: string; reason: string }[];
}

/**
 * Scans `root` and returns a Dataset of its images. Scanning reads every file's header (cheap), so an
 * unreadable or corrupt file is skipped (or, under `strict`, reported) up front; an image that still fails
 * to decode later makes `get` throw an Error naming the file.
 */
export async function imageFolder(root: string, options: ImageFolderOptions): Promise<ImageFolderDataset> {
  if (typeof root !== 'string' || root.length === 0)
    throw new TypeError(`root: expected a folder path, received ${describe(root)}`);
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`options: expected an object with imageSize, received ${describe(options)}`);
  const {
    imageSize,
    channels = 3,
    fit = 'cover',
    strict = false,
    onWarning = (message: string) => console.warn(message),
    concurrency = Math.max(2, availableParallelism()),
    cacheSize = 0,
  } = options;
  if (!Number.isInteger(imageSize) || imageSize < 1)
    throw new RangeError(`imageSize: expected a positive integer, received ${describe(imageSize)}`);
  if (channels !== 1 && channels !== 3) throw new RangeError(`channels: expected 1 or 3, received ${describe(channels)}`);
  if (fit !== 'cover' && fit !== 'fill' && fit !== 'contain')
    throw new RangeError(`fit: expected 'cover', 'fill' or 'contain', received ${describe(fit)}`);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency: expected a positive integer, received ${describe(concurrency)}`);
  if (!Number.isInteger(cacheSize) || cacheSize < 0)
    throw new RangeError(`cacheSize: expected a non-negative integer, received ${describe(cacheSize)}`);
  if (typeof onWarning !== 'function') throw new TypeError(`onWarning: expected a function, received ${describe(onWarning)}`);

  const absRoot = resolve(root);
  const scan = await scanFolder(absRoot);
  const ignored = scan.rootImages.length > 0 && scan.classes.length > 0 ? scan.rootImages : [];
  const files = scan.classes.length > 0 ? scan.classFiles : scan.rootImages.map((path) => ({ path, label: -1 }));
  if (files.length === 0)
    throw new Error(
      `imageFolder: no images found in ${absRoot}: expected ${IMAGE_EXTENSIONS.join(', ')} files directly in it ` +
        `or in one subfolder per class` + (scan.otherFiles > 0 ? ` (found ${scan.otherFiles} other files)` : ''),
    );

  // Cheap check of every file: its header must parse (sharp reads no pixels for metadata()).
  const problems = await mapLimit(files, Math.max(concurrency, 4), async ({ path }) => {
    try {
      const meta = await sharp(path).metadata();
      if (!meta.width || !meta.height) return 'no image size in the header';
      if (!['jpeg', 'png', 'webp'].includes(meta.format ?? '')) return `a ${meta.format ?? 'unknown'} file, not JPEG/PNG/WebP`;
      return undefined;
    } catch (error) {
      return reasonOf(error);
    }
  });
  const skipped: { path: string; reason: string }[] = [];
  const kept: { path: string; label: number }[] = [];
  files.forEach((file, i) => {
    const reason = problems[i];
    if (reason === undefined) kept.push(file);
    else skipped.push({ path: file.path, reason });
  });
  if (skipped.length > 0 && strict) {
    const first = skipped[0];
    throw new Error(
      `imageFolder: unreadable image ${first.path}: ${first.reason}` +
        (skipped.length > 1 ? ` (and ${skipped.length - 1} more of ${files.length})` : '') +
        ` (strict: true; remove or fix the file, or pass strict: false to skip unreadable images)`,
    );
  }
  const warnings: string[] = [];
  if (skipped.length > 0) {
    const shown = skipped.slice(0, 5).map((s) => `${relative(absRoot, s.path)} (${s.reason})`);
    warnings.push(
      `imageFolder: skipped ${skipped.length} unreadable image${skipped.length === 1 ? '' : 's'} of ${files.length} ` +
        `in ${absRoot}: ${shown.join(', ')}${skipped.length > shown.length ? ', ...' : ''}`,
    );
  }
  if (ignored.length > 0)
    warnings.push(
      `imageFolder: ignored ${ignored.length} image${ignored.length === 1 ? '' : 's'} directly in ${absRoot} ` +
        `(e.g. ${relative(absRoot, ignored[0])}): with class subfolders present, only images in them are read`,
    );
  const present = new Set(kept.map((f) => f.label));
  const emptyClasses = scan.classes.filter((_, c) => !present.has(c));
  if (emptyClasses.length > 0)
    warnings.push(`imageFolder: class folder${emptyClasses.length === 1 ? '' : 's'} without readable images: ${emptyClasses.join(', ')}`);
  for (const w of warnings) onWarning(w);
  if (kept.length === 0)
    throw new Error(`imageFolder: none of the ${files.length} images in ${absRoot} is readable (first: ${skipped[0].path}: ${skipped[0].reason})`);

  const paths = kept.map((f) => f.path);
  const labelled = scan.classes.length > 0;
  const labels = labelled ? Int32Array.from(kept, (f) => f.label) : undefined;
  const pixels = channels * imageSize * imageSize;
  const cache = new LruCache<number, Uint8Array>(cacheSize);

  const decodeFile = async (i: number): Promise<Uint8Array> => {
    const path = paths[i];
    let data: Buffer;
    let got: number;
    try {
      let pipeline = sharp(path, { failOn: 'error' }).resize(imageSize, imageSize, {
        fit,
        position: 'centre',
        background: { r: 0, g: 0, b: 0, alpha: 1 },
      });
      // Alpha is dropped (as PIL's convert('RGB') / convert('L') in torchvision's loader).
      pipeline = channels === 1 ? pipeline.removeAlpha().greyscale() : pipeline.removeAlpha();
      const out = await pipeline.raw().toBuffer({ resolveWithObject: true });
      data = out.data;
      got = out.info.channels;
    } catch (error) {
      throw new Error(`imageFolder: could not decode image ${path}: ${reasonOf(error)}`, { cause: error });
    }
    const hw = imageSize * imageSize;
    if (data.length !== hw * got)
      throw new Error(`imageFolder: decoding ${path} gave ${data.length} bytes, expected ${hw} pixels × ${got} channels`);
    // Interleaved HWC (got channels) → planar CHW (channels).
    const chw = new Uint8Array(pixels);
    for (let c = 0; c < channels; c++) {
      const from = got >= channels ? c : 0; // grey (1 or 2 channels with alpha) → repeated into R, G, B
      const plane = c * hw;
      for (let p = 0; p < hw; p++) chw[plane + p] = data[p * got + from];
    }
    return chw;
  };
  // Cached by request: which images the cache keeps depends on the order they are asked for, not on the order
  // in which concurrent decodes finish.
  const decode = (i: number): Promise<Uint8Array> => cache.getOrLoad(i, () => decodeFile(i));

  return {
    root: absRoot,
    size: paths.length,
    imageShape: [channels, imageSize, imageSize],
    ...(labelled ? { classes: scan.classes, labels } : {}),
    paths,
    skipped,
    async get(indices: ArrayLike<number>): Promise<Batch> {
      const list = checkIndices(indices, paths.length);
      const out = new Float32Array(list.length * pixels);
      await mapLimit(list, concurrency, async (index, k) => {
        const chw = await decode(index);
        const base = k * pixels;
        for (let p = 0; p < pixels; p++) out[base + p] = chw[p] / 255;
      });
      const images = tensor(out, { shape: [list.length, channels, imageSize, imageSize] });
      return labels ? { images, labels: Int32Array.from(list, (i) => labels[i]) } : { images };
    },
  };
}

// --- scanning ---------------------------------------------------------------------------------------------

interface Scan {
  classes: string[];
  classFiles: { path: string; label: number }[];
  rootImages: string[];
  otherFiles: number;
}

const isImage = (name: string): boolean => IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
const isHidden = (name: string): boolean => name.startsWith('.');
/** Code-point order (as Python's sorted), not the locale's. */
const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function scanFolder(root: string): Promise<Scan> {
  let info;
  try {
    info = await stat(root);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? `imageFolder: root: no such folder ${root} (expected a folder of images, or of one subfolder per class)`
        : `imageFolder: root: cannot read ${root}: ${reasonOf(error)}`,
      { cause: error },
    );
  }
  if (!info.isDirectory())
    throw new Error(`imageFolder: root: expected a folder, received a file: ${root} (pass the folder that holds the images)`);
  const entries = await listFolder(root);
  const classes: string[] = [];
  const rootImages: string[] = [];
  let otherFiles = 0;
  for (const e of entries) {
    if (e.kind === 'dir') classes.push(e.name);
    else if (isImage(e.name)) rootImages.push(join(root, e.name));
    else otherFiles++;
  }
  classes.sort(byCodePoint);
  rootImages.sort(byCodePoint);
  const classFiles: { path: string; label: number }[] = [];
  for (let label = 0; label < classes.length; label++) {
    const dir = join(root, classes[label]);
    const found: string[] = [];
    otherFiles += await walk(dir, found, new Set([root]));
    // Sorted by the path relative to the class folder, '/' as separator on every platform.
    const keyed = found.map((path) => ({ path, key: relative(dir, path).split(sep).join('/') }));
    keyed.sort((a, b) => byCodePoint(a.key, b.key));
    for (const { path } of keyed) classFiles.push({ path, label });
  }
  // Folders without a single image anywhere below do not make this a labelled dataset (e.g. a stray
  // "thumbnails/" next to the images) unless some other folder has images.
  if (classFiles.length === 0 && rootImages.length > 0) return { classes: [], classFiles, rootImages, otherFiles };
  return { classes, classFiles, rootImages, otherFiles };
}

async function listFolder(dir: string): Promise<{ name: string; kind: 'dir' | 'file' }[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new Error(`imageFolder: cannot list folder ${dir}: ${reasonOf(error)}`, { cause: error });
  }
  const out: { name: string; kind: 'dir' | 'file' }[] = [];
  for (const e of entries) {
    if (isHidden(e.name)) continue;
    let kind: 'dir' | 'file' | undefined = e.isDirectory() ? 'dir' : e.isFile() ? 'file' : undefined;
    if (e.isSymbolicLink()) {
      // Followed, as torchvision (os.walk(followlinks=True)); a dangling link is an unreadable file.
      try {
        const s = await stat(join(dir, e.name));
        kind = s.isDirectory() ? 'dir' : 'file';
      } catch {
        kind = 'file';
      }
    }
    if (kind) out.push({ name: e.name, kind });
  }
  return out;
}

/** Collects image files below `dir` into `found`; returns the number of other files. */
async function walk(dir: string, found: string[], seen: Set<string>): Promise<number> {
  const real = resolve(dir);
  if (seen.has(real)) return 0; // a symlink loop
  seen.add(real);
  let others = 0;
  for (const e of await listFolder(dir)) {
    const path = join(dir, e.name);
    if (e.kind === 'dir') others += await walk(path, found, seen);
    else if (isImage(e.name)) found.push(path);
    else others++;
  }
  return others;
}

// --- helpers ----------------------------------------------------------------------------------------------

function reasonOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0].trim() || 'unknown error';
}

/** Runs fn over items, at most `limit` at a time; results in item order. Rejects with the first failure. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const k = next++;
      try {
        results[k] = await fn(items[k], k);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.min(limit, items.length) }, worker);
  await Promise.all(workers);
  return results;
}

/**
 * A fixed-size map of pending or settled values that drops its least recently requested entry (Map keeps
 * insertion order). An entry goes in, or becomes the most recent, when it is requested, before its value
 * exists, so which entries stay depends only on the order of requests, never on the order in which the loads
 * finish. Requests for a key while its load runs share that load; a load that fails is dropped, so the next
 * request for its key tries again. Capacity 0 keeps nothing.
 */
export class LruCache<K, V> {
  private readonly map = new Map<K, Promise<V>>();
  constructor(private readonly capacity: number) {}
  /** The keys held, least recently requested first. */
  keys(): K[] {
    return [...this.map.keys()];
  }
  getOrLoad(key: K, load: () => Promise<V>): Promise<V> {
    const held = this.map.get(key);
    if (held !== undefined) {
      this.map.delete(key);
      this.map.set(key, held);
      return held;
    }
    const pending = load();
    if (this.capacity === 0) return pending;
    this.map.set(key, pending);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
    pending.catch(() => {
      if (this.map.get(key) === pending) this.map.delete(key);
    });
    return pending;
  }
}
