// metrics.jsonl: one JSON object per optimizer step ({ step, loss, lr?, tau?, collapse?, ... }), appended as
// training runs, read back for plots and reports.
//
// A run killed mid-write can leave a truncated last line: readMetrics ignores it, and MetricsWriter.open
// removes it before appending. JSON has no NaN/Infinity (JSON.stringify writes null): readMetrics turns null
// in the numeric fields step/loss/lr/tau/collapse back into NaN, so a diverged step stays visible as non-finite.
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { writeFileAtomic } from './atomic.js';

/** One step's metrics. Other fields (timings, epoch, ...) pass through unchanged. */
export interface MetricsRow {
  step: number;
  loss: number;
  lr?: number;
  tau?: number;
  collapse?: number;
  [key: string]: unknown;
}

/** A bad line in a metrics file; `line` is 1-based. */
export class MetricsFormatError extends Error {
  override name = 'MetricsFormatError';
  constructor(
    readonly path: string,
    readonly line: number,
    why: string,
  ) {
    super(`${path}:${line}: ${why}`);
  }
}

const NUMERIC = ['step', 'loss', 'lr', 'tau', 'collapse'] as const;

function parseRow(text: string, path: string, line: number): MetricsRow {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new MetricsFormatError(path, line, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new MetricsFormatError(path, line, `expected a JSON object, received ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`);
  }
  const row = v as Record<string, unknown>;
  const step = row.step; // as written: null, or a number (1e400 parses as Infinity)
  for (const key of NUMERIC) {
    if (row[key] === null) row[key] = Number.NaN;
    else if (key in row && typeof row[key] !== 'number') {
      throw new MetricsFormatError(path, line, `'${key}': expected a number, received ${JSON.stringify(row[key])}`);
    }
  }
  if (!('step' in row)) throw new MetricsFormatError(path, line, "missing 'step'");
  if (!Number.isFinite(row.step)) throw new MetricsFormatError(path, line, `'step': expected a finite number, received ${String(step)}`);
  if (!('loss' in row)) throw new MetricsFormatError(path, line, "missing 'loss'");
  return row as MetricsRow;
}

/** Splits a metrics file's text into rows, with the raw text of each kept line (same index). */
function parseText(text: string, path: string): { rows: MetricsRow[]; lines: string[] } {
  const parts = text.split('\n');
  // parts[last] is what follows the final '\n': '' for a complete file, else an unterminated last line.
  const tail = parts.pop() ?? '';
  const rows: MetricsRow[] = [];
  const lines: string[] = [];
  parts.forEach((raw, i) => {
    const s = raw.trim();
    if (s === '') return;
    rows.push(parseRow(s, path, i + 1));
    lines.push(raw);
  });
  if (tail.trim() !== '') {
    // Unterminated last line: a complete object is kept, a truncated one (killed mid-write) is ignored.
    let complete = true;
    try {
      JSON.parse(tail);
    } catch {
      complete = false;
    }
    if (complete) {
      rows.push(parseRow(tail.trim(), path, parts.length + 1));
      lines.push(tail);
    }
  }
  return { rows, lines };
}

/**
 * Reads a metrics.jsonl file: one row per non-empty line, in file order. A truncated (unterminated, unparsable)
 * last line is ignored; any other bad line is a MetricsFormatError naming the path and line number.
 */
export async function readMetrics(path: string): Promise<MetricsRow[]> {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError(`path: expected a non-empty string, received ${String(path)}`);
  return parseText(await readFile(path, 'utf8'), path).rows;
}

export interface MetricsWriterOptions {
  /** Start an empty file instead of appending. Default false. */
  truncate?: boolean;
  /**
   * Resuming from a checkpoint at this step: existing rows with step >= resumeAt (written after that checkpoint
   * by the run that stopped) are removed, so the resumed run's rows replace them. The file is rewritten
   * atomically when anything is removed.
   */
  resumeAt?: number;
}

/**
 * Appends one JSON line per step to a metrics file. Each `write` is a single append of a whole line, in call
 * order, so a kill loses at most the line being written; `close()` waits for pending writes, flushes the file to
 * disk and closes it.
 */
export class MetricsWriter implements AsyncDisposable {
  private chain: Promise<void> = Promise.resolve();
  private error: unknown = undefined;
  private closed = false;
  private count = 0;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  /** Opens `path` for appending (created if missing); see MetricsWriterOptions for truncate and resumeAt. */
  static async open(path: string, options: MetricsWriterOptions = {}): Promise<MetricsWriter> {
    if (typeof path !== 'string' || path.length === 0) throw new TypeError(`path: expected a non-empty string, received ${String(path)}`);
    const { truncate = false, resumeAt } = options;
    if (resumeAt !== undefined && !Number.isFinite(resumeAt)) {
      throw new RangeError(`resumeAt: expected a finite step number, received ${String(resumeAt)}`);
    }
    if (truncate) {
      await writeFileAtomic(path, '', 'MetricsWriter');
    } else {
      let text: string | undefined;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (text !== undefined && text.length > 0) {
        const { rows, lines } = parseText(text, path);
        const keep = lines.filter((_, i) => resumeAt === undefined || rows[i].step < resumeAt);
        const clean = keep.map((l) => `${l}\n`).join('');
        if (clean !== text) await writeFileAtomic(path, clean, 'MetricsWriter');
      }
    }
    let handle: FileHandle;
    try {
      handle = await open(path, 'a');
    } catch (err) {
      throw new Error(`MetricsWriter: cannot open '${path}': ${(err as Error).message}`, { cause: err });
    }
    return new MetricsWriter(path, handle);
  }

  /** Rows written by this writer so far. */
  get rowsWritten(): number {
    return this.count;
  }

  /** Appends `row` as one line. Non-finite numbers are written as null (JSON has no NaN). */
  write(row: MetricsRow): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`MetricsWriter: '${this.path}' is closed`));
    if (typeof row !== 'object' || row === null) throw new TypeError(`row: expected an object, received ${String(row)}`);
    if (typeof row.step !== 'number' || !Number.isFinite(row.step)) {
      throw new RangeError(`row.step: expected a finite number, received ${String(row.step)}`);
    }
    const line = `${JSON.stringify(row)}\n`;
    this.count++;
    const p = this.chain.then(async () => {
      if (this.error !== undefined) throw this.error;
      await this.handle.write(line);
    });
    this.chain = p.catch((err) => {
      this.error ??= err;
    });
    return p;
  }

  /** Waits for pending writes, flushes to disk and closes. Idempotent; rethrows the first write error. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    try {
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
    if (this.error !== undefined) throw this.error;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
