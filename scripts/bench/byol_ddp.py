"""One rank of PyTorch's data-parallel BYOL step for scripts/bench/data_parallel.mjs: DistributedDataParallel over
Gloo (the launcher sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), local BatchNorm (SyncBatchNorm's kernels are
CUDA-only in PyTorch 1.13), byol-pytorch's way (both views in one batch, the target's EMA as a Python loop):
ResNet-50, projector/predictor 2048-4096-256, Adam 3e-4, pre-augmented views, the global batch split over the
ranks. Thread count: PyTorch's default. Rank 0 prints one JSON line: images/s of the group (median step).

  python3 byol_ddp.py --batch 16 --size 64 --warmup 2 --iters 5
"""
import argparse
import copy
import json
import os
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from byol_step import REPRESENTATION, byol_loss, make_encoder, mlp  # noqa: E402


class Online(torch.nn.Module):
    def __init__(self, arch, hidden, proj):
        super().__init__()
        self.encoder = make_encoder(arch, 3)
        self.projector = mlp(REPRESENTATION[arch], hidden, proj)
        self.predictor = mlp(proj, hidden, proj)

    def forward(self, images):
        projections = self.projector(self.encoder(images))
        return self.predictor(projections)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    a = p.parse_args()
    dist.init_process_group("gloo")
    world, rank = dist.get_world_size(), dist.get_rank()
    share = a.batch // world
    torch.manual_seed(0)
    online = Online("resnet50", 4096, 256)
    target_encoder = copy.deepcopy(online.encoder)
    target_projector = copy.deepcopy(online.projector)
    for t in list(target_encoder.parameters()) + list(target_projector.parameters()):
        t.requires_grad_(False)
    model = DistributedDataParallel(online)  # broadcasts rank 0's weights
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    sources = list(online.encoder.parameters()) + list(online.projector.parameters())
    targets = list(target_encoder.parameters()) + list(target_projector.parameters())
    v1 = torch.rand(share, 3, a.size, a.size)
    v2 = torch.rand(share, 3, a.size, a.size)

    def step():
        opt.zero_grad()
        images = torch.cat((v1, v2), dim=0)
        p1, p2 = model(images).chunk(2, dim=0)
        with torch.no_grad():
            t1, t2 = target_projector(target_encoder(images)).chunk(2, dim=0)
        loss = (byol_loss(p1, t2) + byol_loss(p2, t1)).mean()
        loss.backward()  # DDP all-reduces the gradients in buckets during backward
        opt.step()
        with torch.no_grad():
            for cur, ma in zip(sources, targets):
                ma.data = ma.data * 0.99 + 0.01 * cur.data
        return loss.item()

    ms = []
    for i in range(a.warmup + a.iters):
        t = time.perf_counter()
        step()
        if i >= a.warmup:
            ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    if rank == 0:
        print(json.dumps({"world": world, "threads": torch.get_num_threads(), "imagesPerSecond": a.batch * 1000 / ms[len(ms) // 2],
                          "stepMs": ms[len(ms) // 2]}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
