// Runs one command of a stage: its output appended to the stage's log (the full record, under $OUT), kept in
// memory for parsing, and killed with its whole process group when its time is up, so that a hung compile or
// benchmark costs its own stage's time and nothing more.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const KEEP_CHARS = 4 * 2 ** 20;

/**
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number, logFile: string, label?: string }} options
 * @returns {Promise<{ code: number | null, signal: string | null, timedOut: boolean, seconds: number, output: string }>}
 */
export function runCommand(command, args, { cwd, env, timeoutMs, logFile, label }) {
  const started = performance.now();
  const shown = [command, ...args].map((a) => (/[\s;"']/.test(a) ? JSON.stringify(a) : a)).join(' ');
  appendFileSync(logFile, `\n$ ${shown}\n`);
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    let child;
    try {
      // Its own process group: a timeout ends the command and everything it started (ninja's compilers, a
      // Python benchmark's workers).
      child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      appendFileSync(logFile, `(could not start: ${error.message})\n`);
      resolve({ code: null, signal: null, timedOut: false, seconds: 0, output: `could not start ${command}: ${error.message}` });
      return;
    }
    const take = (chunk) => {
      const text = chunk.toString();
      appendFileSync(logFile, text);
      output += text;
      if (output.length > KEEP_CHARS) output = output.slice(-KEEP_CHARS);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const killGroup = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    let hardKill;
    const timer = setTimeout(() => {
      timedOut = true;
      appendFileSync(logFile, `\n(${label ?? command}: time limit of ${(timeoutMs / 1000).toFixed(0)} s reached: stopped)\n`);
      killGroup('SIGTERM');
      hardKill = setTimeout(() => killGroup('SIGKILL'), 5000);
    }, Math.max(1, timeoutMs));
    child.on('error', (error) => {
      output += `\ncould not start ${command}: ${error.message}`;
      appendFileSync(logFile, `(could not start: ${error.message})\n`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(hardKill);
      const seconds = (performance.now() - started) / 1000;
      appendFileSync(logFile, `(exit ${code ?? signal}, ${seconds.toFixed(1)} s)\n`);
      resolve({ code, signal, timedOut, seconds, output });
    });
  });
}

/** The last `n` lines of a text, for showing why a command failed. */
export function lastLines(text, n = 25) {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}
