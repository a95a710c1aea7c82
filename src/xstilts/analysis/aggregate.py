"""Aggregate per-cell artifacts into parquet tables.

Reads the artifacts of the path contract (docs/ARCHITECTURE.md) and writes three tables with an
explicit pyarrow schema:

``cells.parquet``
    one row per cell (model, inter, target, seed) and one row per trivial baseline
    (``kind == "baseline"``): scores, gain over ``inter = none``, training cost per phase,
    inference cost of the model on the target.
``languages.parquet``
    one row per (cell or baseline) x language: headline-metric score, n, ``is_zero_shot``.
``jobs.parquet``
    one row per Snakemake benchmark file: rule, wildcards, seconds, memory, CPU time.

Nothing is dropped silently: a malformed or incomplete artifact raises :class:`AggregateError`
naming the file. Seed aggregation (mean/std over seeds) is :func:`summarize_seeds`; it is computed
on demand by the plots and the report, not stored.
"""

from __future__ import annotations

import csv
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from dataclasses import fields
from typing import Any

import pyarrow as pa

from xstilts import warm
from xstilts.core import paths
from xstilts.core.arrow import columns_table, read_table, write_parquet
from xstilts.core.cell import Cell, inter_kind
from xstilts.core.records import CellCost, CostRecord, EvalRecord, InferenceProfile, RecordError

__all__ = [
    "AggregateError",
    "CELLS_SCHEMA",
    "LANGUAGES_SCHEMA",
    "JOBS_SCHEMA",
    "TABLE_FILES",
    "aggregate",
    "aggregate_results",
    "read_tables",
    "summarize_seeds",
]

TABLE_FILES = {
    "cells": "cells.parquet",
    "languages": "languages.parquet",
    "jobs": "jobs.parquet",
}

_ARROW = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}
# the columns of a phase: CostRecord's fields (the cell profile keeps its summary), device last
_COST_FIELDS: list[tuple[str, pa.DataType]] = [
    (f.name, _ARROW[str(f.type).split(" ")[0]]) for f in fields(CostRecord)
    if f.name in CostRecord.SUMMARY and f.name not in ("phase", "device")
] + [("device", pa.string())]
_PHASES = ("intermediate", "target")

CELLS_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),  # "cell" | "baseline"
        ("benchmark", pa.string()),  # "toy" | "real"
        ("model", pa.string()),
        ("params", pa.int64()),  # total parameters (inference profile, else model_info)
        ("params_non_embedding", pa.int64()),
        ("layers", pa.int64()),  # from model_info when given
        ("hidden", pa.int64()),
        ("inter", pa.string()),
        ("target", pa.string()),
        ("seed", pa.int64()),
        ("metric", pa.string()),
        ("average", pa.float64()),
        ("average_zero_shot", pa.float64()),
        ("en_score", pa.float64()),
        ("n_languages", pa.int64()),
        ("partial_average", pa.bool_()),  # averaged over a languages.<target> subset
        ("gain_over_none", pa.float64()),
        ("gain_over_none_zero_shot", pa.float64()),
        ("gain_over_none_en", pa.float64()),
    ]
    + [(f"{ph}_{name}", typ) for ph in _PHASES for name, typ in _COST_FIELDS]
    + [
        # a +mlm intermediate's continued MLM (also in its totals); a +translate one's examples
        ("intermediate_mlm_steps", pa.int64()),
        ("intermediate_mlm_flops", pa.float64()),
        ("intermediate_examples_by_language", pa.string()),  # JSON {language: examples}
        ("total_train_flops", pa.float64()),
        ("total_train_wall_s", pa.float64()),
        ("total_device_hours", pa.float64()),
        ("train_tokens_per_s", pa.float64()),  # all phases: tokens / wall
        ("latency_p50_ms", pa.float64()),
        ("latency_p90_ms", pa.float64()),
        ("latency_p99_ms", pa.float64()),
        ("latency_mean_ms", pa.float64()),
        ("throughput_examples_per_s", pa.float64()),
        ("throughput_best_batch", pa.int64()),
        ("flops_per_example", pa.float64()),  # counted
        ("flops_per_example_analytic", pa.float64()),
        ("seq_len", pa.int64()),
        ("infer_peak_mem_mb", pa.float64()),
        ("infer_device", pa.string()),
        ("infer_dtype", pa.string()),
        ("infer_threads", pa.int64()),
        ("eval_file", pa.string()),
        ("cost_file", pa.string()),
        ("inference_profile_file", pa.string()),
    ]
)

