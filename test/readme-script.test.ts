// The README's training script (the notebook's loop in TypeScript) type-checks and runs as written.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { compileReadmeScript } from './fixtures/readme-script.js';

it('the README training script compiles against the package types and trains', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'byol-readme-'));
  try {
    const { source, js } = await compileReadmeScript('readme-script', dir);
    expect(source).toContain("from 'byol-torch'");
    const out = execFileSync(process.execPath, [js], { cwd: dir, encoding: 'utf8' });
    expect(out).toMatch(/step 0: loss \d+\.\d+/);
    expect(out).toMatch(/step 2: loss \d+\.\d+/);
    const saved = await readFile(join(dir, 'improved-net.safetensors'));
    expect(saved.length).toBeGreaterThan(90_000_000); // ResNet-50's 23.5M float32 weights and buffers
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
