"""Zero-shot evaluation of a target checkpoint in every language of the target task.

Writes ``eval.json`` (per-language metric, XTREME-style average, provenance) and the
predictions in the XTREME submission layout (``predictions/<task>/test-<lang>.tsv``).  torch is
imported inside the functions that run a model: the ``baseline`` stage uses this module's
torch-free :func:`evaluate_baselines`.
"""

from __future__ import annotations

import os
import time

import numpy as np

from xstilts import __version__
from xstilts.core import paths
from xstilts.core.errors import InputError
from xstilts.core.records import EvalRecord, Provenance
from xstilts.core.registry import ENGLISH, Task, get_family
from xstilts.stages.common import log, predict
from xstilts.stages.data import read_features


def evaluate_cell(model, task: Task, data_dir: str, languages: list[str], out_eval: str,
                  pred_dir: str, *, device, dtype: str, batch_size: int | None, pad_id: int,
                  meta: dict, options: dict | None = None) -> dict:
    import torch

    family = get_family(task.family)
    options = dict(options or {})
    model.to(device)
    per_lang = {}
    t0 = time.perf_counter()
    for lang in languages:
        feats = read_features(paths.data_test(data_dir, lang))
        preds = predict(model, task, family, feats, batch_size, device, dtype, pad_id)
        ids, outputs = family.outputs(task, preds, feats, **options)
        per_lang[lang] = family.score(task, ids, outputs, feats, lang)
        family.write_predictions(task, outputs, ids, pred_dir, lang, **options)
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
        "provenance": {**meta.get("provenance", {}), **Provenance(
            xstilts=__version__, torch=torch.__version__, device=str(device), dtype=dtype,
            evaluated_at=time.strftime("%Y-%m-%dT%H:%M:%S")).to_json()},
    }
    EvalRecord.from_dict(result).write(out_eval)
    return result


def _inputs(cfg, cell) -> tuple:
    """A cell's bound target (task, family options) and its tokenized data folder."""
    return (cfg.bound(cell.target, "target", model=cell.model),
            paths.data_dir(cfg.tokenizer_of(cell.model), cell.target))


def _name(cell) -> str:
    m, i, t, s = cell.key
    return f"{m}/{i}/{t}/s{s}"


def eval_key(cfg, cell, ckpt: str) -> str:
    """What an evaluation of a checkpoint depends on besides the code: the checkpoint (its
    ``cost.json``), the tokenized test data (its manifest), the decoding options and the
    languages.  The staged evaluation of a target job is adopted only under the same key."""
    from xstilts.stages.common import file_digest, json_digest

    bound, data = _inputs(cfg, cell)
    return json_digest({"checkpoint": file_digest(paths.checkpoint_done(ckpt)),
                        "data": file_digest(paths.manifest_file(data)), "options": bound.options,
                        "languages": cfg.eval_languages(cell.target), "cell": list(cell.key)})


def _evaluate(cfg, cell, model, ckpt: str, pad_id: int, device, out: str, pred_dir: str) -> dict:
    """``model`` (already built, on any device) in every language of the cell's target."""
    bound, data = _inputs(cfg, cell)
    m, i, t, s = cell.key
    meta = {"benchmark": cfg.benchmark, "model": m, "inter": i, "target": t, "seed": s,
            "partial_average": cfg.partial_languages(t),  # a languages.<target> subset
            "provenance": Provenance(checkpoint=ckpt, data=data, config=cfg.source).to_json()}
    res = evaluate_cell(model, bound.task, data, cfg.eval_languages(t), out, pred_dir, device=device,
                        dtype=cfg.runtime.dtype, batch_size=None, pad_id=pad_id, meta=meta,
                        options=bound.options)
    log(f"{_name(cell)}: average {res['average']:.3f} "
        + " ".join(f"{lang}={v[bound.task.metric]:.3f}" for lang, v in res["languages"].items()))
    return res


def stage_after_training(cfg, cell, model, pad_id: int, device) -> dict:
    """Called by the target job with the model it has just trained and saved: evaluate it in
    memory into the checkpoint's staging folder (:func:`paths.staged_eval_dir`), keyed by
    :func:`eval_key`, so that the ``evaluate`` job needs neither torch nor the model."""
    import shutil

    from xstilts.stages.common import write_text

    ckpt = cell.model_dir
    staged = paths.staged_eval_dir(ckpt)
    shutil.rmtree(staged, ignore_errors=True)
    res = _evaluate(cfg, cell, model, ckpt, pad_id, device, paths.staged_eval(ckpt),
                    paths.staged_predictions(ckpt))
    write_text(paths.staged_key(ckpt), eval_key(cfg, cell, ckpt))  # last: marks it complete
    return res


