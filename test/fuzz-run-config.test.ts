// Property-based fuzzing of a run's config.json reader (lib/cli/train-run.ts: readRunConfig, then the
// checkTrainConfig that `byol train --resume` applies to what it read): configs as `byol train` writes them read
// back and pass; corrupt files are refused with an Error naming the file or the option, and whatever passes has
// the types TrainConfig declares. Runs and seed: test/fixtures/fuzz.ts.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCHITECTURES, DATASETS, OPTIMIZERS, PRECISIONS, VIEW_PRESETS } from '../lib/cli/choices.js';
import { checkTrainConfig, readRunConfig, type TrainConfig } from '../lib/cli/train-run.js';
import { corrupted, fuzzSettings } from './fixtures/fuzz.js';

let root: string;
let folders = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'byol-fuzz-config-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const positive = fc.integer({ min: 1, max: 100_000 });
const validConfig: fc.Arbitrary<TrainConfig> = fc
  .record(
    {
      dataset: fc.constantFrom(...DATASETS),
      dataRoot: fc.string({ minLength: 1 }),
      channels: fc.constantFrom(1 as const, 3 as const),
      strict: fc.boolean(),
      arch: fc.constantFrom(...ARCHITECTURES),
      smallStem: fc.boolean(),
      imageSize: fc.integer({ min: 8, max: 512 }),
      batchSize: fc.integer({ min: 2, max: 4096 }),
      steps: positive,
      optimizer: fc.constantFrom(...OPTIMIZERS),
      lr: fc.double({ min: 1e-8, max: 10, noNaN: true }),
      weightDecay: fc.double({ min: 0, max: 1, noNaN: true }),
      trustCoefficient: fc.double({ min: 1e-6, max: 1, noNaN: true }),
      warmupSteps: fc.nat({ max: 1000 }),
      tau: fc.double({ min: 0, max: 1, noNaN: true }),
      projectionSize: positive,
      hiddenSize: positive,
      views: fc.constantFrom(...VIEW_PRESETS),
      seed: fc.nat(),
      checkpointEvery: positive,
      precision: fc.constantFrom(...PRECISIONS),
    },
    { requiredKeys: ['arch', 'smallStem', 'imageSize', 'batchSize', 'steps', 'optimizer', 'lr', 'weightDecay', 'tau', 'views', 'seed'] },
  )
  .map((c) => ({ ...c, dataset: c.dataset ?? 'fashion-mnist' }));

/** config.json as `byol train` writes it. */
const asWritten = (c: unknown): string => `${JSON.stringify(c, null, 2)}\n`;

async function folderWith(text: Uint8Array | string): Promise<string> {
  const folder = join(root, String(folders++));
  await mkdir(folder);
  await writeFile(join(folder, 'config.json'), text);
  return folder;
}

/** What `--resume` does with the folder: read config.json, then check it. */
async function resume(folder: string): Promise<TrainConfig> {
  const config = await readRunConfig(folder);
  checkTrainConfig(config);
  return config;
}

/** The declared type of every field of TrainConfig, checked on what was accepted. */
function expectTyped(c: TrainConfig): void {
  expect(typeof c === 'object' && c !== null && !Array.isArray(c)).toBe(true);
  const optional = <K extends keyof TrainConfig>(key: K, type: string) => {
    if (c[key] !== undefined) expect(typeof c[key], key).toBe(type);
  };
  for (const key of ['data', 'dataRoot'] as const) optional(key, 'string');
  for (const key of ['strict'] as const) optional(key, 'boolean');
  for (const key of ['epochs', 'steps', 'trustCoefficient', 'warmupSteps', 'projectionSize', 'hiddenSize', 'checkpointEvery', 'channels'] as const) optional(key, 'number');
  expect(typeof c.smallStem, 'smallStem').toBe('boolean');
  for (const key of ['imageSize', 'batchSize', 'lr', 'weightDecay', 'tau', 'seed'] as const) expect(typeof c[key], key).toBe('number');
}

/** Refused by naming the file (`resume: <path> ...`) or the option (`<option>: expected ...`). */
function expectNamed(error: unknown, folder: string): void {
  expect(error).toBeInstanceOf(Error);
  const message = (error as Error).message;
  const namesFile = message.startsWith(`resume: ${join(folder, 'config.json')}`);
  const namesOption = /^[a-z-]+: expected /.test(message);
  expect(namesFile || namesOption, message).toBe(true);
}

async function expectTypedOrNamed(folder: string): Promise<void> {
  let config;
  try {
    config = await resume(folder);
  } catch (error) {
    expectNamed(error, folder);
    return;
  }
  expectTyped(config);
}

describe("a run's config.json under fuzzing", () => {
  it('reads back every config `byol train` writes, and the check passes it', async () => {
    await fc.assert(
      fc.asyncProperty(validConfig, async (config) => {
        expect(await resume(await folderWith(asWritten(config)))).toEqual(config);
      }),
      fuzzSettings(150),
    );
  });

  it('refuses a corrupt file by naming it or the option, and what passes is typed', async () => {
    await fc.assert(
      fc.asyncProperty(corrupted(validConfig.map((c) => Buffer.from(asWritten(c)))), async (bytes) => {
        await expectTypedOrNamed(await folderWith(bytes));
      }),
      fuzzSettings(300),
    );
  });

  // Known and reported, in code this fuzzing may not change (lib/cli/train-run.ts): readRunConfig returns any JSON
  // document, and checkTrainConfig lets some wrongly typed fields through. `null` fails with "Cannot read properties
  // of null (reading 'arch')"; "tau": null, "" or false pass the check (null >= 0 and null <= 1 hold in JS); nothing
  // checks smallStem, data, dataRoot or strict. `it.fails` keeps the suite green while the bug is open and turns
  // red once it is fixed: then make this an `it`.
  it.fails('refuses wrongly typed values by naming the file or the option (open bug, see above)', async () => {
    const field = fc.constantFrom('tau', 'smallStem', 'data', 'dataRoot', 'strict', 'imageSize', 'lr', 'arch', 'channels');
    const wrongType = fc.tuple(validConfig, field, fc.jsonValue()).map(([c, key, value]) => ({ ...c, [key]: value }));
    const notAnObject = fc.oneof(fc.constant(null), fc.jsonValue().filter((v) => typeof v !== 'object'));
    await fc.assert(
      fc.asyncProperty(fc.oneof(wrongType, notAnObject), async (config) => {
        await expectTypedOrNamed(await folderWith(asWritten(config)));
      }),
      fuzzSettings(200, { examples: [[null], [{ ...fc.sample(validConfig, { seed: 1, numRuns: 1 })[0], tau: null }]] }),
    );
  });
});
