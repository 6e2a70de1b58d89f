// Memory: dispose frees now, finalizers free what JS forgot, tidy scopes, and no leak over many cycles.
import { describe, expect, it } from 'vitest';
import { memory, ones, randn, tensor, tidy, zeros, Tensor } from '../lib/index.js';

const gc = (globalThis as { gc?: () => void }).gc;

async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The least-squares slope of ys against 0, 1, 2, ... (units of y per step). */
function leastSquaresSlope(ys: number[]): number {
  const n = ys.length;
  const meanX = (n - 1) / 2;
  const meanY = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  return num / den;
}

describe('memory', () => {
  it('counts live tensors and bytes, once per storage', () => {
    const before = memory();
    const t = zeros([1000], { dtype: 'float32' });
    const view = t.view(10, 100);
    expect(memory().tensors).toBe(before.tensors + 2);
    expect(memory().bytes).toBe(before.bytes + 4000);
    view.dispose();
    expect(memory().bytes).toBe(before.bytes + 4000); // t still holds the storage
    t.dispose();
    expect(memory()).toMatchObject({ tensors: before.tensors, bytes: before.bytes });
  });

  it('tidy disposes what it created except what it returns, sync and async', async () => {
    const before = memory().tensors;
    const kept = tidy(() => {
      const a = ones([4]);
      const b = a.mul(2);
      return { result: b.add(1), list: [a.sub(1)] };
    });
    expect(memory().tensors).toBe(before + 2);
    expect(Array.from(kept.result.dataSync())).toEqual([3, 3, 3, 3]);
    kept.result.dispose();
    kept.list[0].dispose();

    const asyncKept = await tidy(async () => {
      const a = randn([8, 8]);
      const p = await a.matmul(a);
      return p.sum();
    });
    expect(memory().tensors).toBe(before + 1);
    asyncKept.dispose();
    expect(memory().tensors).toBe(before);
  });

  it('tidy disposes everything when fn throws', () => {
    const before = memory().tensors;
    expect(() =>
      tidy(() => {
        ones([3]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(memory().tensors).toBe(before);
  });

  it('Symbol.dispose frees the tensor', () => {
    const t = ones([2]);
    t[Symbol.dispose]();
    expect(t.isDisposed).toBe(true);
  });

  it('a tensor disposed while a job uses it stays valid until the job ends', async () => {
    const a = randn([400, 400]);
    const expected = (await a.matmul(a)).sum().item();
    const pending = a.matmul(a);
    a.dispose();
    const product = await pending;
    expect(product.sum().item()).toBeCloseTo(expected, 1);
  });

  it('reclaims a forgotten tensor after a forced GC', async () => {
    expect(gc, 'run with node --expose-gc').toBeTypeOf('function');
    await collectGarbage();
    const before = memory();
    (() => {
      zeros([1 << 20]); // 4 MiB, dropped on the floor
    })();
    expect(memory().tensors).toBe(before.tensors + 1);
    await collectGarbage();
    expect(memory()).toMatchObject({ tensors: before.tensors, bytes: before.bytes });
  });

  it('RSS levels off over rounds of create / op / dispose cycles that never yield to the event loop', () => {
    // The loop of a user who never awaits: a finalizer that waits for the event loop's next turn never runs here.
    // Each round is 10,000 cycles of the shape (two wrappers per cycle) then a full GC; after a warm-up
    // round, RSS must stop growing. With finalizers deferred to the event loop (a Node-API version-8 build) it grew
    // by ~3.5 MB a round without bound (~190 bytes per wrapper); now they run inside the GC and the slope is ~0.
    const cycle = () => {
      const t = tensor(new Float32Array(1024), { shape: [32, 32] });
      const u = t.mul(t);
      u.dispose();
      t.dispose();
    };
    const rss: number[] = [];
    for (let round = 0; round < 7; round++) {
      for (let i = 0; i < 10_000; i++) cycle();
      gc!();
      rss.push(process.memoryUsage().rss / 2 ** 20);
    }
    const steady = rss.slice(1); // round 0 warms the allocators up
    const slope = leastSquaresSlope(steady);
    expect(slope, `RSS per round (MiB): ${rss.map((x) => x.toFixed(1)).join(' ')}`).toBeLessThan(1);
    expect(memory().tensors).toBeLessThan(10);
  });

  it('reports native bytes to V8 so forgotten tensors are collected under pressure', async () => {
    // 200 forgotten 8 MiB tensors hold 1.6 GB at the end of the loop if V8 does not know about the native
    // memory (its own heap barely grows); with the bytes reported, it collects them along the way.
    await collectGarbage();
    let peak = 0;
    for (let i = 0; i < 200; i++) {
      zeros([2 << 20]);
      await new Promise((resolve) => setImmediate(resolve)); // let finalizers of collected tensors run
      peak = Math.max(peak, memory().bytes);
    }
    expect(peak).toBeLessThan(800 * 1024 * 1024);
    await collectGarbage();
    expect(memory().bytes).toBeLessThan(64 * 1024 * 1024);
    expect(new Tensor(zeros([1]).handle).numel).toBe(1);
  });

  it('keeps freed tensor memory for reuse up to a limit, and gives it back on request', async () => {
    const { releaseHostCache } = await import('../lib/index.js');
    zeros([1 << 20]).dispose();
    expect(memory().hostCachedBytes).toBeGreaterThanOrEqual(4 << 20);
    releaseHostCache();
    expect(memory().hostCachedBytes).toBe(0);
  });
});
