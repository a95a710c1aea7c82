"""The profile stage: what a (model, target) costs to serve.

The inference profile is measured once per (model, target): every intermediate task gives
the same architecture.  The model is the base encoder with the target's head, fed batches of
the target's real test sequences padded to one length (the target's max length, or shorter
when every test sequence is shorter), for batch-1 latency and fixed-batch throughput; and
``eval_batching``: the English test set through evaluation's own prediction path (length-bucketed
batches by token budget), so the profile also states what evaluation really costs.  The
profile records the attention kernel served (``attention``) and whether the FLOPs count
includes attention (``flops_per_example.includes_attention``).
"""

from __future__ import annotations

from pathlib import Path

from xstilts.core import paths
from xstilts.core.records import InferenceProfile
from xstilts.core.registry import ENGLISH
from xstilts.stages.common import log

# torch is imported inside the functions that need it: the per-cell cost record is a cheap
# JSON job and should not pay for importing torch.


def served(model, task, family):
    """The task model as a server calls it: ``model(input_ids=..., attention_mask=...)``."""
    from torch import nn

    class Served(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(task.name, family, input_ids, attention_mask)

    return Served()


def batch_maker(feats: list[dict], seq_len: int, pad_id: int):
    """``make_inputs(batch_size)``: the first test examples, cycled, padded/truncated to seq_len."""
    import torch

    n_seq = len(feats[0]["seqs"])

    def make_inputs(batch_size: int) -> dict:
        ids = torch.full((batch_size, n_seq, seq_len), pad_id, dtype=torch.long)
        for i in range(batch_size):
            for j, s in enumerate(feats[i % len(feats)]["seqs"]):
                s = s[:seq_len]
                ids[i, j, : len(s)] = torch.tensor(s)
        return {"input_ids": ids, "attention_mask": (ids != pad_id).long()}

    return make_inputs


def eval_batching(net, task, family, feats, device, dtype: str, pad_id: int, repeats: int = 3) -> dict:
    """Latency and throughput under evaluation's batching: :func:`~xstilts.stages.common.predict`
    over the test features (length-bucketed batches of the device's token budget), the median
    of ``repeats`` passes after one warm-up pass."""
    import statistics
    import time

    import torch

    from xstilts.stages.common import EVAL_TOKENS, length_batches, predict

    budget = EVAL_TOKENS.get(torch.device(device).type, EVAL_TOKENS["cuda"])
    n_batches = len(length_batches(feats, budget))
    predict(net, task, family, feats, None, device, dtype, pad_id)
    walls = []
    for _ in range(max(int(repeats), 1)):
        t0 = time.perf_counter()
        predict(net, task, family, feats, None, device, dtype, pad_id)  # ends with a host copy: synced
        walls.append(time.perf_counter() - t0)
    wall = statistics.median(walls)
    tokens = sum(len(s) for f in feats for s in f["seqs"])
    return {"features": len(feats), "tokens": tokens, "token_budget": budget, "batches": n_batches,
            "wall_s": wall, "batch_ms_mean": 1000.0 * wall / max(n_batches, 1),
            "features_per_s": len(feats) / wall if wall > 0 else None,
            "tokens_per_s": tokens / wall if wall > 0 else None, "repeats": len(walls)}


def run(cfg, model: str, target: str, out: str | None = None) -> dict:
    """The ``profile`` stage: the inference profile of ``model`` with ``target``'s head."""
    from xstilts.stages.data import read_features
    from xstilts.stages.models import XstiltsModel, load_encoder, load_tokenizer
    from xstilts.stages.profiling import profile_inference

    out_dir = out or paths.inference_profile_dir(model, target)
    bound = cfg.bound(target, "target", model=model)
    task, family = bound.task, bound.family
    device = cfg.runtime.start()
    net = XstiltsModel(load_encoder(paths.base_dir(model)))
    net.add_head(task, family)
    tok = load_tokenizer(paths.tokenizer_dir(cfg.tokenizer_of(model)))
    data = paths.data_dir(cfg.tokenizer_of(model), target)
    langs = cfg.eval_languages(task.name)
    feats = read_features(paths.data_test(data, ENGLISH if ENGLISH in langs else langs[0]))
    longest = max(len(s) for f in feats for s in f["seqs"])
    seq_len = min(int(cfg.max_length(target)), longest)
    spec = cfg.profile
    prof = profile_inference(
        served(net, task, family), batch_maker(feats, seq_len, tok.pad_token_id), out_dir,
        device=device, dtype=cfg.runtime.dtype_on(device), seq_len=seq_len, batch_sizes=tuple(spec["batch_sizes"]),
        repeats=int(spec["latency_repeats"]), n_trace_steps=int(spec["trace_steps"]),
        min_time_s=float(spec["throughput_seconds"]), head_per_token=family.head_per_token,
        run_name=f"{model}-{target}")
    prof["eval_batching"] = eval_batching(net, task, family, feats, device, cfg.runtime.dtype,
                                          tok.pad_token_id, repeats=3)
    prof.update({"model": model, "target": target, "benchmark": cfg.benchmark,
                 "family": task.family, "sequences_per_example": len(feats[0]["seqs"])})
    search = family.search_cost(task, feats, net.hidden_size,  # retrieval: after embedding
                                repeats=int(spec["latency_repeats"]), **bound.options)
    if search is not None:
        prof["search"] = search
    InferenceProfile.from_dict(prof).write(out_dir + "/" + Path(paths.inference_profile(model, target)).name)
    log(f"{model}/{target}: p50 {prof['latency_ms']['p50']:.2f} ms, "
        f"{prof['throughput']['examples_per_s']:.0f} ex/s -> {out_dir}")
    return prof
