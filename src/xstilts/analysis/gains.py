"""Gains with confidence intervals, scores with intervals, cost-effectiveness, break-even.

Reads the aggregated tables (``cells``, ``languages``), every cell's predictions folder and the
gold labels (``results/labels``), scores every test example with its family
(``Family.example_scores``) and runs the paired bootstrap of :mod:`xstilts.analysis.stats`.
Writes four tables next to the others:

``gains.parquet``
    one row per (model, inter, target, comparison): ``inter_vs_none`` (the cell minus the same
    model's ``none`` cell, paired by seed), ``none_vs_scratch`` (pretraining's contribution:
    ``none`` minus the random-init control; the row's inter is ``none``) and
    ``variant_vs_plain`` (a ``+mlm`` / ``+translate`` cell minus its plain intermediate's; the
    row's ``versus`` is the plain one), ``interaction_vs_smallest`` (this model's ``inter_vs_none`` gain minus the smallest model's,
    the size interaction).  All on the zero-shot average; ``gain, ci_low, ci_high, p_value,
    n_seeds, n_examples, languages`` and ``versus``, ``seed_level`` (whether the interval
    includes seed-to-seed variation: false with one seed).
``scores.parquet``
    one row per (model, inter, target, language) with the seed mean and its interval;
    ``language`` is a language code, ``average`` (the languages the target averages) or
    ``zero-shot`` (their non-English part).
``efficiency.parquet``
    one row per (model, inter, target): zero-shot score and interval, training and inference
    cost (seed means), the base model's pretraining cost (counted in ``total_cost_*`` for the
    toy benchmark, where pretraining is part of the experiment), and the gain per 10^15
    intermediate-training FLOPs and per intermediate device-hour with their intervals.
``breakeven.parquet``
    one row per target: does the smallest model with its best intermediate setting reach the
    largest model with ``none``, the difference with its interval, and the small model's
    inference latency and FLOPs per example as fractions of the large model's.

Every score is checked against ``eval.json`` (the languages table): per-example scores that do
not reproduce it are an error naming the prediction file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from xstilts.analysis.stats import (StatsError, interval, p_value, replicate_scores, rng_for,
                                    seed_term, verdict_word)
from xstilts.core import paths
from xstilts.core.arrow import read_table, write_parquet
from xstilts.core.cell import inter_kind

__all__ = ["STAT_TABLES", "COMPARISONS", "compute", "target_tables", "read_stat_tables", "run",
           "GAINS_SCHEMA"]

STAT_TABLES = ("gains", "scores", "efficiency", "breakeven")
COMPARISONS = ("inter_vs_none", "none_vs_scratch", "interaction_vs_smallest", "variant_vs_plain")
ZERO_SHOT, AVERAGE = "zero-shot", "average"
TOLERANCE = 1e-6  # per-example scores must give eval.json's number

GAINS_SCHEMA = pa.schema([
    ("model", pa.string()), ("inter", pa.string()), ("target", pa.string()), ("metric", pa.string()),
    ("comparison", pa.string()), ("versus", pa.string()), ("gain", pa.float64()),
    ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("p_value", pa.float64()),
    ("n_seeds", pa.int64()), ("n_examples", pa.int64()), ("languages", pa.string()),
    ("params_non_embedding", pa.float64()), ("seed_level", pa.bool_()), ("confidence", pa.float64()),
    ("n_resamples", pa.int64()), ("verdict", pa.string()),
])
SCORES_SCHEMA = pa.schema([
    ("model", pa.string()), ("inter", pa.string()), ("target", pa.string()), ("metric", pa.string()),
    ("language", pa.string()), ("score", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()),
    ("n_seeds", pa.int64()), ("n_examples", pa.int64()), ("seed_level", pa.bool_()),
])
_COST = ["intermediate_flops", "intermediate_device_hours", "total_train_flops", "total_device_hours",
         "latency_p50_ms", "flops_per_example", "params_non_embedding"]
EFFICIENCY_SCHEMA = pa.schema(
    [("model", pa.string()), ("inter", pa.string()), ("target", pa.string()), ("metric", pa.string()),
     ("benchmark", pa.string()), ("n_seeds", pa.int64()), ("score", pa.float64()),
     ("score_ci_low", pa.float64()), ("score_ci_high", pa.float64())]
    + [(c, pa.float64()) for c in _COST]
    + [("pretrain_flops", pa.float64()), ("pretrain_device_hours", pa.float64()),
       ("total_cost_flops", pa.float64()), ("total_cost_device_hours", pa.float64()),
       ("pretraining_in_total", pa.bool_()),
       ("gain", pa.float64()), ("gain_ci_low", pa.float64()), ("gain_ci_high", pa.float64()),
       ("gain_per_1e15_flops", pa.float64()), ("gain_per_1e15_flops_ci_low", pa.float64()),
       ("gain_per_1e15_flops_ci_high", pa.float64()), ("gain_per_device_hour", pa.float64()),
       ("gain_per_device_hour_ci_low", pa.float64()), ("gain_per_device_hour_ci_high", pa.float64())]
)
BREAKEVEN_SCHEMA = pa.schema([
    ("target", pa.string()), ("metric", pa.string()), ("small_model", pa.string()), ("best_inter", pa.string()),
    ("small_score", pa.float64()), ("large_model", pa.string()), ("large_score", pa.float64()),
    ("difference", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()),
    ("p_value", pa.float64()), ("reaches", pa.bool_()), ("verdict", pa.string()),
    ("latency_fraction", pa.float64()), ("flops_fraction", pa.float64()), ("n_seeds", pa.int64()),
])
SCHEMAS = {"gains": GAINS_SCHEMA, "scores": SCORES_SCHEMA, "efficiency": EFFICIENCY_SCHEMA,
           "breakeven": BREAKEVEN_SCHEMA}


# ----------------------------------------------------------------------------- the bootstrap of one target


class _Estimate:
    """An observed number and its bootstrap replicates."""

    def __init__(self, value: float, reps: np.ndarray, n_seeds: int):
        self.value, self.reps, self.n_seeds = float(value), reps, n_seeds

    def __sub__(self, other: "_Estimate") -> "_Estimate":
        return _Estimate(self.value - other.value, self.reps - other.reps, min(self.n_seeds, other.n_seeds))

    def row(self, confidence: float) -> dict:
        lo, hi = interval(self.reps, confidence)
        return {"ci_low": lo, "ci_high": hi, "p_value": p_value(self.reps),
                "n_seeds": self.n_seeds, "seed_level": self.n_seeds > 1}


def target_tables(target: str, metric: str, examples: dict, zero_shot: list[str], averaged: list[str],
                  sizes: dict[str, float], *, n_resamples: int = 2000, confidence: float = 0.95,
                  seed: int = 0) -> tuple[list[dict], list[dict], dict]:
    """Gains and score rows of one target.

    Args:
        examples: ``{(model, inter, seed): {language: ExampleScores}}``.
        zero_shot: the languages of the zero-shot average; ``averaged``: those of the average.
        sizes: model -> size (non-embedding parameters) for ordering; the smallest is the
            reference of the size interaction.
    Returns:
        ``(gain rows, score rows, {(model, inter): zero-shot _Estimate})``.
    """
    rng = rng_for(seed, target)
    reps = replicate_scores(examples, n_resamples, rng)
    obs = {k: {lang: s.value for lang, s in per.items()} for k, per in examples.items()}
    n_ex = {lang: max(s.n for per in examples.values() if lang in per for s in [per[lang]])
            for per in examples.values() for lang in per}
    groups: dict[tuple, list[int]] = {}
    for model, inter, s in sorted(examples):
        groups.setdefault((model, inter), []).append(s)

    def mean_over(key, langs):
        return (float(np.mean([obs[key][lang] for lang in langs])),
                np.mean([reps[key][lang] for lang in langs], axis=0))

    def seed_mean(per_seed: list[tuple[float, np.ndarray]]) -> _Estimate:
        values = [v for v, _ in per_seed]
        r = np.mean([r for _, r in per_seed], axis=0) + seed_term(values, n_resamples, rng)
        return _Estimate(np.mean(values), r, len(values))

    score_rows, zs = [], {}
    for (model, inter), seeds in groups.items():
        langs = list(examples[(model, inter, seeds[0])])
        scopes = [(lang, [lang]) for lang in langs] + [(AVERAGE, [l for l in averaged if l in langs])]
        if zero_shot:
            scopes.append((ZERO_SHOT, [l for l in zero_shot if l in langs]))
        for name, ls in scopes:
            if not ls:
                continue
            est = seed_mean([mean_over((model, inter, s), ls) for s in seeds])
            if name == ZERO_SHOT:
                zs[(model, inter)] = est
            score_rows.append({"model": model, "inter": inter, "target": target, "metric": metric,
                               "language": name, "score": est.value, **est.row(confidence),
                               "n_examples": sum(n_ex[l] for l in ls)})
    if not zero_shot:
        return [], score_rows, zs
    langs_text = ",".join(zero_shot)
    n_examples = sum(n_ex[l] for l in zero_shot)

    def paired(model, a, b) -> _Estimate | None:
        seeds = sorted(set(groups.get((model, a), ())) & set(groups.get((model, b), ())))
        if not seeds:
            return None
        diffs = []
        for s in seeds:
            va, ra = mean_over((model, a, s), zero_shot)
            vb, rb = mean_over((model, b, s), zero_shot)
            diffs.append((va - vb, ra - rb))
        return seed_mean(diffs)

    def gain_row(model, inter, comparison, versus, est):
        r = est.row(confidence)
        return {"model": model, "inter": inter, "target": target, "metric": metric,
                "comparison": comparison, "versus": versus, "gain": est.value, **r,
                "n_examples": n_examples, "languages": langs_text,
                "params_non_embedding": sizes.get(model), "confidence": confidence,
                "n_resamples": n_resamples, "verdict": verdict_word(r["ci_low"], r["ci_high"])}

    models = sorted({m for m, _ in groups}, key=lambda m: (sizes.get(m) is None, sizes.get(m) or 0, m))
    rows, inter_gains = [], {}
    for model in models:
        inters = sorted({i for m, i in groups if m == model})
        ref = next((i for i in inters if inter_kind(i).is_reference), None)
        if ref is None:
            continue
        for inter in inters:
            kind = inter_kind(inter)
            if kind.is_reference:
                continue
            if kind.random_init:
                est = paired(model, ref, inter)
                if est is not None:
                    rows.append(gain_row(model, ref, "none_vs_scratch", inter, est))
                continue
            est = paired(model, inter, ref)
            if est is not None:
                inter_gains[(model, inter)] = est
                rows.append(gain_row(model, inter, "inter_vs_none", ref, est))
            # +mlm / +translate minus the plain intermediate they vary (Phang et al.'s comparison)
            plain = kind.base
            if kind.is_variant and (model, plain) in groups:
                est = paired(model, inter, plain)
                if est is not None:
                    rows.append(gain_row(model, inter, "variant_vs_plain", plain, est))
    smallest = models[0] if models else None
    for (model, inter), est in inter_gains.items():
        if model != smallest and (smallest, inter) in inter_gains:
            rows.append(gain_row(model, inter, "interaction_vs_smallest", smallest,
                                 est - inter_gains[(smallest, inter)]))
    return rows, score_rows, zs


# ----------------------------------------------------------------------------- from the workflow's files


def _cell_examples(cells: pd.DataFrame, langs: pd.DataFrame, target: str, labels_dir: Path,
                   predictions_of, options_of) -> dict:
    from xstilts.analysis.score import example_scores
    from xstilts.core.registry import get_task

    sub = get_task(target).submission
    if sub is None:  # a registry entry without a scorer cannot be resampled per example
        raise StatsError(f"target {target!r} has no submission format in the registry "
                         "(Task.submission), so its per-example scores cannot be read")
    ext = sub.ext
    out = {}
    d = langs[(langs["kind"] == "cell") & (langs["target"] == target)]
    for (model, inter, seed), rows in d.groupby(["model", "inter", "seed"], sort=True):
        pred_dir = Path(predictions_of(model, inter, target, int(seed)))
        per = {}
        for r in rows.itertuples(index=False):
            pred = paths.submission_file(pred_dir, target, r.language, ext)
            label = paths.submission_file(labels_dir, target, r.language, ext)
            scores = example_scores(target, pred, label, r.language, options_of(model, target))
            if abs(scores.value - r.score) > TOLERANCE:
                raise StatsError(f"{pred}: the per-example scores give {scores.value:.6f} against "
                                 f"{label}, but eval.json says {r.score:.6f} for {r.language}")
            per[r.language] = scores
        out[(model, inter, int(seed))] = per
    return out


def _base_cost(model: str) -> tuple[float | None, float | None]:
    from xstilts.core.records import CostRecord

    p = Path(paths.checkpoint_done(paths.base_dir(model)))
    if not p.is_file():
        return None, None
    c = CostRecord.from_json(p)
    return c.flops, c.device_hours


def _num(v) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _ratio(num, den):
    return None if num is None or den is None or den <= 0 or (isinstance(num, float) and math.isnan(num)) \
        else num / den


def compute(cells: pd.DataFrame, langs: pd.DataFrame, *, labels_dir, predictions_of=paths.cell_predictions,
            options_of=lambda model, target: {}, base_cost=_base_cost, targets=None,
            n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The four tables (see the module docstring) as DataFrames."""
    from xstilts.core.registry import ENGLISH, get_task

    real = cells[cells["kind"] == "cell"]
    if targets is None:
        targets = list(dict.fromkeys(real["target"]))
    sizes = {m: _num(v) for m, v in real.groupby("model")["params_non_embedding"].first().items()}
    for m, v in real.groupby("model")["params"].first().items():
        if sizes.get(m) is None:
            sizes[m] = _num(v)
    gains, scores, effic, breakeven = [], [], [], []
    for target in targets:
        dt = real[real["target"] == target]
        if dt.empty:
            continue
        metric = dt["metric"].iloc[0]
        lt = langs[(langs["kind"] == "cell") & (langs["target"] == target)]
        order = list(dict.fromkeys(lt.sort_values("lang_order")["language"]))
        averaged = get_task(target).averaged_languages(order)
        zero_shot = [l for l in averaged if l != ENGLISH]
        examples = _cell_examples(cells, langs, target, Path(labels_dir), predictions_of, options_of)
        g, s, zs = target_tables(target, metric, examples, zero_shot, averaged, sizes,
                                 n_resamples=n_resamples, confidence=confidence, seed=seed)
        gains += g
        scores += s
        by_gain = {(r["model"], r["inter"]): r for r in g if r["comparison"] == "inter_vs_none"}
        for (model, inter), d in dt.groupby(["model", "inter"], sort=False):
            est = zs.get((model, inter))
            lo, hi = interval(est.reps, confidence) if est else (None, None)
            means = {c: _num(d[c].astype("float64").mean()) for c in _COST}
            pf, ph = base_cost(model)
            toy = (d["benchmark"] == "toy").all()
            gr = by_gain.get((model, inter), {})
            row = {"model": model, "inter": inter, "target": target, "metric": metric,
                   "benchmark": d["benchmark"].iloc[0], "n_seeds": d["seed"].nunique(),
                   "score": est.value if est else None, "score_ci_low": lo, "score_ci_high": hi,
                   **means, "pretrain_flops": pf, "pretrain_device_hours": ph, "pretraining_in_total": bool(toy),
                   "gain": gr.get("gain"), "gain_ci_low": gr.get("ci_low"), "gain_ci_high": gr.get("ci_high")}
            row["total_cost_flops"] = _sum(means["total_train_flops"], pf if toy else 0.0)
            row["total_cost_device_hours"] = _sum(means["total_device_hours"], ph if toy else 0.0)
            for unit, cost in (("1e15_flops", _ratio(means["intermediate_flops"], 1e15)),
                               ("device_hour", means["intermediate_device_hours"])):
                for suffix, key in (("", "gain"), ("_ci_low", "gain_ci_low"), ("_ci_high", "gain_ci_high")):
                    row[f"gain_per_{unit}{suffix}"] = _ratio(row[key], cost) if row[key] is not None else None
            effic.append(row)
        be = _breakeven(target, metric, dt, zs, sizes, confidence)
        if be:
            breakeven.append(be)
    return {name: pd.DataFrame(rows, columns=SCHEMAS[name].names)
            for name, rows in (("gains", gains), ("scores", scores), ("efficiency", effic),
                               ("breakeven", breakeven))}


