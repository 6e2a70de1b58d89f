#!/usr/bin/env node
// The `byol` command: train, embed, eval. Arguments are parsed by commander (a well-kept parser with --help on
// every command); the work lives in train-run.ts, embed-run.ts and eval-run.ts, which the demo reuses.
// `byol train --nproc-per-node N` does not train: it starts N workers (launch.ts), each a plain `byol train`
// that finds its rank in the torchrun variables, as it does when torchrun starts it.
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  ARCHITECTURES, DATASETS, OPTIMIZERS, PRECISIONS, TRAIN_DEFAULTS, VIEW_PRESETS,
  type ArchitectureName, type DatasetName, type OptimizerName, type PrecisionName, type ViewPreset,
} from './choices.js';
import type { Device } from '../native.js';
import type { TrainConfig } from './train-run.js';

const integer = (min: number) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, received ${JSON.stringify(value)}`);
  return n;
};
const number = (min: number) => (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number >= ${min}, received ${JSON.stringify(value)}`);
  return n;
};
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
// Checked here for its form; whether the GPU exists is LibTorch's answer, when the command runs.
const deviceName = (value: string): Device => {
  if (value === 'cpu' || value === 'cuda' || /^cuda:\d+$/.test(value)) return value as Device;
  throw new InvalidArgumentError(`expected cpu, cuda or cuda:N, received ${JSON.stringify(value)}`);
};
const DEVICE_HELP = "where to compute: cpu, cuda or cuda:N (default cpu)";

/** Options every data-reading command shares. */
function dataOptions(command: Command): Command {
  return command
    .option('--data <dir>', 'an image folder: one subfolder per class (or images directly); with train/ and test/ subfolders for eval')
    .addOption(new Option('--dataset <name>', 'a built-in dataset').choices(DATASETS))
    .option('--data-root <dir>', "the built-in dataset's folder (default for fashion-mnist: Debian's /usr/share/datasets/fashion-mnist)")
    .addOption(new Option('--channels <n>', 'channels image folders are decoded to').choices(['1', '3']))
    .option('--strict', 'fail on the first unreadable image instead of skipping it with a warning')
    .option('--threads <n>', 'CPU threads (default: every core this process may use)', integer(1));
}

function dataSelection(o: Record<string, unknown>) {
  return {
    ...(o.data !== undefined ? { data: o.data as string } : {}),
    ...(o.dataset !== undefined ? { dataset: o.dataset as DatasetName } : {}),
    ...(o.dataRoot !== undefined ? { dataRoot: o.dataRoot as string } : {}),
    ...(o.channels !== undefined ? { channels: Number(o.channels) as 1 | 3 } : {}),
    ...(o.strict ? { strict: true } : {}),
  };
}

/** Runs a command's work; any error becomes "byol <command>: error: message" and exit code 1. */
function action<T extends Record<string, unknown>>(name: string, work: (options: T, command: Command) => Promise<void>) {
  return async (options: T, command: Command): Promise<void> => {
    try {
      // A launcher (--nproc-per-node) trains nothing: its workers get --threads and load LibTorch themselves.
      if (typeof options.threads === 'number' && options.nprocPerNode === undefined) (await import('../runtime.js')).setNumThreads(options.threads);
      await work(options, command);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`byol ${name}: error: ${message}\n`);
      if (process.env.BYOL_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
      process.exitCode = 1;
    }
  };
}

