"""Prefetch for offline compute nodes, without network: the plan for config/paper.yaml is
complete, toy mode fetches nothing, and offline jobs fail with errors that name what is missing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from xstilts.stages import prefetch
from xstilts.core.config import load
from xstilts.stages.data import expand_configs, source_parts
from xstilts.core.registry import get_family
from xstilts.core.registry import TASKS
from xstilts.tasks.catalog.classification import PAWSX_LANGS, XCOPA_LANGS
from xstilts.tasks.catalog.qa import MLQA_LANGS, XQUAD_LANGS
from xstilts.tasks.catalog.tagging import PANX_LANGS, UDPOS_CONFIG
from xstilts.tasks.catalog.retrieval import TATOEBA_ISO3, XQUAD_R_LANGS
from xstilts.tasks.catalog.sources import REVISIONS

ROOT = Path(__file__).resolve().parents[1]
XTREME = REVISIONS["google/xtreme"]
GLUE = REVISIONS["nyu-mll/glue"]


@pytest.fixture(scope="module")
def paper():
    cfg = load(ROOT / "config/paper.yaml")
    return cfg, prefetch.plan(cfg)


def test_plan_lists_every_split_of_every_implemented_task(paper):
    cfg, plan = paper
    keys = {d.key for d in plan.datasets}
    assert len(keys) == len(plan.datasets), "each split is fetched once"
    # spelled out by hand from the registry entries / the XTREME and GLUE Hub layouts
    expected = {
        ("nyu-mll/glue", "mnli", "train", GLUE), ("nyu-mll/glue", "mnli", "validation_matched", GLUE),
        ("nyu-mll/glue", "qqp", "train", GLUE), ("nyu-mll/glue", "qqp", "validation", GLUE),
        ("nyu-mll/glue", "sst2", "train", GLUE), ("nyu-mll/glue", "sst2", "validation", GLUE),
        ("facebook/anli", None, "train_r1", None), ("facebook/anli", None, "dev_r1", None),
        ("Rowan/hellaswag", None, "train", "refs/pr/7"), ("Rowan/hellaswag", None, "validation", "refs/pr/7"),
        ("tau/commonsense_qa", None, "train", None), ("tau/commonsense_qa", None, "validation", None),
        ("allenai/cosmos_qa", None, "train", "refs/convert/parquet"),
        ("allenai/cosmos_qa", None, "validation", "refs/convert/parquet"),
        # XNLI: one config holds all 15 languages (rows filtered by `language`)
        ("google/xtreme", "XNLI", "validation", XTREME), ("google/xtreme", "XNLI", "test", XTREME),
        ("google/xtreme", "PAWS-X.en", "train", XTREME), ("google/xtreme", "PAWS-X.en", "validation", XTREME),
        *{("google/xtreme", f"PAWS-X.{lang}", "test", XTREME) for lang in PAWSX_LANGS},
        ("aps/super_glue", "copa", "train", None), ("aps/super_glue", "copa", "validation", None),
        *{("cambridgeltl/xcopa", lang, "test", REVISIONS["cambridgeltl/xcopa"]) for lang in XCOPA_LANGS},
        ("google/xtreme", "udpos.English", "train", XTREME),
        ("google/xtreme", "udpos.English", "validation", XTREME),
        *{("google/xtreme", f"udpos.{name}", "test", XTREME) for name in UDPOS_CONFIG.values()},
        ("google/xtreme", "PAN-X.en", "train", XTREME), ("google/xtreme", "PAN-X.en", "validation", XTREME),
        *{("google/xtreme", f"PAN-X.{lang}", "test", XTREME) for lang in PANX_LANGS},
        # retrieval: Tatoeba (ISO 639-3 configs), BUCC sample (validation) + test, LAReQA
        *{("google/xtreme", f"tatoeba.{iso3}", "validation", XTREME) for iso3 in TATOEBA_ISO3.values()},
        *{("google/xtreme", f"bucc18.{lang}", split, XTREME)
          for lang in ("de", "fr", "ru", "zh") for split in ("validation", "test")},
        ("rajpurkar/squad", None, "train", None), ("rajpurkar/squad", None, "validation", None),
        *{("google-research-datasets/xquad_r", lang, "validation", None) for lang in XQUAD_R_LANGS},
        # QA: SQuAD v2 (intermediate), XQuAD (ro from google/xquad), MLQA, TyDiQA-GoldP
        ("rajpurkar/squad_v2", None, "train", None), ("rajpurkar/squad_v2", None, "validation", None),
        *{("google/xtreme", f"XQuAD.{lang}", "validation", XTREME) for lang in XQUAD_LANGS if lang != "ro"},
        ("google/xquad", "xquad.ro", "validation", None),
        *{("google/xtreme", f"MLQA.{lang}.{lang}", "test", XTREME) for lang in MLQA_LANGS},
        ("google/xtreme", "tydiqa", "train", XTREME), ("google/xtreme", "tydiqa", "validation", XTREME),
    }
    assert keys == expected, (sorted(keys - expected, key=str), sorted(expected - keys, key=str))
    assert len(PAWSX_LANGS) == 7 and len(XCOPA_LANGS) == 11
    assert len(UDPOS_CONFIG) == 33 and len(PANX_LANGS) == 40
    # generic completeness: every implemented task the config uses, every part, every language
    for name in cfg.data_tasks():
        task = TASKS[name]
        assert get_family(task.family).name == task.family  # its family's code exists
        if name in plan.local:
            continue
        srcs = [task.train, task.dev]
        if name in cfg.targets:
            srcs += [task.test_source(lang) for lang in task.eval_languages(None)]
        # zero-shot targets have no train/dev; a "+"-joined source is several splits
        srcs = [part for src in srcs if src is not None
                for part, _ in source_parts(expand_configs(task, src, None))]
        for src in srcs:
            if src.local_only:  # licensed (CCGbank): not fetched, explained instead
                assert plan.needs_local[name] == src.local_only
                continue
            assert (src.repo, src.config, src.split, src.revision) in keys, (name, src.describe())
    used = {u.split(":")[0] for d in plan.datasets for u in d.used_by}
    assert used == {"mnli", "qqp", "sst2", "anli", "hellaswag", "commonsenseqa", "cosmosqa",
                    "xnli", "pawsx", "xcopa", "udpos", "panx", "tatoeba", "bucc2018", "lareqa",
                    "squad_v2", "xquad", "mlqa", "tydiqa"}
    # CCGbank and Mewsli-X need a local copy (commented-out placeholders in paper.yaml)
    assert not used & {"ccg", "mewslix"}
    assert set(plan.needs_local) == {"ccg", "mewslix"} and "data: {tasks: {ccg:" in plan.needs_local["ccg"]
    assert plan.local == {}


def test_plan_lists_models_and_tokenizers_at_their_revisions(paper):
    cfg, plan = paper
    got = {(m.repo, m.revision): set(m.used_as) for m in plan.models}
    assert got == {
        ("FacebookAI/xlm-roberta-base", "42f548f32366559214515ec137cdd16002968bf6"):
            {"model:xlmr-base", "tokenizer:xlmr"},
        ("FacebookAI/xlm-roberta-large", "5bc772e3200d64d987707aa9e9dfcca44b1f8da2"): {"model:xlmr-large"},
    }
    # safetensors and tokenizer files only: never pytorch_model.bin / tf / flax weights
    import fnmatch

    keep = lambda f: any(fnmatch.fnmatch(f, p) for p in prefetch.MODEL_PATTERNS)  # noqa: E731
    assert keep("model.safetensors") and keep("config.json") and keep("sentencepiece.bpe.model")
    assert keep("tokenizer.json")
    assert not any(keep(f) for f in ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack",
                                     "onnx/model.onnx"))


def test_local_mirror_tasks_are_not_fetched(paper, tmp_path):
    cfg, _ = paper
    import copy

    from xstilts.core.config import validate

    raw = copy.deepcopy(cfg.raw)
    raw["data"] = {"local_root": None, "tasks": {"cosmosqa": str(tmp_path), "mewslix": str(tmp_path)}}
    plan = prefetch.plan(validate(raw))
    assert plan.local == {"cosmosqa": str(tmp_path), "mewslix": str(tmp_path)}
    assert not any(d.repo == "allenai/cosmos_qa" for d in plan.datasets)
    # a task without a Hub copy (Mewsli-X) and without a mirror: not fetched, explained (its
    # prepare job fails with the same text)
    raw["data"] = {"local_root": None, "tasks": {"cosmosqa": str(tmp_path)}}
    plan = prefetch.plan(validate(raw))
    assert "data: {tasks: {mewslix:" in plan.needs_local["mewslix"]
    assert not any(d.repo == "mewslix" for d in plan.datasets)


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "XSTILTS_CONFIG"))}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", **extra)
    return env


def test_toy_mode_plans_nothing_and_writes_a_manifest(tmp_path):
    r = subprocess.run([sys.executable, "-m", "xstilts.cli", "prefetch", "--config",
                        str(ROOT / "tests/configs/tiny.yaml")], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / prefetch.manifest_path()).read_text())
    assert m["benchmark"] == "toy" and m["models"] == [] and m["datasets"] == []


def test_data_check_of_the_toy_default_says_the_workflow_generates_it(tmp_path):
    """The toy benchmark has nothing to fetch or provide (it used to be a KeyError traceback:
    toy models have no hf_id); one line says where it is generated and whether it is there."""
    def data_check() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "xstilts.cli", "data", "check", "--config",
                               str(ROOT / "tests/configs/tiny.yaml")], cwd=tmp_path, env=_env(tmp_path),
                              capture_output=True, text=True, timeout=60)

    r = data_check()
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert r.stdout == ("toy benchmark: nothing to fetch or provide; the workflow generates every split "
                        "(rule toy_data: results/toy, not generated yet)\n")
    manifest = tmp_path / "results/toy/manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    assert data_check().stdout.endswith("(rule toy_data: results/toy, present)\n")


def test_offline_missing_dataset_gives_a_clear_error(tmp_path):
    """A job on an offline node whose split was never prefetched: the error names the split and
    says how to fix it."""
    code = ("from xstilts.stages.data import DataError, read_hub\n"
            "from xstilts.core.registry import get_task\n"
            "try:\n"
            "    read_hub(get_task('pawsx').test_source('de'))\n"
            "except DataError as err:\n"
            "    print('DATAERROR', err)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert "DATAERROR" in r.stdout, r.stdout + r.stderr
    msg = r.stdout.split("DATAERROR", 1)[1]
    assert "google/xtreme/PAWS-X.de:test" in msg
    assert "offline" in msg and "xstilts prefetch" in msg


def test_prefetch_refuses_to_run_offline(tmp_path):
    r = subprocess.run([sys.executable, "-m", "xstilts.cli", "prefetch", "--config",
                        str(ROOT / "config/paper.yaml")], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "HF_HUB_OFFLINE" in r.stderr and "network" in r.stderr
    assert not (tmp_path / prefetch.manifest_path()).exists()


# ---- data availability: skip leaves out exactly the cells without data, fail lists everything
def _availability_setup(tmp_path, on_missing: str, tasks: dict) -> Path:
    """A real-mode config whose model is a local folder (a stand-in XLM-R) and whose tasks come
    from Hub-layout mirrors (``tasks``: task -> mirror root) or the Hub."""
    import yaml

    sys.path.insert(0, str(ROOT / "tests"))
    from realmode import stand_in_xlmr

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"word{i} other{i % 7} thing{i % 13}\n" for i in range(300)))
    model = stand_in_xlmr(tmp_path / "hf-model", [corpus], max_length=512)  # XLM-R's 514 positions
    cfg = {"benchmark": "real", "seeds": [1], "device": "cpu", "dtype": "float32", "threads": 1,
           "tokenizers": {"xlmr": {"hf_id": str(model)}},
           "models": {"xlmr-base": {"hf_id": str(model), "tokenizer": "xlmr"}},
           "intermediate": ["none", "mnli"], "targets": ["xnli", "panx", "xcopa"],
           "languages": {"xnli": ["de"], "panx": ["de"], "xcopa": ["it"]},
           "data": {"local_root": None, "tasks": tasks, "on_missing_data": on_missing}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "c.yaml"


def _dry_run(workdir: Path, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
                           "--directory", str(workdir), "--configfile", str(config), "-n", "--cores", "1"],
                          capture_output=True, text=True, timeout=600, env=_env(workdir))


def test_fail_stops_before_any_job_listing_every_missing_item(tmp_path):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    config = _availability_setup(tmp_path, "fail", {"panx": str(empty), "xcopa": str(empty)})
    r = _dry_run(tmp_path, config)
    assert r.returncode != 0
    err = r.stderr
    assert "2 task(s)/model(s) of the grid have no data" in err, err[-3000:]
    assert "panx: train: google/xtreme/PAN-X.en:train" in err and "xcopa: train: aps/super_glue/copa:train" in err
    assert "data.on_missing_data: skip" in err and "Traceback" not in err
    assert not (tmp_path / "results/data").exists() and "Job stats" not in r.stdout


def test_prefetch_checks_max_length_against_the_models_it_cached(tmp_path, monkeypatch):
    """The Snakefile validates before prefetch, when a first run has no config.json of a Hub
    model to read; prefetch checks max_length once the model is in the cache and stops in one
    line naming the key, writing no manifest (so no job downstream runs)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from realmode import COMMIT, REPO, stand_in_xlmr, write_config_snapshot

    from xstilts.core.config import validate

    raw = {"benchmark": "real", "seeds": [1], "tokenizers": {"xlmr": {"hf_id": REPO, "revision": COMMIT}},
           "models": {"xlmr-base": {"hf_id": REPO, "revision": COMMIT, "tokenizer": "xlmr"}},
           "intermediate": ["none"], "targets": ["xnli"], "languages": {"xnli": ["de"]},
           "hparams": {"default": {"max_length": 128}},
           "data": {"tasks": {"xnli": str(tmp_path / "mirror")}}}  # a local mirror: no dataset to fetch
    env = _env(tmp_path)  # offline: the model is in the cache

    def prefetch_with(raw: dict) -> subprocess.CompletedProcess:
        snap = write_config_snapshot(tmp_path, raw)  # what the Snakefile hands its jobs
        return subprocess.run([sys.executable, "-m", "xstilts.cli", "prefetch", "--config", str(snap)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    validate(raw)  # the Snakefile's check: no config.json in the cache yet, nothing to compare
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"word{i} other{i % 7} thing{i % 13}\n" for i in range(200)))
    stand_in_xlmr(tmp_path / "hf", [corpus], max_length=64)  # the model prefetch finds in the cache
    manifest = tmp_path / "results/prefetch/manifest.json"
    r = prefetch_with(raw)
    assert r.returncode == 2, r.stderr[-3000:]
    assert ("hparams.default.max_length: 128 exceeds the position limit of model xlmr-base "
            "(expected at most 64") in r.stderr and "Traceback" not in r.stderr
    assert not manifest.exists()
    raw["hparams"]["default"]["max_length"] = 64
    r = prefetch_with(raw)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(manifest.read_text())["models"][0]["cached"] is True


