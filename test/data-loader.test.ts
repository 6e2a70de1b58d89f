import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BYOL } from '../lib/byol.js';
import { Loader, cifar10, type Batch, type Dataset } from '../lib/data/index.js';
import { tinyEncoder } from './fixtures/tiny-encoder.js';
import { SGD } from '../lib/optim.js';
import { tensor, type Tensor } from '../lib/tensor.js';
import { train } from '../lib/trainer.js';

/**
 * A dataset whose image i is the single value i, labelled i. Every get is logged; with `manual`, each get
 * waits until the test releases it.
 */
function fakeDataset(size: number, manual = false) {
  const log: { indices: number[]; images?: Tensor; release: () => void; done: boolean }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const ds: Dataset & { log: typeof log; maxInFlight: () => number } = {
    size,
    imageShape: [1, 1, 1],
    labels: Int32Array.from({ length: size }, (_, i) => i),
    log,
    maxInFlight: () => maxInFlight,
    async get(indices: ArrayLike<number>): Promise<Batch> {
      const list = Array.from(indices);
      let release = () => {};
      const gate = manual ? new Promise<void>((r) => (release = r)) : Promise.resolve();
      const entry = { indices: list, release: () => release(), done: false } as (typeof log)[number];
      log.push(entry);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await gate;
      inFlight--;
      if (list.includes(-1)) throw new Error('never');
      const images = tensor(Float32Array.from(list), { shape: [list.length, 1, 1, 1] });
      entry.images = images;
      entry.done = true;
      return { images, labels: Int32Array.from(list) };
    },
  };
  return ds;
}
const values = (t: Tensor) => Array.from(t.dataSync(), Number);
const settle = () => new Promise((r) => setImmediate(r));

async function epochIndices(loader: Loader, epoch: number): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < loader.batchesPerEpoch; i++) {
    const images = await loader.batch(epoch, i);
    out.push(values(images));
    images.dispose();
  }
  return out;
}

