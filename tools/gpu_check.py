"""The prepared GPU check (``make gpu-check``, ``python tools/gpu_check.py``): one JSON of GPU facts.

In one go (at most ``--budget`` seconds, 600 by default: ten minutes; every part
time-boxed inside it) it measures, for each of the five detectors at its native input
size (the size the ``paper`` profile trains at: ``Detector.input_size``) with AMP (bf16
where the GPU supports it, else fp16 with loss scaling) and channels_last, on random
synthetic faces:

- ``train``: training img/s of a bare loop (AdamW, cross-entropy, the paper profile's
  batch of 32), after warm-up, and its peak GPU memory;
- ``inference``: inference img/s (batch 128, ``inference_mode``) and its peak memory;
- ``bleach_fit``: one epoch of ``methods/pixel_bleach.py``'s fit, as ``bench run`` calls
  it (its own precision, cuDNN's autotuner off), on a few hundred synthetic faces with
  the untrained detector frozen: wall seconds of the whole fit (scan of the train faces,
  the epoch, BatchNorm recalibration, val) and faces of the balanced offset set per
  second of it, cold (the first use of every kernel) and warm (a second fit in the
  same process: the steady state of a many-epoch fit);
- ``harness_train``: one epoch of :func:`bench.run.training.train_detector` (mmengine
  Runner, loader, hooks, checkpoint) on 1024 faces: the harness's own img/s;

each with ``wall_s``, the whole measurement's wall time (model build and warm-up,
where cuDNN autotunes every new shape, included); then ``ddp``: a two-epoch
``torchrun`` training through the same ``train_detector(launcher="pytorch")`` that
``bench run`` uses under torchrun, with per-epoch img/s (the first pays cuDNN
autotuning and NCCL's start-up): NCCL with one process per GPU, two processes where
there are two GPUs or more; with one GPU, one process, because mmengine's Runner maps
each local rank to its own GPU (two ranks on one H200 died in its logger, measured);
on the CPU (``--dry-run``) two gloo processes. It checks that all ranks end with the
same weights, and a failing rank writes its own traceback (``rank_errors``).
``--detectors``, ``--measures`` and ``--part-timeout`` rerun only what a short
device lease missed.

Every detector and the DDP step run in their own subprocess with a timeout, and each
measurement inside one is separately guarded, so a failure (out of memory, a hang,
a missing package) costs only that measurement: it is recorded as ``error`` and the
rest goes on. The JSON (``docs/data/gpu/gpu_check_<UTC time>.json`` by default, or
``--out DIR``) is rewritten after every part, so even a check killed from outside
keeps what finished; it holds the device name, torch/CUDA/cuDNN versions, the
commit (``git`` or the ``BENCH_COMMIT`` environment variable), the settings used
and per part the results or the error. The last line printed is the JSON itself.

``--dry-run`` runs the same code on the CPU with the ``tiny`` test detector at 32 px
and a few steps (no AMP: it is CUDA-only here); the tests run it.

Packages: the GPU image may lack pure-Python dependencies of the harness (mmengine-lite
and its addict, yapf, termcolor, platformdirs). ``make gpu-wheels`` downloads them
into ``.whl/``; ``make gpu-check`` installs ``.whl/*.whl`` into ``/tmp/site`` when that
folder exists. A missing package is reported in the JSON's ``env.missing``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script from a checkout (timm keeps benchmark.py at its root the same way): the
# project root goes first on the path, so `bench` is this checkout's, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCHEMA = 1
DETECTORS = ("xception", "meso_inception4", "f3net", "resnet50", "efficientnet_b4")
NEEDED = ("torch", "numpy", "timm", "mmengine", "sklearn", "tqdm")

#: Settings of a real run (GPU) and of ``--dry-run`` (CPU, tiny detector, tiny sizes).
PLANS: dict[str, dict[str, Any]] = {
    "gpu": {
        "detectors": list(DETECTORS), "size": None, "amp": True, "channels_last": True,
        "train_batch": 32, "infer_batch": 128, "warmup": 5, "steps": 30, "max_seconds": 15.0,
        "bleach_faces": 256, "bleach_val": 64, "bleach_batch": 14,
        "harness_faces": 1024, "harness_batch": 32,
        "ddp_detector": "xception", "ddp_faces": 1024, "ddp_batch": 32, "ddp_nproc": 2,
        "ddp_epochs": 2, "part_timeout": 170.0, "ddp_timeout": 120.0,
    },
    "dry_run": {
        "detectors": ["tiny"], "size": 32, "amp": False, "channels_last": True,
        "train_batch": 4, "infer_batch": 8, "warmup": 1, "steps": 3, "max_seconds": 5.0,
        "bleach_faces": 24, "bleach_val": 8, "bleach_batch": 4,
        "harness_faces": 16, "harness_batch": 4,
        "ddp_detector": "tiny", "ddp_faces": 16, "ddp_batch": 4, "ddp_nproc": 2,
        "ddp_epochs": 2, "part_timeout": 120.0, "ddp_timeout": 150.0,
    },
}  # fmt: skip


# ------------------------------------------------------------------------------------ utilities


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write (a reader never sees half a file)."""
    from bench.core.files import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str))


