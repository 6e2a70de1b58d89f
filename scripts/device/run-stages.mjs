// Runs the check's stages in order of value (plan.mjs), each under its own time limit inside one overall budget,
// records each as soon as it ends (a run cut off by the device tool still leaves what it did), and prints the
// table last.
//
// $OUT receives three files: results.json (every stage's status, time, figures, goals, notes, and the end of the
// log of a stage that failed), summary.md (the table) and logs.tar.gz (every stage's full log and artefacts: TAP,
// benchmark JSON, the quality run's metrics and plot). The device tool sends back at most 8 files from $OUT, so the
// stages write into a work folder that the tarball carries.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLANS, STAGES } from './plan.mjs';
import { formatTable, goal } from './report.mjs';
import { lastLines, runCommand } from './run-command.mjs';

const STAGE_MODULES = {
  bundle: './stages/bundle.mjs',
  build: './stages/build.mjs',
  'cuda-tests': './stages/cuda-tests.mjs',
  'native-tests': './stages/native-tests.mjs',
  'bench-step': './stages/bench-step.mjs',
  'bench-ema': './stages/bench-ema.mjs',
  'bench-augment': './stages/bench-augment.mjs',
  quality: './stages/quality.mjs',
};
// Kept free at the end of the budget for writing the results and printing the table.
const RESERVE_SECONDS = 5;

/**
 * The precondition of every stage after the build: an addon that dist/ loads, and on the GPU machine one that sees
 * the GPU (a CPU build there would make every later figure meaningless). Returns the reason to skip, or null.
 */
export function needsAddon(state, mode) {
  if (!state.addon) return 'needs the addon, which the build stage did not make';
  if (mode === 'gpu' && !state.cudaSeen) return 'the addon sees no GPU (see the build stage): nothing to prove or measure';
  return null;
}

/** A stage ends with this to report a failure with a reason (and the figures it has so far). */
export class StageFailure extends Error {
  constructor(reason, { status = 'failed' } = {}) {
    super(reason);
    this.status = status;
  }
}

function makeContext({ root, work, mode, plan, state, name, deadline }) {
  const logFile = join(work, `${name}.log`);
  writeFileSync(logFile, `== ${name} (${mode})\n`);
  const secondsLeft = () => Math.max(0, (deadline - Date.now()) / 1000);
  const ctx = {
    root, work, mode, plan, state, name, logFile,
    figures: {},
    goals: [],
    notes: [],
    secondsLeft,
    print(text) {
      process.stdout.write(`${text.split('\n').map((l) => `  [${name}] ${l}`).join('\n')}\n`);
      appendFileSync(logFile, `${text}\n`);
    },
    note(text) {
      ctx.notes.push(text);
      ctx.print(text);
    },
    goal(goalName, target, value, met, options) {
      ctx.goals.push(goal(goalName, target, value, met, mode, options));
    },
    /** A command under the stage's remaining time (or `timeoutSeconds`, if shorter). */
    run(command, args, { timeoutSeconds = Infinity, env = {}, cwd = root, label } = {}) {
      const seconds = Math.min(timeoutSeconds, secondsLeft());
      return runCommand(command, args, { cwd, env: { ...state.env, ...env }, timeoutMs: seconds * 1000, logFile, label });
    },
    node(args, options) {
      return ctx.run(process.execPath, args, options);
    },
    python(args, options) {
      return ctx.run(state.env.BYOL_PYTHON || 'python3', args, options);
    },
    /** Throws the failure of a command that did not succeed, naming it and showing its last lines. */
    check(result, what) {
      if (result.code === 0) return result;
      ctx.print(lastLines(result.output));
      if (result.timedOut) throw new StageFailure(`${what}: stopped at its time limit after ${result.seconds.toFixed(0)} s`, { status: 'timeout' });
      throw new StageFailure(`${what}: exit ${result.code ?? result.signal} (last lines above; full output in ${name}.log)`);
    },
  };
  return ctx;
}

/**
 * @param {{ root: string, out: string, mode: 'gpu' | 'dry', only?: string[], budgetSeconds?: number }} options
 * @returns {Promise<object>} the results (also in out/results.json)
 */
export async function runStages({ root, out, mode, only, budgetSeconds }) {
  const plan = PLANS[mode];
  mkdirSync(out, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'byol-device-work-'));
  const budget = budgetSeconds ?? plan.budgetSeconds;
  const started = Date.now();
  const deadline = started + (budget - RESERVE_SECONDS) * 1000;
  const results = { mode, out, startedAt: new Date(started).toISOString(), budgetSeconds: budget, node: process.version, stages: [] };
  const save = () => {
    results.seconds = (Date.now() - started) / 1000;
    writeFileSync(join(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    execFileSync('tar', ['-czf', join(out, 'logs.tar.gz.partial'), '-C', work, '.']);
    renameSync(join(out, 'logs.tar.gz.partial'), join(out, 'logs.tar.gz'));
  };
  // What stages hand on to later ones (the addon's path) and the children's environment (Python's output unbuffered,
  // so that a log cut off by a time limit still holds what was printed).
  const state = { env: { ...process.env, PYTHONUNBUFFERED: '1' } };

  for (const name of STAGES) {
    const stage = (await import(STAGE_MODULES[name])).default;
    const [limit, minimum] = plan.limits[name];
    const entry = { name, status: 'skipped', seconds: 0, limitSeconds: limit, figures: {}, goals: [], notes: [], reason: '', log: `${name}.log` };
    results.stages.push(entry);
    const left = (deadline - Date.now()) / 1000;
    const unmet = stage.needs?.(state, mode);
    if (only && !only.includes(name)) entry.reason = 'not asked for (--stages)';
    else if (unmet) entry.reason = unmet;
    else if (left < minimum) entry.reason = `no time left: ${left.toFixed(0)} s of the ${budget} s budget, the stage needs ${minimum} s`;
    if (entry.reason) {
      console.log(`== ${name}: skipped (${entry.reason})`);
      save();
      continue;
    }
    entry.limitSeconds = Math.min(limit, left);
    console.log(`== ${name} (limit ${entry.limitSeconds.toFixed(0)} s)`);
    const stageStarted = Date.now();
    const ctx = makeContext({ root, work, mode, plan, state, name, deadline: stageStarted + entry.limitSeconds * 1000 });
    try {
      const outcome = (await stage.run(ctx)) ?? {};
      entry.status = outcome.status ?? 'ok';
      entry.reason = outcome.reason ?? '';
    } catch (error) {
      entry.status = error instanceof StageFailure ? error.status : 'failed';
      entry.reason = error instanceof Error ? error.message : String(error);
      if (!(error instanceof StageFailure) && error instanceof Error) ctx.print(error.stack ?? error.message);
    }
    Object.assign(entry, { figures: ctx.figures, goals: ctx.goals, notes: ctx.notes, seconds: (Date.now() - stageStarted) / 1000 });
    // The end of a failed stage's log, in results.json itself: the first thing to read.
    if (entry.status !== 'ok') entry.logTail = lastLines(readFileSync(ctx.logFile, 'utf8'), 40);
    console.log(`-- ${name}: ${entry.status}${entry.reason ? ` (${entry.reason})` : ''} in ${entry.seconds.toFixed(1)} s`);
    save();
  }
  save();
  rmSync(work, { recursive: true, force: true });
  const table = formatTable(results);
  writeFileSync(join(out, 'summary.md'), `${table}\n`);
  console.log(`\n${table}`);
  return results;
}
