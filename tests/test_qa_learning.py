"""A tiny model really learns the toy SQuAD twin (English), beats the overlap baseline in English
and answers in every toy language of toy XQuAD (zero-shot)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "configs" / "learn_qa.yaml"
pytestmark = pytest.mark.slow


def xstilts(workdir: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "xstilts.cli", *args, "--config", str(CONFIG)],
                          cwd=workdir, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_tiny_model_learns_toy_squad_and_answers_every_toy_language(tmp_path):
    cell = ["--model", "tiny-2x64", "--inter", "scratch", "--target", "xquad", "--seed", "1"]
    for step in (["toy-data"], ["tokenizer", "--name", "toy"],
                 ["prepare", "--tokenizer", "toy", "--task", "xquad"],
                 ["base", "--model", "tiny-2x64"], ["target", *cell], ["evaluate", *cell],
                 ["baseline", "--target", "xquad"]):
        xstilts(tmp_path, *step)
    cell_dir = tmp_path / "results/cells/tiny-2x64/scratch/xquad/s1"
    ev = json.loads((cell_dir / "eval.json").read_text())
    base = json.loads((tmp_path / "results/baselines/xquad/eval.json").read_text())
    langs = ev["languages"]
    print("toy XQuAD, 2x64 from random init, trained on toy SQuAD: "
          + ", ".join(f"{k} EM {v['exact_match']:.3f} F1 {v['f1']:.3f}" for k, v in langs.items())
          + "; overlap baseline " + ", ".join(f"{k} {v['squad_em_f1']:.3f}" for k, v in
                                              base["baselines"]["overlap_span"]["languages"].items()))
    assert set(langs) == {"en", "qaa", "qad"}
    assert langs["en"]["f1"] > 0.30  # clearly non-trivial
    baseline_en = base["baselines"]["overlap_span"]["languages"]["en"]["squad_em_f1"]
    assert langs["en"]["squad_em_f1"] > baseline_en + 0.07
    for lang in langs:  # a prediction for every question of every language
        preds = json.loads((cell_dir / f"predictions/xquad/test-{lang}.json").read_text())
        assert len(preds) == langs[lang]["n"] == 300
        assert sum(bool(p) for p in preds.values()) > 250
