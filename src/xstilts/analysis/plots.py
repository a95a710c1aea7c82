"""Figures from the parquet tables (never from raw artifacts, so they regenerate without retraining).

Figures (``<stem>.<fmt>`` for every format asked; one panel per target where it applies):

``accuracy_vs_latency``
    headline score (XTREME-style average by default) against inference latency p50 at batch 1:
    one marker shape per model size, one colour per intermediate task; the random-init control
    (``scratch``) in grey with ``x`` markers and the trivial baselines as dashed horizontal lines.
``gain_vs_inter_flops``
    zero-shot gain over ``inter = none`` (``gains.parquet``, with its interval) against
    intermediate-training FLOPs (log x), marker per model size, colour per intermediate task.
``zero_shot_languages``
    per-language score, one row per target and one column per model size, bars per
    intermediate task (``none`` first, ``scratch`` hatched last), languages in eval.json order,
    baselines as black ticks.
``cost_breakdown``
    training device-hours and FLOPs per phase (intermediate / target), per model size and inter,
    mean per cell over targets and seeds.
``jobs_by_rule``
    Snakemake benchmark files: wall seconds summed per rule, with max RSS.
``layer_sweep``
    retrieval targets (the ``layer_<k>`` metrics of their languages): score against the encoder
    layer that is mean-pooled (0 = embeddings), mean over zero-shot languages and seeds, one
    panel per (target, model size), one line per inter; the filled marker is the layer of the
    headline number.  A placeholder when no target has a layer sweep.

``pareto``
    zero-shot score (``efficiency.parquet``, with its interval) against inference latency p50
    and FLOPs per example, one row per target; the Pareto front dashed.
``size_interaction``
    zero-shot gain over ``none`` against non-embedding parameters (log x) per intermediate
    task, one panel per target, with intervals.

Seeds are averaged; error bars on scores and gains are the 95% paired-bootstrap intervals of
``analysis/gains.py`` (``scores.parquet``, ``gains.parquet``), and axis labels say over how many
seeds. Titles say "toy benchmark"
when the rows come from the toy benchmark. Matplotlib is used through ``Figure`` objects
printed by the canvas of each format (no pyplot state, no display needed), every figure laid
out by constrained layout (one draw per file, see ``_save``); SVG text stays text
(``svg.fonttype = none``) and outputs carry no timestamps, so reruns give the same files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backend_bases import get_registered_canvas_class  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from xstilts.analysis.aggregate import read_tables, summarize_seeds  # noqa: E402
from xstilts.analysis.display import (  # noqa: E402
    benchmark_tag, human_count, language_order, layer_sweep_table, model_label, ordered_inters, ordered_models)
from xstilts.analysis.gains import AVERAGE, ZERO_SHOT, read_stat_tables  # noqa: E402
from xstilts.core.cell import inter_kind  # noqa: E402

__all__ = [
    "DEFAULT_PLOT_CONFIG",
    "FIGURES",
    "figure_names",
    "make_figures",
]

#: plot options; pass a (partial) dict as ``config`` to :func:`make_figures`.
DEFAULT_PLOT_CONFIG: dict[str, Any] = {
    "dpi": 150,  # PNG resolution
    "metric": "average",  # score column: average | average_zero_shot | en_score
    "latency": "latency_p50_ms",  # x of acc_vs_latency: latency_p50_ms | latency_p90_ms | latency_p99_ms
    "figsize": [6.4, 4.8],  # inches, single-panel figures
    "panel_size": [4.2, 3.4],  # inches per panel, multi-panel figures
    "font_size": 9,
}

#: figure file stems, written as ``<stem>.<fmt>`` for every format; the first four are the
#: figures the workflow declares (workflow/rules/common.smk FIGURE_NAMES).
FIGURES = ("accuracy_vs_latency", "gain_vs_inter_flops", "zero_shot_languages", "cost_breakdown", "jobs_by_rule",
           "layer_sweep", "pareto", "size_interaction")

METRIC_LABELS = {
    "average": "average over languages",
    "average_zero_shot": "zero-shot average (non-en)",
    "en_score": "English score",
}
#: the scores-table scope of each metric (analysis/gains.py)
SCORE_SCOPE = {"average": AVERAGE, "average_zero_shot": ZERO_SHOT, "en_score": "en"}
GAIN_COLUMN = {
    "average": "gain_over_none",
    "average_zero_shot": "gain_over_none_zero_shot",
    "en_score": "gain_over_none_en",
}
LATENCY_LABELS = {
    "latency_p50_ms": "inference latency p50, batch 1 (ms)",
    "latency_p90_ms": "inference latency p90, batch 1 (ms)",
    "latency_p99_ms": "inference latency p99, batch 1 (ms)",
    "latency_mean_ms": "inference latency mean, batch 1 (ms)",
}
_MARKERS = ["o", "s", "^", "D", "v", "P", "*", "X", "<", ">", "h"]
_PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#aec7e8",
    "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
]  # fmt: skip
_BASELINE_STYLES = ["--", ":", "-."]
_NONE_COLOR = "#000000"
_SCRATCH_COLOR = "#8c8c8c"
#: metadata that keeps timestamps out of the files, per format (reruns give the same files)
_NO_DATES: dict[str, dict] = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}


# ----------------------------------------------------------------------------- naming helpers


def figure_names(formats: Iterable[str] = ("png", "svg")) -> list[str]:
    """File names (``<stem>.<fmt>``) :func:`make_figures` writes, in its return order."""
    formats = list(formats)
    return [f"{s}.{fmt}" for s in FIGURES for fmt in formats]


def _inter_colors(inters: Iterable[str]) -> dict[str, str]:
    colors, k = {}, 0
    for i in ordered_inters(inters):
        if inter_kind(i).is_reference:
            colors[i] = _NONE_COLOR
        elif inter_kind(i).random_init:
            colors[i] = _SCRATCH_COLOR
        else:
            colors[i] = _PALETTE[k % len(_PALETTE)]
            k += 1
    return colors


def _inter_label(inter: str) -> str:
    return inter_kind(inter).label


# ----------------------------------------------------------------------------- figure helpers


def _save(fig: Figure, out_dir: Path, stem: str, formats: Iterable[str], dpi: int) -> list[Path]:
    """Write ``fig`` once per format, drawing it once each time.

    Every figure is laid out by constrained layout, which keeps its labels and legends
    (``loc="outside ..."``) inside the figure, and its titles wrap (``wrap=True``) where they
    are wider than it, so no ``bbox_inches="tight"`` pass is needed.
    The format's canvas prints the figure directly: ``Figure.savefig`` draws a figure that has a
    layout engine twice (a layout pass with drawing disabled, then the printed one), while the
    canvas's own print runs constrained layout within its single draw.
    """
    paths = []
    for fmt in formats:
        p = out_dir / f"{stem}.{fmt}"
        canvas = get_registered_canvas_class(fmt)
        if canvas is None:
            raise ValueError(f"plot formats: matplotlib cannot write {fmt!r}")
        # what savefig(dpi=...) sets while printing: every format, since the vector formats
        # print at 72 dpi and leave the figure there
        fig.set_dpi(dpi)
        getattr(canvas(fig), f"print_{fmt}")(p, metadata=_NO_DATES.get(fmt, {}))
        paths.append(p)
    return paths


def _placeholder(title: str, message: str, figsize) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, wrap=True)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes)
    return fig


def _f(v) -> float:
    return float("nan") if v is None or pd.isna(v) else float(v)


def _legend_handles(models, markers, inters, colors, extra=()) -> list:
    h = [Patch(facecolor=colors[i], edgecolor="none", label=_inter_label(i)) for i in inters]
    h += [
        Line2D([], [], marker=markers[m], linestyle="none", color="#444444", label=model_label(m, p))
        for m, p in models
    ]
    return h + list(extra)


# ----------------------------------------------------------------------------- figures


def _grid(n: int, cfg: dict, extra_w: float = 0.0):
    """A figure with n panels (at most 3 per row) and room for a legend on the right."""
    ncols = min(3, max(n, 1))
    nrows = math.ceil(max(n, 1) / ncols)
    pw, ph = cfg["figsize"] if n == 1 else cfg["panel_size"]
    fig = Figure(figsize=(pw * ncols + extra_w, ph * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig, axes[:n]


def _style(summ: pd.DataFrame):
    cells = summ[summ["kind"] == "cell"]
    models = ordered_models(cells)
    markers = {m: _MARKERS[k % len(_MARKERS)] for k, (m, _) in enumerate(models)}
    inters = ordered_inters(cells["inter"])
    return models, markers, inters, _inter_colors(inters)


def _no_data(ax, title: str, message: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_acc(ax, summ, base, target, cfg, models, markers, colors, ci) -> list:
    """One acc-vs-latency panel; returns legend handles for the baselines drawn."""
    metric, lat = cfg["metric"], cfg["latency"]
    d = summ[(summ["kind"] == "cell") & (summ["target"] == target)]
    b = base[base["target"] == target]
    if d.empty:
        _no_data(ax, target, f"no cells for target {target!r}")
        return []
    xcol, xlabel = lat, LATENCY_LABELS.get(lat, lat)
    if d[xcol].isna().all():
        xcol, xlabel = "params", "parameters (inference latency not measured)"
    if d[xcol].isna().all():  # no latency, no params: model rank
        rank = {m: k for k, (m, _) in enumerate(models)}
        d = d.assign(_x=d["model"].map(rank).astype("float64"))
        xcol, xlabel = "_x", "model (size and latency not measured)"
    for inter in ordered_inters(d["inter"]):
        di = d[d["inter"] == inter].assign(_xv=lambda t: t[xcol].astype("float64")).sort_values("_xv")
        scratch = inter_kind(inter).random_init
        ax.plot(di["_xv"], di[metric].astype("float64"), color=colors[inter], lw=0.8,
                ls="--" if scratch else "-", alpha=0.6, zorder=1)  # fmt: skip
        for _, r in di.iterrows():
            yerr = _ci_err(ci, (r["model"], inter, target, SCORE_SCOPE[metric]), _f(r[metric]))
            ax.errorbar(
                _f(r["_xv"]), _f(r[metric]), yerr=yerr, color=colors[inter],
                marker="x" if scratch else markers[r["model"]], markersize=8 if scratch else 7,
                mec=colors[inter], mfc="none" if scratch else colors[inter], linestyle="none",
                capsize=2, zorder=3,
            )  # fmt: skip
    handles = []
    for k, (_, r) in enumerate(b.sort_values("model").iterrows()):
        ls = _BASELINE_STYLES[k % len(_BASELINE_STYLES)]
        ax.axhline(_f(r[metric]), color="#555555", ls=ls, lw=1.0, zorder=0)
        handles.append(Line2D([], [], color="#555555", ls=ls, label=f"trivial {r['model']}"))
    xs = d[xcol].astype("float64").dropna()
    if xcol != "_x" and len(xs) and xs.min() > 0 and xs.max() / xs.min() > 8:
        ax.set_xscale("log")
    if xcol == "_x":
        ax.set_xticks(range(len(models)), [m for m, _ in models])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)} ({d['metric'].iloc[0]})")
    ax.set_title(target)
    ax.grid(True, alpha=0.3)
    return handles


def _fig_acc_vs_latency(summ: pd.DataFrame, targets: list[str], cfg: dict, ci: dict) -> Figure:
    models, markers, inters, colors = _style(summ)
    base = summ[summ["kind"] == "baseline"]
    fig, axes = _grid(len(targets), cfg, extra_w=2.4)
    extra: dict[str, Line2D] = {}
    for ax, t in zip(axes, targets):
        for h in _draw_acc(ax, summ, base, t, cfg, models, markers, colors, ci):
            extra.setdefault(h.get_label(), h)
    tag = benchmark_tag(summ[summ["target"].isin(targets)])
    fig.suptitle(f"Accuracy vs inference latency{tag}", wrap=True)
    fig.legend(handles=_legend_handles(models, markers, inters, colors, extra.values()),
               loc="outside right upper", fontsize="small", frameon=False)  # fmt: skip
    return fig


def _draw_gain(ax, summ, gains, target, cfg, markers, colors) -> None:
    g = gains[(gains["target"] == target) & (gains["comparison"] == "inter_vs_none")]
    flops = summ[(summ["kind"] == "cell") & (summ["target"] == target)].set_index(["model", "inter"])
    d = g.assign(intermediate_flops=[_f(flops["intermediate_flops"].get((m, i))) for m, i in zip(g["model"], g["inter"])])
    d = d[d["intermediate_flops"].notna()]
    if d.empty:
        _no_data(ax, target, "no cell with both an intermediate phase\nand an inter = none cell")
        return
    ax.axhline(0.0, color="#000000", lw=0.8, ls="-", zorder=0)
    for inter in ordered_inters(d["inter"]):
        di = d[d["inter"] == inter].sort_values("intermediate_flops")
        ax.plot(di["intermediate_flops"].astype("float64"), di["gain"].astype("float64"),
                color=colors[inter], lw=0.8, alpha=0.6, zorder=1)  # fmt: skip
        for _, r in di.iterrows():
            ax.errorbar(_f(r["intermediate_flops"]), _f(r["gain"]), yerr=_err(r), color=colors[inter],
                        marker=markers[r["model"]], markersize=7, linestyle="none", capsize=2, zorder=3)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("intermediate-task training FLOPs (log scale)")
    # two lines: on one, the label is longer than a panel is high
    ax.set_ylabel(f"gain over inter = none,\nzero-shot average ({_seeds_text(d)})")
    ax.set_title(target)
    ax.grid(True, alpha=0.3, which="both")


def _fig_gain_vs_flops(summ: pd.DataFrame, gains: pd.DataFrame, targets: list[str], cfg: dict) -> Figure:
    """One panel per target that has a gain over ``inter = none`` (a target the config pairs
    with no intermediate task has none: a line under the panels names the targets left out)."""
    title = "Gain over no intermediate task\nvs intermediate-training FLOPs"
    with_gain = set(gains.loc[gains["comparison"] == "inter_vs_none", "target"])
    drawn = [t for t in targets if t in with_gain]
    if not drawn:
        return _placeholder(title, "no intermediate task with an inter = none cell", cfg["figsize"])
    models, markers, inters, colors = _style(summ)
    inters = [i for i in inters if not inter_kind(i).is_control]
    fig, axes = _grid(len(drawn), cfg, extra_w=2.4)
    for ax, t in zip(axes, drawn):
        _draw_gain(ax, summ, gains, t, cfg, markers, colors)
    fig.suptitle(f"{title}{benchmark_tag(summ[summ['target'].isin(drawn)])}", wrap=True)
    left_out = [t for t in targets if t not in with_gain]
    if left_out:
        fig.supxlabel(f"not drawn (no intermediate task paired): {', '.join(left_out)}", fontsize="small", wrap=True)
    extra = [Line2D([], [], color="#000000", lw=0.8, label="no gain (inter = none)")]
    fig.legend(handles=_legend_handles(models, markers, inters, colors, extra),
               loc="outside right upper", fontsize="small", frameon=False)  # fmt: skip
    return fig


def _fig_languages(langs: pd.DataFrame, targets: list[str], cfg: dict, ci: dict) -> Figure:
    """Rows: targets; columns: model sizes; bars: inters per language."""
    cells_all = langs[langs["kind"] == "cell"]
    models = ordered_models(cells_all)
    inters = ordered_inters(cells_all["inter"])
    colors = _inter_colors(inters)
    tag = benchmark_tag(langs[langs["target"].isin(targets)])
    n_lang = max([len(language_order(langs[langs["target"] == t])) for t in targets] + [1])
    pw, ph = cfg["panel_size"]
    width = max(pw, 0.2 * n_lang * max(len(inters), 1) + 1.0)
    ncols = max(len(models), 1)
    fig = Figure(figsize=(width * ncols + 2.6, (ph + 0.3) * max(len(targets), 1) + 0.4), layout="constrained")
    axes = fig.subplots(max(len(targets), 1), ncols, squeeze=False)
    bw = 0.8 / max(len(inters), 1)
    baseline_kinds = sorted(langs.loc[langs["kind"] == "baseline", "model"].unique())
    for row, t in enumerate(targets):
        d = langs[langs["target"] == t]
        cells, base = d[d["kind"] == "cell"], d[d["kind"] == "baseline"]
        order = language_order(d)
        x = np.arange(len(order))
        g = cells.groupby(["model", "inter", "language"], sort=False)["score"].agg(["mean", "std", "count"]).reset_index()
        for col, (m, p) in enumerate(models):
            ax = axes[row][col]
            gm = g[g["model"] == m]
            if gm.empty:
                _no_data(ax, f"{t}, {model_label(m, p)}", "no cells")
                continue
            for k, inter in enumerate(inters):
                gi = gm[gm["inter"] == inter].set_index("language").reindex(order)
                if gi["mean"].isna().all():
                    continue
                err = np.array([_ci_err(ci, (m, inter, t, l), _f(v)) for l, v in zip(order, gi["mean"])])
                ax.bar(
                    x - 0.4 + bw * (k + 0.5), gi["mean"].astype("float64"), bw,
                    yerr=err[:, :, 0].T, color=colors[inter],
                    capsize=1.5, hatch="//" if inter_kind(inter).random_init else None,
                    edgecolor="white" if inter_kind(inter).random_init else None, linewidth=0,
                )  # fmt: skip
            for j, kind in enumerate(baseline_kinds):
                bd = base[base["model"] == kind]
                if bd.empty:
                    continue
                bl = bd.groupby("language")["score"].mean().reindex(order).astype("float64")
                ax.hlines(bl.values, x - 0.45, x + 0.45, colors="#000000",
                          linestyles=_BASELINE_STYLES[j % len(_BASELINE_STYLES)], lw=1.2)  # fmt: skip
            ax.set_xticks(x, [f"{l}\n(train)" if l == "en" else l for l in order])
            ax.set_title(f"{t}, {model_label(m, p)}", fontsize="medium")
            ax.set_xlabel("language")
            ax.grid(True, axis="y", alpha=0.3)
            if col == 0:
                metric = cells["metric"].iloc[0] if len(cells) else "score"
                ax.set_ylabel(f"{metric} per language")
    if not targets or not models:
        _no_data(axes[0][0], "per-language scores", "no cells")
    handles = [Patch(facecolor=colors[i], label=_inter_label(i), hatch="//" if inter_kind(i).random_init else None,
                     edgecolor="white" if inter_kind(i).random_init else None) for i in inters]  # fmt: skip
    for j, kind in enumerate(baseline_kinds):
        handles.append(Line2D([], [], color="#000000", ls=_BASELINE_STYLES[j % len(_BASELINE_STYLES)],
                              label=f"trivial {kind}"))  # fmt: skip
    fig.legend(handles=handles, loc="outside right upper", fontsize="small", frameon=False)
    fig.suptitle(f"Score per language, zero-shot except en{tag}", wrap=True)
    return fig


def _fig_cost_breakdown(cells: pd.DataFrame, cfg: dict) -> Figure:
    d = cells[cells["kind"] == "cell"]
    tag = benchmark_tag(d)
    title = f"training cost per cell by phase (mean over targets and seeds){tag}"
    if d.empty:
        return _placeholder(title, "no cells", cfg["figsize"])
    models = ordered_models(d)
    inters = ordered_inters(d["inter"])
    rows = [("device_hours", "training device-hours"), ("flops", "training FLOPs")]
    pw, ph = cfg["panel_size"]
    width = max(pw, 0.45 * len(inters) + 1.2)
    fig = Figure(figsize=(width * len(models), ph * len(rows) + 0.6), layout="constrained")
    axes = fig.subplots(len(rows), len(models), squeeze=False, sharex="col")
    phase_style = {"intermediate": dict(color="#4c72b0"), "target": dict(color="#dd8452")}
    x = np.arange(len(inters))
    for c, (m, p) in enumerate(models):
        dm = d[d["model"] == m]
        for r, (col, label) in enumerate(rows):
            ax = axes[r][c]
            bottom = np.zeros(len(inters))
            for ph_ in ("intermediate", "target"):
                v = (
                    dm.groupby("inter")[f"{ph_}_{col}"].mean().reindex(inters).astype("float64").fillna(0.0).values
                )
                ax.bar(x, v, 0.7, bottom=bottom, label=f"{ph_} phase", **phase_style[ph_])
                bottom = bottom + v
            ax.set_xticks(x, inters, rotation=45 if len(inters) > 3 else 0, ha="right" if len(inters) > 3 else "center")
            ax.tick_params(axis="x", labelbottom=r == len(rows) - 1)
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
            ax.grid(True, axis="y", alpha=0.3)
            if c == 0:
                ax.set_ylabel(label)
            if r == 0:
                ax.set_title(model_label(m, p), fontsize="medium")
            if r == len(rows) - 1:
                ax.set_xlabel("intermediate task")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)
    fig.suptitle(title, wrap=True)
    return fig


def _fig_jobs(jobs: pd.DataFrame, cfg: dict) -> Figure:
    title = "Snakemake jobs: wall time per rule"
    if jobs.empty:
        return _placeholder(title, "no Snakemake benchmark files", cfg["figsize"])
    g = jobs.groupby("rule").agg(seconds=("seconds", "sum"), n=("seconds", "size"), rss=("max_rss", "max"))
    g = g.sort_values("seconds")
    fig = Figure(figsize=(cfg["figsize"][0], max(2.0, 0.35 * len(g) + 1.2)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(g))
    ax.barh(y, g["seconds"].astype("float64"), color="#4c72b0")
    ax.set_yticks(y, list(g.index))
    for yi, (_, r) in zip(y, g.iterrows()):
        rss = "" if pd.isna(r["rss"]) else f", max RSS {r['rss']:.0f} MB"
        ax.text(float(r["seconds"]), yi, f"  {int(r['n'])} job(s){rss}", va="center", fontsize="small")
    ax.set_xlabel("wall time summed over jobs (s)")
    ax.set_ylabel("rule")
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    ax.margins(x=0.35)
    return fig


def _fig_layer_sweep(langs: pd.DataFrame, targets: list[str], cfg: dict) -> Figure:
    sweep = layer_sweep_table(langs)
    sweep = sweep[sweep["target"].isin(targets) & sweep["is_zero_shot"]]
    title = "retrieval score per pooled layer (mean over zero-shot languages and seeds)"
    if sweep.empty:
        return _placeholder(title, "no target with a layer sweep (retrieval family)", cfg["figsize"])
    title += benchmark_tag(langs[langs["target"].isin(targets)])
    ts = [t for t in targets if t in set(sweep["target"])]
    models = ordered_models(sweep)
    inters = ordered_inters(sweep["inter"])
    colors = _inter_colors(inters)
    pw, ph = cfg["panel_size"]
    fig = Figure(figsize=(pw * len(models) + 2.4, ph * len(ts) + 0.5), layout="constrained")
    axes = fig.subplots(len(ts), len(models), squeeze=False)
    for r, t in enumerate(ts):
        for c, (m, p) in enumerate(models):
            ax = axes[r][c]
            d = sweep[(sweep["target"] == t) & (sweep["model"] == m)]
            if d.empty:
                _no_data(ax, f"{t}, {model_label(m, p)}", "no cells")
                continue
            for inter in inters:
                di = d[d["inter"] == inter]
                if di.empty:
                    continue
                g = di.groupby("layer")["score"].mean()
                ax.plot(g.index, g.values, marker="o", ms=3, color=colors[inter], label=_inter_label(inter),
                        ls="--" if inter_kind(inter).random_init else "-")  # fmt: skip
                chosen = sorted(set(di.loc[di["chosen"], "layer"]))
                ax.plot(chosen, g.reindex(chosen).values, marker="o", ms=8, ls="none", color=colors[inter])
            ax.set_title(f"{t}, {model_label(m, p)}", fontsize="medium")
            ax.set_xlabel("layer (0 = embeddings)")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(True, alpha=0.3)
            if c == 0:
                ax.set_ylabel(str(langs.loc[langs["target"] == t, "metric"].iloc[0]))
    handles = [Line2D([], [], color=colors[i], marker="o", ls="--" if inter_kind(i).random_init else "-",
                      label=_inter_label(i)) for i in inters]  # fmt: skip
    handles.append(Line2D([], [], color="#000000", marker="o", ms=8, ls="none", label="headline layer"))
    fig.legend(handles=handles, loc="outside right upper", fontsize="small", frameon=False)
    fig.suptitle(title, wrap=True)
    return fig


def _ci_index(scores: pd.DataFrame) -> dict:
    """(model, inter, target, language or scope) -> (ci_low, ci_high)."""
    return {(r.model, r.inter, r.target, r.language): (r.ci_low, r.ci_high)
            for r in scores.itertuples(index=False)}


def _ci_err(ci: dict, key: tuple, y: float) -> np.ndarray:
    """Asymmetric error bar ``[[below], [above]]`` of the interval of ``key`` around ``y``."""
    lo, hi = ci.get(key, (None, None))
    if lo is None or pd.isna(lo) or math.isnan(y):
        return np.array([[0.0], [0.0]])
    return np.array([[max(y - float(lo), 0.0)], [max(float(hi) - y, 0.0)]])


def _err(r) -> np.ndarray:
    return np.array([[max(_f(r["gain"]) - _f(r["ci_low"]), 0.0)], [max(_f(r["ci_high"]) - _f(r["gain"]), 0.0)]])


def _seeds_text(d: pd.DataFrame) -> str:
    n = sorted({int(v) for v in d["n_seeds"].dropna()})
    return "seeds: " + ("/".join(map(str, n)) if n else "?") + ", 95% CI"


def pareto_front(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (cheaper or as cheap, and better), by cost."""
    order = np.lexsort((-score, cost))
    front, best = [], -np.inf
    for i in order:
        if score[i] > best:
            front.append(i)
            best = score[i]
    return np.array(front, dtype=int)


