// Optimizers against a float64 reference written here (and torch.optim through Python where available),
// LARS exclusions, schedules, option errors and the state round trip.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  Adam,
  AdamW,
  constant,
  LARS,
  SGD,
  tensor,
  Tensor,
  warmupCosine,
  type Optimizer,
} from '../lib/index.js';
import { native } from '../lib/native.js';
import { python } from './python.js';

type Vec = number[];
const SHAPES = [[4, 3], [5], [2, 3, 2], [7]];
const NAMES = ['conv.weight', 'conv.bias', 'fc.weight', 'bn.weight'];

// --- deterministic random float32 values ------------------------------------------------------------------

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normals(next: () => number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(next(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Initial values and per-step grads (null: no grad for that parameter at that step), all float32. */
function problem(seed: number, steps: number, skip?: { step: number; param: number }) {
  const next = rng(seed);
  const init = SHAPES.map((s) => normals(next, numel(s)));
  const grads = Array.from({ length: steps }, (_, step) =>
    SHAPES.map((s, i) => (skip && skip.step === step && skip.param === i ? null : normals(next, numel(s)))),
  );
  return { init, grads };
}

function makeParams(init: Float32Array[]): Tensor[] {
  return init.map((v, i) => tensor(v, { shape: SHAPES[i] }).requiresGrad_());
}

/** Sets p.grad = g exactly: drop the grads, then backward sum(p * g) over the parameters that get one. */
async function setGrads(opt: Optimizer, params: Tensor[], grads: (Float32Array | null)[]): Promise<void> {
  opt.zeroGrad({ setToNone: true });
  let loss: Tensor | undefined;
  params.forEach((p, i) => {
    const g = grads[i];
    if (!g) return;
    const term = p.mul(tensor(g, { shape: SHAPES[i] })).sum();
    loss = loss ? loss.add(term) : term;
  });
  if (loss) await loss.backward();
}

const values = (t: Tensor): Vec => Array.from(t.dataSync(), Number);

// --- float64 reference ----------------------------------------------------------------------------------------

interface RefOptions {
  lr: number;
  weightDecay?: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  betas?: [number, number];
  eps?: number;
  trustCoefficient?: number;
}

class Reference {
  p: Vec[];
  m: (Vec | null)[];
  v: (Vec | null)[];
  t: number[];
  constructor(
    readonly kind: 'sgd' | 'adam' | 'adamw' | 'lars',
    readonly o: RefOptions,
    init: Float32Array[],
    readonly excluded: boolean[] = init.map(() => false),
  ) {
    this.p = init.map((x) => Array.from(x));
    this.m = init.map(() => null);
    this.v = init.map(() => null);
    this.t = init.map(() => 0);
  }
  step(grads: (Float32Array | null)[]): void {
    const o = this.o;
    grads.forEach((g, i) => {
      if (!g) return;
      const x = this.p[i]!;
      const n = x.length;
      const wd = this.excluded[i] ? 0 : (o.weightDecay ?? 0);
      const t = ++this.t[i]!;
      if (this.kind === 'sgd') {
        const mom = o.momentum ?? 0;
        let d = x.map((xk, k) => g[k]! + wd * xk);
        if (mom !== 0) {
          const b = this.m[i];
          this.m[i] = b ? b.map((bk, k) => mom * bk + (1 - (o.dampening ?? 0)) * d[k]!) : [...d];
          const buf = this.m[i]!;
          d = o.nesterov ? d.map((dk, k) => dk + mom * buf[k]!) : [...buf];
        }
        for (let k = 0; k < n; k++) x[k] = x[k]! - o.lr * d[k]!;
      } else if (this.kind === 'adam' || this.kind === 'adamw') {
        const [b1, b2] = o.betas ?? [0.9, 0.999];
        const eps = o.eps ?? 1e-8;
        const m = (this.m[i] ??= new Array<number>(n).fill(0));
        const v = (this.v[i] ??= new Array<number>(n).fill(0));
        const bc1 = 1 - b1 ** t;
        const bc2 = 1 - b2 ** t;
        for (let k = 0; k < n; k++) {
          if (this.kind === 'adamw') x[k] = x[k]! * (1 - o.lr * wd);
          const gk = g[k]! + (this.kind === 'adam' ? wd * x[k]! : 0);
          m[k] = b1 * m[k]! + (1 - b1) * gk;
          v[k] = b2 * v[k]! + (1 - b2) * gk * gk;
          x[k] = x[k]! - (o.lr * (m[k]! / bc1)) / (Math.sqrt(v[k]!) / Math.sqrt(bc2) + eps);
        }
      } else {
        const mom = o.momentum ?? 0.9;
        const eta = o.trustCoefficient ?? 1e-3;
        const u = x.map((xk, k) => g[k]! + wd * xk);
        let ratio = 1;
        if (!this.excluded[i]) {
          const pn = Math.hypot(...x);
          const un = Math.hypot(...u);
          if (pn > 0 && un > 0) ratio = (eta * pn) / un;
        }
        const m = (this.m[i] ??= new Array<number>(n).fill(0));
        for (let k = 0; k < n; k++) {
          m[k] = mom * m[k]! + ratio * u[k]!;
          x[k] = x[k]! - o.lr * m[k]!;
        }
      }
    });
  }
}

/** max over elements of |a - b| / (1 + |b|). */
function worst(a: Vec, b: Vec): number {
  expect(a.length).toBe(b.length);
  return a.reduce((w, ak, k) => Math.max(w, Math.abs(ak - b[k]!) / (1 + Math.abs(b[k]!))), 0);
}

async function runAgainstReference(
  make: (params: Tensor[]) => Optimizer,
  ref: (init: Float32Array[]) => Reference,
  options: { steps?: number; skip?: { step: number; param: number }; seed?: number } = {},
): Promise<void> {
  const steps = options.steps ?? 5;
  const { init, grads } = problem(options.seed ?? 7, steps, options.skip);
  const params = makeParams(init);
  const opt = make(params);
  const reference = ref(init);
  for (let s = 0; s < steps; s++) {
    await setGrads(opt, params, grads[s]!);
    await opt.step();
    reference.step(grads[s]!);
    params.forEach((p, i) => expect(worst(values(p), reference.p[i]!), `step ${s} param ${i}`).toBeLessThan(1e-6));
  }
  // The parameters moved (an optimizer that does nothing fails this test).
  params.forEach((p, i) => expect(worst(values(p), Array.from(init[i]!))).toBeGreaterThan(1e-3));
  expect(opt.steps).toBe(steps);
}

// --- values ---------------------------------------------------------------------------------------------------

describe('optimizers match a float64 reference', () => {
  it('SGD: plain, momentum with weight decay and dampening, Nesterov', async () => {
    for (const o of [
      { lr: 0.1 },
      { lr: 0.1, momentum: 0.9, weightDecay: 0.05 },
      { lr: 0.05, momentum: 0.9, weightDecay: 0.01, dampening: 0.3 },
      { lr: 0.1, momentum: 0.9, weightDecay: 0.05, nesterov: true },
    ]) {
      await runAgainstReference(
        (p) => new SGD(p, o),
        (init) => new Reference('sgd', o, init),
        { skip: { step: 2, param: 1 } },
      );
    }
  });

  it('Adam with L2 weight decay and AdamW with decoupled decay', async () => {
    const o = { lr: 0.05, betas: [0.8, 0.99] as [number, number], eps: 1e-6, weightDecay: 0.1 };
    await runAgainstReference((p) => new Adam(p, o), (init) => new Reference('adam', o, init));
    await runAgainstReference((p) => new Adam(p, { lr: 0.05 }), (init) => new Reference('adam', { lr: 0.05 }, init), {
      skip: { step: 1, param: 2 },
    });
    await runAgainstReference((p) => new AdamW(p, o), (init) => new Reference('adamw', o, init), {
      skip: { step: 3, param: 0 },
    });
    // AdamW's default weight decay is 0.01, as torch.optim.AdamW.
    await runAgainstReference(
      (p) => new AdamW(p, { lr: 0.05 }),
      (init) => new Reference('adamw', { lr: 0.05, weightDecay: 0.01 }, init),
    );
  });

  it('LARS (BYOL): trust ratio and weight decay except for 1-d parameters', async () => {
    const o = { lr: 3.2, weightDecay: 0.05 };
    const excluded = [false, true, false, true];
    await runAgainstReference(
      (p) => {
        const opt = new LARS(
          p.map((t, i) => [NAMES[i]!, t] as const),
          o,
        );
        expect(opt.excluded).toEqual(excluded); // default: rank <= 1
        expect(opt.names).toEqual(NAMES);
        return opt;
      },
      (init) => new Reference('lars', { ...o, momentum: 0.9, trustCoefficient: 1e-3 }, init, excluded),
      { skip: { step: 1, param: 2 } },
    );
    // Exclusion by name, another eta and momentum.
    const byName = [false, true, false, false];
    const o2 = { lr: 2, weightDecay: 0.02, momentum: 0.8, trustCoefficient: 1e-2 };
    await runAgainstReference(
      (p) => new LARS(p.map((t, i) => [NAMES[i]!, t] as const), { ...o2, exclude: (name) => name.endsWith('.bias') }),
      (init) => new Reference('lars', o2, init, byName),
    );
  });

  it('LARS leaves excluded parameters without adaptation or decay', async () => {
    const bias = tensor([2, 2, 2]).requiresGrad_();
    const weight = tensor([[2, 2, 2]]).requiresGrad_();
    const opt = new LARS([bias, weight], { lr: 0.5, weightDecay: 0.1 });
    expect([...opt.excluded]).toEqual([true, false]);
    await bias.mul(4).sum().add(weight.mul(4).sum()).backward();
    await opt.step();
    // bias: 2 - 0.5*4 = 0; weight: u = 4 + 0.1*2, ratio 1e-3*|w|/|u|, 2 - 0.5*1e-3*2 = 1.999.
    values(bias).forEach((x) => expect(x).toBeCloseTo(0, 6));
    values(weight).forEach((x) => expect(x).toBeCloseTo(1.999, 6));
  });

  it('steps as one job on the executor, not one per parameter', async () => {
    const params = Array.from({ length: 64 }, () => tensor(new Float32Array(1000).fill(1), { shape: [10, 100] }).requiresGrad_());
    const opt = new SGD(params, { lr: 0.1, momentum: 0.9 });
    let loss = params[0]!.sum();
    for (const p of params.slice(1)) loss = loss.add(p.sum());
    await loss.backward();
    const pending = opt.step();
    expect(native.memory().pendingJobs).toBeLessThanOrEqual(1);
    await pending;
    expect(values(params[63]!)[0]).toBeCloseTo(0.9, 6);
  });
});

// --- torch.optim through Python --------------------------------------------------------------------------------

const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

describe('optimizers match torch.optim (Python, float64)', () => {
  it('SGD, Nesterov, Adam and AdamW (skipped without a Python with torch in BYOL_PYTHON)', async (ctx) => {
    if (!hasTorch) return ctx.skip(`${python} cannot import torch`);
    const cases: { kind: 'sgd' | 'adam' | 'adamw'; ours: (p: Tensor[]) => Optimizer; torch: object }[] = [
      { kind: 'sgd', ours: (p) => new SGD(p, { lr: 0.1, momentum: 0.9, weightDecay: 0.05 }), torch: { lr: 0.1, momentum: 0.9, weight_decay: 0.05 } },
      {
        kind: 'sgd',
        ours: (p) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }),
        torch: { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01 },
      },
      {
        kind: 'adam',
        ours: (p) => new Adam(p, { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }),
        torch: { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, weight_decay: 0.1 },
      },
      {
        kind: 'adamw',
        ours: (p) => new AdamW(p, { lr: 0.05, weightDecay: 0.1 }),
        torch: { lr: 0.05, weight_decay: 0.1 },
      },
    ];
    const steps = 4;
    const inputs = cases.map((c, n) => ({ c, ...problem(11 + n, steps, { step: 1, param: 3 }) }));
    const specs = inputs.map(({ c, init, grads }) => ({
      kind: c.kind,
      options: c.torch,
      params: init.map((v, i) => ({ shape: SHAPES[i], values: Array.from(v) })),
      grads: grads.map((gs) => gs.map((g) => (g ? Array.from(g) : null))),
    }));
    const run = spawnSync(python, ['scripts/python/optim_reference.py'], { input: JSON.stringify(specs), encoding: 'utf8' });
    if (run.status !== 0 && /No module named 'torch'/.test(run.stderr)) return ctx.skip();
    expect(run.status, run.stderr).toBe(0);
    const expected = JSON.parse(run.stdout) as { cases: Vec[][][] };
    for (const [n, { c, init, grads }] of inputs.entries()) {
      const params = makeParams(init);
      const opt = c.ours(params);
      for (let s = 0; s < steps; s++) {
        await setGrads(opt, params, grads[s]!);
        await opt.step();
        params.forEach((p, i) =>
          expect(worst(values(p), expected.cases[n]![s]![i]!), `${c.kind} step ${s} param ${i}`).toBeLessThan(1e-6),
        );
      }
    }
  });
});

// --- state -----------------------------------------------------------------------------------------------------

describe('state round trip', () => {
  const kinds: [string, (p: Tensor[]) => Optimizer][] = [
    ['SGD', (p) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
    ['Adam', (p) => new Adam(p, { lr: 0.05, weightDecay: 0.1 })],
    ['AdamW', (p) => new AdamW(p, { lr: 0.05 })],
    ['LARS', (p) => new LARS(p, { lr: 3.2, weightDecay: 0.05 })],
  ];
  for (const [name, make] of kinds) {
    it(`${name}: step k, save, load into a new optimizer, continue == uninterrupted`, async () => {
      const { init, grads } = problem(3, 6, { step: 1, param: 2 });
      const a = makeParams(init);
      const first = make(a);
      for (let s = 0; s < 3; s++) {
        await setGrads(first, a, grads[s]!);
        await first.step();
      }
      first.lr = first.lr * 0.5;
      const saved = first.stateDict();
      expect(saved.steps).toBe(3);
      expect(Object.keys(saved.tensors)).toContain('0.step');
      const b = a.map((p) => p.detach().clone().requiresGrad_());
      const resumed = make(b);
      resumed.loadStateDict(saved);
      expect(resumed.lr).toBe(first.lr);
      expect(resumed.steps).toBe(3);
      for (let s = 3; s < 6; s++) {
        await setGrads(first, a, grads[s]!);
        await first.step();
        await setGrads(resumed, b, grads[s]!);
        await resumed.step();
      }
      a.forEach((p, i) => expect(values(b[i]!)).toEqual(values(p)));
      // Without the state the continuation differs (so the test above can fail).
      const fresh = a.map((p) => p.detach().clone().requiresGrad_());
      const c = make(fresh);
      await setGrads(c, fresh, grads[0]!);
      await setGrads(first, a, grads[0]!);
      await c.step();
      await first.step();
      expect(a.some((p, i) => worst(values(p), values(fresh[i]!)) > 1e-7)).toBe(true);
    });
  }

  it('refuses the state of another kind or of other shapes', async () => {
    const { init, grads } = problem(5, 1);
    const params = makeParams(init);
    const sgd = new SGD(params, { lr: 0.1, momentum: 0.9 });
    await setGrads(sgd, params, grads[0]!);
    await sgd.step();
    const adam = new Adam(params);
    expect(() => adam.loadStateDict(sgd.stateDict())).toThrow(
      "Adam: state: expected the state of a 'adam' optimizer, received one of 'sgd'",
    );
    const other = new SGD([tensor([1, 2, 3]).requiresGrad_()], { lr: 0.1, momentum: 0.9 });
    expect(() => other.loadStateDict(sgd.stateDict())).toThrow(RangeError);
    expect(() => other.loadStateDict(sgd.stateDict())).toThrow(/SGD: state: '0.momentum_buffer': expected shape \[3\]/);
  });
});

// --- gradients ---------------------------------------------------------------------------------------------------

describe('gradient clipping', () => {
  it('clipGradNorm returns the global norm and scales like clip_grad_norm_', async () => {
    const a = tensor([0, 0]).requiresGrad_();
    const b = tensor([0]).requiresGrad_();
    const unused = tensor([1, 1]).requiresGrad_();
    const opt = new SGD([a, b, unused], { lr: 0.1 });
    await a.mul(tensor([3, 4])).sum().add(b.mul(12).sum()).backward();
    expect(await opt.clipGradNorm(100)).toBeCloseTo(13, 5);
    expect(values(a.grad!)).toEqual([3, 4]);
    expect(await opt.clipGradNorm(1.3)).toBeCloseTo(13, 5);
    const c = 1.3 / (13 + 1e-6);
    expect(values(a.grad!)[0]).toBeCloseTo(3 * c, 6);
    expect(values(b.grad!)[0]).toBeCloseTo(12 * c, 6);
    await expect(opt.clipGradNorm(0)).rejects.toThrow('maxNorm: expected a number > 0, received 0');
  });

  it('zeroGrad zeroes in place or drops the gradients', async () => {
    const x = tensor([1, 2]).requiresGrad_();
    const opt = new Adam([x]);
    await x.mul(3).sum().backward();
    opt.zeroGrad();
    expect(values(x.grad!)).toEqual([0, 0]);
    opt.zeroGrad({ setToNone: true });
    expect(x.grad).toBeNull();
    await opt.step(); // no grads: nothing moves, no state
    expect(values(x)).toEqual([1, 2]);
    expect(Object.keys(opt.stateDict().tensors)).toEqual(['steps', '0.step']);
  });
});

// --- options -----------------------------------------------------------------------------------------------------

describe('bad options throw messages naming the option', () => {
  const p = () => [tensor([1, 2]).requiresGrad_()];
  it('range errors', () => {
    expect(() => new SGD(p(), { lr: -1 })).toThrow(new RangeError('SGD: lr: expected a finite number >= 0, received -1'));
    expect(() => new SGD(p(), { lr: 0.1, momentum: 1 })).toThrow('SGD: momentum: expected a number in [0, 1), received 1');
    expect(() => new SGD(p(), { lr: 0.1, weightDecay: -0.1 })).toThrow(
      'SGD: weightDecay: expected a finite number >= 0, received -0.1',
    );
    expect(() => new SGD(p(), { lr: 0.1, nesterov: true })).toThrow('SGD: nesterov: requires momentum > 0 and dampening 0');
    expect(() => new Adam(p(), { betas: [1, 0.999] })).toThrow('Adam: betas[0]: expected a number in [0, 1), received 1');
    expect(() => new AdamW(p(), { betas: [0.9, 1.5] })).toThrow('AdamW: betas[1]: expected a number in [0, 1), received 1.5');
    expect(() => new Adam(p(), { eps: 0 })).toThrow('Adam: eps: expected a finite number > 0, received 0');
    expect(() => new Adam(p(), { lr: Number.NaN })).toThrow('Adam: lr: expected a finite number >= 0, received nan');
    expect(() => new LARS(p(), { lr: 0.1, momentum: -0.1 })).toThrow('LARS: momentum: expected a number in [0, 1), received -0.1');
    expect(() => new LARS(p(), { lr: 0.1, trustCoefficient: 0 })).toThrow(
      'LARS: trustCoefficient: expected a finite number > 0, received 0',
    );
    const opt = new SGD(p(), { lr: 0.1 });
    expect(() => {
      opt.lr = -2;
    }).toThrow('SGD: lr: expected a finite number >= 0, received -2');
    expect(opt.lr).toBe(0.1);
    expect(() => new SGD([], { lr: 0.1 })).toThrow('SGD: params: expected at least one tensor, received an empty list');
    const x = tensor([1]).requiresGrad_();
    expect(() => new SGD([x, x], { lr: 0.1 })).toThrow('SGD: params[1]: the same tensor appears more than once');
  });

  it('type errors', () => {
    expect(() => new SGD(p(), { lr: 0.1, weight_decay: 0.1 } as never)).toThrow(
      new TypeError("SGD: unknown option 'weight_decay'; expected one of lr, weightDecay, exclude, momentum, dampening, nesterov"),
    );
    expect(() => new SGD(p(), {} as never)).toThrow('SGD: lr: expected a number, received undefined');
    expect(() => new SGD(p(), { lr: '0.1' } as never)).toThrow("SGD: lr: expected a number, received the string '0.1'");
    expect(() => new Adam(p(), { betas: 0.9 } as never)).toThrow('Adam: betas: expected [beta1, beta2]');
    expect(() => new LARS([1] as never, { lr: 0.1 })).toThrow('LARS: params[0]: expected a Tensor or a [name, Tensor] pair');
    expect(() => new LARS(p(), { lr: 0.1, exclude: () => 1 } as never)).toThrow("LARS: exclude: expected a boolean for '0'");
    expect(() => new SGD([tensor([1, 2], { dtype: 'int64' })], { lr: 0.1 })).toThrow(
      'SGD: params[0]: expected a floating-point tensor, received int64',
    );
  });
});

// --- schedules ---------------------------------------------------------------------------------------------------

describe('learning-rate schedules', () => {
  it('warmupCosine: base lr scaled by batch/256, linear warm-up from 0, cosine to 0', () => {
    const lr = warmupCosine({ baseLr: 0.2, batchSize: 512, warmupSteps: 10, totalSteps: 110 });
    const peak = 0.4;
    expect(lr(0)).toBe(0);
    expect(lr(5)).toBeCloseTo(0.2, 12);
    expect(lr(9)).toBeCloseTo(0.36, 12);
    expect(lr(10)).toBeCloseTo(peak, 12);
    expect(lr(35)).toBeCloseTo((peak * (1 + Math.SQRT1_2)) / 2, 12); // a quarter of the decay
    expect(lr(60)).toBeCloseTo(peak / 2, 12);
    expect(lr(110)).toBeCloseTo(0, 12);
    expect(lr(500)).toBeCloseTo(0, 12);
    for (let s = 11; s < 110; s++) expect(lr(s)).toBeLessThan(lr(s - 1));
    const noWarmup = warmupCosine({ baseLr: 0.3, batchSize: 256, warmupSteps: 0, totalSteps: 4 });
    expect([0, 1, 2, 3, 4].map(noWarmup).map((v) => Number(v.toFixed(12)))).toEqual([0.3, 0.256066017178, 0.15, 0.043933982822, 0]);
  });

  it('constant, and errors naming the option', () => {
    expect(constant(3e-4)(1234)).toBe(3e-4);
    expect(() => warmupCosine({ baseLr: -1, batchSize: 256, warmupSteps: 0, totalSteps: 10 })).toThrow(
      'baseLr: expected a finite number >= 0, received -1',
    );
    expect(() => warmupCosine({ baseLr: 0.2, batchSize: 0, warmupSteps: 0, totalSteps: 10 })).toThrow(
      'batchSize: expected an integer >= 1, received 0',
    );
    expect(() => warmupCosine({ baseLr: 0.2, batchSize: 256, warmupSteps: 10, totalSteps: 10 })).toThrow(
      'totalSteps: expected an integer > warmupSteps (10), received 10',
    );
    expect(() => warmupCosine({ baseLr: 0.2, batchSize: 256, warmupSteps: 1.5, totalSteps: 10 })).toThrow('warmupSteps');
    expect(() => constant(Number.POSITIVE_INFINITY)).toThrow('lr: expected a finite number >= 0, received Infinity');
    expect(() => constant(0.1)(-1)).toThrow('constant: step: expected a finite number >= 0, received -1');
  });
});
