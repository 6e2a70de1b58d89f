// `byol eval`: linear probe and kNN of trained encoders against two baselines through the very same pipeline
// (preprocessing, standardisation, optimiser, epochs), over seeds: randomly initialised encoders of the same
// architecture, and the raw pixels (the preprocessed images themselves, flattened, as the encoders receive them).
import { totalmem } from 'node:os';
import { encoderFeatures, evaluateSeeds, extractPixels, meanAndSpread, type EncoderScores, type FeatureSource } from '../evaluate.js';
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
  /** Leave out the raw-pixel baseline. */
  noPixels?: boolean;
  /** Train images whose features train the probe and are the kNN's neighbours (a seeded subset). Default: all. */
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
  /** Features per image of the raw-pixel baseline (channels x size x size), where it ran. */
  pixelFeatures?: number;
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
  const probe = config.probeEpochs !== undefined ? { epochs: config.probeEpochs } : {};
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  // One representation under the given probe seeds; each seed's scores are logged as they come.
  const score = async (label: (seed: number) => string, source: FeatureSource, probeSeeds: number[]): Promise<EncoderScores[]> => {
    let started = performance.now();
    return evaluateSeeds(source, train, test, { ...options, linear: probe }, probeSeeds, (seed, s) => {
      const seconds = (performance.now() - started) / 1000;
      started = performance.now();
      log(`  ${label(seed)}: linear ${(100 * s.linear.testAccuracy).toFixed(2)}%, kNN ${(100 * s.knn).toFixed(2)}% (${seconds.toFixed(0)} s)`);
    });
  };
  const encoder = async (weights: string | undefined, encoderSeed: number | undefined): Promise<FeatureSource> => {
    const net = await buildEncoder(architecture, { ...(weights ? { weights } : {}), ...(encoderSeed !== undefined ? { seed: encoderSeed } : {}) });
    if (config.device !== undefined && config.device !== 'cpu') net.to(config.device);
    return encoderFeatures(net);
  };
  const row = (name: string, scores: EncoderScores[]): EvalRow => ({
    name,
    linear: summary(scores.map((s) => s.linear.testAccuracy)),
    knn: summary(scores.map((s) => s.knn)),
  });

  log(`byol eval: ${describeArchitecture(architecture)} at ${imageSize} px on ${config.dataset ?? config.data}`);
  const trained: EncoderScores[] = [];
  if (config.weights.length === 1) {
    const w = config.weights[0]!;
    trained.push(...(await score((seed) => `${w} (probe seed ${seed})`, await encoder(w, undefined), range(seeds))));
  } else {
    for (const w of config.weights) trained.push(...(await score(() => w, await encoder(w, undefined), [0])));
  }
  const rows: EvalRow[] = [row('BYOL', trained)];
  if (!config.noBaseline) {
    const random: EncoderScores[] = [];
    for (let seed = 0; seed < seeds; seed++) random.push(...(await score(() => `random init (seed ${seed})`, await encoder(undefined, seed), [seed])));
    rows.push(row('random init', random));
  }
  const trainImages = Math.min(train.size, config.trainLimit ?? train.size);
  const testImages = Math.min(test.size, config.testLimit ?? test.size);
  let pixelFeatures: number | undefined;
  if (!config.noPixels) {
    // The pixel features are C*S*S wide: float32 for both splits, and the probe's standardised copy of them.
    const features = channels * imageSize * imageSize;
    const bytes = 2 * 4 * features * (trainImages + testImages);
    if (bytes > totalmem() / 2) {
      log(
        `  raw pixels: left out: ${trainImages + testImages} images of ${features} pixel values need about ${(bytes / 2 ** 30).toFixed(1)} GiB, ` +
          `over half this machine's memory; lower --train-limit or --test-limit, or pass --no-pixels`,
      );
    } else {
      rows.push(row('raw pixels', await score((seed) => `raw pixels (probe seed ${seed})`, extractPixels, range(seeds))));
      pixelFeatures = features;
    }
  }
  return { architecture, imageSize, trainImages, testImages, rows, ...(pixelFeatures !== undefined ? { pixelFeatures } : {}) };
}

const pct = (s: ScoreSummary) => `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)}`;

/** The report as a Markdown table, with the margins of the first row over each baseline. */
export function formatEvalReport(report: EvalReport): string {
  const lines = [
    `| encoder | linear probe top-1 % | kNN (k=20) top-1 % | runs |`,
    `|---|---|---|---|`,
    ...report.rows.map((r) => `| ${r.name} | ${pct(r.linear)} | ${pct(r.knn)} | ${r.linear.values.length} |`),
  ];
  const d = (a: ScoreSummary, b: ScoreSummary) => `${(100 * (a.mean - b.mean)) >= 0 ? '+' : ''}${(100 * (a.mean - b.mean)).toFixed(2)}`;
  const [trained] = report.rows;
  const random = report.rows.find((r) => r.name === 'random init');
  const pixels = report.rows.find((r) => r.name === 'raw pixels');
  if (trained && random) lines.push(`| margin | ${d(trained.linear, random.linear)} | ${d(trained.knn, random.knn)} | |`);
  if (trained && pixels) lines.push(`| margin over raw pixels | ${d(trained.linear, pixels.linear)} | ${d(trained.knn, pixels.knn)} | |`);
  lines.push(
    '',
    `(± is the sample standard deviation over runs; ${report.trainImages} train / ${report.testImages} test images, ${report.imageSize} px` +
      `${report.pixelFeatures !== undefined ? `; raw pixels: the ${report.pixelFeatures} normalised values of each resized image` : ''})`,
  );
  return lines.join('\n');
}
