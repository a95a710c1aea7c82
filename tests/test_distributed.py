"""Data-parallel training (torchrun + DDP, gloo on CPU) against a single process.

Two gloo processes train a tiny model on the toy benchmark with the same *global* batch as the
single-process run; the trajectories must agree up to floating-point summation order.  The
encoder's and the head's dropout are off in the equivalence test (dropout masks come from each
process's own RNG stream, so with dropout on the runs are two different random draws).
The second test runs the command the Snakemake rule builds (``torchrun ... -m xstilts.cli``) for
the multi-task intermediate phase (DDP with unused heads) and checks what rank 0 writes.

This file is also the worker script: ``torchrun tests/test_distributed.py --worker OUT``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MODEL, TARGET, SEED, STEPS = "nano-1x32", "pawsx", 1, 150


def _config() -> dict:
    raw = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())
    raw.update(intermediate=["none", "multitask"], targets=[TARGET], controls=[])
    raw["multitask"] = {"tasks": ["mnli", "hellaswag"], "sampling": "uniform"}
    raw["toy"]["languages"] = ["qaa"]
    raw["hparams"] = {
        "default": {"lr": 3e-3, "batch_size": 16, "max_length": 64, "eval_every": 25,
                    "patience": 100, "dev_size": 60, "save_every": 0},
        "target": {"epochs": 10, "max_steps": STEPS},
        "intermediate": {"epochs": 10, "max_steps": 12},
    }
    return raw


def worker(out: str, micro: int | None = None) -> None:
    """Train the target phase without dropout (``micro``: examples per forward/backward pass);
    rank 0 writes ``out``.json + heads."""
    import torch
    from safetensors.torch import save_file

    from xstilts.stages import distributed
    from xstilts.core.config import load
    from xstilts.stages.models import XstiltsModel, load_encoder
    from xstilts.stages.train import set_seed, task_data, train_phase

    torch.set_num_threads(1)
    cfg = load("c.yaml")
    td = task_data(cfg, cfg.bound(TARGET, "target"), MODEL)
    set_seed(SEED)
    model = XstiltsModel(load_encoder("results/models/nano-1x32/base"))  # dropout 0 in its config
    model.add_head(td.task, td.family, dropout=0.0)
    cost = train_phase(model, [td], cfg.hparams(TARGET, "target"), phase="target", seed=SEED,
                       device=torch.device("cpu"), pad_id=1, log=lambda *_: None, micro_batch_size=micro)
    if distributed.is_main_process():
        from xstilts.stages.train import TaskData, dev_score

        # accuracy on the training set, of the restored best state
        cost["train_accuracy"] = dev_score(model, TaskData(td.task, td.family, [], td.train), 64,
                                           torch.device("cpu"), "float32", 1)
        save_file({k: v.contiguous() for k, v in model.heads.state_dict().items()}, f"{out}.safetensors")
        Path(f"{out}.json").write_text(json.dumps(cost))
    distributed.teardown()


if __name__ == "__main__" and "--worker" in sys.argv:
    worker(sys.argv[sys.argv.index("--worker") + 1],
           int(sys.argv[sys.argv.index("--micro") + 1]) if "--micro" in sys.argv else None)
    sys.exit(0)

import pytest  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from xstilts.core import paths  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory, stages):
    d = tmp_path_factory.mktemp("ddp")
    (d / "c.yaml").write_text(yaml.safe_dump(_config()))
    stages(d, (["toy-data"], ["tokenizer", "--name", "toy"], ["base", "--model", MODEL],
               *(["prepare", "--tokenizer", "toy", "--task", t] for t in (TARGET, "mnli", "hellaswag"))))
    enc = d / paths.base_dir(MODEL) / "encoder/config.json"
    conf = json.loads(enc.read_text())
    conf.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    enc.write_text(json.dumps(conf))
    return d


def _env(d: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("XSTILTS_CONFIG", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    return env


def _run(cmd: list[str] | str, d: Path, log: str):
    r = subprocess.run(cmd, cwd=d, env=_env(d), capture_output=True, text=True, timeout=150,
                       shell=isinstance(cmd, str))
    (d / log).write_text(r.stdout + r.stderr)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    return r


def test_two_gloo_processes_match_one_process(world, monkeypatch):
    d = world
    monkeypatch.chdir(d)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    threads = torch.get_num_threads()
    try:
        worker("single")  # one process, in this interpreter
    finally:
        torch.set_num_threads(threads)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
          __file__, "--worker", "ddp"], d, "ddp.log")
    # and with gradient accumulation: 2 passes of 4 per rank and step, all-reduced once (no_sync)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
          __file__, "--worker", "ddp-micro", "--micro", "4"], d, "ddp-micro.log")
    one, two, acc = (json.loads((d / f"{n}.json").read_text()) for n in ("single", "ddp", "ddp-micro"))
    assert acc["micro_steps"] == 2 * acc["steps"] and acc["steps"] == STEPS
    for a, b in zip(one["history"], acc["history"]):
        assert b["loss"] == pytest.approx(a["loss"], abs=2e-3), (a, b)
    assert one["world_size"] == 1 and two["world_size"] == 2
    # same global batches: same examples and (unpadded) tokens in total
    assert two["steps"] == one["steps"] == STEPS
    epochs, rest = divmod(STEPS, 19)  # an epoch of 300 examples is 18 batches of 16 + one of 12
    assert two["examples"] == one["examples"] == 300 * epochs + 16 * rest
    assert two["tokens"] == one["tokens"]
    # device-hours count both processes
    assert two["device_hours"] == pytest.approx(two["wall_s"] * 2 / 3600, rel=1e-6)
    # the model learns its training set (chance: 0.5; the 20-step toy encoder is too weak to
    # beat chance on dev reliably) ...
    for run in (one, two):
        assert run["train_accuracy"] > 0.75, run
    # ... and both runs followed the same trajectory
    assert [h["step"] for h in two["history"]] == [h["step"] for h in one["history"]]
    for a, b in zip(one["history"], two["history"]):
        assert b["loss"] == pytest.approx(a["loss"], abs=2e-3), (a, b)
        assert abs(b["dev"] - a["dev"]) <= 0.02, (a, b)
    assert abs(two["best_dev"] - one["best_dev"]) <= 0.02
    h1, h2 = load_file(str(d / "single.safetensors")), load_file(str(d / "ddp.safetensors"))
    for k in h1:
        torch.testing.assert_close(h2[k], h1[k], rtol=0, atol=5e-3, msg=k)


def test_rule_command_runs_multitask_phase_with_torchrun(world):
    """The command the intermediate rule runs for nproc=2 (DDP where each step leaves one
    task's head unused); only rank 0 logs and writes the checkpoint."""
    from xstilts import cli
    from xstilts.stages.distributed import launcher, shell_launcher

    d = world
    assert launcher(2) == "torchrun --standalone --nproc_per_node 2 -m xstilts.cli"
    assert launcher(1) == "xstilts"
    # the rules' shell snippet, with Snakemake's {resources.nproc} filled in
    launch = shell_launcher("{resources.nproc}").replace("{resources.nproc}", "2")
    r = _run(["bash", "-c", f"{launch} intermediate --config c.yaml --model {MODEL} --inter multitask "
              f"--seed {SEED}"], d, "mt.log")
    assert "torchrun" in launch and "nproc_per_node 2" in launch
    rel = paths.inter_dir(MODEL, "multitask", SEED)
    out = d / rel
    two = json.loads((out / "cost.json").read_text())
    assert two["world_size"] == 2 and two["steps"] == 12 and two["tasks"] == ["mnli", "hellaswag"]
    assert r.stdout.count("intermediate mnli+hellaswag: best dev") == 1  # rank 0 only
    assert (out / "heads.safetensors").exists()
    assert not (d / paths.state_dir(rel)).exists()
    # the single-process run of the same phase sees the same batches
    old, threads = os.getcwd(), torch.get_num_threads()
    os.chdir(d)
    try:
        assert cli.main(["intermediate", "--config", "c.yaml", "--model", MODEL, "--inter", "multitask",
                         "--seed", str(SEED), "--out", "mt1"]) == 0
    finally:
        os.chdir(old)
        torch.set_num_threads(threads)
    one = json.loads((d / "mt1/cost.json").read_text())
    assert one["world_size"] == 1
    assert two["examples"] == one["examples"] and two["tokens"] == one["tokens"]
    assert [h["step"] for h in two["history"]] == [h["step"] for h in one["history"]]
