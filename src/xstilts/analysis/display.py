"""How the figures and the report name and order the rows of the tables: model sizes,
intermediates, languages, the benchmark tag, the layer sweeps.

Shared by ``plots`` and ``report`` and free of matplotlib, which the report (HTML from the
tables, figures embedded as files) does not need.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from xstilts.core.cell import inter_kind

__all__ = ["benchmark_tag", "human_count", "language_order", "layer_sweep_table", "model_label", "ordered_inters",
           "ordered_models"]


def human_count(n: Any) -> str:
    """1234567 -> '1.2M'; None/NaN -> '?'."""
    if n is None or (isinstance(n, float) and math.isnan(n)) or pd.isna(n):
        return "?"
    n = float(n)
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suf}"
    return f"{n:.3g}"


def model_label(model: str, params: Any) -> str:
    """'tiny-2x64 (120k params)'."""
    return f"{model} ({human_count(params)} params)" if not pd.isna(params) else model


def ordered_models(df: pd.DataFrame) -> list[tuple[str, Any]]:
    """(model, params) pairs of cell rows, smallest model first; models of unknown size after
    them, in the order they first appear in the table (the caller's cell order)."""
    if df.empty:
        return []
    kinds = df["kind"] if "kind" in df.columns else ["cell"] * len(df)
    first: dict[str, Any] = {}  # model -> params of its first cell row
    for kind, model, params in zip(kinds, df["model"], df["params"]):
        if kind == "cell":
            first.setdefault(model, params)
    # a stable sort: models of equal (or unknown) size keep their order of appearance
    return sorted(first.items(), key=lambda mp: math.inf if pd.isna(mp[1]) else float(mp[1]))


def ordered_inters(inters: Iterable[str]) -> list[str]:
    """``none`` first, intermediate tasks sorted, ``multitask`` after them, ``scratch`` last."""
    return sorted(set(inters), key=lambda i: (inter_kind(i).order, i))


def benchmark_tag(df: pd.DataFrame) -> str:
    """' (toy benchmark)', ' (real benchmark)', or ' (toy + real)' from the rows' benchmark."""
    if df.empty or "benchmark" not in df.columns:
        return ""
    b = sorted(set(df["benchmark"].dropna()))
    if b == ["toy"]:
        return " (toy benchmark)"
    if b == ["real"]:
        return ""
    return " (" + " + ".join(b) + " benchmark)" if b else ""


def language_order(langs: pd.DataFrame) -> list[str]:
    """Languages in the order they appear in eval.json (first cell wins ties)."""
    if langs.empty:
        return []
    o = langs.groupby("language", sort=False)["lang_order"].min().astype("int64")
    first = {l: k for k, l in enumerate(dict.fromkeys(langs["language"]))}
    return sorted(o.index, key=lambda l: (o[l], first[l]))


def layer_sweep_table(langs: pd.DataFrame) -> pd.DataFrame:
    """Long table of the layer sweeps: one row per (cell, language, layer) with ``score`` and
    ``chosen`` (the layer of the headline number), from ``extra_metrics`` ``layer_<k>`` keys."""
    rows = []
    d = langs[(langs["kind"] == "cell") & langs["extra_metrics"].notna()]
    for r in d.itertuples(index=False):
        extra = json.loads(r.extra_metrics)
        chosen = extra.get("layer")
        for key, v in extra.items():
            if key.startswith("layer_") and key[6:].isdigit():
                rows.append({"model": r.model, "params": r.params, "inter": r.inter, "target": r.target,
                             "seed": r.seed, "language": r.language, "is_zero_shot": r.is_zero_shot,
                             "layer": int(key[6:]), "score": float(v),
                             "chosen": chosen is not None and int(chosen) == int(key[6:])})
    cols = ["model", "params", "inter", "target", "seed", "language", "is_zero_shot", "layer", "score", "chosen"]
    return pd.DataFrame(rows, columns=cols)