def _error(exc: BaseException) -> dict[str, str]:
    tb = traceback.format_exc(limit=6)
    return {"error": f"{type(exc).__name__}: {exc}"[:2000], "traceback": tb[-3000:]}


def _guarded(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except Exception as exc:  # one measurement's failure must not lose the others
        return _error(exc)


def commit() -> str:
    """The repository's commit (``BENCH_COMMIT`` wins), with ``+dirty`` for local changes."""
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git; set BENCH_COMMIT)"


def env_info(device: str) -> dict[str, Any]:
    """Versions, device names and the packages the harness needs but cannot import."""
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "host": platform.node(), "commit": commit(), "missing": []}
    for name in NEEDED:
        try:
            mod = importlib.import_module(name)
            info[f"{name}_version"] = getattr(mod, "__version__", "?")
        except Exception as exc:  # noqa: BLE001 - any import failure is a missing package here
            info["missing"].append(f"{name}: {type(exc).__name__}: {exc}")
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        info["cuda_available"] = torch.cuda.is_available()
        info["gpu_count"] = torch.cuda.device_count()
        info["gpus"] = [
            {"name": torch.cuda.get_device_name(i),
             "capability": ".".join(map(str, torch.cuda.get_device_capability(i))),
             "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1)}
            for i in range(torch.cuda.device_count())
        ]
        info["bf16"] = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        info["device_name"] = info["gpus"][0]["name"] if device == "cuda" else "cpu"
        info["cpu_threads"] = torch.get_num_threads()
    except Exception as exc:  # noqa: BLE001
        info["torch_error"] = f"{type(exc).__name__}: {exc}"
        info["device_name"] = "unknown"
    if shutil.which("nvidia-smi"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            info["nvidia_smi"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20).stdout.strip()
    return info


def run_part(cmd: list[str], part_file: Path, timeout: float, env: dict[str, str] | None = None,
             cwd: Path | None = None) -> dict[str, Any]:
    """Run ``cmd`` (which writes its results to ``part_file``) with a timeout; never raises.

    Returns what the part wrote (partial results stay when it timed out or crashed),
    plus ``seconds`` and, on failure, ``error`` with the end of its output.
    """
    start = time.perf_counter()
    part_file.unlink(missing_ok=True)
    error = None
    with tempfile.TemporaryFile() as log:
        try:
            # A session of its own: on timeout the whole group (torchrun's workers too) is killed.
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                    start_new_session=True)
        except OSError as exc:
            return {"error": f"could not start {cmd[0]!r}: {exc}", "seconds": 0.0}
        try:
            code = proc.wait(timeout=max(timeout, 1.0))
            if code != 0:
                error = f"exit code {code}"
        except subprocess.TimeoutExpired:
            error = f"timed out after {timeout:.0f} s"
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if error:
            log.seek(0)
            error += ": " + log.read().decode(errors="replace")[-2000:]
    result: dict[str, Any] = {}
    if part_file.is_file():
        try:
            result = json.loads(part_file.read_text())
        except json.JSONDecodeError as exc:
            error = (error or "") + f" (unreadable part file: {exc})"
    result["seconds"] = round(time.perf_counter() - start, 2)
    if error:
        result["error"] = error
    return result


# ------------------------------------------------------------------------ measurements (child)


def _faces(n: int, size: int, seed: int = 0):
    import numpy as np

    from bench.core.faceset import FaceSet

    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int64)
    images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    manip = np.where(labels == 1, "FaceSwap", "real")
    return FaceSet(images, labels, manip, np.array([f"v{i // 4}" for i in range(n)]))


