// Training curves as a PNG: loss against step (raw values, light) with a smoothed line on top, and small panels
// below for the collapse monitor and the learning rate when the rows have them.
//
// Rendering: a Vega-Lite spec compiled to Vega, rendered headless to SVG (renderer 'none', no canvas), rasterised
// by sharp (librsvg) at 144 dpi, so 2x the spec's pixel size. Text uses "DejaVu Sans" (fonts-dejavu-core, which
// setup installs). vega, vega-lite and sharp are imported on first use: importing byol-torch stays fast.
//
// Smoothing: a bias-corrected exponential moving average (TensorBoard's), s_t = w*s_{t-1} + (1-w)*x_t divided by
// (1 - w^t), over the rows in step order, computed on every finite row before downsampling. Weight w = 0.9 by
// default; 0 turns the smoothed line off.
// Non-finite values: a row whose loss is NaN/Infinity (or null from JSON) is dropped from the loss curves and
// counted in the result's `dropped`; non-finite lr/tau/collapse values are left out of their panel. A step that
// is not a finite number is rejected (RangeError naming the row). Rows with the same step: the last one wins
// (a resumed run rewrote those steps).
// Large runs: at most `maxPoints` (default 2000) points per line. The raw line keeps each bucket's minimum and
// maximum (spikes stay visible); the smoothed line and the panels take every k-th row and the last one.
// The PNG is written atomically: a temporary file in the same folder, then a rename.
import { writeFileAtomic } from './atomic.js';
import type { MetricsRow } from './metrics.js';

export { readMetrics, MetricsWriter, MetricsFormatError, type MetricsRow, type MetricsWriterOptions } from './metrics.js';

export type PlotPanel = 'collapse' | 'lr' | 'tau';

export interface LossPlotOptions {
  /** Default 'BYOL training loss'; '' for none. */
  title?: string;
  /** Width of the plot area in CSS pixels (the PNG is about twice as wide at 144 dpi). Default 720. */
  width?: number;
  /** Height of the loss panel in CSS pixels. Default 300. */
  height?: number;
  /** EMA weight in [0, 1): 0 draws no smoothed line. Default 0.9. */
  smoothing?: number;
  /** Most points drawn per line. Default 2000 (at least 10). */
  maxPoints?: number;
  /** Extra panels below the loss, in order; default: 'collapse' and 'lr', each when some row has a finite value. */
  panels?: readonly PlotPanel[];
  /** Rasterisation density in dpi (72 = 1 px per CSS pixel). Default 144. */
  density?: number;
}

export interface LossPlotResult {
  path: string;
  /** PNG size in pixels. */
  width: number;
  height: number;
  /** Rows plotted (after dropping non-finite losses and duplicate steps), and how many rows were dropped. */
  rows: number;
  dropped: number;
  /** Points drawn on the raw loss line (<= maxPoints). */
  points: number;
  /** The extra panels drawn. */
  panels: PlotPanel[];
}

const PANEL_TITLES: Record<PlotPanel, string> = {
  collapse: 'collapse monitor (std of normalised projections)',
  lr: 'learning rate',
  tau: 'target EMA decay (tau)',
};
const FONT = 'DejaVu Sans';

interface Prepared {
  rows: MetricsRow[];
  dropped: number;
  options: Required<Omit<LossPlotOptions, 'panels'>> & { panels: PlotPanel[] | undefined };
}

function checkNumber(value: unknown, name: string, lo: number, hi: number, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < lo || value > hi) {
    const kind = integer ? 'an integer' : 'a number';
    throw new RangeError(`options.${name}: expected ${kind} in [${lo}, ${hi}], received ${String(value)}`);
  }
  return value;
}

