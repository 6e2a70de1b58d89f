// The PyTorch side of a side-by-side benchmark: a long-lived Python child that answers one request line with one
// reply line (so both sides alternate step by step in one run), and "quit" to end.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** BYOL_PYTHON, else the interpreter of the torch the addon links (.byol/python, written by setup), else python3. */
export function pythonPath() {
  if (process.env.BYOL_PYTHON) return process.env.BYOL_PYTHON;
  const resolved = join(root, '.byol', 'python');
  if (existsSync(resolved)) return readFileSync(resolved, 'utf8').trim();
  return 'python3';
}

/** Starts `script` (a path) with `args`; `ask(line)` sends a request and resolves with the reply line. */
export function startPythonSide(script, args) {
  const python = pythonPath();
  const child = spawn(python, [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`the PyTorch side (${python} ${script}) ended early (see its error above)`);
    return value;
  };
  return {
    python,
    /** The first line the script prints (its setup, usually JSON). */
    nextLine,
    async ask(line) {
      child.stdin.write(`${line}\n`);
      return nextLine();
    },
    quit() {
      child.stdin.write('quit\n');
    },
  };
}