def _sum(a, b):
    return None if a is None or b is None else a + b


def _breakeven(target, metric, dt, zs, sizes, confidence) -> dict | None:
    models = sorted(dict.fromkeys(dt["model"]), key=lambda m: (sizes.get(m) is None, sizes.get(m) or 0, m))
    if len(models) < 2:
        return None
    small, large = models[0], models[-1]
    large_ref = next((i for (m, i) in zs if m == large and inter_kind(i).is_reference), None)
    cands = [(i, e) for (m, i), e in zs.items() if m == small and not inter_kind(i).random_init]
    if large_ref is None or not cands:
        return None
    best, est = max(cands, key=lambda c: c[1].value)
    diff = est - zs[(large, large_ref)]
    r = diff.row(confidence)

    def frac(col):
        a = dt.loc[dt["model"] == small, col].astype("float64").mean()
        b = dt.loc[dt["model"] == large, col].astype("float64").mean()
        return _ratio(_num(a), _num(b))

    word = verdict_word(r["ci_low"], r["ci_high"])
    return {"target": target, "metric": metric, "small_model": small, "best_inter": best,
            "small_score": est.value, "large_model": large, "large_score": zs[(large, large_ref)].value,
            "difference": diff.value, "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "p_value": r["p_value"], "reaches": diff.value >= 0,
            "verdict": ("reaches" if diff.value >= 0 else "falls short") + f" ({word})",
            "latency_fraction": frac("latency_p50_ms"), "flops_fraction": frac("flops_per_example"),
            "n_seeds": r["n_seeds"]}


