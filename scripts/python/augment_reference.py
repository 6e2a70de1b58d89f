"""Reference outputs of torchvision.transforms.functional for byol-torch's augmentation tests.

Usage: augment_reference.py OUT_DIR

Writes OUT_DIR/manifest.txt and, per case, NAME.in.f32 / NAME.out.f32 (raw little-endian float32, NCHW).
Each case applies one operation with fixed per-image parameters, image by image, with torchvision on float
tensors. manifest.txt:
    case NAME OP N C H W OUT_H OUT_W INTERP ANTIALIAS K_H K_W
    image TOP LEFT CROP_H CROP_W FLIP BRIGHTNESS CONTRAST SATURATION HUE O0 O1 O2 O3 SIGMA   (N lines)
Exit status 3 when torchvision is missing (the tests then skip and say so).
"""
import os
import sys

try:
    import torch
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode
except ImportError as error:  # pragma: no cover
    print(f"augment_reference.py: torchvision is not importable ({error})", file=sys.stderr)
    sys.exit(3)

JITTER = ["brightness", "contrast", "saturation", "hue"]


def default_params():
    return dict(top=0, left=0, ch=0, cw=0, flip=0, b=1.0, c=1.0, s=1.0, hue=0.0, order=[0, 1, 2, 3], sigma=1.0)


def images(gen, n, c, h, w, quantize=True):
    x = torch.rand(n, c, h, w, generator=gen)
    if quantize:
        # Half the pixels on the uint8 grid, so ties (max == min, max == r == g) occur as in decoded images.
        q = torch.round(x * 255) / 255
        x = torch.where(torch.rand(n, 1, h, w, generator=gen) < 0.5, q, x)
        # A few pure grays, pure colours, black and white pixels.
        x[:, :, 0, 0] = 0.0
        x[:, :, 0, 1] = 1.0
        x[:, :, 1, 0] = 0.5
        if c == 3:
            x[:, :, 1, 1] = torch.tensor([1.0, 0.0, 0.0])
            x[:, :, 1, 2] = torch.tensor([0.0, 1.0, 0.0])
            x[:, :, 2, 1] = torch.tensor([0.0, 0.0, 1.0])
            x[:, :, 2, 2] = torch.tensor([1.0, 1.0, 0.0])
            x[:, :, 0, 2] = torch.tensor([0.2, 0.2, 0.7])
    return x


def write_case(out_dir, manifest, name, op, x, y, params, out_hw=None, interp="bilinear", antialias=0, k=(0, 0)):
    n, c, h, w = x.shape
    oh, ow = out_hw if out_hw else (h, w)
    assert y.shape == (n, c, oh, ow), (name, y.shape)
    x.contiguous().numpy().astype("<f4").tofile(os.path.join(out_dir, f"{name}.in.f32"))
    y.contiguous().numpy().astype("<f4").tofile(os.path.join(out_dir, f"{name}.out.f32"))
    manifest.append(f"case {name} {op} {n} {c} {h} {w} {oh} {ow} {interp} {antialias} {k[0]} {k[1]}")
    for p in params:
        manifest.append(
            "image {top} {left} {ch} {cw} {flip} {b!r} {c!r} {s!r} {hue!r} {o0} {o1} {o2} {o3} {sigma!r}".format(
                o0=p["order"][0], o1=p["order"][1], o2=p["order"][2], o3=p["order"][3], **p))


def crop_cases(out_dir, manifest, gen):
    specs = [
        # name, interpolation, antialias, input (h, w), output (h, w), boxes (top, left, h, w, flip)
        ("crop_bilinear_up", "bilinear", 0, (20, 24), (32, 36),
         [(0, 0, 20, 24, 0), (3, 5, 9, 11, 1), (10, 2, 10, 7, 0), (1, 17, 15, 7, 1)]),
        ("crop_bicubic_up", "bicubic", 0, (20, 24), (32, 36),
         [(0, 0, 20, 24, 1), (3, 5, 9, 11, 0), (10, 2, 10, 7, 1), (1, 17, 15, 7, 0)]),
        ("crop_bilinear_down", "bilinear", 0, (48, 56), (16, 20),
         [(0, 0, 48, 56, 0), (4, 6, 40, 45, 1), (10, 3, 21, 33, 0)]),
        ("crop_bilinear_down_aa", "bilinear", 1, (48, 56), (16, 20),
         [(0, 0, 48, 56, 0), (4, 6, 40, 45, 1), (10, 3, 21, 33, 0)]),
        ("crop_bicubic_down_aa", "bicubic", 1, (48, 56), (16, 20),
         [(0, 0, 48, 56, 1), (4, 6, 40, 45, 0), (10, 3, 21, 33, 1)]),
        ("crop_bilinear_same", "bilinear", 0, (24, 24), (24, 24),
         [(0, 0, 24, 24, 0), (0, 0, 24, 24, 1), (2, 3, 19, 21, 0)]),
    ]
    modes = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}
    for name, interp, aa, (h, w), (oh, ow), boxes in specs:
        for c in (3, 1):
            x = images(gen, len(boxes), c, h, w)
            outs, params = [], []
            for i, (top, left, ch, cw, flip) in enumerate(boxes):
                y = F.resized_crop(x[i], top, left, ch, cw, [oh, ow], modes[interp], antialias=bool(aa))
                if flip:
                    y = F.hflip(y)
                outs.append(y)
                p = default_params()
                p.update(top=top, left=left, ch=ch, cw=cw, flip=flip)
                params.append(p)
            write_case(out_dir, manifest, f"{name}_c{c}", "crop", x, torch.stack(outs), params, (oh, ow), interp, aa)