LANGUAGES_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("benchmark", pa.string()),
        ("model", pa.string()),
        ("params", pa.int64()),
        ("inter", pa.string()),
        ("target", pa.string()),
        ("seed", pa.int64()),
        ("metric", pa.string()),
        ("language", pa.string()),
        ("lang_order", pa.int64()),  # position of the language in eval.json
        ("score", pa.float64()),  # value of the headline metric
        ("n", pa.int64()),
        ("is_zero_shot", pa.bool_()),  # language != "en"
        ("extra_metrics", pa.string()),  # JSON of the other numeric metrics of that language
    ]
)

JOBS_SCHEMA = pa.schema(
    [
        ("rule", pa.string()),
        ("wildcards", pa.string()),  # benchmark path below benchmarks/<rule>/, without .tsv
        ("file", pa.string()),
        ("repeats", pa.int64()),  # rows in the file (snakemake `repeat()`); values are means
        ("seconds", pa.float64()),
        ("max_rss", pa.float64()),  # MB
        ("max_vms", pa.float64()),
        ("max_uss", pa.float64()),
        ("max_pss", pa.float64()),
        ("io_in", pa.float64()),
        ("io_out", pa.float64()),
        ("mean_load", pa.float64()),
        ("cpu_time", pa.float64()),
        # ran in a fork of the warm-start helper (xstilts/warm.py): cpu_time and max_rss are the
        # fork's, from the job's log; the other resource columns would be the command's: null
        ("warm", pa.bool_()),
    ]
)


class AggregateError(RecordError):
    """A malformed, incomplete or inconsistent artifact; the message names the file."""


# ----------------------------------------------------------------------------- readers
# The records are checked against their schemas by xstilts.core.records (the same types their
# writers use); what is left here is turning them into rows.


def _load(record, path: Path):
    try:
        return record.from_json(path)
    except RecordError as e:
        raise AggregateError(str(e)) from e


def _as_eval_file(p: str | os.PathLike) -> Path:
    p = Path(p)
    return p / "eval.json" if p.is_dir() or p.suffix != ".json" else p


def _rel(p: Path | None) -> str | None:
    return None if p is None else str(p)


def _read_eval(path: Path, *, expect_baseline: bool) -> tuple[dict, list[dict]]:
    """One eval.json -> (score fields of the cells row, language rows)."""
    ev = _load(EvalRecord, path)
    if expect_baseline:
        inter = ev.inter or "baseline"
    else:
        for key in ("inter", "seed"):
            if getattr(ev, key) is None:
                raise AggregateError(f"{path}: missing key {key!r}")
        inter = ev.inter
    metric = ev.metric
    lang_rows = []
    en_score = None
    for i, (lang, m) in enumerate(ev.languages.items()):
        score = m.get(metric)
        if not isinstance(score, (int, float)) or isinstance(score, bool):
            raise AggregateError(f"{path}: languages.{lang}.{metric} must be a number, got {score!r}")
        if not math.isfinite(score):
            raise AggregateError(f"{path}: languages.{lang}.{metric} is not finite ({score!r})")
        extra = {
            k: v
            for k, v in m.items()
            if k not in (metric, "n")
            and isinstance(v, (int, float))
            and not isinstance(v, bool)
            and math.isfinite(float(v))
        }
        if lang == "en":
            en_score = float(score)
        lang_rows.append(
            {
                "language": lang,
                "lang_order": i,
                "score": float(score),
                "n": m["n"],
                "is_zero_shot": lang != "en",
                "extra_metrics": json.dumps(extra, sort_keys=True) if extra else None,
            }
        )
    row = {
        "kind": "baseline" if expect_baseline else "cell",
        "benchmark": ev.benchmark,
        "model": ev.model,
        "inter": inter,
        "target": ev.target,
        "seed": ev.seed,
        "metric": metric,
        "average": float(ev.average),
        "average_zero_shot": ev.average_zero_shot,
        "en_score": en_score,
        "n_languages": len(lang_rows),
        "partial_average": bool(ev.extra.get("partial_average", False)),
        "eval_file": _rel(path),
    }
    return row, lang_rows


