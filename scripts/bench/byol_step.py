#!/usr/bin/env python3
"""The PyTorch side of scripts/bench/byol_step.mjs: one whole BYOL training step (forward of both views
through online and target networks, symmetric loss, backward, Adam step, EMA of the target) in eager
PyTorch, on the same LibTorch and thread count as byol-torch.

Variants (all get the same pre-augmented views: augmentation is not part of these steps):
  a            byol-pytorch's way (lucidrains/byol-pytorch, rewritten here, not installed): torchvision
               ResNet (--arch, default resnet50) with fc = Identity, projector/predictor
               Linear(rep, hidden)-BN1d-ReLU-Linear(hidden, proj) (default 4096 and 256: rep 2048 -> 4096 -> 256),
               target = deepcopy of encoder + projector, both views torch.cat'd into one batch (so BatchNorm
               statistics are over both views), contiguous, Adam lr 3e-4, EMA by the per-parameter loop
               `ma.data = old * beta + (1 - beta) * new`.
  b_contiguous the same algorithm as byol-torch: each view its own pass (BatchNorm statistics per view),
  b_channels_last  contiguous or channels-last; EMA with torch._foreach_mul_/_foreach_add_.

Server mode (default): reads commands on stdin, one per line, and answers one line each:
  "<variant>"  runs one step, prints "<wall s> <process cpu s> <loss>"
  "peak"       times fp32 1024^3 matrix products, prints "<torch.mm GFLOP/s> <oneDNN 1x1-conv GEMM GFLOP/s>"
  "quit"
The first line printed is a JSON object: setup, plus forward multiply-adds per image (hook count).
One-shot mode (--one VARIANT): warm-up + measured steps, prints a JSON line with images/s (median step),
process CPU ms per image, the last loss, the thread count and peak RSS. --peak and --macs: one-shot, print the
matmul peak ({"mm", "onednn"} GFLOP/s, best of --peak-rounds x 8 products) or the forward multiply-adds per
image as one JSON line.

Threads: --threads N calls torch.set_num_threads(N); without it the process keeps PyTorch's own default (what a
user gets: 1 thread on the 2-vCPU machines these benchmarks ran on), and prints it. OMP_WAIT_POLICY is never set
here; the side-by-side server mode of byol_step.mjs sets it for both of its processes (see there).

GPU (scripts/device/check.sh runs this beside scripts/bench/gpu_step.mjs): --device cuda puts the networks, the
optimizer state and the views there; --precision bf16|fp16 runs forward and loss under torch.autocast (fp16 with a
GradScaler), weights and Adam state stay float32. With --rounds R the one-shot mode times R rounds of --iters steps
each and reads the loss only at a round's end (a GPU runs ahead between reads, as byol-torch's step lets it);
imagesPerSecond is then the median round. --json-out FILE also writes the JSON line to FILE.
"""
import argparse
import contextlib
import copy
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def mlp(dim, hidden=4096, out=256):
    return nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))


def byol_loss(x, y):
    return 2 - 2 * (F.normalize(x, dim=-1) * F.normalize(y, dim=-1)).sum(dim=-1)


def make_encoder(arch, channels):
    """torchvision's ResNet with fc = Identity (the representation is avgpool's output); 1 input channel
    replaces conv1 (as byol-torch's resnet(depth, { inChannels: 1 }))."""
    enc = getattr(torchvision.models, arch)()
    if channels != 3:
        enc.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    enc.fc = nn.Identity()
    return enc


REPRESENTATION = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}


AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Setup:
    def __init__(self, variant, batch, size, arch="resnet50", channels=3, hidden=4096, proj=256, lr=3e-4,
                 device="cpu", precision="fp32"):
        self.variant = variant
        self.channels_last = variant == "b_channels_last"
        self.device = torch.device(device)
        self.autocast_dtype = AUTOCAST_DTYPES[precision]
        # fp16 needs its gradients scaled (bf16 has float32's range and does not).
        self.scaler = torch.cuda.amp.GradScaler() if precision == "fp16" else None
        mf = torch.channels_last if self.channels_last else torch.contiguous_format
        self.encoder = make_encoder(arch, channels).to(self.device, memory_format=mf)
        self.projector = mlp(REPRESENTATION[arch], hidden, proj).to(self.device)
        self.predictor = mlp(proj, hidden, proj).to(self.device)
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_projector = copy.deepcopy(self.projector)
        for p in list(self.target_encoder.parameters()) + list(self.target_projector.parameters()):
            p.requires_grad_(False)
        self.online = list(self.encoder.parameters()) + list(self.projector.parameters())
        self.target = list(self.target_encoder.parameters()) + list(self.target_projector.parameters())
        params = self.online + list(self.predictor.parameters())
        self.opt = torch.optim.Adam(params, lr=lr)
        self.v1 = torch.rand(batch, channels, size, size, device=self.device).contiguous(memory_format=mf)
        self.v2 = torch.rand(batch, channels, size, size, device=self.device).contiguous(memory_format=mf)
        self.beta = 0.99

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def step(self, read_loss=True):
        """One step; returns the loss as a float (read_loss, which waits for a GPU) or as a tensor on the device."""
        self.opt.zero_grad()
        with self.autocast():
            loss = self.losses()
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            self.opt.step()
        self.update_target()
        return loss.item() if read_loss else loss.detach()

    def losses(self):
        if self.variant == "a":
            images = torch.cat((self.v1, self.v2), dim=0)
            proj = self.projector(self.encoder(images))
            p1, p2 = self.predictor(proj).chunk(2, dim=0)
            with torch.no_grad():
                t1, t2 = self.target_projector(self.target_encoder(images)).chunk(2, dim=0)
        else:
            p1 = self.predictor(self.projector(self.encoder(self.v1)))
            p2 = self.predictor(self.projector(self.encoder(self.v2)))
            with torch.no_grad():
                t1 = self.target_projector(self.target_encoder(self.v1))
                t2 = self.target_projector(self.target_encoder(self.v2))
        return (byol_loss(p1, t2) + byol_loss(p2, t1)).mean()

    def update_target(self):
        with torch.no_grad():
            if self.variant == "a":
                # byol-pytorch's update_moving_average: a Python loop over the parameters
                for cur, ma in zip(self.online, self.target):
                    old, new = ma.data, cur.data
                    ma.data = old * self.beta + (1 - self.beta) * new
            else:
                torch._foreach_mul_(self.target, self.beta)
                torch._foreach_add_(self.target, self.online, alpha=1 - self.beta)


def forward_macs(size, arch="resnet50", channels=3, hidden=4096, proj_size=256):
    """Multiply-adds of one image's forward pass (Conv2d and Linear only), by forward hooks."""
    enc = make_encoder(arch, channels)
    proj, pred = mlp(REPRESENTATION[arch], hidden, proj_size), mlp(proj_size, hidden, proj_size)
    counts = {"n": 0}

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            counts["n"] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            counts["n"] += out.numel() * m.in_features

    for net in (enc, proj, pred):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.register_forward_hook(hook)
    for net in (enc, proj, pred):
        net.eval()
    with torch.no_grad():
        r = enc(torch.zeros(1, channels, size, size))
        encoder = counts["n"]
        z = proj(r)
        projector = counts["n"] - encoder
        pred(z)
        predictor = counts["n"] - encoder - projector
    return {"encoder": encoder, "projector": projector, "predictor": predictor}