def _fig_pareto(eff: pd.DataFrame, targets: list[str], cfg: dict) -> Figure:
    d_all = eff[eff["target"].isin(targets)]
    title = "Zero-shot score against inference cost, Pareto front dashed"
    if d_all.empty:
        return _placeholder(title, "no cells with a zero-shot score", cfg["figsize"])
    models = ordered_models(d_all.assign(params=d_all["params_non_embedding"]))
    markers = {m: _MARKERS[k % len(_MARKERS)] for k, (m, _) in enumerate(models)}
    inters = ordered_inters(d_all["inter"])
    colors = _inter_colors(inters)
    costs = [("latency_p50_ms", "inference latency p50, batch 1 (ms)"), ("flops_per_example", "FLOPs per example")]
    pw, ph = cfg["panel_size"]
    fig = Figure(figsize=(pw * 2 + 2.4, ph * len(targets) + 0.5), layout="constrained")
    axes = fig.subplots(len(targets), 2, squeeze=False)
    for row, t in enumerate(targets):
        d = d_all[(d_all["target"] == t) & d_all["score"].notna()]
        for col, (xcol, xlabel) in enumerate(costs):
            ax = axes[row][col]
            dd = d[d[xcol].notna()]
            if dd.empty:
                _no_data(ax, t, f"no {xlabel} or no zero-shot score")
                continue
            for _, r in dd.iterrows():
                yerr = np.array([[max(r["score"] - _f(r["score_ci_low"]), 0.0)],
                                 [max(_f(r["score_ci_high"]) - r["score"], 0.0)]])
                ax.errorbar(_f(r[xcol]), _f(r["score"]), yerr=np.nan_to_num(yerr), color=colors[r["inter"]],
                            marker=markers[r["model"]], markersize=7, linestyle="none", capsize=2, zorder=3)
            x, y = dd[xcol].astype("float64").to_numpy(), dd["score"].astype("float64").to_numpy()
            front = pareto_front(x, y)
            ax.step(x[front], y[front], where="post", color="#444444", ls="--", lw=1.0, zorder=2)
            if x.min() > 0 and x.max() / x.min() > 8:
                ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"zero-shot {dd['metric'].iloc[0]} ({_seeds_text(dd)})")
            ax.set_title(t)
            ax.grid(True, alpha=0.3)
    fig.legend(handles=_legend_handles(models, markers, inters, colors,
                                       [Line2D([], [], color="#444444", ls="--", label="Pareto front")]),
               loc="outside right upper", fontsize="small", frameon=False)
    fig.suptitle(title + benchmark_tag(d_all), wrap=True)
    return fig


