// A BYOL step on the GPU in every precision: ResNet-18 on small images, `learner.step(images, adam)` (views made on
// the GPU, forward, backward, Adam, EMA in one job). The loss is finite, the online weights move, the target
// follows by the EMA, and the learner reports the precision it was asked for (a precision silently ignored would
// pass every other check here).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, device, maxAbsDiff, onDevice, values, withoutCuda } from './cuda-env.mjs';

const { Adam, BYOL, addonPath, manualSeed, rand, resnet18 } = api;

test('the addon loaded is the one the check pointed at', { skip: withoutCuda }, () => {
  if (process.env.BYOL_TORCH_BINARY) assert.equal(addonPath(), process.env.BYOL_TORCH_BINARY);
  assert.ok(api.libtorchInfo().cudaBuilt, 'the addon was built against a CUDA LibTorch');
});

for (const precision of ['fp32', 'bf16', 'fp16']) {
  test(`a ${precision} step on CUDA: finite loss, weights that move`, { skip: withoutCuda }, async () => {
    manualSeed(1);
    const net = resnet18({ classifier: false }).to(device).channelsLast();
    const learner = new BYOL(net, { imageSize: 32, precision, projectionHiddenSize: 512, projectionSize: 128, totalSteps: 10, seed: 3 });
    assert.equal(learner.options.precision, precision, 'learner.options.precision: the precision asked for');
    const optimizer = new Adam(learner.parameters(), { lr: 1e-3 });
    const images = rand([16, 3, 40, 40], { device });
    const [name, online] = learner.namedParameters()[0];
    const target = learner.modules().targetEncoder?.parameters()[0];
    assert.ok(target, 'the learner has a target encoder');
    assert.match(online.device, onDevice, `${name} lives on the GPU`);
    const onlineBefore = values(online.cpu());
    const targetBefore = values(target.cpu());
    const losses = [];
    for (let i = 0; i < 3; i++) losses.push((await learner.step(images, optimizer)).loss);
    assert.ok(losses.every(Number.isFinite), `losses ${losses.join(', ')} should be finite`);
    const onlineAfter = values(online.cpu());
    assert.ok(onlineAfter.every(Number.isFinite), `${name}: finite after the steps`);
    assert.ok(maxAbsDiff(onlineAfter, onlineBefore) > 0, `${name}: the online weights moved`);
    assert.ok(maxAbsDiff(values(target.cpu()), targetBefore) > 0, 'the target followed by the EMA');
  });
}