class _Device:
    """The torch device, its AMP context and synchronisation, and peak-memory reading."""

    def __init__(self, name: str, amp: bool) -> None:
        import torch

        self.torch = torch
        self.dev = torch.device(name)
        self.cuda = self.dev.type == "cuda"
        self.amp = bool(amp and self.cuda)
        self.dtype = (torch.bfloat16 if self.cuda and torch.cuda.is_bf16_supported() else torch.float16)
        if self.cuda:
            torch.backends.cudnn.benchmark = True

    def autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return self.torch.autocast("cuda", dtype=self.dtype)

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.dev)

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats(self.dev)

    def peak(self) -> dict[str, float | None]:
        if not self.cuda:
            return {"peak_allocated_gib": None, "peak_reserved_gib": None}
        t = self.torch.cuda
        return {"peak_allocated_gib": round(t.max_memory_allocated(self.dev) / 2**30, 3),
                "peak_reserved_gib": round(t.max_memory_reserved(self.dev) / 2**30, 3)}


def _timed(step: Callable[[], None], dev: _Device, batch: int, plan: dict[str, Any]) -> dict[str, Any]:
    """img/s of ``step`` after ``warmup`` steps: ``steps`` steps or ``max_seconds``, whichever first."""
    for _ in range(plan["warmup"]):
        step()
    dev.sync()
    start, n = time.perf_counter(), 0
    while n < plan["steps"]:
        step()
        n += 1
        dev.sync()
        if time.perf_counter() - start > plan["max_seconds"]:
            break
    seconds = time.perf_counter() - start
    return {"img_per_s": round(batch * n / seconds, 2), "steps": n, "batch": batch,
            "seconds": round(seconds, 3)}


def measure_train(name: str, size: int, dev: _Device, plan: dict[str, Any]) -> dict[str, Any]:
    """A bare training loop on random faces: uint8 -> [0, 1] on the device, AMP, AdamW."""
    torch = dev.torch
    import torch.nn.functional as F

    from bench.core.registry import DETECTORS, build

    torch.manual_seed(0)
    model = build(DETECTORS, name).to(dev.dev).train()
    if plan["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=1e-2)
    scaler = torch.amp.GradScaler("cuda", enabled=dev.amp and dev.dtype == torch.float16)
    batch = plan["train_batch"]
    raw = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=dev.dev)
    y = torch.randint(0, 2, (batch,), device=dev.dev)
    fmt = torch.channels_last if plan["channels_last"] else torch.contiguous_format

    def step() -> None:
        x = raw.float().div_(255.0).contiguous(memory_format=fmt)
        with dev.autocast():
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    dev.reset_peak()
    out = _timed(step, dev, batch, plan)
    return {**out, **dev.peak()}