def _fig_size_interaction(gains: pd.DataFrame, targets: list[str], cfg: dict) -> Figure:
    g = gains[(gains["comparison"] == "inter_vs_none") & gains["target"].isin(targets)]
    title = "Gain over no intermediate task against model size"
    if g.empty:
        return _placeholder(title, "no intermediate task with an inter = none cell", cfg["figsize"])
    inters = ordered_inters(g["inter"])
    colors = _inter_colors(inters)
    ts = [t for t in targets if t in set(g["target"])]
    fig, axes = _grid(len(ts), cfg, extra_w=2.4)
    for ax, t in zip(axes, ts):
        d = g[g["target"] == t]
        ax.axhline(0.0, color="#000000", lw=0.8, zorder=0)
        for inter in inters:
            di = d[d["inter"] == inter].sort_values("params_non_embedding")
            if di.empty:
                continue
            x = di["params_non_embedding"].astype("float64")
            ax.plot(x, di["gain"].astype("float64"), color=colors[inter], lw=0.8, alpha=0.7, zorder=1)
            for (_, r), xv in zip(di.iterrows(), x):
                ax.errorbar(xv, _f(r["gain"]), yerr=_err(r), color=colors[inter], marker="o", markersize=6,
                            linestyle="none", capsize=3, zorder=3)
        ax.set_xscale("log")
        ax.set_xlabel("non-embedding parameters (log scale)")
        ax.set_ylabel(f"gain over none, zero-shot ({_seeds_text(d)})")
        ax.set_title(t)
        ax.grid(True, alpha=0.3, which="both")
    fig.legend(handles=[Patch(facecolor=colors[i], label=_inter_label(i)) for i in inters],
               loc="outside right upper", fontsize="small", frameon=False)
    fig.suptitle(title + benchmark_tag(g.assign(benchmark=None)), wrap=True)
    return fig


