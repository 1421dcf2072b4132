"""Detector training through mmengine's ``Runner``: CPU, one GPU (AMP, channels_last), DDP.

:func:`train_detector` trains a ``DETECTORS`` entry on a train :class:`FaceSet`,
selects the epoch with the best accuracy on the val :class:`FaceSet` (never
test) and returns its weights. The same code runs on the CPU, on one GPU
with ``amp`` (bf16 where the GPU supports it, else fp16 with loss scaling,
through ``AmpOptimWrapper``) and ``channels_last``, and on several GPUs (or
CPU processes with gloo) under ``torchrun`` with ``launcher="pytorch"``.

Choices (all keyword arguments where they matter):

- Data: faces stay uint8 in the loader and become float [0, 1] on the device.
  Augmentation is a random horizontal flip and, with ``blur_p`` > 0, a random
  Gaussian blur (the quick profile's, see bench/core/profiles.py); no crops or
  colour jitter, which would disturb or imitate blending artefacts. With
  ``blur_quantize`` the blurred faces are rounded back to 8 bits, as a decoded
  video's are: a float blur leaves the highest DCT bands near zero (log-energy
  -11 at sigma 1.2 on the quick testbed's 64 px faces, where C23 and C40 faces
  alike sit near -3.1), which frequency-domain detectors (F3-Net's log-DCT
  statistics) read as a sign no real video face carries.
- Optimiser: AdamW (``weight_decay`` 1e-2) with a one-cycle schedule stepped
  per iteration (peak ``lr`` at 30 %), which reaches high accuracy in few
  epochs. ``fused_adamw=True`` uses torch's fused AdamW kernel: the same
  update, rounded differently in the last bit (measured: 3e-8 after 20
  steps), and on CPU about 3x faster per optimiser step (F3-Net's 48 M
  parameters: 422 -> 139 ms, 1 thread), 10-15 % of a 64 px training step.
  Off in this function and in the ``smoke`` and ``paper`` profiles; on in
  ``quick`` (since results/quick_v4): the weights differ from the
  per-parameter loop's once the rounding differs, so a profile that switches
  it trains new checkpoints (the key holds the option). On CUDA torch already
  batches the loop (``foreach``).
- Checkpoints under ``work_dir``: ``epoch_N.pth`` (last only, for resume),
  ``best_val_accuracy_epoch_N.pth`` and, once finished, ``best.pth`` (the best
  weights alone, a plain state_dict) and ``done.json`` (the returned dict).
  A finished training then deletes the mmengine checkpoints (``epoch_N.pth``
  holds the optimiser state, 240 MB for Xception; a grid of them filled a
  disk): only ``best.pth`` stays, unless ``keep_checkpoints=True``.
  A call whose ``done.json`` and ``best.pth`` exist returns at once; an
  interrupted call resumes from ``epoch_N.pth`` (the one-cycle schedule needs
  the same ``epochs``: a different one is an error, not a silent restart).
- Resume and torch's ``weights_only``: mmengine 0.10.7 resumes with
  ``torch.load``'s default ``weights_only=True`` (torch >= 2.6), which refuses
  its own checkpoints (``HistoryBuffer``, numpy scalars, ``getattr``).
  Allow-listing those globals would loosen every other load in the process
  (``getattr`` is a gadget), so instead :class:`HarnessRunner` fully unpickles
  only files under its own ``work_dir``, the harness's results folder, which
  it wrote itself; any other path is refused. Weights a user points at go
  through :func:`load_detector_checkpoint` with ``trusted=False``
  (weights-only, :mod:`detectors.weights`).
- Resume is exact: a training killed after epoch k and resumed ends with the
  same weights and the same best epoch as an uninterrupted one
  (:class:`ScheduleGuardHook` restores the random states and re-validates the
  resumed epoch); the result says ``resumed_from_epoch``.
- A NaN or inf loss raises :class:`NonFiniteLossError` before the epoch ends,
  so the last checkpoint on disk stays the last good one.
- Determinism: mmengine's ``randomness`` seed; ``deterministic=True`` on the
  CPU (restored afterwards). On CUDA it stays off: some backward kernels
  (adaptive pooling) have no deterministic version and would raise. New tensors
  are not NaN-filled (``fill_uninitialized_memory``): about 5 % of a CPU step,
  no weight changes.
- Quiet: the console shows warnings and, with ``progress``, a tqdm bar and one
  line per epoch; mmengine's INFO log goes to ``work_dir/<run>/<run>.log``.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseDataPreprocessor, BaseModel, MMDistributedDataParallel
from mmengine.model.wrappers import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from torch.utils.data import Dataset
from tqdm import tqdm

from bench.core.detector import Detector
from bench.core.devices import pick_device
from bench.core.errors import NonFiniteError
from bench.core.faceset import FaceSet
from bench.core.files import atomic_path, corrupt
from bench.core.weights import WeightsMismatchError, load_weights

DONE_FILE = "done.json"
BEST_FILE = "best.pth"
METRIC = "val/accuracy"


class NonFiniteLossError(NonFiniteError):
    """The detector's training loss became NaN or inf (the CLI exits 2 with its message)."""


