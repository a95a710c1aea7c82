"""Fault injection with real processes: a target phase killed with SIGKILL during a step, during
a state save or while writing its checkpoint ends, after a rerun, with the weights and metrics
of an uninterrupted run; a second trainer on the same state is refused (naming the holder) and a
stale lock is taken over; a corrupt state is set aside and the job still finishes; SIGINT saves
like SIGTERM; a truncated upstream checkpoint and a diverging loss stop with one line; changing
an operational setting (save_every) leaves a finished workflow with nothing to do.

Real training of a tiny model (1 layer, 32 hidden) on the toy benchmark, CPU, one thread.
``XSTILTS_TEST_STEP_SLEEP`` slows steps so that a test can act mid-run; ``XSTILTS_TEST_FAULT``
(``stages/guard.fault_point``) makes the trainer SIGKILL itself at a named point.
"""

from __future__ import annotations

import json
import os
import shutil
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
# one dev evaluation, at the last step: the checkpoint holds the final weights, so comparing
# them compares everything trained after an interruption
STEPS, SAVE_EVERY, EVAL_EVERY = 40, 5, 40
CELL = paths.cell_model_dir(MODEL, "none", TARGET, SEED)
STATE = paths.state_dir(CELL)


def _config(one_cell, **hp) -> dict:
    return one_cell.config(STEPS, hp.pop("save_every", SAVE_EVERY), EVAL_EVERY, **hp)


@pytest.fixture(scope="module")
def world(tmp_path_factory, one_cell):
    """Toy data, tokenizer, tokenized pawsx, a base model, and the uninterrupted run ``ref/``."""
    d = tmp_path_factory.mktemp("faults")
    ref = one_cell.world(d, _config(one_cell))
    assert ref["steps"] == STEPS and ref["best_step"] == STEPS, ref["history"]
    return d, ref


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XSTILTS_CONFIG"}
    env.update(PYTHONUNBUFFERED="1", **{k: str(v) for k, v in extra.items()})
    return env


def _cmd(config: str = "c.yaml"):
    return [sys.executable, "-m", "xstilts.cli", "target", "--config", config, "--model", MODEL,
            "--inter", "none", "--target", TARGET, "--seed", str(SEED)]


def _start(d: Path, log: str, **env):
    return subprocess.Popen(_cmd(), cwd=d, env=_env(**env), stdout=open(d / log, "w"),
                            stderr=subprocess.STDOUT)


def _run(d: Path, config: str = "c.yaml", **env) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(config), cwd=d, capture_output=True, text=True, timeout=180, env=_env(**env))


def _error_line(r: subprocess.CompletedProcess) -> str:
    """The one line the CLI prints for bad input (progress bars aside), never a traceback."""
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = [line for line in r.stderr.splitlines() if line.startswith("xstilts: ")]
    assert len(lines) == 1, r.stderr[-3000:]
    return lines[0]


def _wait_for_state(d: Path, proc, timeout=60.0) -> dict:
    t0 = time.time()
    while not (d / STATE / "state.json").exists():
        assert proc.poll() is None, "run ended before saving a state"
        assert time.time() - t0 < timeout, "no state saved in time"
        time.sleep(0.02)
    return json.loads((d / STATE / "state.json").read_text())


def _clean(d: Path) -> None:
    shutil.rmtree(d / paths.cell_dir(MODEL, "none", TARGET, SEED), ignore_errors=True)
    shutil.rmtree(d / paths.RESULTS / "state", ignore_errors=True)


