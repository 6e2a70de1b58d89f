"""PyTorch side of the EMA benchmark, driven by scripts/bench/ema.mjs (which interleaves it with its own
measurements, so that load changes on a shared machine hit both sides alike).

Builds the parameter set of torchvision's ResNet-50 (with its fc, as byol-pytorch's target encoder keeps it)
plus BYOL's projector MLP 2048 -> 4096 (BatchNorm1d, ReLU) -> 256, and on request times, on the same LibTorch
and thread count:
  byol    byol-pytorch's update: per parameter, ma.data = old * beta + (1 - beta) * new (allocates every step)
  foreach torch._foreach_mul_(targets, beta) + torch._foreach_add_(targets, sources, alpha=1 - beta)
  copy    dst.copy_(src) over a buffer as large as the parameter set
Protocol: prints one JSON line {"shapes", "numel", "torch", "threads", "device"}; then reads lines
"<method> <iterations> [inner]" from stdin and answers each with one JSON line {"ms": [...]}: each entry the mean
time of `inner` (default 1) back-to-back calls between two synchronisations (on a GPU one call of a copy takes tens
of microseconds, as long as a synchronisation: `inner` calls amortise it); "quit" ends it.
--model resnet18 gives a smaller parameter set (the dry run of scripts/device/check.sh).
"""
import argparse
import json
import sys
import time

import torch
import torchvision


def parameter_shapes(model="resnet50"):
    resnet = getattr(torchvision.models, model)()
    width = resnet.fc.in_features
    projector = torch.nn.Sequential(
        torch.nn.Linear(width, 4096), torch.nn.BatchNorm1d(4096), torch.nn.ReLU(inplace=True),
        torch.nn.Linear(4096, 256))
    return [list(p.shape) for p in list(resnet.parameters()) + list(projector.parameters())]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--tau", type=float, default=0.996)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="resnet50", choices=["resnet18", "resnet50"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    shapes = parameter_shapes(args.model)
    numel = sum(torch.Size(s).numel() for s in shapes)
    online = [torch.nn.Parameter(torch.randn(s, device=device)) for s in shapes]
    target = [torch.nn.Parameter(torch.randn(s, device=device), requires_grad=False) for s in shapes]
    beta = args.tau

    def byol_pytorch():
        # lucidrains/byol-pytorch: update_moving_average -> EMA.update_average, per parameter
        for current_params, ma_params in zip(online, target):
            old_weight, up_weight = ma_params.data, current_params.data
            ma_params.data = old_weight * beta + (1 - beta) * up_weight

    targets = [p.data for p in target]
    sources = [p.data for p in online]

    def foreach():
        with torch.no_grad():
            torch._foreach_mul_(targets, beta)
            torch._foreach_add_(targets, sources, alpha=1 - beta)

    src = torch.randn(numel, device=device)
    dst = torch.empty(numel, device=device)
    methods = {"byol": byol_pytorch, "foreach": foreach, "copy": lambda: dst.copy_(src)}

    print(json.dumps({"shapes": shapes, "numel": numel, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "device": str(device)}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        fn, iterations = methods[words[0]], int(words[1])
        inner = int(words[2]) if len(words) > 2 else 1
        times = []
        for _ in range(iterations):
            sync()
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            sync()
            times.append((time.perf_counter() - start) * 1e3 / inner)
        print(json.dumps({"ms": times}), flush=True)


if __name__ == "__main__":
    main()
