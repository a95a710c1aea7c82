"""Gradient accumulation: a model's ``micro_batch_size`` splits each optimizer step's batch
into forward/backward passes; the loss curve equals one pass over the whole batch."""

from __future__ import annotations

import pytest


def _train(tmp_path, micro: int | None, dev: bool = False, **hp_over) -> dict:
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from xstilts.core.registry import get_family, get_task
    from xstilts.stages.models import XstiltsModel, train_tokenizer
    from xstilts.stages.train import TaskData, set_seed, train_phase

    words = [f"w{i}" for i in range(40)]
    corpus = tmp_path / "corpus.txt"
    if not corpus.exists():
        corpus.write_text("".join(" ".join(words[(i * k) % 40] for k in range(1, 9)) + "\n" for i in range(200)))
    tok = train_tokenizer([str(corpus)], 200, str(tmp_path / "tok"))
    task = get_task("mnli")
    fam = get_family(task.family)
    rows = [{"premise": " ".join(words[(i + k) % 40] for k in range(3 + i % 5)),
             "hypothesis": " ".join(words[(2 * i + k) % 40] for k in range(2 + i % 3)),
             "label": i % 3, "idx": i} for i in range(64)]
    feats = fam.encode(tok, fam.convert(rows, task, task.train.schema, "test"), 32)
    set_seed(0)
    enc = XLMRobertaModel(XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
                                           num_attention_heads=2, intermediate_size=64,
                                           max_position_embeddings=40, pad_token_id=tok.pad_token_id,
                                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
                          add_pooling_layer=False)
    model = XstiltsModel(enc)
    model.add_head(task, fam, dropout=0.0)
    hp = {"lr": 3e-3, "batch_size": 16, "epochs": 2, "max_steps": 8, "eval_every": 1, "patience": 100,
          "warmup": 0.0, "save_every": 1000, **hp_over}
    return train_phase(model, [TaskData(task, fam, feats, feats[:24] if dev else [])], hp, phase="target", seed=1,
                       device=torch.device("cpu"), pad_id=tok.pad_token_id, log=lambda *a, **k: None,
                       micro_batch_size=micro)


def test_micro_batch_4x4_gives_the_loss_curve_of_batch_16(tmp_path):
    whole, accumulated = _train(tmp_path, None), _train(tmp_path, 4)
    a = [h["loss"] for h in whole["history"]]
    b = [h["loss"] for h in accumulated["history"]]
    assert len(a) == len(b) == 8
    assert a[0] != a[-1]  # it learns: the curve is not flat
    assert b == pytest.approx(a, rel=1e-4, abs=1e-5)
    # the cost record counts optimizer steps and forward/backward passes
    assert whole["steps"] == accumulated["steps"] == 8
    assert whole["micro_steps"] == 8 and accumulated["micro_steps"] == 32
    assert accumulated["micro_batch_size"] == 4


def test_bf16_falls_back_to_fp32_on_a_gpu_without_it(monkeypatch):
    import torch

    from xstilts.core.runtime import Runtime, autocast, effective_dtype

    assert effective_dtype("cpu", "bf16") == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # a pre-Ampere GPU
    assert effective_dtype("cuda", "bfloat16") == "float32"
    assert Runtime(device="cuda", dtype="bfloat16").dtype_on("cuda") == "float32"
    assert not isinstance(autocast("cuda", "bfloat16"), torch.autocast)  # no bf16 autocast there
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert effective_dtype("cuda", "bfloat16") == "bfloat16"


def test_early_stopping_counts_evaluations_across_accumulated_steps(tmp_path):
    """With a learning rate too small to move the dev score, the first evaluation is the best
    and each later one is a miss: patience 2 stops after step 3 (eval_every 1), with or without
    micro-batches (the per-step loop state must not reset the miss counter)."""
    for micro in (None, 4):
        cost = _train(tmp_path, micro, dev=True, lr=1e-12, patience=2)
        assert cost["stopped_early"] is True, micro
        assert [h["step"] for h in cost["history"]] == [1, 2, 3], micro
        assert cost["best_step"] == 1 and cost["steps"] == 3, micro


def test_grad_sync_defers_ddp_all_reduce_to_the_last_micro_batch():
    """``no_sync`` (DDP's local accumulation) for every pass but the last; nothing to do for a
    model that is not wrapped."""
    import contextlib

    import torch

    from xstilts.stages.distributed import grad_sync

    class FakeDDP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.entered = 0

        @contextlib.contextmanager
        def no_sync(self):
            self.entered += 1
            yield

    net = FakeDDP()
    for i in range(4):
        with grad_sync(net, last=i == 3):
            pass
    assert net.entered == 3
    with grad_sync(torch.nn.Linear(2, 2), last=False):  # a plain module: no-op
        pass

