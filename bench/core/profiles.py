"""Profiles: named configurations (``--profile smoke|quick|paper``) and a user's own file
(``--config FILE``), read with mmengine's ``Config`` from ``configs/`` (``_base_`` inheritance).

A configuration is plain data. Each section is passed as keyword arguments to the component that
owns it: ``dataset`` to the ``DATASETS`` entry, ``faces`` to the face cache, ``train`` to detector
training (``train.per_detector.<name>`` overrides the shared keys for one detector), ``detector``
to the detectors, ``method`` to every method that takes the key. ``--cfg-options faces.size=96``
overrides any key; an unknown key is an error with the nearest valid one (bench/core/config.py).
The configuration files say what each value is; docs/configuration.md says why.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any


def _config_dir() -> Path:
    """The packaged configuration files: a checkout's top-level ``configs/``, else the installed
    copy (``bleachbench/configs``, pyproject.toml's package data)."""
    top = Path(__file__).resolve().parents[2]  # a checkout, or site-packages
    return top / "configs" if (top / "configs").is_dir() else top / "bleachbench" / "configs"


CONFIG_DIR = _config_dir()


def load_config(path: str | Path) -> dict[str, Any]:
    """The configuration in file ``path`` (mmengine ``Config``, ``_base_`` resolved) as a dict."""
    from mmengine.config import Config

    from bench.core.config import ConfigError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file")
    try:
        cfg = Config.fromfile(str(path)).to_dict()
    except Exception as exc:  # a syntax or _base_ error in the user's file: one line
        raise ConfigError(f"--config {path}: cannot be read ({type(exc).__name__}: {exc})") from None
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def _packaged() -> dict[str, dict[str, Any]]:
    return {p.stem: load_config(p) for p in sorted(CONFIG_DIR.glob("*.py"))}


PROFILES: dict[str, dict[str, Any]] = _packaged()


def get_profile(name: str, overrides: dict[str, Any] | None = None, *,
                dataset: str | None = None, root: str | None = None,
                config: str | Path | None = None) -> dict[str, Any]:
    """A deep copy of profile ``name`` (or of the file ``config``, named by its ``name`` key or
    its stem), checked (bench/core/config.py), with ``dataset`` (a dataset name: the profile's
    dataset options are kept when it names the same dataset, else the section starts empty),
    then the dotted ``overrides``, then ``root`` applied."""
    from bench.core.config import ConfigError, check_profile, suggest

    if config is not None:
        profile = load_config(config)
        name = str(profile.get("name") or Path(config).stem)
    elif name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}{suggest(name, PROFILES)}; "
                          f"known profiles: {', '.join(PROFILES)}")
    else:
        profile = copy.deepcopy(PROFILES[name])
    profile["name"] = name
    if dataset and profile["dataset"].get("type") != dataset:
        profile["dataset"] = {"type": dataset}
    for dotted, value in (overrides or {}).items():
        node = profile
        *parents, leaf = dotted.split(".")
        for i, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--cfg-options {dotted}: {'.'.join(parents[:i + 1])!r} is a "
                                  f"value, not a section")
        node[leaf] = value
    if root is not None:
        profile["dataset"]["root"] = str(root)
    check_profile(profile, origin=" (from --cfg-options)" if overrides else "")
    return profile