/** `byol train --nproc-per-node N ...`: starts the workers, each `byol train ...` without the launcher flags. */
async function launch(o: Record<string, unknown>, command: Command): Promise<number> {
  // The test readLaunchEnv makes for "this process is a worker"; a launch from a worker would nest process groups.
  const { RANK, WORLD_SIZE } = process.env;
  if (RANK !== undefined || WORLD_SIZE !== undefined) {
    throw new Error(
      `--nproc-per-node: this process is already a worker (RANK=${RANK ?? ''}, WORLD_SIZE=${WORLD_SIZE ?? ''}, e.g. set by torchrun); ` +
        'under torchrun, run byol train without the launcher flags; otherwise unset RANK and WORLD_SIZE',
    );
  }
  // commander keeps the argv it parsed on the root command (untyped); the words after `train` are the user's.
  const raw = (command.parent as unknown as { rawArgs: string[] }).rawArgs;
  const { launchWorkers, withoutLauncherFlags } = await import('./launch.js');
  return launchWorkers({
    nprocPerNode: (o.nprocPerNode as number | undefined) ?? 1,
    ...(o.nnodes !== undefined ? { nnodes: o.nnodes as number } : {}),
    ...(o.nodeRank !== undefined ? { nodeRank: o.nodeRank as number } : {}),
    ...(o.masterAddr !== undefined ? { masterAddr: o.masterAddr as string } : {}),
    ...(o.masterPort !== undefined ? { masterPort: o.masterPort as number } : {}),
    // --threads, when given, reaches each worker as an argument too; the variable then agrees with it.
    ...(o.threads !== undefined ? { threadsPerWorker: o.threads as number } : {}),
    command: [process.execPath, fileURLToPath(import.meta.url), command.name(), ...withoutLauncherFlags(raw.slice(raw.indexOf(command.name()) + 1))],
  });
}

