// Training-curve PNGs and metrics.jsonl: the PNG is a real image with rendered text, large runs are
// downsampled, bad input is refused by name, writes are atomic, and a truncated metrics file still reads.
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { emaSmooth, MetricsFormatError, MetricsWriter, readMetrics, renderLossPlotSvg, writeLossPlot, type MetricsRow } from '../lib/plot.js';

// Lets one test make the rename of a finished temporary file fail; every other call is the real one.
const failRename = vi.hoisted(() => ({ on: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    rename: async (from: string, to: string) => {
      if (failRename.on) throw Object.assign(new Error(`EXDEV: cross-device link not permitted, rename '${from}' -> '${to}'`), { code: 'EXDEV' });
      return real.rename(from, to);
    },
  };
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byol-plot-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A plausible BYOL run: decaying noisy loss, warmup-cosine lr, a collapse monitor near 1/sqrt(256). */
function run(n: number, seed = 1): MetricsRow[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, (_, i) => ({
    step: i + 1,
    loss: 3 * Math.exp(-i / (n / 4)) + 0.4 * rnd(),
    lr: 0.2 * Math.min(1, (i + 1) / (n / 10)),
    tau: 0.996,
    collapse: 0.0625 - 0.02 * Math.exp(-i / 50),
  }));
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

async function rgb(path: string) {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

describe('writeLossPlot', () => {
  it('writes a PNG of the reported size, about 2x the spec size at 144 dpi', async () => {
    const path = join(dir, 'loss.png');
    const r = await writeLossPlot(path, run(300), { width: 600, height: 250 });
    const buf = await readFile(path);
    expect([...buf.subarray(0, 8)]).toEqual(PNG_MAGIC);
    expect(buf.length).toBeGreaterThan(20_000);
    const meta = await sharp(path).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([r.width, r.height]);
    // Plot area 600 wide plus axes, padding and legend, at 2 px per CSS pixel.
    expect(r.width).toBeGreaterThan(1200);
    expect(r.width).toBeLessThan(1600);
    // Loss panel plus the collapse and lr panels.
    expect(r.panels).toEqual(['collapse', 'lr']);
    expect(r.height).toBeGreaterThan(2 * (250 + 2 * 83));
    expect(r).toMatchObject({ path, rows: 300, dropped: 0, points: 300 });
    expect(await readdir(dir)).toEqual(['loss.png']);
  });

  it('renders text: two titles of the same length differ only in the title band, which has dark pixels', async () => {
    const a = join(dir, 'title-a.png');
    const b = join(dir, 'title-b.png');
    const rows = run(100);
    await writeLossPlot(a, rows, { title: 'Loss of run AAAA', panels: [] });
    await writeLossPlot(b, rows, { title: 'Loss of run WXYZ', panels: [] });
    const pa = await rgb(a);
    const pb = await rgb(b);
    expect([pa.width, pa.height]).toEqual([pb.width, pb.height]);
    let differing = 0;
    let lowestRow = 0;
    for (let i = 0; i < pa.data.length; i += 3) {
      if (pa.data[i] !== pb.data[i] || pa.data[i + 1] !== pb.data[i + 1] || pa.data[i + 2] !== pb.data[i + 2]) {
        differing++;
        lowestRow = Math.max(lowestRow, Math.floor(i / 3 / pa.width));
      }
    }
    expect(differing).toBeGreaterThan(200); // glyphs were drawn
    expect(lowestRow).toBeLessThan(90); // ... only in the title band at the top (2x scale)
    // The title band holds near-black pixels (the text), not just background.
    let dark = 0;
    for (let y = 0; y < 60; y++) {
      for (let x = 0; x < pa.width; x++) {
        const o = (y * pa.width + x) * 3;
        if (pa.data[o] < 80 && pa.data[o + 1] < 80 && pa.data[o + 2] < 80) dark++;
      }
    }
    expect(dark).toBeGreaterThan(100);
  });

  it('the SVG has the title, axis titles, legend, panels and the DejaVu Sans font', async () => {
    const svg = await renderLossPlotSvg(run(200), { title: 'My BYOL run' });
    expect(svg).toContain('My BYOL run');
    expect(svg).toContain('DejaVu Sans');
    for (const text of ['>step<', '>loss<', 'loss (raw)', 'loss (EMA 0.9)', 'collapse monitor', 'learning rate']) {
      expect(svg).toContain(text);
    }
    const plain = await renderLossPlotSvg(run(200).map(({ step, loss }) => ({ step, loss })), { smoothing: 0 });
    expect(plain).toContain('BYOL training loss');
    expect(plain).not.toContain('collapse monitor');
    expect(plain).not.toContain('EMA');
    const tau = await renderLossPlotSvg(run(50), { panels: ['tau'] });
    expect(tau).toContain('target EMA decay (tau)');
    expect(tau).not.toContain('learning rate');
  });

  it('downsamples a large run to at most maxPoints per line and keeps a single spike visible', async () => {
    const rows = run(100_000);
    rows[61_234].loss = 50;
    const t0 = performance.now();
    const r = await writeLossPlot(join(dir, 'big.png'), rows);
    expect(performance.now() - t0).toBeLessThan(20_000);
    expect(r.rows).toBe(100_000);
    expect(r.points).toBeLessThanOrEqual(2000);
    expect(r.points).toBeGreaterThan(1000);
    // The y axis reaches the spike: a tick label of 50 (or above) exists only if the spike was kept.
    const svg = await renderLossPlotSvg(rows, { panels: [] });
    expect(svg).toMatch(/>50<\/text>/);
    const small = await writeLossPlot(join(dir, 'big-small.png'), rows, { maxPoints: 100, panels: [] });
    expect(small.points).toBeLessThanOrEqual(100);
    expect((await stat(join(dir, 'big.png'))).size).toBeGreaterThan(20_000);
  });

  it('smooths with a bias-corrected EMA', () => {
    expect(emaSmooth([4, 4, 4], 0.9)).toEqual([4, 4, 4].map(() => expect.closeTo(4, 12)));
    const s = emaSmooth([0, 10], 0.5);
    expect(s[0]).toBe(0);
    expect(s[1]).toBeCloseTo((0.5 * 0.5 * 0 + 0.5 * 10) / (1 - 0.25), 12);
    expect(emaSmooth([1, 2, 3], 0)).toEqual([1, 2, 3]);
  });

  it('drops rows with a non-finite loss (counted), keeps the last row of a repeated step, rejects bad input by name', async () => {
    const rows = run(50);
    rows[3].loss = Number.NaN;
    rows[7].loss = Infinity;
    (rows[9] as { loss: unknown }).loss = null;
    rows.push({ ...rows[20], loss: 1 }); // step 21 again
    const r = await writeLossPlot(join(dir, 'nan.png'), rows);
    expect(r).toMatchObject({ rows: 47, dropped: 4 }); // 51 rows - 3 non-finite - 1 repeated step

    const p = join(dir, 'never.png');
    await expect(writeLossPlot(p, [])).rejects.toThrow(new RangeError('series: expected at least one row { step, loss }, received an empty array'));
    await expect(writeLossPlot(p, [{ step: 1, loss: Number.NaN }, { step: 2, loss: Infinity }])).rejects.toThrow(/series: no row has a finite loss \(2 rows/);
    await expect(writeLossPlot(p, [{ step: 1, loss: 1 }, { step: Number.NaN, loss: 1 }])).rejects.toThrow(/series\[1\]\.step: expected a finite number, received NaN/);
    await expect(writeLossPlot(p, [{ step: 1, loss: '1' as unknown as number }])).rejects.toThrow(/series\[0\]\.loss: expected a number, received string/);
    await expect(writeLossPlot(p, [{ step: 1, loss: 1, lr: 'x' as unknown as number }])).rejects.toThrow(/series\[0\]\.lr/);
    await expect(writeLossPlot(p, 'rows' as unknown as MetricsRow[])).rejects.toThrow(TypeError);
    await expect(writeLossPlot(p, run(5), { smoothing: 1 })).rejects.toThrow(/options\.smoothing: expected a number in \[0, 1\), received 1/);
    await expect(writeLossPlot(p, run(5), { width: 10 })).rejects.toThrow(/options\.width/);
    await expect(writeLossPlot(p, run(5), { maxPoints: 2 })).rejects.toThrow(/options\.maxPoints/);
    await expect(writeLossPlot(p, run(5), { panels: ['grad' as 'lr'] })).rejects.toThrow(/options\.panels\[0\]/);
    await expect(writeLossPlot('', run(5))).rejects.toThrow(/path: expected a non-empty string/);
    expect(await readdir(dir)).not.toContain('never.png');
  });

  it('writes atomically: a failed write names the path, leaves the old file as it was and no temporary file', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const missing = join(sub, 'no-such-folder', 'loss.png');
    await expect(writeLossPlot(missing, run(20))).rejects.toThrow(new RegExp(`writeLossPlot: cannot write '${missing}': ENOENT`));

    const path = join(sub, 'loss.png');
    await writeLossPlot(path, run(20));
    const before = await readFile(path);
    failRename.on = true;
    try {
      const err = await writeLossPlot(path, run(400)).catch((e: unknown) => e as NodeJS.ErrnoException);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain(`writeLossPlot: cannot write '${path}': EXDEV`);
      expect((err as NodeJS.ErrnoException).code).toBe('EXDEV');
    } finally {
      failRename.on = false;
    }
    expect((await readFile(path)).equals(before)).toBe(true);
    expect(await readdir(sub)).toEqual(['loss.png']);

    // A path that is a (non-empty) folder: the rename fails, the folder is untouched.
    const folder = join(sub, 'folder.png');
    await mkdir(folder);
    await writeFile(join(folder, 'keep'), 'x');
    await expect(writeLossPlot(folder, run(20))).rejects.toThrow(new RegExp(`cannot write '${folder}'`));
    expect(await readdir(folder)).toEqual(['keep']);
    expect((await readdir(sub)).sort()).toEqual(['folder.png', 'loss.png']);
  });
});

describe('metrics.jsonl', () => {
  it('readMetrics ignores a truncated last line (a killed run) and keeps a complete unterminated one', async () => {
    const path = join(dir, 'm1.jsonl');
    await writeFile(path, '{"step":1,"loss":2.5,"lr":0.1}\n{"step":2,"loss":2.4}\n\n{"step":3,"loss":2.');
    expect(await readMetrics(path)).toEqual([
      { step: 1, loss: 2.5, lr: 0.1 },
      { step: 2, loss: 2.4 },
    ]);
    await writeFile(path, '{"step":1,"loss":2.5}\n{"step":2,"loss":null,"collapse":0.06}');
    const rows = await readMetrics(path);
    expect(rows).toHaveLength(2);
    expect(rows[1].loss).toBeNaN(); // JSON null (a NaN written by JSON.stringify) reads as NaN
    expect(rows[1].collapse).toBe(0.06);
  });

  it('readMetrics names the line of any other bad line', async () => {
    const path = join(dir, 'm2.jsonl');
    const cases: Array<[string, RegExp]> = [
      ['{"step":1,"loss":1}\n{"step":2,"lo\n{"step":3,"loss":1}\n', /m2\.jsonl:2: not valid JSON/],
      ['{"step":1,"loss":1}\n[1,2]\n', /:2: expected a JSON object, received an array/],
      ['{"step":1,"loss":1}\n\n{"loss":1}\n', /:3: missing 'step'/],
      ['{"step":"1","loss":1}\n', /:1: 'step': expected a number, received "1"/],
      ['{"step":1}\n', /:1: missing 'loss'/],
      ['{"step":1,"loss":1}\n{"step":2,"loss":1,"lr":"high"}\n', /:2: 'lr': expected a number/],
    ];
    for (const [text, message] of cases) {
      await writeFile(path, text);
      const err = await readMetrics(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MetricsFormatError);
      expect((err as Error).message).toMatch(message);
    }
    await expect(readMetrics(join(dir, 'absent.jsonl'))).rejects.toThrow(/ENOENT/);
  });

  it('MetricsWriter appends one line per step, in order; reopening removes a truncated line; resumeAt drops later steps', async () => {
    const path = join(dir, 'm3.jsonl');
    const w = await MetricsWriter.open(path);
    const rows = run(30);
    await Promise.all(rows.slice(0, 20).map((r) => w.write(r))); // not awaited one by one: order still kept
    await w.write({ step: 21, loss: Number.NaN });
    expect(w.rowsWritten).toBe(21);
    await w.close();
    await w.close(); // idempotent
    await expect(w.write(rows[21])).rejects.toThrow(/is closed/);
    const text = await readFile(path, 'utf8');
    expect(text.split('\n')).toHaveLength(22);
    expect(text.endsWith('{"step":21,"loss":null}\n')).toBe(true);
    const back = await readMetrics(path);
    expect(back.slice(0, 20)).toEqual(rows.slice(0, 20));
    expect(back[20].loss).toBeNaN();

    // A kill mid-write left half a line: the next writer removes it before appending.
    await writeFile(path, `${text}{"step":22,"lo`);
    const w2 = await MetricsWriter.open(path);
    await w2.write(rows[21]);
    await w2.close();
    expect((await readMetrics(path)).map((r) => r.step)).toEqual([...Array(22).keys()].map((i) => i + 1));

    // Resuming from a checkpoint at step 15: rows 15.. of the stopped run are replaced.
    {
      await using w3 = await MetricsWriter.open(path, { resumeAt: 15 });
      await w3.write({ ...rows[14], loss: 9 });
    }
    const resumed = await readMetrics(path);
    expect(resumed.map((r) => r.step)).toEqual([...Array(15).keys()].map((i) => i + 1));
    expect(resumed[14].loss).toBe(9);

    const w4 = await MetricsWriter.open(path, { truncate: true });
    await w4.write(rows[0]);
    await w4.close();
    expect(await readMetrics(path)).toEqual([rows[0]]);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);

    await expect(MetricsWriter.open(join(dir, 'nope', 'm.jsonl'))).rejects.toThrow(/cannot open '.*nope\/m\.jsonl'/);
    await expect(MetricsWriter.open(path, { resumeAt: Number.NaN })).rejects.toThrow(/resumeAt: expected a finite step number/);
    const w5 = await MetricsWriter.open(path);
    expect(() => w5.write({ step: Number.NaN, loss: 1 })).toThrow(/row\.step: expected a finite number/);
    await w5.close();
  });

  it('a metrics file with a truncated last line plots', async () => {
    const path = join(dir, 'm4.jsonl');
    const rows = run(500);
    await writeFile(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n{"step":501,"loss":0.4,"lr"');
    const png = join(dir, 'm4.png');
    const r = await writeLossPlot(png, await readMetrics(path));
    expect(r.rows).toBe(500);
    expect((await sharp(png).metadata()).width).toBe(r.width);
  });
});
