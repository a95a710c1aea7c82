"""A tiny model really learns the toy PAN-X twin: clearly non-trivial English F1, far above the
non-neural baselines (which find no entity: evaluation names never occur in training), and
zero-shot transfer above zero to the toy languages."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_learning import scratch_cell

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "configs" / "tagging_learn.yaml"
pytestmark = pytest.mark.slow


def test_tiny_model_learns_toy_ner_and_transfers(tmp_path):
    ev, base, cell_dir = scratch_cell(tmp_path, "tiny-1x64", "panx", CONFIG)
    f1 = {lang: v["f1"] for lang, v in ev["languages"].items()}
    best_baseline = max(b["languages"]["en"]["f1"] for b in base["baselines"].values())
    print(f"toy PAN-X, 1x64 from random init: F1 {f1}, best baseline en {best_baseline:.3f}")
    assert all(v["fallback_words"] == 0 for v in ev["languages"].values())
    assert best_baseline < 0.1  # no surface shortcut: evaluation names are unseen
    assert f1["en"] > 0.45 and f1["en"] > best_baseline + 0.35
    assert f1["qaa"] > 0.2 and f1["qad"] > 0.05  # zero-shot transfer above zero
    pred = cell_dir / "predictions/panx/test-qaa.tsv"
    assert pred.read_text().count("\n\n") == ev["languages"]["qaa"]["n"]  # one blank line per sentence
