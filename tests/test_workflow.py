"""Real Snakemake runs of the whole workflow on a seconds-scale toy grid (tests/configs/tiny.yaml).

The runners (``snakemake``, ``planned_jobs``) are fixtures of tests/conftest.py.

One full run builds every artifact; the other tests ask Snakemake (dry runs, `-n`) what it would
redo after a change, which is exactly the caching behaviour users rely on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def run(tmp_path_factory, snakemake):
    workdir = tmp_path_factory.mktemp("workflow")
    t0 = time.time()
    snakemake(workdir)
    print(f"tiny workflow: {time.time() - t0:.0f}s")
    return workdir


TARGETS = ("xnli", "xcopa", "xquad", "panx", "tatoeba", "bucc2018")
ZERO_SHOT = ("tatoeba", "bucc2018")  # evaluated from the intermediate checkpoint
CELLS = [(i, t) for t in TARGETS for i in ("none", "mnli", "multitask", "scratch")]


def test_every_artifact_is_written(run):
    from xstilts.core.registry import TASKS

    r = run / "results"
    for inter, target in CELLS:
        cell = r / "cells" / "nano-1x32" / inter / target / "s1"
        ev = json.loads((cell / "eval.json").read_text())
        assert ev["benchmark"] == "toy" and ev["inter"] == inter and ev["target"] == target
        langs = ["qaa", "qad"] if target in ZERO_SHOT else ["en", "qaa", "qad"]
        assert list(ev["languages"]) == langs
        for lang in langs:
            score = ev["languages"][lang][ev["metric"]]
            assert 0.0 <= score <= 1.0 and ev["languages"][lang]["n"] > 0
            pred = cell / "predictions" / target / f"test-{lang}.{TASKS[target].submission.ext}"
            assert pred.stat().st_size > 0
            if target in ("xnli", "xcopa"):  # one label per example
                assert len(pred.read_text().splitlines()) == ev["languages"][lang]["n"]
            if target == "xquad":  # {question id: answer}
                assert len(json.loads(pred.read_text())) == ev["languages"][lang]["n"]
        prof = json.loads((cell / "profile.json").read_text())
        assert (prof["phases"]["intermediate"] is None) == (inter in ("none", "scratch"))
        if target in ZERO_SHOT:  # no target phase, no target checkpoint; a layer sweep
            assert prof["phases"]["target"] is None and not (cell / "model").exists()
            for m in ev["languages"].values():
                assert m["layer"] == 1 and {"layer_0", "layer_1"} <= set(m)
        else:
            assert prof["phases"]["target"]["steps"] > 0 and prof["phases"]["target"]["flops"] > 0
            assert (cell / "model" / "encoder" / "model.safetensors").exists()
    inf = json.loads((r / "profile/nano-1x32/xnli/profile.json").read_text())
    assert inf["latency_ms"]["p50"] <= inf["latency_ms"]["p90"] <= inf["latency_ms"]["p99"]
    assert abs(inf["flops_per_example"]["counted"] / inf["flops_per_example"]["analytic"] - 1) < 0.02
    assert list((r / "profile/nano-1x32/xnli/trace").glob("*/*.pt.trace.json"))
    for target in ZERO_SHOT:  # retrieval serving cost: embedding + search
        assert json.loads((r / f"profile/nano-1x32/{target}/profile.json").read_text())["search"]["search_ms"] > 0
    heads = json.loads((r / "models/nano-1x32/inter/multitask/s1/heads.json").read_text())
    assert set(heads) == {"mnli", "hellaswag", "squad_v2", "ccg"}


def test_tables_figures_and_report(run):
    cells = pq.read_table(run / "results/tables/cells.parquet").to_pandas()
    cells = cells[cells["kind"] == "cell"]
    assert len(cells) == len(CELLS)
    none = cells.set_index(["inter", "target"])["average"]
    gains = cells.set_index(["inter", "target"])["gain_over_none"]
    assert gains[("mnli", "xnli")] == pytest.approx(none[("mnli", "xnli")] - none[("none", "xnli")])
    langs = pq.read_table(run / "results/tables/languages.parquet").to_pandas()
    assert set(langs["language"]) == {"en", "qaa", "qad"}
    tat = langs[(langs["target"] == "tatoeba") & (langs["kind"] == "cell")]
    assert len(tat) == 8 and all("layer_1" in json.loads(x) for x in tat["extra_metrics"])
    jobs = pq.read_table(run / "results/tables/jobs.parquet").to_pandas()
    assert {"target", "evaluate", "base"} <= set(jobs["rule"])
    # warm_start (tiny.yaml): the model jobs forked from the helper, whose fork's CPU time and
    # memory the table takes from the job's log (Snakemake's benchmark sees only the command)
    model_jobs = jobs[jobs["rule"].isin(["target", "intermediate", "evaluate"])]
    assert model_jobs["warm"].all(), model_jobs.loc[~model_jobs["warm"], "file"].tolist()
    assert (model_jobs["max_rss"] > 100).all() and model_jobs["max_uss"].isna().all()
    assert (jobs.loc[jobs["rule"] == "target", "cpu_time"] > 0.2).all()  # a command alone: ~0.05 s
    for name in ("accuracy_vs_latency", "gain_vs_inter_flops", "zero_shot_languages", "cost_breakdown",
                 "layer_sweep"):
        png = run / "reports/figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert "<svg" in (run / "reports/figures" / f"{name}.svg").read_text()[:2000]
    html = (run / "reports/report.html").read_text()
    assert "scratch" in html and "toy" in html and "Layer sweep" in html
    assert f"{int(jobs['warm'].sum())} of {len(jobs)} jobs ran warm" in html


@pytest.mark.parametrize("target", ["xnli", "xquad", "panx", "tatoeba"])
def test_score_cli_matches_eval(run, target):
    """`xstilts score` on a cell's predictions and the gold labels gives eval.json's numbers."""
    cell = run / f"results/cells/nano-1x32/mnli/{target}/s1"
    out = run / f"score-{target}.json"
    proc = subprocess.run([sys.executable, "-m", "xstilts.cli", "score", "--predictions",
                           str(cell / "predictions"), "--labels", str(run / "results/labels"),
                           "--tasks", target, "--json", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    scores = json.loads(out.read_text())["tasks"][target]
    ev = json.loads((cell / "eval.json").read_text())
    assert set(scores) >= set(ev["languages"])
    for lang, v in ev["languages"].items():
        shared = {k for k in scores[lang] if k in v and k != "n"}
        assert ev["metric"] in shared or shared >= {"exact_match", "f1"}, (target, scores[lang], v)
        for k in shared:
            assert scores[lang][k] == pytest.approx(100 * v[k]), (target, lang, k)


def test_second_run_is_a_noop(run, snakemake, planned_jobs):
    assert planned_jobs(snakemake(run, "-n")) == {}


def test_plot_code_or_config_change_reruns_only_figures(run, snakemake, planned_jobs, tiny_config, root):
    # Snakemake reruns for a newer input only when its content changed (a bare touch is not
    # enough), so the test edits the plotting code and puts it back.
    plots = root / "src/xstilts/analysis/plots.py"
    code, stat = plots.read_bytes(), plots.stat()
    try:
        plots.write_bytes(code + b"\n# edited by test_workflow\n")
        assert set(planned_jobs(snakemake(run, "-n"))) == {"plots", "report_html", "all"}
    finally:
        plots.write_bytes(code)
        os.utime(plots, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    override = run / "plot-options.yaml"
    override.write_text("plots: {dpi: 61, formats: [png, svg]}\n")
    jobs = planned_jobs(snakemake(run, "-n", configs=(tiny_config, override)))
    assert set(jobs) == {"plots", "report_html", "all"}


@pytest.mark.parametrize("code", ["stats.py", "gains.py", "report.py", "findings.py"])
def test_stats_or_report_code_change_reruns_no_training(run, snakemake, planned_jobs, root, code):
    """Editing the statistics reruns the gains, the figures and the report; editing the report
    code only the report: never training, evaluation or aggregation of the records."""
    path = root / "src/xstilts/analysis" / code
    text, stat = path.read_bytes(), path.stat()
    try:
        path.write_bytes(text + b"\n# edited by test_workflow\n")
        jobs = set(planned_jobs(snakemake(run, "-n")))
    finally:
        path.write_bytes(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    expected = {"report_html", "all"} if code in ("report.py", "findings.py") else {"gains", "plots", "report_html", "all"}
    assert jobs == expected


def test_gains_of_one_seed(run):
    gains = pq.read_table(run / "results/tables/gains.parquet").to_pandas()
    assert set(gains["comparison"]) == {"inter_vs_none", "none_vs_scratch"}  # one model: no interaction
    assert (gains["n_seeds"] == 1).all() and not gains["seed_level"].any()
    assert set(gains["target"]) == set(TARGETS)
    html = (run / "reports/report.html").read_text()
    assert html.index('id="findings"') < html.index('id="figures"')
    assert "With one seed an interval covers test-set noise only" in html
    for name in ("pareto", "size_interaction"):
        assert (run / "reports/figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("output", ["eval.json", "profile.json"])
def test_deleting_one_cell_output_reruns_only_that_evaluation(run, snakemake, planned_jobs, output):
    """The evaluate job writes a cell's eval.json and profile.json (its training cost): a
    deleted one reruns exactly that job."""
    import shutil

    cell = run / "results/cells/nano-1x32/mnli/xcopa/s1"
    gone = cell / output
    shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    try:
        jobs = planned_jobs(snakemake(run, "-n"))
        assert jobs.get("evaluate") == 1
        assert not {"target", "intermediate", "base", "prepare", "toy_data"} & set(jobs)
        assert set(jobs) <= {"evaluate", "aggregate", "gains", "plots", "report_html", "all"}
    finally:
        snakemake(run)  # rebuild the evaluation and everything downstream
    assert gone.exists()
    prof = json.loads((cell / "profile.json").read_text())
    assert (prof["model"], prof["inter"], prof["target"], prof["seed"]) == ("nano-1x32", "mnli", "xcopa", 1)
    assert prof["phases"]["intermediate"]["steps"] > 0 and prof["phases"]["target"]["steps"] > 0


def test_one_cell_target_builds_only_that_chain(tmp_path, snakemake, planned_jobs):
    target = "results/cells/nano-1x32/mnli/xnli/s1/eval.json"
    jobs = planned_jobs(snakemake(tmp_path, "-n", target))
    assert jobs == {"toy_data": 1, "tokenizer": 1, "base": 1, "prepare": 2, "intermediate": 1,
                    "target": 1, "evaluate": 1}


def test_one_zero_shot_cell_builds_its_data_too(tmp_path, snakemake, planned_jobs):
    """A zero-shot cell (Tatoeba: no target phase) is evaluated straight from the intermediate
    checkpoint, which does not depend on the target's data: its evaluate job lists that data
    itself (a trained cell's checkpoint already depends on it through the target job)."""
    jobs = planned_jobs(snakemake(tmp_path, "-n", "results/cells/nano-1x32/mnli/tatoeba/s1/eval.json"))
    assert jobs == {"toy_data": 1, "tokenizer": 1, "base": 1, "prepare": 2, "intermediate": 1, "evaluate": 1}
    jobs = planned_jobs(snakemake(tmp_path, "-n", "results/cells/nano-1x32/none/tatoeba/s1/eval.json"))
    assert jobs == {"toy_data": 1, "tokenizer": 1, "base": 1, "prepare": 1, "evaluate": 1}


def test_an_evaluate_job_that_only_adopts_asks_for_a_cpu_slot(run, snakemake):
    """Once a target job has staged its evaluation, its cell's evaluate job only copies it: its
    resources (evaluated again when the job becomes ready) are ADOPT_RESOURCES; a zero-shot
    cell (evaluated from the intermediate checkpoint) keeps the model's."""
    import re

    out = snakemake(run, "-n", "--forcerun", "evaluate").stdout
    jobs = re.findall(r"rule evaluate:.*?wildcards: model=\S+, inter=\S+, target=(\S+), seed=\d+\n"
                      r"\s+resources: ([^\n]*)", out, flags=re.S)
    assert len(jobs) == len(CELLS), out[-3000:]
    for target, resources in jobs:
        res = dict(item.split("=", 1) for item in resources.split(", "))
        if target in ZERO_SHOT:
            assert (res["runtime"], res["mem_mb"]) == ("60", "4000"), (target, res)
        else:
            assert (res["runtime"], res["mem_mb"], res["gpu"], res["cpus_per_task"]) == ("10", "1000", "0", "1"), res