# ----------------------------------------------------------------------------- entry point


def make_figures(
    tables_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    formats: Iterable[str] = ("png", "svg"),
    config: Mapping[str, Any] | None = None,
    targets: Iterable[str] | None = None,
    *,
    options: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write every figure of :data:`FIGURES` (see the module docstring) from the parquet tables.

    Args:
        tables_dir: directory with ``cells.parquet``, ``languages.parquet``, ``jobs.parquet``
            (written by :func:`xstilts.analysis.aggregate.aggregate`).
        out_dir: figure directory (``reports/figures``); created if missing.
        formats: matplotlib formats to write, e.g. ``("png", "svg")`` (``pdf`` works too).
        config: plot options overriding :data:`DEFAULT_PLOT_CONFIG`: ``dpi``, ``metric``
            (average | average_zero_shot | en_score), ``latency`` (latency_p50_ms | ..._p90_ms |
            ..._p99_ms | ..._mean_ms), ``figsize`` (single panel), ``panel_size`` (per panel),
            ``font_size``. Unknown keys (e.g. ``formats``) are ignored, so the workflow's whole
            ``plots:`` config section can be passed. Pass it as a rule ``params`` so that
            changing it reruns only plots (and the report).
        targets: targets to draw, one panel (row for ``zero_shot_languages``) each, in this
            order (default: every target in the tables, in table order). A target with no
            rows gets a "no data" panel; the set of files never depends on the data.
        options: alias of ``config`` (merged over it).

    Returns:
        the written paths, in :func:`figure_names` order.
    """
    cfg = dict(DEFAULT_PLOT_CONFIG)
    cfg.update(config or {})
    cfg.update(options or {})
    if cfg["metric"] not in METRIC_LABELS:
        raise ValueError(f"plot config: metric must be one of {sorted(METRIC_LABELS)}, got {cfg['metric']!r}")
    if cfg["latency"] not in LATENCY_LABELS:
        raise ValueError(f"plot config: latency must be one of {sorted(LATENCY_LABELS)}, got {cfg['latency']!r}")
    formats = list(formats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cells, langs, jobs = read_tables(tables_dir)
    if targets is None:
        targets = list(dict.fromkeys(cells.loc[cells["kind"] == "cell", "target"]))
    targets = list(targets)
    summ = summarize_seeds(cells)

    rc = {
        "svg.fonttype": "none",  # keep text as text in SVG (searchable, accessible)
        "svg.hashsalt": "xstilts",  # deterministic SVG ids
        "font.size": cfg["font_size"],
        "axes.titlesize": "medium",
    }
    stat = read_stat_tables(tables_dir, ("scores", "gains", "efficiency"))
    ci = _ci_index(stat["scores"])
    builders = {
        "accuracy_vs_latency": lambda: _fig_acc_vs_latency(summ, targets, cfg, ci),
        "gain_vs_inter_flops": lambda: _fig_gain_vs_flops(summ, stat["gains"], targets, cfg),
        "zero_shot_languages": lambda: _fig_languages(langs, targets, cfg, ci),
        "pareto": lambda: _fig_pareto(stat["efficiency"], targets, cfg),
        "size_interaction": lambda: _fig_size_interaction(stat["gains"], targets, cfg),
        "cost_breakdown": lambda: _fig_cost_breakdown(cells, cfg),
        "jobs_by_rule": lambda: _fig_jobs(jobs, cfg),
        "layer_sweep": lambda: _fig_layer_sweep(langs, targets, cfg),
    }
    written: list[Path] = []
    with matplotlib.rc_context(rc):
        for stem in FIGURES:
            written += _save(builders[stem](), out_dir, stem, formats, cfg["dpi"])
    return written


def run(cfg, out: str | None = None, tables: str | None = None) -> None:
    """The ``plots`` stage."""
    from xstilts.core import paths
    from xstilts.stages.common import log

    out = out or paths.figures_dir()
    made = make_figures(tables or paths.tables_dir(), out, formats=tuple(cfg.plots["formats"]),
                        options=cfg.plots, targets=cfg.targets)
    log(f"{len(made)} figure files -> {out}")