def jitter_cases(out_dir, manifest, gen):
    factors = [0.6, 0.75, 1.0, 1.2, 1.4, 0.0, 2.0]
    hues = [-0.5, -0.1, -0.03, 0.0, 0.02, 0.1, 0.25, 0.5]
    for c in (3, 1):
        n = len(factors)
        x = images(gen, n, c, 16, 18)
        for op, fn in (("brightness", F.adjust_brightness), ("contrast", F.adjust_contrast),
                       ("saturation", F.adjust_saturation)):
            params, outs = [], []
            for i, f in enumerate(factors):
                p = default_params()
                p.update(b=1.0, c=1.0, s=1.0)
                p[{"brightness": "b", "contrast": "c", "saturation": "s"}[op]] = f
                params.append(p)
                outs.append(fn(x[i], f))
            write_case(out_dir, manifest, f"{op}_c{c}", "jitter", x, torch.stack(outs), params)
        x = images(gen, len(hues), c, 16, 18)
        params, outs = [], []
        for i, f in enumerate(hues):
            p = default_params()
            p.update(hue=f)
            params.append(p)
            outs.append(F.adjust_hue(x[i], f))
        write_case(out_dir, manifest, f"hue_c{c}", "hue", x, torch.stack(outs), params)
        write_case(out_dir, manifest, f"hue_jitter_c{c}", "jitter", x, torch.stack(outs), params)
    # Full jitter, every image its own order and factors.
    g = torch.Generator().manual_seed(7)
    n = 12
    x = images(gen, n, 3, 16, 18)
    params, outs = [], []
    for i in range(n):
        order = torch.randperm(4, generator=g).tolist()
        b, c_, s = (0.6 + 0.8 * torch.rand(3, generator=g)).tolist()
        h = (0.2 * torch.rand(1, generator=g) - 0.1).item()
        y = x[i]
        for k in order:
            y = [lambda t: F.adjust_brightness(t, b), lambda t: F.adjust_contrast(t, c_),
                 lambda t: F.adjust_saturation(t, s), lambda t: F.adjust_hue(t, h)][k](y)
        p = default_params()
        p.update(b=b, c=c_, s=s, hue=h, order=order)
        params.append(p)
        outs.append(y)
    write_case(out_dir, manifest, "jitter_orders", "jitter", x, torch.stack(outs), params)


def other_cases(out_dir, manifest, gen):
    for c in (3, 1):
        x = images(gen, 3, c, 21, 17)
        params = [default_params() for _ in range(3)]
        if c == 3:
            y = torch.stack([F.rgb_to_grayscale(x[i], num_output_channels=3) for i in range(3)])
            write_case(out_dir, manifest, f"gray_c{c}", "gray", x, y, params)
        y = torch.stack([F.solarize(x[i], 0.5) for i in range(3)])
        write_case(out_dir, manifest, f"solarize_c{c}", "solarize", x, y, params)
        y = F.normalize(x, [0.485, 0.456, 0.406][:c], [0.229, 0.224, 0.225][:c])
        write_case(out_dir, manifest, f"normalize_c{c}", "normalize", x, y, params)
        for kh, kw, sigmas in ((5, 5, [0.1, 1.0, 2.0]), (9, 7, [0.5, 1.3, 3.0]), (23, 23, [0.8, 2.0, 5.0])):
            xb = images(gen, 3, c, 24, 26)
            params = []
            outs = []
            for i, s in enumerate(sigmas):
                p = default_params()
                p.update(sigma=s)
                params.append(p)
                outs.append(F.gaussian_blur(xb[i], [kw, kh], [s, s]))
            write_case(out_dir, manifest, f"blur_{kh}x{kw}_c{c}", "blur", xb, torch.stack(outs), params, k=(kh, kw))


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1234)
    manifest = []
    crop_cases(out_dir, manifest, gen)
    jitter_cases(out_dir, manifest, gen)
    other_cases(out_dir, manifest, gen)
    with open(os.path.join(out_dir, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
