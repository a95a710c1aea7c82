"""Synthetic artifacts in the exact record schemas (xstilts.core.records), for the aggregation,
plot and report tests: 2 models x (none, scratch, mnli) x 1 target + a baseline + 2 benchmark
files, with hand-picked scores."""

from __future__ import annotations

import json
from pathlib import Path

LANGS = ["en", "qaa", "qab"]
MODELS = {"tiny-s": 120_000, "tiny-m": 480_000}
INTERS = ["none", "scratch", "mnli"]
# per-language accuracy per (model, inter): hand-picked so every difference is distinct
SCORES = {
    ("tiny-s", "none"): [0.80, 0.60, 0.50],
    ("tiny-s", "scratch"): [0.70, 0.40, 0.36],
    ("tiny-s", "mnli"): [0.84, 0.66, 0.53],
    ("tiny-m", "none"): [0.86, 0.70, 0.61],
    ("tiny-m", "scratch"): [0.72, 0.42, 0.37],
    ("tiny-m", "mnli"): [0.88, 0.75, 0.62],
}
BASELINE = [0.45, 0.41, 0.40]
LATENCY = {"tiny-s": 1.5, "tiny-m": 4.0}


def _cost(phase: str, flops: float, wall: float, tokens: int) -> dict:
    return {
        "phase": phase, "steps": 100, "examples": 3200, "tokens": tokens, "flops": flops,
        "wall_s": wall, "device": "cpu", "device_hours": wall / 3600, "peak_mem_mb": 800.0,
        "tokens_per_s": tokens / wall, "best_step": 80, "stopped_early": False,
    }  # fmt: skip


def _eval(model, inter, target, seed, scores, benchmark="toy"):
    langs = {l: {"accuracy": s, "n": N_TEST} for l, s in zip(LANGS, scores)}
    return {
        "benchmark": benchmark, "model": model, "inter": inter, "target": target, "seed": seed,
        "metric": "accuracy", "languages": langs,
        "average": sum(scores) / len(scores),
        "average_zero_shot": sum(scores[1:]) / len(scores[1:]),
        "provenance": {"git": "synthetic"},
    }  # fmt: skip


N_TEST = 400  # test examples per language


def _predictions(root: Path, cell: Path, target: str, scores) -> None:
    """Gold labels (every example ``entailment``) and predictions right on the first
    ``score * N_TEST`` examples: per-example scores that give exactly the eval.json numbers."""
    for lang, score in zip(LANGS, scores):
        k = round(score * N_TEST)
        pred = cell / "predictions" / target / f"test-{lang}.tsv"
        pred.parent.mkdir(parents=True, exist_ok=True)
        pred.write_text("entailment\n" * k + "contradiction\n" * (N_TEST - k))
        label = root / "results" / "labels" / target / f"test-{lang}.tsv"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("entailment\n" * N_TEST)


def write_artifacts(root: Path, seeds=(1,), target="xnli", jitter=0.0) -> dict:
    """2 models x (none, scratch, mnli) x 1 target x seeds + 1 baseline + 2 benchmark files.

    Returns the file lists that `aggregate` takes. `jitter` shifts the scores of seed k by
    k * jitter (so several seeds have a known mean and std).
    """
    cells, infer = [], []
    for model, params in MODELS.items():
        size = params / 120_000
        for inter in INTERS:
            for seed in seeds:
                d = root / "results" / "cells" / model / inter / target / f"s{seed}"
                d.mkdir(parents=True)
                scores = [s + (seed - 1) * jitter for s in SCORES[(model, inter)]]
                (d / "eval.json").write_text(json.dumps(_eval(model, inter, target, seed, scores)))
                _predictions(root, d, target, scores)
                inter_cost = None if inter in ("none", "scratch") else _cost("intermediate", 1e12 * size, 60.0 * size, 100_000)
                tgt_cost = _cost("target", 2e11 * size, 20.0 * size, 40_000)
                phases = {"intermediate": inter_cost, "target": tgt_cost}
                costs = [c for c in phases.values() if c]
                prof = {
                    "model": model, "inter": inter, "target": target, "seed": seed, "phases": phases,
                    "total_train_flops": sum(c["flops"] for c in costs),
                    "total_train_wall_s": sum(c["wall_s"] for c in costs),
                    "total_device_hours": sum(c["device_hours"] for c in costs),
                    "inference_profile": f"results/profile/{model}/{target}/profile.json",
                }  # fmt: skip
                (d / "profile.json").write_text(json.dumps(prof))
                cells.append(d)
        p = root / "results" / "profile" / model / target / "profile.json"
        p.parent.mkdir(parents=True)
        p.write_text(json.dumps({
            "model": model, "target": target,
            "params": {"total": params, "embedding": params // 2, "non_embedding": params - params // 2},
            "flops_per_example": {"counted": 2.0e6 * size, "analytic": 1.9e6 * size, "seq_len": 128},
            "latency_ms": {"p50": LATENCY[model], "p90": LATENCY[model] * 1.2, "p99": LATENCY[model] * 1.5,
                           "mean": LATENCY[model] * 1.05},
            "throughput": {"best_batch": 32, "examples_per_s": 1000.0 / size},
            "peak_mem_mb": 300.0 * size, "device": "cpu", "dtype": "float32", "threads": 1,
            "trace_dir": str(p.parent / "trace"),
        }))  # fmt: skip
        infer.append(p)
    b = root / "results" / "baselines" / target / "eval.json"
    b.parent.mkdir(parents=True)
    bj = _eval("baseline:overlap", "baseline", target, None, BASELINE)
    del bj["seed"]
    b.write_text(json.dumps(bj))
    bench = []
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for rel, rows in [
        ("target/tiny-s/mnli/xnli/s1.tsv", ["12.50\t0:00:12\t810.2\t900.1\t700.0\t705.0\t1.0\t2.0\t95.0\t11.9"]),
        ("aggregate.tsv", ["1.00\t0:00:01\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA",
                           "3.00\t0:00:03\t50.0\t60.0\t40.0\t41.0\t0.0\t0.0\t90.0\t2.5"]),
    ]:  # fmt: skip
        f = root / "benchmarks" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(header + "\n".join(rows) + "\n")
        bench.append(f)
    return {"cells": cells, "inference_profiles": infer, "baselines": [b], "benchmarks": bench}
