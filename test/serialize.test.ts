// Safetensors files from JS: saveTensors / loadTensors round trips and readSafetensorsHeader, the header alone
// (names, dtypes, shapes, offsets, metadata) read by the same native parser, with the same checks and errors.
import { mkdtempSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tensor, zeros, resnet18 } from '../lib/index.js';
import { loadTensors, readSafetensorsHeader, saveTensors } from '../lib/serialize.js';

const dir = mkdtempSync(join(tmpdir(), 'byol-serialize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readSafetensorsHeader', () => {
  it('gives the names, dtypes, shapes and metadata loadTensors reads, in data order', async () => {
    const path = join(dir, 'mixed.safetensors');
    await saveTensors(
      path,
      [
        ['weight', tensor([[1, 2, 3], [4, 5, 6]])],
        ['steps', tensor([7], { dtype: 'int64' })],
        ['half', zeros([4, 1, 2], { dtype: 'float16' })],
        ['mask', tensor([1, 0, 1], { dtype: 'uint8' })],
      ],
      { format: 'pt', note: 'ü "quoted"' },
    );
    const header = await readSafetensorsHeader(path);
    expect(header.metadata).toEqual({ format: 'pt', note: 'ü "quoted"' });
    expect(header.tensors).toEqual([
      { name: 'weight', dtype: 'F32', shape: [2, 3], dataOffsets: [0, 24] },
      { name: 'steps', dtype: 'I64', shape: [1], dataOffsets: [24, 32] },
      { name: 'half', dtype: 'F16', shape: [4, 1, 2], dataOffsets: [32, 48] },
      { name: 'mask', dtype: 'U8', shape: [3], dataOffsets: [48, 51] },
    ]);
    const full = await loadTensors(path);
    expect(header.tensors.map((t) => [t.name, t.shape])).toEqual([...full.tensors].map(([name, t]) => [name, t.shape]));
    expect(full.metadata).toEqual(header.metadata);
    for (const t of full.tensors.values()) t.dispose();
  });

  it("reads a ResNet's 122 entries", async () => {
    const path = join(dir, 'r18.safetensors');
    const net = resnet18({ inChannels: 1, smallStem: true });
    await net.save(path, { dtype: 'bfloat16' });
    const { tensors } = await readSafetensorsHeader(path);
    expect(tensors).toHaveLength(122);
    const shapes = new Map(tensors.map((t) => [t.name, t]));
    expect(shapes.get('conv1.weight')).toMatchObject({ dtype: 'BF16', shape: [64, 1, 3, 3] });
    expect(shapes.get('bn1.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
    expect(shapes.get('fc.weight')).toMatchObject({ shape: [1000, 512] });
  });

  it('rejects bad files as loadTensors does, naming the file and what is wrong', async () => {
    const missing = join(dir, 'missing.safetensors');
    await expect(readSafetensorsHeader(missing)).rejects.toThrow(`safetensors: cannot open '${missing}': No such file or directory`);
    const garbage = join(dir, 'garbage.safetensors');
    writeFileSync(garbage, 'garbage!garbage!');
    await expect(readSafetensorsHeader(garbage)).rejects.toThrow(`safetensors: ${garbage}: header length`);
    await expect(readSafetensorsHeader(garbage)).rejects.toThrow('exceeds the 100000000-byte limit');
    const notJson = join(dir, 'notjson.safetensors');
    const text = Buffer.from('{"a": nope}');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(text.length));
    writeFileSync(notJson, Buffer.concat([length, text]));
    await expect(readSafetensorsHeader(notJson)).rejects.toThrow(`safetensors: ${notJson}: malformed header JSON: unexpected character 'n'`);
    // A cut data section is found from the header and the file size alone.
    const cut = join(dir, 'cut.safetensors');
    await saveTensors(cut, { x: zeros([100]) });
    truncateSync(cut, statSync(cut).size - 8);
    await expect(readSafetensorsHeader(cut)).rejects.toThrow(/tensor 'x': data_offsets \[0, 400\] run past the data section \(392 bytes; truncated file\?\)/);
    await expect(loadTensors(cut)).rejects.toThrow(/run past the data section \(392 bytes; truncated file\?\)/);
    await expect(readSafetensorsHeader(42 as unknown as string)).rejects.toThrow(/path: expected a string/);
  });
});
