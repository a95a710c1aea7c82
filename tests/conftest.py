"""The shared test harness: the repository paths, the Snakemake runner, the in-process CLI runner.

Fixtures (session-scoped, so module-scoped fixtures can use them):

* ``root``: the repository root; ``tiny_config``: ``tests/configs/tiny.yaml``.
* ``snakemake``: ``snakemake(workdir, *args, timeout=1500, configs=(tiny,))`` runs the workflow
  of this repository in ``workdir`` (a failure raises with the logs of the failed jobs).
* ``planned_jobs``: the "Job stats" of a dry run, ``{rule: count}``.
* ``stages``: ``stages(workdir, [argv, ...], config="c.yaml")`` runs ``xstilts`` stages in-process
  in ``workdir`` (asserting each exits 0) and restores the working directory and torch's threads.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"


def _snakemake(workdir: Path, *args: str, timeout: int = 1500, configs=(TINY,)) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(workdir), "--configfile", *map(str, configs), "--cores", "2", *args]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in workdir.glob("results/logs/**/*.log")
                         if "Error" in p.read_text() or "Traceback" in p.read_text())
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}\n{logs}")
    return proc


def _planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M))
    counts.pop("total", None)
    return {k: int(v) for k, v in counts.items()}


def _stages(workdir: Path, argvs, config: str = "c.yaml") -> None:
    import torch

    from xstilts import cli

    old, threads = os.getcwd(), torch.get_num_threads()
    os.chdir(workdir)
    try:
        for argv in argvs:
            assert cli.main([argv[0], "--config", config, *argv[1:]]) == 0, argv
    finally:
        os.chdir(old)
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny_config() -> Path:
    return TINY


@pytest.fixture(scope="session")
def snakemake():
    return _snakemake


@pytest.fixture(scope="session")
def planned_jobs():
    return _planned_jobs


@pytest.fixture(scope="session")
def stages():
    return _stages


# ----------------------------------------------------------------------------- one trained cell
# test_resume and test_faults interrupt the same cell: nano-1x32 on toy PAWS-X (qaa only), run
# by hand through the CLI; each module sets its own step budget.
ONE_CELL = {"model": "nano-1x32", "target": "pawsx", "seed": 1}


def _one_cell_config(steps: int, save_every, eval_every: int, **hp) -> dict:
    import yaml

    raw = yaml.safe_load(TINY.read_text())
    raw.update(intermediate=["none"], targets=[ONE_CELL["target"]], controls=[])
    raw.pop("multitask", None)
    raw["toy"]["languages"] = ["qaa"]
    raw["hparams"] = {
        "default": {"lr": 3e-3, "batch_size": 16, "max_length": 64, "eval_every": eval_every,
                    "patience": 100, "dev_size": 60, "save_every": save_every, **hp},
        "target": {"epochs": 10, "max_steps": steps},
    }
    return raw


def _one_cell_args() -> list[str]:
    c = ONE_CELL
    return ["target", "--model", c["model"], "--inter", "none", "--target", c["target"],
            "--seed", str(c["seed"])]


def _one_cell_world(d: Path, raw: dict) -> dict:
    """Toy data, tokenizer, tokenized target, base model and the uninterrupted run ``d/ref``;
    returns the reference's cost record."""
    import json

    import yaml

    c = ONE_CELL
    (d / "c.yaml").write_text(yaml.safe_dump(raw))
    _stages(d, (["toy-data"], ["tokenizer", "--name", "toy"],
                ["prepare", "--tokenizer", "toy", "--task", c["target"]], ["base", "--model", c["model"]],
                _one_cell_args() + ["--out", "ref"]))
    return json.loads((d / "ref/cost.json").read_text())


@pytest.fixture(scope="session")
def one_cell():
    """The shared interrupted-cell harness: ``config(steps, save_every, eval_every, **hp)`` and
    ``world(dir, raw) -> reference cost``."""
    from types import SimpleNamespace

    return SimpleNamespace(config=_one_cell_config, world=_one_cell_world, **ONE_CELL)
