// Property-based fuzzing of the CIFAR binary readers (lib/data/cifar.ts): records read back as written, and
// corrupt batch files (mutations of valid ones, arbitrary bytes) and class-name files give a dataset or an Error
// naming the file, never another error, a crash or a hang. Runs and seed: test/fixtures/fuzz.ts.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cifar10, cifar100, parseCifarRecords } from '../lib/data/cifar.js';
import { corrupted, fuzzSettings } from './fixtures/fuzz.js';

const PIXELS = 3 * 32 * 32;

let root: string;
let folders = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'byol-fuzz-cifar-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Records {
  labels: number[][]; // per record: the label bytes (CIFAR-10: [label]; CIFAR-100: [coarse, fine])
  pixels: Uint8Array; // records x 3072
}

const records = (limits: number[]): fc.Arbitrary<Records> =>
  fc.integer({ min: 1, max: 3 }).chain((n) =>
    fc.record({
      labels: fc.array(fc.tuple(...limits.map((l) => fc.integer({ min: 0, max: l - 1 }))), { minLength: n, maxLength: n }),
      pixels: fc.uint8Array({ minLength: n * PIXELS, maxLength: n * PIXELS }),
    }),
  );

function encode(r: Records): Uint8Array {
  return Buffer.concat(r.labels.map((l, i) => Buffer.concat([Buffer.from(l), r.pixels.subarray(i * PIXELS, (i + 1) * PIXELS)])));
}

/** A folder holding `files`. */
async function folderWith(files: Record<string, Uint8Array | string>): Promise<string> {
  const folder = join(root, String(folders++));
  await mkdir(folder);
  for (const [name, content] of Object.entries(files)) await writeFile(join(folder, name), content);
  return folder;
}

const classNames = fc.option(fc.string({ maxLength: 120 }), { nil: undefined });

describe('CIFAR readers under fuzzing', () => {
  it('reads back the labels and pixels of every record (CIFAR-10 and both CIFAR-100 label sets)', () => {
    const layouts = [
      { what: 'cifar10', layout: { labelBytes: 1, labelByte: 0, classes: Array.from({ length: 10 }, String) }, limits: [10] },
      { what: 'cifar100', layout: { labelBytes: 2, labelByte: 0, classes: [] }, limits: [20, 100] },
      { what: 'cifar100', layout: { labelBytes: 2, labelByte: 1, classes: [] }, limits: [20, 100] },
    ];
    fc.assert(
      fc.property(fc.constantFrom(...layouts).chain((l) => fc.tuple(fc.constant(l), records(l.limits))), ([l, r]) => {
        const { pixels, labels } = parseCifarRecords(l.what, 'fuzz.bin', encode(r), l.layout);
        expect(Array.from(labels)).toEqual(r.labels.map((bytes) => bytes[l.layout.labelByte]));
        expect(Buffer.from(pixels).equals(Buffer.from(r.pixels))).toBe(true);
      }),
      fuzzSettings(100),
    );
  });

  it('gives a corrupt CIFAR-10 test batch back as a dataset or an Error naming the file', async () => {
    await fc.assert(
      fc.asyncProperty(corrupted(records([10]).map(encode)), classNames, async (bytes, meta) => {
        const folder = await folderWith({ 'test_batch.bin': bytes, ...(meta === undefined ? {} : { 'batches.meta.txt': meta }) });
        let ds;
        try {
          ds = await cifar10(folder, { split: 'test' });
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).message.startsWith(`cifar10: ${join(folder, 'test_batch.bin')}`), (error as Error).message).toBe(true);
          return;
        }
        expect(ds.size * (1 + PIXELS)).toBe(bytes.length);
        expect(ds.classes.length).toBe(10);
        expect(Array.from(ds.labels).every((l) => l >= 0 && l < 10)).toBe(true);
      }),
      fuzzSettings(150),
    );
  });

  it('gives a corrupt CIFAR-100 test file back as a dataset or an Error naming the file', async () => {
    await fc.assert(
      fc.asyncProperty(corrupted(records([20, 100]).map(encode)), fc.constantFrom('fine' as const, 'coarse' as const), async (bytes, labels) => {
        const folder = await folderWith({ 'test.bin': bytes });
        let ds;
        try {
          ds = await cifar100(folder, { split: 'test', labels });
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).message.startsWith(`cifar100: ${join(folder, 'test.bin')}`), (error as Error).message).toBe(true);
          return;
        }
        const classes = labels === 'fine' ? 100 : 20;
        expect(ds.size * (2 + PIXELS)).toBe(bytes.length);
        expect(ds.classes.length).toBe(classes);
        expect(Array.from(ds.labels).every((l) => l >= 0 && l < classes)).toBe(true);
      }),
      fuzzSettings(150),
    );
  });
});
