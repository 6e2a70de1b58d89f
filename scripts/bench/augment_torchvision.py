"""Baselines for scripts/bench/augment.ts: BYOL's two views with torchvision in PyTorch Python.

Usage: augment_torchvision.py --batch 256 --size 96 --threads N --repeats R [--json]

Measures, on a batch of uint8 NHWC images (what decoders produce), both views of BYOL
(bicubic crop; view 1: blur p 1.0, solarize p 0.0; view 2: blur p 0.1, solarize p 0.2; crop, flip, jitter p 0.8
(0.4, 0.4, 0.2, 0.1), grayscale p 0.2, blur sigma U(0.1, 2.0) kernel ~10% of the side, normalize):
  per-image   torchvision.transforms applied image by image (each image its own draw), on uint8 tensors
              as a torchvision input pipeline would, then normalized float;
  batch-wide  the same transforms applied once to the whole batch tensor (one draw per batch, like
              byol-pytorch).
Prints images/s (both views count each image once: images of the batch per second).
"""
import argparse
import json
import time

import torch
import torchvision.transforms as T


def view(size, blur_p, solarize_p, kernel):
    return T.Compose([
        T.RandomResizedCrop((size, size), scale=(0.08, 1.0), interpolation=T.InterpolationMode.BICUBIC,
                            antialias=False),
        T.RandomHorizontalFlip(0.5),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        T.RandomGrayscale(0.2),
        T.RandomApply([T.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=blur_p),
        T.RandomSolarize(128, p=solarize_p),
        T.ConvertImageDtype(torch.float32),
        T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    kernel = int(0.1 * args.size) | 1
    views = [view(args.size, 1.0, 0.0, kernel), view(args.size, 0.1, 0.2, kernel)]
    images = torch.randint(0, 256, (args.batch, args.size, args.size, 3), dtype=torch.uint8)

    def per_image():
        chw = images.permute(0, 3, 1, 2)
        return [torch.stack([v(chw[i]) for i in range(args.batch)]) for v in views]

    def batch_wide():
        chw = images.permute(0, 3, 1, 2).contiguous()
        return [v(chw) for v in views]

    results = {}
    for name, fn in (("per-image", per_image), ("batch-wide", batch_wide)):
        fn()  # warm-up
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - start)
        assert out[0].shape == (args.batch, 3, args.size, args.size) and out[0].dtype == torch.float32
        results[name] = args.batch / best
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), **results}))
    else:
        for name, rate in results.items():
            print(f"torchvision {name}: {rate:.0f} images/s")


if __name__ == "__main__":
    main()
