#!/usr/bin/env python3
"""byol-pytorch's own training loop, end to end, on the Fashion-MNIST `byol train --dataset fashion-mnist` reads:
the other side of scripts/bench/train_e2e.mjs.

lucidrains/byol-pytorch (byol_pytorch/byol_pytorch.py) rewritten here from its source, not installed and not
copied: the same modules, defaults and order of operations, as its README uses them:

    learner = BYOL(resnet, image_size=IMAGE_SIZE, hidden_layer='avgpool')
    opt = torch.optim.Adam(learner.parameters(), lr=3e-4)
    for images in batches:
        loss = learner(images)
        opt.zero_grad()
        loss.backward()
        opt.step()
        learner.update_moving_average()

What that BYOL does, and this file does the same way:
  - views: its DEFAULT_AUG, applied to the whole batch at once (torchvision transforms draw one set of random
    parameters per call, so every image of a batch gets the same jitter, crop and flip): ColorJitter(0.8, 0.8,
    0.8, 0.2) at p 0.3 (a Python random.random() per call), RandomGrayscale(p 0.2), RandomHorizontalFlip,
    GaussianBlur((3, 3), (1.0, 2.0)) at p 0.2, RandomResizedCrop((size, size)), Normalize(ImageNet mean/std);
    augment2 = augment1.
  - the representation: a forward hook on the named hidden layer ('avgpool') flattens its output; the net still
    runs to its end (torchvision's fc included), as there.
  - the projector, made lazily at the first forward from the representation's width: MLP(dim, 256, 4096) =
    Linear(dim, 4096), BatchNorm1d, ReLU(inplace), Linear(4096, 256). --version 0.9 (its latest source,
    0.9.1, whose default is use_simplicial_embeddings=True): Linear(dim, 256) + BatchNorm1d(256), the simplicial
    embedding (softmax over groups of 8 at temperature 0.1), then MLP(256, 256, 4096). --version 0.8 (the
    default here, 0.8.x): no simplicial embedding, the heads byol-torch has.
  - the predictor MLP(256, 256, 4096); the target = deepcopy of the wrapped online net (encoder + projector)
    made lazily at the first forward (the constructor's mock forward on randn(2, 3, size, size)), requires_grad
    False; both views torch.cat'd into one batch (BatchNorm statistics over both views) for online and target;
    loss = mean(2 - 2 cos(p1, t2) + 2 - 2 cos(p2, t1)).
  - update_moving_average: a Python loop over the parameters, ma.data = ma.data * beta + (1 - beta) * cur.data,
    beta 0.99.
  - the optimizer over learner.parameters() (the target's too: they never get a gradient, Adam skips them).

Data: Debian's dataset-fashion-mnist (train-images-idx3-ubyte.gz, 60,000 28x28 uint8), held in memory as one
tensor, shuffled each epoch (seeded), batches of --batch-size (last partial batch dropped), each batch /255 and
repeated to 3 channels (DEFAULT_AUG's jitter and Normalize need 3; byol train reads the same images as 1
channel and gives the ResNet a 1-channel stem), 28 px in: DEFAULT_AUG's RandomResizedCrop makes the views
--image-size px, as byol train's crops do. This is the fastest way to feed it (no DataLoader workers, no PIL).

Threads: PyTorch's default unless --threads N (torch.set_num_threads). Prints one JSON line: images/s over the
steps after --skip (wall time of those steps: batch, views, forward, backward, Adam, EMA), each step's seconds,
the losses, the thread count.

GPU (scripts/device/check.sh runs it beside scripts/bench/gpu_step.mjs): --device cuda moves the net, hence the
learner, there; --precision bf16|fp16 runs the learner's forward (views and loss included) under torch.autocast, as
a user adds it around `loss = learner(images)` (fp16 with a GradScaler). --synthetic replaces Fashion-MNIST by
random 3-channel images of --source-size px (default --image-size) made on the device, so that the timing is the
loop's alone. The loss is read only after the last step: the images/s span from the end of the skipped steps to
the end of the last, waiting for the device at both ends (per-step seconds on a GPU are launch times). --json-out
FILE also writes the JSON line to FILE.
"""
import argparse
import contextlib
import copy
import gzip
import json
import os
import random
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision import transforms as T


# --- byol-pytorch, rewritten ------------------------------------------------------------------------------


