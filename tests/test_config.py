"""Config validation: errors name the key and what was expected; the grid is complete."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xstilts.core.registry import get_family
from xstilts.core.config import ConfigError, load, validate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def toy():
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def test_default_and_paper_configs_are_valid():
    toy = load(ROOT / "config/config.yaml")
    assert toy.is_toy and len(toy.seeds) >= 3
    # model sizes span at least 4x in non-embedding parameters (12 d^2 per layer)
    sizes = [toy.model(m)["toy"]["layers"] * 12 * toy.model(m)["toy"]["hidden"] ** 2 for m in toy.models]
    assert len(sizes) >= 2 and max(sizes) >= 4 * min(sizes)
    # targets of four families, each transfer target beside its random-init control
    assert {"panx", "udpos", "xquad", "tatoeba", "objclass"} <= set(toy.targets)
    assert all(get_family(t) for t in toy.data_tasks())  # every task has its family's code
    cells = {(c.inter.name, c.target) for c in toy.cells()}
    for target in toy.targets:
        assert {("none", target), ("scratch", target)} <= cells
    # the planted controls: an intermediate built to help objclass, and an unrelated one
    from xstilts.core.registry import get_task

    planted = {inter: dict(get_task(inter).planted) for inter in toy.intermediates
               if inter != "none" and not toy.inter(inter).is_variant}
    assert planted == {"objclass_tags": {"objclass": "+"}, "polarity_tags": {"objclass": "0"}}
    assert {("objclass_tags", "objclass"), ("polarity_tags", "objclass")} <= cells
    # Phang et al.'s alternatives (issue 14): a +mlm and a +translate cell per size
    assert {("objclass_tags+mlm", "objclass"), ("objclass_tags+translate", "objclass")} <= cells
    paper = load(ROOT / "config/paper.yaml")
    assert not paper.is_toy
    assert {"xlmr-base", "xlmr-large"} <= set(paper.models)
    nine = {"anli", "mnli", "qqp", "sst2", "squad_v2", "hellaswag", "commonsenseqa", "cosmosqa", "ccg"}
    assert nine <= set(paper.raw["intermediate"])
    # QA is implemented: squad_v2 is a trained intermediate
    assert "squad_v2" in paper.intermediates and "squad_v2" in paper.trained_intermediates
    assert get_family("squad_v2").name == "qa"


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["models"]["tiny-2x64"]["toy"].update(layers="two"), r"models\.tiny-2x64\.toy\.layers: 'two' is not of type 'integer'"),
    (lambda c: c.update(benchmark="fake"), r"benchmark: 'fake' is not one of \['toy', 'real'\]"),
    (lambda c: c["targets"].append("xnlii"), r"targets\[\d+\]: unknown task 'xnlii'"),
    (lambda c: c["intermediate"].append("xnli"), r"intermediate\[\d+\]: task 'xnli' cannot be used as intermediate"),
    (lambda c: c.update(seeds=[]), r"seeds: \[\] should be non-empty"),
    (lambda c: c["models"]["tiny-2x64"].update(tokenizer="nope"), r"models\.tiny-2x64\.tokenizer: 'nope' is not defined"),
    (lambda c: c["toy"].update(languages=["de"]), r"toy\.languages\.0: 'de' does not match"),
    (lambda c: c["hparams"]["default"].update(lr="fast"), r"hparams\.default\.lr: 'fast' is not of type 'number'"),
    (lambda c: c.update(unknown_key=1), r"Additional properties are not allowed \('unknown_key'"),
    (lambda c: c["models"]["tiny-2x64"]["toy"].update(hidden=65), r"hidden \(65\) must be a multiple of heads"),
])
def test_invalid_configs_name_the_key(toy, mutate, message):
    bad = copy.deepcopy(toy)
    mutate(bad)
    with pytest.raises(ConfigError, match=message):
        validate(bad)


def test_hparams_layering(toy):
    toy["hparams"]["tasks"] = {"xcopa": {"epochs": 10}}
    cfg = validate(toy)
    hp = cfg.hparams("xcopa", "target")
    assert hp["epochs"] == 10  # per-task override
    assert hp["lr"] == toy["hparams"]["default"]["lr"]  # config default beats the registry's
    assert hp["warmup"] == 0.1  # the registry default survives


def test_cells_cover_grid_and_controls(toy):
    toy.pop("pairing", None)  # without pairing: the full cross product
    cfg = validate(toy)
    cells = cfg.cells()
    n_inter = len(cfg.intermediates) + len(cfg.controls)
    assert len(cells) == len(cfg.models) * len(cfg.targets) * len(cfg.seeds) * n_inter
    assert ("tiny-2x64", "scratch", "udpos", 1) in {c.key for c in cells}


def test_pairing_restricts_the_intermediates_of_a_target(toy):
    toy["intermediate"] = ["none", "mnli", "squad_v2", "multitask"]
    toy["multitask"] = {"tasks": ["mnli", "squad_v2"]}
    toy["targets"] = ["xnli", "xquad"]
    toy["pairing"] = {"xquad": ["none", "squad_v2", "scratch"]}
    cfg = validate(toy)
    assert cfg.inters_of("xnli") == ["none", "mnli", "squad_v2", "multitask", "scratch"]
    assert cfg.inters_of("xquad") == ["none", "squad_v2", "scratch"]
    assert len(cfg.cells()) == len(cfg.models) * len(cfg.seeds) * (5 + 3)
    bad = copy.deepcopy(toy)
    bad["pairing"] = {"xquad": ["none", "ccg"]}
    with pytest.raises(ConfigError, match=r"pairing\.xquad\[1\]: 'ccg' is not listed under intermediate"):
        validate(bad)
    bad["pairing"] = {"panx": ["none"]}
    with pytest.raises(ConfigError, match=r"pairing\.panx: 'panx' is not one of targets"):
        validate(bad)


def test_invalid_config_stops_snakemake_before_any_job(tmp_path, toy):
    bad = copy.deepcopy(toy)
    bad["models"]["tiny-2x64"]["toy"]["heads"] = 0
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(bad))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(cfg)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "models.tiny-2x64.toy.heads: 0 is less than the minimum of 1" in proc.stderr + proc.stdout


def test_a_boolean_from_snakemakes_command_line_is_explained(tmp_path):
    """``--config warm_start=true`` reaches the config as the text 'true' (Snakemake reads only
    True/False as booleans): the one-line error says what to write; ``False`` is taken."""
    root = Path(__file__).resolve().parents[1]
    snakemake = str(Path(sys.executable).parent / "snakemake")
    base = [snakemake, "-n", "--cores", "1", "--snakefile", str(root / "Snakefile"), "--directory", str(tmp_path),
            "--configfile", str(root / "config" / "config.yaml")]
    bad = subprocess.run([*base, "--config", "warm_start=true"], capture_output=True, text=True, cwd=root)
    assert bad.returncode != 0
    assert "warm_start: 'true' is not of type 'boolean' (on the command line write --config ...=True)" in bad.stderr
    assert "Traceback" not in bad.stderr
    good = subprocess.run([*base, "--config", "warm_start=False"], capture_output=True, text=True, cwd=root)
    assert good.returncode == 0, good.stderr[-2000:]


@pytest.mark.parametrize("argv, message", [
    (["tokenizer", "--name", "zz"], "no tokenizer 'zz' (the config's tokenizers: toy)"),
    (["prepare", "--tokenizer", "toy", "--task", "zz"], "no task 'zz' (the registry's tasks: anli, "),
    (["mlm-corpus", "--tokenizer", "zz"], "no tokenizer 'zz' (the config's tokenizers: toy)"),
    (["base", "--model", "zz"], "no model 'zz' (the config's models: tiny-2x64, tiny-4x128)"),
    (["toy-encoders", "--models", "tiny-2x64", "zz"], "no model 'zz' (the config's models: "),
    (["labels", "--target", "zz"], "no task 'zz' (the registry's tasks: "),
    (["profile", "--model", "tiny-2x64", "--target", "zz"], "no task 'zz' (the registry's tasks: "),
    (["evaluate", "--model", "zz", "--inter", "none", "--target", "panx", "--seed", "1"], "no model 'zz'"),
    (["evaluate", "--model", "tiny-2x64", "--inter", "none", "--target", "panx", "--seed", "9"],
     "results/cells/tiny-2x64/none/panx/s9/model/encoder/model.safetensors: no such checkpoint; the "
     "`target` rule writes it (snakemake runs it first)"),
    (["translate-data", "--tokenizer", "toy", "--task", "panx"],
     "the toy benchmark has no translations of 'panx' (translatable: mnli, objclass_tags, polarity_tags)"),
    (["translate-data", "--tokenizer", "toy", "--task", "mnli"],
     "results/tokenizers/toy: no tokenizer there (tokenizer.json): the tokenizer job writes it "
     "(`xstilts tokenizer --name toy`, or Snakemake's tokenizer rule)"),
    (["aggregate", "--results", "elsewhere"], "--results elsewhere: no such folder"),
    (["gains", "--tables", "elsewhere"], "elsewhere/cells.parquet: table not found (run `xstilts aggregate` first)"),
    (["report", "--tables", "elsewhere"], "elsewhere/cells.parquet: table not found"),
])
def test_a_stage_run_by_hand_with_a_name_or_folder_that_does_not_exist(argv, message, tmp_path):
    """Each stage's names (model, tokenizer, task) are checked against the config, and its
    folders exist, before it works: exit 2 and one line, never a KeyError traceback, nothing
    written."""
    root = Path(__file__).resolve().parents[1]
    xstilts = str(Path(sys.executable).parent / "xstilts")
    r = subprocess.run([xstilts, *argv, "--config", str(root / "config" / "config.yaml")],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("xstilts: ") and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_aggregate_reads_the_cells_under_its_results_root(tmp_path):
    """``xstilts aggregate --results ROOT`` tables the grid's cells found under ROOT (not under
    ./results), with ROOT's inference profiles and baselines."""
    import pandas as pd
    import yaml

    sys.path.insert(0, str(Path(__file__).parent))
    from synthetic import INTERS, MODELS, write_artifacts

    write_artifacts(tmp_path / "elsewhere")
    cfg = {"benchmark": "toy", "seeds": [1], "toy": {"languages": ["qaa"]},
           "tokenizers": {"toy": {"train": {"vocab_size": 300}}},
           "models": {m: {"tokenizer": "toy", "toy": {"layers": 1, "hidden": 32, "heads": 2}} for m in MODELS},
           "intermediate": [i for i in INTERS if i != "scratch"], "controls": ["scratch"], "targets": ["xnli"]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    xstilts = str(Path(sys.executable).parent / "xstilts")
    r = subprocess.run([xstilts, "aggregate", "--config", "c.yaml", "--results", "elsewhere/results",
                        "--out", "tables"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    cells = pd.read_parquet(tmp_path / "tables/cells.parquet")
    got = cells[cells.kind == "cell"]
    assert sorted(zip(got.model, got.inter)) == sorted((m, i) for m in MODELS for i in INTERS)
    assert got.latency_p50_ms.notna().all() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("inter, message", [
    ("zz", "unknown intermediate 'zz'"),
    ("mnli+foo", "unknown variant 'foo'"),
    ("none+mlm", "trains no intermediate task"),
])
def test_a_stage_run_by_hand_names_an_unknown_intermediate(inter, message):
    """``xstilts target/intermediate --inter NAME`` with a name that is no intermediate: exit 2,
    one line naming it, before any data is read."""
    root = Path(__file__).resolve().parents[1]
    xstilts = str(Path(sys.executable).parent / "xstilts")
    cfg = str(root / "config" / "config.yaml")
    for argv in (["target", "--target", "panx"], ["intermediate"]):
        r = subprocess.run([xstilts, *argv, "--config", cfg, "--model", "tiny-2x64", "--inter", inter,
                            "--seed", "1"], capture_output=True, text=True, cwd=root)
        assert r.returncode == 2, r.stderr
        assert message in r.stderr and "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
