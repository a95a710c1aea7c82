"""The target job evaluates the model it has just trained, in memory; the evaluate job adopts
that evaluation without torch when checkpoint, data, options and languages are unchanged, and
evaluates again otherwise.  Adopted and fresh evaluations are identical."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from xstilts.core import paths


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_cell, stages):
    d = tmp_path_factory.mktemp("staged")
    raw = one_cell.config(30, None, 10)
    one_cell.world(d, raw)  # toy data, tokenizer, prepare, base (and a reference run in d/ref)
    args = ["--model", one_cell.model, "--inter", "none", "--target", one_cell.target,
            "--seed", str(one_cell.seed)]
    stages(d, [["target", *args]])
    return d, args


def _model_dir(one_cell):
    return paths.cell_model_dir(one_cell.model, "none", one_cell.target, one_cell.seed)


def _evaluate(d, args, *extra) -> tuple[str, bool]:
    """Run ``xstilts evaluate`` in a fresh interpreter: its log and whether torch was imported."""
    code = ("import sys; from xstilts import cli; "
            f"rc = cli.main(['evaluate', '--config', 'c.yaml', *{args + list(extra)!r}]); "
            "print('TORCH', 'torch' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=d, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, "TORCH True" in proc.stdout


def test_target_job_stages_its_evaluation(trained, one_cell):
    d, _ = trained
    ckpt = d / _model_dir(one_cell)
    staged = json.loads((d / paths.staged_eval(str(ckpt.relative_to(d)))).read_text())
    assert set(staged["languages"]) == {"en", "qaa"}
    assert (ckpt / "eval" / "key").read_text().strip()
    assert list((ckpt / "eval" / "predictions").rglob("test-*"))


def test_evaluate_adopts_without_torch_and_matches_a_fresh_evaluation(trained, one_cell):
    d, args = trained
    log, torch_loaded = _evaluate(d, args)
    assert "adopted the evaluation" in log and not torch_loaded
    cell_dir = d / paths.cell_dir(one_cell.model, "none", one_cell.target, one_cell.seed)
    adopted = json.loads((cell_dir / "eval.json").read_text())
    # the same job writes the cell's training cost: the target checkpoint's cost record, no
    # intermediate phase for `none`, and the link to the (model, target) inference profile
    cost = json.loads((cell_dir / "profile.json").read_text())
    record = json.loads((d / paths.checkpoint_done(_model_dir(one_cell))).read_text())
    assert cost["phases"]["intermediate"] is None and cost["phases"]["target"]["steps"] == record["steps"] > 0
    assert cost["total_train_flops"] == record["flops"] > 0
    assert cost["inference_profile"] == paths.inference_profile(one_cell.model, one_cell.target)

    # the same checkpoint evaluated from disk, with the staged evaluation out of the way
    key = d / paths.staged_key(_model_dir(one_cell))
    saved_key = key.read_text()
    key.unlink()
    log, torch_loaded = _evaluate(d, args, "--out", "fresh.json", "--predictions", "fresh")
    key.write_text(saved_key)
    assert torch_loaded and "adopted" not in log
    fresh = json.loads((d / "fresh.json").read_text())
    assert json.loads((d / "profile.json").read_text()) == cost  # beside --out's eval.json
    assert adopted["languages"] == fresh["languages"]
    assert adopted["average"] == fresh["average"]
    ours = {p.relative_to(cell_dir / "predictions"): p.read_bytes()
            for p in (cell_dir / "predictions").rglob("*") if p.is_file()}
    theirs = {p.relative_to(d / "fresh"): p.read_bytes() for p in (d / "fresh").rglob("*") if p.is_file()}
    assert ours and ours == theirs


def test_a_stale_key_evaluates_again(trained, one_cell):
    d, args = trained
    key = d / paths.staged_key(_model_dir(one_cell))
    saved_key = key.read_text()
    key.write_text("0" * 64)  # as if made under other decoding options or test data
    try:
        log, torch_loaded = _evaluate(d, args, "--out", "again.json", "--predictions", "again")
    finally:
        key.write_text(saved_key)
    assert "evaluating again" in log and torch_loaded
    assert json.loads((d / "again.json").read_text())["average"] > 0


def test_another_checkpoint_gets_no_cell_cost(trained, one_cell):
    """``--ckpt`` naming another checkpoint evaluates it, but its cost is not the cell's: no
    profile.json is written beside its eval.json (the cell's own one, written in any spelling
    of the cell's checkpoint path, is)."""
    import shutil

    d, args = trained
    other = d / "other-ckpt"
    shutil.copytree(d / _model_dir(one_cell), other)
    _evaluate(d, args, "--ckpt", str(other), "--out", "other/eval.json", "--predictions", "other/pred")
    assert (d / "other/eval.json").exists() and not (d / "other/profile.json").exists()
    _evaluate(d, args, "--ckpt", f"./{_model_dir(one_cell)}/", "--out", "same/eval.json",
              "--predictions", "same/pred")
    assert json.loads((d / "same/profile.json").read_text())["model"] == one_cell.model
    proc = subprocess.run([sys.executable, "-m", "xstilts.cli", "evaluate", "--config", "c.yaml", *args,
                           "--ckpt", "no-such-ckpt"], cwd=d, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (f"--ckpt no-such-ckpt: no such checkpoint folder (a phase's checkpoint, such as this cell's "
            f"{_model_dir(one_cell)})") in proc.stderr, proc.stderr[-2000:]