def measure_inference(name: str, size: int, dev: _Device, plan: dict[str, Any]) -> dict[str, Any]:
    torch = dev.torch
    from bench.core.registry import DETECTORS, build

    torch.manual_seed(0)
    model = build(DETECTORS, name).to(dev.dev).eval()
    fmt = torch.channels_last if plan["channels_last"] else torch.contiguous_format
    model = model.to(memory_format=fmt)
    batch = plan["infer_batch"]
    raw = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=dev.dev)

    def step() -> None:
        with torch.inference_mode(), dev.autocast():
            model(raw.float().div_(255.0).contiguous(memory_format=fmt))

    dev.reset_peak()
    out = _timed(step, dev, batch, plan)
    return {**out, **dev.peak()}


def measure_bleach(name: str, size: int, dev: _Device, plan: dict[str, Any]) -> dict[str, Any]:
    """One epoch of Pixel Bleach's fit, called as the engine calls it."""
    torch = dev.torch
    from bench.core.detector import freeze
    from bench.core.registry import DETECTORS, METHODS, build, resolve

    torch.manual_seed(0)
    detector = freeze(build(DETECTORS, name).to(dev.dev))
    factory = resolve(METHODS, "pixel_bleach")
    keys = set(getattr(factory, "config_keys", ()))
    kwargs = {"epochs": 1, "batch_size": plan["bleach_batch"], "progress": False}
    if "amp" in keys:  # only if the method grows an AMP option; today it runs in float32
        kwargs["amp"] = dev.amp
    train, val = _faces(plan["bleach_faces"], size), _faces(plan["bleach_val"], size, seed=1)
    # `bench run` fits with cuDNN's autotuner off (train_detector restores the flag after
    # training); with it on, every new batch shape of the float32 fit is autotuned first.
    benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    fits = []
    try:
        for _ in range(2):  # cold (first use of every kernel), then warm: the steady state
            dev.reset_peak()
            with tempfile.TemporaryDirectory(prefix="gpu_check_bleach_") as work:
                dev.sync()
                start = time.perf_counter()
                facts = factory(**kwargs).fit(detector, train, val, Path(work), dev.dev)
                dev.sync()
                fits.append((time.perf_counter() - start, facts, dev.peak()))
    finally:
        torch.backends.cudnn.benchmark = benchmark
    (cold, facts, peak), (warm, _, warm_peak) = fits
    n_bal = int(facts.get("n_balanced", len(train)))
    return {"img_per_s": round(n_bal / cold, 2), "fit_seconds": round(cold, 3),
            "warm_img_per_s": round(n_bal / warm, 2), "warm_fit_seconds": round(warm, 3),
            "cudnn_benchmark": False,
            "n_train": len(train), "n_balanced": n_bal, "n_val": len(val),
            "batch": plan["bleach_batch"], "method_kwargs": kwargs, **peak,
            "warm_peak_allocated_gib": warm_peak["peak_allocated_gib"]}


def measure_harness(name: str, size: int, dev: _Device, plan: dict[str, Any]) -> dict[str, Any]:
    """One epoch of ``train_detector`` (mmengine Runner): the harness's own training img/s."""
    torch = dev.torch
    from bench.core.profiles import PROFILES
    from bench.core.registry import DETECTORS, build
    from bench.run.training import train_detector

    torch.manual_seed(0)
    workers = int(PROFILES["paper"]["train"].get("num_workers", 0))
    train, val = _faces(plan["harness_faces"], size), _faces(plan["harness_batch"] * 2, size, 1)
    dev.reset_peak()
    with tempfile.TemporaryDirectory(prefix="gpu_check_harness_") as work:
        result = train_detector(
            build(DETECTORS, name), train, val, Path(work), epochs=1,
            batch_size=plan["harness_batch"], lr=2e-4, device=str(dev.dev), amp=dev.amp,
            channels_last=plan["channels_last"], num_workers=workers, progress=False)
    return {"img_per_s": round(result["img_per_s"], 2), "seconds": round(result["seconds"], 3),
            "n_train": len(train), "batch": plan["harness_batch"], "num_workers": workers,
            "amp_dtype": result.get("amp_dtype"), **dev.peak()}


