"""Real mode end to end without the Hub: one cell per family from a dataset mirror in the
Hub's own sharded layout, with a tiny random stand-in for FacebookAI/xlm-roberta-base in a
temporary HF_HOME, every job offline (tests/realmode.py builds both)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from realmode import COMMIT, REPO, hub_mirror, stand_in_xlmr

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["xnli", "xcopa", "xquad", "panx", "tatoeba"]  # one per family
LANGS = {"xnli": "de", "xcopa": "it", "xquad": "de", "panx": "de", "tatoeba": "de"}
CONFIG = {
    "benchmark": "real", "seeds": [1], "device": "cpu", "dtype": "float32", "threads": 1,
    "tokenizers": {"xlmr": {"hf_id": REPO, "revision": COMMIT}},
    "models": {"xlmr-base": {"hf_id": REPO, "revision": COMMIT, "tokenizer": "xlmr"}},
    "intermediate": ["none"], "targets": TARGETS,
    "languages": {t: [lang] for t, lang in LANGS.items()},
    "hparams": {"default": {"lr": 1.0e-3, "batch_size": 16, "max_length": 64, "eval_every": 10,
                            "patience": 2, "dev_size": 60},
                "target": {"epochs": 1, "max_steps": 10},
                "tasks": {"xquad": {"max_length": 96, "doc_stride": 48}}},
    "data": {"local_root": "mirror"},
    "profile": {"batch_sizes": [1, 4], "latency_repeats": 5, "trace_steps": 1},
    "plots": {"formats": ["png"], "dpi": 60},
}
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _env(work: Path) -> dict:
    return {**os.environ, **OFFLINE, "HF_HOME": str(work / "hf"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def _xstilts(work: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xstilts.cli", *args], cwd=work, env=_env(work),
                          capture_output=True, text=True, timeout=300)


def _snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
           str(work), "--configfile", str(work / "real.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, env=_env(work), capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    work = tmp_path_factory.mktemp("real")
    toy = work / "toy"
    toy.mkdir()
    r = _xstilts(toy, "toy-data", "--config", str(ROOT / "tests/configs/tiny.yaml"))
    assert r.returncode == 0, r.stderr
    toy_hub = toy / "results/toy/hub"
    hub_mirror(toy_hub, work / "mirror", {t: {"qaa": lang} for t, lang in LANGS.items()},
               drop=("qaa", "qad"))
    stand_in_xlmr(work / "hf", sorted((toy / "results/toy/corpus").glob("*.txt")))
    (work / "real.yaml").write_text(yaml.safe_dump(CONFIG))
    t0 = time.perf_counter()
    r = _snakemake(work)
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr[-6000:]
    print(f"real-mode test grid: {wall:.0f} s wall")
    (work / "wall_s.txt").write_text(f"{wall:.1f}\n")
    return work


def test_mirror_in_hub_layout_is_complete(grid):
    r = _xstilts(grid, "data", "check", "--config", "real.yaml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 to fetch, 0 need local data" in r.stdout
    # the sharded XNLI test config (two shards) and SQuAD's Hub config name plain_text/
    assert "XNLI/test-00000-of-00002.parquet (+1)" in r.stdout
    assert "rajpurkar/squad/plain_text/train-00000-of-00001.parquet" in r.stdout


def test_every_family_evaluated_in_its_language_subset(grid):
    cells = pq.read_table(grid / "results/tables/cells.parquet").to_pandas()
    cells = cells[cells["kind"] == "cell"]
    assert sorted(cells["target"]) == sorted(TARGETS)
    assert cells["partial_average"].all()
    for t, lang in LANGS.items():
        ev = json.loads((grid / f"results/cells/xlmr-base/none/{t}/s1/eval.json").read_text())
        assert lang in ev["languages"] and set(ev["languages"]) <= {lang, "en"}, ev["languages"]
        assert ev["partial_average"] is True
    assert "Partial average" in (grid / "reports/report.html").read_text()
    # prepare records the mirror files it read (sha256) and the Hub revisions of its splits
    m = json.loads((grid / "results/data/xlmr/panx/manifest.json").read_text())
    assert "mirror/google/xtreme/PAN-X.de/test-00000-of-00001.parquet" in m["inputs"]["files"]
    assert all(len(h) == 64 for h in m["inputs"]["files"].values())
    assert any("PAN-X.de:test@" in s for s in m["inputs"]["sources"])


def test_readme_score_command_on_a_multi_target_grid(grid):
    """`xstilts score --predictions <cell>/predictions --labels results/labels`: the other
    targets' labels are left out with a note; the average equals eval.json's (XCOPA: no en)."""
    for target in ("xcopa", "xnli"):
        cell = grid / f"results/cells/xlmr-base/none/{target}/s1"
        r = _xstilts(grid, "score", "--predictions", str(cell / "predictions"), "--labels",
                     "results/labels", "--json", f"score-{target}.json")
        assert r.returncode == 0, r.stderr
        others = [t for t in TARGETS if t != target and t != "tatoeba"]
        assert all(f"{t} left out" in r.stderr for t in others), r.stderr
        scored = json.loads((grid / f"score-{target}.json").read_text())["tasks"]
        ev = json.loads((cell / "eval.json").read_text())
        assert list(scored) == [target]
        assert scored[target]["avg"]["accuracy"] / 100 == pytest.approx(ev["average"], abs=1e-9)
    assert "en" in json.loads((grid / "score-xcopa.json").read_text())["tasks"]["xcopa"]


def test_changing_a_mirror_file_reruns_exactly_prepare_and_its_dependents(grid):
    f = grid / "mirror/google/xtreme/PAN-X.de/test-00000-of-00001.parquet"
    table = pq.read_table(f)
    pq.write_table(table.slice(0, table.num_rows - 1), f)  # one sentence fewer
    r = _snakemake(grid, "-n")
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    jobs = out.split("Job stats:")[1].split("\n\n")[0]
    counts = {line.split()[0]: int(line.split()[1]) for line in jobs.strip().splitlines()[2:]}
    assert counts.get("prepare") == 1 and counts.get("evaluate") == 1, counts
    assert "target" in counts and "labels" in counts and "baseline" in counts
    assert not ({"base", "tokenizer"} & set(counts)), counts
    rules_wildcards = [line for line in out.splitlines() if line.strip().startswith("wildcards:")]
    assert all("panx" in w or "tokenizer=xlmr, task=panx" in w for w in rules_wildcards), rules_wildcards
