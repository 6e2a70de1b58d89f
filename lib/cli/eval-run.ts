// `byol eval`: linear probe and kNN of trained encoders against randomly initialised encoders of the same
// architecture, through the very same pipeline (features, standardisation, optimiser, epochs), over seeds.
import { evaluateEncoder, meanAndSpread, type EncoderScores } from '../evaluate.js';
import type { ArchitectureName, ResNetArchitecture } from './architecture.js';
import { describeArchitecture } from './architecture.js';
import { openDataset, selectionChannels, type DataSelection } from './datasets.js';
import { buildEncoder, resolveArchitecture, runImageSize } from './encoder.js';
import type { Device } from '../native.js';

export interface EvalConfig extends Omit<DataSelection, 'imageSize'> {
  /** Trained encoders (e.g. one per pretraining seed); their rows are pooled. */
  weights: string[];
  arch?: ArchitectureName;
  /** Default: the run's (config.json beside the first weights file). */
  imageSize?: number;
  /** Random-init encoders (seeds 0..n-1) and, for one weights file, linear-probe seeds. Default 2. */
  seeds?: number;
  /** Leave out the random-init baseline. */
  noBaseline?: boolean;
  trainLimit?: number;
  testLimit?: number;
  batchSize?: number;
  /** Where the encoders run: 'cpu' (default), 'cuda' or 'cuda:N' (the probe and kNN stay on the CPU). */
  device?: Device;
  probeEpochs?: number;
  k?: number;
  log?: (message: string) => void;
}

export interface ScoreSummary {
  mean: number;
  std: number;
  values: number[];
}

export interface EvalRow {
  name: string;
  linear: ScoreSummary;
  knn: ScoreSummary;
}

export interface EvalReport {
  architecture: ResNetArchitecture;
  imageSize: number;
  trainImages: number;
  testImages: number;
  rows: EvalRow[];
}

function summary(values: number[]): ScoreSummary {
  return { ...meanAndSpread(values), values };
}

export async function runEval(config: EvalConfig): Promise<EvalReport> {
  const log = config.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  if (!Array.isArray(config.weights) || config.weights.length === 0) throw new RangeError('weights: expected at least one weights file (--weights FILE)');
  const seeds = config.seeds ?? 2;
  if (!Number.isInteger(seeds) || seeds < 1) throw new RangeError(`seeds: expected a positive integer, received ${String(seeds)}`);
  const architectures = await Promise.all(config.weights.map((w) => resolveArchitecture(w, config.arch)));
  const architecture = architectures[0]!;
  architectures.forEach((a, i) => {
    if (describeArchitecture(a) !== describeArchitecture(architecture))
      throw new Error(`weights: ${config.weights[i]} holds a ${describeArchitecture(a)}, ${config.weights[0]} a ${describeArchitecture(architecture)}`);
  });
  const imageSize = config.imageSize ?? (await runImageSize(config.weights[0]!));
  if (imageSize === undefined) throw new RangeError(`image-size: expected --image-size N (no config.json beside ${config.weights[0]} says it)`);
  const channels = config.dataset ? selectionChannels(config) : (config.channels ?? (architecture.inChannels as 1 | 3));
  if (channels !== architecture.inChannels)
    throw new Error(`weights: the encoder takes ${architecture.inChannels}-channel images, the data gives ${channels} (--channels)`);
  const selection: DataSelection = { ...config, imageSize, channels };
  const [train, test] = await Promise.all([openDataset(selection, 'train'), openDataset(selection, 'test')]);
  if (!train.labels || !test.labels) throw new Error('data: expected labelled images (one subfolder per class) for evaluation');
  const options = {
    imageSize,
    batchSize: config.batchSize ?? 256,
    ...(config.trainLimit !== undefined ? { trainLimit: config.trainLimit } : {}),
    ...(config.testLimit !== undefined ? { testLimit: config.testLimit } : {}),
    knn: { k: config.k ?? 20 },
  };
  const probe = (seed: number) => ({ seed, ...(config.probeEpochs !== undefined ? { epochs: config.probeEpochs } : {}) });
  const score = async (label: string, weights: string | undefined, encoderSeed: number | undefined, probeSeed: number): Promise<EncoderScores> => {
    const started = performance.now();
    const net = await buildEncoder(architecture, { ...(weights ? { weights } : {}), ...(encoderSeed !== undefined ? { seed: encoderSeed } : {}) });
    if (config.device !== undefined && config.device !== 'cpu') net.to(config.device);
    const s = await evaluateEncoder(net, train, test, { ...options, linear: probe(probeSeed) });
    log(`  ${label}: linear ${(100 * s.linear.testAccuracy).toFixed(2)}%, kNN ${(100 * s.knn).toFixed(2)}% (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    return s;
  };

  log(`byol eval: ${describeArchitecture(architecture)} at ${imageSize} px on ${config.dataset ?? config.data}`);
  const trained: EncoderScores[] = [];
  if (config.weights.length === 1) {
    for (let seed = 0; seed < seeds; seed++) trained.push(await score(`${config.weights[0]} (probe seed ${seed})`, config.weights[0], undefined, seed));
  } else {
    for (const w of config.weights) trained.push(await score(w, w, undefined, 0));
  }
  const rows: EvalRow[] = [
    { name: 'BYOL', linear: summary(trained.map((s) => s.linear.testAccuracy)), knn: summary(trained.map((s) => s.knn)) },
  ];
  if (!config.noBaseline) {
    const random: EncoderScores[] = [];
    for (let seed = 0; seed < seeds; seed++) random.push(await score(`random init (seed ${seed})`, undefined, seed, seed));
    rows.push({ name: 'random init', linear: summary(random.map((s) => s.linear.testAccuracy)), knn: summary(random.map((s) => s.knn)) });
  }
  const trainImages = Math.min(train.size, config.trainLimit ?? train.size);
  const testImages = Math.min(test.size, config.testLimit ?? test.size);
  return { architecture, imageSize, trainImages, testImages, rows };
}

const pct = (s: ScoreSummary) => `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)}`;

/** The report as a Markdown table, with the margin of the first row over the baseline. */
export function formatEvalReport(report: EvalReport): string {
  const lines = [
    `| encoder | linear probe top-1 % | kNN (k=20) top-1 % | runs |`,
    `|---|---|---|---|`,
    ...report.rows.map((r) => `| ${r.name} | ${pct(r.linear)} | ${pct(r.knn)} | ${r.linear.values.length} |`),
  ];
  const [trained, baseline] = report.rows;
  if (trained && baseline) {
    const d = (a: ScoreSummary, b: ScoreSummary) => `${(100 * (a.mean - b.mean)) >= 0 ? '+' : ''}${(100 * (a.mean - b.mean)).toFixed(2)}`;
    lines.push(`| margin | ${d(trained.linear, baseline.linear)} | ${d(trained.knn, baseline.knn)} | |`);
  }
  lines.push('', `(± is the sample standard deviation over runs; ${report.trainImages} train / ${report.testImages} test images, ${report.imageSize} px)`);
  return lines.join('\n');
}