def test_prefetch_records_an_unavailable_source_and_skip_plans_every_other_cell(tmp_path):
    """The Hub answers but has none of the repositories (a local endpoint that says 404 to
    everything), so every Hub split is unavailable; xnli and panx come from a (Hub-layout)
    mirror, xcopa and mnli from the Hub."""
    sys.path.insert(0, str(ROOT / "tests"))
    from realmode import empty_hub, hub_mirror

    toy = tmp_path / "toy"
    toy.mkdir()
    r = subprocess.run([sys.executable, "-m", "xstilts.cli", "toy-data", "--config",
                        str(ROOT / "tests/configs/tiny.yaml")], cwd=toy, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    mirror = hub_mirror(toy / "results/toy/hub", tmp_path / "mirror",
                        {"xnli": {"qaa": "de"}, "panx": {"qaa": "de"}}, drop=("qaa", "qad"))
    config = _availability_setup(tmp_path, "skip", {"xnli": str(mirror), "panx": str(mirror)})
    env = {k: v for k, v in _env(tmp_path).items() if k not in prefetch.OFFLINE_VARS}
    with empty_hub() as endpoint:
        r = subprocess.run([sys.executable, "-m", "xstilts.cli", "prefetch", "--config", str(config)],
                           cwd=tmp_path, env={**env, "HF_ENDPOINT": endpoint}, capture_output=True,
                           text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads((tmp_path / "results/prefetch/manifest.json").read_text())
    missing = {m["name"]: m for m in manifest["missing"]}
    assert {"aps/super_glue/copa:train@None", "nyu-mll/glue/mnli:train@" + GLUE} <= set(missing)
    assert all("NotFound" in m["reason"] for m in manifest["missing"]), manifest["missing"]
    assert manifest["models"] == [] and str(config.parent / "hf-model") in next(iter(manifest["local_models"]))
    plan = _dry_run(tmp_path, config)
    assert plan.returncode == 0, plan.stderr[-3000:]
    left = [line for line in plan.stderr.splitlines() if line.startswith("xstilts: left out")]
    # xcopa (its data) and every mnli cell (the intermediate's data) are left out; none/xnli and
    # none/panx run
    assert sorted(line.split()[3] for line in left) == [
        "xlmr-base/mnli/panx/1:", "xlmr-base/mnli/xcopa/1:", "xlmr-base/mnli/xnli/1:", "xlmr-base/none/xcopa/1:"]
    assert "results/cells/xlmr-base/none/xnli/s1/eval.json" in plan.stdout
    assert "results/cells/xlmr-base/none/panx/s1/eval.json" in plan.stdout
    assert "results/cells/xlmr-base/none/xcopa/" not in plan.stdout
    assert "results/cells/xlmr-base/mnli/" not in plan.stdout
    lo = json.loads((tmp_path / "results/tables/left_out.json").read_text())
    assert set(lo["cells"]) == {line.split()[3].rstrip(":") for line in left}


@pytest.mark.parametrize("on_missing", ["fail", "skip"])
def test_an_unreachable_hub_stops_prefetch_at_once_in_one_line(tmp_path, on_missing):
    """A closed port as the Hub: the libraries would retry every split for about 23 s before
    failing it; prefetch tries the endpoint three times and stops, in either on_missing_data
    mode (an unreachable Hub says where prefetch runs, not which sources exist), naming the
    endpoint and what to do, with no manifest (so no job runs)."""
    config = _availability_setup(tmp_path, on_missing, {})
    env = {k: v for k, v in _env(tmp_path).items() if k not in prefetch.OFFLINE_VARS}
    r = subprocess.run([sys.executable, "-m", "xstilts.cli", "prefetch", "--config", str(config)],
                       cwd=tmp_path, env={**env, "HF_ENDPOINT": "http://127.0.0.1:9"},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stderr[-3000:]
    line = r.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"xstilts prefetch: the Hugging Face Hub at http://127\.0\.0\.1:9 cannot be reached "
                        r"\(.*; 3 tries\), and \d+ item\(s\) of the plan must be downloaded from it: run "
                        r"prefetch on a machine whose network reaches the Hub .*", line), line
    assert "Traceback" not in r.stderr
    # no item was tried (each would have retried for about 23 s): the log has the plan, no item
    assert "prefetch plan: 0 model snapshots, 11 dataset splits" in r.stdout
    assert not re.search(r"\] (dataset|model) ", r.stdout), r.stdout
    assert not (tmp_path / "results/prefetch/manifest.json").exists()


def test_data_check_lists_each_split_once_per_task_and_counts_what_prefetch_plans(tmp_path, paper):
    """``xstilts data check`` against an empty cache: one row per task and split (LAReQA's eleven
    test languages share one candidate pool, so each XQuAD-R split is one row naming all eleven
    parts), a ref revision shown whole, aligned columns, and a summary whose "to fetch" is the
    prefetch plan's models and dataset splits, each counted once."""
    _, plan = paper
    r = subprocess.run([sys.executable, "-m", "xstilts.cli", "data", "check", "--config",
                        str(ROOT / "config/paper.yaml")], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr[-3000:]
    table, summary = r.stdout.split("\n\n")
    header, *rows = table.splitlines()
    status_at = header.index("status")
    assert all(row[status_at:].split()[0] in ("ok", "fetch", "provide") for row in rows), rows
    pool = [row for row in rows if row.startswith("lareqa ") and "xquad_r/" in row]
    assert all("test-ar,...,test-zh (11)" in row for row in pool), pool
    assert sorted(re.search(r"xquad_r/(\w+):", row).group(1) for row in pool) == sorted(XQUAD_R_LANGS)
    assert any("allenai/cosmos_qa:train@refs/convert/parquet not in" in row for row in rows)
    fetch = len(plan.models) + len(plan.datasets)
    assert summary.splitlines()[0] == (f"{fetch + 2} splits and models: 0 present, {fetch} to fetch, "
                                       "2 need local data"), summary
    assert "for ccg, mewslix" in summary


def test_a_model_missing_from_the_cache_is_one_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "xstilts.cli", "tokenizer", "--name", "xlmr", "--config",
                        str(ROOT / "config/paper.yaml")], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    err = r.stderr
    assert "Traceback" not in err, err[-2000:]
    assert "FacebookAI/xlm-roberta-base at revision 42f548f32366559214515ec137cdd16002968bf6" in err
    assert str(tmp_path / "hf" / "hub") in err and "xstilts prefetch --config" in err


def test_the_caches_are_found_where_huggingface_hub_puts_them(tmp_path, monkeypatch):
    """hf_dirs() resolves HF_HUB_CACHE, HF_HOME (with ~), XDG_CACHE_HOME and the default as the
    library does (asked in a fresh interpreter with the same environment)."""
    from xstilts.stages.prefetch import hf_dirs

    home = tmp_path / "home"
    cases = [{}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, {"HF_HOME": "~/hf"},
             {"HF_HOME": "~/hf", "HF_HUB_CACHE": str(tmp_path / "hub")}]
    for extra in cases:
        env = {"HOME": str(home), "PATH": os.environ["PATH"], **extra}
        theirs = subprocess.run([sys.executable, "-c", "from huggingface_hub import constants as c; print(c.HF_HUB_CACHE)"],
                                env=env, capture_output=True, text=True, check=True).stdout.strip()
        for var in ("HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "XDG_CACHE_HOME"):
            monkeypatch.delenv(var, raising=False)
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        assert hf_dirs()[0] == Path(theirs), extra
    assert hf_dirs()[1] == home / "hf/datasets"
    assert Path(theirs) == tmp_path / "hub"  # the cases reached the library