def write_tables(tables: dict[str, pd.DataFrame], out_dir) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, df in tables.items():
        data = {c: [None if (isinstance(v, float) and math.isnan(v)) else v for v in df[c].tolist()]
                for c in SCHEMAS[name].names}
        t = pa.Table.from_pydict(data, schema=SCHEMAS[name])
        path = out_dir / f"{name}.parquet"
        write_parquet(t, path)
        written[name] = path
    return written


def read_stat_tables(tables_dir, names: Iterable[str] = STAT_TABLES) -> dict[str, pd.DataFrame]:
    """The tables of :func:`compute` (``names``: those the caller uses, default all four) as
    DataFrames; missing ones are an error naming the file."""
    from xstilts.analysis.aggregate import AggregateError

    out = {}
    for name in names:
        p = Path(tables_dir) / f"{name}.parquet"
        if not p.is_file():
            raise AggregateError(f"{p}: table not found (run `xstilts gains` first)")
        out[name] = read_table(p).to_pandas()
    return out


def run(cfg, out: str | None = None, tables: str | None = None) -> None:
    """The ``gains`` stage."""
    from xstilts.analysis.aggregate import read_tables
    from xstilts.stages.common import log

    tables = tables or paths.tables_dir()
    cells, langs, _ = read_tables(tables)
    st = cfg.stats
    result = compute(cells, langs, labels_dir=paths.labels_dir(), targets=cfg.targets,
                     options_of=lambda model, target: cfg.options(target, "target", model=model),
                     n_resamples=st["resamples"], confidence=st["confidence"], seed=st["seed"])
    write_tables(result, out or tables)
    g = result["gains"]
    log(f"{len(g)} gains ({json.dumps(g['comparison'].value_counts().to_dict())}) -> {out or tables}")
