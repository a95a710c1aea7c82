"""The answer of a run in sentences, generated from the gains and break-even tables only.

One sentence per target: per model size (smallest first) the best intermediate task and its
zero-shot gain over ``none`` with its interval (or, for a target without intermediate tasks,
pretraining's contribution over the random-init control), the size interaction, and the
break-even of the smallest model with its best intermediate setting against the largest with
none, and (where the grid has them) plain intermediate training against its ``+mlm`` /
``+translate`` alternatives per size (Phang et al. 2020: plain English is as good or better).  An interval that includes 0 is said to be "not distinguishable from noise", plainly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from xstilts.core.cell import inter_kind

__all__ = ["Finding", "findings", "overall", "fmt_gain", "variant_clause", "NOISE"]

NOISE = "not distinguishable from noise"


def _isnan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or bool(pd.isna(v))


def fmt_gain(gain, low, high) -> str:
    """``+0.080 [+0.050, +0.110]`` (the interval omitted when there is none)."""
    s = f"{float(gain):+.3f}"
    return s if _isnan(low) else f"{s} [{float(low):+.3f}, {float(high):+.3f}]"


def significant(r) -> bool:
    return not _isnan(r["ci_low"]) and (r["ci_low"] > 0 or r["ci_high"] < 0)


@dataclass(frozen=True)
class Finding:
    target: str
    sentence: str
    significant: bool  # some number of the sentence is distinguishable from noise


def _seeds(rows: pd.DataFrame) -> str:
    n = sorted({int(v) for v in rows["n_seeds"]})
    word = "/".join(map(str, n))
    return f"{word} seed{'s' if n != [1] else ''}"


def _model_order(g: pd.DataFrame) -> list[str]:
    sizes = g.groupby("model")["params_non_embedding"].first().astype("float64")
    return sorted(sizes.index, key=lambda m: (math.isnan(sizes[m]), sizes[m] if not math.isnan(sizes[m]) else 0, m))


def _effect(r, what: str) -> str:
    verb = "helps" if r["gain"] > 0 else "hurts" if r["gain"] < 0 else "changes"
    tail = "" if significant(r) else f", {NOISE}"
    return f"{what} {verb} {r['model']} by {fmt_gain(r['gain'], r['ci_low'], r['ci_high'])}{tail}"


def _target_sentence(target: str, g: pd.DataFrame, be: pd.DataFrame) -> Finding:
    inter = g[g["comparison"] == "inter_vs_none"]
    scratch = g[g["comparison"] == "none_vs_scratch"]
    inter_x = g[g["comparison"] == "interaction_vs_smallest"]
    variants = g[g["comparison"] == "variant_vs_plain"]
    rows = inter if not inter.empty else scratch
    metric = g["metric"].iloc[0]
    head = (f"{target} ({metric}, zero-shot average over {g['languages'].iloc[0].replace(',', ', ')}; "
            f"{_seeds(g)}, {int(g['n_examples'].iloc[0])} test examples)")
    parts, sig = [], False
    for model in _model_order(rows):
        rm = rows[rows["model"] == model]
        if inter.empty:
            r = rm.iloc[0]
            parts.append(_effect(r, "pretraining (none vs scratch)"))
        else:
            r = rm.loc[rm["gain"].idxmax()]
            parts.append(_effect(r, f"the best intermediate task, {inter_kind(r['inter']).label},"))
        sig |= significant(r)
    text = f"{head}: " + "; ".join(parts)
    for _, r in inter_x.iterrows():
        change = "shrinks" if r["gain"] < 0 else "grows"
        word = f"the gain {change} with size" if significant(r) else f"the size difference is {NOISE}"
        text += (f"; for {inter_kind(r['inter']).label}, {r['model']} minus {r['versus']}: "
                 f"{fmt_gain(r['gain'], r['ci_low'], r['ci_high'])} ({word})")
        sig |= significant(r)
    if not variants.empty:
        text += "; plain vs +mlm vs +translate: " + variant_clause(variants)
        sig |= any(significant(r) for _, r in variants.iterrows())
    for _, b in be.iterrows():
        reach = "reaches" if b["reaches"] else "falls short of"
        cost = ""
        if not _isnan(b["latency_fraction"]):
            cost = f", at {b['latency_fraction']:.2f}x its latency"
            if not _isnan(b["flops_fraction"]):
                cost += f" and {b['flops_fraction']:.2f}x its FLOPs per example"
        noise = "" if significant(b.rename({"difference": "gain"})) else f", {NOISE}"
        text += (f"; {b['small_model']} + {inter_kind(b['best_inter']).label} {reach} {b['large_model']} + none "
                 f"({fmt_gain(b['difference'], b['ci_low'], b['ci_high'])}{noise}{cost})")
    return Finding(target, text + ".", sig)


def variant_clause(variants: pd.DataFrame) -> str:
    """Per model size (smallest first), each ``+mlm`` / ``+translate`` cell minus its plain
    intermediate: ``tiny-2x64: objclass_tags +mlm minus objclass_tags -0.012 [-0.040, +0.015]
    (not distinguishable from noise)``."""
    parts = []
    for model in _model_order(variants):
        rm = variants[variants["model"] == model].sort_values("inter")
        bits = []
        for _, r in rm.iterrows():
            word = ("better than plain" if r["gain"] > 0 else "worse than plain") if significant(r) else NOISE
            bits.append(f"{inter_kind(r['inter']).label} minus {r['versus']} "
                        f"{fmt_gain(r['gain'], r['ci_low'], r['ci_high'])} ({word})")
        parts.append(f"{model}: " + ", ".join(bits))
    return "; ".join(parts)


def findings(gains: pd.DataFrame, breakeven: pd.DataFrame, targets=None) -> list[Finding]:
    """One :class:`Finding` per target with a gain row, in ``targets`` order."""
    if targets is None:
        targets = list(dict.fromkeys(gains["target"]))
    out = []
    for t in targets:
        g = gains[gains["target"] == t]
        if g.empty:
            continue
        out.append(_target_sentence(t, g, breakeven[breakeven["target"] == t]))
    return out


def overall(gains: pd.DataFrame, found: list[Finding]) -> str:
    """The run's bottom line about noise and seeds."""
    if gains.empty:
        return "No gain could be computed (no target has both a none cell and another setting)."
    parts = []
    if not any(f.significant for f in found):
        parts.append("Nothing in this run is distinguishable from noise: every interval includes 0.")
    if (gains["n_seeds"] <= 1).any():
        parts.append("With one seed an interval covers test-set noise only; seed-to-seed variation "
                     "is not measured, so even an interval that excludes 0 may not reproduce.")
    return " ".join(parts)
