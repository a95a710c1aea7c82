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