def _same_as_ref(d: Path, ref: dict, r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    cost = json.loads((d / CELL / "cost.json").read_text())
    assert cost["steps"] == STEPS
    assert [h["step"] for h in cost["history"]] == [h["step"] for h in ref["history"]]
    for got, want in zip(cost["history"], ref["history"]):
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-6), (got, want)
        assert got["dev"] == pytest.approx(want["dev"], abs=1e-9), (got, want)
    assert (cost["best_step"], cost["examples"], cost["tokens"]) == (ref["best_step"], ref["examples"], ref["tokens"])
    for name in ("heads.safetensors", "encoder/model.safetensors"):
        got, want = load_file(str(d / CELL / name)), load_file(str(d / "ref" / name))
        assert got.keys() == want.keys()
        for k in want:
            torch.testing.assert_close(got[k], want[k], rtol=0, atol=1e-6, msg=f"{name}:{k}")
    # a finished phase leaves no state and no empty folder under results/state
    assert not (d / STATE).exists()
    root = d / paths.RESULTS / "state"
    assert not root.exists() or all(any(p.iterdir()) for p in [root, *root.rglob("*")] if p.is_dir())
    return cost


def test_kill9_during_a_step_then_rerun_matches(world):
    d, ref = world
    _clean(d)
    proc = _start(d, "step.log", XSTILTS_TEST_STEP_SLEEP=0.2)
    try:
        _wait_for_state(d, proc)
        time.sleep(0.5)  # between two saves: the steps since the last one are redone
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    k = json.loads((d / STATE / "state.json").read_text())["step"]
    cost = _same_as_ref(d, ref, _run(d))
    assert cost["resumed_from"] == [k]


def test_kill9_during_a_state_save_keeps_the_previous_state(world):
    d, ref = world
    _clean(d)
    r = _run(d, XSTILTS_TEST_FAULT="state-save:2")  # killed after the 2nd save's tensors
    assert r.returncode == -signal.SIGKILL
    meta = json.loads((d / STATE / "state.json").read_text())
    assert meta["step"] == SAVE_EVERY  # state.json still names the first, complete state
    assert (d / STATE / f"tensors-{2 * SAVE_EVERY:09d}.pt").exists()  # the half-finished save
    cost = _same_as_ref(d, ref, _run(d))
    assert cost["resumed_from"] == [SAVE_EVERY]


def test_kill9_while_writing_the_checkpoint_then_rerun_matches(world):
    d, ref = world
    _clean(d)
    r = _run(d, XSTILTS_TEST_FAULT="checkpoint")
    assert r.returncode == -signal.SIGKILL
    assert not (d / CELL / "cost.json").exists()  # the checkpoint is not complete
    cost = _same_as_ref(d, ref, _run(d))
    assert cost["resumed_from"] == [max(range(SAVE_EVERY, STEPS, SAVE_EVERY))]  # the last periodic state


def test_second_trainer_is_refused_and_a_stale_lock_is_taken_over(world):
    d, ref = world
    _clean(d)
    first = _start(d, "first.log", XSTILTS_TEST_STEP_SLEEP=0.2)
    try:
        _wait_for_state(d, first)
        second = _run(d)
        assert second.returncode == 2, second.stdout[-2000:] + second.stderr[-2000:]
        msg = _error_line(second)
        assert f"held by another trainer (pid {first.pid} on " in msg and f"{STATE}/LOCK" in msg
        assert first.poll() is None  # the holder carries on
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    holder = json.loads((d / STATE / "LOCK").read_text())
    assert holder["pid"] == first.pid  # the dead holder's lock is still there
    r = _run(d)
    assert f"taking over the stale lock of {STATE} (holder pid {first.pid}" in r.stdout
    _same_as_ref(d, ref, r)


