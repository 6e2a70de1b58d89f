// Property-based fuzzing of a checkpoint's state.json reader (lib/checkpoint.ts): what saveCheckpoint writes reads
// back (non-finite losses as NaN), and corrupt files give a checked state or a CheckpointFormatError naming the
// file, raised before loadCheckpoint touches the learner. Runs and seed: test/fixtures/fuzz.ts.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BYOL } from '../lib/byol.js';
import { CheckpointFormatError, loadCheckpoint, parseCheckpointState } from '../lib/checkpoint.js';
import type { Optimizer } from '../lib/optim.js';
import { corrupted, fuzzSettings } from './fixtures/fuzz.js';

let root: string;
let folders = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'byol-fuzz-checkpoint-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const count = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const stateFile = fc.record({
  format: fc.constant(1 as const),
  trainer: fc.record({ step: count, epoch: count, batch: count, losses: fc.array(fc.double(), { maxLength: 8 }) }),
  learner: fc.record(
    {
      step: count,
      viewBatches: count,
      seed: count,
      lossScale: fc.record({ scale: fc.double({ min: Number.MIN_VALUE, noDefaultInfinity: true, noNaN: true }), finiteSteps: count }),
    },
    { requiredKeys: ['step', 'viewBatches', 'seed'] },
  ),
});
type StateFile = typeof stateFile extends fc.Arbitrary<infer T> ? T : never;

/** What the reader gives back for a written state: the state as JSON carries it, null losses as NaN. */
function asRead(written: StateFile): StateFile {
  const out = JSON.parse(JSON.stringify(written)) as StateFile;
  out.trainer.losses = out.trainer.losses.map((l) => (l === null ? Number.NaN : l));
  return out;
}

const stateText = stateFile.map((s) => Buffer.from(JSON.stringify(s), 'utf8'));

/** The properties of a state the reader accepted. */
function expectChecked(state: ReturnType<typeof parseCheckpointState>): void {
  const counts = [state.trainer.step, state.trainer.epoch, state.trainer.batch, state.learner.step, state.learner.viewBatches, state.learner.seed];
  for (const c of counts) expect(Number.isSafeInteger(c) && c >= 0, `count ${String(c)}`).toBe(true);
  for (const l of state.trainer.losses) expect(typeof l).toBe('number');
  if (state.learner.lossScale) expect(state.learner.lossScale.scale > 0 && Number.isFinite(state.learner.lossScale.scale)).toBe(true);
}

/** A learner whose modules may not be reached: loadCheckpoint must refuse a bad state.json before that. */
const untouchable = {
  modules: () => {
    throw new Error('reached the modules');
  },
} as unknown as BYOL;

describe("a checkpoint's state.json under fuzzing", () => {
  it('reads back what saveCheckpoint writes', () => {
    fc.assert(
      fc.property(stateFile, (state) => {
        expect(parseCheckpointState(JSON.stringify(state), 'state.json')).toEqual(asRead(state));
      }),
      fuzzSettings(300),
    );
  });

  it('gives a corrupt file back as a checked state or a CheckpointFormatError naming it', () => {
    fc.assert(
      fc.property(corrupted(stateText), (bytes) => {
        let state;
        try {
          state = parseCheckpointState(Buffer.from(bytes).toString('utf8'), '/run/step-000000007/state.json');
        } catch (error) {
          expect(error).toBeInstanceOf(CheckpointFormatError);
          expect((error as Error).message.startsWith('checkpoint /run/step-000000007/state.json: ')).toBe(true);
          return;
        }
        expectChecked(state);
      }),
      fuzzSettings(1000),
    );
  });

  it('loadCheckpoint refuses a corrupt state.json before it touches the learner', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(corrupted(stateText), stateText), async (bytes) => {
        const folder = join(root, `step-${folders++}`);
        await mkdir(folder);
        await writeFile(join(folder, 'state.json'), bytes);
        let accepted = true;
        try {
          parseCheckpointState(Buffer.from(bytes).toString('utf8'), join(folder, 'state.json'));
        } catch {
          accepted = false;
        }
        const error = await loadCheckpoint(folder, untouchable, {} as Optimizer).then(
          () => new Error('loadCheckpoint returned'),
          (e: unknown) => e as Error,
        );
        if (accepted) expect(error.message).toBe('reached the modules');
        else expect(error).toBeInstanceOf(CheckpointFormatError);
      }),
      fuzzSettings(200, {
        // Regressions: a null document threw a TypeError naming nothing, and a state without its trainer or with
        // a count as a string loaded every module and then returned that as the trainer's position.
        examples: [
          [Buffer.from('null')],
          [Buffer.from('{"format":1}')],
          [Buffer.from('{"format":1,"trainer":{"step":"5","epoch":0,"batch":0,"losses":[]},"learner":{"step":0,"viewBatches":0,"seed":0}}')],
        ],
      }),
    );
  });
});
