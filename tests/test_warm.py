"""Warm start (src/xstilts/warm.py): a job forked from the helper ends exactly as a cold job,
exits with its own status, dies with its command, and runs cold when its environment differs.

Real processes: the helper started by ``warm.start`` (as the Snakefile's onstart does), the
``xstilts`` command of the virtualenv as a job's shell runs it, one tiny training run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from xstilts import warm
from xstilts.core import paths

XSTILTS = str(Path(sys.executable).parent / "xstilts")
STEPS = 40


def _events(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / paths.warm_log()).read_text().splitlines()]


@pytest.fixture(scope="module")
def world(tmp_path_factory, one_cell):
    """The one-cell world with its cold reference run (``ref/``), and a helper serving it."""
    d = tmp_path_factory.mktemp("warm")
    ref = one_cell.world(d, one_cell.config(STEPS, None, 10))
    old = os.getcwd()
    os.chdir(d)
    try:
        helper = warm.start(1, paths.warm_log())
        env = warm.job_env(1)  # what Snakemake gives a job: the helper's environment and socket
    finally:
        os.chdir(old)
        os.environ.pop(warm.ENV_VAR, None)
    warm.wait_ready(helper, str(d / paths.warm_log()))
    yield d, ref, env, helper
    warm.stop(helper)


def _target(*extra: str) -> list[str]:
    return [XSTILTS, "target", "--config", "c.yaml", "--model", "nano-1x32", "--inter", "none",
            "--target", "pawsx", "--seed", "1", *extra]


def test_a_warm_job_ends_exactly_as_the_cold_one(world):
    d, ref, env, _ = world
    r = subprocess.run(_target("--out", "w"), cwd=d, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    last = _events(d)[-1]
    assert last["event"] == "warm" and last["argv"][:1] == ["target"] and last["status"] == 0, last
    # the fork's own CPU time and memory end the job's log (Snakemake's benchmark sees the command)
    (d / "w.log").write_text(r.stdout + r.stderr)
    cpu_s, rss_mb = warm.read_record(d / "w.log")
    assert cpu_s == pytest.approx(last["cpu_s"], abs=0.01) and cpu_s > 0.2  # training steps, not the client
    assert rss_mb > 100  # torch and transformers live in the fork, not in the command
    cost = json.loads((d / "w/cost.json").read_text())
    assert cost["steps"] == STEPS and cost["history"] == ref["history"]
    for name in ("heads.safetensors", "encoder/model.safetensors"):
        got, want = load_file(str(d / "w" / name)), load_file(str(d / "ref" / name))
        assert got.keys() == want.keys()
        for k in want:
            assert torch.equal(got[k], want[k]), f"{name}:{k}"


def test_a_warm_job_exits_with_its_own_status_and_message(world):
    d, _, env, _ = world
    r = subprocess.run([XSTILTS, "target", "--config", "c.yaml", "--model", "no-such-model", "--inter", "none",
                        "--target", "pawsx", "--seed", "1"], cwd=d, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "no-such-model" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert _events(d)[-1]["event"] == "warm" and _events(d)[-1]["status"] == 2
    r = subprocess.run([XSTILTS, "target", "--config", "c.yaml"], cwd=d, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "--model" in r.stderr  # argparse's usage error, from the fork


def test_killing_the_command_ends_its_fork(world):
    d, _, env, helper = world
    slow = {**env, "XSTILTS_TEST_STEP_SLEEP": "0.5"}
    proc = subprocess.Popen(_target("--out", "killed"), cwd=d, env=slow, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    t0 = time.time()
    forks: list[str] = []
    while not forks:  # the helper's child: the job
        forks = subprocess.run(["pgrep", "-P", str(helper.pid)], capture_output=True, text=True).stdout.split()
        assert proc.poll() is None and time.time() - t0 < 60
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)  # how Snakemake cancels a job
    proc.wait(timeout=10)
    t0 = time.time()
    while Path(f"/proc/{forks[0]}").exists() and Path(f"/proc/{forks[0]}/stat").read_text().split()[2] != "Z":
        assert time.time() - t0 < 10, "the fork outlived its command"
        time.sleep(0.1)
    time.sleep(1.5)  # the helper reaps it within its 1 s poll
    assert any(e["event"] == "warm" and "killed" in e["argv"] and e["status"] != 0 for e in _events(d))


def _prepare(out: str) -> list[str]:  # a quick stage that imports transformers
    return [XSTILTS, "prepare", "--config", "c.yaml", "--tokenizer", "toy", "--task", "pawsx", "--out", out]


def test_a_job_whose_import_environment_differs_runs_cold(world):
    d, _, env, _ = world
    r = subprocess.run(_prepare("prep"), cwd=d, env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert warm.read_record_text(r.stderr) is None  # no fork's record: it ran by itself
    last = _events(d)[-1]
    assert last["event"] == "cold" and "HF_HUB_OFFLINE" in last["why"], last
    assert (d / "prep").exists()


def test_no_helper_means_cold_and_slurm_jobs_never_go_warm(world, tmp_path):
    d, _, env, _ = world
    for i, extra in enumerate(({warm.ENV_VAR: str(tmp_path / "gone.sock")}, {"SLURM_JOB_ID": "7"})):
        n = len(_events(d))
        r = subprocess.run(_prepare(f"prep{i}"), cwd=d, env={**env, **extra}, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert len(_events(d)) == n and warm.read_record_text(r.stderr) is None


def test_a_light_stage_never_asks_the_helper(world):
    """Stages that import none of torch, transformers, pandas, matplotlib (``Stage.warm``) start
    as fast by themselves: they run cold without a word to the helper; the others go to it."""
    from xstilts.cli import STAGES

    d, _, env, _ = world
    assert {n for n, s in STAGES.items() if not s.warm} == {"toy-data", "labels", "baseline", "aggregate"}
    n = len(_events(d))
    r = subprocess.run([XSTILTS, "labels", "--config", "c.yaml", "--target", "pawsx", "--out", "lab"], cwd=d,
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and (d / "lab").exists(), r.stderr
    assert len(_events(d)) == n and warm.read_record_text(r.stderr) is None
    r = subprocess.run(_prepare("prep-warm"), cwd=d, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert _events(d)[-1]["event"] == "warm" and warm.read_record_text(r.stderr) is not None


def test_the_jobs_table_takes_a_warm_jobs_cpu_and_memory_from_its_log(tmp_path):
    from xstilts.analysis.aggregate import _read_benchmark

    bench = tmp_path / "results/benchmarks/target/m/none/panx/s1.tsv"
    log = tmp_path / "results/logs/target/m/none/panx/s1.log"
    bench.parent.mkdir(parents=True)
    log.parent.mkdir(parents=True)
    bench.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                     "12.5\t0:00:12\t9.9\t15.0\t0.4\t0.9\t0.0\t0.0\t0.0\t0.05\n")
    assert paths.log_of_benchmark(bench) == str(log)
    log.write_text("step 10 ...\n" + warm.record_line(11.234, 412.5) + "\n")
    row = _read_benchmark(bench, tmp_path / "results/benchmarks")
    assert row["warm"] and row["seconds"] == 12.5
    assert row["cpu_time"] == pytest.approx(11.23 + 0.05) and row["max_rss"] == 412.5
    assert row["max_vms"] is None and row["io_in"] is None  # the command's, not the job's: left out
    log.write_text("a cold job's log\n")
    row = _read_benchmark(bench, tmp_path / "results/benchmarks")
    assert not row["warm"] and row["cpu_time"] == 0.05 and row["max_rss"] == 9.9
