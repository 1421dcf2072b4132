"""The one device chooser: ``auto`` is CUDA when torch sees a GPU (this process's
``LOCAL_RANK`` GPU under a DDP launcher), else the CPU; asking for CUDA without one is an error."""

from __future__ import annotations

import os

import torch


def pick_device(device: str = "auto", launcher: str = "none") -> torch.device:
    """The device ``device`` names (``auto``, ``cpu``, ``cuda``, ``cuda:N``); under a launcher
    (``launcher != "none"``) a bare ``cuda`` is this process's ``LOCAL_RANK`` GPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type != "cuda":
        return dev
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for (--device), but torch sees no CUDA device")
    local = int(os.environ.get("LOCAL_RANK", 0)) if launcher != "none" else 0
    if dev.index is None:
        dev = torch.device("cuda", local)
    if launcher != "none" and local >= torch.cuda.device_count():
        # mmengine's Runner maps each LOCAL_RANK to its own GPU (its logger indexes the
        # visible GPUs by it): two processes cannot share one GPU through it.
        raise ValueError(
            f"torchrun started local rank {local} but this machine has "
            f"{torch.cuda.device_count()} GPU(s): use --nproc-per-node <= the number of "
            f"GPUs (one process per GPU)")
    return dev
