"""Probe: how close a fitted pattern of 8 grey levels comes to a pure margin shift on the quick
Xception (seed 0, the published set's work folder), step by step, on LQ train and test.

Made ``plant_probe_xception_s0.log`` (the controls' pattern plant, ``bench/run/controls.py``,
fits 120 such steps): run from the repository root, ``python docs/data/pixel_bleach_why/controls/plant_probe.py``.
Its delta is the 12-point shift the controls first used (they now use 10 points).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from bench.cli.commands import controls as CC  # noqa: E402
from bench.cli.options import context  # noqa: E402
from bench.core.metrics import acc_auc  # noqa: E402
from bench.core.spec import RunSpec  # noqa: E402
from bench.run import controls as K  # noqa: E402
from bench.run.engine import Engine, balance_classes  # noqa: E402

AMPLITUDE, LR, STEPS = 8, 0.05, 300


def main() -> None:
    p = argparse.ArgumentParser()
    CC.add_arguments(p)
    args = p.parse_args(["--detector", "xception", "--seeds", "0", "--results", "work_dirs/publish"])
    args.manipulation, args.command = "all", "controls"
    ctx, profile = context(args)
    eng = Engine(profile, args.results, device="cpu", progress=False)
    spec = RunSpec(dataset=ctx.dataset, manipulation="all", detector="xception", method="none",
                   train_compression=ctx.train_compression, test_compression=ctx.test_compression,
                   profile=ctx.profile, options=ctx.options, seed=0)
    det, _ = eng.detector(spec)
    det.eval()
    size = eng.image_size("xception")
    tr, te = (balance_classes(eng.faces(ctx.dataset, "all", ctx.test_compression, s, size), 0)
              for s in ("train", "test"))
    dev = torch.device("cpu")
    m_tr, m_te = K.margins(det, tr, dev), K.margins(det, te, dev)
    print("margin train mean/sd", m_tr.mean(), m_tr.std(), "test", m_te.mean(), m_te.std())
    delta = K.shift_to_drop(tr.labels, m_tr, 0.12)
    print("delta", delta, flush=True)
    base, g = torch.from_numpy(m_tr), torch.Generator().manual_seed(0)
    w = torch.zeros(1, 3, size, size, requires_grad=True)
    opt = torch.optim.Adam([w], lr=LR)
    t0 = time.time()
    for step in range(STEPS):
        idx = np.sort(torch.randperm(len(tr), generator=g)[:32].numpy())
        logits = det((tr.tensors(idx)[0] + AMPLITUDE / 255 * torch.tanh(w)).clamp(0, 1)).float()
        loss = ((logits[:, 1] - logits[:, 0] - base[idx] - delta) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 19 or step == STEPS - 1:
            pattern = torch.round(AMPLITUDE * torch.tanh(w.detach()))[0].permute(1, 2, 0)
            res = []
            for name, faces, m0 in (("train", tr, m_tr), ("test", te, m_te)):
                m1 = K.margins(det, K.add_pattern(faces, pattern.numpy().astype(np.int16)), dev)
                a0, u0 = acc_auc(faces.labels, 1 / (1 + np.exp(-m0)))
                a1, u1 = acc_auc(faces.labels, 1 / (1 + np.exp(-m1)))
                d = m1 - m0
                res.append(f"{name}: shift {d.mean():+.2f} sd {d.std():.2f} "
                           f"acc {100 * (a1 - a0):+.1f} auc {100 * (u1 - u0):+.2f}")
            print(f"amp {AMPLITUDE} lr {LR} step {step + 1} loss {loss.item():.2f} | "
                  + " | ".join(res), f"{time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
