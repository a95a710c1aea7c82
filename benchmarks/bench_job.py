"""Benchmark: the fixed cost of a job, per stage, against the import floor of what it needs.

A tiny grid (one nano model, the PAN-X target, the ``none`` and ``mnli`` intermediates, one
seed, one training step per phase, a one-size profile) is built once with Snakemake in the work
folder.  Then, in rounds, every stage's real command (``xstilts <stage> ...`` through the
installed entry point, loading the config snapshot the Snakefile wrote, as a job does) runs
again on that minimal work, interleaved with
the floor of the libraries the stage needs, measured in the same round:

* model stages (base, intermediate, target, evaluate, profile):
  ``python -c "import torch; from transformers import XLMRobertaModel"``;
* stages that need a tokenizer (tokenizer, prepare): ``from transformers import
  PreTrainedTokenizerFast``;
* stages that read or write parquet files (toy-data, labels, baseline, aggregate): ``import
  pyarrow.parquet`` (the parquet reader is its own extension module, about 0.03 s over ``import
  pyarrow``);
* the stages built on pandas data frames: report ``import pyarrow.parquet, pandas``, plots the
  same plus ``matplotlib.pyplot`` (the report embeds the figure files and imports no matplotlib).

It also checks that the stages that do not build a model do not import torch, and times every
stage once more through a warm-start helper (``warm_start``, src/xstilts/warm.py: the job forks
from a process that has imported the libraries once), as the default's local runs do (the light
stages, ``Stage.warm`` false in xstilts/cli.py, never ask the helper: that time is a cold one).  The last
line is the worst stage's ratio run cold (median stage time / median floor time).

    python benchmarks/bench_job.py [--rounds 3] [--stages labels,evaluate]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import harness as H

M, T, S = "nano-1x32", "panx", "1"
CELL = ["--model", M, "--inter", "none", "--target", T, "--seed", S]
MODEL_FLOOR = "import torch; from transformers import XLMRobertaModel"
TOKENIZER_FLOOR = "from transformers import PreTrainedTokenizerFast"
PARQUET_FLOOR = "import pyarrow.parquet"
PANDAS_FLOOR = "import pyarrow.parquet, pandas"
PLOT_FLOOR = "import pyarrow.parquet, pandas, matplotlib.pyplot"
# stage -> (arguments, floor, whether it may import torch)
STAGES = {
    "toy-data": ([], PARQUET_FLOOR, False),
    "tokenizer": (["--name", "toy"], TOKENIZER_FLOOR, False),
    "prepare": (["--tokenizer", "toy", "--task", T], TOKENIZER_FLOOR, False),
    "labels": (["--target", T], PARQUET_FLOOR, False),
    "baseline": (["--target", T], PARQUET_FLOOR, False),
    "base": (["--model", M], MODEL_FLOOR, True),
    "intermediate": (["--model", M, "--inter", "mnli", "--seed", S], MODEL_FLOOR, True),
    "target": (CELL, MODEL_FLOOR, True),
    "evaluate": (CELL, MODEL_FLOOR, True),
    "profile": (["--model", M, "--target", T], MODEL_FLOOR, True),
    "aggregate": ([], PARQUET_FLOOR, False),
    "plots": ([], PLOT_FLOOR, False),
    "report": ([], PANDAS_FLOOR, False),
}
TINY = {
    "benchmark": "toy", "seeds": [1], "device": "cpu", "dtype": "float32", "threads": 1,
    "toy": {"seed": 0, "languages": ["qaa"], "sizes": {"n_train": 40, "n_dev": 20, "n_test": 20,
                                                     "n_corpus": 200}},
    "tokenizers": {"toy": {"train": {"vocab_size": 300}}},
    "pretrain": {"steps": 1, "batch_size": 4, "max_length": 32},
    "models": {M: {"tokenizer": "toy", "toy": {"layers": 1, "hidden": 32, "heads": 2}}},
    "intermediate": ["none", "mnli"], "targets": [T], "controls": [],
    "hparams": {"default": {"batch_size": 8, "max_length": 32, "eval_every": 1, "patience": 1,
                            "dev_size": 20},
                "intermediate": {"epochs": 1, "max_steps": 1}, "target": {"epochs": 1, "max_steps": 1}},
    "profile": {"batch_sizes": [1], "latency_repeats": 3, "trace_steps": 1, "throughput_seconds": 0.05},
    "plots": {"formats": ["png"], "dpi": 50},
}
WORK = H.WORK / "job"
CONFIG = WORK / "tiny.yaml"


def build() -> None:
    import yaml

    H.compile_package()
    WORK.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(TINY, sort_keys=False)
    if not CONFIG.exists() or CONFIG.read_text() != text:
        CONFIG.write_text(text)
    if (WORK / "reports" / "report.html").exists() and Path(job_config(check=False)).exists():
        return
    print("  (setting up: snakemake on the tiny grid, about a minute)", flush=True)
    env = {**os.environ, "PATH": f"{H.BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(H.BIN / "snakemake"), "--snakefile", str(H.ROOT / "Snakefile"),
                           "--directory", str(WORK), "--configfile", str(CONFIG), "--cores", "2"],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"set-up failed:\n{proc.stderr[-4000:]}")


def job_config(check: bool = True) -> str:
    """What a job's ``--config`` is: the snapshot the Snakefile wrote, which it loads without
    validating again (``paths.config_snapshot``)."""
    from xstilts.core import paths
    from xstilts.core.config import snapshot_text

    snap = WORK / paths.config_snapshot(snapshot_text(TINY))
    if check and not snap.exists():
        raise RuntimeError(f"no config snapshot {snap}: remove {WORK} and run again")
    return str(snap)


def stage_cmd(stage: str) -> list[str]:
    args, _, _ = STAGES[stage]
    return [str(H.BIN / "xstilts"), stage, "--config", job_config(), *args]


def start_warm():
    """A warm-start helper serving the work folder, and the environment a job of it gets."""
    from xstilts import warm

    log = WORK / "warm.log"
    helper = warm.start(1, str(log))
    env = warm.job_env(1)
    os.environ.pop(warm.ENV_VAR)
    warm.wait_ready(helper, str(log))
    return helper, env


def run(cmd: list[str], cwd, env=None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return dt


def imports_torch(stage: str) -> bool:
    """Whether the stage's run imports torch (in-process, through the CLI's ``main``)."""
    code = ("import sys; from xstilts import cli; rc = cli.main(sys.argv[1:]); "
            "print('TORCH', 'torch' in sys.modules); sys.exit(rc)")
    args, _, _ = STAGES[stage]
    proc = subprocess.run([sys.executable, "-c", code, stage, "--config", job_config(), *args],
                          cwd=WORK, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{stage} failed:\n{proc.stderr[-3000:]}")
    return "TORCH True" in proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stages", default=",".join(STAGES))
    args = ap.parse_args()
    stages = args.stages.split(",")
    build()
    bad = [s for s in stages if not STAGES[s][2] and imports_torch(s)]
    floors = sorted({STAGES[s][1] for s in stages})
    warm = [f"{s} (warm)" for s in stages]
    times: dict[str, list[float]] = {k: [] for k in [*stages, *floors, *warm]}
    helper, warm_env = start_warm()
    try:
        for r in range(args.rounds):  # each round: floors, stages, warm stages, order alternating
            order = [*floors, *stages, *warm]
            for key in (order if r % 2 == 0 else order[::-1]):
                if key in floors:
                    times[key].append(run([sys.executable, "-c", key], WORK))
                elif key in warm:
                    times[key].append(run(stage_cmd(key.split()[0]), WORK, warm_env))
                else:
                    times[key].append(run(stage_cmd(key), WORK))
    finally:
        from xstilts import warm as warm_start

        warm_start.stop(helper)
    if any('"cold"' in line for line in (WORK / "warm.log").read_text().splitlines()):
        raise RuntimeError(f"a job meant to run warm ran cold:\n{(WORK / 'warm.log').read_text()[-2000:]}")
    print(f"bench_job: {len(stages)} stages on the tiny grid, {args.rounds} interleaved rounds "
          f"(medians, [min .. max])")
    for f in floors:
        print(H.describe(f"floor: {f}", times[f]))
    worst = None
    for s in stages:
        f = STAGES[s][1]
        r = H.ratio(times[s], times[f])
        mark = "" if r[0] <= 1.2 else "  > 1.2"
        print(f"  {s:<13} median {statistics.median(times[s]):6.2f} s  floor {statistics.median(times[f]):5.2f} s"
              f"  ratio {r[0]:.2f} (per-round {r[1]:.2f}..{r[2]:.2f}){mark}"
              f"   warm {statistics.median(times[f'{s} (warm)']):5.2f} s")
        if worst is None or r[0] > worst[1][0]:
            worst = (s, r)
    if bad:
        print(f"  stages that import torch without needing it: {', '.join(bad)}")
    else:
        print("  no torch-free stage imports torch")
    slow = max(stages, key=lambda s: H.ratio(times[f"{s} (warm)"], times[STAGES[s][1]])[0])
    rw = H.ratio(times[f"{slow} (warm)"], times[STAGES[slow][1]])
    print(f"  warm start: worst stage {slow}, {statistics.median(times[f'{slow} (warm)']):.2f} s, "
          f"ratio {rw[0]:.2f} over its cold import floor (per-round {rw[1]:.2f}..{rw[2]:.2f})")
    print(H.ratio_line("bench_job", worst[1], f"worst stage {worst[0]}: its time over its import "
                       "floor, medians; goal <= 1.2"))


if __name__ == "__main__":
    main()
