"""torch.optim reference for test/optim.test.ts: runs SGD / Adam / AdamW in float64 on given values.

stdin (JSON): a list of cases {"kind": "sgd"|"adam"|"adamw", "options": {torch keyword arguments},
               "params": [{"shape": [...], "values": [...]}, ...],
               "grads": [[values | null per param] per step]}
stdout (JSON): {"torch": version, "cases": [[[values per param] after each step] per case]}
A null grad leaves that parameter's .grad as None for that step (torch skips it).
"""
import json
import sys

import torch


def run(spec):
    params = [torch.tensor(p["values"], dtype=torch.float64).reshape(p["shape"]).requires_grad_() for p in spec["params"]]
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[spec["kind"]]
    options = dict(spec["options"])
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    opt = cls(params, **options)
    steps = []
    for grads in spec["grads"]:
        for p, g in zip(params, grads):
            p.grad = None if g is None else torch.tensor(g, dtype=torch.float64).reshape(p.shape)
        opt.step()
        steps.append([p.detach().reshape(-1).tolist() for p in params])
    return steps


def main() -> None:
    cases = json.load(sys.stdin)
    json.dump({"torch": torch.__version__, "cases": [run(spec) for spec in cases]}, sys.stdout)


if __name__ == "__main__":
    main()