def peak_gflops(n=1024, reps=8):
    """Best single fp32 n x n x n matrix product of `reps` (the machine is shared: the best is the least
    disturbed), two ways: torch.mm (this LibTorch's BLAS, libblas.so.3: OpenBLAS or the reference BLAS) and the same GEMM
    as a 1x1 convolution, which runs in oneDNN (the library the convolutions use). Returns (mm, onednn)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.empty(n, n)
    x, w = torch.randn(1, n, 32, n // 32), torch.randn(n, n, 1, 1)

    def best(fn):
        fn()
        t = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            t = min(t, time.perf_counter() - t0)
        return 2 * n ** 3 / t / 1e9

    return best(lambda: torch.mm(a, b, out=c)), best(lambda: torch.conv2d(x, w))


def peak_rss_mib():
    """VmHWM of this process image (getrusage's maxrss is carried over exec from the parent on Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_json_out(a, result):
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


def time_rounds(a, info, model):
    """--one V --rounds R: warm-up steps, then R rounds of --iters steps, the loss read once per round (on a GPU
    that read waits for the round's work); images/s of the median round."""
    s = Setup(a.one, a.batch, a.size, lr=a.lr, device=a.device, precision=a.precision, **model)
    sync = torch.cuda.synchronize if s.device.type == "cuda" else (lambda: None)
    for _ in range(a.warmup):
        loss = s.step(read_loss=False)
    sync()
    rates = []
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        for _ in range(a.iters):
            loss = s.step(read_loss=False)
        value = loss.item()
        sync()
        rates.append(a.batch * a.iters / (time.perf_counter() - t0))
    if value != value or value in (float("inf"), float("-inf")):
        raise SystemExit(f"the loss is {value}: the figures would mean nothing")
    result = {**info, "side": f"PyTorch eager {a.one}", "device": a.device, "precision": a.precision, "batch": a.batch,
              "size": a.size, "iters": a.iters, "rounds": a.rounds, "imagesPerSecond": sorted(rates)[len(rates) // 2],
              "roundImagesPerSecond": rates, "loss": value}
    write_json_out(a, result)
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads; default: PyTorch's own")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--arch", default="resnet50", choices=sorted(REPRESENTATION))
    p.add_argument("--channels", type=int, default=3, choices=[1, 3])
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--proj", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--peak", action="store_true", help="one-shot: print the matmul peak as JSON")
    p.add_argument("--peak-rounds", type=int, default=3)
    p.add_argument("--macs", action="store_true", help="one-shot: print forward multiply-adds per image as JSON")
    p.add_argument("--variants", default="a,b_contiguous,b_channels_last")
    p.add_argument("--one", default=None, help="one-shot mode: this variant only")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", default="fp32", choices=sorted(AUTOCAST_DTYPES), help="autocast dtype of forward and loss")
    p.add_argument("--rounds", type=int, default=0,
                   help="one-shot: time ROUNDS rounds of --iters steps, reading the loss at each round's end only")
    p.add_argument("--json-out", default=None, help="one-shot: also write the JSON line to this file")
    a = p.parse_args()
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {a.device}: torch {torch.__version__} sees no CUDA device")
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    info = {"threads": torch.get_num_threads(), "torch": torch.__version__, "torchvision": torchvision.__version__}
    model = dict(arch=a.arch, channels=a.channels, hidden=a.hidden, proj=a.proj)
    if a.peak:
        rounds = [peak_gflops() for _ in range(a.peak_rounds)]
        print(json.dumps({**info, "mm": max(r[0] for r in rounds), "onednn": max(r[1] for r in rounds),
                          "onednnRounds": [r[1] for r in rounds]}), flush=True)
        return
    if a.macs:
        print(json.dumps({**info, "macs": forward_macs(a.size, a.arch, a.channels, a.hidden, a.proj)}), flush=True)
        return
    if a.one and a.rounds > 0:
        print(json.dumps(time_rounds(a, info, model)), flush=True)
        return
    if a.one:
        s = Setup(a.one, a.batch, a.size, lr=a.lr, device=a.device, precision=a.precision, **model)
        for _ in range(a.warmup):
            s.step()
        walls, cpus = [], []
        for _ in range(a.iters):
            t0 = time.perf_counter()
            c0 = time.process_time()
            loss = s.step()
            cpus.append(time.process_time() - c0)
            walls.append(time.perf_counter() - t0)
        wall, cpu = sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]
        result = {**info, "imagesPerSecond": a.batch / wall, "cpuMsPerImage": 1000 * cpu / a.batch,
                  "loss": loss, "walls": walls, "maxRssMiB": peak_rss_mib()}
        write_json_out(a, result)
        print(json.dumps(result), flush=True)
        return
    setups = {v: Setup(v, a.batch, a.size, lr=a.lr, device=a.device, precision=a.precision, **model) for v in a.variants.split(",")}
    print(json.dumps({**info, "macs": forward_macs(a.size, a.arch, a.channels, a.hidden, a.proj)}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "peak":
            print(*peak_gflops(), flush=True)
            continue
        t0 = time.perf_counter()
        c0 = time.process_time()
        loss = setups[cmd[0]].step()
        print(time.perf_counter() - t0, time.process_time() - c0, loss, flush=True)


if __name__ == "__main__":
    main()
