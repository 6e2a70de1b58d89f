// The README's training script (the notebook's loop in TypeScript) type-checks and runs as written.
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const root = resolve(__dirname, '..');

it('the README training script compiles against the package types and trains', async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const match = readme.match(/<!-- readme-script:start -->\s*```ts\n([\s\S]*?)```\s*<!-- readme-script:end -->/);
  expect(match, 'README.md has the training script between readme-script markers').not.toBeNull();
  const script = match![1];
  expect(script).toContain("from 'byol-torch'");

  const dir = await mkdtemp(join(tmpdir(), 'byol-readme-'));
  try {
    await mkdir(join(dir, 'node_modules'));
    await symlink(root, join(dir, 'node_modules', 'byol-torch'));
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    await writeFile(join(dir, 'train.ts'), script);
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] },
        files: ['train.ts'],
      }),
    );
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { stdio: 'pipe' });
    const out = execFileSync(process.execPath, [join(dir, 'train.js')], { cwd: dir, encoding: 'utf8' });
    expect(out).toMatch(/step 0: loss \d+\.\d+/);
    expect(out).toMatch(/step 2: loss \d+\.\d+/);
    const saved = await readFile(join(dir, 'improved-net.safetensors'));
    expect(saved.length).toBeGreaterThan(90_000_000); // ResNet-50's 23.5M float32 weights and buffers
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
