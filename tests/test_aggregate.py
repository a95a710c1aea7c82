"""aggregate.py on synthetic artifacts written in the record schemas (xstilts.core.records)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from xstilts.analysis.aggregate import (
    CELLS_SCHEMA,
    JOBS_SCHEMA,
    LANGUAGES_SCHEMA,
    AggregateError,
    aggregate,
    aggregate_results,
    read_tables,
    summarize_seeds,
)

from synthetic import BASELINE, INTERS, LANGS, LATENCY, MODELS, SCORES, write_artifacts  # noqa: F401


@pytest.fixture
def artifacts(tmp_path):
    return write_artifacts(tmp_path)


def _avg(xs):
    return sum(xs) / len(xs)


def test_aggregate_rows_and_gain(tmp_path, artifacts):
    out = aggregate(
        artifacts["cells"], tmp_path / "tables",
        inference_profiles=artifacts["inference_profiles"],
        baselines=artifacts["baselines"], benchmarks=artifacts["benchmarks"],
        model_info={"tiny-s": {"params": 1, "layers": 2, "hidden": 64}},
    )  # fmt: skip
    assert set(out) == {"cells", "languages", "jobs"}
    assert pq.read_schema(out["cells"]).equals(CELLS_SCHEMA, check_metadata=False)
    assert pq.read_schema(out["languages"]).equals(LANGUAGES_SCHEMA, check_metadata=False)
    assert pq.read_schema(out["jobs"]).equals(JOBS_SCHEMA, check_metadata=False)
    cells, langs, jobs = read_tables(tmp_path / "tables")

    assert len(cells) == 6 + 1
    assert (cells["kind"] == "baseline").sum() == 1
    c = cells[cells["kind"] == "cell"].set_index(["model", "inter"])
    assert set(c.index) == {(m, i) for m in MODELS for i in INTERS}
    for (m, i), scores in SCORES.items():
        r = c.loc[(m, i)]
        none = SCORES[(m, "none")]
        assert r["average"] == pytest.approx(_avg(scores))
        assert r["average_zero_shot"] == pytest.approx(_avg(scores[1:]))
        assert r["en_score"] == pytest.approx(scores[0])
        # hand-computed: e.g. tiny-s mnli: (0.84+0.66+0.53)/3 - (0.80+0.60+0.50)/3 = 0.04333...
        assert r["gain_over_none"] == pytest.approx(_avg(scores) - _avg(none))
        assert r["gain_over_none_zero_shot"] == pytest.approx(_avg(scores[1:]) - _avg(none[1:]))
        assert r["gain_over_none_en"] == pytest.approx(scores[0] - none[0])
        assert r["params"] == MODELS[m]  # inference profile beats model_info
        assert r["latency_p50_ms"] == LATENCY[m]
        assert r["benchmark"] == "toy" and r["target"] == "xnli" and r["seed"] == 1
    assert c.loc[("tiny-s", "mnli"), "gain_over_none"] == pytest.approx(0.043333333, abs=1e-8)
    assert c.loc[("tiny-m", "scratch"), "gain_over_none"] == pytest.approx((0.72 + 0.42 + 0.37 - 0.86 - 0.70 - 0.61) / 3)
    assert c.loc[("tiny-s", "none"), "layers"] == 2 and c.loc[("tiny-s", "none"), "hidden"] == 64
    assert c["layers"].isna().sum() == 3  # tiny-m has no model_info

    # costs: intermediate phase only for mnli, totals add up
    r = c.loc[("tiny-m", "mnli")]
    assert r["intermediate_flops"] == pytest.approx(4e12)
    assert r["target_flops"] == pytest.approx(8e11)
    assert r["total_train_flops"] == pytest.approx(4.8e12)
    assert r["train_tokens_per_s"] == pytest.approx(140_000 / (240.0 + 80.0))
    assert not r["intermediate_stopped_early"] and r["intermediate_best_step"] == 80
    assert math.isnan(c.loc[("tiny-m", "none"), "intermediate_flops"])
    assert c.loc[("tiny-m", "none"), "total_train_flops"] == pytest.approx(8e11)

    b = cells[cells["kind"] == "baseline"].iloc[0]
    assert b["model"] == "baseline:overlap" and b["average"] == pytest.approx(_avg(BASELINE))
    assert pd.isna(b["seed"]) and b["inter"] == "baseline"
    assert math.isnan(b["gain_over_none"]) and math.isnan(b["latency_p50_ms"])

    # no NaN written into parquet: missing values are nulls
    t = pq.read_table(out["cells"])
    for name in ("gain_over_none", "intermediate_flops", "latency_p50_ms"):
        col = t.column(name)
        assert col.null_count + sum(1 for v in col.to_pylist() if v is not None) == len(col)
        assert all(v is None or not math.isnan(v) for v in col.to_pylist())
    assert t.column("gain_over_none").null_count == 1  # only the baseline row

    # languages: 7 rows x 3 languages, eval.json order kept, en not zero-shot
    assert len(langs) == 7 * 3
    one = langs[(langs["model"] == "tiny-s") & (langs["inter"] == "mnli")].sort_values("lang_order")
    assert list(one["language"]) == LANGS
    assert list(one["score"]) == pytest.approx(SCORES[("tiny-s", "mnli")])
    assert list(one["is_zero_shot"]) == [False, True, True]
    assert list(one["n"]) == [400] * 3

    # jobs: one row per benchmark file; repeats averaged, NA ignored
    j = jobs.set_index("rule")
    assert len(jobs) == 2
    assert j.loc["target", "wildcards"] == "tiny-s/mnli/xnli/s1"
    assert j.loc["target", "seconds"] == pytest.approx(12.5)
    assert j.loc["target", "max_rss"] == pytest.approx(810.2)
    assert j.loc["aggregate", "repeats"] == 2
    assert j.loc["aggregate", "seconds"] == pytest.approx(2.0)
    assert j.loc["aggregate", "cpu_time"] == pytest.approx(2.5)


def test_inference_profile_followed_from_link(tmp_path, artifacts, monkeypatch):
    # no explicit inference profiles: the cell profile's relative link is resolved from the root
    monkeypatch.chdir(tmp_path / "results")  # cwd is not the root: the path-contract fallback finds it
    aggregate(artifacts["cells"], tmp_path / "tables")
    cells, _, jobs = read_tables(tmp_path / "tables")
    assert len(cells) == 6 and jobs.empty
    assert set(cells["latency_p50_ms"]) == set(LATENCY.values())


def test_missing_inference_profile_warns_keeps_cells(tmp_path, artifacts):
    for p in artifacts["inference_profiles"]:
        p.unlink()
    with pytest.warns(UserWarning, match="no inference profile"):
        aggregate(artifacts["cells"], tmp_path / "tables", root=tmp_path)
    cells, _, _ = read_tables(tmp_path / "tables")
    assert len(cells) == 6 and cells["latency_p50_ms"].isna().all()


def test_require_inference_is_an_error(tmp_path, artifacts):
    artifacts["inference_profiles"][0].unlink()
    with pytest.raises(AggregateError, match="no inference profile for model 'tiny-s'") as e:
        aggregate(artifacts["cells"], tmp_path / "tables", root=tmp_path, require_inference=True)
    assert "tiny-s/" in str(e.value) and "eval.json" in str(e.value)


def test_eval_contents_must_match_path(tmp_path, artifacts):
    ev = artifacts["cells"][0] / "eval.json"
    _corrupt(ev, lambda d: d.update(inter="qqp"))
    with pytest.raises(AggregateError, match="path contract") as e:
        aggregate(artifacts["cells"], tmp_path / "tables", inference_profiles=artifacts["inference_profiles"])
    assert str(ev) in str(e.value)


def test_seed_summary(tmp_path):
    art = write_artifacts(tmp_path, seeds=(1, 2, 3), jitter=0.01)
    aggregate(art["cells"], tmp_path / "tables", inference_profiles=art["inference_profiles"])
    cells, _, _ = read_tables(tmp_path / "tables")
    assert len(cells) == 18
    s = summarize_seeds(cells).set_index(["model", "inter"])
    r = s.loc[("tiny-s", "mnli")]
    assert r["n_seeds"] == 3
    base = _avg(SCORES[("tiny-s", "mnli")])
    assert r["average"] == pytest.approx(base + 0.01)  # mean of +0, +0.01, +0.02
    assert r["average_std"] == pytest.approx(0.01)  # sample std of 0, .01, .02
    # gain is per seed against the same seed's none cell: jitter cancels
    assert r["gain_over_none"] == pytest.approx(base - _avg(SCORES[("tiny-s", "none")]))
    assert r["gain_over_none_std"] == pytest.approx(0.0, abs=1e-12)


def _corrupt(path: Path, fn):
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d))


@pytest.mark.parametrize(
    "which, mutate, message",
    [
        ("eval", lambda p: p.write_text('{"benchmark": "toy", "model": '), "malformed JSON"),
        ("eval", lambda p: _corrupt(p, lambda d: d.pop("average")), "missing key 'average'"),
        ("eval", lambda p: _corrupt(p, lambda d: d["languages"]["qaa"].pop("accuracy")), "languages.qaa"),
        ("eval", lambda p: _corrupt(p, lambda d: d.update(average="high")), "must be a number"),
        ("cost", lambda p: _corrupt(p, lambda d: d["phases"]["target"].pop("flops")), "missing key 'flops'"),
        ("cost", lambda p: _corrupt(p, lambda d: d["phases"].update(intermediate=None)), "intermediate is null"),
        ("cost", lambda p: p.unlink(), "file not found"),
        ("infer", lambda p: _corrupt(p, lambda d: d["latency_ms"].pop("p50")), "missing key 'p50'"),
        ("base", lambda p: p.write_text("[1, 2]"), "expected a JSON object"),
        ("bench", lambda p: p.write_text("s\th:m:s\nfast\t0:00:01\n"), "non-numeric"),
    ],
)
def test_malformed_input_names_the_file(tmp_path, artifacts, which, mutate, message):
    mnli = next(c for c in artifacts["cells"] if "tiny-m/mnli" in c.as_posix())
    target = {
        "eval": mnli / "eval.json",
        "cost": mnli / "profile.json",
        "infer": artifacts["inference_profiles"][0],
        "base": artifacts["baselines"][0],
        "bench": artifacts["benchmarks"][0],
    }[which]
    mutate(target)
    with pytest.raises(AggregateError) as e:
        aggregate(
            artifacts["cells"], tmp_path / "tables",
            inference_profiles=artifacts["inference_profiles"],
            baselines=artifacts["baselines"], benchmarks=artifacts["benchmarks"],
        )  # fmt: skip
    assert str(target) in str(e.value)
    assert message in str(e.value)
    assert not (tmp_path / "tables" / "cells.parquet").exists()


def test_duplicate_and_unmatched_cells_are_errors(tmp_path, artifacts):
    cells = artifacts["cells"]
    with pytest.raises(AggregateError, match="duplicate cell"):
        aggregate(cells + cells[:1], tmp_path / "t1", inference_profiles=artifacts["inference_profiles"])
    # explicit cost list missing one cell -> error naming that cell's eval.json
    profiles = [c / "profile.json" for c in cells]
    with pytest.raises(AggregateError) as e:
        aggregate(cells, tmp_path / "t2", cell_profiles=profiles[1:], inference_profiles=artifacts["inference_profiles"])
    assert str(cells[0] / "eval.json") in str(e.value)
    # a cost profile whose cell is not among the inputs
    with pytest.raises(AggregateError, match="has no eval.json"):
        aggregate(cells[1:], tmp_path / "t3", cell_profiles=profiles, inference_profiles=artifacts["inference_profiles"])
    # explicit, complete list works and equals the default discovery
    aggregate(cells, tmp_path / "t4", cell_profiles=profiles, inference_profiles=artifacts["inference_profiles"])
    assert len(read_tables(tmp_path / "t4")[0]) == 6


def test_aggregate_results_discovers_the_path_contract(tmp_path):
    # benchmark files live under results/benchmarks/<rule>/... in the workflow
    art = write_artifacts(tmp_path)
    results = tmp_path / "results"
    (tmp_path / "benchmarks").rename(results / "benchmarks")
    out = aggregate_results(results)
    assert out["cells"] == results / "tables" / "cells.parquet"
    cells, langs, jobs = read_tables(results / "tables")
    assert len(cells) == 7 and (cells["kind"] == "baseline").sum() == 1
    assert cells["latency_p50_ms"].notna().sum() == 6
    assert sorted(jobs["rule"]) == ["aggregate", "target"]
    assert len(langs) == 21
    # restricted to the rule's inputs
    aggregate_results(results, tmp_path / "t2", cells=art["cells"][:3])
    assert len(read_tables(tmp_path / "t2")[0]) == 3 + 1


def _variants(record: dict):
    """``record`` itself, then every key path deleted or set to a value of another kind."""
    out = [record]

    def walk(d, path):
        for k, v in d.items():
            for new in ("<delete>", None, "x", "", 1.5, 2, 2.0, -1, True, {}, []):
                root = json.loads(json.dumps(record))
                node = root
                for p in path:
                    node = node[p]
                if new == "<delete>":
                    del node[k]
                else:
                    node[k] = new
                out.append(root)
            if isinstance(v, dict):
                walk(v, (*path, k))

    walk(record, ())
    return out


def test_fast_record_check_agrees_with_jsonschema(artifacts):
    """The records' fast check (no jsonschema import) accepts exactly what jsonschema accepts,
    on every record kind and thousands of damaged copies; and a job that reads a valid record
    does not import jsonschema."""
    import subprocess
    import sys

    import jsonschema

    from xstilts.core import records
    from xstilts.core.schemas_io import read_schema

    mnli = next(c for c in artifacts["cells"] if "tiny-m/mnli" in c.as_posix())
    cost = json.loads((mnli / "profile.json").read_text())["phases"]["target"]
    cost["mlm"] = {"steps": 3, "flops": 1.0, "tokens": 9, "ratio": 0.5, "probability": 0.15, "head": "fresh"}
    cost["examples_by_language"] = {"en": 10, "qaa": 0}
    kinds = {"eval": mnli / "eval.json", "cell_cost": mnli / "profile.json",
             "inference_profile": artifacts["inference_profiles"][0], "cost": cost}
    root = read_schema("records")
    checked = 0
    for kind, source in kinds.items():
        record = source if isinstance(source, dict) else json.loads(source.read_text())
        full = jsonschema.Draft202012Validator({**root["$defs"][kind], "$defs": root["$defs"]})
        for i, variant in enumerate(_variants(record)):
            want = full.is_valid(variant)
            assert records._fast_valid(kind, variant) == want, (kind, i, variant)
            checked += 1
        assert records._fast_valid(kind, record)
    assert checked > 1000
    code = ("import sys; from xstilts.core.records import EvalRecord; "
            f"EvalRecord.from_json({str(mnli / 'eval.json')!r}); print('jsonschema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
