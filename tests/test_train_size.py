"""``train_size``: a seeded subset of a task's training set (a data-limited target), applied by
``prepare`` and part of what the tokenized cache depends on."""

from __future__ import annotations

import json

import yaml

from xstilts.stages.data import read_features


def _config(tmp_path, tiny_config, train_size):
    raw = yaml.safe_load(tiny_config.read_text())
    raw["toy"]["languages"] = ["qaa"]
    raw["hparams"].setdefault("tasks", {})["panx"] = {"train_size": train_size}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path / "c.yaml"


def test_prepare_keeps_a_seeded_subset_of_the_training_set(tmp_path, tiny_config, stages):
    steps = (["toy-data"], ["tokenizer", "--name", "toy"], ["prepare", "--tokenizer", "toy", "--task", "panx"])
    _config(tmp_path, tiny_config, None)
    stages(tmp_path, steps)
    manifest = tmp_path / "results/data/toy/panx/manifest.json"
    full = json.loads(manifest.read_text())["parts"]
    all_ids = {f["id"] for f in read_features(tmp_path / "results/data/toy/panx/train.parquet")}  # one per chunk
    assert full["train"]["examples"] == len(all_ids) > 50

    _config(tmp_path, tiny_config, 50)
    stages(tmp_path, steps[2:])
    limited = json.loads(manifest.read_text())["parts"]
    ids = [f["id"] for f in read_features(tmp_path / "results/data/toy/panx/train.parquet")]
    assert limited["train"]["examples"] == len(set(ids)) == 50
    assert set(ids) <= all_ids  # a subset of the training set, not new examples
    assert limited["dev"] == full["dev"]  # the dev subset of early stopping is untouched
    assert {p: v for p, v in limited.items() if p.startswith("test-")} == \
        {p: v for p, v in full.items() if p.startswith("test-")}


def test_train_size_reruns_only_what_reads_it(tmp_path, tiny_config, snakemake, planned_jobs):
    """The tokenized cache depends on ``train_size``: changing it plans the task's prepare job
    and what trains on it, not the other tasks' caches."""
    cfg = _config(tmp_path, tiny_config, None)
    cell = "results/cells/nano-1x32/none/panx/s1/model/cost.json"
    proc = snakemake(tmp_path, "-n", "--", cell, configs=(cfg,))
    assert planned_jobs(proc)["prepare"] == 1
    snakemake(tmp_path, "--quiet", "all", "--", "results/data/toy/panx/manifest.json",
              "results/data/toy/xcopa/manifest.json", configs=(cfg,))
    cfg = _config(tmp_path, tiny_config, 40)
    proc = snakemake(tmp_path, "-n", "--", "results/data/toy/panx/manifest.json",
                     "results/data/toy/xcopa/manifest.json", configs=(cfg,))
    assert planned_jobs(proc) == {"prepare": 1}
    assert "panx" in proc.stdout and "task=xcopa" not in proc.stdout
