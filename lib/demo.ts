// `npm run demo`: until the BYOL trainer lands, a smoke run of the foundation: LibTorch facts, threads,
// devices, and a small forward/backward pass of a two-layer network on the executor.
import { cuda, getNumThreads, libtorchInfo, manualSeed, randn, tidy } from './index.js';

async function main(): Promise<void> {
  const info = libtorchInfo();
  console.log(`byol-torch smoke run`);
  console.log(`  LibTorch ${info.libtorch} (${info.torchSource}), oneDNN ${info.mkldnn ? 'on' : 'off'}`);
  console.log(`  threads: ${getNumThreads()} of ${info.cores} cores`);
  console.log(`  devices: cpu${cuda.isAvailable() ? `, cuda x${cuda.deviceCount()}` : ' (no CUDA device)'}`);

  manualSeed(0);
  await tidy(async () => {
    const x = randn([64, 256]);
    const w1 = randn([256, 128]).mul(1 / 16).requiresGrad_();
    const w2 = randn([128, 10]).mul(1 / 11).requiresGrad_();
    const start = performance.now();
    const hidden = (await x.matmul(w1)).relu();
    const out = await hidden.matmul(w2);
    const loss = out.pow(2).mean();
    await loss.backward();
    const ms = performance.now() - start;
    const gradNorm = w1.grad!.pow(2).sum().sqrt().item();
    console.log(`  forward/backward of a 256-128-10 MLP on 64 samples: loss ${loss.item().toFixed(4)}, ` +
      `|dL/dW1| ${gradNorm.toFixed(4)}, ${ms.toFixed(1)} ms`);
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