def test_corrupt_state_is_set_aside_and_the_job_finishes(world):
    d, ref = world
    _clean(d)
    proc = _start(d, "corrupt.log", XSTILTS_TEST_STEP_SLEEP=0.2)
    try:
        meta = _wait_for_state(d, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    tensors = d / STATE / json.loads((d / STATE / "state.json").read_text())["files"]["tensors"]
    tensors.write_bytes(tensors.read_bytes()[:100])  # truncated
    r = _run(d)
    assert "WARNING: the training state in" in r.stdout and "set aside to" in r.stdout, r.stdout[-2000:]
    aside = list((d / STATE).parent.glob(Path(STATE).name + ".corrupt-*"))
    assert len(aside) == 1 and (aside[0] / "state.json").exists() and meta["step"] > 0
    cost = _same_as_ref(d, ref, r)  # from scratch: the same seed, the same run
    assert cost["resumed_from"] == []


def test_sigint_saves_like_sigterm(world):
    d, ref = world
    _clean(d)
    proc = _start(d, "int.log", XSTILTS_TEST_STEP_SLEEP=0.2)
    try:
        _wait_for_state(d, proc)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = (d / "int.log").read_text()
    assert rc == 128 + signal.SIGINT, out[-2000:]
    stopped = int(out.split("stopping after step ")[1].split("/")[0])
    assert json.loads((d / STATE / "state.json").read_text())["step"] == stopped
    assert not (d / STATE / "LOCK").exists()  # released on the way out
    cost = _same_as_ref(d, ref, _run(d))
    assert cost["resumed_from"] == [stopped]


def test_time_based_saves_by_default(world, one_cell):
    """save_every null: a state every save_minutes of wall time (here 0.3 s)."""
    d, _ = world
    _clean(d)
    raw = _config(one_cell, save_every=None, save_minutes=0.005)
    (d / "timed.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.Popen(_cmd("timed.yaml"), cwd=d, env=_env(XSTILTS_TEST_STEP_SLEEP=0.1),
                            stdout=open(d / "timed.log", "w"), stderr=subprocess.STDOUT)
    try:
        meta = _wait_for_state(d, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert 0 < meta["step"] < STEPS
    _clean(d)


def test_truncated_upstream_checkpoint_names_the_file_and_the_rule(world):
    d, _ = world
    _clean(d)
    weights = d / paths.base_dir(MODEL) / "encoder/model.safetensors"
    backup = weights.read_bytes()
    try:
        weights.write_bytes(backup[: len(backup) // 3])
        r = _run(d)
    finally:
        weights.write_bytes(backup)
    assert r.returncode == 2
    msg = _error_line(r)
    assert str(weights.relative_to(d)) in msg and "rerun the `base` rule" in msg
    _clean(d)


def test_non_finite_loss_stops_the_phase_naming_the_step(world, one_cell):
    d, _ = world
    _clean(d)
    for name, bad in (("nan0.yaml", 0), ("nan3.yaml", 3)):
        (d / name).write_text(yaml.safe_dump(_config(one_cell, lr=1e30, max_bad_steps=bad)))
        r = _run(d, name)
        assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
        msg = _error_line(r)
        assert f"the training loss is nan (non-finite; {bad + 1} such step(s), hparams max_bad_steps " \
               f"allows {bad})" in msg
        assert r.stdout.count("update skipped") == bad
        assert not (d / CELL / "cost.json").exists()
        _clean(d)


def test_changing_save_every_leaves_a_finished_workflow_with_nothing_to_do(tmp_path, snakemake, planned_jobs, one_cell):
    raw = _config(one_cell)
    raw["hparams"]["target"]["max_steps"] = 10
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    out = paths.checkpoint_done(CELL)
    snakemake(tmp_path, out, configs=(tmp_path / "c.yaml",))
    for change in ("save_every=0", "save_every=null", "save_minutes=1"):
        raw2 = _config(one_cell, **yaml.safe_load(change.replace("=", ": ")))
        raw2["hparams"]["target"]["max_steps"] = 10
        (tmp_path / "c2.yaml").write_text(yaml.safe_dump(raw2))
        assert planned_jobs(snakemake(tmp_path, out, "-n", configs=(tmp_path / "c2.yaml",))) == {}, change
    # a setting that changes the result reruns the training (and not the tokenization)
    raw2 = _config(one_cell, lr=2e-3)
    raw2["hparams"]["target"]["max_steps"] = 10
    (tmp_path / "c2.yaml").write_text(yaml.safe_dump(raw2))
    assert planned_jobs(snakemake(tmp_path, out, "-n", configs=(tmp_path / "c2.yaml",))) == {"target": 1}
