"""plots.py and report.py on tables aggregated from synthetic artifacts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from synthetic import LATENCY, MODELS, SCORES, write_artifacts  # noqa: E402

from xstilts.analysis.aggregate import aggregate  # noqa: E402
from xstilts.analysis.display import language_order  # noqa: E402
from xstilts.analysis.plots import figure_names, make_figures  # noqa: E402
from xstilts.analysis.report import make_report  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("proj")
    art = write_artifacts(root, seeds=(1, 2), jitter=0.01)
    aggregate(
        art["cells"], root / "results" / "tables",
        inference_profiles=art["inference_profiles"], baselines=art["baselines"],
        benchmarks=art["benchmarks"],
    )  # fmt: skip
    tables = root / "results" / "tables"
    write_stat_tables(root, tables)
    return tables


def write_stat_tables(root, tables, **kw):
    """The gains stage on the synthetic predictions (analysis/gains.py)."""
    from xstilts.analysis.aggregate import read_tables
    from xstilts.analysis.gains import compute, write_tables

    cells, langs, _ = read_tables(tables)
    write_tables(compute(cells, langs, labels_dir=root / "results" / "labels",
                         predictions_of=lambda m, i, t, s: root / "results" / "cells" / m / i / t / f"s{s}" / "predictions",
                         base_cost=lambda m: (None, None), n_resamples=kw.get("n_resamples", 500)), tables)


@pytest.fixture(scope="module")
def figures(tables, tmp_path_factory):
    out = tmp_path_factory.mktemp("figs")
    return out, make_figures(tables, out, formats=("png", "svg"), config={"dpi": 60})


def _png_size(p: Path) -> tuple[int, int]:
    b = p.read_bytes()
    assert b[:8] == PNG_MAGIC
    return int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")


def test_figures_written(figures):
    out, paths = figures
    assert [p.name for p in paths] == figure_names(("png", "svg"))
    assert {p.stem for p in paths} == {
        "accuracy_vs_latency", "gain_vs_inter_flops", "zero_shot_languages", "cost_breakdown", "jobs_by_rule",
        "layer_sweep", "pareto", "size_interaction",
    }  # fmt: skip
    for p in paths:
        assert p.is_file() and p.parent == out
        if p.suffix == ".png":
            w, h = _png_size(p)
            assert w > 150 and h > 100
            assert p.stat().st_size > 5_000  # not a blank canvas
        else:
            text = p.read_text()
            assert text.lstrip().startswith("<?xml") and "<svg" in text


def test_svg_labels_and_toy_title(figures):
    out, _ = figures
    svg = (out / "accuracy_vs_latency.svg").read_text()
    assert "inference latency p50, batch 1 (ms)" in svg
    assert "average over languages (accuracy)" in svg
    assert "toy benchmark" in svg
    assert "scratch (random-init control)" in svg
    assert "trivial baseline:overlap" in svg
    for m in MODELS:
        assert m in svg
    svg = (out / "gain_vs_inter_flops.svg").read_text()
    assert "intermediate-task training FLOPs (log scale)" in svg
    assert "gain over inter = none" in svg
    svg = (out / "zero_shot_languages.svg").read_text()
    assert "accuracy per language" in svg and "qab" in svg
    svg = (out / "cost_breakdown.svg").read_text()
    assert "training device-hours" in svg and "training FLOPs" in svg and "intermediate phase" in svg
    svg = (out / "jobs_by_rule.svg").read_text()
    assert "aggregate" in svg and "wall time summed over jobs (s)" in svg


def test_metric_config_changes_the_plot(tables, tmp_path):
    # the workflow passes its whole `plots:` section (with `formats`) as options
    make_figures(tables, tmp_path, formats=("svg",),
                 options={"metric": "average_zero_shot", "latency": "latency_p90_ms", "formats": ["svg"]})  # fmt: skip
    svg = (tmp_path / "accuracy_vs_latency.svg").read_text()
    assert "zero-shot average (non-en) (accuracy)" in svg
    assert "inference latency p90, batch 1 (ms)" in svg
    svg = (tmp_path / "gain_vs_inter_flops.svg").read_text()
    # gains are always on the zero-shot average (the gains table), with the seeds and the interval
    # (two lines of the label, two SVG text elements)
    assert "gain over inter = none,<" in svg and "zero-shot average (seeds: 2, 95% CI)" in svg


@pytest.mark.parametrize("sizes", [{}, {"panel_size": [3.0, 2.4], "figsize": [4.8, 3.6]}], ids=["default", "small"])
def test_figures_fit_their_image(tables, tmp_path, monkeypatch, sizes):
    """Constrained layout keeps every title, label and legend inside the figure, whose whole
    area is the image (no bbox_inches="tight" pass crops or extends it); titles wider than
    a small figure wrap."""
    from xstilts.analysis import plots

    drawn = {}
    save = plots._save

    def spy(fig, out_dir, stem, formats, dpi):
        drawn[stem] = fig
        return save(fig, out_dir, stem, formats, dpi)

    monkeypatch.setattr(plots, "_save", spy)
    # svg first: a vector format prints at 72 dpi, the png after it still at the config's
    make_figures(tables, tmp_path, formats=("svg", "png"), config={"dpi": 60, **sizes})
    assert set(drawn) == set(plots.FIGURES)
    for stem, fig in drawn.items():
        w, h = fig.get_size_inches()
        assert _png_size(tmp_path / f"{stem}.png") == (round(w * 60), round(h * 60)), stem
        renderer = fig.canvas.get_renderer()
        box = fig.get_tightbbox(renderer)  # inches: what is drawn
        assert box.x0 > -0.02 and box.y0 > -0.02 and box.x1 < w + 0.02 and box.y1 < h + 0.02, (stem, box.extents)
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
        assert legends or stem in ("jobs_by_rule", "layer_sweep"), stem
        for legend in legends:
            x0, y0, x1, y1 = legend.get_window_extent(renderer).extents
            assert x0 >= 0 and y0 >= 0 and x1 <= fig.bbox.x1 and y1 <= fig.bbox.y1, (stem, legend)


def test_without_latency_falls_back_to_params(tmp_path):
    art = write_artifacts(tmp_path)
    for p in art["inference_profiles"]:
        p.unlink()
    with pytest.warns(UserWarning):
        aggregate(art["cells"], tmp_path / "tables", root=tmp_path,
                  model_info={m: {"params": n} for m, n in MODELS.items()})  # fmt: skip
    write_stat_tables(tmp_path, tmp_path / "tables", n_resamples=100)
    make_figures(tmp_path / "tables", tmp_path / "figs", formats=("svg",))
    svg = (tmp_path / "figs" / "accuracy_vs_latency.svg").read_text()
    assert "parameters (inference latency not measured)" in svg


def test_target_without_data_gets_a_panel(tables, tmp_path):
    paths = make_figures(tables, tmp_path, formats=("svg",), targets=["xnli", "pawsx"])
    assert [p.name for p in paths] == figure_names(("svg",))  # file set independent of the data
    svg = (tmp_path / "accuracy_vs_latency.svg").read_text()
    assert "no cells for target 'pawsx'" in svg and "xnli" in svg


def test_bad_plot_config(tables, tmp_path):
    with pytest.raises(ValueError, match="metric"):
        make_figures(tables, tmp_path, config={"metric": "bleu"})


def test_language_order_follows_eval_json(tables):
    from xstilts.analysis.aggregate import read_tables

    _, langs, _ = read_tables(tables)
    assert language_order(langs) == ["en", "qaa", "qab"]


def test_ordered_models_smallest_first_unknown_sizes_last():
    import pandas as pd

    from xstilts.analysis.display import ordered_models

    df = pd.DataFrame({
        "kind": ["cell", "baseline", "cell", "cell", "cell", "cell", "cell"],
        "model": ["big", "baseline:overlap", "unsized-b", "small", "big", "unsized-a", "also-small"],
        "params": pd.array([900, None, None, 100, 900, None, 100], dtype="Int64"),
    })  # fmt: skip
    pairs = ordered_models(df)
    # equal sizes and unknown sizes keep their order of appearance; baselines are no models
    assert [m for m, _ in pairs] == ["small", "also-small", "big", "unsized-b", "unsized-a"]
    assert [p for _, p in pairs[:3]] == [100, 100, 900] and all(pd.isna(p) for _, p in pairs[3:])
    assert ordered_models(df.drop(columns="kind").iloc[3:5]) == [("small", 100), ("big", 900)]
    assert ordered_models(df.iloc[:0]) == []


def test_report_contains_table_numbers(tables, figures, tmp_path):
    out_dir, _ = figures
    html_path = tmp_path / "report.html"
    make_report(tables, out_dir, html_path)
    html = html_path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "toy numbers are not XLM-R numbers" in html
    # seeds 1, 2 with jitter 0.01: the mean is the fixture score + 0.005
    s_mnli = SCORES[("tiny-s", "mnli")]
    assert f"{sum(s_mnli) / 3 + 0.005:.3f}" in html  # average
    assert f"{s_mnli[0] + 0.005:.3f}" in html  # English
    gain = sum(s_mnli) / 3 - sum(SCORES[("tiny-s", "none")]) / 3
    assert f"{gain:+.3f}" in html
    assert f"{sum([0.45, 0.41, 0.40]) / 3:.3f}" in html  # trivial baseline average
    scratch = SCORES[("tiny-m", "scratch")]
    assert f"{sum(scratch[1:]) / 2 + 0.005:.3f}" in html  # scratch control zero-shot average
    assert "baseline:overlap" in html and "scratch" in html
    assert "data:image/png;base64," in html  # self-contained
    assert f"<td>{LATENCY['tiny-s']:.2f}</td>" in html and f"<td>{LATENCY['tiny-m']:.2f}</td>" in html
    assert 'id="fig-accuracy_vs_latency"' in html and 'id="fig-zero_shot_languages"' in html


def test_report_relative_figures(tables, figures, tmp_path):
    out_dir, _ = figures
    html_path = tmp_path / "sub" / "report.html"
    make_report(tables, out_dir, html_path, embed=False)
    html = html_path.read_text()
    assert "data:image/png;base64," not in html
    m = re.search(r'<img src="([^"]+accuracy_vs_latency\.png)"', html)
    assert m and (html_path.parent / m.group(1)).resolve() == (out_dir / "accuracy_vs_latency.png").resolve()


def test_gains_of_the_synthetic_run(tables):
    """Per-example scores reproduce eval.json; the gain is the hand-picked difference."""
    import pyarrow.parquet as pq

    g = pq.read_table(tables / "gains.parquet").to_pandas().set_index(["model", "inter", "comparison"])
    r = g.loc[("tiny-s", "mnli", "inter_vs_none")]
    s, n = SCORES[("tiny-s", "mnli")], SCORES[("tiny-s", "none")]
    assert r["gain"] == pytest.approx((s[1] + s[2]) / 2 - (n[1] + n[2]) / 2)
    assert r["ci_low"] < r["gain"] < r["ci_high"] and r["n_seeds"] == 2 and r["n_examples"] == 800
    assert r["languages"] == "qaa,qab" and r["metric"] == "accuracy"
    assert set(g.index.get_level_values("comparison")) == {"inter_vs_none", "none_vs_scratch",
                                                           "interaction_vs_smallest"}
    eff = pq.read_table(tables / "efficiency.parquet").to_pandas().set_index(["model", "inter"])
    e = eff.loc[("tiny-s", "mnli")]
    assert e["gain_per_1e15_flops"] == pytest.approx(r["gain"] / (1e12 / 1e15))
    be = pq.read_table(tables / "breakeven.parquet").to_pandas().iloc[0]
    assert (be["small_model"], be["best_inter"], be["large_model"]) == ("tiny-s", "mnli", "tiny-m")
    assert be["latency_fraction"] == pytest.approx(LATENCY["tiny-s"] / LATENCY["tiny-m"])


def test_findings_sentences_match_the_table(tables, figures, tmp_path):
    import pyarrow.parquet as pq

    from xstilts.analysis.findings import fmt_gain

    out_dir, _ = figures
    html_path = tmp_path / "report.html"
    make_report(tables, out_dir, html_path)
    html = html_path.read_text()
    findings = html[html.index('id="findings"'):html.index("</section>")]
    assert html.index('id="findings"') < html.index('id="controls"') < html.index('id="figures"')
    g = pq.read_table(tables / "gains.parquet").to_pandas()
    (sentence,) = re.findall(r'<li class="finding" data-target="xnli">(.*?)</li>', findings)
    for model in MODELS:
        r = g[(g["model"] == model) & (g["comparison"] == "inter_vs_none")].iloc[0]
        assert f"helps {model} by {fmt_gain(r['gain'], r['ci_low'], r['ci_high'])}" in sentence.replace("&#x27;", "'")
    x = g[g["comparison"] == "interaction_vs_smallest"].iloc[0]
    assert fmt_gain(x["gain"], x["ci_low"], x["ci_high"]) in sentence
    assert "2 seeds" in sentence and "What toy numbers mean" in findings
    for f in ("pareto", "size_interaction"):
        assert f'id="fig-{f}"' in html


def test_one_seed_without_signal_says_noise(tmp_path):
    """Every model and setting scores the same: nothing is distinguishable from noise."""
    import synthetic

    flat = {k: [0.6, 0.5, 0.5] for k in synthetic.SCORES}
    old = dict(synthetic.SCORES)
    synthetic.SCORES.update(flat)
    try:
        art = write_artifacts(tmp_path)
    finally:
        synthetic.SCORES.update(old)
    aggregate(art["cells"], tmp_path / "tables", inference_profiles=art["inference_profiles"],
              baselines=art["baselines"], benchmarks=art["benchmarks"])
    write_stat_tables(tmp_path, tmp_path / "tables", n_resamples=300)
    make_figures(tmp_path / "tables", tmp_path / "figs", formats=("png",), config={"dpi": 50})
    make_report(tmp_path / "tables", tmp_path / "figs", tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert "Nothing in this run is distinguishable from noise" in html
    assert "With one seed an interval covers test-set noise only" in html
    assert "1 seed," in html and "not distinguishable from noise" in html


def test_toy_retrieval_finding_carries_the_shortcut_caveat():
    """A random-init win on toy Tatoeba is surface overlap: its Findings sentence says so."""
    import pandas as pd

    from xstilts.analysis.report import _findings_section

    row = dict(model="tiny-s", inter="none", target="tatoeba", metric="accuracy",
               comparison="none_vs_scratch", versus="scratch", gain=-0.35, ci_low=-0.44,
               ci_high=-0.25, p_value=0.005, n_seeds=3, n_examples=800, languages="qaa,qab",
               params_non_embedding=98_000.0, confidence=0.95, n_resamples=2000, seed_level=True,
               verdict="")
    stat = {"gains": pd.DataFrame([row]), "breakeven": pd.DataFrame(columns=["target"])}
    toy = _findings_section(stat, ["tatoeba"], toy=True)
    real = _findings_section(stat, ["tatoeba"], toy=False)
    assert "hurts tiny-s by -0.350 [-0.440, -0.250]" in toy
    assert "Shortcut control, not a transfer measurement" in toy
    assert "Shortcut control" not in real


def test_the_gain_figure_draws_only_targets_with_a_gain_and_names_the_others(tables, tmp_path):
    """A target that the config pairs with no intermediate task has no gain over none: no empty
    panel for it; the title says which targets are left out."""
    from xstilts.analysis.aggregate import read_tables

    cells, _, _ = read_tables(tables)
    (target,) = set(cells.loc[cells["kind"] == "cell", "target"])
    label = "intermediate-task training FLOPs (log scale)"
    make_figures(tables, tmp_path, formats=("svg",), targets=[target, "udpos"])
    svg = (tmp_path / "gain_vs_inter_flops.svg").read_text()
    assert svg.count(label) == 1 and "not drawn" in svg and "udpos" in svg  # the title wraps
    make_figures(tables, tmp_path, formats=("svg",), targets=[target])
    svg = (tmp_path / "gain_vs_inter_flops.svg").read_text()
    assert svg.count(label) == 1 and "not drawn" not in svg
    make_figures(tables, tmp_path, formats=("svg",), targets=["udpos"])
    svg = (tmp_path / "gain_vs_inter_flops.svg").read_text()
    assert label not in svg and "no intermediate task with an inter = none cell" in svg