def _read_cost(cost: Mapping | None, phase: str) -> dict:
    out = {f"{phase}_{name}": None for name, _ in _COST_FIELDS}
    if cost is None:
        return out
    for name, typ in _COST_FIELDS:
        v = cost.get(name)
        if v is not None and typ == pa.float64():
            v = float(v)
        out[f"{phase}_{name}"] = v
    return out


def _read_cell_profile(path: Path) -> tuple[tuple, dict, str | None]:
    """Cell profile.json -> (key, cost columns, inference profile link)."""
    d = _load(CellCost, path)
    key = (d.model, d.inter, d.target, d.seed)
    row: dict[str, Any] = {}
    for ph in _PHASES:
        row.update(_read_cost(d.phases[ph], ph))
    if inter_kind(d.inter).trains and d.phases["intermediate"] is None:
        # inter "multitask" or a task name must have paid for an intermediate phase
        raise AggregateError(f"{path}: phases.intermediate is null for inter {d.inter!r}")
    inter_phase = d.phases["intermediate"] or {}
    mlm = inter_phase.get("mlm") or {}
    row["intermediate_mlm_steps"] = mlm.get("steps")
    row["intermediate_mlm_flops"] = None if mlm.get("flops") is None else float(mlm["flops"])
    by_lang = inter_phase.get("examples_by_language")
    row["intermediate_examples_by_language"] = json.dumps(by_lang, sort_keys=True) if by_lang else None
    for k in ("total_train_flops", "total_train_wall_s", "total_device_hours"):
        row[k] = None if getattr(d, k) is None else float(getattr(d, k))
    toks = [row[f"{ph}_tokens"] for ph in _PHASES if row[f"{ph}_tokens"] is not None]
    walls = [row[f"{ph}_wall_s"] for ph in _PHASES if row[f"{ph}_wall_s"] is not None]
    row["train_tokens_per_s"] = sum(toks) / sum(walls) if toks and walls and sum(walls) > 0 else None
    row["cost_file"] = _rel(path)
    return key, row, d.inference_profile


def _read_inference_profile(path: Path) -> tuple[tuple, dict]:
    d = _load(InferenceProfile, path)
    lat, thr, fpe = d.latency_ms, d.throughput, d.flops_per_example

    def num(v):
        return None if v is None else float(v)

    row = {
        "params": d.params["total"],
        "params_non_embedding": d.params.get("non_embedding"),
        "latency_p50_ms": num(lat["p50"]),
        "latency_p90_ms": num(lat["p90"]),
        "latency_p99_ms": num(lat["p99"]),
        "latency_mean_ms": num(lat.get("mean")),
        "throughput_examples_per_s": num(thr["examples_per_s"]),
        "throughput_best_batch": thr.get("best_batch"),
        "flops_per_example": num(fpe["counted"]),
        "flops_per_example_analytic": num(fpe.get("analytic")),
        "seq_len": fpe.get("seq_len"),
        "infer_peak_mem_mb": num(d.extra.get("peak_mem_mb")),
        "infer_device": d.extra.get("device"),
        "infer_dtype": d.extra.get("dtype"),
        "infer_threads": d.extra.get("threads"),
        "inference_profile_file": _rel(path),
    }
    return (d.model, d.target), row


_BENCH_COLS = ["max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load", "cpu_time"]


def _bench_value(v: Any, path: Path, col: str) -> float | None:
    if v is None:
        return None
    s = str(v).strip()
    if s in ("", "-", "NA", "nan", "NaN", "None"):
        return None
    try:
        f = float(s)
    except ValueError:
        raise AggregateError(f"{path}: column {col!r} has a non-numeric value {s!r}") from None
    return f if math.isfinite(f) else None