def detector_part(name: str, device: str, plan: dict[str, Any], part_file: Path) -> None:
    """Child process: every measurement of one detector, the part file rewritten after each."""
    from bench.core.registry import DETECTORS, resolve

    dev = _Device(device, plan["amp"])
    cls = resolve(DETECTORS, name)
    size = int(plan["size"] or cls.input_size)
    out: dict[str, Any] = {"detector": name, "size": size, "amp": dev.amp,
                           "amp_dtype": str(dev.dtype).removeprefix("torch.") if dev.amp else None,
                           "channels_last": plan["channels_last"]}
    write_json(part_file, out)
    for key, fn in MEASURES.items():
        if key not in plan.get("measures", MEASURES):
            continue
        began = time.perf_counter()
        out[key] = _guarded(lambda fn=fn: fn(name, size, dev, plan))
        # Wall time of the whole measurement: model build, warm-up (cuDNN autotuning) included.
        out[key]["wall_s"] = round(time.perf_counter() - began, 4)  # a dry run's part can take < 5 ms
        write_json(part_file, out)
    if (isinstance(out.get("train", {}).get("img_per_s"), float)
            and out.get("harness_train", {}).get("img_per_s")):
        out["harness_over_bare"] = round(out["harness_train"]["img_per_s"] / out["train"]["img_per_s"], 3)
    write_json(part_file, out)


#: The measurements of one detector's part, in order (``--measures`` picks a subset).
MEASURES: dict[str, Callable[..., dict[str, Any]]] = {
    "train": measure_train, "inference": measure_inference,
    "bleach_fit": measure_bleach, "harness_train": measure_harness,
}


def _checksum_hook() -> Any:
    """An mmengine hook holding the sum of the trained model's parameters after the last epoch."""
    from mmengine.hooks import Hook

    class ChecksumHook(Hook):
        priority = "LOWEST"
        checksum = float("nan")

        def after_train_epoch(self, runner) -> None:
            model = runner.model.module if hasattr(runner.model, "module") else runner.model
            self.checksum = float(sum(p.detach().double().sum().item() for p in model.parameters()))

    return ChecksumHook()


def ddp_part(device: str, plan: dict[str, Any], part_file: Path) -> None:
    """Child process under torchrun: ``ddp_epochs`` epochs of ``train_detector(launcher='pytorch')``."""
    rank = int(os.environ["RANK"])
    try:
        _ddp_part(device, plan, part_file, rank)
    except BaseException as exc:
        # torchrun's own summary names only the exit code; keep every rank's traceback.
        write_json(rank_error_file(part_file, rank), {"rank": rank, **_error(exc)})
        raise


def rank_error_file(part_file: Path, rank: int) -> Path:
    """Where DDP rank ``rank`` writes its traceback when it fails."""
    return part_file.with_name(f"{part_file.stem}.rank{rank}.error.json")