def l2norm(t):
    return F.normalize(t, dim=-1, p=2)


def cosine_loss(x, y):
    return 2 - 2 * (l2norm(x) * l2norm(y)).sum(dim=-1)


class RandomApply(nn.Module):
    """fn(x) with probability p: one Python random draw per call (per batch)."""

    def __init__(self, fn, p):
        super().__init__()
        self.fn, self.p = fn, p

    def forward(self, x):
        return x if random.random() > self.p else self.fn(x)


def mlp(dim, out, hidden):
    return nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))


class Simplicial(nn.Module):
    """Simplicial embedding (Lavoie et al. 2022): softmax over consecutive groups of `simplex` features."""

    def __init__(self, temperature=0.1, simplex=8):
        super().__init__()
        self.temperature, self.simplex = temperature, simplex

    def forward(self, t):
        shape = t.shape
        t = t.reshape(*shape[:-1], shape[-1] // self.simplex, self.simplex)
        return (t / self.temperature).softmax(dim=-1).reshape(shape)


class HookedNet(nn.Module):
    """The net, its hidden layer's output caught by a forward hook, and the projector made at first use."""

    def __init__(self, net, layer, projection_size, hidden_size, simplicial):
        super().__init__()
        self.net, self.layer = net, layer
        self.projection_size, self.hidden_size, self.simplicial = projection_size, hidden_size, simplicial
        self.projector = None
        self.hidden = {}
        self.hooked = False

    def _catch(self, _, inputs, output):
        self.hidden[inputs[0].device] = output.reshape(output.shape[0], -1)

    def representation(self, x):
        if not self.hooked:
            layer = dict(self.net.named_modules()).get(self.layer) if isinstance(self.layer, str) else [*self.net.children()][self.layer]
            assert layer is not None, f"hidden layer ({self.layer}) not found"
            layer.register_forward_hook(self._catch)
            self.hooked = True
        self.hidden.clear()
        self.net(x)
        hidden = self.hidden[x.device]
        self.hidden.clear()
        return hidden

    def _projector(self, hidden):
        if self.projector is None:
            dim = hidden.shape[1]
            if self.simplicial:
                width = 32 * 8  # 32 simplices of 8
                head = mlp(width, self.projection_size, self.hidden_size)
                projector = nn.Sequential(nn.Sequential(nn.Linear(dim, width), nn.BatchNorm1d(width)), Simplicial(), head)
            else:
                projector = mlp(dim, self.projection_size, self.hidden_size)
            self.projector = projector.to(hidden)
        return self.projector

    def forward(self, x):
        r = self.representation(x)
        return self._projector(r)(r), r


class BYOL(nn.Module):
    def __init__(self, net, image_size, hidden_layer=-2, projection_size=256, projection_hidden_size=4096,
                 moving_average_decay=0.99, simplicial=False):
        super().__init__()
        self.net = net
        self.augment1 = nn.Sequential(
            RandomApply(T.ColorJitter(0.8, 0.8, 0.8, 0.2), p=0.3),
            T.RandomGrayscale(p=0.2),
            T.RandomHorizontalFlip(),
            RandomApply(T.GaussianBlur((3, 3), (1.0, 2.0)), p=0.2),
            T.RandomResizedCrop((image_size, image_size)),
            T.Normalize(mean=torch.tensor([0.485, 0.456, 0.406]), std=torch.tensor([0.229, 0.224, 0.225])),
        )
        self.augment2 = self.augment1
        self.online_encoder = HookedNet(net, hidden_layer, projection_size, projection_hidden_size, simplicial)
        self.target_encoder = None
        self.beta = moving_average_decay
        self.online_predictor = mlp(projection_size, projection_size, projection_hidden_size)
        device = next(net.parameters()).device
        self.to(device)
        self.forward(torch.randn(2, 3, image_size, image_size, device=device))  # makes projector and target

    def _target(self):
        if self.target_encoder is None:
            self.target_encoder = copy.deepcopy(self.online_encoder)
            for p in self.target_encoder.parameters():
                p.requires_grad = False
        return self.target_encoder

    def update_moving_average(self):
        for cur, ma in zip(self.online_encoder.parameters(), self.target_encoder.parameters()):
            old, new = ma.data, cur.data
            ma.data = old * self.beta + (1 - self.beta) * new

    def forward(self, x):
        image_one, image_two = self.augment1(x), self.augment2(x)
        images = torch.cat((image_one, image_two), dim=0)
        online_projections, _ = self.online_encoder(images)
        online_predictions = self.online_predictor(online_projections)
        pred_one, pred_two = online_predictions.chunk(2, dim=0)
        with torch.no_grad():
            target_projections, _ = self._target()(images)
            target_projections = target_projections.detach()
            target_one, target_two = target_projections.chunk(2, dim=0)
        loss = cosine_loss(pred_one, target_two.detach()) + cosine_loss(pred_two, target_one.detach())
        return loss.mean()


# --- data and the loop ------------------------------------------------------------------------------------


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, h, w = struct.unpack(">IIII", data[:16])
    assert magic == 0x00000803, f"{path}: not an IDX uint8 rank-3 file"
    return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).reshape(n, 1, h, w)