function prepare(series: readonly MetricsRow[], options: LossPlotOptions): Prepared {
  if (!Array.isArray(series)) throw new TypeError(`series: expected an array of rows { step, loss, ... }, received ${typeof series}`);
  if (series.length === 0) throw new RangeError('series: expected at least one row { step, loss }, received an empty array');
  if (typeof options !== 'object' || options === null) throw new TypeError(`options: expected an object, received ${String(options)}`);
  const title = options.title ?? 'BYOL training loss';
  if (typeof title !== 'string') throw new TypeError(`options.title: expected a string, received ${typeof title}`);
  const smoothing = options.smoothing ?? 0.9;
  if (typeof smoothing !== 'number' || !(smoothing >= 0 && smoothing < 1)) {
    throw new RangeError(`options.smoothing: expected a number in [0, 1), received ${String(smoothing)}`);
  }
  let panels: PlotPanel[] | undefined;
  if (options.panels !== undefined) {
    if (!Array.isArray(options.panels)) throw new TypeError('options.panels: expected an array of \'collapse\', \'lr\', \'tau\'');
    panels = options.panels.map((p, i) => {
      if (!(p in PANEL_TITLES)) throw new RangeError(`options.panels[${i}]: expected 'collapse', 'lr' or 'tau', received ${String(p)}`);
      return p;
    });
  }
  const opts = {
    title,
    smoothing,
    panels,
    width: checkNumber(options.width ?? 720, 'width', 100, 8000, true),
    height: checkNumber(options.height ?? 300, 'height', 50, 8000, true),
    maxPoints: checkNumber(options.maxPoints ?? 2000, 'maxPoints', 10, 10_000_000, true),
    density: checkNumber(options.density ?? 144, 'density', 18, 600),
  };

  const byStep = new Map<number, MetricsRow>();
  let dropped = 0;
  series.forEach((row, i) => {
    if (typeof row !== 'object' || row === null) throw new TypeError(`series[${i}]: expected an object { step, loss }, received ${String(row)}`);
    if (typeof row.step !== 'number' || !Number.isFinite(row.step)) {
      throw new RangeError(`series[${i}].step: expected a finite number, received ${String(row.step)}`);
    }
    if (row.loss !== null && typeof row.loss !== 'number') {
      throw new TypeError(`series[${i}].loss: expected a number, received ${typeof row.loss}`);
    }
    for (const key of ['lr', 'tau', 'collapse'] as const) {
      const v = row[key];
      if (v !== undefined && v !== null && typeof v !== 'number') {
        throw new TypeError(`series[${i}].${key}: expected a number, received ${typeof v}`);
      }
    }
    if (byStep.has(row.step)) dropped++;
    byStep.set(row.step, row);
  });
  const rows: MetricsRow[] = [];
  for (const row of byStep.values()) {
    if (typeof row.loss === 'number' && Number.isFinite(row.loss)) rows.push(row);
    else dropped++;
  }
  if (rows.length === 0) {
    throw new RangeError(`series: no row has a finite loss (${series.length} rows, all NaN, Infinity or null)`);
  }
  rows.sort((a, b) => a.step - b.step);
  return { rows, dropped, options: opts };
}

/** Bias-corrected EMA of `values` with weight w. */
export function emaSmooth(values: readonly number[], w: number): number[] {
  const out = new Array<number>(values.length);
  let s = 0;
  let correction = 1;
  for (let i = 0; i < values.length; i++) {
    s = w * s + (1 - w) * values[i];
    correction *= w;
    out[i] = correction < 1 ? s / (1 - correction) : values[i];
  }
  return out;
}

/** Indices 0, k, 2k, ... and the last one, at most about `max` of them. */
function strided(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const k = Math.ceil(n / (max - 1));
  const idx: number[] = [];
  for (let i = 0; i < n - 1; i += k) idx.push(i);
  idx.push(n - 1);
  return idx;
}

/** For each of about max/2 buckets, the indices of its minimum and maximum value, in order. */
function minMax(values: readonly number[], max: number): number[] {
  const n = values.length;
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const buckets = Math.floor(max / 2);
  const idx: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets);
    const hi = Math.floor(((b + 1) * n) / buckets);
    let iMin = lo;
    let iMax = lo;
    for (let i = lo + 1; i < hi; i++) {
      if (values[i] < values[iMin]) iMin = i;
      if (values[i] > values[iMax]) iMax = i;
    }
    if (iMin === iMax) idx.push(iMin);
    else idx.push(Math.min(iMin, iMax), Math.max(iMin, iMax));
  }
  return idx;
}

