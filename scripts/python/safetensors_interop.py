#!/usr/bin/env python3
"""Safetensors interoperability between byol-torch and torchvision, without the safetensors package.

Debian has no python3-safetensors, so the format is read and written here with json + torch.frombuffer.

  safetensors_interop.py check WEIGHTS IO     load WEIGHTS into torchvision.models.resnet50() with
                                              load_state_dict(strict=True), run IO's "input" in eval mode,
                                              compare with IO's "output"; prints JSON, exit 0 when it matches
  safetensors_interop.py write WEIGHTS IO     randomise every parameter and buffer of a resnet50, save it to
                                              WEIGHTS, and an input and its eval-mode output to IO
  (IO may be a .json file {"input": {"shape": [...], "data": [...]}, "output": ...} instead of safetensors.)
  safetensors_interop.py probe                exit 0 when torch and torchvision import
Options: --size PX (default 64), --batch N (default 2), --seed S.
"""
import argparse
import json
import math
import struct
import sys

DTYPES = {}


def _dtypes(torch):
    return {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
            "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
            "BOOL": torch.bool}


def read_safetensors(path):
    import torch
    names = _dtypes(torch)
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = bytearray(blob[8 + n:])
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        begin, end = spec["data_offsets"]
        dtype = names[spec["dtype"]]
        shape = spec["shape"]
        if end == begin:
            out[name] = torch.zeros(shape, dtype=dtype)
        else:
            out[name] = torch.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=begin).reshape(shape).clone()
    return out


def write_safetensors(path, tensors):
    import torch
    names = {v: k for k, v in _dtypes(torch).items()}
    header = {"__metadata__": {"format": "pt"}}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        chunks.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def read_io(path):
    """Input and output tensors from a safetensors file, or from JSON ({"input": {"shape", "data"}, ...})."""
    import torch
    if not path.endswith(".json"):
        return read_safetensors(path)
    with open(path) as f:
        raw = json.load(f)
    return {k: torch.tensor(v["data"], dtype=torch.float32).reshape(v["shape"]) for k, v in raw.items()}


def write_io(path, tensors):
    if not path.endswith(".json"):
        return write_safetensors(path, tensors)
    with open(path, "w") as f:
        json.dump({k: {"shape": list(v.shape), "data": v.reshape(-1).tolist()} for k, v in tensors.items()}, f)


def randomise(model, seed):
    """Every parameter and buffer gets values a fresh model would not have (BN statistics included)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(int(torch.randint(1, 10000, (1,), generator=g)))
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() == 4:
                fan_out = t.shape[0] * t.shape[2] * t.shape[3]
                t.copy_(torch.randn(t.shape, generator=g) * math.sqrt(2.0 / fan_out))
            elif name.startswith("fc."):
                t.copy_(torch.randn(t.shape, generator=g) * 0.02)
            elif name.endswith("weight"):
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)


def rel_diff(a, b):
    return float((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-30))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["check", "write", "probe"])
    parser.add_argument("weights", nargs="?")
    parser.add_argument("io", nargs="?")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    import torch
    import torchvision
    if args.command == "probe":
        print(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__}))
        return 0
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    if args.command == "check":
        model = torchvision.models.resnet50()
        state = read_safetensors(args.weights)
        state = {k: v.to(model.state_dict()[k].dtype) if k in model.state_dict() else v for k, v in state.items()}
        model.load_state_dict(state, strict=True)
        for k, v in model.state_dict().items():  # the buffers really arrived
            if not torch.equal(v, state[k].to(v.dtype)):
                print(json.dumps({"ok": False, "error": f"{k} differs after load"}))
                return 1
        io = read_io(args.io)
        model.eval()
        with torch.no_grad():
            out = model(io["input"].float())
        d = rel_diff(out, io["output"])
        ok = d < 1e-4
        print(json.dumps({"ok": ok, "relDiff": d, "keys": len(state)}))
        return 0 if ok else 1
    model = torchvision.models.resnet50()
    randomise(model, args.seed)
    model.eval()
    x = torch.randn(args.batch, 3, args.size, args.size)
    with torch.no_grad():
        y = model(x)
    write_safetensors(args.weights, model.state_dict())
    write_io(args.io, {"input": x, "output": y})
    print(json.dumps({"ok": True, "keys": len(model.state_dict())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