describe('Loader: order', () => {
  it('same seed and epoch give the same batches; another epoch or seed another order', async () => {
    const a = new Loader(fakeDataset(50), { batchSize: 8, seed: 7 });
    const b = new Loader(fakeDataset(50), { batchSize: 8, seed: 7 });
    const c = new Loader(fakeDataset(50), { batchSize: 8, seed: 8 });
    expect(a.batchesPerEpoch).toBe(6);
    const a0 = await epochIndices(a, 0);
    expect(await epochIndices(b, 0)).toEqual(a0);
    expect(a0.map((x) => x.length)).toEqual([8, 8, 8, 8, 8, 8]);
    const seen = a0.flat();
    expect(new Set(seen).size).toBe(48); // distinct images
    expect(seen.every((i) => Number.isInteger(i) && i >= 0 && i < 50)).toBe(true);
    expect(seen).not.toEqual([...seen].sort((x, y) => x - y)); // shuffled
    const a1 = await epochIndices(a, 1);
    expect(a1).not.toEqual(a0);
    expect(await epochIndices(c, 0)).not.toEqual(a0);
    // random access gives the same batch as sequential access
    const again = await a.batch(0, 3);
    expect(values(again)).toEqual(a0[3]);
    expect(Array.from(a.indices(0, 3))).toEqual(a0[3]);
    again.dispose();
    a.dispose();
    b.dispose();
    c.dispose();
  });

  it('without shuffle, in dataset order; dropLast: false keeps the short last batch', async () => {
    const loader = new Loader(fakeDataset(10), { batchSize: 4, shuffle: false, dropLast: false });
    expect(loader.batchesPerEpoch).toBe(3);
    expect(await epochIndices(loader, 0)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(await epochIndices(loader, 3)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    loader.dispose();
    expect(new Loader(fakeDataset(10), { batchSize: 4 }).batchesPerEpoch).toBe(2);
  });

  it('labelled() and epoch() give labels matching the images, every batch in order', async () => {
    const loader = new Loader(fakeDataset(20), { batchSize: 5, seed: 3 });
    const batches: number[][] = [];
    for await (const { images, labels } of loader.epoch(2)) {
      expect(Array.from(labels!)).toEqual(values(images));
      batches.push(Array.from(labels!));
      images.dispose();
    }
    expect(batches.length).toBe(4);
    expect(batches).toEqual(await epochIndices(loader, 2));
    loader.dispose();
  });
});

describe('Loader: shards', () => {
  it('gives each rank a disjoint equal share of every epoch, covering all but the remainder', async () => {
    const worldSize = 3;
    for (const epoch of [0, 1, 5]) {
      const shares = Array.from({ length: worldSize }, (_, rank) =>
        new Loader(fakeDataset(101), { batchSize: 4, seed: 11, shard: { rank, worldSize } }),
      );
      const orders = shares.map((l) => Array.from(l.order(epoch)));
      for (const o of orders) expect(o.length).toBe(33);
      const all = orders.flat();
      expect(new Set(all).size).toBe(99); // disjoint
      expect(all.every((i) => i >= 0 && i < 101)).toBe(true);
      // together, the ranks' orders interleave into the single-process order
      const single = Array.from(new Loader(fakeDataset(101), { batchSize: 4, seed: 11 }).order(epoch));
      expect(orders[0].map((_, k) => orders.map((o) => o[k])).flat()).toEqual(single.slice(0, 99));
      // the batches are the shares
      for (const [rank, loader] of shares.entries()) {
        expect(loader.batchesPerEpoch).toBe(8);
        expect((await epochIndices(loader, epoch)).flat()).toEqual(orders[rank].slice(0, 32));
        loader.dispose();
      }
    }
  });
});

describe('Loader: prefetch', () => {
  it('starts loading batch i+1 when batch i is asked for, one load at a time, before i is consumed', async () => {
    const ds = fakeDataset(40, true);
    const loader = new Loader(ds, { batchSize: 4, seed: 1, prefetch: 2 });
    const first = loader.batch(0, 0);
    await settle();
    expect(ds.log.map((e) => e.indices)).toEqual([Array.from(loader.indices(0, 0))]); // loads run one at a time
    ds.log[0].release();
    const images0 = await first;
    // batch 0 is in our hands, not consumed yet: batch 1's get has already started
    await settle();
    expect(ds.log.length).toBe(2);
    expect(ds.log[1].indices).toEqual(Array.from(loader.indices(0, 1)));
    ds.log[1].release();
    await settle();
    expect(ds.log.length).toBe(3); // then batch 2 (prefetch 2)
    expect(ds.log[2].indices).toEqual(Array.from(loader.indices(0, 2)));
    ds.log[2].release();
    await settle();
    expect(ds.log.length).toBe(3); // and no further
    expect(ds.maxInFlight()).toBe(1);
    images0.dispose();
    // batch 1 was loaded during "the step": it comes without a new get, and batch 3 starts
    const images1 = await loader.batch(0, 1);
    expect(values(images1)).toEqual(Array.from(loader.indices(0, 1)));
    expect(ds.log[1].images).toBe(images1);
    await settle();
    expect(ds.log.length).toBe(4);
    expect(ds.log[3].indices).toEqual(Array.from(loader.indices(0, 3)));
    images1.dispose();
    ds.log[3].release();
    loader.dispose();
  });

  it('prefetch: 0 loads only what is asked for', async () => {
    const ds = fakeDataset(40);
    const loader = new Loader(ds, { batchSize: 4, prefetch: 0 });
    (await loader.batch(0, 0)).dispose();
    await settle();
    expect(ds.log.length).toBe(1);
    expect(loader.prefetched).toBe(0);
  });

  it('continues into the next epoch at the end of one', async () => {
    const ds = fakeDataset(12);
    const loader = new Loader(ds, { batchSize: 4, seed: 2, prefetch: 2 }); // 3 batches per epoch
    (await loader.batch(0, 2)).dispose();
    await settle();
    await settle();
    expect(ds.log.slice(1).map((e) => e.indices)).toEqual([Array.from(loader.indices(1, 0)), Array.from(loader.indices(1, 1))]);
    loader.dispose();
  });

  it('disposes prefetched batches that are not asked for, skips loads not yet started, stays bounded', async () => {
    const ds = fakeDataset(80, true);
    const loader = new Loader(ds, { batchSize: 4, seed: 5, prefetch: 2 });
    const p0 = loader.batch(0, 0);
    await settle();
    ds.log[0].release();
    (await p0).dispose();
    await settle();
    ds.log[1].release(); // batch 1 loaded, unconsumed; batch 2's load waiting in the dataset
    await settle();
    expect(ds.log.length).toBe(3);
    expect(ds.log[1].done).toBe(true);
    // jump: batches 1 and 2 are no longer wanted
    const p10 = loader.batch(0, 10);
    await settle();
    expect(ds.log[1].images!.isDisposed).toBe(true); // loaded and dropped
    ds.log[2].release(); // batch 2's get was in flight: its images are disposed when they arrive
    await settle();
    await settle();
    expect(ds.log[2].images!.isDisposed).toBe(true);
    expect(ds.log[3].indices).toEqual(Array.from(loader.indices(0, 10)));
    ds.log[3].release();
    const images10 = await p10;
    expect(values(images10)).toEqual(Array.from(loader.indices(0, 10)));
    expect(images10.isDisposed).toBe(false);
    expect(loader.prefetched).toBe(2); // 11 and 12
    // a queued load that never started is skipped: jump again before 11's get is released
    await settle();
    expect(ds.log.length).toBe(5); // 11 started, 12 queued
    const p3 = loader.batch(0, 3);
    ds.log[4].release(); // 11 arrives, is dropped
    await settle();
    await settle();
    expect(ds.log[4].images!.isDisposed).toBe(true);
    expect(ds.log[5].indices).toEqual(Array.from(loader.indices(0, 3))); // 12 never loaded
    ds.log[5].release();
    (await p3).dispose();
    images10.dispose();
    // after dispose(), the outstanding prefetches are released too
    for (let k = 6; k < ds.log.length; k++) ds.log[k].release();
    await settle();
    await settle();
    loader.dispose();
    await settle();
    await settle();
    for (const e of ds.log.slice(6)) if (e.done) expect(e.images!.isDisposed).toBe(true);
    await expect(loader.batch(0, 0)).rejects.toThrow('Loader: used after dispose()');
  });

  it('keeps at most `prefetch` batches ahead over a whole epoch, and disposes nothing it hands out', async () => {
    const ds = fakeDataset(64);
    const loader = new Loader(ds, { batchSize: 4, seed: 9, prefetch: 3 });
    const handed: Tensor[] = [];
    for await (const { images } of loader.epoch(0)) {
      expect(loader.prefetched).toBeLessThanOrEqual(3);
      handed.push(images);
    }
    expect(handed.every((t) => !t.isDisposed)).toBe(true);
    for (let k = 0; k < 5; k++) await settle();
    expect(ds.log.every((e) => e.done)).toBe(true);
    loader.dispose();
    await settle();
    const leftovers = ds.log.filter((e) => !handed.includes(e.images!));
    expect(leftovers.length).toBe(3); // the first three batches of epoch 1
    for (const e of leftovers) expect(e.images!.isDisposed).toBe(true);
    for (const t of handed) t.dispose();
  });

  it('hands a failed load to whoever asks for that batch; an unasked failure is no unhandled rejection', async () => {
    const ds = fakeDataset(16);
    const broken: Dataset = {
      ...ds,
      get: (indices) => (Array.from(indices).includes(ds.labels![0]) ? Promise.reject(new Error('decode failed: 0.png')) : ds.get(indices)),
    };
    const loader = new Loader(broken, { batchSize: 4, shuffle: false, prefetch: 2 });
    (await loader.batch(0, 3)).dispose(); // prefetches (1, 0) — which fails — and (1, 1)
    await settle();
    await expect(loader.batch(1, 0)).rejects.toThrow('decode failed: 0.png');
    const ok = await loader.batch(1, 1);
    expect(values(ok)).toEqual([4, 5, 6, 7]);
    ok.dispose();
    (await loader.batch(0, 2)).dispose(); // prefetches 0:3 and the failing 1:0 again; then dropped
    await settle();
    loader.dispose();
    await settle();
  });
});

describe('Loader: arguments', () => {
  const ds = fakeDataset(10);
  it('names the argument, the expected and the received value', async () => {
    expect(() => new Loader(ds, { batchSize: 0 })).toThrow(new RangeError('batchSize: expected a positive integer, received number 0'));
    expect(() => new Loader(ds, { batchSize: 2.5 })).toThrow('batchSize: expected a positive integer, received number 2.5');
    expect(() => new Loader(ds, { batchSize: 11 })).toThrow('batchSize: expected at most the 10 images available, received 11');
    expect(() => new Loader(ds, { batchSize: 4, shard: { rank: 0, worldSize: 3 } })).toThrow(
      'batchSize: expected at most the 3 images available to each of 3 ranks, received 4',
    );
    expect(() => new Loader(ds, { batchSize: 2, shard: { rank: 3, worldSize: 3 } })).toThrow(
      'shard.rank: expected an integer in [0, 2], received number 3',
    );
    expect(() => new Loader(ds, { batchSize: 2, shard: { rank: 0, worldSize: 0 } })).toThrow('shard.worldSize: expected a positive integer');
    expect(() => new Loader(ds, { batchSize: 2, prefetch: -1 })).toThrow('prefetch: expected a non-negative integer, received number -1');
    expect(() => new Loader(ds, { batchSize: 2, seed: 0.5 })).toThrow('seed: expected an integer, received number 0.5');
    expect(() => new Loader(ds, { batchSize: 2, shuffle: 'yes' as unknown as boolean })).toThrow(TypeError);
    expect(() => new Loader({} as Dataset, { batchSize: 2 })).toThrow(TypeError);
    const loader = new Loader(ds, { batchSize: 3 });
    await expect(loader.labelled(0, 3)).rejects.toThrow('index: expected an integer in [0, 2], received number 3');
    await expect(loader.batch(-1, 0)).rejects.toThrow('epoch: expected a non-negative integer, received number -1');
    expect(() => loader.indices(0, 1.5)).toThrow(RangeError);
  });
});

describe('Loader: with the trainer', () => {
  it('feeds train() from a CIFAR-10 file: every step gets a full batch, losses are finite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'byol-loader-train-'));
    try {
      const n = 12;
      const bytes = Buffer.alloc(n * 3073);
      for (let i = 0; i < bytes.length; i++) bytes[i] = i % 3073 === 0 ? (i / 3073) % 10 : (i * 131 + (i >> 7)) & 255;
      writeFileSync(join(dir, 'test_batch.bin'), bytes);
      const data = await cifar10(dir, { split: 'test' });
      const loader = new Loader(data, { batchSize: 4, seed: 3 });
      const asked: string[] = [];
      const source = {
        batchesPerEpoch: loader.batchesPerEpoch,
        batch: (epoch: number, index: number) => {
          asked.push(`${epoch}:${index}`);
          return loader.batch(epoch, index);
        },
      };
      const net = tinyEncoder();
      const learner = new BYOL(net, { imageSize: 32, projectionHiddenSize: 32, projectionSize: 16, totalSteps: 4, seed: 1 });
      const optimizer = new SGD(learner.namedParameters(), { lr: 0.05, momentum: 0.9 });
      const result = await train({ learner, data: source, optimizer, steps: 4, progress: 'none' });
      expect(result.steps).toBe(4);
      expect(result.losses.every(Number.isFinite)).toBe(true);
      expect(asked).toEqual(['0:0', '0:1', '0:2', '1:0']);
      loader.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