def _ddp_part(device: str, plan: dict[str, Any], part_file: Path, rank: int) -> None:
    import torch
    import torch.distributed as dist

    from bench.core.registry import DETECTORS, build, resolve
    from bench.run.training import train_detector

    local = int(os.environ.get("LOCAL_RANK", 0))
    if device == "cuda":
        backend, dev = "nccl", f"cuda:{local}"  # one process per GPU (the parent sees to it)
        torch.cuda.set_device(torch.device(dev))
    else:
        backend, dev = "gloo", "cpu"
        torch.set_num_threads(1)
    dist.init_process_group(backend)
    name = plan["ddp_detector"]
    size = int(plan["size"] or resolve(DETECTORS, name).input_size)
    torch.manual_seed(0)
    probe = _checksum_hook()
    with tempfile.TemporaryDirectory(prefix="gpu_check_ddp_") as tmp:
        shared = [str(Path(tmp) / "work")]  # one work_dir for all ranks (rank 0 writes checkpoints)
        dist.broadcast_object_list(shared, src=0)
        result = train_detector(
            build(DETECTORS, name), _faces(plan["ddp_faces"], size),
            _faces(plan["ddp_batch"] * 2, size, 1), Path(shared[0]), epochs=plan["ddp_epochs"],
            batch_size=plan["ddp_batch"], lr=2e-4, device=dev,
            amp=plan["amp"] and device == "cuda", channels_last=plan["channels_last"],
            launcher="pytorch", progress=False, hooks=[probe])
        # The weights each rank trained to (before the best checkpoint is loaded): DDP keeps them equal.
        mine = torch.tensor([probe.checksum], dtype=torch.float64, device=dev if backend == "nccl" else "cpu")
        sums = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
        dist.all_gather(sums, mine)
        dist.barrier()  # rank 0 removes the shared work_dir only when every rank is done with it
    values = [float(s_.cpu()) for s_ in sums]
    out = {"backend": backend, "world_size": dist.get_world_size(), "device": dev,
           "devices": "one GPU per process" if backend == "nccl" else "cpu",
           "detector": name, "size": size, "img_per_s": round(result["img_per_s"], 2),
           "epoch_img_per_s": result.get("epoch_img_per_s"),
           "seconds": round(result["seconds"], 3), "n_train": plan["ddp_faces"],
           "batch_per_process": plan["ddp_batch"], "amp_dtype": result.get("amp_dtype"),
           "param_checksums": values,
           "weights_equal": max(values) - min(values) <= 1e-9 * max(1.0, abs(values[0]))}
    if rank == 0:
        write_json(part_file, out)
    dist.destroy_process_group()


# ------------------------------------------------------------------------------- the parent


def summarize(paths: list[Path]) -> str:
    """One markdown table from several check JSONs: per detector and measurement the
    latest value that did not fail, with the file it came from (a short lease may
    measure in several runs)."""
    import pandas as pd

    reports = sorted(((json.loads(Path(p).read_text()), Path(p).name) for p in paths),
                     key=lambda r: r[0]["started"])
    cells: dict[str, dict[str, str]] = {}
    sources: dict[str, set[str]] = {}
    ddp: list[str] = []

    def put(row: str, col: str, text: str, name: str) -> None:
        cells.setdefault(row, {})[col] = text
        sources.setdefault(row, set()).add(name)

    for report, name in reports:
        for key, part in report["parts"].items():
            if key.startswith("detector:"):
                row = f"{key.split(':', 1)[1]} ({part.get('size')} px)"
                for m in MEASURES:
                    v = part.get(m)
                    if not isinstance(v, dict) or "img_per_s" not in v:
                        continue
                    text = f"{v['img_per_s']:g}"
                    if v.get("warm_img_per_s"):
                        text += f" (warm {v['warm_img_per_s']:g})"
                    put(row, f"{m} img/s", text, name)
                    if v.get("peak_allocated_gib") is not None:
                        put(row, f"{m} GiB", f"{v['peak_allocated_gib']:g}", name)
                if part.get("harness_over_bare"):
                    put(row, "harness/bare", f"{part['harness_over_bare']:g}", name)
            elif "img_per_s" in part:
                ddp.append(f"- `{key}` ({name}): {part['img_per_s']:g} img/s over "
                           f"{part['world_size']} {part['backend']} process(es) "
                           f"({part.get('devices')}), per epoch {part.get('epoch_img_per_s') or '?'}, "
                           f"weights equal on every rank: {part['weights_equal']}")
            elif "error" in part:
                ddp.append(f"- `{key}` ({name}): failed: {part['error'].splitlines()[0][:120]}"
                           + "".join(f"; rank {r['rank']}: {r['error'][:120]}"
                                     for r in part.get("rank_errors", [])))
    rows = [{"detector": row, **cols, "from": ", ".join(sorted(sources[row]))}
            for row, cols in cells.items()]
    order = (["detector"] + [f"{m} {u}" for m in MEASURES for u in ("img/s", "GiB")]
             + ["harness/bare", "from"])
    frame = pd.DataFrame(rows)
    frame = frame[[c for c in order if c in frame.columns]].fillna("not measured")
    return frame.to_markdown(index=False) + ("\n\n" + "\n".join(ddp) if ddp else "")