def staged(cfg, cell, ckpt: str | None = None) -> bool | None:
    """Whether the target job staged an evaluation of ``ckpt`` (default: the cell's checkpoint)
    under the key this evaluation would have: None when it staged none, False when it was made
    under other options or data."""
    ckpt = ckpt or cell.evaluated
    try:
        with open(paths.staged_key(ckpt), encoding="utf-8") as fh:
            staged_key = fh.read().strip()
    except FileNotFoundError:
        return None
    return staged_key == eval_key(cfg, cell, ckpt)


def adopts(cfg, cell) -> bool:
    """Whether the cell's evaluate job will only copy its target job's staged evaluation (a
    zero-shot cell has no target job: it is always evaluated)."""
    return not cell.zero_shot and bool(staged(cfg, cell))


def _adopt(cfg, cell, ckpt: str, out: str, pred_dir: str) -> dict | None:
    """The target job's staged evaluation of ``ckpt``, copied to ``out``/``pred_dir``, if it
    was made under the key this evaluation would have (else None)."""
    import shutil

    current = staged(cfg, cell, ckpt)
    if not current:
        if current is False:
            log(f"{paths.staged_key(ckpt)}: made under other options or data; evaluating again")
        return None
    record = EvalRecord.from_json(paths.staged_eval(ckpt))
    shutil.rmtree(pred_dir, ignore_errors=True)
    shutil.copytree(paths.staged_predictions(ckpt), pred_dir)
    record.write(out)
    log(f"{_name(cell)}: adopted the evaluation the target job "
        f"made of {ckpt} (same checkpoint, data, options and languages)")
    return record.to_json()


def run(cfg, cell, out: str | None = None, ckpt: str | None = None, predictions: str | None = None) -> dict:
    """The ``evaluate`` stage: the cell's checkpoint in every language of its target (for a
    trained target, the evaluation its target job staged, when still valid).  Evaluating the
    cell's own checkpoint also writes the cell's training cost (``profile.json`` next to
    ``eval.json``, :func:`xstilts.stages.cell_cost.cell_cost`): both read the same checkpoints."""
    from xstilts.stages.cell_cost import cell_cost

    own = ckpt is None or os.path.abspath(ckpt) == os.path.abspath(cell.evaluated)
    if not own and not os.path.isdir(ckpt):
        raise InputError(f"--ckpt {ckpt}: no such checkpoint folder (a phase's checkpoint, such as "
                         f"this cell's {cell.evaluated})")
    ckpt = ckpt or cell.evaluated
    out, pred_dir = out or cell.eval_file, predictions or cell.predictions
    result = None if cell.zero_shot else _adopt(cfg, cell, ckpt, out, pred_dir)
    if result is None:
        result = _evaluate_checkpoint(cfg, cell, ckpt, out, pred_dir)
    if own:
        cell_cost(cell).write(paths.cost_next_to(out))
    return result


def _evaluate_checkpoint(cfg, cell, ckpt: str, out: str, pred_dir: str) -> dict:
    from xstilts.stages.models import XstiltsModel, load_encoder, load_task_model, load_tokenizer

    task = _inputs(cfg, cell)[0].task
    device = cfg.runtime.start()
    if cell.zero_shot:  # the intermediate checkpoint itself (scratch: a random init of the base)
        model = XstiltsModel(load_encoder(ckpt, random_init=cell.inter.random_init, seed=int(cell.seed)))
    else:
        model = load_task_model(ckpt, [task])
    tok = load_tokenizer(paths.tokenizer_dir(cfg.tokenizer_of(cell.model)))
    return _evaluate(cfg, cell, model, ckpt, tok.pad_token_id, device, out, pred_dir)


def evaluate_baselines(task: Task, local_root: str | None, languages: list[str], meta: dict,
                       options: dict | None = None) -> dict:
    """Trivial non-neural baselines of a target, in the ``eval.json`` shape (one entry per
    baseline kind under ``baselines``; the best of them is the headline ``average``)."""
    from xstilts.analysis.baselines import task_examples

    family = get_family(task.family)
    splits = task_examples(task, local_root, languages)
    options = family.resolve_options({**family.default_options(), **task.hparams, **(options or {})})
    scores = family.baselines(task, splits["train"], {lang: splits[lang] for lang in languages}, **options)
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