def _read_benchmark(path: Path, root: Path | None) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise AggregateError(f"{path}: cannot read benchmark file ({e})") from e
    if path.suffix == ".jsonl":
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise AggregateError(f"{path}: malformed JSON line ({e})") from e
    else:
        records = list(csv.DictReader(text.splitlines(), delimiter="\t"))
        if records and "s" not in records[0]:
            raise AggregateError(f"{path}: not a snakemake benchmark file (no 's' column)")
    if not records:
        raise AggregateError(f"{path}: benchmark file has no data rows")
    # rule and wildcards from the path: <root>/<rule>/<wildcards...>.tsv
    parts = path.parts
    rel: tuple[str, ...] | None = None
    if root is not None:
        try:
            rel = path.resolve().relative_to(Path(root).resolve()).parts
        except ValueError:
            rel = None
    if rel is None and "benchmarks" in parts:
        i = len(parts) - 1 - parts[::-1].index("benchmarks")
        rel = parts[i + 1 :]
    if not rel:
        rel = (path.parent.name, path.name)

    def _strip(s: str) -> str:
        for suf in (".tsv", ".jsonl", ".txt"):
            if s.endswith(suf):
                return s[: -len(suf)]
        return s

    if len(rel) == 1:  # benchmarks/<rule>.tsv: a rule without wildcards
        rule, wildcards = _strip(rel[0]), ""
    else:
        rule, wildcards = rel[0], _strip("/".join(rel[1:]))
    first = records[0]
    if first.get("rule_name") not in (None, "", "-"):  # extended format
        rule = str(first["rule_name"])
    row: dict[str, Any] = {"rule": rule, "wildcards": wildcards, "file": str(path), "repeats": len(records)}
    for col, name in [("s", "seconds")] + [(c, c) for c in _BENCH_COLS]:
        vals = [_bench_value(r.get(col), path, col) for r in records]
        vals = [v for v in vals if v is not None]
        row[name] = sum(vals) / len(vals) if vals else None
    if row["seconds"] is None:
        raise AggregateError(f"{path}: no value in column 's'")
    log = paths.log_of_benchmark(path)
    forked = warm.read_record(log) if log else None
    row["warm"] = forked is not None
    if forked is not None:
        command_cpu = row["cpu_time"] or 0.0
        row.update(dict.fromkeys(_BENCH_COLS))
        row["cpu_time"], row["max_rss"] = forked[0] + command_cpu, forked[1]
    return row


# ----------------------------------------------------------------------------- main entry


