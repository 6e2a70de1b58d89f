// The README's scripts type-check and run as written: the training script (the notebook's loop in TypeScript)
// trains, and the serving script embeds a photo with onnxruntime-node as `byol embed` does.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { expect, it } from 'vitest';
import { resnet18 } from '../lib/nn.js';
import { readNpy } from '../lib/npy.js';
import { manualSeed } from '../lib/tensor.js';
import { compileReadmeScript } from './fixtures/readme-script.js';
import { byolOk } from './fixtures/run-cli.js';

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

it("the README serving script embeds a photo with onnxruntime-node to byol embed's vector", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'byol-readme-onnx-'));
  try {
    const { js } = await compileReadmeScript('readme-onnx-script', dir, ['onnxruntime-node', 'sharp']);
    manualSeed(5);
    const weights = join(dir, 'encoder.safetensors');
    await resnet18({ classifier: false }).save(weights);
    // A noise photo that is not square, so the resize's centre crop matters; byol embed reads it from a folder.
    const [width, height] = [56, 40];
    const raw = Buffer.from(Array.from({ length: width * height * 3 }, (_, i) => (i * 7919) % 251));
    await mkdir(join(dir, 'photos'));
    await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg().toFile(join(dir, 'photos', 'photo.jpg'));
    await copyFile(join(dir, 'photos', 'photo.jpg'), join(dir, 'photo.jpg'));
    await byolOk('export', '--weights', weights, '--image-size', '32', '--include-normalization', '--out', join(dir, 'encoder.onnx'));
    await byolOk('embed', '--weights', weights, '--image-size', '32', '--data', join(dir, 'photos'), '--out', join(dir, 'photo.npy'));

    const out = execFileSync(process.execPath, [js], { cwd: dir, encoding: 'utf8' });
    const printed = /^representation \[1, 512\]: (\[.*\])$/m.exec(out);
    expect(printed, out).not.toBeNull();
    const vector = JSON.parse(printed![1]!) as number[];
    const { data: expected } = await readNpy(join(dir, 'photo.npy'));
    expect(vector.length).toBe(expected.length);
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < vector.length; i++) {
      diff += (vector[i]! - expected[i]!) ** 2;
      norm += expected[i]! ** 2;
    }
    expect(norm).toBeGreaterThan(0);
    expect(Math.sqrt(diff / norm)).toBeLessThan(1e-4);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
