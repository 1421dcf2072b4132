"""Copy a finished work folder into a published result set (``results/<set>/``).

A published set is what the README's numbers come from (docs/results.md, "A published set"):
every run record (JSON) with its per-face arrays trimmed to ``prob``, ``label`` and ``video``
(the method's artifacts, bleached images and features, stay in the work folder), the tables as
rendered, and a ``manifest.json`` naming the commands, seeds, commits, versions and host.

    python tools/publish_set.py work_dirs/publish results/quick --seeds 0,1,2 \\
        --command "python -m bench run --method pixel_bleach --detector all --seeds 0,1,2 --jobs 2"

The target's ``records/`` and ``tables/`` are replaced; its ``README.md`` is kept. The new set is
built beside the old one and swapped in only when complete, so an interrupted or refused publish
leaves the previous set whole. Exit 2 when the work folder has no records or a record's arrays
are missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.core.store import ARRAY_KEYS, atomic_write_text  # noqa: E402

VERSION_KEYS = ("torch", "torchvision", "timm", "mmengine-lite", "numpy", "python")


def trim_arrays(src: Path, dst: Path) -> None:
    """Write ``src``'s per-face arrays (:data:`ARRAY_KEYS`) alone to ``dst``."""
    with np.load(src, allow_pickle=False) as z:
        np.savez_compressed(dst, **{k: z[k] for k in ARRAY_KEYS})


def copy_records(runs: Path, records: Path) -> list[dict]:
    """Every record of ``runs`` into the new folder ``records`` (arrays trimmed); the records,
    parsed. ValueError naming the file where a record's arrays are missing."""
    parsed = [(path, json.loads(path.read_text())) for path in sorted(runs.glob("*.json"))]
    for path, record in parsed:  # refuse before writing anything
        npz = runs / record["arrays"]["file"]
        if not npz.is_file():
            raise ValueError(f"{npz} is missing (the record {path.name} names it)")
    records.mkdir(parents=True)
    for path, record in parsed:
        npz = runs / record["arrays"]["file"]
        trim_arrays(npz, records / npz.name)
        record["arrays"] = {**record["arrays"], "keys": list(ARRAY_KEYS)}
        (records / path.name).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return [record for _, record in parsed]


def swap_in(new: Path, target: Path) -> None:
    """Replace the folder ``target`` with the finished folder ``new`` (a sibling)."""
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    new.rename(target)
    if old.exists():
        shutil.rmtree(old)


def manifest(name: str, what: str, records: list[dict], seeds: list[int], commands: list[str],
             jobs: int) -> dict:
    """The set's manifest: what made it, from the records themselves where they say it."""
    specs = [r["spec"] for r in records]
    versions = records[0].get("versions", {}) if records else {}
    return {
        "name": name, "what": what,
        "profile": sorted({s["profile"] for s in specs}),
        "dataset": sorted({s["dataset"] for s in specs}),
        "seeds": seeds,
        "fit_seeds": sorted({int(s.get("fit_seed", 0)) for s in specs}),
        "runs": len(records),
        "commits": sorted({r.get("git_commit", "") for r in records} - {""}),
        "commit_note": "each record names the commit that made it (git_commit)",
        "host": {"cpu": f"{platform.machine()}, {os.cpu_count()} cores", "jobs": jobs,
                 "threads_per_detector": 1},
        "versions": {k: versions[k] for k in VERSION_KEYS if k in versions},
        "commands": commands,
        "render": f"python -m bench table main --seeds {','.join(map(str, seeds))} --results results/{name}",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("work", type=Path, help="a finished work folder (runs/, tables/)")
    p.add_argument("out", type=Path, help="the published set, e.g. results/quick")
    p.add_argument("--seeds", default="0,1,2", help="the detector seeds of the set")
    p.add_argument("--what", default="", help="one line: what the set holds")
    p.add_argument("--command", action="append", default=[], help="a command that made it (repeatable)")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(argv)
    runs = args.work / "runs"
    if not any(runs.glob("*.json")):
        print(f"publish: no run records in {runs}", file=sys.stderr)
        return 2
    stage = args.out / ".publishing"
    if stage.exists():
        shutil.rmtree(stage)
    try:
        records = copy_records(runs, stage / "records")
    except ValueError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        print(f"publish: {exc}", file=sys.stderr)
        return 2
    shutil.copytree(args.work / "tables", stage / "tables")
    seeds = [int(s) for s in args.seeds.split(",")]
    m = manifest(args.out.name, args.what, records, seeds, args.command, args.jobs)
    swap_in(stage / "records", args.out / "records")
    swap_in(stage / "tables", args.out / "tables")
    stage.rmdir()
    atomic_write_text(args.out / "manifest.json", json.dumps(m, indent=1) + "\n")
    tables = args.out / "tables"
    print(f"published {len(records)} records and {len(list(tables.iterdir()))} tables to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