def aggregate(
    cells: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    cell_profiles: Iterable[str | os.PathLike] | None = None,
    inference_profiles: Iterable[str | os.PathLike] | None = None,
    baselines: Iterable[str | os.PathLike] = (),
    benchmarks: Iterable[str | os.PathLike] = (),
    benchmarks_root: str | os.PathLike | None = None,
    model_info: Mapping[str, Mapping[str, Any]] | None = None,
    root: str | os.PathLike | None = None,
    require_inference: bool = False,
) -> dict[str, Path]:
    """Build ``cells.parquet``, ``languages.parquet`` and ``jobs.parquet`` in ``out_dir``.

    Args:
        cells: cell directories (``results/cells/<model>/<inter>/<target>/s<seed>``) or their
            ``eval.json`` files. Every one becomes a row; duplicates are an error.
        out_dir: where the three parquet files go (``results/tables``); created if missing.
        cell_profiles: the cells' training-cost ``profile.json`` files. ``None`` (default):
            ``profile.json`` next to each ``eval.json``, which must exist. Given explicitly:
            matched to the cells by their (model, inter, target, seed) fields; a cell without
            one is an error, and so is a profile without a cell.
        inference_profiles: ``results/profile/<model>/<target>/profile.json`` files, matched by
            (model, target). ``None``: follow each cell profile's ``inference_profile`` link
            (relative links are tried against ``root`` and the current directory). A cell
            whose inference profile cannot be found keeps null inference columns and a warning
            is issued (its scores are still tabled).
        baselines: ``results/baselines/<target>/eval.json`` files (or their directories);
            rows with ``kind == "baseline"`` and null cost columns.
        benchmarks: Snakemake benchmark files (``benchmarks/<rule>/<wildcards...>.tsv``).
        benchmarks_root: the ``benchmarks/`` directory, to split rule and wildcards from the
            path; default: the last ``benchmarks`` path component, else the parent folder.
        model_info: optional ``{model: {"params", "layers", "hidden", ...}}``. ``params`` is a
            fallback: the inference profile's ``params.total`` wins when present.
        root: project root used to resolve relative ``inference_profile`` links.
        require_inference: raise instead of warning when a cell has no inference profile.

    Returns:
        ``{"cells": path, "languages": path, "jobs": path}``.

    Raises:
        AggregateError: malformed JSON, a missing key, a non-numeric or non-finite value,
            duplicate cells, or a cost profile that does not match any cell; the message names
            the offending file.
    """
    out_dir = Path(out_dir)
    model_info = dict(model_info or {})
    root_p = Path(root) if root is not None else None

    # --- evals
    cell_rows: list[dict] = []
    lang_rows: list[dict] = []
    seen: dict[tuple, Path] = {}
    for c in cells:
        ev = _as_eval_file(c)
        row, langs = _read_eval(ev, expect_baseline=False)
        key = (row["model"], row["inter"], row["target"], row["seed"])
        cell = Cell.from_path(ev)
        if cell is not None and cell.key != key:
            raise AggregateError(
                f"{ev}: contents say cell {key} but the path says {cell.key} (path contract violated)"
            )
        if key in seen:
            raise AggregateError(f"{ev}: duplicate cell {key} (also in {seen[key]})")
        seen[key] = ev
        cell_rows.append(row)
        lang_rows.append(langs)

    # --- training-cost profiles
    costs: dict[tuple, tuple[dict, str | None, Path]] = {}
    if cell_profiles is None:
        for row in cell_rows:
            k_row = (row["model"], row["inter"], row["target"], row["seed"])
            p = Path(paths.cost_next_to(row["eval_file"]))
            key, cost, link = _read_cell_profile(p)
            if key != k_row:
                raise AggregateError(f"{p}: describes cell {key} but sits next to {row['eval_file']} ({k_row})")
            costs[key] = (cost, link, p)
    else:
        for p in cell_profiles:
            p = Path(p)
            if p.is_dir():
                p = p / "profile.json"
            key, cost, link = _read_cell_profile(p)
            if key in costs:
                raise AggregateError(f"{p}: duplicate cost profile for cell {key} (also {costs[key][2]})")
            if key not in seen:
                raise AggregateError(f"{p}: cost profile for cell {key} which has no eval.json among the inputs")
            costs[key] = (cost, link, p)
        for key, ev in seen.items():
            if key not in costs:
                raise AggregateError(f"{ev}: no cost profile.json given for cell {key}")

    # --- inference profiles
    infer: dict[tuple, dict] = {}
    if inference_profiles is not None:
        for p in inference_profiles:
            p = Path(p)
            if p.is_dir():
                p = p / "profile.json"
            key, r = _read_inference_profile(p)
            if key in infer:
                raise AggregateError(f"{p}: duplicate inference profile for {key} (also {infer[key]['inference_profile_file']})")
            infer[key] = r
    else:
        for key, (_, link, p) in costs.items():
            mk = (key[0], key[2])
            if mk in infer or not link:
                continue
            cands = [Path(link)] if Path(link).is_absolute() else [
                *([root_p / link] if root_p else []),
                Path(link),
                # the project root of the cell profile's path
                *([paths.project_root(p) / link] if paths.project_root(p) is not None else []),
            ]
            for cand in cands:
                if cand.is_file():
                    _, infer[mk] = _read_inference_profile(cand)
                    break

    # --- merge cell rows
    none_cols = [c for c in CELLS_SCHEMA.names]
    by_key = {(r["model"], r["inter"], r["target"], r["seed"]): r for r in cell_rows}
    missing_infer = set()
    for row in cell_rows:
        key = (row["model"], row["inter"], row["target"], row["seed"])
        row.update(costs[key][0])
        inf = infer.get((row["model"], row["target"]))
        if inf is None:
            missing_infer.add((row["model"], row["target"]))
        else:
            row.update(inf)
        info = model_info.get(row["model"], {})
        if row.get("params") is None and info.get("params") is not None:
            row["params"] = int(info["params"])
        for k in ("layers", "hidden"):
            if info.get(k) is not None:
                row[k] = int(info[k])
        none = next((r for k, r in by_key.items() if (k[0], k[2], k[3]) == (row["model"], row["target"], row["seed"])
                     and inter_kind(k[1]).is_reference), None)
        for col, src in [
            ("gain_over_none", "average"),
            ("gain_over_none_zero_shot", "average_zero_shot"),
            ("gain_over_none_en", "en_score"),
        ]:
            if none is not None and none.get(src) is not None and row.get(src) is not None:
                row[col] = row[src] - none[src]
            else:
                row[col] = None
    if missing_infer and require_inference:
        m, t = sorted(missing_infer)[0]
        ev = next(r["eval_file"] for r in cell_rows if (r["model"], r["target"]) == (m, t))
        raise AggregateError(
            f"{ev}: no inference profile for model {m!r} on target {t!r} "
            f"(expected {paths.inference_profile(m, t)})"
        )
    if missing_infer:
        warnings.warn(
            "no inference profile for (model, target) "
            + ", ".join(f"{m}/{t}" for m, t in sorted(missing_infer))
            + ": latency/throughput columns are null for those cells",
            stacklevel=2,
        )

    # --- baselines
    seen_b: dict[tuple, Path] = {}
    for b in baselines:
        ev = _as_eval_file(b)
        row, langs = _read_eval(ev, expect_baseline=True)
        key = (row["model"], row["inter"], row["target"], row["seed"])
        if key in seen_b:
            raise AggregateError(f"{ev}: duplicate baseline {key} (also in {seen_b[key]})")
        seen_b[key] = ev
        for col in ("gain_over_none", "gain_over_none_zero_shot", "gain_over_none_en"):
            row[col] = None
        cell_rows.append(row)
        lang_rows.append(langs)

    cells_table = {c: [r.get(c) for r in cell_rows] for c in none_cols}
    lang_flat = []
    for row, langs in zip(cell_rows, lang_rows):
        for lr in langs:
            lang_flat.append(
                {
                    **{k: row.get(k) for k in ("kind", "benchmark", "model", "params", "inter", "target", "seed", "metric")},
                    **lr,
                }
            )
    languages_table = {c: [r.get(c) for r in lang_flat] for c in LANGUAGES_SCHEMA.names}

    # --- jobs
    jobs = [_read_benchmark(Path(b), Path(benchmarks_root) if benchmarks_root else None) for b in benchmarks]
    jobs_table = {c: [r.get(c) for r in jobs] for c in JOBS_SCHEMA.names}

    out_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, data, schema in [
        ("cells", cells_table, CELLS_SCHEMA),
        ("languages", languages_table, LANGUAGES_SCHEMA),
        ("jobs", jobs_table, JOBS_SCHEMA),
    ]:
        path = out_dir / TABLE_FILES[name]
        write_parquet(columns_table(schema, data), path)
        out[name] = path
    return out


