"""Shared parts of the benchmarks: interleaved timing, medians and the ratio line, and a small
work folder holding the toy data (generated once through the ``xstilts`` stages).

Every benchmark times the project's path and its baseline in the same run, alternating which
goes first in each round, so a load that changes during the run (the machine is shared) falls
on both arms.  The ratio is baseline median / project median (or the inverse when smaller is
better, as the line says), and the spread is the range of the per-round ratios.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("XSTILTS_BENCH_DIR", ROOT / ".bench"))
BIN = Path(sys.executable).parent
SIZES = {  # XLM-R shapes for the GPU check: layers, hidden, heads, intermediate
    "base": {"layers": 12, "hidden": 768, "heads": 12, "intermediate": 3072},
    "large": {"layers": 24, "hidden": 1024, "heads": 16, "intermediate": 4096},
}
XLMR_VOCAB = 250002


def compile_package() -> None:
    """The package's bytecode, as ``make setup`` writes it (and pip for every other library): an
    editable install has none of its own, and with ``PYTHONDONTWRITEBYTECODE`` set every process
    would compile the modules edited since set-up again."""
    import compileall

    compileall.compile_dir(str(ROOT / "src" / "xstilts"), quiet=1)


def encoder_config(cfg, model: str, size: str, tokenizer):
    """The encoder config of a toy ``model`` of the config, or of an XLM-R ``size`` (its
    vocabulary; the toy token ids are a subset), with sdpa attention."""
    from xstilts.stages.models import toy_config

    enc = toy_config(dict(cfg.model(model)["toy"]) if size == "toy" else SIZES[size], tokenizer)
    if size != "toy":
        enc.vocab_size = XLMR_VOCAB
    enc._attn_implementation = "sdpa"
    return enc


def interleave(arms: dict, rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of each arm (a no-argument callable) per round; the order alternates per round."""
    names = list(arms)
    for _ in range(warmup):
        for n in names:
            arms[n]()
    times = {n: [] for n in names}
    for r in range(rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            arms[n]()
            times[n].append(time.perf_counter() - t0)
    return times


def ratio(num: list[float], den: list[float]) -> tuple[float, float, float]:
    """median(num) / median(den) and the range of the per-round ratios."""
    per = [a / b for a, b in zip(num, den)]
    return statistics.median(num) / statistics.median(den), min(per), max(per)


def describe(name: str, times: list[float], unit: str = "s") -> str:
    med = statistics.median(times)
    return f"  {name:<28} median {med:8.3f} {unit}  [{min(times):.3f} .. {max(times):.3f}] over {len(times)}"


def ratio_line(bench: str, r: tuple[float, float, float], what: str) -> str:
    return f"{bench}: ratio {r[0]:.2f} ({what}; per-round {r[1]:.2f}..{r[2]:.2f})"


def xstilts(*args: str, cwd=None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("XSTILTS_CONFIG", None)
    proc = subprocess.run([str(BIN / "xstilts"), *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"xstilts {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def bench_config(targets: list[str]) -> Path:
    """The default config (its toy sizes, models and hyperparameters) with ``targets`` and no
    pairing, in the work folder."""
    import yaml

    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    raw["targets"] = list(targets)
    raw.pop("pairing", None)
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"bench-{'-'.join(targets)}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def toy_data(targets: list[str]) -> Path:
    """Toy data, tokenizer and the tokenized ``targets`` in the work folder (made once)."""
    cfg = bench_config(targets)
    steps = [("results/toy/manifest.json", ["toy-data"]),
             ("results/tokenizers/toy/tokenizer.json", ["tokenizer", "--name", "toy"])]
    steps += [(f"results/data/toy/{t}/manifest.json", ["prepare", "--tokenizer", "toy", "--task", t])
              for t in targets]
    for out, argv in steps:
        if not (WORK / out).exists():
            print(f"  (setting up: xstilts {' '.join(argv)})", flush=True)
            xstilts(argv[0], "--config", str(cfg), *argv[1:], cwd=WORK)
    return cfg


def clean() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
