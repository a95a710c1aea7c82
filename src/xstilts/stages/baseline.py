"""The ``baseline`` stage: trivial non-neural baselines of a target."""

from __future__ import annotations

from xstilts.core import paths, records
from xstilts.core.registry import get_task
from xstilts.stages.common import log


def run(cfg, target: str, out: str | None = None) -> None:
    from xstilts.stages.evaluate import evaluate_baselines

    task = get_task(target)
    out = out or paths.baseline_eval(target)
    meta = {"benchmark": cfg.benchmark, "target": target, "seed": None}
    result = evaluate_baselines(task, cfg.local_root(target), cfg.eval_languages(task.name),
                                meta, options=cfg.options(target, "target"))
    records.EvalRecord.from_dict(result).write(out)
    log(f"baselines of {target}: " + ", ".join(
        f"{k} {v['average']:.3f}" for k, v in result["baselines"].items()) + f" -> {out}")