def aggregate_results(
    results_root: str | os.PathLike = "results",
    out_dir: str | os.PathLike | None = None,
    *,
    cells: Iterable[str | os.PathLike] | None = None,
    model_info: Mapping[str, Mapping[str, Any]] | None = None,
    require_inference: bool = False,
) -> dict[str, Path]:
    """:func:`aggregate` over everything the path contract puts under ``results_root``.

    Finds ``cells/<model>/<inter>/<target>/s<seed>/eval.json`` (with the ``profile.json`` next
    to each), ``profile/<model>/<target>/profile.json``, ``baselines/<target>/eval.json`` and
    ``benchmarks/**/*.tsv`` (or ``.jsonl``).

    Args:
        results_root: the ``results`` directory.
        out_dir: tables directory (default: ``<results_root>/tables``).
        cells: restrict to these cell directories / eval.json files (e.g. the rule's inputs,
            so that cells left over from an older config are not tabled). Default: every cell
            found on disk.
        model_info, require_inference: as in :func:`aggregate`.
    """
    root = Path(results_root)
    if out_dir is None:
        out_dir = root / "tables"
    if cells is None:
        cells = sorted(root.glob(paths.CELL_GLOB))
    bench_root = root / paths.BENCHMARK_DIR
    benchmarks = sorted(
        p for ext in ("tsv", "jsonl") for p in bench_root.glob(f"**/*.{ext}") if p.is_file()
    )
    return aggregate(
        cells,
        out_dir,
        inference_profiles=sorted(root.glob(paths.INFERENCE_PROFILE_GLOB)),
        baselines=sorted(root.glob(paths.BASELINE_GLOB)),
        benchmarks=benchmarks,
        benchmarks_root=bench_root,
        model_info=model_info,
        root=root.parent,
        require_inference=require_inference,
    )


