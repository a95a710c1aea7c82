"""A self-contained HTML report from the parquet tables and the figures.

Sections: Findings first (``id="findings"``: one generated sentence per target from the gains
and break-even tables, the noise verdict, the method, the gains table), a toy-benchmark warning (when any row is toy), per target a score table (per model
size and inter: English, average, zero-shot average, gain over ``inter = none``, zero-shot
minus the random-init control, with the trivial baselines in the same table), a per-language
table and the target's figures; then training cost, inference cost, Snakemake jobs and the
global figures and cost-effectiveness. Numbers are seed means (``± std`` when several seeds
exist); intervals come from the gains tables (``analysis/gains.py``).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from xstilts.analysis.aggregate import read_tables, summarize_seeds
from xstilts.analysis.controls import control_table, shortcut_note
from xstilts.analysis.display import (benchmark_tag, human_count, language_order, layer_sweep_table, ordered_inters,
                                      ordered_models)
from xstilts.analysis.findings import NOISE, findings, fmt_gain, overall
from xstilts.analysis.gains import read_stat_tables
from xstilts.core import paths
from xstilts.core.cell import inter_kind

__all__ = ["make_report", "TOY_NOTE"]

TOY_NOTE = (
    "toy numbers are not XLM-R numbers; compare to the random-init control. "
    "These rows come from the toy benchmark: tiny models, a generated world and toy languages "
    "(codes qaa&ndash;qad). Read every zero-shot number against the <code>scratch</code> rows "
    "(same architecture, no pretraining) and the trivial baselines beside it, never against "
    "published XTREME results."
)

FIGURE_CAPTIONS = {
    "accuracy_vs_latency": "Headline score against inference latency (p50, batch 1), one panel per "
    "target. Marker shape: model size; colour: intermediate task; grey x: random-init control; "
    "dashed lines: trivial baselines.",
    "gain_vs_inter_flops": "Zero-shot gain over no intermediate task (paired by seed) against the "
    "FLOPs spent on intermediate training (log scale), one panel per target paired with an "
    "intermediate task (a line under it names the targets left out); error bars: 95% bootstrap intervals.",
    "zero_shot_languages": "Score per language (en is the training language; the rest are "
    "zero-shot), one row per target, one column per model size; black ticks: trivial baselines.",
    "cost_breakdown": "Training cost of one cell by phase, mean over targets and seeds.",
    "pareto": "Zero-shot score against inference cost (latency p50 at batch 1; FLOPs per example), one "
    "row per target; colour: intermediate task, marker: model size, error bars: 95% bootstrap "
    "intervals; dashed: the Pareto front.",
    "size_interaction": "Zero-shot gain over none against model size (non-embedding parameters, log "
    "scale) per intermediate task, with 95% bootstrap intervals.",
    "jobs_by_rule": "Wall time of the Snakemake jobs per rule (from the benchmark files).",
    "layer_sweep": "Retrieval targets: score when the sentence embedding is the mean-pooled output "
    "of each encoder layer (0 = embeddings), mean over zero-shot languages and seeds; large "
    "marker: the layer of the headline number (XTREME's relative depth, 14 of 24).",
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
     color:#222;line-height:1.4;padding:0 1em}
table{border-collapse:collapse;margin:0.6em 0 1.4em;font-size:0.88em}
th,td{border:1px solid #ccc;padding:0.25em 0.55em;text-align:right;white-space:nowrap}
th{background:#f1f1f1} td.l,th.l{text-align:left}
tr.control td{color:#555;background:#fafafa} tr.baseline td{color:#555;background:#f3f3f3;font-style:italic}
.note{border-left:4px solid #d9822b;background:#fff6ec;padding:0.6em 1em;margin:1em 0}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #eee} figcaption{font-size:0.88em;color:#444}
code{background:#f4f4f4;padding:0 0.2em}
"""


# ----------------------------------------------------------------------------- formatting