def batches(images, batch_size, generator, device):
    while True:
        order = torch.randperm(images.shape[0], generator=generator)
        for i in range(0, images.shape[0] - batch_size + 1, batch_size):
            yield images[order[i:i + batch_size]].to(device).float().div_(255).repeat(1, 3, 1, 1)


def synthetic_batches(batch_size, size, device, generator):
    """Random RGB images in [0, 1], made once on the device: two batches taken in turn."""
    pool = torch.rand(2 * batch_size, 3, size, size, generator=generator).to(device)
    while True:
        yield pool[:batch_size]
        yield pool[batch_size:]


AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-root", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--skip", type=int, default=5, help="warm-up steps left out of images/s")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--version", default="0.8", choices=["0.8", "0.9"],
                   help="byol-pytorch's defaults: 0.8.x, or 0.9.1 (simplicial embedding in the projector)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads; default: PyTorch's own")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", default="fp32", choices=sorted(AUTOCAST_DTYPES), help="autocast dtype of the forward")
    p.add_argument("--synthetic", action="store_true", help="random images made on the device instead of Fashion-MNIST")
    p.add_argument("--source-size", type=int, default=None, help="--synthetic images' side (default --image-size)")
    p.add_argument("--json-out", default=None, help="also write the JSON line to this file")
    a = p.parse_args()
    if a.skip >= a.steps:
        p.error("--skip must be less than --steps")
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {a.device}: torch {torch.__version__} sees no CUDA device")
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    device = torch.device(a.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    autocast_dtype = AUTOCAST_DTYPES[a.precision]

    def autocast():
        return contextlib.nullcontext() if autocast_dtype is None else torch.autocast(device_type=device.type, dtype=autocast_dtype)

    generator = torch.Generator().manual_seed(a.seed)
    if a.synthetic:
        images = None
        data = synthetic_batches(a.batch_size, a.source_size or a.image_size, device, generator)
    else:
        images = read_idx_images(os.path.join(a.data_root, "train-images-idx3-ubyte.gz"))
        data = batches(images, a.batch_size, generator, device)
    resnet = getattr(torchvision.models, a.arch)().to(device)
    # Outside autocast, as a user builds it: its projector takes the dtype of the mock forward's representation.
    learner = BYOL(resnet, image_size=a.image_size, hidden_layer="avgpool", simplicial=a.version == "0.9")
    opt = torch.optim.Adam(learner.parameters(), lr=a.lr)
    scaler = torch.cuda.amp.GradScaler() if a.precision == "fp16" else None

    seconds, losses = [], []
    for step in range(a.steps):
        if step == a.skip:
            sync()
            measured_from = time.perf_counter()
        t0 = time.perf_counter()
        batch = next(data)
        with autocast():
            loss = learner(batch)
        opt.zero_grad()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        learner.update_moving_average()
        losses.append(loss.detach())
        seconds.append(time.perf_counter() - t0)
    sync()
    measured = time.perf_counter() - measured_from
    losses = [x.item() for x in losses]
    result = {
        "side": "byol-pytorch's loop", "device": a.device, "precision": a.precision, "arch": a.arch,
        "imageSize": a.image_size, "batchSize": a.batch_size,
        "imagesPerSecond": a.batch_size * (a.steps - a.skip) / measured,
        "threads": torch.get_num_threads(), "torch": torch.__version__, "torchvision": torchvision.__version__,
        "version": a.version, "images": "synthetic" if images is None else images.shape[0], "seconds": seconds, "losses": losses,
    }
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
