"""Resumable training: a target phase killed (SIGKILL) or stopped (SIGTERM) mid-run resumes from
its saved state and ends exactly where an uninterrupted run ends.

Real training of a tiny model on the toy benchmark, on CPU with one thread (deterministic).
The interrupted runs are real ``xstilts target`` subprocesses; ``XSTILTS_TEST_STEP_SLEEP``
slows their steps down so that the test can interrupt them after the first saved state.
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
import yaml
from safetensors.torch import load_file

from xstilts.core import paths

ROOT = Path(__file__).resolve().parents[1]
MODEL, TARGET, SEED = "nano-1x32", "pawsx", 1
STEPS, SAVE_EVERY, EVAL_EVERY = 120, 5, 10
CELL = paths.cell_model_dir(MODEL, "none", TARGET, SEED)
STATE = paths.state_dir(CELL)


@pytest.fixture(scope="module")
def world(tmp_path_factory, one_cell):
    """A run directory with the toy data, tokenizer, tokenized pawsx and a base model, plus the
    uninterrupted reference run (``ref/``)."""
    d = tmp_path_factory.mktemp("resume")
    ref = one_cell.world(d, one_cell.config(STEPS, SAVE_EVERY, EVAL_EVERY))
    assert ref["steps"] == STEPS and ref["resumed_from"] == []
    # the checkpoint holds the best dev state: it must come from after the interruptions below
    # (steps 5-10), or comparing final weights would only compare pre-interruption weights
    assert ref["best_step"] > 2 * EVAL_EVERY and ref["best_dev"] > 0.5, ref["history"]
    assert not (d / "ref.state").exists(), "the state of a finished run must be deleted"
    return d, ref


def _cmd():
    return [sys.executable, "-m", "xstilts.cli", "target", "--config", "c.yaml", "--model", MODEL,
            "--inter", "none", "--target", TARGET, "--seed", str(SEED)]


def _start(d: Path, log: str, sleep: float = 0.0):
    env = {**os.environ, "XSTILTS_TEST_STEP_SLEEP": str(sleep), "PYTHONUNBUFFERED": "1"}
    env.pop("XSTILTS_CONFIG", None)
    return subprocess.Popen(_cmd(), cwd=d, env=env, stdout=open(d / log, "w"), stderr=subprocess.STDOUT)


def _wait_for_state(d: Path, proc, timeout=50.0) -> None:
    t0 = time.time()
    while not (d / STATE / "state.json").exists():
        assert proc.poll() is None, f"run ended before saving a state:\n{_tail(d, proc)}"
        assert time.time() - t0 < timeout, "no state saved in time"
        time.sleep(0.02)


def _tail(d: Path, proc) -> str:
    return "".join((d / "run1.log").read_text().splitlines(True)[-20:])


def _finish_and_compare(d: Path, ref: dict, saved_step: int, log: str) -> dict:
    """Rerun the same command (no slowdown): it must resume from ``saved_step`` and end equal to
    the reference run."""
    r = subprocess.run(_cmd(), cwd=d, capture_output=True, text=True, timeout=120,
                       env={k: v for k, v in os.environ.items() if k != "XSTILTS_CONFIG"})
    (d / log).write_text(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"resumed from step {saved_step}/{STEPS}" in r.stdout
    # the rerun logs only the evaluations after the saved step: the step counter continues
    steps_logged = [int(line.split("step ")[1].split("/")[0]) for line in r.stdout.splitlines()
                    if " loss " in line and " dev " in line and "] step " in line]
    assert steps_logged == list(range(saved_step + EVAL_EVERY - saved_step % EVAL_EVERY, STEPS + 1, EVAL_EVERY))
    cost = json.loads((d / CELL / "cost.json").read_text())
    assert cost["resumed_from"] == [saved_step]
    assert cost["steps"] == STEPS and cost["planned_steps"] == STEPS
    # loss/dev history: the part before the interruption comes from the state, the rest continues
    assert [h["step"] for h in cost["history"]] == [h["step"] for h in ref["history"]]
    for got, want in zip(cost["history"], ref["history"]):
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-6), (got, want)
        assert got["dev"] == pytest.approx(want["dev"], abs=1e-9), (got, want)
    assert cost["best_dev"] == pytest.approx(ref["best_dev"], abs=1e-9)
    assert cost["best_step"] == ref["best_step"]
    # cost counters continue across the interruption
    for key in ("examples", "tokens"):
        assert cost[key] == ref[key], key
    assert cost["flops"] == pytest.approx(ref["flops"], rel=1e-9)
    # the saved weights equal the uninterrupted run's
    for name in ("heads.safetensors", "encoder/model.safetensors"):
        got, want = load_file(str(d / CELL / name)), load_file(str(d / "ref" / name))
        assert got.keys() == want.keys()
        for k in want:
            torch.testing.assert_close(got[k], want[k], rtol=0, atol=1e-6, msg=f"{name}:{k}")
    assert not (d / STATE).exists(), "the state of a finished run must be deleted"
    return cost


def _clean(d: Path) -> None:
    import shutil

    for p in (d / paths.cell_dir(MODEL, "none", TARGET, SEED), d / paths.RESULTS / "state"):
        shutil.rmtree(p, ignore_errors=True)


def test_kill9_then_rerun_resumes_and_matches_uninterrupted_run(world):
    d, ref = world
    _clean(d)
    proc = _start(d, "run1.log", sleep=0.25)
    try:
        _wait_for_state(d, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    meta = json.loads((d / STATE / "state.json").read_text())
    k = meta["step"]
    assert k % SAVE_EVERY == 0 and 0 < k < STEPS
    assert not (d / CELL / "cost.json").exists()
    # the state lives outside the rule's output directory (Snakemake deletes outputs of failed jobs)
    assert not str(d / STATE).startswith(str(d / CELL))
    cost = _finish_and_compare(d, ref, k, "run2.log")
    assert cost["wall_s"] >= meta["cost"]["wall_s"]


def test_sigterm_saves_state_and_exits_nonzero_then_resumes(world):
    d, ref = world
    _clean(d)
    proc = _start(d, "run1.log", sleep=0.25)
    try:
        _wait_for_state(d, proc)  # training is under way
        first = json.loads((d / STATE / "state.json").read_text())["step"]
        time.sleep(0.3)  # land between two periodic saves
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = (d / "run1.log").read_text()
    assert rc == 128 + signal.SIGTERM, out[-3000:]
    assert "received SIGTERM" in out and "stopping after step" in out
    stopped = int(out.split("stopping after step ")[1].split("/")[0])
    meta = json.loads((d / STATE / "state.json").read_text())
    assert meta["step"] == stopped and stopped > first
    assert not (d / CELL / "cost.json").exists()
    _finish_and_compare(d, ref, stopped, "run2.log")
