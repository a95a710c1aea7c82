"""Zero-shot evaluation of a target checkpoint in every language of the target task.

Writes ``eval.json`` (per-language metric, XTREME-style average, provenance) and the
predictions in the XTREME submission layout (``predictions/<task>/test-<lang>.tsv``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from xstilts import __version__
from xstilts.stages.data import read_features
from xstilts.core.registry import ENGLISH, Task, get_family


def evaluate_cell(model, task: Task, data_dir: str, languages: list[str], out_eval: str,
                  pred_dir: str, *, device, dtype: str, batch_size: int, pad_id: int,
                  meta: dict, options: dict | None = None) -> dict:
    from xstilts.stages.train import predict

    family = get_family(task.family)
    model.to(device)
    per_lang = {}
    t0 = time.perf_counter()
    for lang in languages:
        feats = read_features(Path(data_dir) / f"test-{lang}.parquet")
        preds = predict(model, task, family, feats, batch_size, device, dtype, pad_id)
        ids, outputs = family.outputs(task, preds, feats, **(options or {}))
        per_lang[lang] = family.score(task, ids, outputs, feats, lang)
        family.write_predictions(task, outputs, ids, pred_dir, lang)
    averaged = task.averaged_languages(languages)
    zero_shot = [lang for lang in averaged if lang != ENGLISH]
    result = {
        **meta,
        "metric": task.metric,
        "languages": per_lang,
        "average": float(np.mean([per_lang[lang][task.metric] for lang in averaged])),
        "average_zero_shot": (float(np.mean([per_lang[lang][task.metric] for lang in zero_shot]))
                              if zero_shot else None),
        "averaged_over": averaged,
        "eval_wall_s": time.perf_counter() - t0,
        "provenance": {**meta.get("provenance", {}), "xstilts": __version__,
                       "torch": torch.__version__, "device": str(device), "dtype": dtype,
                       "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S")},
    }
    Path(out_eval).parent.mkdir(parents=True, exist_ok=True)
    Path(out_eval).write_text(json.dumps(result, indent=2))
    return result


def write_labels(task: Task, examples_by_lang: dict[str, list[dict]], out_dir: str) -> list[str]:
    """Gold labels in the XTREME submission layout, for ``xstilts score``."""
    family = get_family(task.family)
    paths = []
    for lang, exs in examples_by_lang.items():
        ids, outputs = family.gold(task, exs)
        paths.append(str(family.write_predictions(task, outputs, ids, out_dir, lang)))
    return paths


def evaluate_baselines(task: Task, local_root: str | None, languages: list[str], meta: dict) -> dict:
    """Trivial non-neural baselines of a target, in the ``eval.json`` shape (one entry per
    baseline kind under ``baselines``; the best of them is the headline ``average``)."""
    from xstilts.analysis.baselines import task_examples

    family = get_family(task.family)
    splits = task_examples(task, local_root, languages)
    scores = family.baselines(task, splits["train"], {lang: splits[lang] for lang in languages})
    averaged = task.averaged_languages(languages)
    out = {}
    for name, per_lang in scores.items():
        out[name] = {
            **meta, "model": f"baseline:{name}", "inter": "baseline", "metric": task.metric,
            "languages": {lang: {task.metric: float(per_lang[lang]), "n": len(splits[lang])}
                          for lang in languages},
            "average": float(np.mean([per_lang[lang] for lang in averaged])),
            "average_zero_shot": (float(np.mean([per_lang[lang] for lang in averaged if lang != ENGLISH]))
                                  if any(lang != ENGLISH for lang in averaged) else None),
            "averaged_over": averaged,
        }
    best = max(out, key=lambda k: out[k]["average"])
    return {**out[best], "baselines": out, "best_baseline": best,
            "chance": family.chance(task, splits["train"])}
