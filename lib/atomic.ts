// Atomic file writes: the bytes go to a temporary file in the same folder (same file system), are flushed to
// disk, and the file is renamed over the target. A reader sees either the old file or the complete new one,
// never a half-written one; on failure the temporary file is removed and the target is left as it was.
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** The temporary name used for `path`: hidden, in the same folder, unique per call. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Writes `data` to `path` atomically. Errors name `path` (not the temporary file) and keep the system error as
 * `cause` (its `code`, e.g. ENOENT, is copied onto the error).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, what = 'writeFileAtomic'): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    const handle = await open(tmp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    const e = err as NodeJS.ErrnoException;
    const wrapped = new Error(`${what}: cannot write '${path}': ${e.code ?? ''}${e.code ? ' ' : ''}${shortMessage(e)}`, {
      cause: err,
    }) as NodeJS.ErrnoException;
    if (e.code) wrapped.code = e.code;
    throw wrapped;
  }
}

function shortMessage(e: Error): string {
  // Node's messages look like "ENOENT: no such file or directory, open '/x/.y.tmp-1-ab'": keep the reason only.
  const m = /^[A-Z]+: ([^,]+)/.exec(e.message);
  return m ? m[1] : e.message;
}
