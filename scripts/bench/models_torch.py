#!/usr/bin/env python3
"""The PyTorch side of scripts/bench/models.mjs: torchvision ResNet-50 training steps (forward + backward)
and inference (no grad), contiguous and channels-last.

Runs as a server so the two sides can alternate iterations under the same machine load: reads one
command per line on stdin, "<work> <format>" (work: train|infer, format: contiguous|channels_last), runs
one step and prints its wall-clock seconds and the CPU seconds of the process (all threads); "quit" ends. The first line printed is a JSON object describing the setup."""
import argparse
import json
import sys
import time

import torch
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    models, inputs = {}, {}
    for fmt in ("contiguous", "channels_last"):
        mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
        models[fmt] = torchvision.models.resnet50().to(memory_format=mf)
        inputs[fmt] = torch.randn(a.batch, 3, a.size, a.size).contiguous(memory_format=mf)
    print(json.dumps({"threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        work, fmt = cmd
        model, x = models[fmt], inputs[fmt]
        t0 = time.perf_counter()
        c0 = time.process_time()
        if work == "train":
            model.train()
            model.zero_grad()
            model(x).mean().backward()
        else:
            model.eval()
            with torch.no_grad():
                model(x)
        print(time.perf_counter() - t0, time.process_time() - c0, flush=True)


if __name__ == "__main__":
    main()