def _isna(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or bool(pd.isna(v))


def _score(v: Any, std: Any = None, n: Any = 1, signed: bool = False) -> str:
    if _isna(v):
        return "&ndash;"
    s = f"{float(v):+.3f}" if signed else f"{float(v):.3f}"
    if not _isna(n) and int(n) > 1 and not _isna(std):
        s += f" &plusmn; {float(std):.3f}"
    return s


def _g(v: Any, fmt: str = "{:.3g}") -> str:
    return "&ndash;" if _isna(v) else fmt.format(float(v))


def _e(s: Any) -> str:
    return "&ndash;" if _isna(s) else html.escape(str(s))


def _table(headers: list[str], rows: list[tuple[str, list[str]]], left: int = 1) -> str:
    """rows: (css class, cells already escaped/formatted). The first `left` columns align left."""
    out = ["<table>", "<tr>" + "".join(
        f'<th class="l">{h}</th>' if k < left else f"<th>{h}</th>" for k, h in enumerate(headers)
    ) + "</tr>"]  # fmt: skip
    for cls, cells in rows:
        attr = f' class="{cls}"' if cls else ""
        out.append(
            f"<tr{attr}>"
            + "".join(f'<td class="l">{c}</td>' if k < left else f"<td>{c}</td>" for k, c in enumerate(cells))
            + "</tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def _figure(figures_dir: Path, stem: str, out_html: Path, embed: bool, caption: str) -> str:
    png = figures_dir / f"{stem}.png"
    svg = figures_dir / f"{stem}.svg"
    if png.is_file():
        if embed:
            src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
        else:
            src = html.escape(os.path.relpath(png, out_html.parent).replace(os.sep, "/"))
    elif svg.is_file():
        if embed:
            src = "data:image/svg+xml;base64," + base64.b64encode(svg.read_bytes()).decode("ascii")
        else:
            src = html.escape(os.path.relpath(svg, out_html.parent).replace(os.sep, "/"))
    else:
        return f"<p><em>figure {html.escape(stem)} not found in {html.escape(str(figures_dir))}</em></p>"
    return (
        f'<figure id="fig-{html.escape(stem)}"><img src="{src}" alt="{html.escape(stem)}">'
        f"<figcaption><code>{html.escape(stem)}</code>: {html.escape(caption)}</figcaption></figure>"
    )


def _inter_name(i: str) -> str:
    return inter_kind(i).label


# ----------------------------------------------------------------------------- sections


def _scores_section(summ: pd.DataFrame, target: str) -> str:
    d = summ[(summ["target"] == target) & (summ["kind"] == "cell")]
    b = summ[(summ["target"] == target) & (summ["kind"] == "baseline")]
    if d.empty and b.empty:
        return "<p>No rows.</p>"
    headers = [
        "model", "params", "inter", "seeds", "English", "average", "zero-shot avg",
        "gain over none (avg)", "gain over none (zero-shot)", "zero-shot &minus; scratch",
    ]  # fmt: skip
    rows = []
    for m, p in ordered_models(d):
        dm = d[d["model"] == m]
        scratch = dm[dm["inter"].map(lambda i: inter_kind(i).random_init)]
        scr_zs = scratch["average_zero_shot"].iloc[0] if len(scratch) else None
        for inter in ordered_inters(dm["inter"]):
            r = dm[dm["inter"] == inter].iloc[0]
            n = r["n_seeds"]
            vs_scratch = (
                None if inter_kind(inter).random_init or _isna(scr_zs) or _isna(r["average_zero_shot"])
                else r["average_zero_shot"] - scr_zs
            )  # fmt: skip
            rows.append((
                "control" if inter_kind(inter).is_control else "",
                [_e(m), human_count(p), _e(_inter_name(inter)), str(int(n)),
                 _score(r["en_score"], r.get("en_score_std"), n),
                 _score(r["average"], r.get("average_std"), n),
                 _score(r["average_zero_shot"], r.get("average_zero_shot_std"), n),
                 _score(r["gain_over_none"], r.get("gain_over_none_std"), n, signed=True),
                 _score(r["gain_over_none_zero_shot"], r.get("gain_over_none_zero_shot_std"), n, signed=True),
                 _score(vs_scratch, signed=True)],
            ))  # fmt: skip
    for _, r in b.sort_values("model").iterrows():
        rows.append((
            "baseline",
            [_e(r["model"]), "&ndash;", "trivial baseline", str(int(r["n_seeds"])),
             _score(r["en_score"]), _score(r["average"]), _score(r["average_zero_shot"]),
             "&ndash;", "&ndash;", "&ndash;"],
        ))  # fmt: skip
    return _table(headers, rows, left=3)


def _languages_section(langs: pd.DataFrame, target: str) -> str:
    d = langs[langs["target"] == target]
    if d.empty:
        return ""
    order = language_order(d)
    g = d.groupby(["kind", "model", "inter", "language"], sort=False)["score"].agg(["mean", "std", "count"])
    headers = ["model", "inter"] + [("en (train)" if l == "en" else html.escape(l)) for l in order]
    rows = []
    cells = d[d["kind"] == "cell"]
    for m, _ in ordered_models(cells):
        for inter in ordered_inters(cells.loc[cells["model"] == m, "inter"]):
            vals = []
            for l in order:
                k = ("cell", m, inter, l)
                vals.append(_score(*g.loc[k, ["mean", "std", "count"]]) if k in g.index else "&ndash;")
            rows.append(("control" if inter_kind(inter).is_control else "", [_e(m), _e(_inter_name(inter))] + vals))
    base = d[d["kind"] == "baseline"]
    for m in sorted(base["model"].unique()):
        inter = base.loc[base["model"] == m, "inter"].iloc[0]
        vals = []
        for l in order:
            k = ("baseline", m, inter, l)
            vals.append(_score(g.loc[k, "mean"]) if k in g.index else "&ndash;")
        rows.append(("baseline", [_e(m), "trivial baseline"] + vals))
    return _table(headers, rows, left=2)


def _layer_sweep_section(sweep: pd.DataFrame, target: str) -> str:
    """Retrieval targets: the score at every pooled layer (mean over zero-shot languages and
    seeds) per (model, inter); the headline layer in bold.  Empty when the target has none.
    ``sweep``: :func:`layer_sweep_table` of the languages table."""
    d = sweep[(sweep["target"] == target) & sweep["is_zero_shot"]]
    if d.empty:
        return ""
    layers = sorted(d["layer"].unique())
    rows = []
    for (m, i), g in d.groupby(["model", "inter"], sort=False):
        mean = g.groupby("layer")["score"].mean()
        chosen = set(g.loc[g["chosen"], "layer"])
        cells = [(f"<b>{_score(mean.get(k))}</b>" if k in chosen else _score(mean.get(k))) for k in layers]
        rows.append(("", [f"{_e(m)} / {_inter_name(i)}"] + cells))
    return _table(["model / inter"] + [f"layer {k}" for k in layers], rows)


CONTROL_WORDS = {
    "pretraining": "pretrained (<code>none</code>) &minus; random init (<code>scratch</code>)",
    "planted": "planted intermediate task &minus; <code>none</code> (truth: helps)",
    "null": "unrelated intermediate task &minus; <code>none</code> (truth: no effect)",
}


def _controls_section(gains: pd.DataFrame, toy: bool) -> str:
    """Controls with known ground truth; gains and intervals are the gains table's."""
    table = control_table(gains, toy)
    if table.empty:
        return ""
    headers = ["comparison", "model", "target", "inter", "gain (zero-shot avg)", "95% interval",
               "p", "seeds", "verdict"]
    rows = []
    for _, r in table.iterrows():
        interval = ("&ndash;" if _isna(r["ci_low"])
                    else f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]")
        rows.append(("control", [CONTROL_WORDS[r["comparison"]], _e(r["model"]), _e(r["target"]),
                                 _e(r["inter"]), _score(r["gain"], signed=True), interval,
                                 _g(r["p_value"], "{:.3f}"), _seeds_cell(r), _e(r["verdict"])]))
    return (
        '<h2 id="controls">Controls (known ground truth)</h2>'
        "<p>Can this run see a known effect, and does it invent one? Pretraining's contribution "
        "on each target, and the planted intermediate tasks of the toy world (docs/controls.md): "
        "one built to help its data-limited target, one unrelated to it. Gains and intervals "
        "are the rows of the gains table (zero-shot average, paired bootstrap over test examples "
        "and seeds, see Findings).</p>" + _table(headers, rows, left=4)
    )


def _seeds_cell(r) -> str:
    n = int(r["n_seeds"])
    return f"{n}" if r["seed_level"] else f"{n} (interval: test-set noise only)"


METHOD = (
    "Method: every gain is a difference of zero-shot averages (languages other than en), paired "
    "by seed. Its {conf:.0%} interval comes from a paired bootstrap ({b} resamples): in each "
    "resample the test examples of every language are drawn with replacement once, the same draw "
    "for every cell of the target (sentences for seqeval tagging, whose corpus F1 is recomputed "
    "per resample; questions for QA; queries for retrieval), and the seed mean gets a Student-t "
    "draw of its standard error over seeds (a resample of three seeds could never leave their "
    "range). p: two-sided bootstrap p-value of no difference (below {alpha:.2f} exactly when the "
    "interval excludes 0). “Significant” means the interval excludes 0; no correction "
    "for the number of comparisons is made."
)

TOY_FINDINGS = (
    "What toy numbers mean: tiny encoders on a generated world with generated languages. They can "
    "show whether the pipeline sees a planted effect and whether it invents one (see Controls), "
    "and how cost scales between two sizes that differ 8x in parameters. They cannot say whether "
    "English intermediate training helps XLM-R: neither the sizes, the languages nor the tasks "
    "are the real ones, and no toy gain predicts a real one."
)


def _findings_section(stat: dict, targets: list[str], toy: bool) -> str:
    g = stat["gains"]
    found = findings(g, stat["breakeven"], targets)
    parts = ['<section id="findings"><h2>Findings</h2>']
    if toy:
        parts.append(f'<div class="note">{html.escape(TOY_FINDINGS)}</div>')
    # a toy retrieval target is a shortcut control: its sentence carries the caveat beside it
    caveat = {f.target: shortcut_note(f.target, "toy" if toy else "") for f in found}
    parts.append("<ul>" + "".join(f'<li class="finding" data-target="{html.escape(f.target)}">'
                                  f"{html.escape(f.sentence)}"
                                  + (f" <em>{html.escape(caveat[f.target])}</em>" if caveat[f.target] else "")
                                  + "</li>" for f in found) + "</ul>")
    bottom = overall(g, found)
    if bottom:
        parts.append(f'<p class="overall"><strong>{html.escape(bottom)}</strong></p>')
    if not g.empty:
        conf, b = float(g["confidence"].iloc[0]), int(g["n_resamples"].iloc[0])
        parts.append(f"<p><small>{html.escape(METHOD.format(conf=conf, b=b, alpha=1 - conf))}</small></p>")
    parts.append(_gains_table(g))
    parts.append("</section>")
    return "\n".join(parts)


COMPARISON_WORDS = {"inter_vs_none": "inter &minus; none", "none_vs_scratch": "none &minus; scratch",
                    "interaction_vs_smallest": "gain &minus; smallest model's gain",
                    "variant_vs_plain": "variant &minus; plain intermediate"}


def _gains_table(g: pd.DataFrame) -> str:
    if g.empty:
        return ""
    headers = ["target", "model", "inter", "comparison", "gain [95% interval]", "p", "significant",
               "seeds", "examples"]
    rows = []
    for r in g.sort_values(["target", "comparison", "params_non_embedding"], kind="stable").itertuples(index=False):
        sig = not _isna(r.ci_low) and (r.ci_low > 0 or r.ci_high < 0)
        rows.append(("" if r.comparison in ("inter_vs_none", "variant_vs_plain") else "control",
                     [_e(r.target), _e(r.model), _e(r.inter), COMPARISON_WORDS.get(r.comparison, _e(r.comparison)),
                      fmt_gain(r.gain, r.ci_low, r.ci_high), _g(r.p_value, "{:.3f}"),
                      "yes" if sig else f"no ({NOISE})",
                      _seeds_cell({"n_seeds": r.n_seeds, "seed_level": r.seed_level}), str(int(r.n_examples))]))
    return _table(headers, rows, left=4)


def _efficiency_section(stat: dict) -> str:
    e = stat["efficiency"]
    parts = []
    if not e.empty:
        headers = ["model", "inter", "target", "seeds", "zero-shot score [95%]", "intermediate FLOPs",
                   "intermediate device-h", "total cost FLOPs", "gain / 1e15 FLOPs", "gain / device-h",
                   "latency p50 (ms)", "FLOPs/example"]
        rows = []
        for r in e.itertuples(index=False):
            rows.append(("control" if inter_kind(r.inter).is_control else "",
                         [_e(r.model), _e(r.inter), _e(r.target), str(int(r.n_seeds)),
                          "&ndash;" if _isna(r.score) else fmt_gain(r.score, r.score_ci_low, r.score_ci_high).lstrip("+"),
                          _g(r.intermediate_flops), _g(r.intermediate_device_hours), _g(r.total_cost_flops),
                          "&ndash;" if _isna(r.gain_per_1e15_flops) else fmt_gain(
                              r.gain_per_1e15_flops, r.gain_per_1e15_flops_ci_low, r.gain_per_1e15_flops_ci_high),
                          "&ndash;" if _isna(r.gain_per_device_hour) else fmt_gain(
                              r.gain_per_device_hour, r.gain_per_device_hour_ci_low, r.gain_per_device_hour_ci_high),
                          _g(r.latency_p50_ms, "{:.2f}"), _g(r.flops_per_example)]))
        toy = bool(e["pretraining_in_total"].any())
        parts.append("<p>Total cost = training of both phases" + (" + the base model's MLM pretraining "
                     "(toy: pretraining is part of the experiment)" if toy else " (pretraining excluded)")
                     + ". Scores: zero-shot average, seed mean with its 95% bootstrap interval.</p>")
        parts.append(_table(headers, rows, left=3))
    b = stat["breakeven"]
    if not b.empty:
        headers = ["target", "small + best inter", "score", "large + none", "score", "difference [95%]",
                   "verdict", "latency fraction", "FLOPs fraction", "seeds"]
        rows = [("", [_e(r.target), f"{_e(r.small_model)} + {_e(r.best_inter)}", _score(r.small_score),
                      f"{_e(r.large_model)} + none", _score(r.large_score),
                      fmt_gain(r.difference, r.ci_low, r.ci_high), _e(r.verdict),
                      _g(r.latency_fraction, "{:.2f}"), _g(r.flops_fraction, "{:.2f}"), str(int(r.n_seeds))])
                for r in b.itertuples(index=False)]
        parts.append("<h3>Break-even: does the small model with its best intermediate setting reach the "
                     "large model without one?</h3>" + _table(headers, rows, left=2))
    return "\n".join(parts)


def _train_cost_section(summ: pd.DataFrame) -> str:
    d = summ[summ["kind"] == "cell"]
    if d.empty:
        return "<p>No cells.</p>"
    headers = [
        "model", "inter", "target", "seeds", "intermediate FLOPs", "target FLOPs", "total FLOPs",
        "intermediate wall (s)", "target wall (s)", "device-hours", "train tokens/s",
    ]  # fmt: skip
    rows = []
    for m, _ in ordered_models(d):
        dm = d[d["model"] == m]
        for t in dict.fromkeys(dm["target"]):
            dt = dm[dm["target"] == t]
            for inter in ordered_inters(dt["inter"]):
                r = dt[dt["inter"] == inter].iloc[0]
                rows.append((
                    "control" if inter_kind(inter).is_control else "",
                    [_e(m), _e(inter), _e(t), str(int(r["n_seeds"])),
                     _g(r["intermediate_flops"]), _g(r["target_flops"]), _g(r["total_train_flops"]),
                     _g(r["intermediate_wall_s"], "{:.1f}"), _g(r["target_wall_s"], "{:.1f}"),
                     _g(r["total_device_hours"], "{:.3g}"), _g(r["train_tokens_per_s"], "{:.0f}")],
                ))  # fmt: skip
    return _table(headers, rows, left=3)


def _inference_section(cells: pd.DataFrame) -> str:
    d = cells[cells["kind"] == "cell"].drop_duplicates(["model", "target"])
    if d.empty:
        return "<p>No cells.</p>"
    headers = [
        "model", "target", "params", "non-embedding params", "latency p50 (ms)", "p90 (ms)",
        "p99 (ms)", "throughput (ex/s)", "best batch", "FLOPs/example (counted)",
        "FLOPs/example (analytic)", "seq len", "peak mem (MB)", "device", "dtype", "threads",
    ]  # fmt: skip
    rows = []
    for m, p in ordered_models(d):
        for _, r in d[d["model"] == m].iterrows():
            rows.append((
                "",
                [_e(m), _e(r["target"]), human_count(p), human_count(r["params_non_embedding"]),
                 _g(r["latency_p50_ms"], "{:.2f}"), _g(r["latency_p90_ms"], "{:.2f}"),
                 _g(r["latency_p99_ms"], "{:.2f}"), _g(r["throughput_examples_per_s"], "{:.1f}"),
                 _g(r["throughput_best_batch"], "{:.0f}"), _g(r["flops_per_example"]),
                 _g(r["flops_per_example_analytic"]), _g(r["seq_len"], "{:.0f}"),
                 _g(r["infer_peak_mem_mb"], "{:.0f}"), _e(r["infer_device"]), _e(r["infer_dtype"]),
                 _g(r["infer_threads"], "{:.0f}")],
            ))  # fmt: skip
    return _table(headers, rows, left=2)


def _jobs_section(jobs: pd.DataFrame) -> str:
    if jobs.empty:
        return "<p>No Snakemake benchmark files were aggregated.</p>"
    g = jobs.groupby("rule").agg(
        jobs=("seconds", "size"), seconds=("seconds", "sum"), max_s=("seconds", "max"),
        max_rss=("max_rss", "max"), cpu_time=("cpu_time", "sum"),
    ).sort_values("seconds", ascending=False)  # fmt: skip
    rows = [
        ("", [_e(rule), str(int(r["jobs"])), _g(r["seconds"], "{:.1f}"), _g(r["max_s"], "{:.1f}"),
              _g(r["max_rss"], "{:.0f}"), _g(r["cpu_time"], "{:.1f}")])
        for rule, r in g.iterrows()
    ]  # fmt: skip
    table = _table(["rule", "jobs", "wall s (sum)", "wall s (max)", "max RSS (MB)", "CPU s (sum)"], rows)
    n_warm = int(jobs["warm"].fillna(False).astype(bool).sum())
    if not n_warm:
        return table
    return table + (f"<p>{n_warm} of {len(jobs)} jobs ran warm (<code>warm_start</code>: forked from a helper "
                    "that had imported torch and transformers once); their CPU time and peak memory are "
                    "the fork's, from the last line of each job's log.</p>")


# ----------------------------------------------------------------------------- entry point


def make_report(
    tables_dir: str | os.PathLike,
    figures_dir: str | os.PathLike,
    out_html: str | os.PathLike,
    *,
    embed: bool = True,
    targets: Iterable[str] | None = None,
    title: str = "xstilts: intermediate-task training for zero-shot cross-lingual transfer",
    config: Mapping[str, Any] | None = None,
) -> Path:
    """Write the HTML report.

    Args:
        tables_dir: directory with the parquet tables (``results/tables``).
        figures_dir: directory with the figures of :func:`xstilts.analysis.plots.make_figures`
            (``reports/figures``); PNG is used, SVG when there is no PNG.
        out_html: output file (``reports/report.html``); parent directories are created.
        embed: ``True``: figures embedded as base64 (one self-contained file); ``False``:
            referenced by paths relative to ``out_html``.
        targets: targets to report (default: every target in the tables, in table order).
        title: page title.
        config: optional plot config (only ``metric`` is shown, to say what the figures plot).

    Returns:
        ``Path(out_html)``.
    """
    out_html = Path(out_html)
    figures_dir = Path(figures_dir)
    cells, langs, jobs = read_tables(tables_dir)
    stat = read_stat_tables(tables_dir, ("gains", "efficiency", "breakeven"))
    summ = summarize_seeds(cells)
    if targets is None:
        targets = list(dict.fromkeys(cells["target"]))
    targets = list(targets)
    benchmarks = sorted(set(cells["benchmark"].dropna()))
    real = cells[cells["kind"] == "cell"]
    metric = (config or {}).get("metric", "average")

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}{html.escape(benchmark_tag(cells))}</h1>",
        _findings_section(stat, targets, "toy" in benchmarks),
    ]
    if "toy" in benchmarks:
        parts.append(f'<div class="note"><strong>Toy benchmark:</strong> {TOY_NOTE}</div>')
    n_seeds = real["seed"].nunique() if not real.empty else 0
    parts.append(
        "<p>"
        f"{len(real)} cells: {real['model'].nunique()} model size(s) "
        f"({', '.join(_e(m) + ' ' + human_count(p) for m, p in ordered_models(real))}), "
        f"{real['inter'].nunique()} intermediate setting(s) "
        f"({', '.join(_e(i) for i in ordered_inters(real['inter']))}), "
        f"{len(targets)} target(s), {n_seeds} seed(s); benchmark: {_e(', '.join(benchmarks) or '?')}. "
        "Scores are fractions (not percent), means over seeds with &plusmn; sample std (the "
        "\u201cseeds\u201d column says over how many); intervals are in Findings and Costs. "
        "<code>none</code> = pretrained encoder straight to the target; <code>scratch</code> = "
        "same architecture from random init (the control); zero-shot = languages other than en."
        "</p>"
    )
    left_out = Path(paths.left_out_file(str(tables_dir)))
    if left_out.is_file():  # data.on_missing_data: skip left cells out
        lo = json.loads(left_out.read_text())
        items = "".join(f"<li><code>{_e(c)}</code>: {_e(why)}</li>" for c, why in lo["cells"].items())
        parts.append(f'<div class="note"><strong>Left out for missing data ({len(lo["cells"])} '
                     f"cells):</strong><ul>{items}</ul>{_e(lo['how'])}</div>")
    controls = _controls_section(stat["gains"], "toy" in benchmarks)
    parts.append('<h2>Contents</h2><ul><li><a href="#findings">findings</a></li>'
                 + ('<li><a href="#controls">controls</a></li>' if controls else "")
                 + '<li><a href="#figures">figures</a></li>')
    for t in targets:
        parts.append(f'<li><a href="#target-{html.escape(t)}">target {html.escape(t)}</a></li>')
    parts.append('<li><a href="#costs">costs</a></li><li><a href="#jobs">Snakemake jobs</a></li></ul>')

    parts.append(controls)
    parts.append('<h2 id="figures">Accuracy and cost</h2>')
    for f in ("size_interaction", "pareto", "accuracy_vs_latency", "gain_vs_inter_flops", "zero_shot_languages"):
        cap = FIGURE_CAPTIONS[f] + (f" Figure metric: {metric}." if f == "accuracy_vs_latency" else "")
        parts.append(_figure(figures_dir, f, out_html, embed, cap))

    sweep_figure_shown = False
    sweeps = layer_sweep_table(langs)
    for t in targets:
        dt = cells[cells["target"] == t]
        m = dt["metric"].dropna()
        parts.append(
            f'<h2 id="target-{html.escape(t)}">Target {html.escape(t)}'
            f"{' (' + html.escape(m.iloc[0]) + ')' if len(m) else ''}{html.escape(benchmark_tag(dt))}</h2>"
        )
        note = shortcut_note(t, "toy" if "toy" in benchmarks else "")
        if note:
            parts.append(f'<div class="note"><strong>{html.escape(t)}:</strong> {note}</div>')
        if "partial_average" in dt and dt["partial_average"].fillna(False).astype(bool).any():
            n_langs = int(dt["n_languages"].max())
            parts.append(f'<div class="note"><strong>Partial average:</strong> {html.escape(t)} was '
                         f"evaluated in a subset of its benchmark languages (config "
                         f"<code>languages.{html.escape(t)}</code>, {n_langs} language(s)): its "
                         "averages are not comparable with published full-benchmark numbers.</div>")
        parts.append("<h3>Scores</h3>")
        parts.append(_scores_section(summ, t))
        parts.append("<h3>Per language</h3>")
        parts.append(_languages_section(langs, t))
        sweep = _layer_sweep_section(sweeps, t)
        if sweep:  # retrieval targets; the figure (all of them) once, under the first
            parts.append("<h3>Layer sweep (zero-shot mean per pooled layer)</h3>")
            parts.append(sweep)
            if not sweep_figure_shown:
                parts.append(_figure(figures_dir, "layer_sweep", out_html, embed, FIGURE_CAPTIONS["layer_sweep"]))
                sweep_figure_shown = True

    parts.append('<h2 id="costs">Costs</h2><h3>Cost-effectiveness (seed means)</h3>')
    parts.append(_efficiency_section(stat))
    parts.append("<h3>Training (per cell, both phases)</h3>")
    parts.append(_train_cost_section(summ))
    parts.append("<h3>Inference (per model and target, measured once per architecture)</h3>")
    parts.append(_inference_section(cells))
    parts.append(_figure(figures_dir, "cost_breakdown", out_html, embed, FIGURE_CAPTIONS["cost_breakdown"]))
    parts.append('<h2 id="jobs">Snakemake jobs</h2>')
    parts.append(_jobs_section(jobs))
    parts.append(_figure(figures_dir, "jobs_by_rule", out_html, embed, FIGURE_CAPTIONS["jobs_by_rule"]))
    parts.append("</body></html>")

    from xstilts.stages.common import write_text

    return write_text(out_html, "\n".join(parts))


def run(cfg, out: str | None = None, tables: str | None = None, figures: str | None = None) -> None:
    """The ``report`` stage."""
    from xstilts.core import paths
    from xstilts.stages.common import log

    out = out or paths.report_html()
    make_report(tables or paths.tables_dir(), figures or paths.figures_dir(), out, targets=cfg.targets)
    log(f"report -> {out}")