def ddp_processes(device: str, gpus: int, asked: int) -> int:
    """How many torchrun processes the DDP part starts: on a GPU, at most one per GPU.

    mmengine's Runner gives each local rank its own GPU (its logger indexes the visible
    GPUs by ``LOCAL_RANK``): two processes on one H200 died there (measured).
    """
    return max(1, min(asked, gpus)) if device == "cuda" else asked


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python tools/gpu_check.py",
        description="Measure training/inference img/s, peak memory, a Pixel Bleach fit epoch "
                    "and a 2-process DDP epoch on this machine's GPU; write one JSON.")
    p.add_argument("--dry-run", action="store_true",
                   help="on the CPU with the tiny test detector and tiny sizes (what the tests run)")
    p.add_argument("--out", type=Path, default=Path("docs/data/gpu"), help="folder for the JSON")
    p.add_argument("--detectors", default=None,
                   help="comma list (default: the five paper detectors; tiny with --dry-run); "
                        "'none' for the DDP part alone")
    p.add_argument("--size", type=int, default=None,
                   help="input side in px for every detector (default: each detector's native size)")
    p.add_argument("--budget", type=float, default=600.0,
                   help="seconds for the whole check; later parts get what is left (default: 600)")
    p.add_argument("--skip-ddp", action="store_true", help="leave out the torchrun part")
    p.add_argument("--summary", nargs="+", type=Path, metavar="JSON",
                   help="measure nothing: print one markdown table of these check JSONs")
    p.add_argument("--measures", default=None,
                   help="comma list of a detector's measurements to take (default: all of "
                        + ", ".join(MEASURES) + ")")
    p.add_argument("--ddp-detector", default=None,
                   help="the detector of the torchrun part (default: xception; tiny with --dry-run)")
    p.add_argument("--part-timeout", type=float, default=None,
                   help="seconds one detector's part may take (default: the plan's, "
                        f"{PLANS['gpu']['part_timeout']:.0f} on a GPU)")
    # internal: a child process measuring one part
    p.add_argument("--part", choices=["detector", "ddp"], help=argparse.SUPPRESS)
    p.add_argument("--name", help=argparse.SUPPRESS)
    p.add_argument("--part-file", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--plan", help=argparse.SUPPRESS)
    p.add_argument("--device", help=argparse.SUPPRESS)
    return p


def _child(args: argparse.Namespace) -> int:
    plan = json.loads(args.plan)
    if args.part == "detector":
        detector_part(args.name, args.device, plan, args.part_file)
    else:
        ddp_part(args.device, plan, args.part_file)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.part:
        return _child(args)
    if args.summary:
        print(summarize(args.summary))
        return 0
    t0 = time.perf_counter()
    plan = dict(PLANS["dry_run" if args.dry_run else "gpu"])
    if args.detectors:
        plan["detectors"] = [d.strip() for d in args.detectors.split(",")
                             if d.strip() and d.strip() != "none"]
    if args.measures:
        plan["measures"] = [m.strip() for m in args.measures.split(",") if m.strip()]
        unknown = sorted(set(plan["measures"]) - set(MEASURES))
        if unknown:
            raise SystemExit(f"--measures: unknown {unknown}; expected some of {list(MEASURES)}")
    if args.ddp_detector:
        plan["ddp_detector"] = args.ddp_detector
    if args.part_timeout:
        plan["part_timeout"] = args.part_timeout
    if args.size:
        plan["size"] = args.size
    try:
        import torch

        cuda = torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - reported in env below
        cuda = False
    device = "cpu" if args.dry_run or not cuda else "cuda"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"gpu_check_{'dryrun_' if args.dry_run else ''}{stamp}.json"
    report: dict[str, Any] = {
        "schema": SCHEMA, "started": _now(), "finished": None, "dry_run": args.dry_run,
        "device": device, "command": " ".join([Path(sys.executable).name, "tools/gpu_check.py",
                                               *(argv if argv is not None else sys.argv[1:])]),
        "plan": plan, "env": env_info(device), "parts": {},
    }
    if device == "cpu" and not args.dry_run:
        report["note"] = "no CUDA device: measured on the CPU with the GPU plan (not GPU numbers)"
        plan["amp"] = False
    write_json(path, report)
    print(f"gpu_check: {report['env'].get('device_name')} -> {path}", flush=True)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    child = [sys.executable, str(Path(__file__).resolve()), "--device", device, "--plan", json.dumps(plan)]
    reserve = 0.0 if args.skip_ddp else min(plan["ddp_timeout"], 0.3 * args.budget)

    def left() -> float:
        return args.budget - (time.perf_counter() - t0)

    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        for name in plan["detectors"]:
            box = min(plan["part_timeout"], left() - reserve)
            key = f"detector:{name}"
            if box < 5:
                report["parts"][key] = {"error": "skipped: the --budget was spent"}
            else:
                part_file = Path(tmp) / f"{name}.json"
                report["parts"][key] = run_part(child + ["--part", "detector", "--name", name,
                                                         "--part-file", str(part_file)],
                                                part_file, box, env, root)
            write_json(path, report)
            print(f"  {key}: {_summary(report['parts'][key])}", flush=True)
        if not args.skip_ddp:
            nproc = ddp_processes(device, report["env"].get("gpu_count") or 0, plan["ddp_nproc"])
            box = min(plan["ddp_timeout"], left())
            part_file = Path(tmp) / "ddp.json"
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", str(nproc), str(Path(__file__).resolve()),
                   "--device", device, "--plan", json.dumps(plan), "--part", "ddp",
                   "--part-file", str(part_file)]
            part = (run_part(cmd, part_file, box, env, root) if box >= 5
                    else {"error": "skipped: the --budget was spent"})
            ranks = [json.loads(rank_error_file(part_file, r).read_text()) for r in range(nproc)
                     if rank_error_file(part_file, r).is_file()]
            if ranks:
                part["rank_errors"] = ranks
            if nproc < plan["ddp_nproc"]:
                part["note"] = (f"{nproc} process(es), one per GPU: {plan['ddp_nproc']} asked "
                                "for, but mmengine maps each local rank to its own GPU")
            report["parts"]["ddp"] = part
            write_json(path, report)
            print(f"  ddp: {_summary(part)}", flush=True)
    report["finished"] = _now()
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["ok"] = not report["env"]["missing"] and all(
        "error" not in part and not any(isinstance(v, dict) and "error" in v for v in part.values())
        for part in report["parts"].values())
    write_json(path, report)
    print(f"gpu_check: wrote {path} in {report['seconds']} s (ok={report['ok']})")
    print(json.dumps(_compact(report), default=str), flush=True)
    return 0


def _summary(part: dict[str, Any]) -> str:
    bits = []
    for key in ("train", "inference", "bleach_fit", "harness_train"):
        v = part.get(key)
        if isinstance(v, dict):
            bits.append(f"{key} {v['img_per_s']} img/s" if "img_per_s" in v else f"{key} ERROR")
    if "img_per_s" in part:
        bits.append(f"{part['img_per_s']} img/s ({part.get('backend')})")
    if "error" in part:
        bits.append("ERROR " + part["error"].splitlines()[0][:200])
    return ", ".join(bits) or "nothing measured"


def _compact(report: dict[str, Any]) -> dict[str, Any]:
    """The report without tracebacks, for the last printed line."""
    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "traceback"}
        if isinstance(x, str) and len(x) > 300:
            return x[:300] + "..."
        return x

    return strip(report)


if __name__ == "__main__":
    sys.exit(main())