class FaceDataset(Dataset):
    """A FaceSet as items ``{'inputs': uint8[H,W,3], 'data_samples': int64 label}``.

    Items stay in the FaceSet's HWC layout: collating contiguous HWC images is a plain
    copy, where stacking CHW views of them gathered strided bytes (3.1 against 7.4-8.3 ms
    a batch of 32 at 299 px on one CPU thread, ``tests/benchmarks/test_loader_speed.py``;
    the old cost is about the harness's lag behind a bare loop on an H200).
    :class:`FacePreprocessor` makes them NCHW on the device.
    """

    metainfo = {"classes": ("real", "fake")}

    def __init__(self, faces: FaceSet) -> None:
        self.faces = faces

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image = torch.from_numpy(self.faces.images[i].copy())
        return {"inputs": image, "data_samples": torch.tensor(int(self.faces.labels[i]))}


def random_blur(x: torch.Tensor, p: float, sigma: tuple[float, float],
                quantize: bool = False) -> torch.Tensor:
    """Gaussian-blur each image of ``x`` [B,C,H,W] with probability ``p``, sigma ~ U(sigma);
    with ``quantize``, the blurred images (only) are rounded to multiples of 1/255."""
    b, c, h, w = x.shape
    which = torch.rand(b, device=x.device) < p
    if p <= 0 or not bool(which.any()):
        return x
    s = torch.empty(b, device=x.device).uniform_(*sigma).clamp_min(1e-3)
    r = max(1, int(3.0 * sigma[1] + 0.5))
    t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    k1 = torch.exp(-0.5 * (t[None] / s[:, None]) ** 2)
    k1 = k1 / k1.sum(dim=1, keepdim=True)
    eye = torch.zeros_like(k1)
    eye[:, r] = 1.0
    k1 = torch.where(which[:, None], k1, eye)  # untouched images get the identity kernel
    k2 = (k1[:, :, None] * k1[:, None, :]).repeat_interleave(c, dim=0)[:, None]  # [B*C,1,k,k]
    y = F.pad(x.reshape(1, b * c, h, w), (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k2, groups=b * c).reshape(b, c, h, w)
    if quantize:
        y = torch.where(which.view(-1, 1, 1, 1), y.mul(255.0).round_().div_(255.0), y)
    return y


class FacePreprocessor(BaseDataPreprocessor):
    """On the device: NHWC -> NCHW in the model's memory format, uint8 -> float [0, 1],
    random horizontal flip and (``blur_p``) random Gaussian blur in training."""

    def __init__(self, flip: bool = True, channels_last: bool = False, blur_p: float = 0.0,
                 blur_sigma: tuple[float, float] = (0.4, 1.2), blur_quantize: bool = False) -> None:
        super().__init__()
        self.flip, self.channels_last = flip, channels_last
        self.blur_p, self.blur_sigma = float(blur_p), (float(blur_sigma[0]), float(blur_sigma[1]))
        self.blur_quantize = bool(blur_quantize)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        # FaceDataset's NHWC uint8 batch, laid out as the float batch always was: the same
        # values in the same layout, so the same kernels and the same weights.
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        x = data["inputs"].permute(0, 3, 1, 2).contiguous(memory_format=fmt)
        if training and self.flip:  # on the uint8 batch: a quarter of the float traffic
            flip = torch.rand(x.shape[0], device=x.device) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        if training and self.blur_p > 0:
            x = random_blur(x, self.blur_p, self.blur_sigma, self.blur_quantize)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return {"inputs": x, "data_samples": data["data_samples"]}


class DetectorModel(BaseModel):
    """mmengine's view of a detector: ``forward(inputs, data_samples, mode)``."""

    def __init__(self, detector: Detector, flip: bool = True, channels_last: bool = False,
                 blur_p: float = 0.0, blur_sigma: tuple[float, float] = (0.4, 1.2),
                 blur_quantize: bool = False) -> None:
        super().__init__(data_preprocessor=FacePreprocessor(flip, channels_last, blur_p, blur_sigma,
                                                            blur_quantize))
        self.detector = detector

    def forward(
        self, inputs: torch.Tensor, data_samples: torch.Tensor | None = None, mode: str = "tensor"
    ) -> Any:
        logits = self.detector(inputs)
        if mode == "tensor":
            return logits
        if mode == "loss":
            return {"loss": F.cross_entropy(logits.float(), data_samples)}
        if mode == "predict":  # one entry per face, so DDP's padded duplicates can be cut
            pred = logits.argmax(dim=1).tolist()
            return [{"pred": p, "label": int(t)} for p, t in zip(pred, data_samples.tolist())]
        raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got {mode!r}")


class FaceAccuracy(BaseMetric):
    """Frame accuracy of the argmax prediction (``val/accuracy``)."""

    default_prefix = "val"

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        self.results.extend(float(s["pred"] == s["label"]) for s in data_samples)

    def compute_metrics(self, results: list) -> dict[str, float]:
        return {"accuracy": sum(results) / max(len(results), 1)}


class NonFiniteLossHook(Hook):
    """Stop with a clear message when the loss is NaN or inf."""

    priority = "HIGHEST"

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        loss = (outputs or {}).get("loss")
        if loss is not None and not torch.isfinite(torch.as_tensor(loss).detach()).all():
            raise NonFiniteLossError(
                f"training stopped: the loss is {float(torch.as_tensor(loss).detach())} at epoch {runner.epoch + 1}, "
                f"iteration {batch_idx + 1}. The last good checkpoint stays in {runner.work_dir} "
                f"(a rerun resumes from it). Try a lower lr, or amp=False."
            )


class ThroughputHook(Hook):
    """Training images per second (all processes), epochs' loops only, and per-epoch lines."""

    priority = "HIGHEST"

    def __init__(self, progress: bool) -> None:
        self.progress, self.images, self.seconds = progress, 0, 0.0
        self.epoch_rates: list[float] = []  # img/s of each epoch (the first pays warm-up)
        self._bar: tqdm | None = None
        self._losses: list[float] = []

    def before_train_epoch(self, runner) -> None:
        self._t0, self._losses, self._images0 = time.perf_counter(), [], self.images
        if self.progress and runner.rank == 0:
            self._bar = tqdm(
                total=len(runner.train_dataloader),
                desc=f"epoch {runner.epoch + 1}/{runner.max_epochs}",
                leave=False,
                unit="batch",
            )

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.images += len(data_batch["inputs"]) * runner.world_size
        loss = (outputs or {}).get("loss")
        self._losses.append(float(loss.detach()) if torch.is_tensor(loss) else float("nan"))
        if self._bar is not None:
            self._bar.update(1)

    def after_train_epoch(self, runner) -> None:
        seconds = time.perf_counter() - self._t0
        self.seconds += seconds
        self.epoch_rates.append((self.images - self._images0) / max(seconds, 1e-9))
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self.progress and runner.rank == 0:
            loss = sum(self._losses) / max(len(self._losses), 1)
            acc = (metrics or {}).get(METRIC, float("nan"))
            rate = self.images / max(self.seconds, 1e-9)
            tqdm.write(
                f"epoch {runner.epoch}/{runner.max_epochs}: loss {loss:.4f}, "
                f"val acc {acc:.4f}, {rate:.0f} img/s"
            )


def rng_states() -> dict[str, Any]:
    """The random states training draws from (torch CPU and CUDA, numpy, Python)."""
    import random

    import numpy as np

    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
            "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` saved."""
    import random

    import numpy as np

    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ScheduleGuardHook(Hook):
    """Makes a resumed training the same run as an uninterrupted one.

    - stamps ``epochs`` into checkpoints and refuses to resume one written for another
      ``epochs`` (the one-cycle schedule depends on it);
    - saves the random states (flip, blur, dropout draw from them) with each checkpoint and
      restores them on resume (mmengine restores weights, optimiser, schedule and the best
      score, and re-seeds, which would replay epoch 1's draws);
    - on resume, validates the resumed epoch again before training goes on: mmengine saves
      ``epoch_N.pth`` *before* epoch N's validation, so a run killed in between would
      otherwise never consider epoch N for the best checkpoint (validation draws no random
      numbers, and an equal score does not replace the best, so re-validating is harmless
      when epoch N had been validated).
    """

    priority = "LOWEST"  # before_train after the CheckpointHook's (which sets up its files)

    def __init__(self) -> None:
        self.resumed_from = 0

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint["meta"]["harness_epochs"] = runner.max_epochs
        checkpoint["meta"]["harness_rng"] = rng_states()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get("meta", {}).get("harness_epochs")
        if saved is not None and saved != runner.max_epochs:
            raise ValueError(
                f"{runner.work_dir} holds a {saved}-epoch training; epochs={runner.max_epochs} "
                f"was asked for. Use another work_dir, or the same epochs to resume "
                f"(the one-cycle schedule depends on epochs)."
            )
        self.resumed_from = int(checkpoint.get("meta", {}).get("epoch", 0))
        if checkpoint.get("meta", {}).get("harness_rng") is not None:
            set_rng_states(checkpoint["meta"]["harness_rng"])

    def before_train(self, runner) -> None:
        if self.resumed_from:
            states = rng_states()
            runner.val_loop.run()
            set_rng_states(states)


class HarnessRunner(Runner):
    """A Runner that places the model on a chosen device and resumes its own checkpoints."""

    def __init__(self, *, device: torch.device, channels_last: bool, **kwargs: Any) -> None:
        self._target_device, self._channels_last = device, channels_last
        super().__init__(**kwargs)

    def wrap_model(self, model_wrapper_cfg: dict | None, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self._target_device)
        if self._channels_last:
            model = model.to(memory_format=torch.channels_last)
        if not self.distributed:
            return model
        ids = [self._target_device.index] if self._target_device.type == "cuda" else None
        return MMDistributedDataParallel(module=model, device_ids=ids, broadcast_buffers=False)

    def load_checkpoint(self, filename: str, map_location: Any = "cpu", strict: bool = False,
                        revise_keys: list = [(r"^module.", "")]) -> dict:  # noqa: B006 (mmengine's signature)
        """Fully unpickle a checkpoint this runner wrote under its ``work_dir``; refuse others."""
        path, root = Path(filename).resolve(), Path(self.work_dir).resolve()
        if not path.is_relative_to(root) and (root / path.name).is_file():
            path = root / path.name  # last_checkpoint names it by absolute path: a moved folder
        if not path.is_relative_to(root):
            raise ValueError(
                f"refusing to resume from {str(path)!r}: only checkpoints under the run's own "
                f"work_dir {str(root)!r} are fully unpickled; load outside weights with "
                f"load_detector_checkpoint(..., trusted=False)"
            )
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        except CHECKPOINT_READ_ERRORS as exc:
            raise corrupt("checkpoint", path, exc, f"delete it and {root / 'last_checkpoint'} to "
                          "start this training over (or the whole folder)") from exc
        self.call_hook("after_load_checkpoint", checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        return checkpoint

    def save_checkpoint(self, out_dir: str, filename: str, *args: Any, **kwargs: Any) -> None:
        """mmengine's save (CheckpointHook's epoch and best checkpoints), made atomic
        (:func:`bench.core.files.atomic_path`), so a kill or a full disk never leaves a
        truncated ``epoch_N.pth`` (a failed write removes its temp file)."""
        with atomic_path(Path(out_dir) / filename) as tmp:
            super().save_checkpoint(out_dir, tmp.name, *args, **kwargs)


def _checkpoint_read_errors() -> tuple[type[BaseException], ...]:
    import pickle
    import zipfile

    return (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError,
            ValueError, KeyError, TypeError, AttributeError, IndexError)


CHECKPOINT_READ_ERRORS = _checkpoint_read_errors()  # what torch.load raises on a damaged file


_NOISE = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias')


def _drop_mmengine_noise(record: logging.LogRecord) -> bool:
    """Console filter: mmengine 0.10.7's CheckpointHook warns about its own FileClient use."""
    return not any(text in record.getMessage() for text in _NOISE)


resolve_device = pick_device  # the one device chooser (bench/core/devices.py)


def amp_dtype(device: torch.device) -> str:
    """``bfloat16`` where the GPU supports it, else ``float16`` (with loss scaling)."""
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def build_runner(
    detector: Detector,
    train: FaceSet,
    val: FaceSet,
    work_dir: Path,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    device: str = "auto",
    amp: bool = False,
    channels_last: bool = False,
    seed: int = 0,
    launcher: str = "none",
    num_workers: int = 0,
    progress: bool = True,
    weight_decay: float = 1e-2,
    flip: bool = True,
    blur_p: float = 0.0,
    blur_sigma: tuple[float, float] = (0.4, 1.2),
    blur_quantize: bool = False,
    fused_adamw: bool = False,
    hooks: Sequence[Hook] = (),
) -> HarnessRunner:
    """The configured :class:`HarnessRunner` (not yet trained); see :func:`train_detector`."""
    for name, faces in (("train", train), ("val", val)):
        if len(faces) == 0:
            raise ValueError(f"the {name} FaceSet is empty")
    dev = resolve_device(device, launcher)
    if amp and dev.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device, got {dev}; set amp=False (train.amp)")
    if launcher not in ("none", "pytorch"):
        raise ValueError(f"launcher must be 'none' or 'pytorch' (torchrun), got {launcher!r}")
    if launcher == "pytorch" and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")

    def loader(faces: FaceSet, shuffle: bool) -> dict:
        return dict(
            dataset=FaceDataset(faces),
            batch_size=batch_size,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            pin_memory=dev.type == "cuda",
            sampler=dict(type="DefaultSampler", shuffle=shuffle),
            collate_fn=dict(type="default_collate"),
        )

    optim = dict(type="AdamW", lr=lr, weight_decay=weight_decay)
    if fused_adamw:
        optim["fused"] = True
    optim_wrapper = (
        dict(type="AmpOptimWrapper", dtype=amp_dtype(dev), optimizer=optim)
        if amp
        else dict(type="OptimWrapper", optimizer=optim)
    )
    runner = HarnessRunner(
        device=dev,
        channels_last=channels_last,
        model=DetectorModel(detector, flip=flip, channels_last=channels_last, blur_p=blur_p,
                            blur_sigma=tuple(blur_sigma), blur_quantize=blur_quantize),
        work_dir=str(work_dir),
        experiment_name=f"{type(detector).__name__.lower()}_{uuid.uuid4().hex[:6]}",
        train_dataloader=loader(train, True),
        val_dataloader=loader(val, False),
        val_evaluator=[FaceAccuracy()],
        train_cfg=dict(by_epoch=True, max_epochs=epochs, val_interval=1),
        val_cfg=dict(),
        optim_wrapper=optim_wrapper,
        param_scheduler=dict(
            type="OneCycleLR", eta_max=lr, pct_start=0.3, by_epoch=True, begin=0, end=epochs,
            convert_to_iter_based=True,
        ),
        default_hooks=dict(
            logger=dict(type="LoggerHook", interval=50),
            checkpoint=dict(
                type="CheckpointHook", interval=1, max_keep_ckpts=1, save_last=True,
                save_best=METRIC, rule="greater",
            ),
        ),
        custom_hooks=[NonFiniteLossHook(), ThroughputHook(progress), ScheduleGuardHook(), *hooks],
        launcher=launcher,
        env_cfg=dict(cudnn_benchmark=dev.type == "cuda", dist_cfg=dict(backend="gloo")),
        randomness=dict(seed=seed, deterministic=dev.type == "cpu"),
        log_level="WARNING",
        resume=(Path(work_dir) / "last_checkpoint").is_file(),
        default_scope="mmengine",
    )
    for handler in runner.logger.handlers:  # the console stays at WARNING, the file gets INFO
        if isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.INFO)
        else:
            handler.addFilter(_drop_mmengine_noise)
    return runner


def training_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against :func:`build_runner`'s keyword arguments, its defaults
    filled in (a ``TypeError`` names an unknown or missing one)."""
    bound = inspect.signature(build_runner).bind(None, None, None, None, **options)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items()
            if k not in ("detector", "train", "val", "work_dir")}


def train_detector(
    detector: Detector,
    train: FaceSet,
    val: FaceSet,
    work_dir: Path,
    *,
    keep_checkpoints: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Train ``detector`` in place; select on ``val``; return the run's facts.

    Returns ``{'checkpoint': path of best.pth, 'best_val_acc', 'epochs', 'seconds'
    (this call's wall time), 'img_per_s' (training throughput of this call, all
    processes), 'epoch_img_per_s' (per epoch trained in this call: the first one pays
    cuDNN autotuning and communicator start-up on a GPU), 'resumed_from_epoch', 'device', 'amp_dtype'}``; ``detector``
    holds the best weights afterwards. Idempotent given ``work_dir``. ``options`` are
    :func:`build_runner`'s keyword arguments, whose defaults are the only ones.
    """
    opts = training_options(options)
    epochs, amp = opts["epochs"], opts["amp"]
    work_dir = Path(work_dir)
    done = _read_done(work_dir, epochs)
    if done is not None:
        load_detector_checkpoint(detector, done["checkpoint"], trusted=True)
        return done
    work_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    flags = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
             torch.backends.cudnn.benchmark, torch.utils.deterministic.fill_uninitialized_memory)
    runner = None
    try:
        runner = build_runner(detector, train, val, work_dir, **opts)
        # Deterministic algorithms also fill every new empty tensor with NaN by default: about 5 %
        # of a 64 px CPU step (EfficientNet-B4 1.08 -> 1.02 s, Xception 0.80 -> 0.76 s, one
        # thread), and not one weight changes (same weights after 12 steps with and without).
        torch.utils.deterministic.fill_uninitialized_memory = False
        runner.train()
        throughput = next(h for h in runner.hooks if isinstance(h, ThroughputHook))
        resumed = next(h for h in runner.hooks if isinstance(h, ScheduleGuardHook)).resumed_from
        best = runner.message_hub.get_info("best_ckpt")
        result = {
            "checkpoint": str((work_dir / BEST_FILE).resolve()),
            "best_val_acc": float(runner.message_hub.get_info("best_score")),
            "epochs": epochs,
            "seconds": time.perf_counter() - start,
            "img_per_s": throughput.images / max(throughput.seconds, 1e-9),
            "epoch_img_per_s": [round(r, 2) for r in throughput.epoch_rates],
            "resumed_from_epoch": resumed,
            "device": str(runner._target_device),
            "amp_dtype": amp_dtype(runner._target_device) if amp else None,
        }
        if runner.rank == 0:
            _export_best(best, work_dir / BEST_FILE, result)
            if not keep_checkpoints:
                _prune_checkpoints(work_dir)
        if runner.distributed:
            dist.barrier()
        load_detector_checkpoint(detector, result["checkpoint"], trusted=True)
        return result
    finally:
        torch.use_deterministic_algorithms(flags[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[1:3]
        torch.utils.deterministic.fill_uninitialized_memory = flags[3]
        for handler in list(runner.logger.handlers) if runner is not None else []:
            if isinstance(handler, logging.FileHandler):
                handler.close()
                runner.logger.removeHandler(handler)


def load_detector_checkpoint(detector: Detector, path: str | Path, *, trusted: bool) -> Detector:
    """Load weights into ``detector``: a plain state_dict, ``best.pth``, or an mmengine checkpoint.

    ``trusted=False`` (anything a user points at) reads weights-only and refuses
    pickles that build arbitrary objects; ``trusted=True`` is for checkpoints the
    harness wrote under its own results folder; one that does not read (truncated, a torch
    stream error) is a :class:`~bench.core.files.CorruptFileError` naming it and its folder.
    """
    if not trusted:
        return load_weights(detector, path, trusted=trusted)
    try:
        return load_weights(detector, path, trusted=trusted)
    except (WeightsMismatchError, FileNotFoundError):
        raise
    except CHECKPOINT_READ_ERRORS as exc:
        folder = Path(path).parent
        raise corrupt("checkpoint", path, exc, f"delete the folder {folder} and run again to "
                      "train it again") from exc


def _read_done(work_dir: Path, epochs: int) -> dict[str, Any] | None:
    done_file = work_dir / DONE_FILE
    if not done_file.is_file():
        return None
    try:
        done = json.loads(done_file.read_text(encoding="utf-8"))
        stored = Path(str(done["checkpoint"]))
        int(done["epochs"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise corrupt("training record", done_file, exc if str(exc) else type(exc).__name__,
                      f"delete the folder {work_dir} and run again to train it again") from exc
    # done.json names the weights relative to its folder ("best.pth"); one written before
    # (an absolute path) is read from this folder too: a results folder that was moved or
    # copied (another disk, back from a cluster) uses its own weights, never the original's
    here = work_dir / (stored.name if stored.is_absolute() else stored)
    if not here.is_file():
        return None
    done["checkpoint"] = str(here)
    if done["epochs"] != epochs:
        raise ValueError(
            f"{work_dir} holds a finished {done['epochs']}-epoch training; epochs={epochs} was "
            f"asked for. Use another work_dir (the one-cycle schedule depends on epochs)."
        )
    return done


def _prune_checkpoints(work_dir: Path) -> None:
    """Delete a finished training's mmengine checkpoints (``done.json`` and ``best.pth`` stay)."""
    for path in [*work_dir.glob("epoch_*.pth"), *work_dir.glob("best_*_epoch_*.pth"),
                 work_dir / "last_checkpoint"]:
        path.unlink(missing_ok=True)


def _export_best(best_ckpt: str | None, target: Path, result: dict[str, Any]) -> None:
    """Write the best weights as a plain state_dict (``best.pth``), then ``done.json``."""
    if not best_ckpt or not Path(best_ckpt).is_file():
        raise RuntimeError(f"training finished without a best checkpoint (looked for {best_ckpt!r})")
    state = torch.load(best_ckpt, map_location="cpu", weights_only=False)["state_dict"]
    state = {k.removeprefix("detector."): v for k, v in state.items()}
    with atomic_path(target) as tmp:
        torch.save({"state_dict": state}, tmp)
    from bench.core.store import atomic_write_text

    # the weights by their name in this folder: a moved or copied results folder reads its own
    stored = {**result, "checkpoint": target.name}
    atomic_write_text(target.parent / DONE_FILE, json.dumps(stored, indent=2))
