// Progress of a long run: a bar on a terminal (cli-progress), plain log lines otherwise (CI, files).
import cliProgress from 'cli-progress';

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

export interface ProgressFields {
  epoch: number;
  loss: number;
  lr: number;
  tau: number;
  imagesPerSecond: number;
  collapse: number;
  /** Training on CUDA: the device's caching allocator. */
  deviceMemory?: { allocatedBytes: number; reservedBytes: number; peakAllocatedBytes: number };
}

export interface Progress {
  update(step: number, fields: ProgressFields): void;
  log(message: string): void;
  stop(): void;
}

const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(1);
const fmt = (f: ProgressFields) =>
  `epoch ${f.epoch} loss ${f.loss.toFixed(4)} lr ${f.lr.toExponential(2)} tau ${f.tau.toFixed(4)} ` +
  `${f.imagesPerSecond.toFixed(1)} img/s collapse ${f.collapse.toFixed(4)}` +
  (f.deviceMemory
    ? ` gpu ${gib(f.deviceMemory.allocatedBytes)} GiB (reserved ${gib(f.deviceMemory.reservedBytes)}, peak ${gib(f.deviceMemory.peakAllocatedBytes)})`
    : '');

export function createProgress(mode: ProgressMode, totalSteps: number, startStep: number): Progress {
  const resolved = mode === 'auto' ? (process.stderr.isTTY ? 'bar' : 'lines') : mode;
  if (resolved === 'none') return { update() {}, log() {}, stop() {} };
  if (resolved === 'lines') {
    const every = Math.max(1, Math.round(totalSteps / 100));
    const started = performance.now();
    return {
      update(step, f) {
        if (step % every !== 0 && step !== totalSteps) return;
        const elapsed = (performance.now() - started) / 1000;
        const eta = ((totalSteps - step) * elapsed) / Math.max(1, step - startStep);
        console.error(`step ${step}/${totalSteps} ${fmt(f)} eta ${eta.toFixed(0)}s`);
      },
      log: (message) => console.error(message),
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: 'step {value}/{total} [{bar}] {percentage}% | {info} | eta {eta_formatted}',
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(totalSteps, startStep, { info: '' });
  return {
    update: (step, f) => bar.update(step, { info: fmt(f) }),
    log: (message) => process.stderr.write(`\r\x1b[K${message}\n`), // the bar redraws on its next update
    stop: () => bar.stop(),
  };
}
