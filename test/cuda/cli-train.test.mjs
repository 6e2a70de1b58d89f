// `byol train --device cuda --precision bf16` end to end for a few steps on the Fashion-MNIST subset the check
// carries: the command succeeds and writes an encoder, and every step's loss in metrics.jsonl is finite.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dataRoot, device, root, withoutCuda } from './cuda-env.mjs';

const STEPS = 6;

test('byol train --device cuda --precision bf16 trains a few steps on Fashion-MNIST', { skip: withoutCuda }, () => {
  assert.ok(existsSync(join(dataRoot, 'train-images-idx3-ubyte.gz')), `expected the Fashion-MNIST subset in ${dataRoot} (BYOL_DEVICE_DATA_ROOT)`);
  const out = mkdtempSync(join(tmpdir(), 'byol-cuda-cli-'));
  try {
    const r = spawnSync(process.execPath, [join(root, 'dist', 'cli', 'main.js'), 'train', '--dataset', 'fashion-mnist', '--data-root', dataRoot,
      '--arch', 'resnet18', '--image-size', '32', '--batch-size', '64', '--steps', `${STEPS}`, '--optimizer', 'adam', '--lr', '1e-3',
      '--device', device, '--precision', 'bf16', '--progress', 'lines', '--out', out], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `byol train exited ${r.status ?? r.signal}:\n${r.stderr.slice(-3000)}`);
    assert.match(r.stdout, new RegExp(`trained ${STEPS} steps`));
    assert.ok(existsSync(join(out, 'encoder.safetensors')), 'encoder.safetensors written');
    const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, STEPS, 'one metrics row per step');
    assert.ok(rows.every((row) => Number.isFinite(row.loss)), `losses ${rows.map((row) => row.loss).join(', ')} should be finite`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
