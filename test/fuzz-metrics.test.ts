// Property-based fuzzing of the metrics.jsonl reader (lib/metrics.ts): rows written by MetricsWriter read back as
// JSON carries them (non-finite numbers of step/loss/lr/tau/collapse as NaN); corrupt files give rows or a
// MetricsFormatError naming the file and line; and reopening a file for appending (resume) keeps every row the
// reader accepts. Runs and seed: test/fixtures/fuzz.ts.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricsFormatError, MetricsWriter, readMetrics, type MetricsRow } from '../lib/metrics.js';
import { corrupted, fuzzSettings } from './fixtures/fuzz.js';

let dir: string;
let files = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byol-fuzz-metrics-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
const freshPath = (): string => join(dir, `${files++}.jsonl`);

const NUMERIC = ['step', 'loss', 'lr', 'tau', 'collapse'];

const row: fc.Arbitrary<MetricsRow> = fc
  .record(
    {
      step: fc.double({ noNaN: true, noDefaultInfinity: true }),
      loss: fc.double(),
      lr: fc.double(),
      tau: fc.double(),
      collapse: fc.double(),
      extra: fc.dictionary(
        fc.string().filter((k) => !NUMERIC.includes(k)),
        fc.jsonValue(),
        { maxKeys: 3 },
      ),
    },
    { requiredKeys: ['step', 'loss', 'extra'] },
  )
  .map(({ extra, ...numbers }) => ({ ...extra, ...numbers }));

/** What the reader must give back for a written row: the row as JSON carries it, null numbers as NaN. */
function asRead(written: MetricsRow): MetricsRow {
  const out = JSON.parse(JSON.stringify(written)) as MetricsRow;
  for (const key of NUMERIC) if (out[key] === null) out[key] = Number.NaN;
  return out;
}

const metricsFile = fc
  .tuple(fc.array(row, { maxLength: 5 }), fc.boolean())
  .map(([rows, truncatedTail]) => {
    const text = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
    return Buffer.from(truncatedTail ? `${text}{"step": 9, "lo` : text, 'utf8');
  });

async function readOrRefuse(path: string, lines: number): Promise<MetricsRow[] | undefined> {
  try {
    return await readMetrics(path);
  } catch (error) {
    expect(error).toBeInstanceOf(MetricsFormatError);
    const e = error as MetricsFormatError;
    expect(e.path).toBe(path);
    expect(e.line >= 1 && e.line <= lines, `line ${e.line} of ${lines}`).toBe(true);
    expect(e.message.startsWith(`${path}:${e.line}: `)).toBe(true);
    return undefined;
  }
}

describe('readMetrics under fuzzing', () => {
  it('reads back every row MetricsWriter wrote, as JSON carries it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(row, { maxLength: 6 }), async (rows) => {
        const path = freshPath();
        const writer = await MetricsWriter.open(path);
        for (const r of rows) await writer.write(r);
        await writer.close();
        expect(await readMetrics(path)).toEqual(rows.map(asRead));
      }),
      fuzzSettings(150),
    );
  });

  it('gives corrupt files back as rows or a MetricsFormatError naming the file and line', async () => {
    await fc.assert(
      fc.asyncProperty(corrupted(metricsFile), async (bytes) => {
        const path = freshPath();
        await writeFile(path, bytes);
        const lines = Buffer.from(bytes).toString('utf8').split('\n').length;
        const rows = await readOrRefuse(path, lines);
        for (const r of rows ?? []) {
          expect(typeof r.step === 'number' && Number.isFinite(r.step), `step ${String(r.step)}`).toBe(true);
          for (const key of NUMERIC) if (key in r) expect(typeof r[key], key).toBe('number');
        }
      }),
      fuzzSettings(400),
    );
  });

  it('names the step a row really has when it is not finite (regression)', async () => {
    // Seen while writing the properties above: 1e400 parses as Infinity, and the message said "received null".
    const path = freshPath();
    await writeFile(path, '{"step": 1e400, "loss": 1}\n{"step": null, "loss": 1}\n');
    await expect(readMetrics(path)).rejects.toThrow(`${path}:1: 'step': expected a finite number, received Infinity`);
    await writeFile(path, '{"step": null, "loss": 1}\n');
    await expect(readMetrics(path)).rejects.toThrow(`${path}:1: 'step': expected a finite number, received null`);
  });

  it('reopening a file for appending keeps every row the reader accepts, and only those', async () => {
    await fc.assert(
      fc.asyncProperty(corrupted(metricsFile), async (bytes) => {
        const path = freshPath();
        await writeFile(path, bytes);
        const before = await readOrRefuse(path, Buffer.from(bytes).toString('utf8').split('\n').length);
        let writer: MetricsWriter;
        try {
          writer = await MetricsWriter.open(path);
        } catch (error) {
          // The writer refuses exactly what the reader refuses.
          expect(before).toBeUndefined();
          expect(error).toBeInstanceOf(MetricsFormatError);
          return;
        }
        await writer.close();
        expect(before).toBeDefined();
        expect(await readMetrics(path)).toEqual(before);
        // What is left is whole lines: appending starts on a line of its own.
        const text = await readFile(path, 'utf8');
        expect(text === '' || text.endsWith('\n')).toBe(true);
      }),
      fuzzSettings(300),
    );
  });
});
