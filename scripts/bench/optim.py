"""PyTorch side of scripts/bench/optim.mjs: one optimizer step over ResNet-50 + BYOL heads' parameters.

Usage: optim.py THREADS REPEATS  -> JSON {"torch", "threads", "shapes", "ms": {name: median ms}}
Parameters and grads are random (values do not change the cost). LARS has no torch.optim class; it is written
here the way a PyTorch user would (a per-parameter loop of tensor ops, DeepMind's formula).
"""
import json
import statistics
import sys
import time

import torch
import torchvision


def byol_parameters():
    net = torchvision.models.resnet50()
    net.fc = torch.nn.Identity()
    def mlp(d_in, hidden, d_out):
        return torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.BatchNorm1d(hidden), torch.nn.ReLU(),
                                   torch.nn.Linear(hidden, d_out))
    heads = [mlp(2048, 4096, 256), mlp(256, 4096, 256)]  # projector, predictor
    return [p for m in [net, *heads] for p in m.parameters()]


class LARS:
    def __init__(self, params, lr, weight_decay, momentum=0.9, eta=1e-3):
        self.params, self.lr, self.wd, self.momentum, self.eta = params, lr, weight_decay, momentum, eta
        self.buffers = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self):
        for p, m in zip(self.params, self.buffers):
            if p.grad is None:
                continue
            excluded = p.ndim <= 1
            u = p.grad if excluded else p.grad.add(p, alpha=self.wd)
            if not excluded:
                pn, un = torch.norm(p), torch.norm(u)
                ratio = torch.where((pn > 0) & (un > 0), self.eta * pn / un, torch.ones_like(pn))
                u = u * ratio
            m.mul_(self.momentum).add_(u)
            p.add_(m, alpha=-self.lr)


def time_steps(opt, repeats):
    opt.step()  # creates the state
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        opt.step()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    threads, repeats = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(threads)
    params = byol_parameters()
    for p in params:
        p.grad = torch.randn_like(p)
    ms = {}
    ms["sgd"] = time_steps(torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-6, foreach=False), repeats)
    ms["sgd_foreach"] = time_steps(torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-6, foreach=True), repeats)
    ms["adam"] = time_steps(torch.optim.Adam(params, lr=3e-4, foreach=False), repeats)
    ms["adam_foreach"] = time_steps(torch.optim.Adam(params, lr=3e-4, foreach=True), repeats)
    ms["adamw"] = time_steps(torch.optim.AdamW(params, lr=3e-4, foreach=False), repeats)
    ms["lars"] = time_steps(LARS(params, lr=0.2, weight_decay=1.5e-6), repeats)
    shapes = [list(p.shape) for p in params]
    json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "shapes": shapes, "ms": ms}, sys.stdout)


if __name__ == "__main__":
    main()