function buildSpec(p: Prepared): { spec: Record<string, unknown>; points: number; panels: PlotPanel[] } {
  const { rows, options } = p;
  const steps = rows.map((r) => r.step);
  const losses = rows.map((r) => r.loss);
  const rawIdx = minMax(losses, options.maxPoints);
  const strideIdx = strided(rows.length, options.maxPoints);
  const rawLabel = 'loss (raw)';
  const smoothLabel = `loss (EMA ${options.smoothing})`;
  const lossData: Array<{ step: number; value: number; series: string }> = rawIdx.map((i) => ({
    step: steps[i],
    value: losses[i],
    series: rawLabel,
  }));
  const smoothed = options.smoothing > 0 ? emaSmooth(losses, options.smoothing) : undefined;
  if (smoothed) for (const i of strideIdx) lossData.push({ step: steps[i], value: smoothed[i], series: smoothLabel });
  const domain = smoothed ? [rawLabel, smoothLabel] : [rawLabel];
  const range = smoothed ? ['#9ecae1', '#08519c'] : ['#3182bd'];

  const x = { field: 'step', type: 'quantitative', title: 'step', scale: { nice: false, zero: false } };
  const lossPanel: Record<string, unknown> = {
    width: options.width,
    height: options.height,
    data: { values: lossData },
    mark: { type: 'line', clip: true, interpolate: 'linear' },
    encoding: {
      x,
      y: { field: 'value', type: 'quantitative', title: 'loss', scale: { zero: false } },
      color: {
        field: 'series',
        type: 'nominal',
        scale: { domain, range },
        legend: { title: null, orient: 'top-right', fillColor: 'white', padding: 4 },
      },
      strokeWidth: { field: 'series', type: 'nominal', scale: { domain, range: smoothed ? [1, 2.5] : [1.5] }, legend: null },
    },
  };

  const present = (key: PlotPanel) => rows.some((r) => typeof r[key] === 'number' && Number.isFinite(r[key]));
  const wanted = options.panels ?? (['collapse', 'lr'] as PlotPanel[]);
  const panels = wanted.filter(present);
  const panelSpecs = panels.map((key) => {
    const values = strideIdx
      .map((i) => ({ step: steps[i], value: rows[i][key] as number | undefined }))
      .filter((d) => typeof d.value === 'number' && Number.isFinite(d.value));
    return {
      width: options.width,
      height: Math.max(60, Math.round(options.height / 3)),
      title: { text: PANEL_TITLES[key], fontSize: 11, anchor: 'start', fontWeight: 'normal' },
      data: { values },
      mark: { type: 'line', clip: true, color: key === 'collapse' ? '#e6550d' : '#31a354', strokeWidth: 1.5 },
      encoding: {
        x,
        y: {
          field: 'value',
          type: 'quantitative',
          title: key,
          scale: { zero: key === 'collapse' },
          axis: { tickCount: 4, format: '~g' },
        },
      },
    };
  });

  const base = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: 12,
    config: { font: FONT, view: { stroke: '#ccc' }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 15 } },
  };
  const title = options.title === '' ? {} : { title: { text: options.title, anchor: 'middle' } };
  const spec =
    panelSpecs.length === 0
      ? { ...base, ...title, ...lossPanel }
      : { ...base, ...title, vconcat: [lossPanel, ...panelSpecs], spacing: 16, resolve: { scale: { x: 'shared', color: 'independent' } } };
  return { spec, points: rawIdx.length, panels };
}

async function renderSvg(p: Prepared): Promise<{ svg: string; points: number; panels: PlotPanel[] }> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const { spec, points, panels } = buildSpec(p);
  const logger = vega.logger(vega.Error);
  const compiled = vl.compile(spec as unknown as Parameters<typeof vl.compile>[0], { logger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    const svg = await view.toSVG();
    return { svg, points, panels };
  } finally {
    view.finalize();
  }
}

/** The plot as an SVG string (what writeLossPlot rasterises); same arguments and checks as writeLossPlot. */
export async function renderLossPlotSvg(series: readonly MetricsRow[], options: LossPlotOptions = {}): Promise<string> {
  return (await renderSvg(prepare(series, options))).svg;
}

/**
 * Writes a PNG of the training curves in `series` (rows as metrics.jsonl holds them) to `path`, atomically.
 * See the top of this file for smoothing, downsampling and how non-finite values are handled.
 */
export async function writeLossPlot(path: string, series: readonly MetricsRow[], options: LossPlotOptions = {}): Promise<LossPlotResult> {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError(`path: expected a non-empty string, received ${String(path)}`);
  const prepared = prepare(series, options);
  const { svg, points, panels } = await renderSvg(prepared);
  const { default: sharp } = await import('sharp');
  const { data, info } = await sharp(Buffer.from(svg), { density: prepared.options.density })
    .png({ compressionLevel: 9 })
    .toBuffer({ resolveWithObject: true });
  await writeFileAtomic(path, data, 'writeLossPlot');
  return { path, width: info.width, height: info.height, rows: prepared.rows.length, dropped: prepared.dropped, points, panels };
}