# ----------------------------------------------------------------------------- readers for plots/report


def read_tables(tables_dir: str | os.PathLike):
    """Read the three tables as pandas DataFrames: ``(cells, languages, jobs)``.

    Integer columns use pandas' nullable ``Int64``; string columns stay ``object``.
    """
    import pandas as pd

    tables_dir = Path(tables_dir)
    out = []
    for name in ("cells", "languages", "jobs"):
        p = tables_dir / TABLE_FILES[name]
        if not p.is_file():
            raise AggregateError(f"{p}: table not found (run `xstilts aggregate` first)")
        t = read_table(p)
        df = t.to_pandas(types_mapper=lambda typ: pd.Int64Dtype() if typ == pa.int64() else None)
        out.append(df)
    return tuple(out)


_GROUP_KEYS = ["kind", "benchmark", "model", "params", "inter", "target", "metric"]


def summarize_seeds(cells, value_columns: Iterable[str] | None = None):
    """Mean / std / count over seeds of each (kind, benchmark, model, params, inter, target, metric).

    Args:
        cells: the cells DataFrame from :func:`read_tables`.
        value_columns: numeric columns to summarise (default: every float column).

    Returns:
        a DataFrame with the group keys, ``n_seeds``, and ``<col>`` (mean) and ``<col>_std``
        (sample std; 0 for a single seed) per value column.
    """
    import pandas as pd

    if value_columns is None:
        value_columns = [f.name for f in CELLS_SCHEMA if f.type == pa.float64()]
    value_columns = [c for c in value_columns if c in cells.columns]
    if cells.empty:
        return pd.DataFrame(columns=_GROUP_KEYS + ["n_seeds"] + value_columns + [f"{c}_std" for c in value_columns])
    vals = cells[value_columns].astype("float64")
    vals[_GROUP_KEYS] = cells[_GROUP_KEYS]
    g = vals.groupby(_GROUP_KEYS, dropna=False, sort=False)
    mean = g[value_columns].mean()
    std = g[value_columns].std(ddof=1)
    std = std.where(std.notna() | mean.isna(), 0.0)  # one seed: std 0; no value: stays null
    std.columns = [f"{c}_std" for c in value_columns]
    n = g.size().rename("n_seeds")
    out = pd.concat([n, mean, std], axis=1).reset_index()
    return out


def run(cfg, out: str | None = None, results: str | None = None) -> None:
    """The ``aggregate`` stage: the tables of the grid's cells (not of stale cells on disk)."""
    from xstilts.stages.common import log

    out = out or paths.tables_dir()
    root = Path(results or paths.RESULTS)
    if not root.is_dir():
        raise AggregateError(f"--results {root}: no such folder (the results root: cells/, profile/, "
                             "baselines/, benchmarks/)")
    aggregate_results(root, out, cells=[paths.under_root(c.eval_file, root) for c in cfg.cells()])
    log(f"tables -> {out}")
