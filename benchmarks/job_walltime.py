"""Where a finished run's job wall time went: Snakemake's ``benchmark:`` files per rule, and the
part of the training jobs spent in the training loop (``wall_s`` of each phase's ``cost.json``:
steps plus its English-dev evaluations).  "Outside training" is everything else: interpreter
and library start-up, config, model and data loading, evaluation, profiling, writing.

    python benchmarks/job_walltime.py [WORKDIR]     (default: the current directory)
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from xstilts.core import paths  # noqa: E402


def loop_wall(rule: str, parts: list[str], root: Path) -> float:
    """Seconds of the training loop of one target/intermediate job (0 for other rules)."""
    if rule == "target":
        model, inter, target, seed = parts
        ckpt = paths.cell_model_dir(model, inter, target, seed.lstrip("s"))
    elif rule == "intermediate":
        model, inter, seed = parts
        ckpt = paths.inter_dir(model, inter, seed.lstrip("s"))
    else:
        return 0.0
    f = root / paths.checkpoint_done(ckpt)
    return float(json.loads(f.read_text()).get("wall_s", 0.0)) if f.exists() else 0.0


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    bench = root / paths.RESULTS / "benchmarks"
    rows = defaultdict(lambda: {"jobs": 0, "wall": 0.0, "cpu": 0.0, "loop": 0.0})
    for f in sorted(bench.rglob("*.tsv")):
        rel = f.relative_to(bench).with_suffix("").parts
        rule = rel[0]
        with open(f) as fh:
            rec = next(csv.DictReader(fh, delimiter="\t"))
        r = rows[rule]
        r["jobs"] += 1
        r["wall"] += float(rec["s"])
        r["cpu"] += float(rec.get("cpu_time") or 0.0)
        r["loop"] += loop_wall(rule, list(rel[1:]), root)
    tot = {k: sum(r[k] for r in rows.values()) for k in ("jobs", "wall", "cpu", "loop")}
    print(f"{'rule':<14}{'jobs':>5}{'wall s':>10}{'cpu s':>10}{'train loop s':>14}{'outside s':>11}")
    for rule, r in sorted(rows.items(), key=lambda kv: -kv[1]["wall"]):
        print(f"{rule:<14}{r['jobs']:>5}{r['wall']:>10.0f}{r['cpu']:>10.0f}{r['loop']:>14.0f}"
              f"{r['wall'] - r['loop']:>11.0f}")
    print(f"{'total':<14}{tot['jobs']:>5}{tot['wall']:>10.0f}{tot['cpu']:>10.0f}{tot['loop']:>14.0f}"
          f"{tot['wall'] - tot['loop']:>11.0f}")


if __name__ == "__main__":
    main()