export function buildProgram(): Command {
  const program = new Command('byol')
    .description('BYOL self-supervised pretraining on LibTorch: train an encoder, embed images, evaluate')
    .showHelpAfterError('(add --help for usage)');

  dataOptions(
    program
      .command('train')
      .description('pretrain an encoder with BYOL; writes config.json, metrics.jsonl, checkpoints/, encoder.safetensors and loss.png to the run folder'),
  )
    .requiredOption('--out <dir>', 'the run folder')
    .option('--resume', "continue the run in --out from its latest checkpoint (with the run's own config.json)")
    .addOption(new Option('--arch <name>', 'encoder').choices(ARCHITECTURES).default(TRAIN_DEFAULTS.arch))
    .option('--small-stem', 'a 3x3 stride-1 first convolution and no max-pool (CIFAR-style, for 32 px images)')
    .option('--image-size <px>', 'side of the augmented views', integer(8), TRAIN_DEFAULTS.imageSize)
    .option('--batch-size <n>', 'images per step', integer(2), TRAIN_DEFAULTS.batchSize)
    .option('--epochs <n>', 'passes over the data (or --steps)', integer(1))
    .option('--steps <n>', 'optimizer steps (or --epochs)', integer(1))
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(OPTIMIZERS).default(TRAIN_DEFAULTS.optimizer))
    .option(
      '--lr <x>',
      "peak learning rate, reached at the end of the warm-up, then cosine decay to 0; used as given, not scaled by the batch size (the paper's LARS rate is base x batch/256: pass that product)",
      number(0),
      TRAIN_DEFAULTS.lr,
    )
    .option('--weight-decay <x>', 'weight decay, with every optimizer: not on biases and BatchNorm parameters (as in the paper)', number(0), TRAIN_DEFAULTS.weightDecay)
    .option('--lars-trust <x>', "LARS's trust coefficient eta (default 0.001, the paper's; solo-learn uses 0.02 on CIFAR)", number(0))
    .option('--warmup-steps <n>', 'linear warm-up steps (default: 5% of the run)', integer(0))
    .option('--tau <x>', "tau_base of the target's EMA (cosine schedule to 1)", number(0), TRAIN_DEFAULTS.tau)
    .option('--projection-size <n>', "output size of projector and predictor (default: the learner's, 256)", integer(1))
    .option('--hidden-size <n>', "hidden size of projector and predictor (default: the learner's, 4096)", integer(1))
    .addOption(new Option('--views <preset>', 'augmentation views').choices(VIEW_PRESETS).default(TRAIN_DEFAULTS.views))
    .option('--seed <n>', 'seed of the weights, the data order and the views', integer(0), TRAIN_DEFAULTS.seed)
    .option('--log-every <n>', 'steps between reads of the loss (progress and metrics.jsonl rows); every loss is kept', integer(1), 1)
    .option('--checkpoint-every <n>', 'steps between checkpoints (default: once per epoch, at most 500)', integer(1))
    .addOption(new Option('--progress <mode>', 'progress display').choices(['auto', 'bar', 'lines', 'none']).default('auto'))
    .option('--device <name>', `${DEVICE_HELP}; with --nproc-per-node, cuda means one GPU per worker`, deviceName)
    .addOption(
      new Option('--precision <type>', 'compute type: fp32, bf16 (autocast; CUDA or CPU) or fp16 (CUDA, with loss scaling)').choices(PRECISIONS).default('fp32'),
    )
    .option('--time-limit <seconds>', 'stop after this much training: checkpoint and encoder saved, --resume continues', number(1))
    .option('--nproc-per-node <n>', 'start N worker processes on this node and train data-parallel, like torchrun --standalone', integer(1))
    .option('--nnodes <n>', 'nodes in a multi-node run (each runs byol train with the same flags and its own --node-rank)', integer(1))
    .option('--node-rank <n>', "this node's index in [0, --nnodes)", integer(0))
    .option('--master-addr <host>', 'address of node 0, where rank 0 hosts the rendezvous store (default 127.0.0.1)')
    .option('--master-port <port>', 'its port (default on one node: a free one; required with --nnodes > 1)', integer(1))
    .option('--dist-timeout <seconds>', 'timeout of each collective in a distributed run', number(1), 600)
    .option('--local-bn', "per-rank BatchNorm statistics instead of statistics synchronised over the ranks' batches")
    .action(
      action('train', async (o: Record<string, unknown>, command: Command) => {
        if (o.nprocPerNode !== undefined || ((o.nnodes as number | undefined) ?? 1) > 1) {
          process.exitCode = await launch(o, command);
          return;
        }
        const config: TrainConfig = {
          ...dataSelection(o),
          arch: o.arch as ArchitectureName,
          smallStem: Boolean(o.smallStem),
          imageSize: o.imageSize as number,
          batchSize: o.batchSize as number,
          ...(o.epochs !== undefined ? { epochs: o.epochs as number } : {}),
          ...(o.steps !== undefined ? { steps: o.steps as number } : {}),
          optimizer: o.optimizer as OptimizerName,
          lr: o.lr as number,
          weightDecay: o.weightDecay as number,
          ...(o.warmupSteps !== undefined ? { warmupSteps: o.warmupSteps as number } : {}),
          ...(o.larsTrust !== undefined ? { trustCoefficient: o.larsTrust as number } : {}),
          tau: o.tau as number,
          ...(o.projectionSize !== undefined ? { projectionSize: o.projectionSize as number } : {}),
          ...(o.hiddenSize !== undefined ? { hiddenSize: o.hiddenSize as number } : {}),
          views: o.views as ViewPreset,
          seed: o.seed as number,
          ...(o.checkpointEvery !== undefined ? { checkpointEvery: o.checkpointEvery as number } : {}),
          ...(o.precision !== 'fp32' ? { precision: o.precision as PrecisionName } : {}),
        };
        const { runTrain } = await import('./train-run.js');
        // Read only where RANK/WORLD_SIZE are set (by torchrun or by launch()); a single process ignores it.
        const distributed = { timeoutSeconds: o.distTimeout as number, syncBatchNorm: !o.localBn };
        const { catchInterrupts, exitCodeOf } = await import('./interrupt.js');
        const interrupt = catchInterrupts((m) => process.stderr.write(`${m}\n`));
        const s = await runTrain(config, {
          out: o.out as string,
          resume: Boolean(o.resume),
          progress: o.progress as 'auto',
          logEvery: o.logEvery as number,
          distributed,
          signal: interrupt.signal,
          ...(o.device !== undefined ? { device: o.device as Device } : {}),
          ...(o.timeLimit !== undefined ? { timeLimitSeconds: o.timeLimit as number } : {}),
        }).finally(() => interrupt.finish());
        if (interrupt.received) process.exitCode = exitCodeOf(interrupt.received);
        if (s.rank !== 0) return; // rank 0 reports for the group
        process.stdout.write(
          `trained ${s.steps} steps (from step ${s.resumedFrom}) on ${s.device} in ${s.seconds.toFixed(0)} s, ${s.imagesPerSecond.toFixed(1)} images/s, ` +
            `final loss ${s.finalLoss.toFixed(4)}\nencoder: ${s.encoderPath}\nmetrics: ${s.metricsPath}\nloss plot: ${s.plotPath}\n`,
        );
      }),
    );

  dataOptions(program.command('embed').description("write every image's representation to a NumPy .npy file [N, D] (rows in sorted file-path order)"))
    .requiredOption('--weights <file>', 'encoder weights (encoder.safetensors of a run, torchvision key names)')
    .requiredOption('--out <file.npy>', 'output file; image folders also get FILE.paths.txt with the row order')
    .addOption(new Option('--arch <name>', 'expected encoder (default: read from the weights)').choices(ARCHITECTURES))
    .option('--image-size <px>', "input size (default: the run's, from config.json beside the weights)", integer(8))
    .addOption(new Option('--split <name>', 'split of a built-in dataset').choices(['train', 'test']).default('train'))
    .option('--batch-size <n>', 'images per forward pass', integer(1), 256)
    .option('--device <name>', DEVICE_HELP, deviceName)
    .action(
      action('embed', async (o: Record<string, unknown>) => {
        const { runEmbed } = await import('./embed-run.js');
        const s = await runEmbed({
          ...dataSelection(o),
          weights: o.weights as string,
          out: o.out as string,
          ...(o.arch !== undefined ? { arch: o.arch as ArchitectureName } : {}),
          ...(o.imageSize !== undefined ? { imageSize: o.imageSize as number } : {}),
          split: o.split as 'train' | 'test',
          batchSize: o.batchSize as number,
          ...(o.device !== undefined ? { device: o.device as Device } : {}),
        });
        process.stdout.write(`wrote ${s.rows} x ${s.dimensions} embeddings to ${s.out}${s.pathsFile ? ` (row order: ${s.pathsFile})` : ''}\n`);
      }),
    );

  dataOptions(
    program
      .command('eval')
      .description(
        'linear probe and kNN (k = 20, cosine) of trained encoders against two baselines: random-init encoders of the same architecture and the raw pixels',
      ),
  )
    .requiredOption('--weights <file>', 'encoder weights; repeat for several runs (e.g. pretraining seeds)', collect)
    .addOption(new Option('--arch <name>', 'expected encoder (default: read from the weights)').choices(ARCHITECTURES))
    .option('--image-size <px>', "input size (default: the run's, from config.json beside the weights)", integer(8))
    .option('--seeds <n>', 'random-init encoders (and probe seeds for a single weights file)', integer(1), 2)
    .option('--no-baseline', 'leave out the random-init encoders')
    .option('--no-pixels', 'leave out the raw-pixel baseline (the resized, normalised images themselves, flattened, through the same probe and kNN)')
    .option(
      '--train-limit <n>',
      'train images that train the probe and are the kNN neighbours: a seeded subset, for speed (default: the whole train split, the standard linear evaluation)',
      integer(1),
    )
    .option('--test-limit <n>', 'test images (default all)', integer(1))
    .option('--probe-epochs <n>', 'epochs of the linear probe', integer(1), 100)
    .option('--batch-size <n>', 'images per forward pass', integer(1), 256)
    .option('--json <file>', 'also write the report as JSON')
    .option('--device <name>', DEVICE_HELP, deviceName)
    .action(
      action('eval', async (o: Record<string, unknown>) => {
        const { formatEvalReport, runEval } = await import('./eval-run.js');
        const report = await runEval({
          ...dataSelection(o),
          weights: o.weights as string[],
          ...(o.arch !== undefined ? { arch: o.arch as ArchitectureName } : {}),
          ...(o.imageSize !== undefined ? { imageSize: o.imageSize as number } : {}),
          seeds: o.seeds as number,
          noBaseline: o.baseline === false,
          noPixels: o.pixels === false,
          ...(o.trainLimit !== undefined ? { trainLimit: o.trainLimit as number } : {}),
          ...(o.testLimit !== undefined ? { testLimit: o.testLimit as number } : {}),
          probeEpochs: o.probeEpochs as number,
          batchSize: o.batchSize as number,
          ...(o.device !== undefined ? { device: o.device as Device } : {}),
        });
        process.stdout.write(`${formatEvalReport(report)}\n`);
        if (typeof o.json === 'string') {
          const { writeFileAtomic } = await import('../atomic.js');
          await writeFileAtomic(o.json, `${JSON.stringify(report, null, 2)}\n`, 'json');
        }
      }),
    );

  // `byol export`: the encoder as an ONNX model for onnxruntime (export-run.ts, lib/onnx).
  program
    .command('export')
    .description("write the encoder as an ONNX model: input 'images' [N, C, S, S] float32, output 'representation' (what byol embed writes)")
    .requiredOption('--weights <file>', 'encoder weights (encoder.safetensors of a run, torchvision key names)')
    .requiredOption('--out <file.onnx>', 'output file (written atomically)')
    .addOption(new Option('--arch <name>', 'expected encoder (default: read from the weights)').choices(ARCHITECTURES))
    .option('--image-size <px>', "input size (default: the run's, from config.json beside the weights)", integer(8))
    .option('--dynamic-batch', "a symbolic batch size ('batch'): one model runs any batch size")
    .option('--batch-size <n>', 'the fixed batch size without --dynamic-batch', integer(1), 1)
    .option('--opset <n>', 'ONNX opset, 13 to 17 (default 17; IR version 8)', integer(0))
    .addOption(new Option('--batch-norm <mode>', 'BatchNorm folded into the convolutions, or as BatchNormalization nodes').choices(['folded', 'nodes']).default('folded'))
    .option('--include-normalization', 'normalise in the graph (Sub, Div): callers feed [0, 1] pixels instead of normalised images')
    .action(
      action('export', async (o: Record<string, unknown>) => {
        const { runExport } = await import('./export-run.js');
        const s = await runExport({
          weights: o.weights as string,
          out: o.out as string,
          ...(o.arch !== undefined ? { arch: o.arch as ArchitectureName } : {}),
          ...(o.imageSize !== undefined ? { imageSize: o.imageSize as number } : {}),
          dynamicBatch: Boolean(o.dynamicBatch),
          batchSize: o.batchSize as number,
          ...(o.opset !== undefined ? { opset: o.opset as number } : {}),
          batchNorm: o.batchNorm as 'folded' | 'nodes',
          includeNormalization: Boolean(o.includeNormalization),
        });
        process.stdout.write(
          `wrote ${s.architecture} to ${s.path} (${(s.bytes / 2 ** 20).toFixed(1)} MiB, opset ${s.opset}, ${s.nodes} nodes, batch norm ${s.batchNorm}): ` +
            `${s.input.name} [${s.input.shape.join(', ')}] -> ${s.output.name} [${s.output.shape.join(', ')}]` +
            `${s.normalizationInGraph ? ', normalisation in the graph' : `; feed (pixels - mean) / std, mean ${JSON.stringify(s.normalization.mean)}, std ${JSON.stringify(s.normalization.std)}`}\n`,
        );
      }),
    );
  return program;
}

// Run only as the program, not when imported (tests build the program themselves).
const invokedAs = process.argv[1] ?? '';
if (/(?:^|[\\/])(?:byol|main\.js)$/.test(invokedAs)) {
  await buildProgram().parseAsync(process.argv);
}
